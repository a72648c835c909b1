-- health_score install script, part 3: the inputs (accounts, observations, feeds) and the
-- scoring of every account at a point in time: metric_scores() and account_scores().

-- Inputs ---------------------------------------------------------------------------------------

CREATE TABLE health_score.accounts (
    account_id  text PRIMARY KEY,
    name        text,
    segment     text,
    plan        text,
    owner       name,
    mrr         numeric CHECK (mrr >= 0),
    started_on  date,
    churned_on  date,
    CHECK (churned_on >= started_on)
);

COMMENT ON TABLE health_score.accounts IS
'The accounts to score. An account is scored at as_of when it had started by then (or started_on is NULL) and had not churned yet; or, for an account with rows in subscriptions, when one of its periods covers as_of.';
COMMENT ON COLUMN health_score.accounts.account_id IS 'Your key for the account, as text; join scores back to your tables on it.';
COMMENT ON COLUMN health_score.accounts.name IS 'Display name.';
COMMENT ON COLUMN health_score.accounts.segment IS 'Segment, e.g. enterprise, mid_market, smb; picks the segment weights whose segment is exactly the same (case-sensitive), if any (check_segments() lists near misses).';
COMMENT ON COLUMN health_score.accounts.plan IS 'Subscription plan.';
COMMENT ON COLUMN health_score.accounts.owner IS 'The database role of the account''s customer-success manager (row-level security can restrict each CSM to their own accounts).';
COMMENT ON COLUMN health_score.accounts.mrr IS 'Monthly recurring revenue, not negative; NULL when unknown. Not read for an account with rows in subscriptions, whose MRR is that of the period covering the date.';
COMMENT ON COLUMN health_score.accounts.started_on IS 'First day of the subscription. Not read for an account with rows in subscriptions.';
COMMENT ON COLUMN health_score.accounts.churned_on IS 'Day the account cancelled (it is not live that day); NULL while it is a customer. Not read for an account with rows in subscriptions.';

-- Subscription periods, for accounts that leave and come back or whose MRR changes. An account
-- without rows here has one period, its accounts row (started_on to churned_on, at mrr).
CREATE TABLE health_score.subscriptions (
    account_id  text NOT NULL REFERENCES health_score.accounts (account_id) ON UPDATE CASCADE ON DELETE CASCADE,
    started_on  date NOT NULL,
    ended_on    date,
    mrr         numeric CHECK (mrr >= 0),
    plan        text,
    seats       integer CHECK (seats >= 0),
    PRIMARY KEY (account_id, started_on),
    -- date arithmetic (gaps between periods, the grace) refuses infinite dates
    CONSTRAINT subscriptions_finite CHECK (isfinite(started_on) AND isfinite(ended_on)),
    CONSTRAINT subscriptions_ends_after_start CHECK (ended_on > started_on)
);

COMMENT ON TABLE health_score.subscriptions IS
'Subscription periods: several per account, never overlapping (an overlap is refused, naming both periods). An account with rows here is live at as_of when one of its periods covers as_of, at that period''s MRR; its started_on, churned_on and mrr in accounts are not read. An account without rows here has one period, from accounts.started_on to accounts.churned_on at accounts.mrr. See account_periods and churn_events.';
COMMENT ON COLUMN health_score.subscriptions.account_id IS 'The account (accounts.account_id); its periods go with it when it is deleted.';
COMMENT ON COLUMN health_score.subscriptions.started_on IS 'First day of the period.';
COMMENT ON COLUMN health_score.subscriptions.ended_on IS 'Day the period ended, after started_on: the account is not live that day unless another period starts on it (a renewal). NULL while the period runs.';
COMMENT ON COLUMN health_score.subscriptions.mrr IS 'Monthly recurring revenue during the period, not negative; NULL when unknown.';
COMMENT ON COLUMN health_score.subscriptions.plan IS 'Plan during the period; NULL: accounts.plan.';
COMMENT ON COLUMN health_score.subscriptions.seats IS 'Seats bought during the period, not negative; NULL when unknown.';

-- The periods of one account never overlap. An exclusion constraint would need btree_gist for
-- the text key; this trigger runs at the end of each statement (or at commit when deferred),
-- so a statement that moves several periods at once is judged on the result. The lock per
-- account makes a second writer of the same account wait for the first to commit and then
-- see its rows (READ COMMITTED: each query of the trigger takes a new snapshot).
CREATE FUNCTION health_score.check_subscription() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    other record;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('health_score.subscriptions ' || NEW.account_id, 0));
    -- a row changed again or deleted later in the transaction is judged in its final form
    IF NOT EXISTS (SELECT FROM health_score.subscriptions s
                    WHERE s.account_id = NEW.account_id AND s.started_on = NEW.started_on
                      AND s.ended_on IS NOT DISTINCT FROM NEW.ended_on) THEN
        RETURN NULL;
    END IF;
    SELECT s.started_on, s.ended_on INTO other
      FROM health_score.subscriptions s
     WHERE s.account_id = NEW.account_id AND s.started_on <> NEW.started_on
       AND daterange(s.started_on, s.ended_on) && daterange(NEW.started_on, NEW.ended_on)
     ORDER BY s.started_on
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'subscriptions: the period of account "%" from % to % overlaps its period from % to %',
            NEW.account_id, NEW.started_on, coalesce(NEW.ended_on::text, 'open'),
            other.started_on, coalesce(other.ended_on::text, 'open')
            USING ERRCODE = 'exclusion_violation',
                  HINT = 'End the earlier period on or before the day the later one starts (ended_on is the first day not covered).';
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION health_score.check_subscription() IS
'Constraint trigger: refuses a subscription period that overlaps another period of the same account (23P01), naming both.';

CREATE CONSTRAINT TRIGGER no_overlap AFTER INSERT OR UPDATE OF account_id, started_on, ended_on
    ON health_score.subscriptions DEFERRABLE INITIALLY IMMEDIATE
    FOR EACH ROW EXECUTE FUNCTION health_score.check_subscription();

-- Every account's periods: its subscriptions rows, or else its accounts row. Everything that
-- asks whether an account is live, what it pays or when it churned reads them here: the
-- scoring queries through this text (planned inside them, MRR as stored), readers through the
-- view account_periods made from it (MRR in cents, as every view shows money).
CREATE FUNCTION health_score.account_periods_sql() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT $q$
SELECT s.account_id, s.started_on, s.ended_on, s.mrr, s.plan, s.seats,
       (SELECT min(f.started_on) FROM health_score.subscriptions f WHERE f.account_id = s.account_id) AS account_started_on,
       'subscriptions'::text AS source
  FROM health_score.subscriptions s
UNION ALL
SELECT a.account_id, a.started_on, a.churned_on, a.mrr, a.plan, NULL::integer, a.started_on, 'accounts'::text
  FROM health_score.accounts a
 WHERE NOT EXISTS (SELECT FROM health_score.subscriptions s WHERE s.account_id = a.account_id)
$q$
$$;

COMMENT ON FUNCTION health_score.account_periods_sql() IS
'The text of the query of every account''s periods (account_periods, with MRR as stored), read by live_accounts_sql.';

DO $$
BEGIN
    EXECUTE format($v$CREATE VIEW health_score.account_periods AS
SELECT p.account_id, p.started_on, p.ended_on, p.mrr::numeric(18,2) AS mrr, p.plan, p.seats,
       p.account_started_on, p.source
  FROM (%s) p$v$, health_score.account_periods_sql());
END
$$;

COMMENT ON VIEW health_score.account_periods IS
'Every account''s subscription periods: its rows in subscriptions, or, for an account without any, its accounts row as its only period. An account is live at as_of when one of its periods covers as_of (started_on <= as_of, or unknown, and ended_on > as_of, or open); see live_accounts and churn_events.';
COMMENT ON COLUMN health_score.account_periods.account_id IS 'The account.';
COMMENT ON COLUMN health_score.account_periods.started_on IS 'First day of the period; NULL: unknown (an accounts row without started_on), live from the beginning.';
COMMENT ON COLUMN health_score.account_periods.ended_on IS 'First day after the period (subscriptions.ended_on, or accounts.churned_on); NULL while it runs.';
COMMENT ON COLUMN health_score.account_periods.mrr IS 'Monthly recurring revenue during the period, to the cent; NULL when unknown.';
COMMENT ON COLUMN health_score.account_periods.plan IS 'Plan during the period; NULL when subscriptions names none (live_accounts then takes accounts.plan).';
COMMENT ON COLUMN health_score.account_periods.seats IS 'Seats during the period (subscriptions only).';
COMMENT ON COLUMN health_score.account_periods.account_started_on IS 'First day of the account''s first period: what scoring counts an account''s age from.';
COMMENT ON COLUMN health_score.account_periods.source IS 'subscriptions or accounts: where the period comes from.';

-- Churn: the end of a stay. Periods separated by a gap of at most settings.churn_grace_days
-- (a late renewal) are one stay; the end of the last period of a stay is a churn, and the
-- next period, if any, a reactivation. Windows by account only, so a query for one account
-- reads that account's periods.
CREATE VIEW health_score.churn_events AS
SELECT g.account_id, g.customer_since, g.ended_on AS churned_on, g.mrr::numeric(18,2) AS mrr, g.next_started_on AS returned_on
  FROM (SELECT p.*, max(CASE WHEN p.stay_starts THEN p.started_on END)
                        OVER (PARTITION BY p.account_id ORDER BY p.started_on) AS customer_since
          FROM (SELECT p.account_id, p.started_on, p.ended_on, p.mrr, p.grace,
                       lead(p.started_on) OVER w AS next_started_on,
                       coalesce(p.started_on - lag(p.ended_on) OVER w > p.grace, true) AS stay_starts
                  FROM (SELECT p.*, (SELECT st.churn_grace_days FROM health_score.settings st) AS grace
                          FROM health_score.account_periods p) p
                WINDOW w AS (PARTITION BY p.account_id ORDER BY p.started_on)) p) g
 WHERE g.ended_on IS NOT NULL
   AND (g.next_started_on IS NULL OR g.next_started_on - g.ended_on > g.grace);

