/* clientidctl as administrators run it (issue 13, lower items): the export
 * file's mode, and account names that are attacker bytes in text output;
 * init, migrate and check; under with-postgresql also a store moved from
 * LMDB to PostgreSQL with export and import (issue 16).
 * usage: test-clientidctl PATH-OF-CLIENTIDCTL */
#include "fixture.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define T0 1800000000u

static const char *clientidctl;

/* Runs clientidctl -c conf ARGS; its standard output into out. Returns its
 * exit status. */
static int ctl(const struct fixture *f, const char *args, char *out, size_t size)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "'%s' -c '%s' %s", clientidctl, f->conf, args);
	FILE *p = popen(cmd, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	size_t n = fread(out, 1, size - 1, p);
	out[n] = '\0';
	return pclose(p);
}

/* A scratch store in learn mode where account's device 1 logged in once;
 * its fingerprint in *fp_r. */
static void store_with_login(struct fixture *f, const char *account, struct clientid_fp *fp_r)
{
	struct policydb *db = fixture_start(f, "[policy]\nmode = learn\n");
	struct clientid_attempt a = fixture_attempt(account, 1, 1, T0, fp_r);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL_FATAL(policydb_decide(db, &a, &v), 0);
	policydb_deinit(&db);
}

static void test_export_file_is_0600(void)
{
	struct fixture f;
	struct clientid_fp fp;
	store_with_login(&f, "alice", &fp);

	char path[400], args[500], out[256];
	snprintf(path, sizeof(path), "%s/export.json", f.dir);
	mode_t old = umask(022);
	snprintf(args, sizeof(args), "export '%s'", path);
	CU_ASSERT_EQUAL(ctl(&f, args, out, sizeof(out)), 0);
	struct stat st;
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
	CU_ASSERT(st.st_size > 0);
	/* A file that was there, readable by all, is made private too. */
	CU_ASSERT_EQUAL(chmod(path, 0644), 0);
	CU_ASSERT_EQUAL(ctl(&f, args, out, sizeof(out)), 0);
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
	umask(old);
	fixture_remove(&f);
}

static void test_account_names_escaped(void)
{
	/* What an SMTP client may send as its user name: a C1 CSI (U+009B, in
	 * UTF-8 and as a raw byte), invalid UTF-8, a backslash; and a name
	 * with a real non-ASCII letter, which stays readable. */
	static const char evil[] = "evil\xc2\x9b"
	                           "2j\x9b\xff"
	                           "z\\\xc3\xb6";
	static const char want[] = "evil\\xc2\\x9b2j\\x9b\\xffz\\\\\xc3\xb6";
	struct fixture f;
	struct clientid_fp fp;
	store_with_login(&f, evil, &fp);

	char out[8192], args[200], hex[CLIENTID_FP_HEX_LEN + 1];
	clientid_fp_hex(&fp, hex);
	snprintf(args, sizeof(args), "accounts %s", hex);
	const char *const runs[] = {"events", args};
	for (size_t i = 0; i < N_ELEMENTS(runs); i++) {
		CU_ASSERT_EQUAL(ctl(&f, runs[i], out, sizeof(out)), 0);
		if (strstr(out, want) == NULL) {
			fprintf(stderr, "clientidctl %s: no '%s' in:\n%s\n", runs[i], want, out);
			CU_FAIL("escaped account name");
		}
		for (const unsigned char *p = (const unsigned char *)out; *p != '\0'; p++) {
			if ((*p < 0x20 && *p != '\n') || *p == 0x7f || *p == 0x9b || *p == 0xff)
				CU_FAIL("a control or invalid byte reached the terminal");
		}
	}
	fixture_remove(&f);
}

