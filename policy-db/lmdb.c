/* The LMDB backend's transactions and records, its error mapping and its
 * operations table (backend.h). See lmdb-private.h. */
#include "lmdb-private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

/* 1 when the file system holding dir has less than FS_FULL_SLACK left for
 * an unprivileged writer (the Exim module runs as one). */
static int fs_full(const char *dir)
{
	struct statvfs st;
	if (statvfs(dir, &st) != 0)
		return 0;
	return (unsigned long long)st.f_bavail * st.f_frsize < FS_FULL_SLACK;
}

/* The one translation of LMDB's errors into the project's. */
int pdb_lmdb_error(struct lmdb_be *be, struct part *p, int rc, const char *what)
{
	int code;
	const char *hint = "";
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_MAP_FULL:
		if (p != NULL)
			p->full = 1;
		code = CLIENTID_E_STORE_FULL;
		break;
	case ENOSPC:
	case EDQUOT:
		code = CLIENTID_E_STORE_FULL;
		hint = " (the file system is full)";
		break;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_BAD_DBI:
		code = CLIENTID_E_STORE_CORRUPT;
		hint = " (run: clientidctl check)";
		break;
	case MDB_VERSION_MISMATCH:
		code = CLIENTID_E_STORE_VERSION;
		break;
	case EACCES:
	case EPERM:
		code = CLIENTID_E_STORE_ACCESS;
		hint = " (the store's directory and files must be readable and writable by this "
		       "user or its group, e.g. group clientid, directory 2770, files 0660)";
		break;
	case EROFS:
		code = CLIENTID_E_STORE_RDONLY;
		break;
	case ENOENT:
		code = CLIENTID_E_STORE_MISSING;
		break;
	case ENOMEM:
		code = CLIENTID_E_NOMEM;
		break;
	case EIO:
		/* LMDB turns a short write into EIO ("short write, filesystem
		 * full?"): that is what a full disk gives a commit. */
		if (fs_full(be->dir)) {
			code = CLIENTID_E_STORE_FULL;
			hint = " (a short write: the file system is full)";
		} else
			code = CLIENTID_E_IO;
		break;
	default:
		code = CLIENTID_E_STORE;
	}
	snprintf(be->err, sizeof(be->err), "%s: %s: %s%s", p != NULL ? p->file : be->dir, what,
	         mdb_strerror(rc), hint);
	return code;
}

int pdb_lmdb_txn_begin_part(struct lmdb_be *be, struct part *p, int write, MDB_txn **txn_r)
{
	for (int tries = 0;; tries++) {
		int rc = mdb_txn_begin(p->env, NULL, write ? 0 : MDB_RDONLY, txn_r);
		if (rc == 0)
			return 0;
		if (tries < 3 && rc == MDB_MAP_RESIZED) {
			/* Another process grew the map: adopt its size. */
			if (p == &be->part[PART_ROUTINE]) {
				int ret = pdb_lmdb_routine_resize(be, p, 0);
				if (ret != 0)
					return ret;
			} else {
				mdb_env_set_mapsize(p->env, 0);
			}
			continue;
		}
		if (tries < 3 && rc == MDB_READERS_FULL) {
			int dead;
			mdb_reader_check(p->env, &dead);
			continue;
		}
		return pdb_lmdb_error(be, p, rc, write ? "begin write" : "begin read");
	}
}

static void be_abort(void *vtxn)
{
	struct lmdb_txn *t = vtxn;
	if (t == NULL)
		return;
	/* Routine first: the reverse of the order the locks were taken. */
	for (int i = 1; i >= 0; i--) {
		if (t->txn[i] != NULL)
			mdb_txn_abort(t->txn[i]);
	}
	free(t);
}

