/* The LMDB backend's environments: opening both parts of the store (and
 * throwing routine.mdb away after a reboot), closing, growing, statistics
 * and the check. See lmdb-private.h. */
#include "lmdb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const table_names[PDB_T_COUNT_] = {
    [PDB_T_META] = "meta",         [PDB_T_DEVICES] = "devices",   [PDB_T_BANS] = "bans",
    [PDB_T_ACCOUNTS] = "accounts", [PDB_T_EVENTS] = "events",     [PDB_T_RMETA] = "meta",
    [PDB_T_TOUCH] = "touch",       [PDB_T_COUNTERS] = "counters",
};

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
			return pdb_lmdb_error(be, p, rc, "begin");
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
			return pdb_lmdb_error(be, p, rc, "open tables");
		}
		rc = mdb_txn_commit(txn);
		if (rc != 0)
			return pdb_lmdb_error(be, p, rc, "open tables");
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
		return pdb_lmdb_error(be, p, EINVAL, "map");
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
		                       : pdb_lmdb_error(be, p, errno, "stat");
	}
	int rc = mdb_env_create(&p->env);
	if (rc != 0)
		return pdb_lmdb_error(be, p, rc, "create environment");
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
		int code = pdb_lmdb_error(be, p, rc, "open");
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
		ret = pdb_lmdb_error(be, p, rc, "record boot id");
		break;
	}
	routine_unlock(lfd);
	return ret;
}

void pdb_lmdb_close(void *vbe)
{
	struct lmdb_be *be = vbe;
	if (be == NULL)
		return;
	part_close(&be->part[PART_DURABLE]);
	part_close(&be->part[PART_ROUTINE]);
	free(be);
}

int pdb_lmdb_open(const struct policydb_backend_params *params, void **be_r, char *err_r)
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
				ret = pdb_lmdb_error(be, NULL, errno, "create store directory");
			else if (rc == 0)
				(void)chmod(params->path, 02770); /* mkdir drops the setgid bit */
		} else {
			ret = pdb_lmdb_error(be, NULL, e,
			                     e == ENOENT ? "no policy store here" : "stat");
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
		pdb_lmdb_close(be);
		return ret;
	}
	*be_r = be;
	return 0;
}

void pdb_lmdb_abandon(void *vbe)
{
	/* mdb_env_close() in a forked child would release the parent's reader
	 * slots. Leak the handle instead: it happens once per fork at most. */
	(void)vbe;
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
	return rc == 0 ? 0 : pdb_lmdb_error(be, p, rc, "resize map");
}

/* The routine part's only way to change its map (see routine_map_backed()):
 * under routine.boot-lock, to the file's size, which is the largest any
 * process has set, or to twice the current map if grow is set and that is
 * larger. */
int pdb_lmdb_routine_resize(struct lmdb_be *be, struct part *p, int grow)
{
	int lfd = routine_lock(be, be->dir);
	if (lfd < 0)
		return lfd;
	struct stat st;
	MDB_envinfo info;
	int ret;
	if (stat(p->file, &st) != 0) {
		ret = pdb_lmdb_error(be, p, errno, "stat");
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

int pdb_lmdb_grow(void *vbe)
{
	struct lmdb_be *be = vbe;
	int grown = 0;
	for (int i = 0; i < 2; i++) {
		struct part *p = &be->part[i];
		if (!p->full)
			continue;
		int ret =
		    i == PART_ROUTINE ? pdb_lmdb_routine_resize(be, p, 1) : part_resize(be, p, 0);
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

int pdb_lmdb_stats(void *vbe, struct policydb_store_stats *s)
{
	struct lmdb_be *be = vbe;
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 2; i++) {
		struct part *p = &be->part[i];
		MDB_txn *txn;
		int ret = pdb_lmdb_txn_begin_part(be, p, 0, &txn);
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

int pdb_lmdb_check(void *vbe, struct policydb_check_report *r)
{
	struct lmdb_be *be = vbe;
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 2; i++) {
		int dead = 0;
		int rc = mdb_reader_check(be->part[i].env, &dead);
		if (rc != 0)
			return pdb_lmdb_error(be, &be->part[i], rc, "reader check");
		r->stale_readers += (unsigned)dead;
	}
	/* Walk every table: LMDB reports broken pages as it meets them. */
	void *txn;
	int ret = policydb_backend_lmdb.begin(be, PDB_TXN_READ, &txn);
	if (ret != 0)
		return ret;
	for (int tab = 0; tab < PDB_T_COUNT_; tab++) {
		uint64_t n = 0;
		ret = policydb_backend_lmdb.scan(txn, (enum policydb_table)tab, NULL, 0, 0, walk_fn,
		                                 &n);
		if (ret != 0) {
			if (r->problems++ == 0)
				snprintf(r->first_problem, sizeof(r->first_problem), "%s", be->err);
		}
	}
	policydb_backend_lmdb.abort(txn);
	return 0;
}
