-- schedule_refresh() and unschedule_refresh() against the real pg_cron that the test cluster
-- preloads (cron.database_name is this database).
BEGIN;
SELECT plan(12);

-- Without the extension: a clear error naming the package.
SELECT throws_ok($$SELECT health_score.schedule_refresh()$$, '0A000',
                 format('schedule_refresh needs the pg_cron extension (package postgresql-%s-cron) in this database',
                        current_setting('server_version_num')::int / 10000),
                 'without pg_cron: an error naming the Debian package');
SELECT is(health_score.unschedule_refresh(), false, 'unschedule without pg_cron: nothing to remove');

CREATE EXTENSION pg_cron;

SELECT isnt(health_score.schedule_refresh(), NULL::bigint, 'schedule_refresh() returns the job id');
SELECT results_eq(
    $$SELECT jobname::text COLLATE "default", schedule, command, database, username, active FROM cron.job$$,
    $$VALUES ('health_score_refresh', '0 3 * * *', 'SELECT health_score.refresh()',
              current_database()::text COLLATE "default", current_user::text COLLATE "default", true)$$,
    'one job, daily at 03:00, running health_score.refresh() in this database');
SELECT is(health_score.schedule_refresh('30 2 * * 1'),
          (SELECT jobid FROM cron.job WHERE jobname = 'health_score_refresh'),
          'scheduling again keeps the same job');
SELECT results_eq($$SELECT count(*), min(schedule::text) FROM cron.job$$,
                  $$VALUES (1::bigint, '30 2 * * 1'::text)$$,
                  'and replaces its schedule');
SELECT throws_ok($$SELECT health_score.schedule_refresh('every day')$$, '22023',
                 'cron must be a valid cron schedule, got ''every day''', 'an invalid schedule is refused');
SELECT throws_ok($$SELECT health_score.schedule_refresh('')$$, '22023', NULL, 'an empty schedule is refused');
SELECT is((SELECT schedule FROM cron.job WHERE jobname = 'health_score_refresh'), '30 2 * * 1',
          'a refused schedule leaves the job as it was');
SELECT is(health_score.unschedule_refresh(), true, 'unschedule_refresh() removes the job');
SELECT is((SELECT count(*) FROM cron.job), 0::bigint, 'no job left');
SELECT is(health_score.unschedule_refresh(), false, 'unscheduling again: nothing to remove');

SELECT * FROM finish();
ROLLBACK;
