/* The PostgreSQL backend (backend.h), through libpq: with postgresql-conn.c (the
 * session) and postgresql-private.h the only code of the project that
 * includes <libpq-fe.h>. docs/cluster.md explains the choices.
 *
 * Tables: one per enum policydb_table, clientid_<name> (key bytea PRIMARY
 * KEY, value bytea NOT NULL), in the first schema of the connection's
 * search_path. bytea sorts as memcmp, then shorter first: LMDB's order, so
 * scans visit keys as they do there. Routine tables are ordinary (logged)
 * tables: they replicate, and survive a crash but for the last commits.
 *
 * Transactions:
 *  - read: REPEATABLE READ, READ ONLY: one snapshot for the whole
 *    transaction, as an LMDB reader has; a read-only transaction never fails
 *    to serialize, so it needs no retry.
 *  - write: READ COMMITTED, after taking one transaction-scoped advisory
 *    lock, the store's writer lock, as LMDB's writers take its writer mutex.
 *    Writers of every node take it in turn, so each statement sees every
 *    earlier writer's commit and nobody else writes: every counter, window
 *    and limit (learn_max_devices, pending_max_devices) is read and written
 *    as by a single writer, with no retry loop. One lock for routine and
 *    durable writers alike: upgrade has nothing left to take. The cost is
 *    that writers do not run in parallel (docs/cluster.md).
 *  - commit: a transaction that wrote only routine tables commits with
 *    synchronous_commit off (it may be lost in a server crash, as routine.mdb
 *    may after a machine crash); one that wrote a durable table commits
 *    with the session's setting, which open() turns on when the server's is
 *    off.
 * Messages name the server and database, never the password: the DSN may
 * not hold one (config.c refuses it, open() checks again). */
#include "postgresql-private.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- transactions --- */

static void txn_free(struct pg_txn *t)
{
	for (size_t i = 0; i < t->n_kept; i++)
		PQclear(t->kept[i]);
	free(t->kept);
	free(t);
}

static void be_abort(void *vtxn)
{
	struct pg_txn *t = vtxn;
	if (t == NULL)
		return;
	if (PQstatus(t->be->conn) == CONNECTION_OK)
		PQclear(PQexec(t->be->conn, "ROLLBACK"));
	txn_free(t);
}

/* BEGIN, and for a writer the writer lock. A connection that the server
 * ended while we were idle (a restart, a failover, a terminated backend) is
 * found broken only here: nothing has happened in this transaction yet, so
 * it is made again and BEGIN sent once more. */
static int begin_sql(struct pg_be *be, int writer)
{
	char sql[128];
	if (writer)
		snprintf(sql, sizeof(sql), "BEGIN; SELECT pg_advisory_xact_lock(%lld)",
		         be->writer_lock);
	else
		snprintf(sql, sizeof(sql), "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
	const char *what = writer ? "begin write" : "begin read";
	int ret = pg_exec(be, sql, what);
	if (ret != 0 && PQstatus(be->conn) == CONNECTION_BAD && pg_reconnect(be) == 0)
		ret = pg_exec(be, sql, what);
	return ret;
}

static int be_begin(void *vbe, unsigned flags, void **txn_r)
{
	struct pg_be *be = vbe;
	int ret = pg_reconnect(be);
	if (ret != 0)
		return ret;
	/* A commit that failed before its COMMIT ran left its transaction. */
	if (PQtransactionStatus(be->conn) != PQTRANS_IDLE)
		PQclear(PQexec(be->conn, "ROLLBACK"));
	struct pg_txn *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return CLIENTID_E_NOMEM;
	t->be = be;
	t->writer = flags != PDB_TXN_READ;
	ret = begin_sql(be, t->writer);
	if (ret != 0) {
		be_abort(t);
		return ret;
	}
	*txn_r = t;
	return 0;
}

static int be_upgrade(void *vtxn)
{
	(void)vtxn; /* a writer holds the one writer lock already */
	return 0;
}

static int be_commit(void *vtxn)
{
	struct pg_txn *t = vtxn;
	struct pg_be *be = t->be;
	const char *sql =
	    t->wrote_durable ? "COMMIT" : "SET LOCAL synchronous_commit = off; COMMIT";
	PGresult *res = PQexec(be->conn, sql);
	int ret = 0;
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		ret = pg_error(be, res, "commit");
	else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) /* "ROLLBACK": it had failed */
		ret = pg_error(be, res, "commit (rolled back)");
	PQclear(res);
	txn_free(t);
	return ret;
}

