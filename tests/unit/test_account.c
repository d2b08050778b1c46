/* Account names: the canonical form every store key uses (issue 13 item 2,
 * "account names are not canonical"). */
#include "clientid-config.h"
#include "clientid-policy.h"
#include "guard.h"
#include "unit.h"

#include <stdio.h>
#include <string.h>

struct canon_case {
	enum clientid_account_case account_case;
	const char *in;
	int ret;
	const char *out;
};

#define X16(s)  s s s s s s s s s s s s s s s s
#define NAME256 X16(X16("A")) /* 256 bytes: one too many */

static void test_account_canon_table(void)
{
	static const struct canon_case cases[] = {
	    /* fold: every spelling that lsearch or a case-insensitive passdb
	       accepts is one account */
	    {CLIENTID_ACCOUNT_FOLD, "anna", 0, "anna"},
	    {CLIENTID_ACCOUNT_FOLD, "ANNA", 0, "anna"},
	    {CLIENTID_ACCOUNT_FOLD, "Anna", 0, "anna"},
	    {CLIENTID_ACCOUNT_FOLD, "Anna@Example.COM", 0, "anna@example.com"},
	    {CLIENTID_ACCOUNT_FOLD, "@[]^_`{|}~Z", 0, "@[]^_`{|}~z"},
	    /* ASCII only: bytes >= 0x80 are kept as they are */
	    {CLIENTID_ACCOUNT_FOLD, "\xc3\x84NNA", 0, "\xc3\x84nna"},
	    {CLIENTID_ACCOUNT_KEEP, "ANNA", 0, "ANNA"},
	    {CLIENTID_ACCOUNT_KEEP, "Anna@Example.COM", 0, "Anna@Example.COM"},
	    /* what clientid_account_check() refuses */
	    {CLIENTID_ACCOUNT_FOLD, "", CLIENTID_E_INVAL, ""},
	    {CLIENTID_ACCOUNT_FOLD, "AN\nNA", CLIENTID_E_INVAL, ""},
	    {CLIENTID_ACCOUNT_FOLD, "AN\x7fNA", CLIENTID_E_INVAL, ""},
	    {CLIENTID_ACCOUNT_KEEP, "\x1b[2J", CLIENTID_E_INVAL, ""},
	    {CLIENTID_ACCOUNT_FOLD, NAME256, CLIENTID_E_INVAL, ""},
	    {CLIENTID_ACCOUNT_FOLD, &NAME256[1], 0, &X16(X16("a"))[1]},
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct clientid_config cfg;
		clientid_config_defaults(&cfg);
		cfg.account_case = cases[i].account_case;
		char out[CLIENTID_ACCOUNT_MAX + 1];
		memset(out, 'x', sizeof(out));
		char *in = guard_strdup(cases[i].in);
		int ret = clientid_account_canon(&cfg, in, out);
		guard_free(in, strlen(cases[i].in) + 1);
		if (ret != cases[i].ret || strcmp(out, cases[i].out) != 0) {
			fprintf(stderr, "account case %zu: got %d '%s'\n", i, ret, out);
			CU_FAIL("clientid_account_canon");
		}
	}
	/* In place. */
	struct clientid_config cfg;
	clientid_config_defaults(&cfg);
	char buf[CLIENTID_ACCOUNT_MAX + 1] = "BoB";
	CU_ASSERT_EQUAL(clientid_account_canon(&cfg, buf, buf), 0);
	CU_ASSERT_STRING_EQUAL(buf, "bob");
}

static void test_account_case_config(void)
{
	struct clientid_config cfg;
	char err[CLIENTID_ERRBUF_SIZE];
	clientid_config_defaults(&cfg);
	CU_ASSERT_EQUAL(cfg.account_case, CLIENTID_ACCOUNT_FOLD);
	CU_ASSERT_EQUAL(
	    clientid_config_load_string("t", "[policy]\naccount_case = keep\n", &cfg, err), 0);
	CU_ASSERT_EQUAL(cfg.account_case, CLIENTID_ACCOUNT_KEEP);
	CU_ASSERT_EQUAL(
	    clientid_config_load_string("t", "[policy]\naccount_case = FOLD\n", &cfg, err), 0);
	CU_ASSERT_EQUAL(cfg.account_case, CLIENTID_ACCOUNT_FOLD);
	CU_ASSERT_EQUAL(
	    clientid_config_load_string("t", "[policy]\naccount_case = upper\n", &cfg, err),
	    CLIENTID_E_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(err, "[policy] account_case: 'upper' is not one of: fold, keep"));
}

void register_account(void);
void register_account(void)
{
	static const struct unit_test tests[] = {
	    {"issue 13: account names are canonical (table)", test_account_canon_table},
	    {"issue 13: [policy] account_case", test_account_case_config},
	    {NULL, NULL},
	};
	unit_add_suite("account", tests);
}
