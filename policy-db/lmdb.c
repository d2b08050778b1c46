/* The LMDB backend: the only file of the project that includes <lmdb.h>.
 *
 * The store is two LMDB environments in one directory:
 *   durable.mdb  default LMDB durability: every commit is fsynced;
 *   routine.mdb  MDB_NOSYNC: commits reach the page cache only.
 * A process crash loses nothing committed in either. An operating-system
 * crash can lose or damage routine.mdb (LMDB's NOSYNC may reuse pages that
 * the last synced state still needs), so routine.mdb records the kernel's
 * boot id and is thrown away, under a file lock, by the first opener after a
 * reboot. docs/durability.md explains what that costs. */
#include "backend.h"
#include "clientid-config.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define PART_DURABLE 0
#define PART_ROUTINE 1
#define MAX_READERS  1022
#define BOOT_ID_LEN  36
/* Less room than this on the store's file system counts as full. */
#define FS_FULL_SLACK (1024u * 1024u)

static const char *const table_names[PDB_T_COUNT_] = {
    [PDB_T_META] = "meta",         [PDB_T_DEVICES] = "devices",   [PDB_T_BANS] = "bans",
    [PDB_T_ACCOUNTS] = "accounts", [PDB_T_EVENTS] = "events",     [PDB_T_RMETA] = "meta",
    [PDB_T_TOUCH] = "touch",       [PDB_T_COUNTERS] = "counters",
};

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

static int routine_resize(struct lmdb_be *be, struct part *p, int grow);

struct lmdb_txn {
	struct lmdb_be *be;
	MDB_txn *txn[2];
	int write[2];
	uint64_t version; /* of the device shards this transaction writes; 0: none yet */
};

static struct part *part_of(struct lmdb_be *be, enum policydb_table t)
{
	return &be->part[PDB_TABLE_DURABLE(t) ? PART_DURABLE : PART_ROUTINE];
}

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
static int lmdb_error(struct lmdb_be *be, struct part *p, int rc, const char *what)
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

static int read_boot_id(const char *override, char out[BOOT_ID_LEN + 1])
{
	if (override != NULL) {
		snprintf(out, BOOT_ID_LEN + 1, "%s", override);
		return 0;
	}
	out[0] = '\0';
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (f == NULL)
		return -1;
	int ok = fgets(out, BOOT_ID_LEN + 1, f) != NULL;
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	return ok ? 0 : -1;
}

static void set_group_mode(const char *file)
{
	struct stat st;
	if (stat(file, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 0777) != 0660)
		(void)chmod(file, 0660);
}

static int open_dbis(struct lmdb_be *be, struct part *p, int routine)
{
	int first = routine ? PDB_T_RMETA : PDB_T_META;
	int last = routine ? PDB_T_COUNT_ : PDB_T_RMETA;
	for (int pass = 0; pass < 2; pass++) {
		/* Usually they exist: a read transaction avoids the writer lock. */
		MDB_txn *txn;
		int rc = mdb_txn_begin(p->env, NULL, pass == 0 ? MDB_RDONLY : 0, &txn);
		if (rc != 0)
			return lmdb_error(be, p, rc, "begin");
		for (int t = first; t < last && rc == 0; t++) {
			unsigned flags = pass == 0 ? 0 : MDB_CREATE;
			rc = mdb_dbi_open(txn, table_names[t], flags, &p->dbi[t]);
		}
		if (rc == MDB_NOTFOUND && pass == 0) {
			mdb_txn_abort(txn);
			continue;
		}
		if (rc != 0) {
			mdb_txn_abort(txn);
			return lmdb_error(be, p, rc, "open tables");
		}
		rc = mdb_txn_commit(txn);
		if (rc != 0)
			return lmdb_error(be, p, rc, "open tables");
		return 0;
	}
	return 0;
}

static void part_close(struct part *p)
{
	if (p->env != NULL)
		mdb_env_close(p->env);
	p->env = NULL;
}

/* The routine part is disposable (see above), so it takes MDB_WRITEMAP:
 * commits write into the map instead of copying pages. But LMDB then
 * ftruncate()s the file to the map size at every open and resize, and a page
 * of a shared mapping past the end of its file, or of a sparse file on a full
 * disk, kills the process that touches it with SIGBUS. So:
 * - the file never shrinks: routine.mdb is opened, and grown, only under the
 *   routine.boot-lock flock, with a map no smaller than the file
 *   (regression: test_map_grows in tests/policy-db/test_store.c);
 * - every page of the map is allocated on disk, here, so a full disk is
 *   CLIENTID_E_STORE_FULL at open or growth, never a signal at a commit. */
