-- test/lib/book.sql: a configuration changed in every way a user would, for the tests that
-- check it survives (pg_dump, upgrades): a seeded metric reweighted and re-curved, a new
-- dimension and metric fed from the user's own view, seeded metrics and a seeded segment
-- weight deleted (tombstones), segment weights changed and a segment added, bands and alert
-- tiers re-partitioned, min_coverage raised; then forum posts by the accounts already loaded.
\set ON_ERROR_STOP on
-- a seeded metric: new weight and a banded curve
UPDATE health_score.metrics SET weight = 5, curve = 'banded' WHERE name = 'nps';
-- a new dimension with a new metric, fed from the user's own view
INSERT INTO health_score.dimensions (name, weight, description) VALUES ('community', 10, 'Forum activity.');
INSERT INTO health_score.metrics (name, dimension, weight, input, aggregation, half_life, curve,
                                  breakpoints, scores, direction, description)
VALUES ('forum_posts', 'community', 1, 'forum_post', 'decayed_sum', '14 days', 'linear',
        '{0,1,4}', '{30,70,100}', 'higher', 'Posts in the community forum.');
-- a seeded metric removed (and, by cascade, its seeded segment weights)
DELETE FROM health_score.metrics WHERE name = 'csat';
DELETE FROM health_score.metrics WHERE name = 'qbr_participation';
-- segment profiles: one weight changed, one seeded weight removed, a new segment
UPDATE health_score.segment_dimension_weights SET weight = 45 WHERE segment = 'enterprise' AND dimension = 'relationship';
DELETE FROM health_score.segment_metric_weights WHERE segment = 'smb' AND metric = 'login_frequency';
INSERT INTO health_score.segment_dimension_weights (segment, dimension, weight) VALUES
    ('mid_market', 'product', 35), ('mid_market', 'relationship', 35), ('mid_market', 'business', 20),
    ('mid_market', 'community', 10);
INSERT INTO health_score.segment_metric_weights (segment, metric, weight) VALUES ('mid_market', 'seat_penetration', 5);
-- bands and alert tiers re-partitioned (checked at commit)
BEGIN;
UPDATE health_score.bands SET min_score = 75 WHERE band = 'green';
UPDATE health_score.bands SET max_score = 75 WHERE band = 'yellow';
UPDATE health_score.alert_tiers SET min_score = 80 WHERE tier = 'healthy';
UPDATE health_score.alert_tiers SET max_score = 80 WHERE tier = 'warning';
COMMIT;
UPDATE health_score.settings SET min_coverage = 0.6;
-- the user's table and view, read as a feed
CREATE SCHEMA forum;
CREATE TABLE forum.posts (post_id int PRIMARY KEY, author_account text NOT NULL, posted_at timestamptz NOT NULL);
CREATE VIEW forum.health_feed AS
    SELECT author_account AS account_id, 'forum_post'::text AS metric, posted_at AS observed_at, 1::float8 AS value
      FROM forum.posts;
INSERT INTO health_score.feeds (name, relation, description) VALUES ('forum', 'forum.health_feed', 'Forum posts.');
INSERT INTO forum.posts (post_id, author_account, posted_at)
SELECT a.k * 10000 + i, a.account_id, timestamptz '2025-12-31 00:00+00' - (i % 97) * interval '1 day 3 hours'
  FROM (SELECT account_id, row_number() OVER (ORDER BY account_id) AS k FROM health_score.accounts) a
  JOIN generate_series(1, 2000) i ON i % 40 = a.k % 40 AND a.k % 3 <> 0;
ANALYZE;
