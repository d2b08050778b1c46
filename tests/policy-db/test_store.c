/* The store: decisions recorded and read back, administration, fork,
 * map growth, bad stores, reboot handling, schema, import/export, alerts. */
#include "fixture.h"
#include "policydb-private.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#define T0 1800000000u

static int decide(struct policydb *db, const char *account, unsigned dev, int ok, uint64_t now,
                  struct clientid_verdict *v)
{
	struct clientid_fp fp;
	struct clientid_attempt a = fixture_attempt(account, dev, ok, now, &fp);
	return policydb_decide(db, &a, v);
}

/* decide() from another address than the fixture's 192.0.2.10. */
static int decide_from(struct policydb *db, const char *ip, const char *account, unsigned dev,
                       int ok, uint64_t now, struct clientid_verdict *v)
{
	struct clientid_fp fp;
	struct clientid_attempt a = fixture_attempt(account, dev, ok, now, &fp);
	CU_ASSERT_EQUAL_FATAL(clientid_ip_parse(ip, &a.ip), 0);
	return policydb_decide(db, &a, v);
}

static struct clientid_fp fp_of(unsigned dev)
{
	struct clientid_fp fp;
	(void)fixture_attempt("x", dev, 1, 0, &fp);
	return fp;
}

static void test_learn_then_trusted(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(decide(db, "alice", 1, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_ALLOW);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	CU_ASSERT(v.flags & CLIENTID_VF_NEW_DEVICE);
	CU_ASSERT_EQUAL(decide(db, "alice", 1, 1, T0 + 1, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	CU_ASSERT_EQUAL(decide(db, "alice", 1, 0, T0 + 2, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_AUTH_FAILED);
	struct policydb_device_info info;
	struct clientid_fp fp = fp_of(1);
	CU_ASSERT_EQUAL(policydb_device_get(db, "alice", &fp, &info), 1);
	CU_ASSERT_EQUAL(info.device.state, CLIENTID_DEV_TRUSTED);
	CU_ASSERT_EQUAL(info.device.successes, 2);
	CU_ASSERT_EQUAL(info.device.failures, 1);
	CU_ASSERT_EQUAL(info.device.last_seen, T0 + 2);
	CU_ASSERT_STRING_EQUAL(info.device.type, "UUID");
	/* One event: the new device. */
	struct policydb_stats s;
	CU_ASSERT_EQUAL(policydb_stats(db, &s), 0);
	CU_ASSERT_EQUAL(s.devices, 1);
	CU_ASSERT_EQUAL(s.events, 1);
	policydb_deinit(&db);
	CU_ASSERT_PTR_NULL(db);
	fixture_remove(&f);
}

static void test_enforce_pending_approve(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = enforce\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(decide(db, "bob", 7, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_DENY);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_UNKNOWN_DEVICE);
	CU_ASSERT_EQUAL(decide(db, "bob", 7, 1, T0 + 1, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_PENDING);
	struct clientid_fp fp;
	char hex[CLIENTID_FP_HEX_LEN + 1];
	struct clientid_fp want = fp_of(7);
	clientid_fp_hex(&want, hex);
	hex[6] = '\0';
	CU_ASSERT_EQUAL(policydb_device_resolve(db, "bob", hex, &fp), 0);
	CU_ASSERT(memcmp(&fp, &want, sizeof(fp)) == 0);
	CU_ASSERT_EQUAL(policydb_device_resolve(db, "bob", "ffff", &fp), CLIENTID_E_NOTFOUND);
	CU_ASSERT_EQUAL(policydb_device_resolve(db, "bob", "xyz1", &fp), CLIENTID_E_INVAL);
	CU_ASSERT_EQUAL(policydb_device_set_state(db, "bob", &want, CLIENTID_DEV_TRUSTED, T0 + 2),
	                0);
	CU_ASSERT_EQUAL(decide(db, "bob", 7, 1, T0 + 3, &v), 0);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_ALLOW);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	CU_ASSERT_EQUAL(policydb_device_set_state(db, "bob", &want, CLIENTID_DEV_BLOCKED, T0 + 4),
	                0);
	CU_ASSERT_EQUAL(decide(db, "bob", 7, 1, T0 + 5, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_BLOCKED);
	CU_ASSERT_EQUAL(policydb_device_forget(db, "bob", &want, T0 + 6), 0);
	CU_ASSERT_EQUAL(policydb_device_forget(db, "bob", &want, T0 + 6), CLIENTID_E_NOTFOUND);
	struct clientid_fp other = fp_of(8);
	CU_ASSERT_EQUAL(policydb_device_set_state(db, "bob", &other, CLIENTID_DEV_TRUSTED, T0),
	                CLIENTID_E_NOTFOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(policydb_last_error(db), "bob"));
	policydb_deinit(&db);
	fixture_remove(&f);
}

static void test_revoke_and_policy(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	struct clientid_fp fp = fp_of(3);
	CU_ASSERT_EQUAL(decide(db, "carol", 3, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(policydb_revoke(db, &fp, NULL, T0), 0);
	CU_ASSERT_EQUAL(decide(db, "carol", 3, 1, T0 + 1, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_REVOKED);
	CU_ASSERT_EQUAL(decide(db, "dave", 3, 1, T0 + 1, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_REVOKED);
	CU_ASSERT_EQUAL(policydb_unrevoke(db, &fp, NULL, T0), 0);
	CU_ASSERT_EQUAL(policydb_revoke(db, &fp, "carol", T0), 0);
	CU_ASSERT_EQUAL(decide(db, "carol", 3, 1, T0 + 2, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_REVOKED);
	CU_ASSERT_EQUAL(decide(db, "dave", 3, 1, T0 + 2, &v), 0);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_ALLOW);

	struct clientid_account_policy p = CLIENTID_ACCOUNT_POLICY_DEFAULT;
	p.mode = CLIENTID_MODE_ENFORCE;
	CU_ASSERT_EQUAL(policydb_account_policy_set(db, "erin", &p, T0), 0);
	CU_ASSERT_EQUAL(decide(db, "erin", 4, 1, T0 + 3, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_UNKNOWN_DEVICE);
	CU_ASSERT_EQUAL(v.mode, CLIENTID_MODE_ENFORCE);
	struct clientid_account_policy back;
	CU_ASSERT_EQUAL(policydb_account_policy_get(db, "erin", &back), 0);
	CU_ASSERT_EQUAL(back.mode, CLIENTID_MODE_ENFORCE);
	p.mode = -1;
	CU_ASSERT_EQUAL(policydb_account_policy_set(db, "erin", &p, T0), 0);
	CU_ASSERT_EQUAL(decide(db, "erin", 5, 1, T0 + 4, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	policydb_deinit(&db);
	fixture_remove(&f);
}

static int count_cb(void *ctx, const char *acc, uint32_t last, const struct policydb_device_info *d)
{
	(void)acc;
	(void)last;
	(void)d;
	(*(unsigned *)ctx)++;
	return 0;
}

static int unlock_events_cb(void *ctx, const struct clientid_event *ev)
{
	if (ev->kind == CLIENTID_EV_ADMIN && ev->reason == CLIENTID_ADMIN_UNLOCK)
		(*(unsigned *)ctx)++;
	return 0;
}

static void test_unlock(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\n[limits]\ndevice_fail_limit = 2\n"
	                 "ip_fail_limit = 2\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	/* a trusted device locked out by its own failures */
	CU_ASSERT_EQUAL(decide(db, "kim", 20, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	for (int i = 1; i <= 2; i++)
		CU_ASSERT_EQUAL(decide(db, "kim", 20, 0, T0 + (unsigned)i, &v), 0);
	CU_ASSERT_EQUAL(decide(db, "kim", 20, 1, T0 + 3, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_DEVICE_FAIL_LIMIT);
	struct clientid_fp d20 = fp_of(20);
	CU_ASSERT_EQUAL(policydb_unlock(db, &d20, NULL, T0 + 4), 0);
	CU_ASSERT_EQUAL(decide(db, "kim", 20, 1, T0 + 5, &v), 0);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_ALLOW);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	CU_ASSERT_EQUAL(policydb_unlock(db, &d20, NULL, T0 + 6), CLIENTID_E_NOTFOUND);
	/* an address locked out by clients without a client id */
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL(decide(db, "lea", 0, 0, T0 + (unsigned)i, &v), 0);
	CU_ASSERT_EQUAL(decide(db, "lea", 0, 1, T0 + 3, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_IP_FAIL_LIMIT);
	struct clientid_ip ip;
	CU_ASSERT_EQUAL_FATAL(clientid_ip_parse("192.0.2.10", &ip), 0);
	CU_ASSERT_EQUAL(policydb_unlock(db, NULL, &ip, T0 + 4), 0);
	CU_ASSERT_EQUAL(decide(db, "lea", 0, 1, T0 + 5, &v), 0);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_ALLOW);
	CU_ASSERT_EQUAL(policydb_unlock(db, NULL, NULL, T0), CLIENTID_E_INVAL);
	/* both left an admin event */
	unsigned unlocks = 0;
	CU_ASSERT_EQUAL(policydb_events(db, 1, unlock_events_cb, &unlocks), 0);
	CU_ASSERT_EQUAL(unlocks, 2);
	policydb_deinit(&db);
	fixture_remove(&f);
}

static void test_precheck_and_limits(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\n[limits]\ndevice_fail_limit = 3\n"
	                 "ip_fail_limit = 2\ndevice_max_accounts = 2\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	struct clientid_fp fp;
	/* Each part from its own address: failures of unknown devices count
	 * toward their address too. */
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(decide_from(db, "192.0.2.9", "fay", 9, 0, T0 + (unsigned)i, &v), 0);
	struct clientid_attempt a = fixture_attempt("fay", 9, 0, T0 + 5, &fp);
	a.auth = CLIENTID_AUTH_PRECHECK;
	CU_ASSERT_EQUAL(policydb_precheck(db, &a, &v), 0);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_DENY);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_DEVICE_FAIL_LIMIT);
	/* Without an account the device may be trusted where it is used: the
	 * decision after the password tells (issue 13 items 5 and 6). */
	a = fixture_attempt(NULL, 9, 0, T0 + 5, &fp);
	a.auth = CLIENTID_AUTH_PRECHECK;
	CU_ASSERT_EQUAL(policydb_precheck(db, &a, &v), 0);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_ALLOW);
	a = fixture_attempt("fay", 10, 0, T0 + 5, &fp);
	a.auth = CLIENTID_AUTH_PRECHECK;
	CU_ASSERT_EQUAL(policydb_precheck(db, &a, &v), 0);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_ALLOW);
	/* precheck with the wrong auth value is refused */
	a.auth = CLIENTID_AUTH_SUCCESS;
	CU_ASSERT_EQUAL(policydb_precheck(db, &a, &v), CLIENTID_E_INVAL);
	/* no client id: by IP */
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL(decide(db, "gus", 0, 0, T0 + (unsigned)i, &v), 0);
	CU_ASSERT_EQUAL(decide(db, "gus", 0, 1, T0 + 3, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_IP_FAIL_LIMIT);
	/* The locked address refuses an unknown device with the right password
	 * (a fresh random token each time is no way around the limit), and lets
	 * a trusted device through (the CGNAT case). */
	CU_ASSERT_EQUAL(decide(db, "gus", 12, 1, T0 + 3, &v), 0);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_DENY);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_IP_FAIL_LIMIT);
	CU_ASSERT_EQUAL(decide_from(db, "192.0.2.12", "ivy", 13, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	CU_ASSERT_EQUAL(decide(db, "ivy", 13, 1, T0 + 3, &v), 0);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_ALLOW);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	/* One device that verified passwords on a third account is blocked
	 * site-wide, also where this walk taught it (wrong passwords no longer
	 * count: issue 13 item 5). */
	CU_ASSERT_EQUAL(decide_from(db, "192.0.2.11", "h1", 11, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(decide_from(db, "192.0.2.11", "h2", 11, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(decide_from(db, "192.0.2.11", "h3", 11, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_MANY_ACCOUNTS);
	CU_ASSERT_EQUAL(decide_from(db, "192.0.2.11", "h1", 11, 1, T0 + 1, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_BLOCKED);
	unsigned n = 0;
	struct clientid_fp d11 = fp_of(11);
	CU_ASSERT_EQUAL(policydb_device_accounts(db, &d11, count_cb, &n), 0);
	CU_ASSERT_EQUAL(n, 3);
	/* record-only never refuses */
	CU_ASSERT_EQUAL(policydb_record(db,
	                                &(struct clientid_attempt){.account = "h1",
	                                                           .type = "UUID",
	                                                           .fp = &d11,
	                                                           .tls = 1,
	                                                           .auth = CLIENTID_AUTH_SUCCESS,
	                                                           .now = T0 + 2},
	                                &v),
	                0);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_ALLOW);
	CU_ASSERT(v.flags & CLIENTID_VF_OBSERVED);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_BLOCKED);
	policydb_deinit(&db);
	fixture_remove(&f);
}

static void test_fork_reopens(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(decide(db, "ivy", 1, 1, T0, &v), 0);
	pid_t pid = fork();
	if (pid == 0) {
		/* The same handle in the child: it must reopen, not reuse. */
		int ok = decide(db, "ivy", 2, 1, T0 + 1, &v) == 0 && v.reason == CLIENTID_R_LEARNED;
		_exit(ok ? 0 : 1);
	}
	int status;
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL(decide(db, "ivy", 2, 1, T0 + 2, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	policydb_deinit(&db);
	fixture_remove(&f);
}

static void test_map_grows(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\n[limits]\ndevice_max_accounts = 0\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	/* Routine part: 30000 traces of unknown devices, about 3 MB. */
	char account[32];
	int errors = 0;
	for (unsigned i = 0; i < 30000; i++) {
		snprintf(account, sizeof(account), "user%u@example.org", i % 1000);
		errors += decide(db, account, 100 + i, 0, T0, &v) != 0;
	}
	CU_ASSERT_EQUAL(errors, 0);
	/* Durable part: one import transaction of 20000 devices. */
	size_t cap = 20000 * 240 + 256, len = 0;
	char *json = malloc(cap);
	len += (size_t)snprintf(json, cap,
	                        "{\"format\":\"clientid-export\",\"version\":1,\"devices\":[");
	for (unsigned i = 0; i < 20000; i++) {
		struct clientid_fp fp = fp_of(100000 + i);
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
	CU_ASSERT_EQUAL(decide(db2, "late", 5, 1, T0, &v), 0);
	/* Regression, routine store opened with MDB_WRITEMAP: an opener whose
	 * configured map_size (1M) is below the grown map shrank the file with
	 * ftruncate(), and the first handle died of SIGBUS when it next wrote new
	 * pages past the new end (crash rounds of test_stress.c). */
	errors = 0;
	for (unsigned i = 0; i < 5000; i++) {
		snprintf(account, sizeof(account), "user%u@example.org", i % 1000);
		errors += decide(db, account, 200000 + i, 0, T0 + 1, &v) != 0;
	}
	CU_ASSERT_EQUAL(errors, 0);
	policydb_deinit(&db2);
	policydb_deinit(&db);
	fixture_remove(&f);
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
	int ret = decide(db, "x", 1, 1, T0, &v);
	int ok = ret == CLIENTID_E_STORE_ACCESS && v.decision == CLIENTID_TEMPFAIL &&
	         v.reason == CLIENTID_R_STORE_ERROR &&
	         strstr(policydb_last_error(db), f->store) != NULL &&
	         strstr(policydb_last_error(db), "ermission denied") != NULL;
	if (!ok)
		fprintf(stderr, "nobody: %d %s\n", ret, policydb_last_error(db));
	policydb_deinit(&db);
	return ok ? 0 : 1;
}

static void test_bad_store(void)
{
	struct fixture f;
	fixture_make(&f, "[store]\n");
	/* missing, without create */
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS | POLICYDB_NO_CREATE);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(decide(db, "x", 1, 1, T0, &v), CLIENTID_E_STORE_MISSING);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_TEMPFAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(policydb_last_error(db), f.store));
	policydb_deinit(&db);
	/* a file where the directory should be */
	FILE *file = fopen(f.store, "w");
	fclose(file);
	db = fixture_open(&f, POLICYDB_NO_ALERTS);
	CU_ASSERT_EQUAL(decide(db, "x", 1, 1, T0, &v), CLIENTID_E_STORE);
	CU_ASSERT_PTR_NOT_NULL(strstr(policydb_last_error(db), f.store));
	policydb_deinit(&db);
	unlink(f.store);
	/* created, then owned by root with no access for others */
	db = fixture_open(&f, POLICYDB_NO_ALERTS);
	CU_ASSERT_EQUAL(decide(db, "x", 1, 1, T0, &v), 0);
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
	CU_ASSERT_EQUAL(decide(db, "x", 1, 1, T0, &v), CLIENTID_E_STORE_MISSING);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_ALLOW);
	CU_ASSERT(v.flags & CLIENTID_VF_FAIL_OPEN);
	CU_ASSERT_PTR_NOT_NULL(strstr(policydb_last_error(db), "nowhere"));
	CU_ASSERT_EQUAL(decide(db, "x", 1, 0, T0, &v), CLIENTID_E_STORE_MISSING);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_DENY);
	policydb_deinit(&db);
	fixture_remove(&f);
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
static void test_disk_full_short_write(void)
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
	CU_ASSERT_EQUAL(decide(db, "acct@example.org", 1, 1, T0, &v), 0);
	char filler[400];
	fill_fs(f.store, filler, sizeof(filler));
	/* every new device is a synced durable write; one soon needs a page */
	int ret = 0;
	for (unsigned i = 2; i < 20000 && ret == 0; i++)
		ret = decide(db, "acct@example.org", i, 1, T0, &v);
	CU_ASSERT_EQUAL(ret, CLIENTID_E_STORE_FULL);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_TEMPFAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(policydb_last_error(db), "full"));
	if (ret != CLIENTID_E_STORE_FULL)
		fprintf(stderr, "disk full: %d %s\n", ret, policydb_last_error(db));
	/* room again: decisions go on */
	unlink(filler);
	CU_ASSERT_EQUAL(decide(db, "acct@example.org", 30000, 1, T0, &v), 0);
	struct policydb_check r;
	CU_ASSERT_EQUAL(policydb_check(db, &r), 0);
	CU_ASSERT_EQUAL(r.problems, 0);
	policydb_deinit(&db);
	umount2(f.store, MNT_DETACH);
	fixture_remove(&f);
}

static void test_permissions(void)
{
	struct fixture f;
	fixture_make(&f, "");
	mode_t old = umask(077); /* a strict caller: the store is still group-shared */
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(decide(db, "x", 1, 1, T0, &v), 0);
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
	policydb_deinit(&db);
	fixture_remove(&f);
}

static void test_reboot_discards_routine(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\n");
	setenv("CLIENTID_TEST_BOOT_ID", "boot-one", 1);
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(decide(db, "jo", 1, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(decide(db, "jo", 1, 0, T0 + 1, &v), 0);
	policydb_deinit(&db);
	setenv("CLIENTID_TEST_BOOT_ID", "boot-two", 1);
	db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct policydb_device_info info;
	struct clientid_fp fp = fp_of(1);
	CU_ASSERT_EQUAL(policydb_device_get(db, "jo", &fp, &info), 1);
	CU_ASSERT_EQUAL(info.durable, 1); /* the decision survives */
	CU_ASSERT_EQUAL(info.device.state, CLIENTID_DEV_TRUSTED);
	CU_ASSERT_EQUAL(info.touched, 0); /* the routine trace does not */
	CU_ASSERT_EQUAL(decide(db, "jo", 1, 1, T0 + 2, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	policydb_deinit(&db);
	unsetenv("CLIENTID_TEST_BOOT_ID");
	fixture_remove(&f);
}

static int put_schema(struct policydb *db, void *txn, void *ctx)
{
	uint8_t b[4] = {(uint8_t) * (unsigned *)ctx, 0, 0, 0};
	return db->ops->put(txn, PDB_T_META, "schema", 6, b, 4);
}

static void test_schema_version(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	/* A store of version 1 (no device versions) is taken up. */
	unsigned old = 1;
	CU_ASSERT_EQUAL(decide(db, "x", 1, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(pdb_with_txn(db, PDB_TXN_DURABLE, put_schema, &old), 0);
	policydb_deinit(&db);
	db = fixture_open(&f, POLICYDB_NO_ALERTS);
	CU_ASSERT_EQUAL(decide(db, "x", 1, 1, T0 + 1, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	unsigned future = PDB_SCHEMA_VERSION + 1;
	CU_ASSERT_EQUAL(pdb_with_txn(db, PDB_TXN_DURABLE, put_schema, &future), 0);
	policydb_deinit(&db);
	db = fixture_open(&f, POLICYDB_NO_ALERTS);
	CU_ASSERT_EQUAL(decide(db, "x", 1, 1, T0, &v), CLIENTID_E_STORE_VERSION);
	CU_ASSERT_PTR_NOT_NULL(strstr(policydb_last_error(db), "newer"));
	policydb_deinit(&db);
	fixture_remove(&f);
}

static void test_export_import(void)
{
	struct fixture f, g;
	fixture_make(&f, "[policy]\nmode = learn\n");
	fixture_make(&g, "[policy]\nmode = learn\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(decide(db, "kim", 1, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(decide(db, "kim", 2, 1, T0, &v), 0);
	struct clientid_fp fp = fp_of(2);
	CU_ASSERT_EQUAL(policydb_device_set_label(db, "kim", &fp, "phone \"work\""), 0);
	CU_ASSERT_EQUAL(policydb_revoke(db, &fp, NULL, T0), 0);
	struct clientid_account_policy p = CLIENTID_ACCOUNT_POLICY_DEFAULT;
	p.require_clientid = 1;
	CU_ASSERT_EQUAL(policydb_account_policy_set(db, "kim", &p, T0), 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	CU_ASSERT_EQUAL(policydb_export(db, mem), 0);
	fclose(mem);
	struct policydb *db2 = fixture_open(&g, POLICYDB_NO_ALERTS);
	struct policydb_import_counts c;
	CU_ASSERT_EQUAL(policydb_import(db2, buf, len, T0, &c), 0);
	CU_ASSERT_EQUAL(c.devices, 2);
	CU_ASSERT_EQUAL(c.bans, 1);
	CU_ASSERT_EQUAL(c.policies, 1);
	char *buf2 = NULL;
	size_t len2 = 0;
	mem = open_memstream(&buf2, &len2);
	CU_ASSERT_EQUAL(policydb_export(db2, mem), 0);
	fclose(mem);
	CU_ASSERT_EQUAL(len, len2);
	CU_ASSERT(len == len2 && memcmp(buf, buf2, len) == 0);
	/* malformed: all or nothing */
	static const char *const bad[] = {
	    "",
	    "{",
	    "[]",
	    "{\"format\":\"clientid-export\",\"version\":2}",
	    "{\"format\":\"clientid-export\",\"version\":1,\"devices\":[{\"account\":\"a\"}]}",
	    "{\"format\":\"clientid-export\",\"version\":1} trailing",
	};
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		CU_ASSERT_EQUAL(policydb_import(db2, bad[i], strlen(bad[i]), T0, &c),
		                CLIENTID_E_FORMAT);
		CU_ASSERT(strncmp(policydb_last_error(db2), "import: ", 8) == 0);
	}
	free(buf);
	free(buf2);
	policydb_deinit(&db);
	policydb_deinit(&db2);
	fixture_remove(&f);
	fixture_remove(&g);
}

static void test_alert_command(void)
{
	struct fixture f;
	fixture_make(&f, "");
	char script[400], out[400], fifo[400];
	snprintf(script, sizeof(script), "%s/alert.sh", f.dir);
	snprintf(out, sizeof(out), "%s/alert.out", f.dir);
	snprintf(fifo, sizeof(fifo), "%s/alert.go", f.dir);
	/* The command waits until the test writes to the FIFO, which it does
	 * only after the decision returned: a decision that waited for the
	 * command would never return (alarm() ends the test then). */
	CU_ASSERT_FATAL(mkfifo(fifo, 0600) == 0);
	int go = open(fifo, O_RDWR);
	CU_ASSERT_FATAL(go >= 0);
	FILE *s = fopen(script, "w");
	fprintf(s, "#!/bin/sh\nread go < %s\ncat > %s.tmp && mv %s.tmp %s\n", fifo, out, out, out);
	fclose(s);
	chmod(script, 0755);
	FILE *c = fopen(f.conf, "a");
	fprintf(c, "[policy]\nmode = learn\n[events]\nalert_command = %s\n", script);
	fclose(c);
	struct policydb *db = fixture_open(&f, 0);
	struct clientid_verdict v;
	alarm(60);
	CU_ASSERT_EQUAL(decide(db, "lee", 1, 1, T0, &v), 0);
	alarm(0);
	CU_ASSERT_EQUAL(access(out, F_OK), -1); /* still waiting for the FIFO */
	/* kept open until the command has read it: a FIFO that no process
	 * holds open drops what was written to it */
	CU_ASSERT_EQUAL(write(go, "go\n", 3), 3);
	char text[4096] = "";
	for (int i = 0; i < 600; i++) { /* up to 30 s on a loaded machine */
		FILE *r = fopen(out, "r");
		if (r != NULL) {
			size_t n = fread(text, 1, sizeof(text) - 1, r);
			text[n] = '\0';
			fclose(r);
			break;
		}
		usleep(50000);
	}
	close(go);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"event\":\"new_device\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"account\":\"lee\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"reason\":\"device_learned\""));
	policydb_deinit(&db);
	fixture_remove(&f);
}

static int collect_events(void *ctx, const struct clientid_event *ev)
{
	char buf[2048];
	CU_ASSERT(policydb_event_json(ev, buf, sizeof(buf)) > 0);
	(*(unsigned *)ctx)++;
	return 0;
}

static void test_events_and_prune(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\n[events]\nretention = 1d\n"
	                 "device_retention = 30d\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(decide(db, "mo", 1, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(decide(db, "mo", 2, 1, T0 + 40 * 86400u, &v), 0);
	unsigned n = 0;
	CU_ASSERT_EQUAL(policydb_events(db, 1, collect_events, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	n = 0;
	CU_ASSERT_EQUAL(policydb_events(db, 2, collect_events, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	struct policydb_prune_counts pc;
	CU_ASSERT_EQUAL(policydb_prune(db, T0 + 40 * 86400u, 1, &pc), 0);
	CU_ASSERT_EQUAL(pc.devices, 1);
	CU_ASSERT_EQUAL(pc.events, 1);
	CU_ASSERT_EQUAL(policydb_prune(db, T0 + 40 * 86400u, 0, &pc), 0);
	struct policydb_stats s;
	CU_ASSERT_EQUAL(policydb_stats(db, &s), 0);
	CU_ASSERT_EQUAL(s.devices, 1);
	CU_ASSERT_EQUAL(s.events, 1);
	struct policydb_check r;
	CU_ASSERT_EQUAL(policydb_check(db, &r), 0);
	CU_ASSERT_EQUAL(r.problems, 0);
	policydb_deinit(&db);
	fixture_remove(&f);
}

/* A device's failure window is a record of the touch table, keyed by the
 * fingerprint's routine bytes alone, next to the device's traces (see
 * backend.h): the limit, the reverse index, stats, check and prune must all
 * tell it from a trace. */
static void test_device_window_with_traces(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\n[limits]\ndevice_fail_limit = 3\n"
	                 "device_fail_window = 1h\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(decide(db, "wa", 21, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	CU_ASSERT_EQUAL(decide(db, "wb", 21, 0, T0 + 1, &v), 0);
	CU_ASSERT_EQUAL(decide(db, "wb", 21, 0, T0 + 2, &v), 0);
	CU_ASSERT_EQUAL(decide(db, "wd", 21, 0, T0 + 3, &v), 0);
	/* Three failures on two accounts where it is not trusted: one window
	 * for the device's untrusted use. */
	CU_ASSERT_EQUAL(decide(db, "wd", 21, 1, T0 + 4, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_DEVICE_FAIL_LIMIT);
	/* They never lock out the trusted pair (issue 13 item 5; this test
	 * expected the old lock-out of wa). */
	CU_ASSERT_EQUAL(decide(db, "wa", 21, 1, T0 + 4, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	CU_ASSERT_EQUAL(decide(db, "wc", 22, 1, T0 + 4, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	unsigned n = 0;
	struct clientid_fp d21 = fp_of(21);
	CU_ASSERT_EQUAL(policydb_device_accounts(db, &d21, count_cb, &n), 0);
	CU_ASSERT_EQUAL(n, 3);
	struct policydb_stats s1, s2;
	CU_ASSERT_EQUAL(policydb_stats(db, &s1), 0);
	CU_ASSERT_EQUAL(s1.touches, 4);
	CU_ASSERT(s1.counters >= 1);
	struct policydb_check r;
	CU_ASSERT_EQUAL(policydb_check(db, &r), 0);
	CU_ASSERT_EQUAL(r.problems, 0);
	/* Two hours later the window is over and pruned; the traces stay. */
	struct policydb_prune_counts pc;
	CU_ASSERT_EQUAL(policydb_prune(db, T0 + 7200, 0, &pc), 0);
	CU_ASSERT(pc.counters >= 1);
	CU_ASSERT_EQUAL(pc.touches, 0);
	CU_ASSERT_EQUAL(policydb_stats(db, &s2), 0);
	CU_ASSERT_EQUAL(s2.touches, 4);
	CU_ASSERT_EQUAL(s2.counters, s1.counters - pc.counters);
	CU_ASSERT_EQUAL(decide(db, "wa", 21, 1, T0 + 7201, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	policydb_deinit(&db);
	fixture_remove(&f);
}

struct trace_probe {
	const char *account;
	struct clientid_fp fp;
	int has_copy, has_version;
	struct pdb_copy copy;
	uint64_t version;
};

static int read_trace(struct policydb *db, void *txn, void *ctx)
{
	struct trace_probe *p = ctx;
	uint8_t key[PDB_TOUCHKEY_MAX], vkey[PDB_VERSION_KEY];
	size_t klen = pdb_touch_key(&p->fp, p->account, key);
	const void *val;
	size_t len;
	int ret = db->ops->get(txn, PDB_T_TOUCH, key, klen, &val, &len);
	p->has_copy = ret == 1 && pdb_touch_copy(val, len, &p->copy) == 1;
	pdb_version_key(pdb_shard(p->account, strlen(p->account)), vkey);
	ret = db->ops->get(txn, PDB_T_META, vkey, sizeof(vkey), &val, &len);
	p->has_version = ret == 1 && len == PDB_VERSION_LEN;
	if (p->has_version)
		memcpy(&p->version, val, PDB_VERSION_LEN);
	return ret < 0 ? ret : 0;
}

static void probe_trace(struct policydb *db, struct trace_probe *p)
{
	CU_ASSERT_EQUAL(pdb_with_txn(db, PDB_TXN_READ, read_trace, p), 0);
}

/* Traces copy their device's durable state, with the device version of the
 * account's shard (backend.h); a decision uses the copy only while that
 * version is current, and every change of a device record changes it. */
static void test_trace_copy(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	struct trace_probe p = {.account = "cy", .fp = fp_of(31)};
	CU_ASSERT_EQUAL(decide(db, "cy", 31, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	probe_trace(db, &p);
	CU_ASSERT(p.has_copy && p.has_version);
	CU_ASSERT_EQUAL(p.copy.version, p.version);
	CU_ASSERT_EQUAL(p.copy.state, CLIENTID_DEV_TRUSTED);
	CU_ASSERT_EQUAL(decide(db, "cy", 31, 1, T0 + 1, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	/* An administrator's block makes the copy stale. */
	uint64_t before = p.version;
	CU_ASSERT_EQUAL(policydb_device_set_state(db, "cy", &p.fp, CLIENTID_DEV_BLOCKED, T0 + 2),
	                0);
	probe_trace(db, &p);
	CU_ASSERT(p.has_copy && p.version != before && p.copy.version == before);
	CU_ASSERT_EQUAL(p.copy.state, CLIENTID_DEV_TRUSTED);
	CU_ASSERT_EQUAL(decide(db, "cy", 31, 1, T0 + 3, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_BLOCKED);
	probe_trace(db, &p);
	CU_ASSERT_EQUAL(p.copy.state, CLIENTID_DEV_BLOCKED);
	CU_ASSERT_EQUAL(p.copy.version, p.version);
	/* A new device of another account of the shard changes its version. */
	char other[32];
	for (unsigned i = 0;; i++) {
		snprintf(other, sizeof(other), "s%u", i);
		if (pdb_shard(other, strlen(other)) == pdb_shard("cy", 2))
			break;
	}
	before = p.version;
	CU_ASSERT_EQUAL(decide(db, other, 32, 1, T0 + 4, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	probe_trace(db, &p);
	CU_ASSERT(p.version != before);
	CU_ASSERT_EQUAL(decide(db, "cy", 31, 1, T0 + 5, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_BLOCKED);
	/* Approved again; then forgotten: a new device, not a trusted one. */
	CU_ASSERT_EQUAL(policydb_device_set_state(db, "cy", &p.fp, CLIENTID_DEV_TRUSTED, T0 + 6),
	                0);
	CU_ASSERT_EQUAL(decide(db, "cy", 31, 1, T0 + 7, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	before = p.version;
	CU_ASSERT_EQUAL(policydb_device_forget(db, "cy", &p.fp, T0 + 8), 0);
	probe_trace(db, &p);
	CU_ASSERT(!p.has_copy && p.version != before);
	CU_ASSERT_EQUAL(decide(db, "cy", 31, 1, T0 + 9, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	/* Traces of the first layout (32 bytes, no copy) still read. */
	struct clientid_device d;
	memset(&d, 0, sizeof(d));
	uint8_t old[32] = {1, 0, 0,   0, 2, 0, 0, 0, 3, 0, 0, 0, 4, CLIENTID_PROTO_IMAP,
	                   0, 0, 192, 0, 2, 1};
	CU_ASSERT_EQUAL(pdb_touch_decode(old, sizeof(old), &d), 0);
	CU_ASSERT_EQUAL(d.successes, 2);
	CU_ASSERT_EQUAL(d.last_ip.addr[3], 1);
	struct pdb_copy c;
	CU_ASSERT_EQUAL(pdb_touch_copy(old, sizeof(old), &c), 0);
	policydb_deinit(&db);
	fixture_remove(&f);
}

static int count_bans_cb(void *ctx, const struct policydb_ban_info *ban)
{
	(void)ban;
	(*(unsigned *)ctx)++;
	return 0;
}

/* Issue 13 item 1: a device refused at the learn limit was pending, and the
 * same login again found trusted_count 0 and was trusted. */
static void test_learn_limit_retry(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\nlearn_max_devices = 1\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(decide(db, "lu", 1, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	for (unsigned i = 1; i <= 3; i++) {
		CU_ASSERT_EQUAL(decide(db, "lu", 2, 1, T0 + i, &v), 0);
		CU_ASSERT_EQUAL(v.decision, CLIENTID_DENY);
		CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARN_LIMIT);
	}
	struct clientid_fp fp = fp_of(2);
	struct policydb_device_info info;
	CU_ASSERT_EQUAL(policydb_device_get(db, "lu", &fp, &info), 1);
	CU_ASSERT_EQUAL(info.device.state, CLIENTID_DEV_PENDING);
	/* Room made by forgetting the first: the pending one is promoted. */
	struct clientid_fp first = fp_of(1);
	CU_ASSERT_EQUAL(policydb_device_forget(db, "lu", &first, T0 + 5), 0);
	CU_ASSERT_EQUAL(decide(db, "lu", 2, 1, T0 + 6, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	policydb_deinit(&db);
	fixture_remove(&f);
}

/* Issue 13 item 5: twelve wrong passwords with the owner's token on made-up
 * accounts left the owner locked out and the device banned site-wide. */
static void test_stolen_token_owner(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = enforce\n[limits]\ndevice_fail_limit = 3\n"
	                 "device_max_accounts = 2\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_fp fp = fp_of(40);
	CU_ASSERT_EQUAL(policydb_device_register(db, "owner", "UUID", &fp, CLIENTID_DEV_TRUSTED,
	                                         NULL, T0 - 5 * 86400),
	                0);
	struct clientid_verdict v;
	char acct[32];
	for (unsigned i = 0; i < 12; i++) {
		snprintf(acct, sizeof(acct), "made-up-%u", i);
		CU_ASSERT_EQUAL(decide_from(db, "203.0.113.66", acct, 40, 0, T0 + i, &v), 0);
	}
	/* the attacker is locked out where the device is not trusted */
	CU_ASSERT_EQUAL(decide_from(db, "203.0.113.66", "made-up-0", 40, 1, T0 + 20, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_DEVICE_FAIL_LIMIT);
	/* the owner is not, and no ban was written */
	CU_ASSERT_EQUAL(decide(db, "owner", 40, 1, T0 + 21, &v), 0);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_ALLOW);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	unsigned bans = 0;
	CU_ASSERT_EQUAL(policydb_bans(db, count_bans_cb, &bans), 0);
	CU_ASSERT_EQUAL(bans, 0);
	/* the owner's pair has its own window, as strict as the device's */
	for (unsigned i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(decide(db, "owner", 40, 0, T0 + 30 + i, &v), 0);
	CU_ASSERT_EQUAL(decide(db, "owner", 40, 1, T0 + 40, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_DEVICE_FAIL_LIMIT);
	/* and unlock ends it */
	CU_ASSERT_EQUAL(policydb_unlock(db, &fp, NULL, T0 + 41), 0);
	CU_ASSERT_EQUAL(decide(db, "owner", 40, 1, T0 + 42, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	policydb_deinit(&db);
	fixture_remove(&f);
}

/* Issue 13 item 5: a walk with verified passwords is refused where the
 * device is not trusted, and on pairs the walk itself taught; older trusted
 * pairs keep working. */
static void test_walk_keeps_trusted_pairs(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\n[limits]\ndevice_max_accounts = 2\n"
	                 "device_accounts_window = 1d\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(decide(db, "home", 41, 1, T0 - 3 * 86400, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	CU_ASSERT_EQUAL(decide(db, "home", 41, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(decide(db, "w1", 41, 1, T0 + 1, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	CU_ASSERT_EQUAL(decide(db, "w2", 41, 1, T0 + 2, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_MANY_ACCOUNTS);
	unsigned bans = 0;
	CU_ASSERT_EQUAL(policydb_bans(db, count_bans_cb, &bans), 0);
	CU_ASSERT_EQUAL(bans, 1);
	CU_ASSERT_EQUAL(decide(db, "home", 41, 1, T0 + 3, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	CU_ASSERT_EQUAL(decide(db, "w1", 41, 1, T0 + 4, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_BLOCKED);
	CU_ASSERT_EQUAL(decide(db, "w3", 41, 1, T0 + 5, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_BLOCKED);
	/* a week later too: the ban stays, and so does the exemption */
	CU_ASSERT_EQUAL(decide(db, "home", 41, 1, T0 + 7 * 86400, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	CU_ASSERT_EQUAL(decide(db, "w1", 41, 1, T0 + 7 * 86400, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_BLOCKED);
	policydb_deinit(&db);
	fixture_remove(&f);
}

/* Issue 13 item 9: one wrong password from the attacker's network first
 * overwrote the address the travel check compared with. */
static void test_travel_last_success(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\n[travel]\nwindow = 10m\naction = deny\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(decide_from(db, "198.51.100.7", "tr", 42, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	CU_ASSERT_EQUAL(decide_from(db, "203.0.113.5", "tr", 42, 0, T0 + 10, &v), 0);
	CU_ASSERT_EQUAL(decide_from(db, "203.0.113.9", "tr", 42, 1, T0 + 20, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRAVEL);
	/* and the owner, at home, is not refused for the attacker's failure */
	CU_ASSERT_EQUAL(decide_from(db, "198.51.100.8", "tr", 42, 1, T0 + 30, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	policydb_deinit(&db);
	fixture_remove(&f);
}

/* Issue 13 item 8: an attacker rotating addresses within one IPv6 /64 was
 * counted per /128. */
static void test_ip_prefix(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\n[limits]\nip_fail_limit = 3\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	char ip[64];
	for (unsigned i = 1; i <= 3; i++) {
		snprintf(ip, sizeof(ip), "2001:db8:1:2::%u", i);
		CU_ASSERT_EQUAL(decide_from(db, ip, "pv", 0, 0, T0 + i, &v), 0);
	}
	CU_ASSERT_EQUAL(decide_from(db, "2001:db8:1:2:ffff::9", "pv", 0, 1, T0 + 5, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_IP_FAIL_LIMIT);
	CU_ASSERT_EQUAL(decide_from(db, "2001:db8:1:3::1", "pv", 0, 1, T0 + 5, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_NO_CLIENTID_OK);
	/* IPv4: /32 by default */
	for (unsigned i = 1; i <= 3; i++)
		CU_ASSERT_EQUAL(decide_from(db, "198.51.100.1", "pv", 0, 0, T0 + i, &v), 0);
	CU_ASSERT_EQUAL(decide_from(db, "198.51.100.2", "pv", 0, 1, T0 + 5, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_NO_CLIENTID_OK);
	/* unlock names any address of the prefix */
	struct clientid_ip a;
	CU_ASSERT_EQUAL_FATAL(clientid_ip_parse("2001:db8:1:2::77", &a), 0);
	CU_ASSERT_EQUAL(policydb_unlock(db, NULL, &a, T0 + 6), 0);
	CU_ASSERT_EQUAL(decide_from(db, "2001:db8:1:2::1", "pv", 0, 1, T0 + 7, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_NO_CLIENTID_OK);
	policydb_deinit(&db);
	fixture_remove(&f);
	/* a configured prefix */
	fixture_make(&f, "[policy]\nmode = learn\n[limits]\nip_fail_limit = 2\n"
	                 "ip_fail_prefix4 = 24\nip_fail_prefix6 = 48\n");
	db = fixture_open(&f, POLICYDB_NO_ALERTS);
	CU_ASSERT_EQUAL(decide_from(db, "198.51.100.1", "pw", 0, 0, T0, &v), 0);
	CU_ASSERT_EQUAL(decide_from(db, "198.51.100.2", "pw", 0, 0, T0, &v), 0);
	CU_ASSERT_EQUAL(decide_from(db, "198.51.100.3", "pw", 0, 1, T0 + 1, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_IP_FAIL_LIMIT);
	CU_ASSERT_EQUAL(decide_from(db, "2001:db8:1:2::1", "pw", 0, 0, T0, &v), 0);
	CU_ASSERT_EQUAL(decide_from(db, "2001:db8:1:3::1", "pw", 0, 0, T0, &v), 0);
	CU_ASSERT_EQUAL(decide_from(db, "2001:db8:1:4::1", "pw", 0, 1, T0 + 1, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_IP_FAIL_LIMIT);
	policydb_deinit(&db);
	fixture_remove(&f);
}

/* Schema 2 is taken up by schema 3: traces without the pair's part read as
 * before, their last sighting standing for the last success. */
static int put_old_trace(struct policydb *db, void *txn, void *ctx)
{
	(void)ctx;
	struct clientid_fp fp = fp_of(43);
	uint8_t key[PDB_TOUCHKEY_MAX];
	size_t klen = pdb_touch_key(&fp, "mig", key);
	/* last seen T0, 1 success, 0 failures, IPv4 198.51.100.7, no copy */
	uint8_t old[20] = {0, 0,    0,   0,  1,   0, 0, 0, 0, 0, 0, 0, 4, CLIENTID_PROTO_IMAP,
	                   0, 0x01, 198, 51, 100, 7};
	uint32_t t = T0;
	for (int i = 0; i < 4; i++)
		old[i] = (uint8_t)(t >> (8 * i));
	uint8_t b[4] = {2, 0, 0, 0};
	int ret = db->ops->put(txn, PDB_T_TOUCH, key, klen, old, sizeof(old));
	return ret != 0 ? ret : db->ops->put(txn, PDB_T_META, "schema", 6, b, 4);
}

static int get_schema(struct policydb *db, void *txn, void *ctx)
{
	const void *val;
	size_t len;
	int ret = db->ops->get(txn, PDB_T_META, "schema", 6, &val, &len);
	if (ret == 1 && len == 4)
		*(unsigned *)ctx = *(const uint8_t *)val;
	return ret < 0 ? ret : 0;
}

static void test_schema_3(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\n[travel]\nwindow = 10m\naction = deny\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(decide_from(db, "198.51.100.7", "mig", 43, 1, T0 - 86400, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	CU_ASSERT_EQUAL(pdb_with_txn(db, PDB_TXN_ROUTINE | PDB_TXN_DURABLE, put_old_trace, NULL),
	                0);
	policydb_deinit(&db);
	db = fixture_open(&f, POLICYDB_NO_ALERTS);
	unsigned schema = 0;
	CU_ASSERT_EQUAL(decide_from(db, "203.0.113.9", "mig", 43, 1, T0 + 60, &v), 0);
	CU_ASSERT_EQUAL(pdb_with_txn(db, PDB_TXN_READ, get_schema, &schema), 0);
	CU_ASSERT_EQUAL(schema, 3);
	/* the old trace's sighting is the travel reference */
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRAVEL);
	struct clientid_fp fp = fp_of(43);
	struct policydb_device_info info;
	CU_ASSERT_EQUAL(policydb_device_get(db, "mig", &fp, &info), 1);
	CU_ASSERT_EQUAL(info.device.successes, 2);
	CU_ASSERT_EQUAL(info.device.last_verified, T0 + 60);
	CU_ASSERT_EQUAL(info.device.last_ok, T0);
	struct policydb_check r;
	CU_ASSERT_EQUAL(policydb_check(db, &r), 0);
	CU_ASSERT_EQUAL(r.problems, 0);
	policydb_deinit(&db);
	fixture_remove(&f);
}

/* Issue 13 item 10: a window or attack mode written while the clock was
 * ahead stayed in force after it was corrected; and unlock --attack. */
static void test_clock_jump(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\n[limits]\ndevice_fail_limit = 2\n"
	                 "[attack]\nfail_threshold = 3\nduration = 15m\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	uint64_t ahead = T0 + 30 * 86400;
	for (unsigned i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(decide(db, "cj", 50, 0, ahead + i, &v), 0);
	CU_ASSERT_EQUAL(decide(db, "cj", 51, 1, ahead + 5, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_UNDER_ATTACK);
	/* the clock is put right: neither the lock-out nor the mode holds */
	CU_ASSERT_EQUAL(decide(db, "cj", 50, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_ALLOW);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	CU_ASSERT_EQUAL(v.flags & CLIENTID_VF_UNDER_ATTACK, 0);
	/* unlock --attack ends the mode at once */
	for (unsigned i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(decide(db, "ck", 0, 0, T0 + 10 + i, &v), 0);
	CU_ASSERT_EQUAL(decide(db, "ck", 52, 1, T0 + 20, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_UNDER_ATTACK);
	CU_ASSERT_EQUAL(policydb_unlock_attack(db, T0 + 21), 0);
	CU_ASSERT_EQUAL(decide(db, "ck", 52, 1, T0 + 22, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	CU_ASSERT_EQUAL(policydb_unlock_attack(db, T0 + 23), CLIENTID_E_NOTFOUND);
	policydb_deinit(&db);
	fixture_remove(&f);
}

/* Issue 13 (lower): prune held both write locks for a scan of the whole
 * store, so logins waited past Dovecot's policy timeout. It works in
 * batches now; a decision between batches goes through. */
static void test_prune_batches(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\nlearn_max_devices = 1000\n"
	                 "pending_max_devices = 1000\n[limits]\ndevice_max_accounts = 0\n"
	                 "[events]\nretention = 1d\ndevice_retention = 30d\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	char acct[32];
	for (unsigned i = 0; i < 600; i++) {
		snprintf(acct, sizeof(acct), "pb%u", i % 7);
		CU_ASSERT_EQUAL(decide(db, acct, 1000 + i, 1, T0, &v), 0);
	}
	CU_ASSERT_EQUAL(decide(db, "keep", 1, 1, T0 + 40 * 86400u, &v), 0);
	struct policydb_prune_counts pc;
	CU_ASSERT_EQUAL(policydb_prune(db, T0 + 40 * 86400u, 1, &pc), 0);
	CU_ASSERT_EQUAL(pc.devices, 600);
	CU_ASSERT_EQUAL(pc.events, 600);
	CU_ASSERT_EQUAL(policydb_prune(db, T0 + 40 * 86400u, 0, &pc), 0);
	CU_ASSERT_EQUAL(pc.devices, 600);
	CU_ASSERT(pc.batches >= 600 / 256 + 2);
	struct policydb_stats st;
	CU_ASSERT_EQUAL(policydb_stats(db, &st), 0);
	CU_ASSERT_EQUAL(st.devices, 1);
	CU_ASSERT_EQUAL(st.touches, 1);
	CU_ASSERT_EQUAL(st.events, 1);
	struct policydb_check r;
	CU_ASSERT_EQUAL(policydb_check(db, &r), 0);
	CU_ASSERT_EQUAL(r.problems, 0);
	CU_ASSERT_EQUAL(decide(db, "keep", 1, 1, T0 + 40 * 86400u + 1, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	policydb_deinit(&db);
	fixture_remove(&f);
}

/* Issue 13 (lower): every open (every Exim connection) allocated the whole
 * routine map again. Only creation and growth do now. */
static void test_fallocate_once(void)
{
	struct fixture f;
	fixture_make(&f, "[policy]\nmode = learn\n");
	struct clientid_verdict v;
	unsigned before = pdb_lmdb_fallocations;
	for (unsigned i = 0; i < 5; i++) {
		struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
		CU_ASSERT_EQUAL(decide(db, "fa", 1, 1, T0 + i, &v), 0);
		policydb_deinit(&db);
	}
	CU_ASSERT_EQUAL(pdb_lmdb_fallocations - before, 1);
	fixture_remove(&f);
}

void register_store(void);
void register_store(void)
{
	static const struct unit_test tests[] = {
	    {"learn, then trusted; counts", test_learn_then_trusted},
	    {"enforce: pending, approve, block, forget", test_enforce_pending_approve},
	    {"revocations and account policy", test_revoke_and_policy},
	    {"precheck, limits, walking device, record-only", test_precheck_and_limits},
	    {"unlock ends a lock-out early", test_unlock},
	    {"a fork reopens the store", test_fork_reopens},
	    {"map full: a tiny map grows", test_map_grows},
	    {"bad store: missing, not a directory, no access, read-only", test_bad_store},
	    {"disk full: a short write is reported as full", test_disk_full_short_write},
	    {"files are group-shared whatever the umask", test_permissions},
	    {"after a reboot the routine part is discarded", test_reboot_discards_routine},
	    {"a newer schema is refused", test_schema_version},
	    {"export and import", test_export_import},
	    {"alert_command runs detached", test_alert_command},
	    {"events and prune", test_events_and_prune},
	    {"a device's failure window lives with its traces", test_device_window_with_traces},
	    {"a trace's copy of the device state is used only while current", test_trace_copy},
	    {"learn limit bypassed by retrying (issue 13 item 1)", test_learn_limit_retry},
	    {"a stolen token locks out its owner (issue 13 item 5)", test_stolen_token_owner},
	    {"a walk keeps older trusted pairs (issue 13 item 5)", test_walk_keeps_trusted_pairs},
	    {"travel evaded by a failure first (issue 13 item 9)", test_travel_last_success},
	    {"IPv6 ip_fail_limit keyed on the full /128 (issue 13 item 8)", test_ip_prefix},
	    {"schema 2 is taken up by schema 3", test_schema_3},
	    {"a forward clock jump never expires (issue 13 item 10)", test_clock_jump},
	    {"prune works in bounded batches (issue 13, lower)", test_prune_batches},
	    {"the routine map is allocated at growth only (issue 13, lower)", test_fallocate_once},
	    {NULL, NULL},
	};
	unit_add_suite("store", tests);
}
