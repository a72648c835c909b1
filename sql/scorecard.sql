-- The scorecard catalog: its defaults, and every kind of bad configuration refused.

-- The seeded defaults.
SELECT name, weight FROM health_score.dimensions ORDER BY weight DESC, name;
SELECT dimension, count(*) AS metrics, sum(weight) AS total_weight
  FROM health_score.metrics GROUP BY dimension ORDER BY dimension;
SELECT name, input, aggregation, half_life, curve, direction FROM health_score.metrics ORDER BY dimension, name;
SELECT band, min_score, max_score, needs_action FROM health_score.bands ORDER BY min_score DESC;
SELECT tier, min_score, max_score, respond_within FROM health_score.alert_tiers ORDER BY min_score DESC;
SELECT * FROM health_score.segment_dimension_weights ORDER BY 1, 2;
SELECT min_coverage FROM health_score.settings;
SELECT health_score.config_version();

-- Weights must be positive and finite.
SELECT error_of($$UPDATE health_score.dimensions SET weight = 0 WHERE name = 'product'$$);
SELECT error_of($$UPDATE health_score.dimensions SET weight = -5 WHERE name = 'product'$$);
SELECT error_of($$UPDATE health_score.metrics SET weight = 0 WHERE name = 'nps'$$);
SELECT error_of($$UPDATE health_score.metrics SET weight = 'Infinity' WHERE name = 'nps'$$);
SELECT error_of($$UPDATE health_score.metrics SET weight = 'NaN' WHERE name = 'nps'$$);
SELECT error_of($$INSERT INTO health_score.segment_dimension_weights VALUES ('smb', 'business', -1)$$);
SELECT error_of($$INSERT INTO health_score.segment_metric_weights VALUES ('smb', 'nps', 0)$$);

-- A metric must name a known dimension, aggregation, curve shape and direction.
SELECT error_of($$INSERT INTO health_score.metrics (name, dimension, weight, input, breakpoints, scores, direction)
                  VALUES ('m', 'marketing', 1, 'm', '{0,1}', '{0,100}', 'higher')$$);
SELECT error_of($$UPDATE health_score.metrics SET aggregation = 'median' WHERE name = 'nps'$$);
SELECT error_of($$UPDATE health_score.metrics SET half_life = '0 days' WHERE name = 'nps'$$);
SELECT error_of($$UPDATE health_score.metrics SET half_life = '-3 days' WHERE name = 'nps'$$);
SELECT error_of($$UPDATE health_score.metrics SET max_age = '0 days' WHERE name = 'nps'$$);
SELECT error_of($$UPDATE health_score.metrics SET curve = 'cubic' WHERE name = 'nps'$$);
SELECT error_of($$UPDATE health_score.metrics SET direction = 'up' WHERE name = 'nps'$$);

-- Invalid curves, named by metric.
SELECT error_of($$UPDATE health_score.metrics SET breakpoints = '{0,8,6,10}' WHERE name = 'nps'$$);
SELECT error_of($$UPDATE health_score.metrics SET breakpoints = '{0,6,6,10}' WHERE name = 'nps'$$);
SELECT error_of($$UPDATE health_score.metrics SET scores = '{0,40,75,120}' WHERE name = 'nps'$$);
SELECT error_of($$UPDATE health_score.metrics SET scores = '{0,40,75}' WHERE name = 'nps'$$);
SELECT error_of($$UPDATE health_score.metrics SET scores = '{0,40,NULL,100}' WHERE name = 'nps'$$);
SELECT error_of($$UPDATE health_score.metrics SET breakpoints = '{}', scores = '{}' WHERE name = 'nps'$$);
SELECT error_of($$UPDATE health_score.metrics SET breakpoints = '{0,6,8,NaN}' WHERE name = 'nps'$$);
SELECT error_of($$UPDATE health_score.metrics SET scores = '{100,75,40,0}' WHERE name = 'nps'$$);
SELECT error_of($$UPDATE health_score.metrics SET scores = '{0,40,75,100}' WHERE name = 'response_time'$$);
-- A curve that peaks in the middle is fine when it says so.
UPDATE health_score.metrics SET scores = '{0,100,60,20}', direction = 'target' WHERE name = 'nps';

