-- Shared by the tests that follow: error_of(query) runs a statement and returns
-- 'SQLSTATE: message' instead of failing, so error cases read as one line each.
CREATE FUNCTION public.error_of(query text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE query;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT public.error_of('SELECT 1/0');
