-- Segments are matched exactly: an account whose segment differs from the segment weights' only
-- in case takes the default weights, as an account without a segment does; check_segments()
-- names such near misses (the warnings on writing the weights are in sql/segments.sql).
BEGIN;
SELECT plan(7);
\ir ../lib/helpers.sql

-- Five accounts with the same observations: a weak product, a strong relationship, so that
-- the dimension weights move the score.
INSERT INTO health_score.accounts (account_id, segment, started_on) VALUES
    ('seg-1', 'Enterprise', '2025-01-01'), ('seg-2', 'Enterprise', '2025-01-01'),
    ('seg-3', 'smb', '2025-01-01'), ('seg-4', NULL, '2025-01-01'), ('seg-5', 'mid_market', '2025-01-01');
INSERT INTO health_score.observations (account_id, metric, observed_at, value)
SELECT a, m, timestamptz '2025-05-01', v
  FROM unnest(ARRAY['seg-1', 'seg-2', 'seg-3', 'seg-4', 'seg-5']) a,
       (VALUES ('feature_adoption', 2), ('seat_penetration', 30), ('nps', 9), ('executive_sponsor', 3),
               ('qbr_participation', 1), ('outcome_achievement', 70)) o(m, v);
CREATE TEMP TABLE s AS SELECT account_id, score FROM health_score.account_scores('2025-06-01') WHERE account_id LIKE 'seg-%';

SELECT is((SELECT score FROM s WHERE account_id = 'seg-1'), (SELECT score FROM s WHERE account_id = 'seg-4'),
          '"Enterprise" is not "enterprise": its accounts score as an account without a segment');
SELECT isnt((SELECT score FROM s WHERE account_id = 'seg-3'), (SELECT score FROM s WHERE account_id = 'seg-4'),
            'while "smb" takes the weights of "smb"');
UPDATE health_score.accounts SET segment = 'enterprise' WHERE account_id = 'seg-2';
SELECT isnt((SELECT score FROM health_score.account_scores('2025-06-01') WHERE account_id = 'seg-2'),
            (SELECT score FROM s WHERE account_id = 'seg-4'),
            'spelt "enterprise", the same account takes the weights of "enterprise"');
UPDATE health_score.accounts SET segment = 'Enterprise' WHERE account_id = 'seg-2';

CREATE TEMP TABLE c AS SELECT * FROM health_score.check_segments();
SELECT is((SELECT array_agg(segment || ' ' || accounts || ' ' || dimension_weights || ' ' || metric_weights ORDER BY segment COLLATE "C") FROM c),
          ARRAY['Enterprise 2 0 0', 'enterprise 0 3 2', 'mid_market 1 0 0', 'smb 1 3 1'],
          'check_segments: every segment of the accounts and the weights, with their accounts and weights');
SELECT is((SELECT note FROM c WHERE segment = 'enterprise'),
          'no account has this segment, so its weights apply to none; the accounts of "Enterprise" differ from it only in case or spaces (segments match exactly)',
          'weights no account takes are named, with the near miss');
SELECT is((SELECT note FROM c WHERE segment = 'Enterprise'),
          'no segment weights: its accounts take the default weights; those of "enterprise" differ from it only in case or spaces (segments match exactly)',
          'and so are the accounts that miss them');
SELECT is((SELECT array_agg(segment) FROM c WHERE note IS NULL), ARRAY['mid_market', 'smb'],
          'a segment with both, or with accounts and no near miss, has no note');

SELECT * FROM finish();
ROLLBACK;
