/* The PostgreSQL backend's session: errors, prepared statements, the
 * connection and its tables (postgresql-private.h). postgresql.c has the
 * transactions and records. */
#include "postgresql-private.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const pg_table_names[PDB_T_COUNT_] = {
    [PDB_T_META] = "clientid_meta",     [PDB_T_DEVICES] = "clientid_devices",
    [PDB_T_BANS] = "clientid_bans",     [PDB_T_ACCOUNTS] = "clientid_accounts",
    [PDB_T_EVENTS] = "clientid_events", [PDB_T_RMETA] = "clientid_rmeta",
    [PDB_T_TOUCH] = "clientid_touch",   [PDB_T_COUNTERS] = "clientid_counters",
};

/* Each statement is head, the table's name, tail. */
static const struct {
	const char *head, *tail;
	int params;
} stmt_sql[ST_COUNT_] = {
    [ST_GET] = {"SELECT value FROM ", " WHERE key = $1", 1},
    [ST_PUT] = {"INSERT INTO ",
                " (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = "
                "EXCLUDED.value",
                2},
    [ST_DEL] = {"DELETE FROM ", " WHERE key = $1", 1},
    [ST_FROM] = {"SELECT key, value FROM ", " WHERE key >= $1 ORDER BY key LIMIT 256", 1},
    [ST_AFTER] = {"SELECT key, value FROM ", " WHERE key > $1 ORDER BY key LIMIT 256", 1},
    [ST_FROM_TO] = {"SELECT key, value FROM ",
                    " WHERE key >= $1 AND key < $2 ORDER BY key LIMIT 256", 2},
    [ST_AFTER_TO] = {"SELECT key, value FROM ",
                     " WHERE key > $1 AND key < $2 ORDER BY key LIMIT 256", 2},
    [ST_LAST] = {"SELECT key FROM ", " ORDER BY key DESC LIMIT 1", 0},
};

/* --- errors --- */

/* The one translation of PostgreSQL's errors into the project's: by the
 * SQLSTATE's class, or for a connection that failed, by its text (libpq
 * gives no code there). Leaves the message, naming the server, in be->err. */
int pg_error(struct pg_be *be, const PGresult *res, const char *what)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (msg == NULL)
		msg = PQerrorMessage(be->conn);
	int code = CLIENTID_E_STORE;
	const char *hint = "";
	if (state == NULL)
		state = "";
	if (strcmp(state, "53100") == 0) {
		code = CLIENTID_E_STORE_FULL;
		hint = " (the database server's disk is full)";
	} else if (strcmp(state, "53200") == 0) {
		code = CLIENTID_E_NOMEM;
	} else if (strcmp(state, "25006") == 0) {
		code = CLIENTID_E_STORE_RDONLY;
		hint = " (a standby? [store] dsn must name the primary: "
		       "target_session_attrs=read-write)";
	} else if (strncmp(state, "28", 2) == 0 || strcmp(state, "42501") == 0) {
		code = CLIENTID_E_STORE_ACCESS;
	} else if (strcmp(state, "42P01") == 0 || strcmp(state, "3D000") == 0) {
		code = CLIENTID_E_STORE_MISSING;
		hint = " (run: clientidctl init)";
	} else if (strncmp(state, "XX", 2) == 0) {
		code = CLIENTID_E_STORE_CORRUPT;
	} else if (strcmp(state, "55P03") == 0) {
		hint = " (another writer held the store's writer lock too long)";
	}
	snprintf(be->err, sizeof(be->err), "%s: %s: %.*s%s", be->where, what,
	         (int)strcspn(msg, "\n"), msg, hint);
	return code;
}

/* A connection that failed: libpq's text is all there is. */
static int pg_connect_error(struct pg_be *be)
{
	const char *msg = PQerrorMessage(be->conn);
	int code = CLIENTID_E_STORE;
	if (strstr(msg, "does not exist") != NULL)
		code = CLIENTID_E_STORE_MISSING;
	else if (strstr(msg, "password") != NULL || strstr(msg, "pg_hba.conf") != NULL ||
	         strstr(msg, "permission denied") != NULL || strstr(msg, "certificate") != NULL)
		code = CLIENTID_E_STORE_ACCESS;
	/* libpq's message may span lines ("connection to server ... failed:
	 * FATAL: ..."); keep it on one. */
	snprintf(be->err, sizeof(be->err), "%s: connect: %s", be->where, msg);
	for (char *p = be->err; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\t')
			*p = p[1] != '\0' ? ' ' : '\0';
	}
	return code;
}