static int be_begin(void *vbe, unsigned flags, void **txn_r)
{
	struct lmdb_be *be = vbe;
	struct lmdb_txn *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return CLIENTID_E_NOMEM;
	t->be = be;
	t->write[PART_ROUTINE] = (flags & PDB_TXN_ROUTINE) != 0;
	t->write[PART_DURABLE] = (flags & PDB_TXN_DURABLE) != 0;
	/* Lock order: routine writer, then durable writer. */
	int ret = pdb_lmdb_txn_begin_part(be, &be->part[PART_ROUTINE], t->write[PART_ROUTINE],
	                                  &t->txn[PART_ROUTINE]);
	if (ret == 0)
		ret = pdb_lmdb_txn_begin_part(be, &be->part[PART_DURABLE], t->write[PART_DURABLE],
		                              &t->txn[PART_DURABLE]);
	if (ret != 0) {
		be_abort(t);
		return ret;
	}
	*txn_r = t;
	return 0;
}

static int be_upgrade(void *vtxn)
{
	struct lmdb_txn *t = vtxn;
	if (t->write[PART_DURABLE])
		return 0;
	mdb_txn_abort(t->txn[PART_DURABLE]);
	t->txn[PART_DURABLE] = NULL;
	int ret =
	    pdb_lmdb_txn_begin_part(t->be, &t->be->part[PART_DURABLE], 1, &t->txn[PART_DURABLE]);
	if (ret == 0)
		t->write[PART_DURABLE] = 1;
	return ret;
}

static int be_commit(void *vtxn)
{
	struct lmdb_txn *t = vtxn;
	struct lmdb_be *be = t->be;
	int ret = 0;
	/* Durable first: once the routine side is committed too, nothing of
	 * this decision is missing; if we die in between, only counts are. */
	for (int i = 0; i < 2; i++) {
		MDB_txn *txn = t->txn[i];
		t->txn[i] = NULL;
		if (txn == NULL)
			continue;
		if (!t->write[i] || ret != 0) {
			mdb_txn_abort(txn);
			continue;
		}
		int rc = mdb_txn_commit(txn);
		if (rc != 0)
			ret = pdb_lmdb_error(be, &be->part[i], rc, "commit");
	}
	free(t);
	return ret;
}

static MDB_txn *txn_for(struct lmdb_txn *t, enum policydb_table tab)
{
	return t->txn[PDB_TABLE_DURABLE(tab) ? PART_DURABLE : PART_ROUTINE];
}

static int be_get(void *vtxn, enum policydb_table tab, const void *key, size_t klen,
                  const void **val_r, size_t *vlen_r)
{
	struct lmdb_txn *t = vtxn;
	struct part *p = part_of(t->be, tab);
	MDB_val k = {klen, (void *)key}, v;
	int rc = mdb_get(txn_for(t, tab), p->dbi[tab], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return pdb_lmdb_error(t->be, p, rc, "get");
	*val_r = v.mv_data;
	*vlen_r = v.mv_size;
	return 1;
}

/* After a write of a device record: a new version of its account's shard,
 * drawn once per transaction (backend.h). */
static int devices_changed(struct lmdb_txn *t, const void *key, size_t klen)
{
	uint8_t vkey[PDB_VERSION_KEY], val[PDB_VERSION_LEN];
	pdb_device_version_key(key, klen, vkey);
	if (t->version == 0)
		t->version = pdb_version_draw();
	memcpy(val, &t->version, sizeof(val));
	struct part *p = part_of(t->be, PDB_T_META);
	MDB_val k = {sizeof(vkey), vkey}, v = {sizeof(val), val};
	int rc = mdb_put(txn_for(t, PDB_T_META), p->dbi[PDB_T_META], &k, &v, 0);
	return pdb_lmdb_error(t->be, p, rc, "put device version");
}

static int be_put(void *vtxn, enum policydb_table tab, const void *key, size_t klen,
                  const void *val, size_t vlen)
{
	struct lmdb_txn *t = vtxn;
	struct part *p = part_of(t->be, tab);
	MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
	int rc = mdb_put(txn_for(t, tab), p->dbi[tab], &k, &v, 0);
	if (rc == 0 && tab == PDB_T_DEVICES)
		return devices_changed(t, key, klen);
	return pdb_lmdb_error(t->be, p, rc, "put");
}

static int be_del(void *vtxn, enum policydb_table tab, const void *key, size_t klen)
{
	struct lmdb_txn *t = vtxn;
	struct part *p = part_of(t->be, tab);
	MDB_val k = {klen, (void *)key};
	int rc = mdb_del(txn_for(t, tab), p->dbi[tab], &k, NULL);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc == 0 && tab == PDB_T_DEVICES)
		rc = devices_changed(t, key, klen);
	else if (rc != 0)
		return pdb_lmdb_error(t->be, p, rc, "delete");
	return rc == 0 ? 1 : rc;
}

