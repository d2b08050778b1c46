/* The store (test_store.c) as files and processes: fork, map growth, bad
 * stores, a full disk, permissions, reboots. */
#include "store_tests.h"
#include "policydb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void store_test_fork_reopens(void)
{
	struct fixture f;
	struct policydb *db = fixture_start(&f, "[policy]\nmode = learn\n");
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(fixture_decide(db, "ivy", 1, 1, T0, &v), 0);
	pid_t pid = fork();
	if (pid == 0) {
		/* The same handle in the child: it must reopen, not reuse. */
		int ok = fixture_decide(db, "ivy", 2, 1, T0 + 1, &v) == 0 &&
		         v.reason == CLIENTID_R_LEARNED;
		_exit(ok ? 0 : 1);
	}
	int status;
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL(fixture_decide(db, "ivy", 2, 1, T0 + 2, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	fixture_end(&f, &db);
}

void store_test_map_grows(void)
{
	struct fixture f;
	struct policydb *db =
	    fixture_start(&f, "[policy]\nmode = learn\n[limits]\ndevice_max_accounts = 0\n");
	struct clientid_verdict v;
	/* Routine part: 30000 traces of unknown devices, about 3 MB. */
	char account[32];
	int errors = 0;
	for (unsigned i = 0; i < 30000; i++) {
		snprintf(account, sizeof(account), "user%u@example.org", i % 1000);
		errors += fixture_decide(db, account, 100 + i, 0, T0, &v) != 0;
	}
	CU_ASSERT_EQUAL(errors, 0);
	/* Durable part: one import transaction of 20000 devices. */
	size_t cap = 20000 * 240 + 256, len = 0;
	char *json = malloc(cap);
	len += (size_t)snprintf(json, cap,
	                        "{\"format\":\"clientid-export\",\"version\":1,\"devices\":[");
	for (unsigned i = 0; i < 20000; i++) {
		struct clientid_fp fp = fixture_fp(100000 + i);
		char hex[CLIENTID_FP_HEX_LEN + 1];
		clientid_fp_hex(&fp, hex);
		len +=
		    (size_t)snprintf(json + len, cap - len,
		                     "%s{\"account\":\"acct%u@example.org\",\"fingerprint\":\"%s\","
		                     "\"state\":\"trusted\",\"type\":\"UUID\",\"first_seen\":%u,"
		                     "\"seen_day\":%u}",
		                     i ? "," : "", i, hex, T0, T0);
	}
	len += (size_t)snprintf(json + len, cap - len, "]}");
	struct policydb_import_counts c;
	CU_ASSERT_EQUAL(policydb_import(db, json, len, T0, &c), 0);
	CU_ASSERT_EQUAL(c.devices, 20000);
	free(json);
	struct policydb_stats s;
	CU_ASSERT_EQUAL(policydb_stats(db, &s), 0);
	CU_ASSERT(s.map_durable > (1u << 20));
	CU_ASSERT(s.map_routine > (1u << 20));
	CU_ASSERT_EQUAL(s.devices, 20000);
	CU_ASSERT_EQUAL(s.touches, 30000);
	/* A second process adopts the grown map. */
	struct policydb *db2 = fixture_open(&f, POLICYDB_NO_ALERTS);
	CU_ASSERT_EQUAL(fixture_decide(db2, "late", 5, 1, T0, &v), 0);
	/* Regression, routine store opened with MDB_WRITEMAP: an opener whose
	 * configured map_size (1M) is below the grown map shrank the file with
	 * ftruncate(), and the first handle died of SIGBUS when it next wrote new
	 * pages past the new end (crash rounds of test_stress.c). */
	errors = 0;
	for (unsigned i = 0; i < 5000; i++) {
		snprintf(account, sizeof(account), "user%u@example.org", i % 1000);
		errors += fixture_decide(db, account, 200000 + i, 0, T0 + 1, &v) != 0;
	}
	CU_ASSERT_EQUAL(errors, 0);
	policydb_deinit(&db2);
	fixture_end(&f, &db);
}

/* Runs fn in a child as user nobody; returns its exit status. */
static int as_nobody(int (*fn)(const struct fixture *), const struct fixture *f)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(77);
		_exit(fn(f));
	}
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

static int nobody_decides(const struct fixture *f)
{
	struct clientid_config cfg;
	char err[CLIENTID_ERRBUF_SIZE];
	if (clientid_config_load(f->conf, &cfg, err) != 0)
		return 10;
	struct policydb *db;
	if (policydb_init_config(&cfg, NULL, POLICYDB_NO_ALERTS, &db, err) != 0)
		return 11;
	struct clientid_verdict v;
	int ret = fixture_decide(db, "x", 1, 1, T0, &v);
	int ok = ret == CLIENTID_E_STORE_ACCESS && v.decision == CLIENTID_TEMPFAIL &&
	         v.reason == CLIENTID_R_STORE_ERROR &&
	         strstr(policydb_last_error(db), f->store) != NULL &&
	         strstr(policydb_last_error(db), "ermission denied") != NULL;
	if (!ok)
		fprintf(stderr, "nobody: %d %s\n", ret, policydb_last_error(db));
	policydb_deinit(&db);
	return ok ? 0 : 1;
}

void store_test_bad_store(void)
{
	struct fixture f;
	fixture_make(&f, "[store]\n");
	/* missing, without create */
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS | POLICYDB_NO_CREATE);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(fixture_decide(db, "x", 1, 1, T0, &v), CLIENTID_E_STORE_MISSING);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_TEMPFAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(policydb_last_error(db), f.store));
	policydb_deinit(&db);
	/* a file where the directory should be */
	FILE *file = fopen(f.store, "w");
	fclose(file);
	db = fixture_open(&f, POLICYDB_NO_ALERTS);
	CU_ASSERT_EQUAL(fixture_decide(db, "x", 1, 1, T0, &v), CLIENTID_E_STORE);
	CU_ASSERT_PTR_NOT_NULL(strstr(policydb_last_error(db), f.store));
	policydb_deinit(&db);
	unlink(f.store);
	/* created, then owned by root with no access for others */
	db = fixture_open(&f, POLICYDB_NO_ALERTS);
	CU_ASSERT_EQUAL(fixture_decide(db, "x", 1, 1, T0, &v), 0);
	policydb_deinit(&db);
	chmod(f.dir, 0755);
	if (getuid() == 0) {
		int rc = as_nobody(nobody_decides, &f);
		CU_ASSERT_EQUAL(rc, 0);
		/* read-only: the files readable, not writable */
		char path[400];
		const char *names[] = {"durable.mdb", "durable.mdb-lock", "routine.mdb",
		                       "routine.mdb-lock", "routine.boot-lock"};
		chmod(f.store, 0755);
		for (size_t i = 0; i < N_ELEMENTS(names); i++) {
			snprintf(path, sizeof(path), "%s/%s", f.store, names[i]);
			chmod(path, 0644);
		}
		CU_ASSERT_EQUAL(as_nobody(nobody_decides, &f), 0);
	} else {
		unit_skip("bad store: the cases as another user need root (to become nobody)");
	}
	/* on_error = allow fails open */
	FILE *c = fopen(f.conf, "a");
	fputs("[policy]\nmode = enforce\n", c);
	fclose(c);
	struct clientid_config cfg;
	char err[CLIENTID_ERRBUF_SIZE];
	CU_ASSERT_EQUAL_FATAL(clientid_config_load(f.conf, &cfg, err), 0);
	cfg.store_on_error = CLIENTID_STORE_ERROR_ALLOW;
	snprintf(cfg.store_path, sizeof(cfg.store_path), "%s/nowhere/deeper", f.dir);
	CU_ASSERT_EQUAL(policydb_init_config(&cfg, NULL, POLICYDB_NO_ALERTS, &db, err), 0);
	CU_ASSERT_EQUAL(fixture_decide(db, "x", 1, 1, T0, &v), CLIENTID_E_STORE_MISSING);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_ALLOW);
	CU_ASSERT(v.flags & CLIENTID_VF_FAIL_OPEN);
	CU_ASSERT_PTR_NOT_NULL(strstr(policydb_last_error(db), "nowhere"));
	CU_ASSERT_EQUAL(fixture_decide(db, "x", 1, 0, T0, &v), CLIENTID_E_STORE_MISSING);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_DENY);
	fixture_end(&f, &db);
}