static int keep(struct pg_txn *t, PGresult *res)
{
	if (t->n_kept == t->cap_kept) {
		size_t cap = t->cap_kept ? 2 * t->cap_kept : 8;
		PGresult **kept = realloc(t->kept, cap * sizeof(*kept));
		if (kept == NULL) {
			PQclear(res);
			return CLIENTID_E_NOMEM;
		}
		t->kept = kept;
		t->cap_kept = cap;
	}
	t->kept[t->n_kept++] = res;
	return 0;
}

static int be_get(void *vtxn, enum policydb_table tab, const void *key, size_t klen,
                  const void **val_r, size_t *vlen_r)
{
	struct pg_txn *t = vtxn;
	int ret;
	PGresult *res = pg_run(t->be, ST_GET, tab, key, klen, NULL, 0, "get", &ret);
	if (res == NULL)
		return ret;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	if ((ret = keep(t, res)) != 0)
		return ret;
	*val_r = PQgetvalue(res, 0, 0);
	*vlen_r = (size_t)PQgetlength(res, 0, 0);
	return 1;
}

static int put_row(struct pg_txn *t, enum policydb_table tab, const void *key, size_t klen,
                   const void *val, size_t vlen, const char *what)
{
	int ret;
	PGresult *res = pg_run(t->be, ST_PUT, tab, key, klen, val, vlen, what, &ret);
	if (res == NULL)
		return ret;
	PQclear(res);
	if (PDB_TABLE_DURABLE(tab))
		t->wrote_durable = 1;
	return 0;
}

/* After a write of a device record: a new version of its account's shard
 * (backend.h). */
static int devices_changed(struct pg_txn *t, const void *key, size_t klen)
{
	uint8_t vkey[PDB_VERSION_KEY], val[PDB_VERSION_LEN];
	pdb_device_version_key(key, klen, vkey);
	if (t->version == 0)
		t->version = pdb_version_draw();
	memcpy(val, &t->version, sizeof(val));
	return put_row(t, PDB_T_META, vkey, sizeof(vkey), val, sizeof(val), "put device version");
}

static int be_put(void *vtxn, enum policydb_table tab, const void *key, size_t klen,
                  const void *val, size_t vlen)
{
	struct pg_txn *t = vtxn;
	int ret = put_row(t, tab, key, klen, val, vlen, "put");
	if (ret == 0 && tab == PDB_T_DEVICES)
		ret = devices_changed(t, key, klen);
	return ret;
}

static int be_del(void *vtxn, enum policydb_table tab, const void *key, size_t klen)
{
	struct pg_txn *t = vtxn;
	int ret;
	PGresult *res = pg_run(t->be, ST_DEL, tab, key, klen, NULL, 0, "delete", &ret);
	if (res == NULL)
		return ret;
	int deleted = strcmp(PQcmdTuples(res), "0") != 0;
	PQclear(res);
	if (!deleted)
		return 0;
	if (PDB_TABLE_DURABLE(tab))
		t->wrote_durable = 1;
	if (tab == PDB_T_DEVICES && (ret = devices_changed(t, key, klen)) != 0)
		return ret;
	return 1;
}

/* The first key after every key that starts with prefix, in end (plen
 * bytes), its length in *elen_r; 0 when there is none (all 0xff). */
