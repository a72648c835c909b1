-- Segment weights for a segment no account has: a warning when they are written (segments match
-- exactly, case-sensitive), none before any account is loaded.
BEGIN;
DELETE FROM health_score.accounts;   -- whatever the tests before left
-- no account yet: configuring first is fine
INSERT INTO health_score.segment_metric_weights (segment, metric, weight) VALUES ('mid_market', 'nps', 3);
INSERT INTO health_score.accounts (account_id, segment) VALUES ('s1', 'Enterprise'), ('s2', 'smb'), ('s3', 'mid_market');
-- a segment no account has: warned, with the seeded "enterprise" the accounts spell "Enterprise"
INSERT INTO health_score.segment_dimension_weights (segment, dimension, weight) VALUES ('Mid Market', 'product', 20);
-- changing a weight alone does not warn again; renaming a segment does
UPDATE health_score.segment_dimension_weights SET weight = 35 WHERE segment = 'smb' AND dimension = 'product';
-- the daily refresh and a backfill warn, once a run, for accounts left on the default weights
-- by a spelling of their segment (s1's "Enterprise"), not for weights no account takes
DELETE FROM health_score.feeds;   -- whatever feeds the tests before left
SET LOCAL client_min_messages = warning;
SELECT health_score.refresh() >= 0 AS refreshed;
SELECT count(*) FROM health_score.backfill(current_date - 2, current_date - 1);
RESET client_min_messages;
UPDATE health_score.segment_dimension_weights SET segment = 'Enterprise' WHERE segment = 'enterprise';
SELECT * FROM health_score.check_segments();
ROLLBACK;
