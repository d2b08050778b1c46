/* The storage backend interface: a transactional table store, small enough
 * that another backend implements it without touching callers. Internal to
 * policy-db/. The LMDB backend (lmdb.c, lmdb-env.c and their lmdb-private.h)
 * is the only code that includes <lmdb.h>, the PostgreSQL backend
 * (postgresql.c) the only one that includes <libpq-fe.h>; backends.c maps
 * [store] backend to an implementation.
 *
 * Tables are either durable (every write commit is synced before it returns)
 * or routine (commits may skip the fsync; the backend may discard them after
 * the machine crashed). A transaction spans both kinds. Write transactions
 * take the routine writer lock first, then the durable one, always in that
 * order. Every function returns 0 or a negative CLIENTID_E_* code and leaves
 * a message naming the path in the backend's error buffer. */
#ifndef POLICYDB_BACKEND_H
#define POLICYDB_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "clientid-config.h"
#include "clientid.h"

enum policydb_table {
	/* durable */
	PDB_T_META = 0, /* "schema" -> u32; 'v' shard[2] -> version (see below) */
	PDB_T_DEVICES,  /* account NUL fp[32] -> device */
	PDB_T_BANS,     /* fp[32] [account] -> ban */
	PDB_T_ACCOUNTS, /* account -> policy */
	PDB_T_EVENTS,   /* seq (u64, big-endian) -> event */
	/* routine */
	PDB_T_RMETA,    /* "schema", "boot_id" */
	PDB_T_TOUCH,    /* fp[16] account -> last seen, address, counts;
	                 * fp[16] -> the device's failure window (sorts first, so a
	                 * decision finds both on one page) */
	PDB_T_COUNTERS, /* per address and site-wide windows, the attack state */
	PDB_T_COUNT_
};

#define PDB_TABLE_DURABLE(t) ((t) < PDB_T_RMETA)

/* Device versions. Accounts fall into PDB_SHARDS shards. Every put or
 * delete of a PDB_T_DEVICES record (whose key starts with the account and
 * a NUL) also sets the version of the account's shard, PDB_T_META key 'v'
 * shard (big-endian, 2 bytes), to a random 8-byte value drawn once per
 * transaction. So while a shard's version is unchanged, so is every device
 * record of its accounts: policydb.c keeps a copy of a device's state in its
 * routine trace, valid while the version it was copied at is current.
 * Every backend must keep this contract. */
#define PDB_SHARDS      4096
#define PDB_VERSION_KEY 3
#define PDB_VERSION_LEN 8

static inline unsigned pdb_shard(const void *account, size_t len)
{
	const unsigned char *p = account;
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return (unsigned)(h % PDB_SHARDS);
}

static inline void pdb_version_key(unsigned shard, uint8_t key[PDB_VERSION_KEY])
{
	key[0] = 'v';
	key[1] = (uint8_t)(shard >> 8);
	key[2] = (uint8_t)shard;
}

/* The version key of the shard of the account that starts a PDB_T_DEVICES
 * key (up to its NUL). */
static inline void pdb_device_version_key(const void *key, size_t klen,
                                          uint8_t vkey[PDB_VERSION_KEY])
{
	const uint8_t *nul = memchr(key, 0, klen);
	size_t alen = nul != NULL ? (size_t)(nul - (const uint8_t *)key) : klen;
	pdb_version_key(pdb_shard(key, alen), vkey);
}

/* A fresh, never 0 device version, drawn once per writing transaction
 * (backends.c). */
uint64_t pdb_version_draw(void);

enum policydb_txn_flags {
	PDB_TXN_READ = 0,
	PDB_TXN_ROUTINE = 1u << 0, /* write routine tables */
	PDB_TXN_DURABLE = 1u << 1, /* write durable tables */
};

struct policydb_backend_params {
	const char *path;    /* the store's directory (LMDB) */
	const char *dsn;     /* the libpq connection string (PostgreSQL) */
	uint64_t map_size;   /* initial map size of each part */
	int create;          /* create the directory and files (tables) when missing */
	const char *boot_id; /* NULL: the kernel's; tests set their own */
};

struct policydb_store_stats {
	uint64_t entries[PDB_T_COUNT_];
	uint64_t bytes_durable, bytes_routine; /* pages in use * page size */
	uint64_t map_durable, map_routine;
	unsigned readers, max_readers;
};

struct policydb_check_report {
	unsigned stale_readers; /* reclaimed by this check */
	unsigned problems;
	char first_problem[CLIENTID_ERRBUF_SIZE];
};

/* Called for each entry; a non-zero return stops the scan and is returned. */
typedef int policydb_scan_fn(void *ctx, const void *key, size_t klen, const void *val, size_t vlen);

struct policydb_backend {
	const char *name;
	int (*open)(const struct policydb_backend_params *p, void **be_r, char *err_r);
	/* Closes and frees. Only in the process that opened it. */
	void (*close)(void *be);
	/* After fork(): forgets the handle without touching shared state. */
	void (*abandon)(void *be);
	int (*begin)(void *be, unsigned flags, void **txn_r);
	/* Turns the durable side of a PDB_TXN_ROUTINE transaction into a writer. */
	int (*upgrade)(void *txn);
	/* Commits the durable side (synced), then the routine side. Frees txn
	 * whatever the result. */
	int (*commit)(void *txn);
	void (*abort)(void *txn);
	/* Returns 1 and a view valid until the transaction ends, 0 if absent. */
	int (*get)(void *txn, enum policydb_table t, const void *key, size_t klen,
	           const void **val_r, size_t *vlen_r);
	int (*put)(void *txn, enum policydb_table t, const void *key, size_t klen, const void *val,
	           size_t vlen);
	/* Returns 1 when deleted, 0 if absent. */
	int (*del)(void *txn, enum policydb_table t, const void *key, size_t klen);
	/* Visits keys >= start (all when slen is 0) while their first plen bytes
	 * equal start's. Views are valid during the callback only. */
	int (*scan)(void *txn, enum policydb_table t, const void *start, size_t slen, size_t plen,
	            policydb_scan_fn *fn, void *ctx);
	/* Appends to a sequence table; *seq_r is the new key (1, 2, ...). */
	int (*append)(void *txn, enum policydb_table t, const void *val, size_t vlen,
	              uint64_t *seq_r);
	/* Grows whichever part reported CLIENTID_E_STORE_FULL. No transaction of
	 * this process may be open. */
	int (*grow)(void *be);
	int (*stats)(void *be, struct policydb_store_stats *stats_r);
	int (*check)(void *be, struct policydb_check_report *report_r);
	const char *(*last_error)(void *be);
};

extern const struct policydb_backend policydb_backend_lmdb;
#ifdef POLICYDB_HAVE_POSTGRESQL
extern const struct policydb_backend policydb_backend_postgresql;

/* Drops the store's tables from the database that dsn names, if they are
 * there: the tests' scratch stores, as LMDB's are removed with their
 * directory. Returns 0 or a CLIENTID_E_* code with a message in err_r. */
int pdb_postgresql_drop(const char *dsn, char *err_r);
#endif

/* The backend that [store] backend names (backends.c), or NULL when this
 * build has none by that name. Static: never freed. */
const struct policydb_backend *pdb_backend_find(enum clientid_store_backend which);

/* How many times this process allocated the routine map's pages on disk
 * (posix_fallocate): at creation and growth only, not at every open. For
 * tests. */
extern unsigned pdb_lmdb_fallocations;

#endif