/* A store handle on f's configuration with another [store] dsn: f's with
 * extra appended, or replace when it is not NULL. */
static struct policydb *open_dsn(const struct fixture *f, const char *extra, const char *replace,
                                 unsigned flags)
{
	struct clientid_config cfg;
	char err[CLIENTID_ERRBUF_SIZE];
	CU_ASSERT_EQUAL_FATAL(clientid_config_load(f->conf, &cfg, err), 0);
	if (replace != NULL)
		snprintf(cfg.store_dsn, sizeof(cfg.store_dsn), "%s", replace);
	else
		snprintf(cfg.store_dsn, sizeof(cfg.store_dsn), "%s %s", fixture_pg_dsn(), extra);
	struct policydb *db;
	CU_ASSERT_EQUAL_FATAL(policydb_init_config(&cfg, NULL, flags, &db, err), 0);
	return db;
}

/* One bad store: decide gives want, tempfails, and the message holds
 * needle but not the password. */
static void bad_pg_store(struct policydb *db, int want, const char *needle)
{
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(fixture_decide(db, "x", 1, 1, T0, &v), want);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_TEMPFAIL);
	const char *err = policydb_last_error(db);
	if (strstr(err, needle) == NULL || strstr(err, "hunter2") != NULL) {
		fprintf(stderr, "bad store: '%s' lacks '%s' or shows the password\n", err, needle);
		CU_FAIL("bad store message");
	}
	policydb_deinit(&db);
}

