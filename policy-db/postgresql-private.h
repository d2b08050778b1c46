/* Private to the PostgreSQL backend (postgresql.c, postgresql-conn.c): the
 * only code of the project that includes <libpq-fe.h>. */
#ifndef POLICYDB_POSTGRESQL_PRIVATE_H
#define POLICYDB_POSTGRESQL_PRIVATE_H

#include <libpq-fe.h>
#include <stdint.h>

#include "backend.h"

#define PAGE_ROWS    256 /* rows per scan query: the LIMIT in stmt_sql */
#define BYTEA_OID    17
#define CREATE_LOCK  0x636c69640000ffffLL /* "clid": creation, before the tables exist */
#define WRITER_CLASS 0x636c6964LL         /* "clid" << 32 | oid of clientid_meta */

/* Statements, prepared per connection and table on first use. */
enum stmt {
	ST_GET,
	ST_PUT,
	ST_DEL,
	ST_FROM,     /* a scan's first page */
	ST_AFTER,    /* its next pages */
	ST_FROM_TO,  /* the same, below a prefix's end */
	ST_AFTER_TO, /* its next pages */
	ST_LAST,
	ST_COUNT_
};

struct pg_be {
	PGconn *conn;
	long long writer_lock;
	uint32_t prepared[PDB_T_COUNT_]; /* bit s: statement s is prepared */
	char where[256];                 /* "postgresql host=... dbname=...", for messages */
	char err[CLIENTID_ERRBUF_SIZE];
};

struct pg_txn {
	struct pg_be *be;
	int writer;
	int wrote_durable;
	uint64_t version; /* of the device shards this transaction writes; 0: none yet */
	PGresult **kept;  /* behind the views that get() returned */
	size_t n_kept, cap_kept;
};

/* clientid_<table>, by enum policydb_table. */
extern const char *const pg_table_names[PDB_T_COUNT_];

/* postgresql-conn.c: errors, statements and the session. Each returns 0 or
 * a negative CLIENTID_E_* code with a message in be->err that names the
 * server and database, never the password. */
int pg_error(struct pg_be *be, const PGresult *res, const char *what);
int pg_exec(struct pg_be *be, const char *sql, const char *what);
/* Runs statement s on table tab with up to two binary parameters and
 * binary results: the result (the caller clears it), or NULL with *ret_r
 * set and a message naming what in be->err. */
PGresult *pg_run(struct pg_be *be, enum stmt s, enum policydb_table tab, const void *p0, size_t l0,
                 const void *p1, size_t l1, const char *what, int *ret_r);
/* Makes the session again after the server ended it. */
int pg_reconnect(struct pg_be *be);
int pg_open(const struct policydb_backend_params *p, void **be_r, char *err_r);
void pg_close(void *vbe);
void pg_abandon(void *vbe);

#endif
