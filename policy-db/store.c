/* The store's handle: init and teardown, opening with the schema check,
 * the transaction helper, and event appends with the handle's alert queue. */
#include "policydb-private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- handles --- */

int policydb_init_config(const struct clientid_config *cfg, const struct clientid_secret *secret,
                         unsigned flags, struct policydb **db_r, char *err_r)
{
	const struct policydb_backend *ops = pdb_backend_find(cfg->store_backend);
	if (ops == NULL) {
		snprintf(err_r, CLIENTID_ERRBUF_SIZE,
		         "[store] backend = %s: not built into this program",
		         cfg->store_backend == CLIENTID_BACKEND_POSTGRESQL ? "postgresql (libpq)"
		                                                           : "this backend");
		return CLIENTID_E_CONFIG;
	}
	struct policydb *db = calloc(1, sizeof(*db));
	if (db == NULL) {
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "clientid: out of memory");
		return CLIENTID_E_NOMEM;
	}
	db->cfg = *cfg;
	if (secret != NULL) {
		db->secret = *secret;
		db->has_secret = 1;
	}
	db->flags = flags;
	db->ops = ops;
	*db_r = db;
	return 0;
}

int policydb_init_loaded(const struct clientid_config *cfg, unsigned flags, struct policydb **db_r,
                         char *err_r)
{
	struct clientid_secret secret;
	int have_secret = (flags & POLICYDB_NO_SECRET) == 0;
	if (have_secret) {
		int ret = clientid_secret_load(cfg->secret_file, &secret, err_r);
		if (ret != 0)
			return ret;
	}
	int ret = policydb_init_config(cfg, have_secret ? &secret : NULL, flags, db_r, err_r);
	if (have_secret)
		clientid_secret_clear(&secret);
	return ret;
}

int policydb_init(const char *config_path, unsigned flags, struct policydb **db_r, char *err_r)
{
	struct clientid_config cfg;
	int ret = clientid_config_load(config_path, &cfg, err_r);
	if (ret != 0)
		return ret;
	return policydb_init_loaded(&cfg, flags, db_r, err_r);
}

void policydb_deinit(struct policydb **dbp)
{
	struct policydb *db = *dbp;
	if (db == NULL)
		return;
	if (db->be != NULL) {
		if (db->pid == getpid())
			db->ops->close(db->be);
		else
			db->ops->abandon(db->be);
	}
	clientid_secret_clear(&db->secret);
	free(db);
	*dbp = NULL;
}

const char *policydb_last_error(const struct policydb *db)
{
	return db->err;
}

const struct clientid_config *policydb_config(const struct policydb *db)
{
	return &db->cfg;
}

int policydb_fingerprint(struct policydb *db, const char *type, size_t type_len, const char *token,
                         size_t token_len, struct clientid_fp *fp_r)
{
	if (!db->has_secret) {
		snprintf(db->err, sizeof(db->err), "no site secret loaded");
		return CLIENTID_E_INVAL;
	}
	return clientid_fp_compute(&db->secret, type, type_len, token, token_len, fp_r);
}

int pdb_fail(struct policydb *db, int code)
{
	if (db->be != NULL)
		snprintf(db->err, sizeof(db->err), "%s", db->ops->last_error(db->be));
	return code;
}

/* Schema migrations: steps[v] turns version v into v + 1; a change of a
 * record format adds one and bumps PDB_SCHEMA_VERSION. */
typedef int migrate_fn(struct policydb *db, void *txn);
/* 1 -> 2: device versions appear as devices are written; nothing to do.
 * 2 -> 3: traces gain their pair part (TRACE_PAIR) as they are written, and
 * read without it as before (trace_pair_decode()); nothing to do. The bump
 * keeps older programs, which would refuse such traces, off the store. */
static migrate_fn *const migrations[PDB_SCHEMA_VERSION] = {NULL, NULL, NULL};

