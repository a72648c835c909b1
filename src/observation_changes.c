/*
 * observation_changes.c: the trigger that records which accounts' observations changed.
 *
 * The nightly snapshot rolls a scoring state forward and reads only the rows observed since
 * the state's as_of. A row inserted, updated or deleted with an older observed_at (late
 * data) changes what the state should hold; the statement's accounts are recorded in
 * health_score.observation_changes, each with its oldest observed_at, and the next snapshot
 * scores those accounts again from all their rows. The record commits or rolls back with the
 * rows themselves, so a snapshot that sees one sees the other.
 *
 * Whoever may write observations (a loader granted INSERT, say) must be able to leave that
 * record, but the table is internal: nobody is granted it. So the record is written with the
 * rights of the table's owner, in a restricted operation with search_path pg_catalog, the way
 * feed_rows reads a feed; the statement run is fixed here and reads nothing but the
 * statement's own transition tables.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "health_score.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

/* The owner of a relation. */
static Oid
changes_relowner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "observations_changed: cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/* The statement that records the changes of one fired trigger. */
static char *
changes_query(TriggerData *trigdata)
{
	Trigger    *trigger = trigdata->tg_trigger;
	StringInfoData rows;
	StringInfoData query;

	initStringInfo(&query);
	appendStringInfoString(&query, "INSERT INTO health_score.observation_changes (observed_from, accounts, observed_froms) ");
	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
	{
		/* every account: NULL accounts */
		appendStringInfoString(&query, "VALUES ('-infinity', NULL, NULL)");
		return query.data;
	}
	initStringInfo(&rows);
	if (trigger->tgoldtable != NULL)
		appendStringInfo(&rows, "SELECT account_id, observed_at FROM %s", quote_identifier(trigger->tgoldtable));
	if (trigger->tgnewtable != NULL)
		appendStringInfo(&rows, "%sSELECT account_id, observed_at FROM %s",
						 rows.len > 0 ? " UNION ALL " : "", quote_identifier(trigger->tgnewtable));
	if (rows.len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("observations_changed needs the trigger's transition tables (REFERENCING OLD TABLE or NEW TABLE)")));
	appendStringInfo(&query,
					 "SELECT min(f), array_agg(a ORDER BY a), array_agg(f ORDER BY a) "
					 "FROM (SELECT r.account_id AS a, min(r.observed_at) AS f FROM (%s) r GROUP BY r.account_id) s "
					 "HAVING count(*) > 0", rows.data);
	return query.data;
}

PG_FUNCTION_INFO_V1(observations_changed);
/* Statement trigger on health_score.observations: records the accounts whose rows changed. */
Datum
observations_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Oid			nsp;
	Oid			changes;
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	char	   *query;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("observations_changed must be called as an AFTER ... FOR EACH STATEMENT trigger")));
	nsp = get_namespace_oid("health_score", false);
	if (RelationGetRelid(trigdata->tg_relation) != get_relname_relid("observations", nsp))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("observations_changed is a trigger of health_score.observations only")));
	changes = get_relname_relid("observation_changes", nsp);
	if (!OidIsValid(changes))
		elog(ERROR, "observations_changed: health_score.observation_changes is missing");
	query = changes_query(trigdata);

	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "observations_changed: SPI_connect failed");
	if (SPI_register_trigger_data(trigdata) != SPI_OK_TD_REGISTER)
		elog(ERROR, "observations_changed: SPI_register_trigger_data failed");

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(changes_relowner(changes), save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_execute(query, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "observations_changed: recording the changes failed");
	SetUserIdAndSecContext(save_userid, save_sec_context);

	SPI_finish();
	AtEOXact_GUC(false, save_nestlevel);
	return PointerGetDatum(NULL);
}