COMMENT ON VIEW health_score.churn_events IS
'Every churn: the end of an account''s period not followed by another period within settings.churn_grace_days (default 30; a later start within the grace is a late renewal, and the periods one stay). An account that came back has one row per stay it ended. Backtests and account churn models read their labels here.';
COMMENT ON COLUMN health_score.churn_events.account_id IS 'The account.';
COMMENT ON COLUMN health_score.churn_events.customer_since IS 'First day of the stay that ended (its first period''s started_on); NULL when unknown.';
COMMENT ON COLUMN health_score.churn_events.churned_on IS 'Day the stay ended (its last period''s ended_on): the account is not live that day.';
COMMENT ON COLUMN health_score.churn_events.mrr IS 'MRR of the stay''s last period: the revenue lost.';
COMMENT ON COLUMN health_score.churn_events.returned_on IS 'First day of the account''s next period, after more than the grace (a reactivation); NULL when it has not come back.';

-- Segments are matched exactly: accounts.segment = segment_*_weights.segment, case and spaces
-- included, as every key in SQL. A weight for a segment no account has is most often a
-- misspelling ("enterprise" for "Enterprise") that leaves those accounts on the default
-- weights without a word: check_segments() lists such segments, and writing the weights warns.
CREATE FUNCTION health_score.check_segments()
RETURNS TABLE (segment text, accounts bigint, dimension_weights bigint, metric_weights bigint, note text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH s AS (
        SELECT n.segment, sum(n.a) AS accounts, sum(n.d) AS dimension_weights, sum(n.m) AS metric_weights
          FROM (SELECT a.segment, count(*) AS a, 0 AS d, 0 AS m FROM health_score.accounts a
                 WHERE a.segment IS NOT NULL GROUP BY a.segment
                UNION ALL
                SELECT w.segment, 0, count(*), 0 FROM health_score.segment_dimension_weights w GROUP BY w.segment
                UNION ALL
                SELECT w.segment, 0, 0, count(*) FROM health_score.segment_metric_weights w GROUP BY w.segment) n
         GROUP BY n.segment)
    SELECT s.segment, s.accounts::bigint, s.dimension_weights::bigint, s.metric_weights::bigint,
           CASE WHEN s.accounts = 0 THEN
                    'no account has this segment, so its weights apply to none'
                    || CASE WHEN l.others IS NOT NULL
                            THEN format('; the accounts of %s differ from it only in case or spaces (segments match exactly)', l.others)
                            ELSE '' END
                WHEN s.dimension_weights + s.metric_weights = 0 AND l.others IS NOT NULL THEN
                    format('no segment weights: its accounts take the default weights; those of %s differ from it only in case or spaces (segments match exactly)', l.others)
           END
      FROM s
      LEFT JOIN LATERAL (
           SELECT string_agg(format('"%s"', o.segment), ', ' ORDER BY o.segment) AS others
             FROM s o
            WHERE o.segment <> s.segment AND lower(btrim(o.segment)) = lower(btrim(s.segment))
              AND CASE WHEN s.accounts = 0 THEN o.accounts > 0 ELSE o.dimension_weights + o.metric_weights > 0 END) l ON true
     ORDER BY s.segment COLLATE "C"
$$;

COMMENT ON FUNCTION health_score.check_segments() IS
'Every segment named by accounts or by the segment weights: its accounts, its rows in segment_dimension_weights and segment_metric_weights, and a note when something is amiss: weights for a segment no account has, or accounts without weights while another segment differing only in case or surrounding spaces has them. Segments are matched exactly (case-sensitive), so such a segment''s accounts take the default weights. Reads the accounts the caller may see.';

-- warn_unknown_segments(): after the segment weights are written, a WARNING for each segment
-- of that table no account has (once accounts are loaded: weights may come first).
CREATE FUNCTION health_score.warn_unknown_segments() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    -- Once per statement of the user's: not again for the writes of the catalog's own
    -- triggers (catalog_user_row), nor while no account is loaded.
    IF pg_trigger_depth() > 1 OR NOT EXISTS (SELECT 1 FROM health_score.accounts) THEN
        RETURN NULL;
    END IF;
    FOR r IN SELECT c.segment, c.note FROM health_score.check_segments() c
              WHERE c.accounts = 0
                AND CASE TG_TABLE_NAME WHEN 'segment_dimension_weights' THEN c.dimension_weights
                                       ELSE c.metric_weights END > 0 LOOP
        RAISE WARNING '% names the segment "%", which no account has (segments match exactly, case-sensitive)',
                      TG_TABLE_NAME, r.segment
            USING DETAIL = upper(left(r.note, 1)) || substr(r.note, 2) || '.',
                  HINT = 'Spell the segment as accounts.segment does, or see health_score.check_segments().';
    END LOOP;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION health_score.warn_unknown_segments() IS
'Trigger: after an insert into the segment weights, or an update of their segment, a WARNING for each segment of that table that no account has (none while there are no accounts), with check_segments()''s note.';

CREATE TRIGGER warn_unknown_segments AFTER INSERT OR UPDATE OF segment ON health_score.segment_dimension_weights
    FOR EACH STATEMENT EXECUTE FUNCTION health_score.warn_unknown_segments();
CREATE TRIGGER warn_unknown_segments AFTER INSERT OR UPDATE OF segment ON health_score.segment_metric_weights
    FOR EACH STATEMENT EXECUTE FUNCTION health_score.warn_unknown_segments();

CREATE TABLE health_score.observations (
    account_id  text NOT NULL,
    metric      text NOT NULL,
    observed_at timestamptz NOT NULL CONSTRAINT observations_observed_at_finite CHECK (isfinite(observed_at)),
    -- NaN sorts above Infinity in PostgreSQL, so this refuses NaN and both infinities.
    value       float8 CONSTRAINT observations_value_finite CHECK (value > '-Infinity' AND value < 'Infinity')
);

CREATE INDEX ON health_score.observations (account_id, metric, observed_at);
-- Rows arrive in time order (each day's load after the last), so a block range holds a short
-- span of time and a BRIN index on observed_at lets a read of one day touch that day's blocks
-- only: about 40 kB for 2.9 million rows, where a btree takes 40 MB. 32 pages a range keeps a
-- day of a 10,000-account book within about one and a half days' blocks (bench/observations.sh);
-- autosummarize has autovacuum summarize each range once filled, without waiting for a VACUUM.
CREATE INDEX observations_observed_at_idx ON health_score.observations
    USING brin (observed_at) WITH (pages_per_range = 32, autosummarize = on);

COMMENT ON TABLE health_score.observations IS
'Raw observations of the metrics: one row per account, metric input and time. Views over your own tables can be added as feeds instead of copying rows here.';
COMMENT ON COLUMN health_score.observations.account_id IS 'The account observed (accounts.account_id).';
COMMENT ON COLUMN health_score.observations.metric IS 'The metric input observed (metrics.input, usually the metric''s name).';
COMMENT ON COLUMN health_score.observations.observed_at IS 'When the value was observed, finite; scoring at as_of ignores later observations.';
COMMENT ON COLUMN health_score.observations.value IS 'The observed value, in the metric''s unit, finite (NaN and infinities are refused); NULL (unknown) rows are skipped.';
COMMENT ON INDEX health_score.observations_observed_at_idx IS
'BRIN on observed_at: a read of a time range (one day) touches only the blocks of that range when rows are stored in time order, as daily loads store them.';

CREATE TABLE health_score.feeds (
    name        text PRIMARY KEY,
    relation    text NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    description text,
    status      text,
    status_detail text,
    checked_at  timestamptz
);

COMMENT ON TABLE health_score.feeds IS
'Your own tables or views read as observations, without copying rows: each must have the columns account_id and metric (text types), observed_at (date, timestamp or timestamptz) and value (a number type).';
COMMENT ON COLUMN health_score.feeds.name IS 'Name of the feed.';
COMMENT ON COLUMN health_score.feeds.relation IS 'The table or view, schema-qualified, e.g. analytics.health_logins.';
COMMENT ON COLUMN health_score.feeds.enabled IS 'False leaves the feed out of scoring.';
COMMENT ON COLUMN health_score.feeds.description IS 'Where the data comes from.';
COMMENT ON COLUMN health_score.feeds.status IS 'As of the last check_feeds(): ok, bad_rows (readable, some rows NaN or infinite), broken (not read) or disabled; NULL until checked.';
COMMENT ON COLUMN health_score.feeds.status_detail IS 'What check_feeds() found: rows read and bad rows, or why the feed cannot be read.';
COMMENT ON COLUMN health_score.feeds.checked_at IS 'When check_feeds() last checked the feed.';

-- feed_problem(rel): what keeps a feed's relation from being read as observations, or NULL.
-- The columns must exist with types that always cast: text types for account_id and metric,
-- a date or time stamp for observed_at, a number for value (a text value is refused here,
-- not at scoring time, where one bad string would stop every account).
CREATE FUNCTION health_score.feed_problem(rel regclass, OUT code text, OUT problem text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col record;
BEGIN
    IF rel IS NULL OR NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = rel) THEN
        code := 'undefined_table';
        problem := 'the relation does not exist';
        RETURN;
    END IF;
    SELECT string_agg(c, ', ') INTO problem
      FROM unnest(ARRAY['account_id', 'metric', 'observed_at', 'value']) AS c
     WHERE NOT EXISTS (SELECT FROM pg_attribute a
                        WHERE a.attrelid = rel AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped);
    IF problem IS NOT NULL THEN
        code := 'undefined_column';
        problem := format('relation %s lacks the column(s) %s', rel, problem);
        RETURN;
    END IF;
    FOR col IN
        SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
               CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END AS base
          FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attname IN ('account_id', 'metric', 'observed_at', 'value')
         ORDER BY a.attnum
    LOOP
        problem := CASE
            WHEN col.name IN ('account_id', 'metric')
                 AND (SELECT t.typcategory FROM pg_type t WHERE t.oid = col.base) <> 'S' THEN 'a text type'
            WHEN col.name = 'observed_at'
                 AND col.base NOT IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype)
                THEN 'date, timestamp or timestamptz'
            WHEN col.name = 'value'
                 AND col.base NOT IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype,
                                      'numeric'::regtype, 'real'::regtype, 'double precision'::regtype)
                THEN 'a number type (smallint, integer, bigint, numeric, real or double precision)' END;
        IF problem IS NOT NULL THEN
            code := 'datatype_mismatch';
            problem := format('column %s of %s is %s; it must be %s', col.name, rel, col.type, problem);
            RETURN;
        END IF;
    END LOOP;