/* A cursor on table tab of a transaction, with the transaction and the
 * part that holds the table. The caller closes c->cur. */
struct lmdb_cursor {
	struct lmdb_txn *t;
	struct part *p;
	MDB_cursor *cur;
};

static int cursor_open(void *vtxn, enum policydb_table tab, struct lmdb_cursor *c)
{
	c->t = vtxn;
	c->p = part_of(c->t->be, tab);
	int rc = mdb_cursor_open(txn_for(c->t, tab), c->p->dbi[tab], &c->cur);
	return rc == 0 ? 0 : pdb_lmdb_error(c->t->be, c->p, rc, "cursor");
}

static int be_scan(void *vtxn, enum policydb_table tab, const void *start, size_t slen, size_t plen,
                   policydb_scan_fn *fn, void *ctx)
{
	struct lmdb_cursor c;
	int rc = cursor_open(vtxn, tab, &c);
	if (rc != 0)
		return rc;
	MDB_val k = {slen, (void *)start}, v;
	rc = mdb_cursor_get(c.cur, &k, &v, slen > 0 ? MDB_SET_RANGE : MDB_FIRST);
	int ret = 0;
	while (rc == 0) {
		if (plen > 0 && (k.mv_size < plen || memcmp(k.mv_data, start, plen) != 0))
			break;
		ret = fn(ctx, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
		if (ret != 0)
			break;
		rc = mdb_cursor_get(c.cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c.cur);
	if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND)
		ret = pdb_lmdb_error(c.t->be, c.p, rc, "scan");
	return ret;
}

static int be_append(void *vtxn, enum policydb_table tab, const void *val, size_t vlen,
                     uint64_t *seq_r)
{
	struct lmdb_cursor c;
	int rc = cursor_open(vtxn, tab, &c);
	if (rc != 0)
		return rc;
	MDB_val k, v;
	uint64_t seq = 1;
	rc = mdb_cursor_get(c.cur, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size == 8) {
		const unsigned char *b = k.mv_data;
		uint64_t last = 0;
		for (int i = 0; i < 8; i++)
			last = last << 8 | b[i];
		seq = last + 1;
	}
	mdb_cursor_close(c.cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return pdb_lmdb_error(c.t->be, c.p, rc, "last event");
	unsigned char key[8];
	for (int i = 0; i < 8; i++)
		key[i] = (unsigned char)(seq >> (56 - 8 * i));
	k = (MDB_val){8, key};
	v = (MDB_val){vlen, (void *)val};
	rc = mdb_put(txn_for(c.t, tab), c.p->dbi[tab], &k, &v, MDB_APPEND);
	if (rc != 0)
		return pdb_lmdb_error(c.t->be, c.p, rc, "append");
	*seq_r = seq;
	return 0;
}

static const char *be_last_error(void *vbe)
{
	return ((struct lmdb_be *)vbe)->err;
}

const struct policydb_backend policydb_backend_lmdb = {
    .name = "lmdb",
    .open = pdb_lmdb_open,
    .close = pdb_lmdb_close,
    .abandon = pdb_lmdb_abandon,
    .begin = be_begin,
    .upgrade = be_upgrade,
    .commit = be_commit,
    .abort = be_abort,
    .get = be_get,
    .put = be_put,
    .del = be_del,
    .scan = be_scan,
    .append = be_append,
    .grow = pdb_lmdb_grow,
    .stats = pdb_lmdb_stats,
    .check = pdb_lmdb_check,
    .last_error = be_last_error,
};