static int schema_txn(struct policydb *db, void *txn, void *ctx)
{
	int *need_write = ctx;
	const void *val;
	size_t len;
	int ret = db->ops->get(txn, PDB_T_META, "schema", 6, &val, &len);
	if (ret < 0)
		return ret;
	uint32_t version = 0;
	if (ret == 1) {
		if (len != 4)
			return CLIENTID_E_STORE_CORRUPT;
		version = pdb_get32(val);
	}
	if (version > PDB_SCHEMA_VERSION) {
		snprintf(db->err, sizeof(db->err),
		         "%s: store schema version %u is newer than this program's (%d)",
		         db->cfg.store_backend == CLIENTID_BACKEND_POSTGRESQL ? "postgresql"
		                                                              : db->cfg.store_path,
		         version, PDB_SCHEMA_VERSION);
		return CLIENTID_E_STORE_VERSION;
	}
	if (version == PDB_SCHEMA_VERSION)
		return 0;
	if (!*need_write) {
		*need_write = 1;
		return 1; /* again, as a writer */
	}
	for (uint32_t v = version == 0 ? PDB_SCHEMA_VERSION : version; v < PDB_SCHEMA_VERSION;
	     v++) {
		if (migrations[v] != NULL && (ret = migrations[v](db, txn)) != 0)
			return ret;
	}
	uint8_t b[4];
	pdb_put32(b, PDB_SCHEMA_VERSION);
	return db->ops->put(txn, PDB_T_META, "schema", 6, b, 4);
}

int pdb_open(struct policydb *db)
{
	if (db->be != NULL && db->pid == getpid())
		return 0;
	if (db->be != NULL) {
		/* A fork happened: never use the parent's environment. */
		db->ops->abandon(db->be);
		db->be = NULL;
	}
	struct policydb_backend_params params = {
	    .path = db->cfg.store_path,
	    .dsn = db->cfg.store_dsn,
	    .map_size = db->cfg.store_map_size,
	    .create = (db->flags & POLICYDB_NO_CREATE) == 0,
	    .boot_id = getenv("CLIENTID_TEST_BOOT_ID"),
	};
	int ret = db->ops->open(&params, &db->be, db->err);
	if (ret != 0) {
		db->be = NULL;
		return ret;
	}
	db->pid = getpid();
	int need_write = 0;
	ret = pdb_with_txn(db, PDB_TXN_READ, schema_txn, &need_write);
	if (ret == 1)
		ret = pdb_with_txn(db, PDB_TXN_ROUTINE | PDB_TXN_DURABLE, schema_txn, &need_write);
	if (ret != 0) {
		char keep[CLIENTID_ERRBUF_SIZE];
		snprintf(keep, sizeof(keep), "%s", db->err);
		db->ops->close(db->be);
		db->be = NULL;
		snprintf(db->err, sizeof(db->err), "%s", keep);
		return ret;
	}
	return 0;
}

int pdb_event_append(struct policydb *db, void *txn, struct clientid_event *ev)
{
	uint8_t buf[PDB_EVENT_MAX];
	size_t len = pdb_event_encode(ev, buf);
	int ret = db->ops->append(txn, PDB_T_EVENTS, buf, len, &ev->seq);
	if (ret == 0 && (ev->flags & CLIENTID_EVF_ALERT) != 0 &&
	    db->n_pending_alerts < CLIENTID_OUTCOME_EVENTS_MAX)
		db->pending_alerts[db->n_pending_alerts++] = *ev;
	return ret;
}

int pdb_with_txn(struct policydb *db, unsigned flags, pdb_txn_fn *fn, void *ctx)
{
	int ret;
	for (int tries = 0;; tries++) {
		if ((ret = pdb_open(db)) != 0)
			return ret;
		void *txn;
		db->n_pending_alerts = 0;
		ret = db->ops->begin(db->be, flags, &txn);
		if (ret == 0) {
			ret = fn(db, txn, ctx);
			if (ret == 0 && flags != PDB_TXN_READ)
				ret = db->ops->commit(txn);
			else
				db->ops->abort(txn);
		}
		if (ret == CLIENTID_E_STORE_FULL && tries < 16 && db->ops->grow(db->be) == 0)
			continue;
		break;
	}
	if (ret < 0) {
		switch (ret) {
		case CLIENTID_E_NOTFOUND:
		case CLIENTID_E_AMBIGUOUS:
		case CLIENTID_E_INVAL:
		case CLIENTID_E_EXISTS:
		case CLIENTID_E_FORMAT:
		case CLIENTID_E_STORE_VERSION:
			break; /* fn explained it */
		default:
			pdb_fail(db, ret);
		}
		db->n_pending_alerts = 0;
		return ret;
	}
	if (ret == 0 && (db->flags & POLICYDB_NO_ALERTS) == 0 && db->cfg.alert_command[0] != '\0') {
		for (unsigned i = 0; i < db->n_pending_alerts; i++)
			pdb_alert_spawn(db, &db->pending_alerts[i]);
	}
	db->n_pending_alerts = 0;
	return ret;
}
