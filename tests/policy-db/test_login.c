/* policydb_login(), the one entry point of both servers (issue 14): the
 * rules it owns, as tables. The store behind it has its own tests
 * (test_store.c); here it is only what the hosts used to do themselves. */
#include "fixture.h"
#include "unit.h"

#include <string.h>

#define T0    1800000000u
#define TOKEN "23bf83be-aad7-46aa-9e0f-39191ccf402f"

/* The verdict when the store cannot be asked ([store] on_error). */
static void test_login_fallback(void)
{
	static const struct {
		int have_cfg;
		enum clientid_store_error_action on_error;
		enum policydb_login_step step;
		enum clientid_decision decision;
		unsigned flags;
	} cases[] = {
	    {0, 0, POLICYDB_LOGIN_PRECHECK, CLIENTID_TEMPFAIL, 0},
	    {0, 0, POLICYDB_LOGIN_FAILED, CLIENTID_TEMPFAIL, 0},
	    {1, CLIENTID_STORE_ERROR_TEMPFAIL, POLICYDB_LOGIN_VERIFIED, CLIENTID_TEMPFAIL, 0},
	    {1, CLIENTID_STORE_ERROR_TEMPFAIL, POLICYDB_LOGIN_RECORD, CLIENTID_TEMPFAIL, 0},
	    {1, CLIENTID_STORE_ERROR_ALLOW, POLICYDB_LOGIN_PRECHECK, CLIENTID_ALLOW,
	     CLIENTID_VF_FAIL_OPEN},
	    {1, CLIENTID_STORE_ERROR_ALLOW, POLICYDB_LOGIN_VERIFIED, CLIENTID_ALLOW,
	     CLIENTID_VF_FAIL_OPEN},
	    {1, CLIENTID_STORE_ERROR_ALLOW, POLICYDB_LOGIN_RECORD, CLIENTID_ALLOW,
	     CLIENTID_VF_FAIL_OPEN},
	    {1, CLIENTID_STORE_ERROR_ALLOW, POLICYDB_LOGIN_FAILED, CLIENTID_DENY,
	     CLIENTID_VF_FAIL_OPEN},
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct clientid_config cfg;
		clientid_config_defaults(&cfg);
		cfg.store_on_error = cases[i].on_error;
		struct clientid_verdict v;
		char token[] = TOKEN, err[CLIENTID_ERRBUF_SIZE] = "handle failed";
		struct policydb_login login = {
		    .step = cases[i].step, .account = "anna", .type = "UUID", .token = token};
		/* db NULL: the host could not make its handle */
		CU_ASSERT_EQUAL(
		    policydb_login(NULL, cases[i].have_cfg ? &cfg : NULL, &login, T0, &v, err),
		    CLIENTID_E_STORE);
		CU_ASSERT_EQUAL(v.decision, cases[i].decision);
		CU_ASSERT_EQUAL(v.flags, cases[i].flags);
		CU_ASSERT_EQUAL(v.reason, CLIENTID_R_STORE_ERROR);
		CU_ASSERT_STRING_EQUAL(err, "handle failed");
		CU_ASSERT_EQUAL(token[0], '\0'); /* wiped all the same */
	}
}

/* A malformed account is refused before anything else, store or not. */
static void test_login_account(void)
{
	static const struct {
		enum policydb_login_step step;
		const char *account;
		int ret;
		enum clientid_decision decision;
		enum clientid_reason reason;
	} cases[] = {
	    {POLICYDB_LOGIN_PRECHECK, NULL, CLIENTID_E_STORE, CLIENTID_TEMPFAIL,
	     CLIENTID_R_STORE_ERROR},
	    {POLICYDB_LOGIN_PRECHECK, "", CLIENTID_E_STORE, CLIENTID_TEMPFAIL,
	     CLIENTID_R_STORE_ERROR},
	    {POLICYDB_LOGIN_PRECHECK, "a\tb", CLIENTID_E_INVAL, CLIENTID_DENY,
	     CLIENTID_R_AUTH_FAILED},
	    {POLICYDB_LOGIN_VERIFIED, NULL, CLIENTID_E_INVAL, CLIENTID_DENY,
	     CLIENTID_R_AUTH_FAILED},
	    {POLICYDB_LOGIN_FAILED, "", CLIENTID_E_INVAL, CLIENTID_DENY, CLIENTID_R_AUTH_FAILED},
	    {POLICYDB_LOGIN_RECORD, "a\x01", CLIENTID_E_INVAL, CLIENTID_ALLOW,
	     CLIENTID_R_STORE_ERROR},
	    {POLICYDB_LOGIN_VERIFIED, "anna", CLIENTID_E_STORE, CLIENTID_TEMPFAIL,
	     CLIENTID_R_STORE_ERROR},
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct clientid_verdict v;
		char err[CLIENTID_ERRBUF_SIZE] = "";
		struct policydb_login login = {.step = cases[i].step, .account = cases[i].account};
		CU_ASSERT_EQUAL(policydb_login(NULL, NULL, &login, T0, &v, err), cases[i].ret);
		CU_ASSERT_EQUAL(v.decision, cases[i].decision);
		CU_ASSERT_EQUAL(v.reason, cases[i].reason);
		if (cases[i].ret == CLIENTID_E_INVAL)
			CU_ASSERT_STRING_EQUAL(err, "not a valid account name");
	}
}

/* The fields a host passes raw: address, client id, TLS. Strict hosts
 * (Exim) refuse what does not parse; lenient ones (the Dovecot service)
 * drop it and say so. */
