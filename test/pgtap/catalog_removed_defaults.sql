-- removed_defaults: a tombstone names exactly one seeded row by its whole key, and deletes that
-- row only. The key {} (contained in every row) once deleted every seeded row of its catalog.
BEGIN;
SELECT plan(13);

CREATE TEMP TABLE seeded AS
SELECT 'metrics' AS catalog, count(*) AS n FROM health_score.metrics WHERE is_default
UNION ALL SELECT 'segment_dimension_weights', count(*) FROM health_score.segment_dimension_weights WHERE is_default
UNION ALL SELECT 'bands', count(*) FROM health_score.bands WHERE is_default;
CREATE FUNCTION pg_temp.seeded(catalog text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM health_score.%I WHERE is_default', catalog) INTO n;
    RETURN n;
END $$;

SELECT throws_ok($$INSERT INTO health_score.removed_defaults (catalog, key) VALUES ('metrics', '{}')$$, '23514',
                 'removed_defaults: the key of a metrics row must give exactly name, each a value, got {}',
                 'the key {} is refused');
SELECT is(pg_temp.seeded('metrics'), (SELECT n FROM seeded WHERE catalog = 'metrics'), 'no seeded metric is gone');
SELECT throws_ok($$INSERT INTO health_score.removed_defaults (catalog, key) VALUES ('segment_dimension_weights', '{"segment": "smb"}')$$,
                 '23514', NULL, 'part of a key is refused');
SELECT is(pg_temp.seeded('segment_dimension_weights'), (SELECT n FROM seeded WHERE catalog = 'segment_dimension_weights'),
          'no seeded segment weight is gone');
SELECT throws_ok($$INSERT INTO health_score.removed_defaults (catalog, key) VALUES ('bands', '{"band": "red", "is_default": true}')$$,
                 '23514', NULL, 'a column besides the key is refused');
SELECT throws_ok($$INSERT INTO health_score.removed_defaults (catalog, key) VALUES ('bands', '{"band": ["red"]}')$$,
                 '23514', NULL, 'a key value that is not a value is refused');
SELECT throws_ok($$INSERT INTO health_score.removed_defaults (catalog, key) VALUES ('bands', '["red"]')$$,
                 '23514', NULL, 'a key that is not an object is refused');
SELECT throws_ok($$INSERT INTO health_score.removed_defaults (catalog, key) VALUES ('accounts', '{"account_id": "a"}')$$,
                 '23514', NULL, 'a table that is not a seeded catalog is refused');
SELECT is(pg_temp.seeded('bands'), (SELECT n FROM seeded WHERE catalog = 'bands'), 'no seeded band is gone');

-- A whole key deletes that row and no other.
INSERT INTO health_score.removed_defaults (catalog, key) VALUES ('segment_dimension_weights', '{"segment": "smb", "dimension": "product"}');
SELECT is(pg_temp.seeded('segment_dimension_weights'), (SELECT n - 1 FROM seeded WHERE catalog = 'segment_dimension_weights'),
          'a whole key deletes exactly one row');
SELECT ok(NOT EXISTS (SELECT 1 FROM health_score.segment_dimension_weights WHERE segment = 'smb' AND dimension = 'product'),
          'the row it names');

-- Deleting a seeded row still leaves a tombstone that passes the check.
DELETE FROM health_score.bands WHERE band = 'green';
SELECT is((SELECT key FROM health_score.removed_defaults WHERE catalog = 'bands'), '{"band": "green"}'::jsonb,
          'a deleted seeded row leaves its tombstone');

-- catalog_keys is the primary key of each catalog table.
SELECT is((SELECT string_agg(c.relname, ' ') FROM pg_class c JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
            WHERE c.relnamespace = 'health_score'::regnamespace AND c.relname <> 'removed_defaults'
              AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'is_default')
              AND health_score.catalog_keys(c.relname) IS DISTINCT FROM
                  ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY u(n, o)
                          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = u.n ORDER BY u.o)),
          NULL, 'catalog_keys gives the primary key of every catalog table with seeded rows');

SELECT * FROM finish();
ROLLBACK;
