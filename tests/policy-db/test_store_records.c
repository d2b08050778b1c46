/* The store's records (test_store.c): schema versions, traces and their
 * copies of the device state, failure windows, export and import. */
#include "store_tests.h"
#include "policydb-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int put_schema(struct policydb *db, void *txn, void *ctx)
{
	uint8_t b[4] = {(uint8_t) * (unsigned *)ctx, 0, 0, 0};
	return db->ops->put(txn, PDB_T_META, "schema", 6, b, 4);
}

void store_test_schema_version(void)
{
	struct fixture f;
	struct policydb *db = fixture_start(&f, "[policy]\nmode = learn\n");
	struct clientid_verdict v;
	/* A store of version 1 (no device versions) is taken up. */
	unsigned old = 1;
	CU_ASSERT_EQUAL(fixture_decide(db, "x", 1, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(pdb_with_txn(db, PDB_TXN_DURABLE, put_schema, &old), 0);
	policydb_deinit(&db);
	db = fixture_open(&f, POLICYDB_NO_ALERTS);
	CU_ASSERT_EQUAL(fixture_decide(db, "x", 1, 1, T0 + 1, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	unsigned future = PDB_SCHEMA_VERSION + 1;
	CU_ASSERT_EQUAL(pdb_with_txn(db, PDB_TXN_DURABLE, put_schema, &future), 0);
	policydb_deinit(&db);
	db = fixture_open(&f, POLICYDB_NO_ALERTS);
	CU_ASSERT_EQUAL(fixture_decide(db, "x", 1, 1, T0, &v), CLIENTID_E_STORE_VERSION);
	CU_ASSERT_PTR_NOT_NULL(strstr(policydb_last_error(db), "newer"));
	fixture_end(&f, &db);
}

/* Schema 2 is taken up by schema 3: traces without the pair's part read as
 * before, their last sighting standing for the last success. */
static int put_old_trace(struct policydb *db, void *txn, void *ctx)
{
	(void)ctx;
	struct clientid_fp fp = fixture_fp(43);
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

void store_test_schema_3(void)
{
	struct fixture f;
	struct policydb *db =
	    fixture_start(&f, "[policy]\nmode = learn\n[travel]\nwindow = 10m\naction = deny\n");
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(fixture_decide_from(db, "198.51.100.7", "mig", 43, 1, T0 - 86400, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	CU_ASSERT_EQUAL(pdb_with_txn(db, PDB_TXN_ROUTINE | PDB_TXN_DURABLE, put_old_trace, NULL),
	                0);
	policydb_deinit(&db);
	db = fixture_open(&f, POLICYDB_NO_ALERTS);
	unsigned schema = 0;
	CU_ASSERT_EQUAL(fixture_decide_from(db, "203.0.113.9", "mig", 43, 1, T0 + 60, &v), 0);
	CU_ASSERT_EQUAL(pdb_with_txn(db, PDB_TXN_READ, get_schema, &schema), 0);
	CU_ASSERT_EQUAL(schema, 3);
	/* the old trace's sighting is the travel reference */
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRAVEL);
	struct clientid_fp fp = fixture_fp(43);
	struct policydb_device_info info;
	CU_ASSERT_EQUAL(policydb_device_get(db, "mig", &fp, &info), 1);
	CU_ASSERT_EQUAL(info.device.successes, 2);
	CU_ASSERT_EQUAL(info.device.last_verified, T0 + 60);
	CU_ASSERT_EQUAL(info.device.last_ok, T0);
	fixture_assert_clean(db);
	fixture_end(&f, &db);
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
void store_test_trace_copy(void)
{
	struct fixture f;
	struct policydb *db = fixture_start(&f, "[policy]\nmode = learn\n");
	struct clientid_verdict v;
	struct trace_probe p = {.account = "cy", .fp = fixture_fp(31)};
	CU_ASSERT_EQUAL(fixture_decide(db, "cy", 31, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	probe_trace(db, &p);
	CU_ASSERT(p.has_copy && p.has_version);
	CU_ASSERT_EQUAL(p.copy.version, p.version);
	CU_ASSERT_EQUAL(p.copy.state, CLIENTID_DEV_TRUSTED);
	CU_ASSERT_EQUAL(fixture_decide(db, "cy", 31, 1, T0 + 1, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	/* An administrator's block makes the copy stale. */
	uint64_t before = p.version;
	CU_ASSERT_EQUAL(policydb_device_set_state(db, "cy", &p.fp, CLIENTID_DEV_BLOCKED, T0 + 2),
	                0);
	probe_trace(db, &p);
	CU_ASSERT(p.has_copy && p.version != before && p.copy.version == before);
	CU_ASSERT_EQUAL(p.copy.state, CLIENTID_DEV_TRUSTED);
	CU_ASSERT_EQUAL(fixture_decide(db, "cy", 31, 1, T0 + 3, &v), 0);
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
	CU_ASSERT_EQUAL(fixture_decide(db, other, 32, 1, T0 + 4, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	probe_trace(db, &p);
	CU_ASSERT(p.version != before);
	CU_ASSERT_EQUAL(fixture_decide(db, "cy", 31, 1, T0 + 5, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_BLOCKED);
	/* Approved again; then forgotten: a new device, not a trusted one. */
	CU_ASSERT_EQUAL(policydb_device_set_state(db, "cy", &p.fp, CLIENTID_DEV_TRUSTED, T0 + 6),
	                0);
	CU_ASSERT_EQUAL(fixture_decide(db, "cy", 31, 1, T0 + 7, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	before = p.version;
	CU_ASSERT_EQUAL(policydb_device_forget(db, "cy", &p.fp, T0 + 8), 0);
	probe_trace(db, &p);
	CU_ASSERT(!p.has_copy && p.version != before);
	CU_ASSERT_EQUAL(fixture_decide(db, "cy", 31, 1, T0 + 9, &v), 0);
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
	fixture_end(&f, &db);
}

/* A device's failure window is a record of the touch table, keyed by the
 * fingerprint's routine bytes alone, next to the device's traces (see
 * backend.h): the limit, the reverse index, stats, check and prune must all
 * tell it from a trace. */
void store_test_device_window_with_traces(void)
{
	struct fixture f;
	struct policydb *db =
	    fixture_start(&f, "[policy]\nmode = learn\n[limits]\ndevice_fail_limit = 3\n"
	                      "device_fail_window = 1h\n");
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(fixture_decide(db, "wa", 21, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	CU_ASSERT_EQUAL(fixture_decide(db, "wb", 21, 0, T0 + 1, &v), 0);
	CU_ASSERT_EQUAL(fixture_decide(db, "wb", 21, 0, T0 + 2, &v), 0);
	CU_ASSERT_EQUAL(fixture_decide(db, "wd", 21, 0, T0 + 3, &v), 0);
	/* Three failures on two accounts where it is not trusted: one window
	 * for the device's untrusted use. */
	CU_ASSERT_EQUAL(fixture_decide(db, "wd", 21, 1, T0 + 4, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_DEVICE_FAIL_LIMIT);
	/* They never lock out the trusted pair (issue 13 item 5; this test
	 * expected the old lock-out of wa). */
	CU_ASSERT_EQUAL(fixture_decide(db, "wa", 21, 1, T0 + 4, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	CU_ASSERT_EQUAL(fixture_decide(db, "wc", 22, 1, T0 + 4, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_LEARNED);
	unsigned n = 0;
	struct clientid_fp d21 = fixture_fp(21);
	CU_ASSERT_EQUAL(policydb_device_accounts(db, &d21, store_count_cb, &n), 0);
	CU_ASSERT_EQUAL(n, 3);
	struct policydb_stats s1, s2;
	CU_ASSERT_EQUAL(policydb_stats(db, &s1), 0);
	CU_ASSERT_EQUAL(s1.touches, 4);
	CU_ASSERT(s1.counters >= 1);
	fixture_assert_clean(db);
	/* Two hours later the window is over and pruned; the traces stay. */
	struct policydb_prune_counts pc;
	CU_ASSERT_EQUAL(policydb_prune(db, T0 + 7200, 0, &pc), 0);
	CU_ASSERT(pc.counters >= 1);
	CU_ASSERT_EQUAL(pc.touches, 0);
	CU_ASSERT_EQUAL(policydb_stats(db, &s2), 0);
	CU_ASSERT_EQUAL(s2.touches, 4);
	CU_ASSERT_EQUAL(s2.counters, s1.counters - pc.counters);
	CU_ASSERT_EQUAL(fixture_decide(db, "wa", 21, 1, T0 + 7201, &v), 0);
	CU_ASSERT_EQUAL(v.reason, CLIENTID_R_TRUSTED);
	fixture_end(&f, &db);
}

void store_test_export_import(void)
{
	struct fixture f, g;
	fixture_make(&f, "[policy]\nmode = learn\n");
	fixture_make(&g, "[policy]\nmode = learn\n");
	struct policydb *db = fixture_open(&f, POLICYDB_NO_ALERTS);
	struct clientid_verdict v;
	CU_ASSERT_EQUAL(fixture_decide(db, "kim", 1, 1, T0, &v), 0);
	CU_ASSERT_EQUAL(fixture_decide(db, "kim", 2, 1, T0, &v), 0);
	struct clientid_fp fp = fixture_fp(2);
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