static int prefix_end(const uint8_t *prefix, size_t plen, uint8_t *end, size_t *elen_r)
{
	for (size_t n = plen; n > 0; n--) {
		if (prefix[n - 1] != 0xff) {
			memcpy(end, prefix, n);
			end[n - 1]++;
			*elen_r = n;
			return 1;
		}
	}
	return 0;
}

struct scan {
	struct pg_txn *t;
	enum policydb_table tab;
	const uint8_t *start;
	size_t plen;
	uint8_t *end; /* NULL: unbounded */
	size_t elen;
	uint8_t *from; /* the last key visited */
	size_t flen;
	int after;
};

/* Visits one page: 1 when the scan is over, 0 for more, or fn's or an
 * error's code. */
static int scan_page(struct scan *s, policydb_scan_fn *fn, void *ctx, int *done_r)
{
	enum stmt st = s->end != NULL ? (s->after ? ST_AFTER_TO : ST_FROM_TO)
	                              : (s->after ? ST_AFTER : ST_FROM);
	int ret;
	PGresult *res =
	    pg_run(s->t->be, st, s->tab, s->from, s->flen, s->end, s->elen, "scan", &ret);
	if (res == NULL)
		return ret;
	int rows = PQntuples(res);
	*done_r = rows < PAGE_ROWS;
	for (int i = 0; i < rows && ret == 0; i++) {
		const uint8_t *k = (const uint8_t *)PQgetvalue(res, i, 0);
		size_t klen = (size_t)PQgetlength(res, i, 0);
		if (s->plen > 0 && (klen < s->plen || memcmp(k, s->start, s->plen) != 0)) {
			*done_r = 1;
			break;
		}
		ret = fn(ctx, k, klen, PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
		if (ret == 0 && i == rows - 1 && !*done_r) {
			uint8_t *from = realloc(s->from, klen + 1);
			if (from == NULL) {
				ret = CLIENTID_E_NOMEM;
				break;
			}
			memcpy(from, k, klen);
			s->from = from;
			s->flen = klen;
			s->after = 1;
		}
	}
	PQclear(res);
	return ret;
}

/* Keyset pages of PAGE_ROWS, so that a long scan holds little memory and
 * fn may read and write through the transaction between rows. */
static int be_scan(void *vtxn, enum policydb_table tab, const void *start, size_t slen, size_t plen,
                   policydb_scan_fn *fn, void *ctx)
{
	struct scan s = {.t = vtxn, .tab = tab, .start = start, .plen = plen, .flen = slen};
	s.from = malloc(slen + 1);
	s.end = plen > 0 ? malloc(plen) : NULL;
	int ret = s.from == NULL || (plen > 0 && s.end == NULL) ? CLIENTID_E_NOMEM : 0;
	if (ret == 0) {
		if (slen > 0) /* start may be NULL then */
			memcpy(s.from, start, slen);
		if (s.end != NULL && !prefix_end(start, plen, s.end, &s.elen)) {
			free(s.end);
			s.end = NULL;
		}
	}
	int done = 0;
	while (ret == 0 && !done)
		ret = scan_page(&s, fn, ctx, &done);
	free(s.from);
	free(s.end);
	return ret;
}

static int be_append(void *vtxn, enum policydb_table tab, const void *val, size_t vlen,
                     uint64_t *seq_r)
{
	struct pg_txn *t = vtxn;
	int ret;
	PGresult *res = pg_run(t->be, ST_LAST, tab, NULL, 0, NULL, 0, "last event", &ret);
	if (res == NULL)
		return ret;
	uint64_t seq = 1;
	if (PQntuples(res) == 1 && PQgetlength(res, 0, 0) == 8) {
		const unsigned char *b = (const unsigned char *)PQgetvalue(res, 0, 0);
		uint64_t last = 0;
		for (int i = 0; i < 8; i++)
			last = last << 8 | b[i];
		seq = last + 1;
	}
	PQclear(res);
	unsigned char key[8];
	for (int i = 0; i < 8; i++)
		key[i] = (unsigned char)(seq >> (56 - 8 * i));
	/* The writer lock makes max + 1 unique. */
	ret = put_row(t, tab, key, sizeof(key), val, vlen, "append");
	if (ret == 0)
		*seq_r = seq;
	return ret;
}

/* --- administration --- */

/* Nothing to grow: a full disk of the server is the administrator's. */
static int be_grow(void *vbe)
{
	(void)vbe;
	return CLIENTID_E_STORE_FULL;
}

/* Entries per table, sizes on disk (tables, indexes, TOAST) per kind; the
 * database's connections and max_connections stand for readers. No map. */
static int be_stats(void *vbe, struct policydb_store_stats *stats_r)
{
	struct pg_be *be = vbe;
	char sql[2048] = "SELECT ";
	for (int t = 0; t < PDB_T_COUNT_; t++) {
		size_t n = strlen(sql);
		snprintf(sql + n, sizeof(sql) - n, "(SELECT count(*) FROM %s), ",
		         pg_table_names[t]);
	}
	for (int kind = 0; kind < 2; kind++) {
		for (int t = 0; t < PDB_T_COUNT_; t++) {
			if (PDB_TABLE_DURABLE(t) != (kind == 0))
				continue;
			size_t n = strlen(sql);
			snprintf(sql + n, sizeof(sql) - n, "pg_total_relation_size('%s') + ",
			         pg_table_names[t]);
		}
		strncat(sql, "0, ", sizeof(sql) - strlen(sql) - 1);
	}
	strncat(sql,
	        "(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()), "
	        "current_setting('max_connections')",
	        sizeof(sql) - strlen(sql) - 1);
	PGresult *res = PQexec(be->conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		int ret = pg_error(be, res, "stats");
		PQclear(res);
		return ret;
	}
	memset(stats_r, 0, sizeof(*stats_r));
	int col = 0;
	for (int t = 0; t < PDB_T_COUNT_; t++)
		stats_r->entries[t] = strtoull(PQgetvalue(res, 0, col++), NULL, 10);
	stats_r->bytes_durable = strtoull(PQgetvalue(res, 0, col++), NULL, 10);
	stats_r->bytes_routine = strtoull(PQgetvalue(res, 0, col++), NULL, 10);
	stats_r->readers = (unsigned)strtoul(PQgetvalue(res, 0, col++), NULL, 10);
	stats_r->max_readers = (unsigned)strtoul(PQgetvalue(res, 0, col), NULL, 10);
	PQclear(res);
	return 0;
}

/* There are no stale readers to reclaim (the server ends a dead client's
 * transaction); a problem is a server that takes no writes. */
static int be_check(void *vbe, struct policydb_check_report *report_r)
{
	struct pg_be *be = vbe;
	memset(report_r, 0, sizeof(*report_r));
	int ret = pg_reconnect(be);
	if (ret != 0)
		return ret;
	PGresult *res = PQexec(be->conn, "SELECT pg_is_in_recovery()");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ret = pg_error(be, res, "check");
		PQclear(res);
		return ret;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		report_r->problems++;
		snprintf(report_r->first_problem, sizeof(report_r->first_problem),
		         "%s: a standby (read-only); [store] dsn must name the primary", be->where);
	}
	PQclear(res);
	return 0;
}

static const char *be_last_error(void *vbe)
{
	return ((struct pg_be *)vbe)->err;
}

const struct policydb_backend policydb_backend_postgresql = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .abandon = pg_abandon,
    .begin = be_begin,
    .upgrade = be_upgrade,
    .commit = be_commit,
    .abort = be_abort,
    .get = be_get,
    .put = be_put,
    .del = be_del,
    .scan = be_scan,
    .append = be_append,
    .grow = be_grow,
    .stats = be_stats,
    .check = be_check,
    .last_error = be_last_error,
};
