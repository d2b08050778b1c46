/* The LMDB backend, shared by its two files: lmdb.c (error mapping,
 * transactions, records) and lmdb-env.c (environments: open, close,
 * growth, statistics, check). These and this header are the only places of
 * the project that include <lmdb.h>.
 *
 * The store is two LMDB environments in one directory:
 *   durable.mdb  default LMDB durability: every commit is fsynced;
 *   routine.mdb  MDB_NOSYNC: commits reach the page cache only.
 * A process crash loses nothing committed in either. An operating-system
 * crash can lose or damage routine.mdb (LMDB's NOSYNC may reuse pages that
 * the last synced state still needs), so routine.mdb records the kernel's
 * boot id and is thrown away, under a file lock, by the first opener after a
 * reboot. docs/durability.md explains what that costs. Not installed. */
#ifndef POLICYDB_LMDB_PRIVATE_H
#define POLICYDB_LMDB_PRIVATE_H

#include <lmdb.h>
#include <stdint.h>

#include "backend.h"
#include "clientid-config.h"

#define PART_DURABLE 0
#define PART_ROUTINE 1
#define MAX_READERS  1022
#define BOOT_ID_LEN  36
/* Less room than this on the store's file system counts as full. */
#define FS_FULL_SLACK (1024u * 1024u)

struct part {
	MDB_env *env;
	MDB_dbi dbi[PDB_T_COUNT_];
	char file[CLIENTID_PATH_MAX + 32];
	int full; /* the last MDB_MAP_FULL came from here */
};

struct lmdb_be {
	struct part part[2];
	char dir[CLIENTID_PATH_MAX];
	char err[CLIENTID_ERRBUF_SIZE];
};

struct lmdb_txn {
	struct lmdb_be *be;
	MDB_txn *txn[2];
	int write[2];
	uint64_t version; /* of the device shards this transaction writes; 0: none yet */
};

static inline struct part *part_of(struct lmdb_be *be, enum policydb_table t)
{
	return &be->part[PDB_TABLE_DURABLE(t) ? PART_DURABLE : PART_ROUTINE];
}

/* The one translation of LMDB's errors into the project's (lmdb.c): returns
 * the CLIENTID_E_* code for rc and leaves the message, naming the file and
 * what failed, in be->err. p may be NULL (then the directory is named). */
int pdb_lmdb_error(struct lmdb_be *be, struct part *p, int rc, const char *what);

/* Begins a transaction on one part (write: as its writer), resizing the
 * routine map first when another process grew it. */
int pdb_lmdb_txn_begin_part(struct lmdb_be *be, struct part *p, int write, MDB_txn **txn_r);

/* lmdb-env.c: the backend's environment operations (backend.h). */
int pdb_lmdb_open(const struct policydb_backend_params *params, void **be_r, char *err_r);
void pdb_lmdb_close(void *be);
void pdb_lmdb_abandon(void *be);
int pdb_lmdb_grow(void *be);
int pdb_lmdb_stats(void *be, struct policydb_store_stats *stats_r);
int pdb_lmdb_check(void *be, struct policydb_check_report *report_r);
/* Resizes the routine map to what its file holds (grow 0, after another
 * process grew it) or grows it (grow 1). */
int pdb_lmdb_routine_resize(struct lmdb_be *be, struct part *p, int grow);

#endif
