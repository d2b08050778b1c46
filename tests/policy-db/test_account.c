/* Account names in the store: every spelling the password check accepts is
 * one account (issue 13 item 2, "account names are not canonical"). */
#include "fixture.h"
#include "unit.h"

#include <string.h>

#define T0 1800000000u

static int decide_as(struct policydb *db, const char *account, unsigned dev, uint64_t now,
                     enum clientid_protocol proto, struct clientid_verdict *v)
{
	struct clientid_fp fp;
	struct clientid_attempt a = fixture_attempt(account, dev, 1, now, &fp);
	a.protocol = proto;
	return policydb_decide(db, &a, v);
}

static void test_account_names_are_canonical(void)
{
	struct fixture f;
	struct policydb *db = fixture_start(&f, "[policy]\nmode = enforce\n");
	struct clientid_verdict v;
	struct clientid_fp fp = fixture_fp(1);

	/* An administrator's override and device on "anna"... */
	struct clientid_account_policy p = CLIENTID_ACCOUNT_POLICY_DEFAULT;
	p.require_clientid = 1;
	CU_ASSERT_EQUAL(policydb_account_policy_set(db, "anna", &p, T0), 0);
	CU_ASSERT_EQUAL(
	    policydb_device_register(db, "anna", "UUID", &fp, CLIENTID_DEV_TRUSTED, "", T0), 0);
	/* ...hold for every spelling, on both protocols. */
	static const char *const spellings[] = {"anna", "ANNA", "Anna", "aNNa"};
	for (size_t i = 0; i < N_ELEMENTS(spellings); i++) {
		CU_ASSERT_EQUAL(decide_as(db, spellings[i], 0, T0 + 1, CLIENTID_PROTO_SMTP, &v), 0);
		CU_ASSERT_EQUAL(v.decision, CLIENTID_DENY);
		CU_ASSERT_EQUAL(v.reason, CLIENTID_R_CLIENTID_REQUIRED);
		CU_ASSERT_EQUAL(decide_as(db, spellings[i], 1, T0 + 2, CLIENTID_PROTO_IMAP, &v), 0);
		CU_ASSERT_EQUAL(v.decision, CLIENTID_ALLOW);
		CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	}
	/* A new device under another spelling lands in anna's account. */
	CU_ASSERT_EQUAL(decide_as(db, "ANNA", 2, T0 + 3, CLIENTID_PROTO_SMTP, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_UNKNOWN_DEVICE);
	struct clientid_fp fp2 = fixture_fp(2);
	struct policydb_device_info info;
	CU_ASSERT_EQUAL(policydb_device_get(db, "anna", &fp2, &info), 1);
	CU_ASSERT_EQUAL(info.device.state, CLIENTID_DEV_PENDING);
	CU_ASSERT_EQUAL(policydb_device_get(db, "ANNA", &fp2, &info), 0);
	/* Per-account revocation: revoked for "anna" is revoked for "Anna". */
	CU_ASSERT_EQUAL(policydb_revoke(db, &fp, "anna", T0 + 4), 0);
	CU_ASSERT_EQUAL(decide_as(db, "Anna", 1, T0 + 5, CLIENTID_PROTO_IMAP, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_REVOKED);
	struct policydb_stats s;
	CU_ASSERT_EQUAL(policydb_stats(db, &s), 0);
	CU_ASSERT_EQUAL(s.accounts, 1);
	fixture_end(&f, &db);
}

static void test_account_case_keep(void)
{
	struct fixture f;
	struct policydb *db = fixture_start(&f, "[policy]\nmode = learn\naccount_case = keep\n");
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(decide_as(db, "Anna", 1, T0, CLIENTID_PROTO_IMAP, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	CU_ASSERT_EQUAL(decide_as(db, "anna", 1, T0 + 1, CLIENTID_PROTO_IMAP, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	struct policydb_stats s;
	CU_ASSERT_EQUAL(policydb_stats(db, &s), 0);
	CU_ASSERT_EQUAL(s.accounts, 2);
	fixture_end(&f, &db);
}

void register_account_store(void);
void register_account_store(void)
{
	static const struct unit_test tests[] = {
	    {"issue 13: account names are canonical in the store",
	     test_account_names_are_canonical},
	    {"issue 13: account_case = keep keeps spellings apart", test_account_case_keep},
	    {NULL, NULL},
	};
	unit_add_suite("account store", tests);
}