unsigned pdb_lmdb_fallocations;

static int routine_map_backed(struct lmdb_be *be, struct part *p)
{
	int fd;
	MDB_envinfo info;
	if (mdb_env_get_fd(p->env, &fd) != 0 || mdb_env_info(p->env, &info) != 0)
		return lmdb_error(be, p, EINVAL, "map");
	pdb_lmdb_fallocations++;
	int rc = posix_fallocate(fd, 0, (off_t)info.me_mapsize);
	if (rc == 0)
		return 0;
	snprintf(be->err, sizeof(be->err), "%s: cannot allocate %zu bytes: %s", p->file,
	         info.me_mapsize, strerror(rc));
	return rc == ENOSPC || rc == EDQUOT ? CLIENTID_E_STORE_FULL : CLIENTID_E_IO;
}

/* Whether the routine file, as stat() saw it before the open, already had
 * every page of a map_size map allocated. */
static int routine_was_backed(int existed, const struct stat *st, size_t map_size)
{
	return existed && (uint64_t)st->st_size >= map_size &&
	       (uint64_t)st->st_blocks * 512 >= (uint64_t)st->st_size;
}

static int part_open(struct lmdb_be *be, struct part *p, const char *name, int routine,
                     const struct policydb_backend_params *params)
{
	snprintf(p->file, sizeof(p->file), "%s/%s.mdb", params->path, name);
	struct stat st;
	int existed = stat(p->file, &st) == 0;
	if (!existed && !params->create) {
		snprintf(be->err, sizeof(be->err), "%s: no policy store here: %s", p->file,
		         strerror(errno));
		return errno == ENOENT ? CLIENTID_E_STORE_MISSING
		                       : lmdb_error(be, p, errno, "stat");
	}
	int rc = mdb_env_create(&p->env);
	if (rc != 0)
		return lmdb_error(be, p, rc, "create environment");
	mdb_env_set_maxdbs(p->env, PDB_T_COUNT_);
	mdb_env_set_maxreaders(p->env, MAX_READERS);
	/* The routine part never shrinks: see routine_map_backed(). */
	size_t map_size = params->map_size;
	if (routine && existed && (uint64_t)st.st_size > map_size)
		map_size = (size_t)st.st_size;
	mdb_env_set_mapsize(p->env, map_size);
	unsigned flags =
	    MDB_NOSUBDIR | MDB_NOTLS | (routine ? MDB_NOSYNC | MDB_WRITEMAP | MDB_MAPASYNC : 0);
	/* Group read-write whatever the caller's umask: dovecot and Debian-exim
	 * share the store through group clientid. */
	mode_t old = umask(0007);
	rc = mdb_env_open(p->env, p->file, flags, 0660);
	umask(old);
	if (rc != 0) {
		int code = lmdb_error(be, p, rc, "open");
		mdb_env_close(p->env);
		p->env = NULL;
		return code;
	}
	if (!existed) {
		char lock[sizeof(p->file) + 8];
		snprintf(lock, sizeof(lock), "%s-lock", p->file);
		set_group_mode(p->file);
		set_group_mode(lock);
	}
	/* Every opener runs this under routine.boot-lock; the allocation is
	 * needed only when this open grew the file, or when an earlier one
	 * failed to allocate it all (then fewer blocks than bytes). */
	if (routine && !routine_was_backed(existed, &st, map_size) &&
	    (rc = routine_map_backed(be, p)) != 0) {
		part_close(p);
		return rc;
	}
	int dead;
	mdb_reader_check(p->env, &dead);
	return open_dbis(be, p, routine);
}

/* Returns 1 when routine.mdb was written during this boot (or is new). */
static int routine_boot_matches(struct lmdb_be *be, const char *boot_id)
{
	struct part *p = &be->part[PART_ROUTINE];
	MDB_txn *txn;
	if (mdb_txn_begin(p->env, NULL, MDB_RDONLY, &txn) != 0)
		return 0;
	MDB_val k = {7, (void *)"boot_id"}, v;
	int rc = mdb_get(txn, p->dbi[PDB_T_RMETA], &k, &v);
	int match = rc == MDB_NOTFOUND || (rc == 0 && v.mv_size == strlen(boot_id) &&
	                                   memcmp(v.mv_data, boot_id, v.mv_size) == 0);
	int absent = rc == MDB_NOTFOUND;
	mdb_txn_abort(txn);
	return match ? (absent ? 2 : 1) : 0;
}