/* PostgreSQL's counterpart of store_test_bad_store(): a store without
 * tables, a database that does not exist, a server that is not there, a
 * password in the connection string (which config.c refuses; the backend
 * refuses it too). Registered only on PostgreSQL. */
void store_test_pg_bad_store(void)
{
	struct fixture f;
	fixture_make(&f, NULL);
	const unsigned flags = POLICYDB_NO_ALERTS;
	bad_pg_store(open_dsn(&f, "", NULL, flags | POLICYDB_NO_CREATE), CLIENTID_E_STORE_MISSING,
	             "clientidctl init");
	bad_pg_store(open_dsn(&f, "dbname=nowhere", NULL, flags), CLIENTID_E_STORE_MISSING,
	             "dbname=nowhere");
	bad_pg_store(open_dsn(&f, NULL, "host=/nonexistent/socket dbname=clientid", flags),
	             CLIENTID_E_STORE, "host=/nonexistent/socket");
	bad_pg_store(open_dsn(&f, "password=hunter2", NULL, flags), CLIENTID_E_CONFIG,
	             "[store] dsn: holds a password");
	bad_pg_store(open_dsn(&f, NULL, "host=/tmp 'unterminated password=hunter2", flags),
	             CLIENTID_E_CONFIG, "not a valid libpq connection string");
	/* And the store works after all that. */
	struct policydb *db = fixture_open(&f, flags);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(fixture_decide(db, "x", 1, 1, T0, &v), 0);
	fixture_end(&f, &db);
}

/* The server ends every session of the store (as a restart or a failover
 * does) while a handle is idle: its next transaction connects again and
 * the login is decided, not refused. Registered only on PostgreSQL. */