-- Bands and alert tiers must cover 0-100 without gap or overlap; checked at commit, so a
-- boundary can move in several statements.
BEGIN;
UPDATE health_score.bands SET min_score = 75 WHERE band = 'green';
UPDATE health_score.bands SET max_score = 75 WHERE band = 'yellow';
COMMIT;
SELECT band, min_score, max_score FROM health_score.bands ORDER BY min_score DESC;
SELECT health_score.band(77);
BEGIN;
UPDATE health_score.bands SET min_score = 70 WHERE band = 'green';
SELECT error_of('SET CONSTRAINTS ALL IMMEDIATE');
ROLLBACK;
BEGIN;
UPDATE health_score.bands SET min_score = 85 WHERE band = 'green';
SELECT error_of('SET CONSTRAINTS ALL IMMEDIATE');
ROLLBACK;
BEGIN;
DELETE FROM health_score.bands WHERE band = 'red';
SELECT error_of('SET CONSTRAINTS ALL IMMEDIATE');
ROLLBACK;
BEGIN;
UPDATE health_score.bands SET max_score = 110 WHERE band = 'green';
SELECT error_of('SET CONSTRAINTS ALL IMMEDIATE');
ROLLBACK;
BEGIN;
UPDATE health_score.alert_tiers SET max_score = 50 WHERE tier = 'at_risk';
SELECT error_of('SET CONSTRAINTS ALL IMMEDIATE');
ROLLBACK;
-- Nothing half-written: a refused commit leaves the bands as they were.
UPDATE health_score.bands SET min_score = 90 WHERE band = 'green';
SELECT band, min_score, max_score FROM health_score.bands ORDER BY min_score DESC;

-- Settings.
SELECT error_of($$UPDATE health_score.settings SET min_coverage = 1.5$$);
SELECT error_of($$UPDATE health_score.settings SET min_coverage = -0.1$$);
SELECT error_of($$INSERT INTO health_score.settings (id) VALUES (false)$$);

-- Feeds must name an existing relation with the observation columns.
SELECT error_of($$INSERT INTO health_score.feeds (name, relation) VALUES ('crm', 'no_such_view')$$);
CREATE TABLE crm_events (customer text, metric text, observed_at timestamptz, value float8);
CREATE TABLE crm_dates (account_id text, metric text, observed_at point, value float8);
SELECT error_of($q$INSERT INTO health_score.feeds (name, relation) VALUES ('crm', 'crm_dates')$q$);
SELECT error_of($$INSERT INTO health_score.feeds (name, relation) VALUES ('crm', 'crm_events')$$);
CREATE VIEW crm_feed AS SELECT customer AS account_id, metric, observed_at, value FROM crm_events;
INSERT INTO health_score.feeds (name, relation) VALUES ('crm', 'crm_feed');
SELECT name, relation FROM health_score.feeds;

-- Scoring refuses an unknown point in time.
SELECT error_of($$SELECT * FROM health_score.account_scores(NULL)$$);
SELECT error_of($$SELECT * FROM health_score.metric_scores('infinity')$$);

-- Seeded rows and the user's rows: a user row with a seeded key replaces the seeded row;
-- deleting a seeded row leaves a tombstone for pg_dump.
SELECT name, weight, is_default FROM health_score.metrics WHERE name IN ('csat', 'roi') ORDER BY name;
INSERT INTO health_score.metrics (name, dimension, weight, input, breakpoints, scores, direction)
VALUES ('csat', 'relationship', 5, 'csat', '{1,5}', '{0,100}', 'higher');
UPDATE health_score.metrics SET weight = 3 WHERE name = 'roi';
SELECT name, weight, breakpoints, is_default FROM health_score.metrics WHERE name IN ('csat', 'roi') ORDER BY name;
DELETE FROM health_score.metrics WHERE name = 'champion_advocacy';
SELECT catalog, key FROM health_score.removed_defaults;
-- Every change moved the configuration version on.
SELECT health_score.config_version() > 5 AS version_moved;

DROP VIEW crm_feed;
DROP TABLE crm_events, crm_dates;