/* ctl()'s exit status, or -1 when it did not exit. */
static int ctl_exit(const struct fixture *f, const char *args, char *out, size_t size)
{
	int status = ctl(f, args, out, size);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_init_migrate_check(void)
{
	struct fixture f;
	char out[1024];
	fixture_make(&f, NULL);
	/* Reading commands never create a store; init does. */
	CU_ASSERT_EQUAL(ctl_exit(&f, "list alice 2>/dev/null", out, sizeof(out)), 4);
	CU_ASSERT_EQUAL(ctl_exit(&f, "init", out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "schema version 3"));
	CU_ASSERT_EQUAL(ctl_exit(&f, "migrate", out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "schema version 3"));
	CU_ASSERT_EQUAL(ctl_exit(&f, "--json init", out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"schema\": 3"));
	CU_ASSERT_EQUAL(ctl_exit(&f, "check", out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ok: "));
	CU_ASSERT_EQUAL(ctl_exit(&f, "list alice", out, sizeof(out)), 0);
	fixture_remove(&f);
}

/* Logins on an LMDB store; export; init and import into PostgreSQL; every
 * listing is the same on both (docs/cluster.md, migration). */
static void test_lmdb_to_postgresql(void)
{
	static const char *const accounts[] = {"alice", "bob", "carol@example.org"};
	struct fixture lm, pg;
	fixture_make_lmdb(&lm, "[policy]\nmode = learn\n");
	struct policydb *db = fixture_open(&lm, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	for (unsigned i = 0; i < 12; i++)
		CU_ASSERT_EQUAL(
		    fixture_decide(db, accounts[i % 3], 1 + i % 4, i % 5 != 0, T0 + i, &v), 0);
	policydb_deinit(&db);
	char path[400], args[500], want[8192], got[8192];
	snprintf(path, sizeof(path), "%s/export.json", lm.dir);
	snprintf(args, sizeof(args), "export '%s'", path);
	CU_ASSERT_EQUAL_FATAL(ctl_exit(&lm, args, got, sizeof(got)), 0);

	fixture_make(&pg, "[policy]\nmode = learn\n");
	CU_ASSERT_FATAL(pg.pg);
	CU_ASSERT_EQUAL(ctl_exit(&pg, "init", got, sizeof(got)), 0);
	snprintf(args, sizeof(args), "import '%s'", path);
	CU_ASSERT_EQUAL_FATAL(ctl_exit(&pg, args, got, sizeof(got)), 0);
	const char *runs[N_ELEMENTS(accounts) + 2] = {"bans", "--json bans"};
	char lists[N_ELEMENTS(accounts)][64];
	for (size_t i = 0; i < N_ELEMENTS(accounts); i++) {
		snprintf(lists[i], sizeof(lists[i]), "list '%s'", accounts[i]);
		runs[2 + i] = lists[i];
	}
	for (size_t i = 0; i < N_ELEMENTS(runs); i++) {
		CU_ASSERT_EQUAL(ctl_exit(&lm, runs[i], want, sizeof(want)), 0);
		CU_ASSERT_EQUAL(ctl_exit(&pg, runs[i], got, sizeof(got)), 0);
		if (strcmp(want, got) != 0) {
			fprintf(stderr, "clientidctl %s:\nLMDB:\n%s\nPostgreSQL:\n%s\n", runs[i],
			        want, got);
			CU_FAIL("the same listing after export and import");
		}
		if (strncmp(runs[i], "list", 4) == 0)
			CU_ASSERT_PTR_NOT_NULL(strstr(got, "trusted"));
	}
	CU_ASSERT_EQUAL(ctl_exit(&pg, "check", got, sizeof(got)), 0);
	/* And the export of the imported store is the same document. */
	CU_ASSERT_EQUAL(ctl_exit(&lm, "export", want, sizeof(want)), 0);
	CU_ASSERT_EQUAL(ctl_exit(&pg, "export", got, sizeof(got)), 0);
	CU_ASSERT_STRING_EQUAL(want, got);
	fixture_remove(&pg);
	fixture_remove(&lm);
}

int main(int argc, char **argv)
{
	static struct unit_test tests[] = {
	    {"issue 13: clientidctl export FILE is created 0600", test_export_file_is_0600},
	    {"issue 13: clientidctl escapes account names in text output",
	     test_account_names_escaped},
	    {"init creates the store, migrate and check pass", test_init_migrate_check},
	    /* Only under with-postgresql: a second backend to move to. */
	    {"issue 16: LMDB export, PostgreSQL import: the same listings",
	     test_lmdb_to_postgresql},
	    {NULL, NULL},
	};
	if (fixture_pg_dsn() == NULL)
		tests[N_ELEMENTS(tests) - 2] = (struct unit_test){NULL, NULL};
	return unit_main_arg(argc, argv, "CLIENTIDCTL", &clientidctl, "clientidctl", tests);
}
