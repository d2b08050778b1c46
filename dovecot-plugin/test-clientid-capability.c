/* Table test of clientid_capability_insert_pos(). Each input is copied to the
 * end of a buffer right before nothing else, so a read past the end shows up
 * under ASan. */
#include "clientid-capability.h"

#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

struct capability_case {
	const char *line;
	const char *want; /* the line after inserting " CLIENTID", or NULL: untouched */
};

static const struct capability_case cases[] = {
    {"* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN\r\n",
     "* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN CLIENTID\r\n"},
    {"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Dovecot ready.\r\n",
     "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN CLIENTID] Dovecot ready.\r\n"},
    {"* OK [CAPABILITY IMAP4rev1] a ] b\r\n", "* OK [CAPABILITY IMAP4rev1 CLIENTID] a ] b\r\n"},
    /* already there */
    {"* CAPABILITY IMAP4rev1 CLIENTID\r\n", NULL},
    {"* CAPABILITY IMAP4rev1 clientid AUTH=PLAIN\r\n", NULL},
    {"* OK [CAPABILITY CLIENTID IMAP4rev1] hi\r\n", NULL},
    /* look-alikes stay */
    {"* CAPABILITY IMAP4rev1 CLIENTIDX\r\n", "* CAPABILITY IMAP4rev1 CLIENTIDX CLIENTID\r\n"},
    /* not capability lines */
    {"a1 OK Pre-login capabilities listed, post-login capabilities have more.\r\n", NULL},
    {"* OK Dovecot ready.\r\n", NULL},
    {"* OK [CAPABILITY IMAP4rev1 no close\r\n", NULL},
    {"* CAPABILITY IMAP4rev1", NULL},
    {"* CAPABILITY IMAP4rev1\n", NULL},
    {"* CAPABILITY A\r\n* CAPABILITY B\r\n", NULL},
    {"* CAPABILITY \r\n", NULL},
    {"* OK [CAPABILITY ] x\r\n", NULL},
    {"", NULL},
    {"* CAPABILITY", NULL},
};

static void test_capability_table(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].line);
		char *buf = malloc(len + 1);
		char out[256];
		size_t pos;

		CU_ASSERT_FATAL(buf != NULL);
		memcpy(buf, cases[i].line, len);
		pos = clientid_capability_insert_pos(buf, len);
		if (cases[i].want == NULL) {
			CU_ASSERT_EQUAL(pos, 0);
		} else {
			CU_ASSERT_FATAL(pos > 0 && pos <= len);
			memcpy(out, buf, pos);
			memcpy(out + pos, " " CLIENTID_CAPABILITY_WORD, CLIENTID_CAPABILITY_EXTRA);
			memcpy(out + pos + CLIENTID_CAPABILITY_EXTRA, buf + pos, len - pos);
			out[len + CLIENTID_CAPABILITY_EXTRA] = '\0';
			CU_ASSERT_STRING_EQUAL(out, cases[i].want);
		}
		free(buf);
	}
}

int main(void)
{
	CU_pSuite suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	suite = CU_add_suite("dovecot-plugin capability", NULL, NULL);
	if (suite == NULL || CU_add_test(suite, "table", test_capability_table) == NULL) {
		CU_cleanup_registry();
		return 1;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures == 0 ? 0 : 1;
}