/* Takes routine.boot-lock in dir, under which routine.mdb is opened, thrown
 * away after a reboot, and grown. Returns its descriptor, or a negative
 * CLIENTID_E_* code with be->err set. */
static int routine_lock(struct lmdb_be *be, const char *dir)
{
	char lockfile[CLIENTID_PATH_MAX + 32];
	snprintf(lockfile, sizeof(lockfile), "%s/routine.boot-lock", dir);
	mode_t old = umask(0007);
	int lfd = open(lockfile, O_RDWR | O_CREAT | O_CLOEXEC, 0660);
	umask(old);
	if (lfd < 0) {
		int e = errno;
		snprintf(be->err, sizeof(be->err), "%s: open: %s", lockfile, strerror(e));
		return e == EACCES || e == EPERM ? CLIENTID_E_STORE_ACCESS
		       : e == EROFS              ? CLIENTID_E_STORE_RDONLY
		       : e == ENOENT             ? CLIENTID_E_STORE_MISSING
		                                 : CLIENTID_E_IO;
	}
	set_group_mode(lockfile);
	while (flock(lfd, LOCK_EX) != 0 && errno == EINTR)
		;
	return lfd;
}

static void routine_unlock(int lfd)
{
	flock(lfd, LOCK_UN);
	close(lfd);
}

static int routine_open(struct lmdb_be *be, const struct policydb_backend_params *params)
{
	char boot_id[BOOT_ID_LEN + 1];
	if (read_boot_id(params->boot_id, boot_id) != 0)
		boot_id[0] = '\0';
	int lfd = routine_lock(be, params->path);
	if (lfd < 0)
		return lfd;
	struct part *p = &be->part[PART_ROUTINE];
	int ret = 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		ret = part_open(be, p, "routine", 1, params);
		if (ret != 0 || boot_id[0] == '\0')
			break;
		int m = routine_boot_matches(be, boot_id);
		if (m == 1)
			break;
		if (m == 0 && attempt == 0) {
			/* Written before the last boot without a final sync: it may
			 * be damaged. Its contents are routine; start afresh. */
			char lock[sizeof(p->file) + 8];
			snprintf(lock, sizeof(lock), "%s-lock", p->file);
			part_close(p);
			unlink(p->file);
			unlink(lock);
			continue;
		}
		MDB_txn *txn;
		int rc = mdb_txn_begin(p->env, NULL, 0, &txn);
		if (rc == 0) {
			MDB_val k = {7, (void *)"boot_id"}, v = {strlen(boot_id), boot_id};
			rc = mdb_put(txn, p->dbi[PDB_T_RMETA], &k, &v, 0);
			if (rc == 0)
				rc = mdb_txn_commit(txn);
			else
				mdb_txn_abort(txn);
		}
		if (rc == 0)
			rc = mdb_env_sync(p->env, 1);
		ret = lmdb_error(be, p, rc, "record boot id");
		break;
	}
	routine_unlock(lfd);
	return ret;
}

static void be_close(void *vbe)
{
	struct lmdb_be *be = vbe;
	if (be == NULL)
		return;
	part_close(&be->part[PART_DURABLE]);
	part_close(&be->part[PART_ROUTINE]);
	free(be);
}

static int be_open(const struct policydb_backend_params *params, void **be_r, char *err_r)
{
	struct lmdb_be *be = calloc(1, sizeof(*be));
	if (be == NULL) {
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "%s: out of memory", params->path);
		return CLIENTID_E_NOMEM;
	}
	snprintf(be->dir, sizeof(be->dir), "%s", params->path);
	int ret = 0;
	struct stat st;
	if (stat(params->path, &st) != 0) {
		int e = errno;
		if (e == ENOENT && params->create) {
			mode_t old = umask(0);
			int rc = mkdir(params->path, 02770);
			umask(old);
			if (rc != 0 && errno != EEXIST)
				ret = lmdb_error(be, NULL, errno, "create store directory");
			else if (rc == 0)
				(void)chmod(params->path, 02770); /* mkdir drops the setgid bit */
		} else {
			ret =
			    lmdb_error(be, NULL, e, e == ENOENT ? "no policy store here" : "stat");
		}
	} else if (!S_ISDIR(st.st_mode)) {
		snprintf(be->err, sizeof(be->err), "%s: the store path is not a directory",
		         params->path);
		ret = CLIENTID_E_STORE;
	}
	if (ret == 0)
		ret = part_open(be, &be->part[PART_DURABLE], "durable", 0, params);
	if (ret == 0)
		ret = routine_open(be, params);
	if (ret != 0) {
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "%s", be->err);
		be_close(be);
		return ret;
	}
	*be_r = be;
	return 0;
}