/* Runs a statement without parameters; 0, or an error naming what. */
int pg_exec(struct pg_be *be, const char *sql, const char *what)
{
	PGresult *res = PQexec(be->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int ret = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : pg_error(be, res, what);
	PQclear(res);
	return ret;
}

/* --- statements --- */

static int prepare(struct pg_be *be, enum stmt s, enum policydb_table tab, char name[16])
{
	snprintf(name, 16, "clientid_%d_%d", (int)s, (int)tab);
	if ((be->prepared[tab] & (1u << s)) != 0)
		return 0;
	char sql[256];
	snprintf(sql, sizeof(sql), "%s%s%s", stmt_sql[s].head, pg_table_names[tab],
	         stmt_sql[s].tail);
	static const Oid types[2] = {BYTEA_OID, BYTEA_OID};
	PGresult *res = PQprepare(be->conn, name, sql, stmt_sql[s].params, types);
	int ret = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : pg_error(be, res, "prepare");
	PQclear(res);
	if (ret == 0)
		be->prepared[tab] |= 1u << s;
	return ret;
}

PGresult *pg_run(struct pg_be *be, enum stmt s, enum policydb_table tab, const void *p0, size_t l0,
                 const void *p1, size_t l1, const char *what, int *ret_r)
{
	char name[16];
	if ((*ret_r = prepare(be, s, tab, name)) != 0)
		return NULL;
	const char *values[2] = {p0, p1};
	/* A zero-length key must not be taken for NULL. */
	if (values[0] == NULL)
		values[0] = "";
	if (values[1] == NULL)
		values[1] = "";
	const int lengths[2] = {(int)l0, (int)l1}, formats[2] = {1, 1};
	PGresult *res =
	    PQexecPrepared(be->conn, name, stmt_sql[s].params, values, lengths, formats, 1);
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	*ret_r = pg_error(be, res, what);
	PQclear(res);
	return NULL;
}

/* --- connection --- */

static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message; /* "relation already exists, skipping" and the like */
}

/* Checks that dsn parses and holds no password, and names its server and
 * database in be->where. libpq's own message would quote the string. */
static int dsn_check(struct pg_be *be, const char *dsn)
{
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(dsn, &perr);
	PQfreemem(perr);
	snprintf(be->where, sizeof(be->where), "postgresql");
	if (opts == NULL) {
		snprintf(be->err, sizeof(be->err),
		         "[store] dsn: not a valid libpq connection string");
		return CLIENTID_E_CONFIG;
	}
	int ret = 0;
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "password") == 0)
			ret = CLIENTID_E_CONFIG;
		else if (strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "hostaddr") == 0 ||
		         strcmp(o->keyword, "port") == 0 || strcmp(o->keyword, "dbname") == 0 ||
		         strcmp(o->keyword, "user") == 0) {
			size_t n = strlen(be->where);
			snprintf(be->where + n, sizeof(be->where) - n, " %s=%s", o->keyword,
			         o->val);
		}
	}
	PQconninfoFree(opts);
	if (ret != 0)
		snprintf(be->err, sizeof(be->err),
		         "[store] dsn: holds a password; put it in a passfile");
	return ret;
}

/* What every session needs, after each connection. Durable commits must be
 * synchronous whatever the server's default; a stronger setting
 * (remote_apply, ...) is kept. */
static int session_setup(struct pg_be *be)
{
	return pg_exec(be,
	               "SELECT set_config('synchronous_commit', 'on', false) "
	               "WHERE current_setting('synchronous_commit') = 'off'",
	               "set synchronous_commit");
}

static int connect_db(struct pg_be *be, const char *dsn)
{
	/* Ours first: a setting in the DSN overrides them. */
	static const char *const keys[] = {"connect_timeout", "fallback_application_name",
	                                   "options", "dbname", NULL};
	const char *values[] = {"10", "clientid", "-c lock_timeout=10s", dsn, NULL};
	be->conn = PQconnectdbParams(keys, values, 1);
	if (be->conn == NULL) {
		snprintf(be->err, sizeof(be->err), "%s: out of memory", be->where);
		return CLIENTID_E_NOMEM;
	}
	if (PQstatus(be->conn) != CONNECTION_OK)
		return pg_connect_error(be);
	PQsetNoticeProcessor(be->conn, ignore_notice, NULL);
	return session_setup(be);
}