END
$$;

COMMENT ON FUNCTION health_score.feed_problem(regclass) IS
'Why a feed''s relation cannot be read as observations (missing, a column missing or of the wrong type), with an SQLSTATE name; both NULL when it can.';

-- feed_relation(feed, relation, rel): the checks of a feed's relation (rel, resolved from the
-- name relation as the user wrote it), and its schema-qualified name to store.
CREATE FUNCTION health_score.feed_relation(feed text, relation text, rel regclass) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    check_result record;
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'feed "%": relation "%" does not exist', feed, relation
            USING ERRCODE = 'undefined_table';
    END IF;
    check_result := health_score.feed_problem(rel);
    IF check_result.problem IS NOT NULL THEN
        RAISE EXCEPTION 'feed "%": %', feed, check_result.problem
            USING ERRCODE = check_result.code;
    END IF;
    -- Stored schema-qualified, so scoring finds it whatever the search_path.
    RETURN (SELECT format('%I.%I', n.nspname, c.relname)
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.oid = rel);
END
$$;

COMMENT ON FUNCTION health_score.feed_relation(text, text, regclass) IS
'Checks a feed''s relation (rel, resolved from the name relation) with feed_problem, naming the feed in the error; returns its schema-qualified name. Called by the feeds trigger.';

-- The one function without a pinned search_path: the relation name must resolve as the user
-- who wrote it sees it. So it does nothing but resolve the name (one schema-qualified call,
-- no operators) and hand over to feed_relation, whose search_path is pinned.
CREATE FUNCTION health_score.check_feed() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.relation := health_score.feed_relation(NEW.name, NEW.relation, pg_catalog.to_regclass(NEW.relation));
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION health_score.check_feed() IS
'Trigger: refuses a feed whose relation does not exist or lacks the observation columns.';

-- Only the feed's definition is checked and counts as a configuration change: check_feeds()
-- writes the status columns without either.
CREATE TRIGGER validate BEFORE INSERT OR UPDATE OF name, relation, enabled ON health_score.feeds
    FOR EACH ROW EXECUTE FUNCTION health_score.check_feed();
CREATE TRIGGER bump_config_version AFTER INSERT OR UPDATE OF name, relation, enabled OR DELETE OR TRUNCATE ON health_score.feeds
    FOR EACH STATEMENT EXECUTE FUNCTION health_score.bump_config_version();

SELECT pg_catalog.pg_extension_config_dump('health_score.accounts', '');
SELECT pg_catalog.pg_extension_config_dump('health_score.observations', '');
SELECT pg_catalog.pg_extension_config_dump('health_score.subscriptions', '');
SELECT pg_catalog.pg_extension_config_dump('health_score.feeds', '');

-- Scoring ------------------------------------------------------------------------------------------

-- The moment the views score at: now(), or the setting health_score.as_of when set
-- (SET health_score.as_of = '2025-06-30' shows every view as of that moment).
CREATE FUNCTION health_score.current_as_of() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(nullif(current_setting('health_score.as_of', true), '')::timestamptz, now())
$$;

COMMENT ON FUNCTION health_score.current_as_of() IS
'The moment the views score at: the setting health_score.as_of when set, else now().';


-- feed_relid(relation): the relation of a feed (its stored, schema-qualified name), or NULL.
-- A catalog lookup: to_regclass would need USAGE on the feed's schema, which a CSM lacks.
CREATE FUNCTION health_score.feed_relid(relation text) RETURNS regclass
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.oid::regclass
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
           LATERAL parse_ident(relation) AS name
     WHERE cardinality(name) = 2 AND n.nspname = name[1] AND c.relname = name[2]
$$;

COMMENT ON FUNCTION health_score.feed_relid(text) IS
'The relation a feed''s stored name (feeds.relation) designates, or NULL when there is none; needs no right on its schema.';

-- feed_rows(feed, as_of, account_id): the one reader of a feed (src/feed.c). It reads the
-- relation with its owner's rights, as a materialized view is refreshed, so scoring never runs
-- the code of a view's owner with the rights of whoever scores; and it returns only the rows
-- of the accounts the caller may see.
CREATE FUNCTION health_score.feed_rows(feed text, as_of timestamptz, account_id text DEFAULT NULL)
RETURNS TABLE (account_id text, metric text, observed_at timestamptz, value float8)
AS 'MODULE_PATHNAME', 'feed_rows'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED ROWS 100000;

COMMENT ON FUNCTION health_score.feed_rows(text, timestamptz, text) IS
'The rows of one feed up to as_of (of one account when account_id is given), cast to the observation types: read with the rights of the relation''s owner, in a restricted operation with search_path pg_catalog, and narrowed to the accounts the caller may see when row-level security restricts it. 42704 for an unknown feed.';

-- A feed's row is bad when its value is NaN or infinite, or its time infinite; the
-- observations table refuses such rows with its CHECK constraints.
CREATE FUNCTION health_score.refuse_observation(feed text, account_id text, metric text,
                                                observed_at timestamptz, value float8) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'feed "%": account %, metric %: %', feed, account_id, metric,
        CASE WHEN isfinite(observed_at) THEN format('value %s at %s', value, observed_at)
             ELSE format('observed_at %s', observed_at) END
        USING ERRCODE = 'data_exception',
              HINT = 'Fix the row in the feed, or set health_score.settings.bad_data to isolate to score the other accounts.';
END
$$;

COMMENT ON FUNCTION health_score.refuse_observation(text, text, text, timestamptz, float8) IS
'Raises the error for a NaN or infinite row of a feed, naming the feed, account and metric (settings.bad_data = error).';

-- feeds_sql(): the rows of the feeds, the part of observations_sql that is not the table. The
-- incremental scoring reads the table's new rows only but every feed whole (feeds have no
-- record of when a row arrived), so it asks for the feeds alone.
CREATE FUNCTION health_score.feeds_sql() RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f record;
    found record;
    hard_stop boolean := (SELECT s.bad_data = 'error' FROM health_score.settings s);
    q text;
BEGIN
    FOR f IN SELECT fd.name, fd.relation, fd.status, fd.status_detail, fd.checked_at
               FROM health_score.feeds fd WHERE fd.enabled ORDER BY fd.name LOOP
        found := health_score.feed_problem(health_score.feed_relid(f.relation));
        IF found.problem IS NULL AND f.status = 'broken' THEN
            -- an error while reading, found by check_feeds(): skipped until checked again
            found.code := 'data_exception';
            found.problem := format('check_feeds() at %s: %s; run it again once the feed is fixed', f.checked_at, f.status_detail);
        END IF;
        IF found.problem IS NOT NULL THEN
            IF hard_stop THEN
                RAISE EXCEPTION 'feed "%" (%): %', f.name, f.relation, found.problem USING ERRCODE = found.code;
            END IF;
            RAISE WARNING 'feed "%" (%) skipped: %', f.name, f.relation, found.problem;
            CONTINUE;
        END IF;
        -- bad: a NaN or infinite row; with bad_data = error, refuse_observation raises instead.
        q := concat_ws(' UNION ALL ', q, format(
            'SELECT o.account_id, o.metric, o.observed_at, o.value, %s AS bad FROM (%s) o',
            format(CASE WHEN hard_stop THEN '(%s AND health_score.refuse_observation(%L, o.account_id, o.metric, o.observed_at, o.value))'
                        ELSE '%s' END,
                   $b$NOT (isfinite(o.observed_at) AND coalesce(o.value > '-Infinity' AND o.value < 'Infinity', true))$b$,
                   f.name),
            format('SELECT * FROM health_score.feed_rows(%L, $1)', f.name)));
    END LOOP;
    RETURN q;
END
$$;

COMMENT ON FUNCTION health_score.feeds_sql() IS
'The query that reads every enabled feed that can be read (as observations_sql, without the observations table), or NULL when there is none.';

CREATE FUNCTION health_score.observations_sql() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT concat_ws(' UNION ALL ', 'SELECT account_id, metric, observed_at, value, false AS bad FROM health_score.observations',
                     health_score.feeds_sql())
$$;

COMMENT ON FUNCTION health_score.observations_sql() IS
'The query that reads every observation: the observations table and the enabled feeds that can be read (a feed that cannot, or that check_feeds() found broken, is skipped with a WARNING, or is an error with settings.bad_data = error), with a column bad marking a feed''s NaN or infinite rows.';