static void be_abandon(void *vbe)
{
	/* mdb_env_close() in a forked child would release the parent's reader
	 * slots. Leak the handle instead: it happens once per fork at most. */
	(void)vbe;
}

static int txn_begin_part(struct lmdb_be *be, struct part *p, int write, MDB_txn **txn_r)
{
	for (int tries = 0;; tries++) {
		int rc = mdb_txn_begin(p->env, NULL, write ? 0 : MDB_RDONLY, txn_r);
		if (rc == 0)
			return 0;
		if (tries < 3 && rc == MDB_MAP_RESIZED) {
			/* Another process grew the map: adopt its size. */
			if (p == &be->part[PART_ROUTINE]) {
				int ret = routine_resize(be, p, 0);
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
		return lmdb_error(be, p, rc, write ? "begin write" : "begin read");
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
	int ret = txn_begin_part(be, &be->part[PART_ROUTINE], t->write[PART_ROUTINE],
	                         &t->txn[PART_ROUTINE]);
	if (ret == 0)
		ret = txn_begin_part(be, &be->part[PART_DURABLE], t->write[PART_DURABLE],
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
	int ret = txn_begin_part(t->be, &t->be->part[PART_DURABLE], 1, &t->txn[PART_DURABLE]);
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
			ret = lmdb_error(be, &be->part[i], rc, "commit");
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
		return lmdb_error(t->be, p, rc, "get");
	*val_r = v.mv_data;
	*vlen_r = v.mv_size;
	return 1;
}

/* A fresh device version for this transaction (backend.h). Never 0. */
static uint64_t txn_version(struct lmdb_txn *t)
{
	static uint64_t counter;
	while (t->version == 0) {
		if (getrandom(&t->version, sizeof(t->version), GRND_NONBLOCK) !=
		    (ssize_t)sizeof(t->version)) {
			/* No entropy yet (early boot): unique is enough. */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			t->version = ((uint64_t)ts.tv_sec << 32 ^ (uint64_t)ts.tv_nsec) * 31 +
			             ((uint64_t)getpid() << 20) + ++counter;
		}
	}
	return t->version;
}

/* After a write of a device record: a new version of its account's shard. */
static int devices_changed(struct lmdb_txn *t, const void *key, size_t klen)
{
	const uint8_t *nul = memchr(key, 0, klen);
	size_t alen = nul != NULL ? (size_t)(nul - (const uint8_t *)key) : klen;
	uint8_t vkey[PDB_VERSION_KEY], val[PDB_VERSION_LEN];
	pdb_version_key(pdb_shard(key, alen), vkey);
	uint64_t version = txn_version(t);
	memcpy(val, &version, sizeof(val));
	struct part *p = part_of(t->be, PDB_T_META);
	MDB_val k = {sizeof(vkey), vkey}, v = {sizeof(val), val};
	int rc = mdb_put(txn_for(t, PDB_T_META), p->dbi[PDB_T_META], &k, &v, 0);
	return lmdb_error(t->be, p, rc, "put device version");
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
	return lmdb_error(t->be, p, rc, "put");
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
		return lmdb_error(t->be, p, rc, "delete");
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
	return rc == 0 ? 0 : lmdb_error(c->t->be, c->p, rc, "cursor");
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
		ret = lmdb_error(c.t->be, c.p, rc, "scan");
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
		return lmdb_error(c.t->be, c.p, rc, "last event");
	unsigned char key[8];
	for (int i = 0; i < 8; i++)
		key[i] = (unsigned char)(seq >> (56 - 8 * i));
	k = (MDB_val){8, key};
	v = (MDB_val){vlen, (void *)val};
	rc = mdb_put(txn_for(c.t, tab), c.p->dbi[tab], &k, &v, MDB_APPEND);
	if (rc != 0)
		return lmdb_error(c.t->be, c.p, rc, "append");
	*seq_r = seq;
	return 0;
}

/* Sets the map of a part to at least size, or to twice its current size
 * when size is 0. */
static int part_resize(struct lmdb_be *be, struct part *p, size_t size)
{
	MDB_envinfo info;
	mdb_env_info(p->env, &info);
	if (size == 0)
		size = info.me_mapsize * 2;
	int rc = mdb_env_set_mapsize(p->env, size);
	return rc == 0 ? 0 : lmdb_error(be, p, rc, "resize map");
}

/* The routine part's only way to change its map (see routine_map_backed()):
 * under routine.boot-lock, to the file's size, which is the largest any
 * process has set, or to twice the current map if grow is set and that is
 * larger. */
static int routine_resize(struct lmdb_be *be, struct part *p, int grow)
{
	int lfd = routine_lock(be, be->dir);
	if (lfd < 0)
		return lfd;
	struct stat st;
	MDB_envinfo info;
	int ret;
	if (stat(p->file, &st) != 0) {
		ret = lmdb_error(be, p, errno, "stat");
	} else {
		mdb_env_info(p->env, &info);
		size_t size = (size_t)st.st_size;
		if (grow && info.me_mapsize * 2 > size)
			size = info.me_mapsize * 2;
		ret = part_resize(be, p, size);
	}
	if (ret == 0)
		ret = routine_map_backed(be, p);
	routine_unlock(lfd);
	return ret;
}

static int be_grow(void *vbe)
{
	struct lmdb_be *be = vbe;
	int grown = 0;
	for (int i = 0; i < 2; i++) {
		struct part *p = &be->part[i];
		if (!p->full)
			continue;
		int ret = i == PART_ROUTINE ? routine_resize(be, p, 1) : part_resize(be, p, 0);
		if (ret != 0)
			return ret;
		p->full = 0;
		grown = 1;
	}
	if (!grown) {
		snprintf(be->err, sizeof(be->err), "%s: store is full and cannot grow", be->dir);
		return CLIENTID_E_STORE_FULL;
	}
	return 0;
}

static int be_stats(void *vbe, struct policydb_store_stats *s)
{
	struct lmdb_be *be = vbe;
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 2; i++) {
		struct part *p = &be->part[i];
		MDB_txn *txn;
		int ret = txn_begin_part(be, p, 0, &txn);
		if (ret != 0)
			return ret;
		uint64_t pages = 0;
		MDB_stat st;
		for (int tab = 0; tab < PDB_T_COUNT_; tab++) {
			if ((PDB_TABLE_DURABLE(tab) ? 0 : 1) != i)
				continue;
			if (mdb_stat(txn, p->dbi[tab], &st) == 0) {
				s->entries[tab] = st.ms_entries;
				pages +=
				    st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
			}
		}
		mdb_stat(txn, 0, &st); /* the freelist */
		pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages + 2;
		MDB_envinfo info;
		mdb_env_info(p->env, &info);
		if (i == PART_DURABLE) {
			s->bytes_durable = pages * st.ms_psize;
			s->map_durable = info.me_mapsize;
		} else {
			s->bytes_routine = pages * st.ms_psize;
			s->map_routine = info.me_mapsize;
		}
		s->readers += info.me_numreaders;
		s->max_readers = info.me_maxreaders;
		mdb_txn_abort(txn);
	}
	return 0;
}

static int walk_fn(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	(void)key;
	(void)val;
	(void)klen;
	(void)vlen;
	(*(uint64_t *)ctx)++;
	return 0;
}

static int be_check(void *vbe, struct policydb_check_report *r)
{
	struct lmdb_be *be = vbe;
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 2; i++) {
		int dead = 0;
		int rc = mdb_reader_check(be->part[i].env, &dead);
		if (rc != 0)
			return lmdb_error(be, &be->part[i], rc, "reader check");
		r->stale_readers += (unsigned)dead;
	}
	/* Walk every table: LMDB reports broken pages as it meets them. */
	void *txn;
	int ret = be_begin(be, PDB_TXN_READ, &txn);
	if (ret != 0)
		return ret;
	for (int tab = 0; tab < PDB_T_COUNT_; tab++) {
		uint64_t n = 0;
		ret = be_scan(txn, (enum policydb_table)tab, NULL, 0, 0, walk_fn, &n);
		if (ret != 0) {
			if (r->problems++ == 0)
				snprintf(r->first_problem, sizeof(r->first_problem), "%s", be->err);
		}
	}
	be_abort(txn);
	return 0;
}

static const char *be_last_error(void *vbe)
{
	return ((struct lmdb_be *)vbe)->err;
}

const struct policydb_backend policydb_backend_lmdb = {
    .name = "lmdb",
    .open = be_open,
    .close = be_close,
    .abandon = be_abandon,
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
