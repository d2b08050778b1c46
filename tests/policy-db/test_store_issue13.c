/* The store's regressions of issue 13 (test_store.c): the learn limit, a
 * stolen token, travel, IPv6 prefixes, clock jumps. */
#include "store_tests.h"

#include <stdio.h>

static int count_bans_cb(void *ctx, const struct policydb_ban_info *ban)
{
	(void)ban;
	(*(unsigned *)ctx)++;
	return 0;
}

/* Issue 13 item 1: a device refused at the learn limit was pending, and the
 * same login again found trusted_count 0 and was trusted. */
void store_test_learn_limit_retry(void)
{
	struct fixture f;
	struct policydb *db = fixture_start(&f, "[policy]\nmode = learn\nlearn_max_devices = 1\n");
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(fixture_decide(db, "lu", 1, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	for (unsigned i = 1; i <= 3; i++) {
		CU_ASSERT_EQUAL(fixture_decide(db, "lu", 2, 1, T0 + i, &v), 0);
		CU_ASSERT_EQUAL(v.decision, CLIENTID_DENY);
		CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARN_LIMIT);
	}
	struct clientid_fp fp = fixture_fp(2);
	struct policydb_device_info info;
	CU_ASSERT_EQUAL(policydb_device_get(db, "lu", &fp, &info), 1);
	CU_ASSERT_EQUAL(info.device.state, CLIENTID_DEV_PENDING);
	/* Room made by forgetting the first: the pending one is promoted. */
	struct clientid_fp first = fixture_fp(1);
	CU_ASSERT_EQUAL(policydb_device_forget(db, "lu", &first, T0 + 5), 0);
	CU_ASSERT_EQUAL(fixture_decide(db, "lu", 2, 1, T0 + 6, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	fixture_end(&f, &db);
}

/* Issue 13 item 5: twelve wrong passwords with the owner's token on made-up
 * accounts left the owner locked out and the device banned site-wide. */
void store_test_stolen_token_owner(void)
{
	struct fixture f;
	struct policydb *db =
	    fixture_start(&f, "[policy]\nmode = enforce\n[limits]\ndevice_fail_limit = 3\n"
	                      "device_max_accounts = 2\n");
	struct clientid_fp fp = fixture_fp(40);
	CU_ASSERT_EQUAL(policydb_device_register(db, "owner", "UUID", &fp, CLIENTID_DEV_TRUSTED,
	                                         NULL, T0 - 5 * 86400),
	                0);
	struct clientid_verdict v;
	char acct[32];
	for (unsigned i = 0; i < 12; i++) {
		snprintf(acct, sizeof(acct), "made-up-%u", i);
		CU_ASSERT_EQUAL(fixture_decide_from(db, "203.0.113.66", acct, 40, 0, T0 + i, &v),
		                0);
	}
	/* the attacker is locked out where the device is not trusted */
	CU_ASSERT_EQUAL(fixture_decide_from(db, "203.0.113.66", "made-up-0", 40, 1, T0 + 20, &v),
	                0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_DEVICE_FAIL_LIMIT);
	/* the owner is not, and no ban was written */
	CU_ASSERT_EQUAL(fixture_decide(db, "owner", 40, 1, T0 + 21, &v), 0);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_ALLOW);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	unsigned bans = 0;
	CU_ASSERT_EQUAL(policydb_bans(db, count_bans_cb, &bans), 0);
	CU_ASSERT_EQUAL(bans, 0);
	/* the owner's pair has its own window, as strict as the device's */
	for (unsigned i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(fixture_decide(db, "owner", 40, 0, T0 + 30 + i, &v), 0);
	CU_ASSERT_EQUAL(fixture_decide(db, "owner", 40, 1, T0 + 40, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_DEVICE_FAIL_LIMIT);
	/* and unlock ends it */
	CU_ASSERT_EQUAL(policydb_unlock(db, &fp, NULL, T0 + 41), 0);
	CU_ASSERT_EQUAL(fixture_decide(db, "owner", 40, 1, T0 + 42, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	fixture_end(&f, &db);
}

/* Issue 13 item 5: a walk with verified passwords is refused where the
 * device is not trusted, and on pairs the walk itself taught; older trusted
 * pairs keep working. */
void store_test_walk_keeps_trusted_pairs(void)
{
	struct fixture f;
	struct policydb *db =
	    fixture_start(&f, "[policy]\nmode = learn\n[limits]\ndevice_max_accounts = 2\n"
	                      "device_accounts_window = 1d\n");
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(fixture_decide(db, "home", 41, 1, T0 - 3 * 86400, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	CU_ASSERT_EQUAL(fixture_decide(db, "home", 41, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(fixture_decide(db, "w1", 41, 1, T0 + 1, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	CU_ASSERT_EQUAL(fixture_decide(db, "w2", 41, 1, T0 + 2, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_MANY_ACCOUNTS);
	unsigned bans = 0;
	CU_ASSERT_EQUAL(policydb_bans(db, count_bans_cb, &bans), 0);
	CU_ASSERT_EQUAL(bans, 1);
	CU_ASSERT_EQUAL(fixture_decide(db, "home", 41, 1, T0 + 3, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	CU_ASSERT_EQUAL(fixture_decide(db, "w1", 41, 1, T0 + 4, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_BLOCKED);
	CU_ASSERT_EQUAL(fixture_decide(db, "w3", 41, 1, T0 + 5, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_BLOCKED);
	/* a week later too: the ban stays, and so does the exemption */
	CU_ASSERT_EQUAL(fixture_decide(db, "home", 41, 1, T0 + 7 * 86400, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	CU_ASSERT_EQUAL(fixture_decide(db, "w1", 41, 1, T0 + 7 * 86400, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_BLOCKED);
	fixture_end(&f, &db);
}

/* Issue 13 item 9: one wrong password from the attacker's network first
 * overwrote the address the travel check compared with. */
void store_test_travel_last_success(void)
{
	struct fixture f;
	struct policydb *db =
	    fixture_start(&f, "[policy]\nmode = learn\n[travel]\nwindow = 10m\naction = deny\n");
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(fixture_decide_from(db, "198.51.100.7", "tr", 42, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	CU_ASSERT_EQUAL(fixture_decide_from(db, "203.0.113.5", "tr", 42, 0, T0 + 10, &v), 0);
	CU_ASSERT_EQUAL(fixture_decide_from(db, "203.0.113.9", "tr", 42, 1, T0 + 20, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRAVEL);
	/* and the owner, at home, is not refused for the attacker's failure */
	CU_ASSERT_EQUAL(fixture_decide_from(db, "198.51.100.8", "tr", 42, 1, T0 + 30, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	fixture_end(&f, &db);
}

/* Issue 13 item 8: an attacker rotating addresses within one IPv6 /64 was
 * counted per /128. */
void store_test_ip_prefix(void)
{
	struct fixture f;
	struct policydb *db =
	    fixture_start(&f, "[policy]\nmode = learn\n[limits]\nip_fail_limit = 3\n");
	struct clientid_verdict v;
	char ip[64];
	for (unsigned i = 1; i <= 3; i++) {
		snprintf(ip, sizeof(ip), "2001:db8:1:2::%u", i);
		CU_ASSERT_EQUAL(fixture_decide_from(db, ip, "pv", 0, 0, T0 + i, &v), 0);
	}
	CU_ASSERT_EQUAL(fixture_decide_from(db, "2001:db8:1:2:ffff::9", "pv", 0, 1, T0 + 5, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_IP_FAIL_LIMIT);
	CU_ASSERT_EQUAL(fixture_decide_from(db, "2001:db8:1:3::1", "pv", 0, 1, T0 + 5, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_NO_CLIENTID_OK);
	/* IPv4: /32 by default */
	for (unsigned i = 1; i <= 3; i++)
		CU_ASSERT_EQUAL(fixture_decide_from(db, "198.51.100.1", "pv", 0, 0, T0 + i, &v), 0);
	CU_ASSERT_EQUAL(fixture_decide_from(db, "198.51.100.2", "pv", 0, 1, T0 + 5, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_NO_CLIENTID_OK);
	/* unlock names any address of the prefix */
	struct clientid_ip a;
	CU_ASSERT_EQUAL_FATAL(clientid_ip_parse("2001:db8:1:2::77", &a), 0);
	CU_ASSERT_EQUAL(policydb_unlock(db, NULL, &a, T0 + 6), 0);
	CU_ASSERT_EQUAL(fixture_decide_from(db, "2001:db8:1:2::1", "pv", 0, 1, T0 + 7, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_NO_CLIENTID_OK);
	policydb_deinit(&db);
	fixture_remove(&f);
	/* a configured prefix */
	fixture_make(&f, "[policy]\nmode = learn\n[limits]\nip_fail_limit = 2\n"
	                 "ip_fail_prefix4 = 24\nip_fail_prefix6 = 48\n");
	db = fixture_open(&f, POLICYDB_NO_ALERTS);
	CU_ASSERT_EQUAL(fixture_decide_from(db, "198.51.100.1", "pw", 0, 0, T0, &v), 0);
	CU_ASSERT_EQUAL(fixture_decide_from(db, "198.51.100.2", "pw", 0, 0, T0, &v), 0);
	CU_ASSERT_EQUAL(fixture_decide_from(db, "198.51.100.3", "pw", 0, 1, T0 + 1, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_IP_FAIL_LIMIT);
	CU_ASSERT_EQUAL(fixture_decide_from(db, "2001:db8:1:2::1", "pw", 0, 0, T0, &v), 0);
	CU_ASSERT_EQUAL(fixture_decide_from(db, "2001:db8:1:3::1", "pw", 0, 0, T0, &v), 0);
	CU_ASSERT_EQUAL(fixture_decide_from(db, "2001:db8:1:4::1", "pw", 0, 1, T0 + 1, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_IP_FAIL_LIMIT);
	fixture_end(&f, &db);
}

/* Issue 13 item 10: a window or attack mode written while the clock was
 * ahead stayed in force after it was corrected; and unlock --attack. */
void store_test_clock_jump(void)
{
	struct fixture f;
	struct policydb *db =
	    fixture_start(&f, "[policy]\nmode = learn\n[limits]\ndevice_fail_limit = 2\n"
	                      "[attack]\nfail_threshold = 3\nduration = 15m\n");
	struct clientid_verdict v;
	uint64_t ahead = T0 + 30 * 86400;
	for (unsigned i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(fixture_decide(db, "cj", 50, 0, ahead + i, &v), 0);
	CU_ASSERT_EQUAL(fixture_decide(db, "cj", 51, 1, ahead + 5, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_UNDER_ATTACK);
	/* the clock is put right: neither the lock-out nor the mode holds */
	CU_ASSERT_EQUAL(fixture_decide(db, "cj", 50, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(v.decision, CLIENTID_ALLOW);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	CU_ASSERT_EQUAL(v.flags & CLIENTID_VF_UNDER_ATTACK, 0);
	/* unlock --attack ends the mode at once */
	for (unsigned i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(fixture_decide(db, "ck", 0, 0, T0 + 10 + i, &v), 0);
	CU_ASSERT_EQUAL(fixture_decide(db, "ck", 52, 1, T0 + 20, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_UNDER_ATTACK);
	CU_ASSERT_EQUAL(policydb_unlock_attack(db, T0 + 21), 0);
	CU_ASSERT_EQUAL(fixture_decide(db, "ck", 52, 1, T0 + 22, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	CU_ASSERT_EQUAL(policydb_unlock_attack(db, T0 + 23), CLIENTID_E_NOTFOUND);
	fixture_end(&f, &db);
}