-- The NaN or infinite rows of one account in the feeds, up to as_of: which metric inputs they
-- spoil and why. Scoring calls it only for the rare accounts that have such rows.
CREATE FUNCTION health_score.bad_observations(account_id text, as_of timestamptz)
RETURNS TABLE (metric text, problem text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    f record;
BEGIN
    -- the feeds observations_sql reads: enabled, readable, not found broken by check_feeds()
    FOR f IN SELECT fd.name, fd.relation FROM health_score.feeds fd
              WHERE fd.enabled AND fd.status IS DISTINCT FROM 'broken' ORDER BY fd.name LOOP
        CONTINUE WHEN (health_score.feed_problem(health_score.feed_relid(f.relation))).problem IS NOT NULL;
        RETURN QUERY
            SELECT o.metric, format('feed "%s": %s has %s', f.name, o.metric,
                                    CASE WHEN isfinite(o.observed_at) THEN 'value ' || o.value ELSE 'observed_at ' || o.observed_at END)
              FROM health_score.feed_rows(f.name, as_of, bad_observations.account_id) o
             WHERE NOT (isfinite(o.observed_at) AND coalesce(o.value > '-Infinity' AND o.value < 'Infinity', true));
    END LOOP;
END
$$;

COMMENT ON FUNCTION health_score.bad_observations(text, timestamptz) IS
'The NaN or infinite rows of one account in the feeds up to as_of: the metric input each spoils and the problem, naming the feed.';

-- The metric level of one account in C (src/metric_level.c): its raw values in the catalog's
-- slot order become its metric rows, with absent values, decayed rates, effective weights and
-- curves applied as the SQL it replaced did (the same results to the bit), in one call instead
-- of an array built per account and a curve called per metric.
CREATE FUNCTION health_score.metric_level(raw_values float8[], age_days float8, spoilt boolean[],
                                          metrics text[], dimensions text[], aggregations text[],
                                          absent_means text[], half_life_days float8[], max_age_days float8[],
                                          curves text[], breakpoints float8[], breakpoint_counts integer[],
                                          scores float8[], score_counts integer[], groups integer[],
                                          weights float8[], group_weights float8[], coverage_shares float8[])
RETURNS TABLE (metric text, dimension text, raw_value float8, sub_score float8, effective_weight float8,
               contribution float8, coverage_share float8)
AS 'MODULE_PATHNAME', 'metric_level'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE ROWS 20;

COMMENT ON FUNCTION health_score.metric_level(float8[], float8, boolean[], text[], text[], text[], text[], float8[], float8[], text[], float8[], integer[], float8[], integer[], integer[], float8[], float8[], float8[]) IS
'One account''s metric rows, in slot order, for the metrics with data: raw_values (metric_values'' result; NULL or a NULL element: not observed), age_days (days since the account started; NULL: unknown) and spoilt (true for a slot spoilt by a bad row; NULL: none) read with the catalog in slot order (metrics, dimensions, aggregations, absent_means, half_life_days, max_age_days, curves, and the curves end to end: breakpoints and scores, breakpoint_counts and score_counts per metric) and the account''s segment (groups: each metric''s dimension number, weights, group_weights: the dimensions'' weights, coverage_shares). Used by metric_rows_sql.';

-- The accounts live at as_of ($1), each with its period covering as_of: the one place that
-- decides who is scored, and at what MRR. A text, as the scoring queries are, so that it
-- is planned inside them.
CREATE FUNCTION health_score.live_accounts_sql() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT format($q$
SELECT a.account_id, a.name, a.segment, coalesce(p.plan, a.plan) AS plan, a.owner, p.mrr, p.seats,
       p.started_on, p.ended_on, p.account_started_on
  FROM (%s) p
  JOIN health_score.accounts a ON a.account_id = p.account_id
 WHERE (p.started_on IS NULL OR p.started_on <= $1)
   AND (p.ended_on IS NULL OR p.ended_on > $1)
$q$, health_score.account_periods_sql())
$$;

COMMENT ON FUNCTION health_score.live_accounts_sql() IS
'The text of the query (parameter $1: as_of) of live_accounts: every account a period covers at as_of (account_periods_sql), with that period''s MRR, plan and seats.';

CREATE FUNCTION health_score.live_accounts(as_of timestamptz DEFAULT now())
RETURNS TABLE (account_id text, name text, segment text, plan text, owner name, mrr numeric, seats integer,
               started_on date, ended_on date, account_started_on date)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM health_score.check_as_of(as_of);
    RETURN QUERY EXECUTE health_score.live_accounts_sql() USING as_of;
END
$$;

COMMENT ON FUNCTION health_score.live_accounts(timestamptz) IS
'The accounts live at as_of (a period of account_periods covers it: started_on <= as_of, or unknown, and ended_on > as_of, or open), the ones scoring scores, with the period''s MRR, plan (or accounts.plan) and seats, its first and end day, and the first day of the account''s first period.';

-- The scoring query, per account and metric, at as_of ($1). One pass over the observations,
-- grouped by account, turns them into every metric's raw value with the C aggregate
-- metric_values (the only heavy step, kept apart in a materialized CTE so that it is planned
-- alone and can run in parallel). The live accounts then drive the rest, so an account with
-- no observations at all is scored too: a metric with absent_means = 'zero' and no
-- observation reads 0 (days_since: the days since the account started), and a decayed_rate
-- is divided by the decayed time the account has existed (see below). The rest works on one
-- row per account: the C function metric_level gives each metric with data its value, its
-- sub-score and its weight (the dimension's share among the account's dimensions that have
-- data x the metric's share among its dimension's metrics that have data), so no step sorts
-- the metric rows. coverage_share is the same product over all the configured weights, data
-- or not.
--
-- metric_rows_sql(raw_values) is that query from the raw values on. raw_values is a query
-- giving one row per account with observations: account_id, raw_values (metric_values' result,
-- in the slot order of the CTE catalog, which it may read) and bad (a feed's NaN or infinite
-- row spoils some of its metrics). metric_scores_sql computes them from every observation,
-- the incremental scoring (rolled_metric_scores) from the scoring state.
CREATE FUNCTION health_score.metric_rows_sql(raw_values text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT format($q$
WITH catalog AS MATERIALIZED (
    -- the enabled metrics in a fixed order: slot i of metric_values is the i-th
    SELECT m.name, m.dimension, m.weight, m.input, m.half_life, m.max_age, m.aggregation, m.curve, m.breakpoints,
           m.scores, m.absent_means, row_number() OVER (ORDER BY m.name) AS slot,
           -- in days, as the kernels count them (months of 30 days, years of 365.25)
           extract(epoch FROM m.half_life)::float8 / 86400 AS half_life_days,
           extract(epoch FROM m.max_age)::float8 / 86400 AS max_age_days
      FROM health_score.metrics m
     WHERE m.enabled
), by_account AS MATERIALIZED (%s
), bad_inputs AS MATERIALIZED (
    -- the rare accounts with a NaN or infinite row in a feed: the metric inputs it spoils
    SELECT b.account_id, array_agg(DISTINCT p.metric) AS inputs
      FROM by_account b
     CROSS JOIN LATERAL health_score.bad_observations(b.account_id, $1) p
     WHERE b.bad
     GROUP BY b.account_id
), live AS MATERIALIZED (
    -- the accounts scored, with the days they have existed at as_of, since their first period
    -- started (NULL: started_on unknown)
    SELECT l.account_id, coalesce(l.segment, '') AS segment,
           (extract(epoch FROM $1) - extract(epoch FROM l.account_started_on::timestamptz))::float8 / 86400 AS age_days
      FROM (%s) l
), catalog_arrays AS MATERIALIZED (
    -- the catalog as metric_level reads it: an array per column in slot order, the curves end to end
    SELECT coalesce(array_agg(c.name ORDER BY c.slot), '{}') AS metrics,
           coalesce(array_agg(c.dimension ORDER BY c.slot), '{}') AS dimensions,
           coalesce(array_agg(c.aggregation ORDER BY c.slot), '{}') AS aggregations,
           coalesce(array_agg(c.absent_means ORDER BY c.slot), '{}') AS absent_means,
           coalesce(array_agg(c.half_life_days ORDER BY c.slot), '{}') AS half_life_days,
           coalesce(array_agg(c.max_age_days ORDER BY c.slot), '{}') AS max_age_days,
           coalesce(array_agg(c.curve ORDER BY c.slot), '{}') AS curves,
           coalesce((SELECT array_agg(u.x ORDER BY c2.slot, u.k) FROM catalog c2,
                            unnest(c2.breakpoints) WITH ORDINALITY u(x, k)), '{}') AS breakpoints,
           coalesce(array_agg(cardinality(c.breakpoints) ORDER BY c.slot), '{}') AS breakpoint_counts,
           coalesce((SELECT array_agg(u.x ORDER BY c2.slot, u.k) FROM catalog c2,
                            unnest(c2.scores) WITH ORDINALITY u(x, k)), '{}') AS scores,
           coalesce(array_agg(cardinality(c.scores) ORDER BY c.slot), '{}') AS score_counts
      FROM catalog c
), cleaned AS (
    -- Every live account with its raw values, observed or not (metric_level reads them), and
    -- for the rare account with a bad row, the slots whose input it spoils.
    SELECT l.account_id, l.segment, l.age_days, b.raw_values,
           CASE WHEN bi.inputs IS NOT NULL THEN
               (SELECT array_agg(c.input = ANY (bi.inputs) ORDER BY c.slot) FROM catalog c) END AS spoilt
      FROM live l
      LEFT JOIN by_account b ON b.account_id = l.account_id
      LEFT JOIN bad_inputs bi ON bi.account_id = l.account_id
), dimension_weights AS (
    -- every dimension's weight for each segment in use, numbered for effective_weights
    SELECT s.segment, d.name AS dimension, coalesce(sd.weight, d.weight) AS weight,
           row_number() OVER (PARTITION BY s.segment ORDER BY d.name) AS dimension_no
      FROM (SELECT DISTINCT segment FROM live) s
     CROSS JOIN health_score.dimensions d
      LEFT JOIN health_score.segment_dimension_weights sd ON sd.segment = s.segment AND sd.dimension = d.name
), metric_weights AS (
    SELECT dw.segment, c.slot, dw.dimension_no, dw.weight AS dimension_weight,
           coalesce(sm.weight, c.weight) AS metric_weight
      FROM catalog c
      JOIN dimension_weights dw ON dw.dimension = c.dimension
      LEFT JOIN health_score.segment_metric_weights sm ON sm.segment = dw.segment AND sm.metric = c.name
), per_dimension AS (
    SELECT w.*, sum(w.metric_weight) OVER (PARTITION BY w.segment, w.dimension_no) AS dimension_metric_weight,
           count(*) OVER (PARTITION BY w.segment, w.dimension_no) AS dimension_metrics
      FROM metric_weights w
), coverage_shares AS (
    -- the share of the configured weight each metric stands for, data or not
    SELECT p.*, p.metric_weight / p.dimension_metric_weight * p.dimension_weight
                / sum(p.dimension_weight / p.dimension_metrics) OVER (PARTITION BY p.segment) AS coverage_share
      FROM per_dimension p
), segments AS MATERIALIZED (
    -- per segment, the slot-ordered arrays effective_weights reads
    SELECT w.segment,
           array_agg(w.dimension_no::integer ORDER BY w.slot) AS dimension_nos,
           array_agg(w.metric_weight ORDER BY w.slot) AS metric_weights,
           array_agg(w.coverage_share ORDER BY w.slot) AS coverage_shares,
           (SELECT array_agg(dw.weight ORDER BY dw.dimension_no) FROM dimension_weights dw
             WHERE dw.segment = w.segment) AS dimension_weights
      FROM coverage_shares w
     GROUP BY w.segment
)
-- Per account, metric_level does the rest in one call: a metric spoilt by a bad row has no
-- data, never a zero; a metric with no observation (within max_age) is unknown, or with
-- absent_means = 'zero' reads 0, and days_since the days the metric could have seen an event:
-- since started_on, at most max_age (unknown without started_on). A decayed_rate is the
-- decayed sum over the decayed exposure since started_on, E = h / ln 2 * (1 - 2^(-A/h)) days
-- for a half-life of h days, where A is the days since started_on (at most max_age, at least
-- 7 days, so the first days do not read one event as a daily habit): metric_values divided it
-- by h / ln 2, an endless history's exposure, which stays when started_on is unknown. A/h is
-- capped at 1000, where 2^(-A/h) is 0 to double precision. Then the effective weights (as
-- effective_weights) and each metric's curve (scale, or scale_banded for a banded curve).
SELECT b.account_id, m.metric, m.dimension, m.raw_value, m.sub_score, m.effective_weight,
       m.contribution, m.coverage_share
  FROM cleaned b
  JOIN segments s ON s.segment = b.segment
 CROSS JOIN catalog_arrays k
 CROSS JOIN LATERAL health_score.metric_level(b.raw_values, b.age_days, b.spoilt, k.metrics, k.dimensions,
                        k.aggregations, k.absent_means, k.half_life_days, k.max_age_days, k.curves,
                        k.breakpoints, k.breakpoint_counts, k.scores, k.score_counts,
                        s.dimension_nos, s.metric_weights, s.dimension_weights, s.coverage_shares) m
 UNION ALL
-- a metric spoilt by a bad row: a row with no values, which makes the account's score NULL
SELECT bi.account_id, c.name, c.dimension, NULL, NULL, NULL, NULL, NULL
  FROM bad_inputs bi
  JOIN live l ON l.account_id = bi.account_id
  JOIN catalog c ON c.input = ANY (bi.inputs)
$q$, raw_values, health_score.live_accounts_sql())
$$;

COMMENT ON FUNCTION health_score.metric_rows_sql(text) IS
'The text of the scoring query per account and metric (parameter $1: as_of) from raw_values, a query giving per account with observations its raw values (account_id, raw_values float8[] in the order of the enabled metrics'' names, bad): the rest of metric_scores_sql.';

-- metric_scores_sql(): the whole scoring query, at as_of ($1): the raw values from one pass over
-- every observation, then metric_rows_sql.
-- With feeds, the observations and the feeds' rows are grouped by account apart and their
-- states merged (metric_values_merge): on Citus the observations' grouping then runs on the
-- shards, where a UNION ALL with the feeds' rows (read on the coordinator) brought every
-- observation to the coordinator.
CREATE FUNCTION health_score.metric_scores_sql() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT health_score.metric_rows_sql(CASE WHEN f.q IS NULL THEN format($q$
    SELECT o.account_id, health_score.metric_values(o.value, o.observed_at, $1, o.metric, %s) AS raw_values,
           false AS bad
      FROM health_score.observations o
     WHERE o.observed_at <= $1
     GROUP BY o.account_id
$q$, a.arrays) ELSE format($q$
    SELECT u.account_id, health_score.metric_values_merge(u.state) AS raw_values, bool_or(u.bad) AS bad
      FROM (SELECT o.account_id, health_score.metric_values_state(o.value, o.observed_at, $1, o.metric, %1$s) AS state,
                   false AS bad
              FROM health_score.observations o
             WHERE o.observed_at <= $1
             GROUP BY o.account_id
            UNION ALL
            SELECT o.account_id,
                   health_score.metric_values_state(o.value, o.observed_at, $1, o.metric, %1$s) FILTER (WHERE NOT o.bad),
                   bool_or(o.bad)
              FROM (%2$s) o
             WHERE o.observed_at <= $1
             GROUP BY o.account_id) u
     GROUP BY u.account_id
$q$, a.arrays, f.q) END)
  FROM (SELECT health_score.feeds_sql() AS q) f,
       (SELECT '(SELECT array_agg(c.input ORDER BY c.slot) FROM catalog c),
                (SELECT array_agg(c.half_life ORDER BY c.slot) FROM catalog c),
                (SELECT array_agg(c.max_age ORDER BY c.slot) FROM catalog c),
                (SELECT array_agg(c.aggregation ORDER BY c.slot) FROM catalog c)'::text AS arrays) a
$$;

COMMENT ON FUNCTION health_score.metric_scores_sql() IS
'The text of the scoring query per account and metric (parameter $1: as_of), shared by metric_scores and account_scores: every live account, with absent_means applied and each decayed_rate over the decayed time since the account started. A metric spoilt by a NaN or infinite row of a feed has a row with raw_value NULL.';

CREATE FUNCTION health_score.check_as_of(as_of timestamptz) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF as_of IS NULL OR as_of IN ('infinity', '-infinity') THEN
        RAISE EXCEPTION 'as_of must be a finite timestamp, got %', coalesce(as_of::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

COMMENT ON FUNCTION health_score.check_as_of(timestamptz) IS
'Refuses a NULL or infinite as_of, naming it.';

-- refresh_rows(as_of): the metric rows refresh() scored with its snapshot, while it refreshes
-- the dashboards' materialized views at that instant (pg_temp.refresh_scored says which):
-- the views read them instead of scoring the book again, from every observation, each on its
-- own. NULL anywhere else, and once the configuration has changed since.
CREATE FUNCTION health_score.refresh_rows(as_of timestamptz) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF to_regclass('pg_temp.refresh_scored') IS NULL OR to_regclass('pg_temp.snapshot_scored') IS NULL
       OR to_regclass('pg_temp.snapshot_metric_rows') IS NULL OR to_regclass('pg_temp.snapshot_account_rows') IS NULL THEN
        RETURN NULL;
    END IF;
    -- a refresh of the dashboards at as_of in progress, and the snapshot's rows of as_of, both
    -- under the configuration as it is now
    IF EXISTS (SELECT FROM pg_temp.refresh_scored r, pg_temp.snapshot_scored s
                WHERE r.as_of = refresh_rows.as_of AND s.as_of = refresh_rows.as_of
                  AND r.config_version = health_score.config_version()
                  AND s.config_version = health_score.config_version()) THEN
        RETURN 'pg_temp.snapshot_metric_rows';
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION health_score.refresh_rows(timestamptz) IS
'The table of metric rows (as metric_scores(as_of)) that refresh() keeps from its snapshot while it refreshes the materialized views (refresh_dashboards), when the snapshot''s rows are of as_of and the configuration is unchanged since; else NULL. metric_scores reads it then (and account_churn_risk through metric_scores), and account_scores the snapshot''s account rows (pg_temp.snapshot_account_rows).';

CREATE FUNCTION health_score.metric_scores(as_of timestamptz DEFAULT now())
RETURNS TABLE (account_id text, metric text, dimension text, raw_value float8, sub_score float8,
               effective_weight float8, contribution float8, coverage_share float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
-- JIT compiling costs seconds and saves nothing here: the work is in the C aggregates. The
-- grouped pass wants a hash aggregate (one row per account and metric); the default 4 MB
-- would push the planner to sort millions of rows instead.
SET jit = off
SET work_mem = '64MB'
AS $$
BEGIN
    PERFORM health_score.check_as_of(as_of);
    RETURN QUERY EXECUTE format(
        'SELECT account_id, metric, dimension, raw_value, sub_score, effective_weight, contribution, coverage_share FROM %s s',
        coalesce(health_score.refresh_rows(as_of), '(' || health_score.metric_scores_sql() || ')'))
        USING as_of;
END
$$;

COMMENT ON FUNCTION health_score.metric_scores(timestamptz) IS
'Per account and metric at as_of: the raw value from the observations, its 0-100 sub-score, its effective weight in the account score (weights renormalised over the metrics with data) and its contribution (effective_weight x sub_score; the contributions sum to the score) and its coverage_share (its share of the configured weight; an account''s shares sum to its coverage). A metric without data is left out; with absent_means = zero, no observation is data (0, or for days_since the days since the account started).';

-- The account level in C: one aggregate over an account's metric rows (src/account_score.c)
-- gives its dimension scores, coverage, score, band, alert tier, reason and weakest metrics.
-- It replaced two groupings, a window sort and two subqueries per account: about 60 µs an
-- account against 7-8 (bench/account_level.sh), with the same results to the bit
-- (test/pgtap/account_level.sql).
CREATE TYPE health_score.account_score AS (
    score              float8,
    band               text,
    alert_tier         text,
    coverage           float8,
    product_score      float8,
    relationship_score float8,
    business_score     float8,
    reason             text,
    dimension_scores   jsonb,
    weakest_metrics    text,
    bad_rows           boolean
);

COMMENT ON TYPE health_score.account_score IS
'Returned by score_account: one account''s row of account_scores, but for the reason of an account with bad rows (bad_rows true, reason NULL), which account_scores reads from the feeds.';
COMMENT ON COLUMN health_score.account_score.score IS 'The health score 0-100, to two decimals; NULL below min_coverage, with rows lacking their raw value, or without metric rows.';
COMMENT ON COLUMN health_score.account_score.band IS 'The action band that owns the score.';
COMMENT ON COLUMN health_score.account_score.alert_tier IS 'The alert tier that owns the score.';
COMMENT ON COLUMN health_score.account_score.coverage IS 'Share 0-1 of the configured weight that had data (the sum of the coverage shares, at most 1), to four decimals.';
COMMENT ON COLUMN health_score.account_score.product_score IS 'Score of the product dimension, to two decimals.';
COMMENT ON COLUMN health_score.account_score.relationship_score IS 'Score of the relationship dimension, to two decimals.';
COMMENT ON COLUMN health_score.account_score.business_score IS 'Score of the business dimension, to two decimals.';
COMMENT ON COLUMN health_score.account_score.reason IS 'Why score is NULL: no observations, or the coverage below min_coverage; NULL with bad_rows, whose reason account_scores reads from the feeds.';
COMMENT ON COLUMN health_score.account_score.dimension_scores IS 'Every dimension''s score as jsonb, to two decimals (null for a dimension whose rows lack their values).';
COMMENT ON COLUMN health_score.account_score.weakest_metrics IS 'The three metrics that cost the score most points, effective_weight x (100 - sub_score), ties by name: name and sub-score.';
COMMENT ON COLUMN health_score.account_score.bad_rows IS 'True when a metric row lacks its raw value (spoilt by a NaN or infinite row of a feed).';

CREATE FUNCTION health_score.score_account_accum(state internal, metric text, dimension text, raw_value float8,
                                                 sub_score float8, effective_weight float8, contribution float8,
                                                 coverage_share float8, min_coverage float8, bands text[],
                                                 band_mins float8[], band_maxes float8[], tiers text[],
                                                 tier_mins float8[], tier_maxes float8[])
RETURNS internal
AS 'MODULE_PATHNAME', 'score_account_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.score_account_accum(internal, text, text, float8, float8, float8, float8, float8, float8, text[], float8[], float8[], text[], float8[], float8[]) IS
'Transition function of score_account: per dimension the sums of contribution, effective_weight and coverage_share and whether a row lacks its raw value; the three metrics that cost the most points.';

CREATE FUNCTION health_score.score_account_final(state internal)
RETURNS health_score.account_score
AS 'MODULE_PATHNAME', 'score_account_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION health_score.score_account_final(internal) IS
'Final function of score_account: the account''s score, band, tier, coverage, dimension scores and weakest metrics.';

CREATE AGGREGATE health_score.score_account(metric text, dimension text, raw_value float8, sub_score float8,
                                            effective_weight float8, contribution float8, coverage_share float8,
                                            min_coverage float8, bands text[], band_mins float8[],
                                            band_maxes float8[], tiers text[], tier_mins float8[],
                                            tier_maxes float8[]) (
    SFUNC = health_score.score_account_accum,
    STYPE = internal,
    -- about what a state takes (256 bytes and the chunk's header): without it the planner
    -- assumes 8 kB for an internal state, and a hash aggregate over 100,000 accounts spilled
    -- to disk in 9 batches
    SSPACE = 320,
    FINALFUNC = health_score.score_account_final,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE health_score.score_account(text, text, float8, float8, float8, float8, float8, float8, text[], float8[], float8[], text[], float8[], float8[]) IS
'The account level of scoring over one account''s metric rows (the columns of metric_scores), with settings.min_coverage and the bands and alert tiers as arrays (each the same on every row of a group): a dimension''s score is its contributions over its effective weights, the score the sum of the contributions (0-100, two decimals; NULL below min_coverage or with a row lacking its raw value), the coverage the sum of the coverage shares (at most 1, four decimals), the weakest metrics the three with the most points lost, effective_weight x (100 - sub_score), ties by name.';

-- The account-level query (parameter $1: as_of) over a relation of metric rows shaped like
-- metric_scores' result: a subquery, or a table where the metric rows were already kept (as
-- snapshot does, to score once for both levels). Every live account gets a row, with
-- 'no observations' when it has no metric row; an account with bad rows gets its reason from
-- the feeds here (rare, and a query of its own).
CREATE FUNCTION health_score.account_scores_sql(metric_rows text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT format($q$
WITH by_account AS (
    SELECT ms.account_id,
           health_score.score_account(ms.metric, ms.dimension, ms.raw_value, ms.sub_score, ms.effective_weight,
               ms.contribution, ms.coverage_share,
               (SELECT st.min_coverage FROM health_score.settings st),
               (SELECT array_agg(b.band ORDER BY b.band) FROM health_score.bands b),
               (SELECT array_agg(b.min_score ORDER BY b.band) FROM health_score.bands b),
               (SELECT array_agg(b.max_score ORDER BY b.band) FROM health_score.bands b),
               (SELECT array_agg(t.tier ORDER BY t.tier) FROM health_score.alert_tiers t),
               (SELECT array_agg(t.min_score ORDER BY t.tier) FROM health_score.alert_tiers t),
               (SELECT array_agg(t.max_score ORDER BY t.tier) FROM health_score.alert_tiers t)) AS s
      FROM %s ms
     GROUP BY ms.account_id
), bad_reasons AS MATERIALIZED (
    -- read here, not per row of the query below: on Citus that query runs on the shards,
    -- where neither a function in FROM nor the feeds can be read
    SELECT b.account_id, string_agg(DISTINCT p.problem, '; ' ORDER BY p.problem) AS reason
      FROM by_account b
     CROSS JOIN LATERAL health_score.bad_observations(b.account_id, $1) p
     WHERE (b.s).bad_rows
     GROUP BY b.account_id
)
SELECT l.account_id, (b.s).score, (b.s).band, (b.s).alert_tier, coalesce((b.s).coverage, 0) AS coverage,
       (b.s).product_score, (b.s).relationship_score, (b.s).business_score,
       CASE WHEN (b.s).bad_rows THEN br.reason
            WHEN b.account_id IS NULL THEN 'no observations'
            ELSE (b.s).reason END AS reason,
       (b.s).dimension_scores, (b.s).weakest_metrics
  FROM (%s) l
  LEFT JOIN by_account b ON b.account_id = l.account_id
  LEFT JOIN bad_reasons br ON br.account_id = l.account_id
$q$, metric_rows, health_score.live_accounts_sql())
$$;

COMMENT ON FUNCTION health_score.account_scores_sql(text) IS
'The text of the account-level scoring query (parameter $1: as_of) over metric_rows, a relation or parenthesised query with the columns of metric_scores.';

CREATE FUNCTION health_score.account_scores(as_of timestamptz DEFAULT now())
RETURNS TABLE (account_id text, score float8, band text, alert_tier text, coverage float8,
               product_score float8, relationship_score float8, business_score float8,
               reason text, dimension_scores jsonb, weakest_metrics text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
-- JIT compiling costs seconds and saves nothing here: the work is in the C aggregates. The
-- grouped pass wants a hash aggregate (one row per account and metric); the default 4 MB
-- would push the planner to sort millions of rows instead.
SET jit = off
SET work_mem = '64MB'
AS $$
BEGIN
    PERFORM health_score.check_as_of(as_of);
    IF health_score.refresh_rows(as_of) IS NOT NULL THEN
        -- the account level the snapshot computed from those rows
        RETURN QUERY EXECUTE 'SELECT * FROM pg_temp.snapshot_account_rows';
        RETURN;
    END IF;
    RETURN QUERY EXECUTE health_score.account_scores_sql('(' || health_score.metric_scores_sql() || ')')
        USING as_of;
END
$$;

COMMENT ON FUNCTION health_score.account_scores(timestamptz) IS
'Per account live at as_of: the health score 0-100, to two decimals (NULL, with a reason, when the coverage is below settings.min_coverage or a feed holds a NaN or infinite row for it), its band and alert tier, the coverage (share 0-1 of the configured weight that had data), the product, relationship and business scores, every dimension''s score as jsonb, and the three metrics that cost the score most points (name and sub-score).';

-- check_feeds(as_of): reads every feed once and records in feeds what it found, for the
-- daily job (refresh() runs it first) and for anyone asking why an account lost coverage.
CREATE FUNCTION health_score.check_feeds(as_of timestamptz DEFAULT now())
RETURNS TABLE (name text, relation text, status text, status_detail text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    f record;
    found record;
    counts record;
    new_status text;
    detail text;
BEGIN
    PERFORM health_score.check_as_of(as_of);
    FOR f IN SELECT fd.name, fd.relation, fd.enabled FROM health_score.feeds fd ORDER BY fd.name FOR UPDATE LOOP
        found := health_score.feed_problem(health_score.feed_relid(f.relation));
        IF NOT f.enabled THEN
            new_status := 'disabled';
            detail := NULL;
        ELSIF found.problem IS NOT NULL THEN
            new_status := 'broken';
            detail := found.problem;
        ELSE
            BEGIN
                SELECT count(*) AS total,
                       count(*) FILTER (WHERE NOT (isfinite(o.observed_at)
                              AND coalesce(o.value > '-Infinity' AND o.value < 'Infinity', true))) AS bad
                  INTO counts
                  FROM health_score.feed_rows(f.name, check_feeds.as_of) o;
                new_status := CASE WHEN counts.bad > 0 THEN 'bad_rows' ELSE 'ok' END;
                detail := format('%s rows up to %s, %s of them NaN or infinite', counts.total, as_of, counts.bad);
            EXCEPTION WHEN OTHERS THEN
                new_status := 'broken';
                detail := format('reading it fails: %s (SQLSTATE %s)', SQLERRM, SQLSTATE);
            END;
        END IF;
        IF new_status <> 'ok' AND new_status <> 'disabled' THEN
            RAISE WARNING 'feed "%" (%): %: %', f.name, f.relation, new_status, detail;
        END IF;
        UPDATE health_score.feeds fd SET status = new_status, status_detail = detail, checked_at = now()
         WHERE fd.name = f.name;
        RETURN QUERY SELECT f.name, f.relation, new_status, detail;
    END LOOP;
END
$$;

COMMENT ON FUNCTION health_score.check_feeds(timestamptz) IS
'Reads every feed up to as_of and records in feeds.status what it found: ok, bad_rows (NaN or infinite rows, whose accounts score NULL), broken (cannot be read: scoring skips it, or fails with settings.bad_data = error) or disabled; a WARNING names each feed that is not ok. refresh() runs it first.';

-- Incremental scoring ----------------------------------------------------------------------------
-- A snapshot need not read every observation again. metric_values keeps each metric's decayed
-- sums relative to its newest row and weighs them to as_of only at the end, so the state of
-- one day, moved to the next and merged with the state of the rows observed in between, is
-- the state of every row at the next day: nothing compounds from day to day, and the result
-- is a full rescoring's up to the rounding of the sums (within 1e-12 relative in
-- test/pgtap/incremental.sql). scoring_state keeps one state per account, as of
-- scoring_state_info.as_of; rolled_metric_scores(as_of) rolls it forward, reading the rows
-- observed since (a range the BRIN index on observed_at finds), and scores from it. What it
-- cannot roll is detected and scored from the rows again:
--   - rows written with an older observed_at (late data, updates, deletes): the trigger below
--     records the accounts, which are scored again from all their rows; a TRUNCATE, or late
--     rows for more than half the accounts, rebuilds the whole state;
--   - a change of the metrics' inputs, half-lives, max_ages or aggregations (or of the
--     extension): the state is rebuilt; other changes (weights, curves, bands) are applied
--     after the raw values, to every account at every snapshot;
--   - an as_of before the state's (a backfill of older dates): rebuilt at that as_of;
--   - the decayed metrics with a max_age (a row aging out cannot be taken out of a sum): read
--     from the rows within max_age at every snapshot; latest and days_since roll, max_age or
--     not;
--   - the feeds, whose rows carry no record of when they arrived: read whole at every snapshot.

CREATE TABLE health_score.observation_changes (
    changed_at     timestamptz NOT NULL DEFAULT now(),
    observed_from  timestamptz NOT NULL,
    accounts       text[],
    observed_froms timestamptz[]
);

COMMENT ON TABLE health_score.observation_changes IS
'Written by a trigger on observations, one row per statement that inserted, updated or deleted rows (or truncated the table): the accounts touched, each with its oldest observed_at. The next snapshot reads and deletes the rows: an account touched before the scoring state''s as_of is scored again from all its rows. Internal.';
COMMENT ON COLUMN health_score.observation_changes.changed_at IS 'When the statement ran (its transaction''s start).';
COMMENT ON COLUMN health_score.observation_changes.observed_from IS 'The oldest observed_at among the rows touched; -infinity for a TRUNCATE.';
COMMENT ON COLUMN health_score.observation_changes.accounts IS 'The accounts touched, in order; NULL for a TRUNCATE (every account).';
COMMENT ON COLUMN health_score.observation_changes.observed_froms IS 'The oldest observed_at touched of each account, element by element.';

CREATE FUNCTION health_score.observations_changed() RETURNS trigger
AS 'MODULE_PATHNAME', 'observations_changed'
LANGUAGE C;

COMMENT ON FUNCTION health_score.observations_changed() IS
'Trigger: records in observation_changes the accounts a statement on observations touched (from its transition tables), with the rights of that table''s owner, so a role that may write observations needs no grant on it.';

-- One trigger per event: a trigger with transition tables fires for one event only.
CREATE TRIGGER record_inserts AFTER INSERT ON health_score.observations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION health_score.observations_changed();
CREATE TRIGGER record_updates AFTER UPDATE ON health_score.observations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION health_score.observations_changed();
CREATE TRIGGER record_deletes AFTER DELETE ON health_score.observations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION health_score.observations_changed();
CREATE TRIGGER record_truncates AFTER TRUNCATE ON health_score.observations
    FOR EACH STATEMENT EXECUTE FUNCTION health_score.observations_changed();

CREATE TABLE health_score.scoring_state (
    account_id text PRIMARY KEY,
    state      float8[] NOT NULL
);

COMMENT ON TABLE health_score.scoring_state IS
'The incremental scoring''s state: per account with observations, the metric_values state of its rows in the observations table up to scoring_state_info.as_of (the decayed metrics with a max_age left empty: they are read from their window). Derived data, not dumped: the first snapshot after a restore rebuilds it. Internal.';
COMMENT ON COLUMN health_score.scoring_state.account_id IS 'The account.';
COMMENT ON COLUMN health_score.scoring_state.state IS 'Its metric_values state (see metric_values_roll), in the slot order of scoring_state_info''s arrays; as of the date of its last change, at or before scoring_state_info.as_of.';

CREATE TABLE health_score.scoring_state_info (
    id                boolean PRIMARY KEY DEFAULT true CHECK (id),
    as_of             timestamptz NOT NULL,
    inputs            text[] NOT NULL,
    half_lives        interval[] NOT NULL,
    max_ages          interval[] NOT NULL,
    aggregations      text[] NOT NULL,
    extension_version text NOT NULL,
    config_version    bigint NOT NULL,
    built_at          timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    last_mode         text NOT NULL CHECK (last_mode IN ('rolled', 'rebuilt')),
    last_reason       text,
    last_rows_read    bigint NOT NULL,
    last_accounts_rescored integer NOT NULL
);

COMMENT ON TABLE health_score.scoring_state_info IS
'What scoring_state holds (at most one row): its as_of, the metric arrays it was built with, and what the last snapshot did with it. Internal; readers may look.';
COMMENT ON COLUMN health_score.scoring_state_info.id IS 'Always true: one row at most.';
COMMENT ON COLUMN health_score.scoring_state_info.as_of IS 'Every row of observations up to this moment is in the state.';
COMMENT ON COLUMN health_score.scoring_state_info.inputs IS 'The enabled metrics'' inputs, in the order of their names: the slots of the states.';
COMMENT ON COLUMN health_score.scoring_state_info.half_lives IS 'Their half-lives.';
COMMENT ON COLUMN health_score.scoring_state_info.max_ages IS 'Their max_ages.';
COMMENT ON COLUMN health_score.scoring_state_info.aggregations IS 'Their aggregations.';
COMMENT ON COLUMN health_score.scoring_state_info.extension_version IS 'The extension''s version that built the state; another rebuilds it.';
COMMENT ON COLUMN health_score.scoring_state_info.config_version IS 'config_version() at the last snapshot.';
COMMENT ON COLUMN health_score.scoring_state_info.built_at IS 'When the state was last rebuilt from every row.';
COMMENT ON COLUMN health_score.scoring_state_info.updated_at IS 'When the last snapshot used it.';
COMMENT ON COLUMN health_score.scoring_state_info.last_mode IS 'What the last snapshot did: rolled (read the rows observed since, and the late accounts'' rows) or rebuilt (read every row).';
COMMENT ON COLUMN health_score.scoring_state_info.last_reason IS 'Why it rebuilt the state (a full rescoring asked for, no state, an earlier as_of, the metrics changed, a TRUNCATE, late rows for most accounts); NULL when it rolled.';
COMMENT ON COLUMN health_score.scoring_state_info.last_rows_read IS 'Rows of observations the last snapshot read into the state (the rows within max_age and the feeds'' rows, read at every snapshot, not counted).';
COMMENT ON COLUMN health_score.scoring_state_info.last_accounts_rescored IS 'Accounts the last snapshot scored again from all their rows because of late rows (every account when it rebuilt).';

-- roll_state(as_of, full_rescore): brings scoring_state to as_of (rolled forward, or rebuilt from every
-- row when it cannot roll or full_rescore asks for it), and fills pg_temp.rolled_values with the raw
-- values of every account at as_of, as metric_rows_sql reads them. Whatever the path, the
-- change log is consumed first and the rows read after: a change committed in between is read
-- now and scored again next time, never missed.
CREATE FUNCTION health_score.roll_state(as_of timestamptz, full_rescore boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
SET work_mem = '64MB'
-- for the ANALYZE of rolled_values: its row count, from a sample of 3,000 rows, not 30,000
SET default_statistics_target = 10
AS $$
DECLARE
    cat record;
    info health_score.scoring_state_info;
    why text;
    truncated boolean;
    late text[];
    state_accounts bigint;
    rows_read bigint;
BEGIN
    -- the enabled metrics as metric_rows_sql numbers them: by name
    SELECT coalesce(array_agg(m.input ORDER BY m.name), '{}') AS inputs,
           coalesce(array_agg(m.half_life ORDER BY m.name), '{}') AS half_lives,
           coalesce(array_agg(m.max_age ORDER BY m.name), '{}') AS max_ages,
           coalesce(array_agg(m.aggregation ORDER BY m.name), '{}') AS aggregations,
           coalesce(array_agg(DISTINCT m.input) FILTER (WHERE m.max_age IS NOT NULL AND m.aggregation LIKE 'decayed%'), '{}')
               AS windowed_inputs,
           -- in seconds as the kernels count them (months of 30 days), one more for rounding
           max(extract(epoch FROM m.max_age)) FILTER (WHERE m.max_age IS NOT NULL AND m.aggregation LIKE 'decayed%') + 1
               AS window_seconds
      INTO cat FROM health_score.metrics m WHERE m.enabled;

    LOCK TABLE health_score.scoring_state IN SHARE ROW EXCLUSIVE MODE;
    SELECT * INTO info FROM health_score.scoring_state_info;
    why := CASE
        WHEN full_rescore THEN 'a full rescoring was asked for'
        WHEN info.as_of IS NULL THEN 'no scoring state yet'
        -- distribute() removes the triggers (Citus distributes no table with triggers): with
        -- no record of changes, every snapshot reads every row
        WHEN NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = 'health_score.observations'::regclass
                                                    AND t.tgname = 'record_inserts')
            THEN 'observations record no changes (distributed on Citus)'
        WHEN info.as_of > as_of THEN format('as_of %s is before the state''s %s', as_of, info.as_of)
        WHEN info.extension_version IS DISTINCT FROM
             (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'health_score') THEN 'the extension changed'
        WHEN ROW(info.inputs, info.half_lives, info.max_ages, info.aggregations)::text
             IS DISTINCT FROM ROW(cat.inputs, cat.half_lives, cat.max_ages, cat.aggregations)::text
            THEN 'the metrics changed (inputs, half-lives, max_ages or aggregations)' END;

    -- The change log, consumed before any row is read. Only changes before the state's as_of
    -- matter: later rows are read as new ones.
    WITH gone AS (
        DELETE FROM health_score.observation_changes c
        RETURNING c.observed_from,
                  CASE WHEN why IS NULL AND c.observed_from <= info.as_of THEN c.accounts END AS accounts,
                  CASE WHEN why IS NULL AND c.observed_from <= info.as_of THEN c.observed_froms END AS observed_froms
    )
    SELECT coalesce(bool_or(g.observed_from <= info.as_of AND g.accounts IS NULL), false),
           coalesce(array_agg(DISTINCT u.account_id) FILTER (WHERE u.account_id IS NOT NULL), '{}')
      INTO truncated, late
      FROM gone g
      LEFT JOIN LATERAL unnest(g.accounts, g.observed_froms) AS u(account_id, observed_from)
             ON u.observed_from <= info.as_of;
    IF why IS NULL AND truncated THEN
        why := 'observations were truncated';
    END IF;
    -- counted only with late rows: a count reads every state
    IF why IS NULL AND cardinality(late) > 0 THEN
        state_accounts := (SELECT count(*) FROM health_score.scoring_state);
        IF cardinality(late) > state_accounts / 2 THEN
            why := format('late rows for %s of %s accounts', cardinality(late), state_accounts);
        END IF;
    END IF;

    IF why IS NOT NULL THEN
        DELETE FROM health_score.scoring_state;
        EXECUTE $q$
            WITH built AS (
                SELECT o.account_id, health_score.metric_values_state(o.value, o.observed_at, $1, o.metric, $2, $3, $4, $5) AS state,
                       count(*) AS n
                  FROM health_score.observations o
                 WHERE o.observed_at <= $1
                 GROUP BY o.account_id
            ), written AS (
                INSERT INTO health_score.scoring_state (account_id, state)
                SELECT b.account_id, health_score.metric_values_roll(NULL, $1, b.state, NULL, $4) FROM built b
            )
            SELECT coalesce(sum(b.n), 0), count(*) FROM built b $q$
            INTO rows_read, state_accounts USING as_of, cat.inputs, cat.half_lives, cat.max_ages, cat.aggregations;
        late := NULL;
    ELSE
        -- The rows observed since the state's as_of, and every row of the late accounts.
        EXECUTE $q$
            WITH fresh AS (
                SELECT o.account_id, health_score.metric_values_state(o.value, o.observed_at, $1, o.metric, $3, $4, $5, $6) AS state,
                       count(*) AS n
                  FROM health_score.observations o
                 WHERE o.observed_at > $2 AND o.observed_at <= $1
                 GROUP BY o.account_id
            ), redone AS (
                SELECT o.account_id, health_score.metric_values_state(o.value, o.observed_at, $1, o.metric, $3, $4, $5, $6) AS state,
                       count(*) AS n
                  FROM health_score.observations o
                 WHERE o.account_id = ANY ($7) AND o.observed_at <= $1
                 GROUP BY o.account_id
            ), dropped AS (
                -- a late account left without a row up to as_of
                DELETE FROM health_score.scoring_state s
                 WHERE s.account_id = ANY ($7) AND s.account_id NOT IN (SELECT r.account_id FROM redone r)
            ), rolled AS (
                -- an UPDATE, not an INSERT ... ON CONFLICT, which probed the key of each row
                -- before updating it (a third slower)
                UPDATE health_score.scoring_state s
                   SET state = health_score.metric_values_roll(s.state, $1, f.state, NULL, $5)
                  FROM fresh f
                 WHERE s.account_id = f.account_id AND f.account_id <> ALL ($7)
                RETURNING s.account_id
            ), written AS (
                -- the accounts without a state yet, and the late ones scored from all their rows
                INSERT INTO health_score.scoring_state AS s (account_id, state)
                SELECT f.account_id, health_score.metric_values_roll(NULL, $1, f.state, NULL, $5)
                  FROM fresh f
                 WHERE f.account_id <> ALL ($7) AND f.account_id NOT IN (SELECT r.account_id FROM rolled r)
                 UNION ALL
                SELECT r.account_id, health_score.metric_values_roll(NULL, $1, r.state, NULL, $5) FROM redone r
                ON CONFLICT (account_id) DO UPDATE SET state = EXCLUDED.state
            )
            SELECT coalesce((SELECT sum(f.n) FROM fresh f WHERE f.account_id <> ALL ($7)), 0)
                   + coalesce((SELECT sum(r.n) FROM redone r), 0) $q$
            INTO rows_read USING as_of, info.as_of, cat.inputs, cat.half_lives, cat.max_ages, cat.aggregations, late;
    END IF;

    -- state_accounts: the states rebuilt, counted by the query that wrote them (Citus allows no
    -- subquery in an INSERT's VALUES)
    INSERT INTO health_score.scoring_state_info AS i
        (id, as_of, inputs, half_lives, max_ages, aggregations, extension_version, config_version, built_at,
         updated_at, last_mode, last_reason, last_rows_read, last_accounts_rescored)
    VALUES (true, as_of, cat.inputs, cat.half_lives, cat.max_ages, cat.aggregations,
            (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'health_score'), health_score.config_version(),
            CASE WHEN why IS NULL THEN info.built_at ELSE now() END, now(),
            CASE WHEN why IS NULL THEN 'rolled' ELSE 'rebuilt' END, why, rows_read,
            coalesce(cardinality(late), state_accounts))
    ON CONFLICT (id) DO UPDATE
       SET as_of = EXCLUDED.as_of, inputs = EXCLUDED.inputs, half_lives = EXCLUDED.half_lives,
           max_ages = EXCLUDED.max_ages, aggregations = EXCLUDED.aggregations,
           extension_version = EXCLUDED.extension_version, config_version = EXCLUDED.config_version,
           built_at = EXCLUDED.built_at, updated_at = EXCLUDED.updated_at, last_mode = EXCLUDED.last_mode,
           last_reason = EXCLUDED.last_reason, last_rows_read = EXCLUDED.last_rows_read,
           last_accounts_rescored = EXCLUDED.last_accounts_rescored;

    -- Every account's raw values at as_of: its state, with the decayed metrics with a max_age
    -- from the rows within it, merged with its feeds' rows (read whole).
    IF to_regclass('pg_temp.rolled_values') IS NULL THEN
        CREATE TEMP TABLE rolled_values (account_id text, raw_values float8[], bad boolean) ON COMMIT DROP;
    END IF;
    TRUNCATE pg_temp.rolled_values;
    EXECUTE format($q$
        INSERT INTO pg_temp.rolled_values (account_id, raw_values, bad)
        SELECT account_id,
               health_score.metric_values_final(health_score.metric_values_combine(
                   health_score.metric_values_roll(s.state, $1, NULL, w.state, $5), coalesce(f.state, '{}'))),
               coalesce(f.bad, false)
          FROM health_score.scoring_state s
          FULL JOIN (%s) w USING (account_id)
          FULL JOIN (%s) f USING (account_id) $q$,
        CASE WHEN cardinality(cat.windowed_inputs) = 0 THEN 'SELECT NULL::text AS account_id, NULL::float8[] AS state WHERE false'
             ELSE $w$
                SELECT o.account_id, health_score.metric_values_state(o.value, o.observed_at, $1, o.metric, $2, $3, $5, $4) AS state
                  FROM health_score.observations o
                 WHERE o.metric = ANY ($6) AND o.observed_at > $1 - make_interval(secs => $7) AND o.observed_at <= $1
                 GROUP BY o.account_id $w$ END,
        CASE WHEN health_score.feeds_sql() IS NULL THEN 'SELECT NULL::text AS account_id, NULL::float8[] AS state, NULL::boolean AS bad WHERE false'
             ELSE format($f$
                SELECT o.account_id,
                       health_score.metric_values_state(o.value, o.observed_at, $1, o.metric, $2, $3, $5, $4)
                           FILTER (WHERE NOT o.bad) AS state,
                       bool_or(o.bad) AS bad
                  FROM (%s) o
                 WHERE o.observed_at <= $1
                 GROUP BY o.account_id $f$, health_score.feeds_sql()) END)
        USING as_of, cat.inputs, cat.half_lives, cat.aggregations, cat.max_ages, cat.windowed_inputs, cat.window_seconds;
    ANALYZE pg_temp.rolled_values;
END
$$;

COMMENT ON FUNCTION health_score.roll_state(timestamptz, boolean) IS
'Brings scoring_state to as_of: rolled forward from the rows observed since its as_of and the rows of the accounts with late changes (observation_changes), or rebuilt from every row (full_rescore, no state, an earlier as_of, the metrics changed, a TRUNCATE); then fills the temporary table rolled_values with every account''s raw values at as_of. Called by rolled_metric_scores.';

-- rolled_metric_scores(as_of, full_rescore): metric_scores(as_of) through the scoring state, which it
-- rolls forward (or, with full_rescore, rebuilds). A caller that row-level security narrows, or that
-- may not write the state, gets metric_scores(as_of) and leaves the state alone; so does a
-- REPEATABLE READ transaction that finds the state changed since it began.
CREATE FUNCTION health_score.rolled_metric_scores(as_of timestamptz, full_rescore boolean DEFAULT false)
RETURNS TABLE (account_id text, metric text, dimension text, raw_value float8, sub_score float8,
               effective_weight float8, contribution float8, coverage_share float8)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
SET work_mem = '64MB'
AS $$
DECLARE
    rolled boolean := true;
BEGIN
    PERFORM health_score.check_as_of(as_of);
    IF full_rescore IS NULL THEN
        RAISE EXCEPTION 'full_rescore must be true or false, got NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- has_table_privilege(t, 'A, B') is true with either: each privilege is asked alone
    IF (row_security_active('health_score.observations') AND NOT health_score.sees_every_account())
       OR EXISTS (SELECT FROM (VALUES ('health_score.scoring_state', 'SELECT'), ('health_score.scoring_state', 'INSERT'),
                                      ('health_score.scoring_state', 'UPDATE'), ('health_score.scoring_state', 'DELETE'),
                                      ('health_score.scoring_state_info', 'SELECT'), ('health_score.scoring_state_info', 'INSERT'),
                                      ('health_score.scoring_state_info', 'UPDATE'), ('health_score.observation_changes', 'DELETE'),
                                      ('health_score.observation_changes', 'SELECT')) AS p(tab, priv)
                   WHERE NOT has_table_privilege(p.tab, p.priv)) THEN
        rolled := false;
    ELSE
        BEGIN
            PERFORM health_score.roll_state(as_of, full_rescore);
        EXCEPTION WHEN serialization_failure THEN
            rolled := false;
        END;
    END IF;
    IF rolled THEN
        RETURN QUERY EXECUTE format(
            'SELECT account_id, metric, dimension, raw_value, sub_score, effective_weight, contribution, coverage_share FROM (%s) s',
            health_score.metric_rows_sql('SELECT account_id, raw_values, bad FROM pg_temp.rolled_values'))
            USING as_of;
    ELSE
        RETURN QUERY SELECT * FROM health_score.metric_scores(as_of);
    END IF;
END
$$;

COMMENT ON FUNCTION health_score.rolled_metric_scores(timestamptz, boolean) IS
'metric_scores(as_of) computed through the scoring state (scoring_state), which it rolls forward to as_of, reading only the rows observed since the state''s as_of, the rows of accounts with late changes, the rows within the max_age of the decayed metrics that have one, and the feeds; with full_rescore, or when the state cannot roll (see roll_state), it rebuilds the state from every row. Equal to metric_scores(as_of) up to the rounding of the sums. snapshot() uses it.';
