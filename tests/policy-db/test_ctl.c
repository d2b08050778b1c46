/* clientidctl as administrators run it (issue 13, lower items): the export
 * file's mode, and account names that are attacker bytes in text output.
 * usage: test-clientidctl PATH-OF-CLIENTIDCTL */
#include "fixture.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

int main(int argc, char **argv)
{
	static const struct unit_test tests[] = {
	    {"issue 13: clientidctl export FILE is created 0600", test_export_file_is_0600},
	    {"issue 13: clientidctl escapes account names in text output",
	     test_account_names_escaped},
	    {NULL, NULL},
	};
	return unit_main_arg(argc, argv, "CLIENTIDCTL", &clientidctl, "clientidctl", tests);
}
