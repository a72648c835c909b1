-- Cron schedules are checked whole (check_cron): pg_cron stores a schedule with trailing garbage
-- ('0 3 * * * x', '@daily x'), so schedule_refresh refuses those itself, with 22023.
BEGIN;
SELECT plan(9);

CREATE FUNCTION pg_temp.accepted(schedules text[]) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    c text;
    accepted text[] := '{}';
BEGIN
    FOREACH c IN ARRAY schedules LOOP
        BEGIN
            PERFORM health_score.check_cron(c);
            accepted := accepted || c;
        EXCEPTION WHEN invalid_parameter_value THEN
            NULL;
        END;
    END LOOP;
    RETURN accepted;
END
$$;

SELECT is(pg_temp.accepted(ARRAY['0 3 * * *', ' 30  2 * * 1 ', '*/15 * * * *', '0,30 8-18 * * mon-fri', '0 3 1 jan,jul *',
                                 '0 3 * jan-jun/2 SUN', '1-5/2 * * * 7', '0 0 $ * *', '@daily', '@hourly', '@weekly',
                                 '@monthly', '@yearly', '@annually', '@midnight', '@reboot', '30 seconds', '1 second']),
          ARRAY['0 3 * * *', ' 30  2 * * 1 ', '*/15 * * * *', '0,30 8-18 * * mon-fri', '0 3 1 jan,jul *',
                '0 3 * jan-jun/2 SUN', '1-5/2 * * * 7', '0 0 $ * *', '@daily', '@hourly', '@weekly',
                '@monthly', '@yearly', '@annually', '@midnight', '@reboot', '30 seconds', '1 second'],
          'five fields, the macros and ''N seconds'' are accepted');
SELECT is(pg_temp.accepted(ARRAY['0 3 * * * garbage', '0 3 * * *;', '0 3 * * * *', '@daily x', '@daily; DROP TABLE x',
                                 '0 3 * *', '60 3 * * *', '0 24 * * *', '0 3 0 * *', '0 3 32 * *', '0 3 * 13 *',
                                 '0 3 * * 8', '5-2 * * * *', '*/0 * * * *', '0 3 ? * *', '0 3 L * *', '0 3 * mon *',
                                 '0 3 * * mon-xyz', '0 3 * * 1,,2', '99999999999 * * * *', '60 seconds', 'every day']),
          '{}'::text[],
          'trailing garbage, missing or extra fields, values out of range and unknown items are refused');
SELECT throws_ok($$SELECT health_score.check_cron('0 3 * * * garbage')$$, '22023',
                 'cron must be a valid cron schedule, got ''0 3 * * * garbage''', 'the error names the schedule');
SELECT throws_ok($$SELECT health_score.check_cron(NULL)$$, '22023',
                 'cron must be a schedule such as ''0 3 * * *''', 'NULL is refused');

-- schedule_refresh checks before it asks for pg_cron, and pg_cron never sees a refused schedule.
SELECT throws_ok($$SELECT health_score.schedule_refresh('0 3 * * * garbage')$$, '22023', NULL,
                 'schedule_refresh refuses trailing garbage, pg_cron or not');
CREATE EXTENSION pg_cron;
SELECT throws_ok($$SELECT health_score.schedule_refresh('0 3 * * * garbage')$$, '22023',
                 'cron must be a valid cron schedule, got ''0 3 * * * garbage''', 'with pg_cron too');
SELECT throws_ok($$SELECT health_score.schedule_refresh('@daily x')$$, '22023', NULL, 'a macro with garbage');
SELECT is((SELECT count(*) FROM cron.job), 0::bigint, 'no job was stored');
SELECT isnt(health_score.schedule_refresh('0 3 * * 1-5'), NULL::bigint, 'a valid schedule is scheduled');

SELECT * FROM finish();
ROLLBACK;
