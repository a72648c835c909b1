/*
 * feed.c: feed_rows, the one reader of a feed's relation.
 *
 * A feed is a view or table registered in health_score.feeds; scoring, snapshots and
 * check_feeds() read it as observations. It is read with its owner's rights, the way
 * PostgreSQL refreshes a materialized view: whoever scores (a superuser running the nightly
 * refresh, say) never runs the code of a less trusted role that owns the view. And since the
 * owner sees every account, the rows are narrowed to the caller's accounts when row-level
 * security restricts the caller, so a CSM sees no other owner's raw data.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "health_score.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#define FEED_BATCH_ROWS 1000

/* What the error context of a read names. */
typedef struct FeedRead
{
	const char *feed;
	const char *relation;
	Oid			owner;
} FeedRead;

static void
feed_read_context(void *arg)
{
	FeedRead   *read = (FeedRead *) arg;

	errcontext("reading feed \"%s\" (%s) as its owner %s",
			   read->feed, read->relation, GetUserNameFromId(read->owner, true));
}

/* The tuplestore a materialize-mode set-returning function fills, on PostgreSQL 13 to 17. */
static Tuplestorestate *
feed_result_store(FunctionCallInfo fcinfo, TupleDesc *tupdesc)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext oldcontext;
	Tuplestorestate *store;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("feed_rows must be called in a FROM clause")));
	if (get_call_result_type(fcinfo, NULL, tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "feed_rows: return type must be a row type");

	oldcontext = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	*tupdesc = CreateTupleDescCopy(*tupdesc);
	store = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(oldcontext);

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = *tupdesc;
	return store;
}

/* The feed's relation (42704 for an unknown feed) and the relation's owner, looked up as the caller. */
static Oid
feed_relation(text *feed, Oid *owner)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {PointerGetDatum(feed)};
	bool		isnull;
	Oid			relid;
	HeapTuple	classtup;

	if (SPI_execute_with_args("SELECT health_score.feed_relid(f.relation)::oid, f.relation "
							  "FROM health_score.feeds f WHERE f.name = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "feed_rows: SPI_execute_with_args failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("feed \"%s\" does not exist", text_to_cstring(feed)),
				 errhint("Feeds are the rows of health_score.feeds.")));
	relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("feed \"%s\": relation %s does not exist", text_to_cstring(feed),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2))));

	classtup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "feed_rows: cache lookup failed for relation %u", relid);
	*owner = ((Form_pg_class) GETSTRUCT(classtup))->relowner;
	ReleaseSysCache(classtup);
	return relid;
}

/*
 * The account ids the caller may see, or NULL when it sees every account: row-level security
 * is not in force for it, or it is a member of health_score_reader.
 */
static Datum
visible_accounts(bool *every_account)
{
	bool		isnull;

	if (SPI_execute("SELECT pg_catalog.row_security_active('health_score.accounts'::pg_catalog.regclass) "
					"AND NOT health_score.sees_every_account()", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "feed_rows: SPI_execute failed");
	*every_account = !DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (*every_account)
		return (Datum) 0;
	/* coalesce is a keyword, not a function: it cannot be schema-qualified */
	if (SPI_execute("SELECT coalesce(pg_catalog.array_agg(a.account_id), ARRAY[]::pg_catalog.text[]) "
					"FROM health_score.accounts a", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "feed_rows: SPI_execute failed");
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
}

/* The query reading the relation as observations; $1 as_of, $2 visible ids, $3 one account. */
static char *
feed_query(Oid relid, bool every_account, bool one_account)
{
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfo(&q,
					 "SELECT o.account_id::pg_catalog.text, o.metric::pg_catalog.text, "
					 "o.observed_at::pg_catalog.timestamptz, o.value::pg_catalog.float8 "
					 "FROM %s o WHERE o.observed_at::pg_catalog.timestamptz OPERATOR(pg_catalog.<=) $1",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												get_rel_name(relid)));
	if (!every_account)
		appendStringInfoString(&q, " AND o.account_id::pg_catalog.text IN (SELECT pg_catalog.unnest($2))");
	if (one_account)
		appendStringInfoString(&q, " AND o.account_id::pg_catalog.text OPERATOR(pg_catalog.=) $3");
	return q.data;
}

/* Runs the query in batches, copying the rows into store. */
static void
feed_read(const char *query, Datum *args, const char *nulls, Tuplestorestate *store, TupleDesc tupdesc)
{
	Oid			argtypes[3] = {TIMESTAMPTZOID, TEXTARRAYOID, TEXTOID};
	Portal		portal;
	Datum		values[4];
	bool		isnull[4];

	portal = SPI_cursor_open_with_args(NULL, query, 3, argtypes, args, nulls, true, 0);
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, FEED_BATCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, values, isnull);
			tuplestore_putvalues(store, tupdesc, values, isnull);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
}

PG_FUNCTION_INFO_V1(feed_rows);
Datum
feed_rows(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	text	   *feed;
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	bool		every_account;
	Oid			relid;
	Oid			owner;
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	FeedRead	read;
	ErrorContextCallback errcallback;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("feed must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of must not be NULL")));
	feed = PG_GETARG_TEXT_PP(0);
	args[0] = PG_GETARG_DATUM(1);
	args[2] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	if (PG_ARGISNULL(2))
		nulls[2] = 'n';

	store = feed_result_store(fcinfo, &tupdesc);

	/* Every query below resolves names in pg_catalog first, whoever calls. */
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "feed_rows: SPI_connect failed");

	/* As the caller: which relation, and which accounts it may see. */
	relid = feed_relation(feed, &owner);
	args[1] = visible_accounts(&every_account);
	if (every_account)
		nulls[1] = 'n';

	/* As the relation's owner, in a restricted operation, for the read itself. */
	read.feed = text_to_cstring(feed);
	read.relation = get_rel_name(relid);
	read.owner = owner;
	errcallback.callback = feed_read_context;
	errcallback.arg = &read;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	feed_read(feed_query(relid, every_account, !PG_ARGISNULL(2)), args, nulls, store, tupdesc);
	SetUserIdAndSecContext(save_userid, save_sec_context);

	error_context_stack = errcallback.previous;
	SPI_finish();
	AtEOXact_GUC(false, save_nestlevel);
	return (Datum) 0;
}
