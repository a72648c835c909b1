-- health_score install script, part 2: the catalog (the user's configuration).

-- Action bands ------------------------------------------------------------------------------

CREATE TABLE health_score.bands (
    band        text PRIMARY KEY,
    min_score   float8 NOT NULL,
    max_score   float8 NOT NULL,
    focus       text NOT NULL,
    cadence     text NOT NULL,
    playbook    text NOT NULL,
    CHECK (min_score >= 0 AND max_score <= 100 AND min_score < max_score)
);

COMMENT ON TABLE health_score.bands IS
'Action bands: each owns the scores from min_score (inclusive) to max_score (exclusive; the band ending at 100 owns 100 too). Together they must cover 0-100 without gap or overlap.';
COMMENT ON COLUMN health_score.bands.band IS 'Band name, e.g. green.';
COMMENT ON COLUMN health_score.bands.min_score IS 'Lowest score of the band, inclusive.';
COMMENT ON COLUMN health_score.bands.max_score IS 'Upper end of the band, exclusive (inclusive when it is 100).';
COMMENT ON COLUMN health_score.bands.focus IS 'What the customer-success team aims at in this band.';
COMMENT ON COLUMN health_score.bands.cadence IS 'How often the account owner touches base.';
COMMENT ON COLUMN health_score.bands.playbook IS 'The actions to take for accounts in this band.';

INSERT INTO health_score.bands (band, min_score, max_score, focus, cadence, playbook) VALUES
 ('green', 80, 100, 'expansion', 'monthly check-in',
  'quarterly business review; look for expansion opportunities; ask for case studies and references'),
 ('yellow', 60, 80, 'stabilise', 'check-in every two weeks',
  'optimise adoption; develop an executive sponsor; enable integrations'),
 ('orange', 40, 60, 'intervene', 'weekly touchpoint',
  'align with executives; review business value; optimise product use; consider pricing flexibility'),
 ('red', 0, 40, 'executive escalation', 'immediate',
  'escalate to management now; engage the sponsor; assess the full account; prepare a win-back offer');

-- Alert tiers -------------------------------------------------------------------------------

CREATE TABLE health_score.alert_tiers (
    tier            text PRIMARY KEY,
    min_score       float8 NOT NULL,
    max_score       float8 NOT NULL,
    respond_within  interval,
    responder       text NOT NULL,
    CHECK (min_score >= 0 AND max_score <= 100 AND min_score < max_score),
    CHECK (respond_within IS NULL OR respond_within > interval '0')
);

COMMENT ON TABLE health_score.alert_tiers IS
'Alert tiers: who acts and how fast. Each owns the scores from min_score (inclusive) to max_score (exclusive; the tier ending at 100 owns 100 too); together they cover 0-100.';
COMMENT ON COLUMN health_score.alert_tiers.tier IS 'Tier name, e.g. critical.';
COMMENT ON COLUMN health_score.alert_tiers.min_score IS 'Lowest score of the tier, inclusive.';
COMMENT ON COLUMN health_score.alert_tiers.max_score IS 'Upper end of the tier, exclusive (inclusive when it is 100).';
COMMENT ON COLUMN health_score.alert_tiers.respond_within IS 'How soon someone must act; zero-length not allowed, NULL for the standard cadence.';
COMMENT ON COLUMN health_score.alert_tiers.responder IS 'Who acts.';

INSERT INTO health_score.alert_tiers (tier, min_score, max_score, respond_within, responder) VALUES
 ('healthy', 75, 100, NULL, 'account owner, standard cadence'),
 ('warning', 60, 75, interval '7 days', 'account owner, proactive outreach'),
 ('at_risk', 40, 60, interval '48 hours', 'customer success manager'),
 ('critical', 0, 40, interval '1 minute', 'management escalation');

-- Score to band / tier ------------------------------------------------------------------------

CREATE FUNCTION health_score.band(score float8)
RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result text;
BEGIN
    IF score = 'NaN' OR score < 0 OR score > 100 THEN
        RAISE EXCEPTION 'score must be within 0 and 100, got %', score
            USING ERRCODE = 'numeric_value_out_of_range';
    END IF;
    SELECT b.band INTO result
      FROM health_score.bands b
     WHERE score >= b.min_score AND (score < b.max_score OR (score = 100 AND b.max_score = 100));
    RETURN result;
END
$$;

COMMENT ON FUNCTION health_score.band(float8) IS
'The action band (health_score.bands) that owns a score 0-100; NULL in, NULL out.';

CREATE FUNCTION health_score.alert_tier(score float8)
RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result text;
BEGIN
    IF score = 'NaN' OR score < 0 OR score > 100 THEN
        RAISE EXCEPTION 'score must be within 0 and 100, got %', score
            USING ERRCODE = 'numeric_value_out_of_range';
    END IF;
    SELECT t.tier INTO result
      FROM health_score.alert_tiers t
     WHERE score >= t.min_score AND (score < t.max_score OR (score = 100 AND t.max_score = 100));
    RETURN result;
END
$$;

COMMENT ON FUNCTION health_score.alert_tier(float8) IS
'The alert tier (health_score.alert_tiers) that owns a score 0-100; NULL in, NULL out.';

SELECT pg_catalog.pg_extension_config_dump('health_score.bands', '');
SELECT pg_catalog.pg_extension_config_dump('health_score.alert_tiers', '');