static void test_login_fields(void)
{
	static const struct {
		unsigned flags;
		const char *ip, *type, *token;
		enum policydb_login_tls tls;
		int ret;
		unsigned dropped;
		int have_fp, clientid_error;
		int tls_seen; /* -1: not decided */
	} cases[] = {
	    {0, "192.0.2.1", "UUID", TOKEN, POLICYDB_TLS_YES, 0, 0, 1, 0, 1},
	    {0, "no address", "UUID", TOKEN, POLICYDB_TLS_YES, CLIENTID_E_INVAL, 0, 0, 0, -1},
	    {0, "", "UUID", "", POLICYDB_TLS_YES, CLIENTID_E_TOKEN, 0, 0, 0, -1},
	    {0, "", "U U", TOKEN, POLICYDB_TLS_YES, CLIENTID_E_TYPE, 0, 0, 0, -1},
	    {0, "", "", TOKEN, POLICYDB_TLS_NO, 0, 0, 0, 0, 0},
	    {POLICYDB_LOGIN_LENIENT, "no address", "", "", POLICYDB_TLS_NO, 0, POLICYDB_DROPPED_IP,
	     0, 0, 0},
	    {POLICYDB_LOGIN_LENIENT, "", "UUID", "", POLICYDB_TLS_IF_CLIENTID, 0,
	     POLICYDB_DROPPED_CLIENTID, 0, 0, 0},
	    {POLICYDB_LOGIN_LENIENT, "", "", TOKEN, POLICYDB_TLS_IF_CLIENTID, 0,
	     POLICYDB_DROPPED_CLIENTID, 0, 0, 0},
	    {POLICYDB_LOGIN_LENIENT, "", "U U", TOKEN, POLICYDB_TLS_IF_CLIENTID, 0,
	     POLICYDB_DROPPED_CLIENTID, 0, CLIENTID_E_TYPE, 1},
	    {POLICYDB_LOGIN_LENIENT, "", "UUID", TOKEN, POLICYDB_TLS_IF_CLIENTID, 0, 0, 1, 0, 1},
	    {POLICYDB_LOGIN_LENIENT, "", "", "", POLICYDB_TLS_IF_CLIENTID, 0, 0, 0, 0, 0},
	};
	struct fixture f;
	struct policydb *db = fixture_start(&f, "[policy]\nmode = learn\n");
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char token[sizeof(TOKEN)];
		snprintf(token, sizeof(token), "%s", cases[i].token);
		struct clientid_verdict v;
		char err[CLIENTID_ERRBUF_SIZE] = "";
		struct policydb_login login = {
		    .step = POLICYDB_LOGIN_PRECHECK,
		    .flags = cases[i].flags,
		    .protocol = CLIENTID_PROTO_IMAP,
		    .ip = cases[i].ip,
		    .tls = cases[i].tls,
		    .type = cases[i].type,
		    .token = token,
		};
		int ret = policydb_login(db, NULL, &login, T0, &v, err);
		CU_ASSERT_EQUAL(ret, cases[i].ret);
		CU_ASSERT_EQUAL(login.dropped, cases[i].dropped);
		CU_ASSERT_EQUAL(login.have_fp, cases[i].have_fp);
		CU_ASSERT_EQUAL(login.clientid_error, cases[i].clientid_error);
		CU_ASSERT_EQUAL(token[0], '\0');
		if (ret != 0) {
			CU_ASSERT_EQUAL(v.decision, CLIENTID_DENY);
			CU_ASSERT_EQUAL(v.reason, CLIENTID_R_STORE_ERROR);
		}
	}
	fixture_end(&f, &db);
}

/* A client id counts only over TLS; a host that cannot see a proxy's TLS
 * lets the client id prove it. Seen in the verdict: a client id that does
 * not count names no device. */
static void test_login_tls(void)
{
	static const struct {
		enum policydb_login_tls tls;
		int prepare_first; /* as the Dovecot service does */
		int presented;
	} cases[] = {
	    {POLICYDB_TLS_YES, 0, 1},
	    {POLICYDB_TLS_IF_CLIENTID, 0, 1},
	    {POLICYDB_TLS_IF_CLIENTID, 1, 1},
	    {POLICYDB_TLS_NO, 0, 0},
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct fixture f;
		struct policydb *db = fixture_start(&f, "[policy]\nmode = learn\n");
		char token[] = TOKEN, err[CLIENTID_ERRBUF_SIZE];
		struct clientid_verdict v;
		struct policydb_login login = {
		    .step = POLICYDB_LOGIN_VERIFIED,
		    .account = "Anna",
		    .protocol = CLIENTID_PROTO_IMAP,
		    .ip = "192.0.2.1",
		    .tls = cases[i].tls,
		    .type = "UUID",
		    .token = token,
		};
		if (cases[i].prepare_first)
			CU_ASSERT_EQUAL(policydb_login_prepare(db, &login, err), 0);
		CU_ASSERT_EQUAL(policydb_login(db, NULL, &login, T0, &v, err), 0);
		CU_ASSERT_EQUAL(v.fp_short[0] != '\0', cases[i].presented);
		fixture_end(&f, &db);
	}
}

void register_login(void);
void register_login(void)
{
	static const struct unit_test tests[] = {
	    {"issue 14: the store-unavailable verdict", test_login_fallback},
	    {"issue 14: account names are checked first", test_login_account},
	    {"issue 14: address and client id, strict and lenient", test_login_fields},
	    {"issue 14: TLS as the host knows it", test_login_tls},
	    {NULL, NULL},
	};
	unit_add_suite("login", tests);
}