/* 1 when every table exists, 0 when none does; the writer lock's key. */
static int tables_state(struct pg_be *be, int *state_r)
{
	char sql[1024] = "SELECT count(to_regclass(t)), to_regclass('clientid_meta')::oid::int8 "
	                 "FROM unnest(ARRAY[";
	for (int t = 0; t < PDB_T_COUNT_; t++) {
		size_t n = strlen(sql);
		snprintf(sql + n, sizeof(sql) - n, "%s'%s'", t ? "," : "", pg_table_names[t]);
	}
	strncat(sql, "]) AS t", sizeof(sql) - strlen(sql) - 1);
	PGresult *res = PQexec(be->conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		int ret = pg_error(be, res, "look for the tables");
		PQclear(res);
		return ret;
	}
	int count = atoi(PQgetvalue(res, 0, 0));
	if (!PQgetisnull(res, 0, 1))
		be->writer_lock = WRITER_CLASS << 32 | strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	*state_r = count == PDB_T_COUNT_ ? 1 : count == 0 ? 0 : -1;
	return 0;
}

static int create_tables(struct pg_be *be)
{
	char sql[2048];
	int n =
	    snprintf(sql, sizeof(sql), "BEGIN; SELECT pg_advisory_xact_lock(%lld);", CREATE_LOCK);
	for (int t = 0; t < PDB_T_COUNT_; t++)
		n += snprintf(sql + n, sizeof(sql) - (size_t)n,
		              " CREATE TABLE IF NOT EXISTS %s (key bytea PRIMARY KEY, "
		              "value bytea NOT NULL);",
		              pg_table_names[t]);
	snprintf(sql + n, sizeof(sql) - (size_t)n, " COMMIT");
	int ret = pg_exec(be, sql, "create the tables");
	if (ret != 0)
		(void)pg_exec(be, "ROLLBACK", "rollback");
	return ret;
}

/* The tables: there, created when allowed, or an error. */
static int tables_open(struct pg_be *be, int create)
{
	int state, ret = tables_state(be, &state);
	if (ret == 0 && state != 1 && create) {
		ret = create_tables(be);
		if (ret == 0)
			ret = tables_state(be, &state);
	}
	if (ret != 0)
		return ret;
	if (state == 1)
		return 0;
	snprintf(be->err, sizeof(be->err), "%s: %s", be->where,
	         state == 0 ? "no clientid tables (run: clientidctl init)"
	                    : "some clientid tables are missing");
	return state == 0 ? CLIENTID_E_STORE_MISSING : CLIENTID_E_STORE_CORRUPT;
}

void pg_close(void *vbe)
{
	struct pg_be *be = vbe;
	if (be == NULL)
		return;
	PQfinish(be->conn);
	free(be);
}

int pg_open(const struct policydb_backend_params *p, void **be_r, char *err_r)
{
	struct pg_be *be = calloc(1, sizeof(*be));
	if (be == NULL) {
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "clientid: out of memory");
		return CLIENTID_E_NOMEM;
	}
	const char *dsn = p->dsn != NULL ? p->dsn : "";
	int ret = dsn_check(be, dsn);
	if (ret == 0)
		ret = connect_db(be, dsn);
	if (ret == 0)
		ret = tables_open(be, p->create);
	if (ret != 0) {
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "%s", be->err);
		pg_close(be);
		return ret;
	}
	*be_r = be;
	return 0;
}

/* After fork(): the socket is the parent's too. PQfinish() would say
 * goodbye on it and end the parent's session, so it first points at
 * /dev/null. */
void pg_abandon(void *vbe)
{
	struct pg_be *be = vbe;
	int sock = PQsocket(be->conn);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (sock >= 0 && null >= 0)
		dup2(null, sock);
	if (null >= 0)
		close(null);
	pg_close(be);
}

/* A connection that broke (a server restart, a failover) is made again at
 * the next transaction; prepared statements went with it. */
int pg_reconnect(struct pg_be *be)
{
	if (PQstatus(be->conn) == CONNECTION_OK)
		return 0;
	PQreset(be->conn);
	memset(be->prepared, 0, sizeof(be->prepared));
	if (PQstatus(be->conn) != CONNECTION_OK)
		return pg_connect_error(be);
	return session_setup(be);
}

int pdb_postgresql_drop(const char *dsn, char *err_r)
{
	struct pg_be be = {0};
	int ret = dsn_check(&be, dsn);
	if (ret == 0)
		ret = connect_db(&be, dsn);
	char sql[512] = "DROP TABLE IF EXISTS ";
	for (int t = 0; t < PDB_T_COUNT_; t++) {
		size_t n = strlen(sql);
		snprintf(sql + n, sizeof(sql) - n, "%s%s", t ? ", " : "", pg_table_names[t]);
	}
	if (ret == 0)
		ret = pg_exec(&be, sql, "drop the tables");
	if (ret != 0)
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "%s", be.err);
	PQfinish(be.conn);
	return ret;
}