void store_test_pg_reconnect(void)
{
	struct fixture f;
	struct policydb *db = fixture_start(&f, "[policy]\nmode = learn\n");
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(fixture_decide(db, "rita", 1, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	/* The DSN stays in the environment, off every command line. */
	const char *terminate =
	    "\"$CLIENTID_TEST_PG_BINDIR/psql\" -X -q -t -d \"$CLIENTID_TEST_PG_DSN\" -c "
	    "\"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
	    "WHERE application_name = 'clientid'\" | grep -q '[1-9]'";
	for (int round = 0; round < 2; round++) {
		CU_ASSERT_EQUAL(system(terminate), 0);
		CU_ASSERT_EQUAL(fixture_decide(db, "rita", 1, 1, T0 + 1 + round, &v), 0);
		CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	}
	struct policydb_device_info info;
	struct clientid_fp fp = fixture_fp(1);
	CU_ASSERT_EQUAL(policydb_device_get(db, "rita", &fp, &info), 1);
	CU_ASSERT_EQUAL(info.device.successes, 3);
	fixture_end(&f, &db);
}

/* Fills the file system holding dir with one file but for one page, so
 * that the next write of several pages is cut short; returns its path in
 * path_r. */
static void fill_fs(const char *dir, char *path_r, size_t size)
{
	snprintf(path_r, size, "%s/filler", dir);
	int fd = open(path_r, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	static char buf[65536];
	for (size_t chunk = sizeof(buf); chunk >= 4096; chunk /= 16)
		while (write(fd, buf, chunk) == (ssize_t)chunk)
			;
	struct stat st;
	CU_ASSERT_FATAL(fstat(fd, &st) == 0 && ftruncate(fd, st.st_size - 4096) == 0);
	close(fd);
}

/* Regression, found by tests/reliability (disk-full): on a full file system
 * LMDB's commit writes short and returns EIO ("short write, filesystem
 * full?"), which was logged as "Input/output error"; docs/durability.md
 * says a full disk is CLIENTID_E_STORE_FULL. Needs root (a small tmpfs). */
void store_test_disk_full_short_write(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\nlearn_max_devices = 1000\n"
	                 "[limits]\ndevice_max_accounts = 0\n");
	CU_ASSERT_FATAL(mkdir(f.store, 0700) == 0);
	if (getuid() != 0 || mount("tmpfs", f.store, "tmpfs", 0, "size=3m") != 0) {
		char why[200];
		snprintf(why, sizeof(why),
		         "disk full: needs root and mount(2) for a small tmpfs (%s)",
		         getuid() != 0 ? "not root" : strerror(errno));
		unit_skip(why);
		fixture_remove(&f);
		return;
	}
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(fixture_decide(db, "acct@example.org", 1, 1, T0, &v), 0);
	char filler[400];
	fill_fs(f.store, filler, sizeof(filler));
	/* every new device is a synced durable write; one soon needs a page */
	int ret = 0;
	for (unsigned i = 2; i < 20000 && ret == 0; i++)
		ret = fixture_decide(db, "acct@example.org", i, 1, T0, &v);
	CU_ASSERT_EQUAL(ret, CLIENTID_E_STORE_FULL);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_TEMPFAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(policydb_last_error(db), "full"));
	if (ret != CLIENTID_E_STORE_FULL)
		fprintf(stderr, "disk full: %d %s\n", ret, policydb_last_error(db));
	/* room again: decisions go on */
	unlink(filler);
	CU_ASSERT_EQUAL(fixture_decide(db, "acct@example.org", 30000, 1, T0, &v), 0);
	fixture_assert_clean(db);
	policydb_deinit(&db);
	umount2(f.store, MNT_DETACH);
	fixture_remove(&f);
}

void store_test_permissions(void)
{
	struct fixture f;
	fixture_make(&f, "");
	mode_t old = umask(077); /* a strict caller: the store is still group-shared */
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(fixture_decide(db, "x", 1, 1, T0, &v), 0);
	umask(old);
	struct stat st;
	CU_ASSERT_EQUAL(stat(f.store, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 02770);
	const char *names[] = {"durable.mdb", "durable.mdb-lock", "routine.mdb", "routine.mdb-lock",
	                       "routine.boot-lock"};
	for (size_t i = 0; i < N_ELEMENTS(names); i++) {
		char path[400];
		snprintf(path, sizeof(path), "%s/%s", f.store, names[i]);
		CU_ASSERT_EQUAL(stat(path, &st), 0);
		CU_ASSERT_EQUAL(st.st_mode & 0777, 0660);
	}
	fixture_end(&f, &db);
}

void store_test_reboot_discards_routine(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\n");
	setenv("CLIENTID_TEST_BOOT_ID", "boot-one", 1);
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(fixture_decide(db, "jo", 1, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(fixture_decide(db, "jo", 1, 0, T0 + 1, &v), 0);
	policydb_deinit(&db);
	setenv("CLIENTID_TEST_BOOT_ID", "boot-two", 1);
	db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct policydb_device_info info;
	struct clientid_fp fp = fixture_fp(1);
	CU_ASSERT_EQUAL(policydb_device_get(db, "jo", &fp, &info), 1);
	CU_ASSERT_EQUAL(info.durable, 1); /* the decision survives */
	CU_ASSERT_EQUAL(info.device.state, CLIENTID_DEV_TRUSTED);
	CU_ASSERT_EQUAL(info.touched, 0); /* the routine trace does not */
	CU_ASSERT_EQUAL(fixture_decide(db, "jo", 1, 1, T0 + 2, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	policydb_deinit(&db);
	unsetenv("CLIENTID_TEST_BOOT_ID");
	fixture_remove(&f);
}

/* Issue 13 (lower): every open (every Exim connection) allocated the whole
 * routine map again. Only creation and growth do now. */
void store_test_fallocate_once(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\n");
	struct clientid_verdict v;
	unsigned before = pdb_lmdb_fallocations;
	for (unsigned i = 0; i < 5; i++) {
		struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
		CU_ASSERT_EQUAL(fixture_decide(db, "fa", 1, 1, T0 + i, &v), 0);
		policydb_deinit(&db);
	}
	CU_ASSERT_EQUAL(pdb_lmdb_fallocations - before, 1);
	fixture_remove(&f);
}
