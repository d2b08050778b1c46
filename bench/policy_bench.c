/* Benchmark of decide-and-record (bench/policy builds and runs this).
 *
 * Generates a store of N accounts x 3 trusted devices through the backend
 * interface (bulk, in key order where the key order allows it), then times
 * policydb_decide() — the plugins' call — on random known devices: 90%
 * correct passwords, 10% wrong, so every decision commits routine updates
 * (unsynced) and none is a security change. Prints one line:
 *   RESULT accounts=N decisions=K decisions_per_s=.. p50_us=.. p99_us=..
 *          bytes_per_device=..
 * Usage: policy-bench DIR ACCOUNTS DECISIONS */
#include "policydb-admin.h"
#include "policydb-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEVICES_PER_ACCOUNT 3
#define NOW                 1800000000u
#define BATCH               50000

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void device_fp(uint64_t account, unsigned dev, struct clientid_fp *fp)
{
	for (int i = 0; i < 4; i++) {
		uint64_t v = mix(account * 8 + dev + (uint64_t)i * 0x100000000ull);
		memcpy(fp->b + 8 * i, &v, 8);
	}
}

static void account_name(uint64_t i, char *buf, size_t size)
{
	snprintf(buf, size, "user%08llu@example.org", (unsigned long long)i);
}

struct gen {
	uint64_t accounts, next;
	int routine; /* pass 2: routine records */
};

static int fp_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CLIENTID_FP_LEN);
}

static int gen_txn(struct policydb *db, void *txn, void *ctx)
{
	struct gen *g = ctx;
	uint64_t end = g->next + BATCH < g->accounts ? g->next + BATCH : g->accounts;
	for (uint64_t i = g->next; i < end; i++) {
		char account[64];
		account_name(i, account, sizeof(account));
		struct clientid_fp fps[DEVICES_PER_ACCOUNT];
		for (unsigned d = 0; d < DEVICES_PER_ACCOUNT; d++)
			device_fp(i, d, &fps[d]);
		qsort(fps, DEVICES_PER_ACCOUNT, sizeof(fps[0]), fp_cmp);
		for (unsigned d = 0; d < DEVICES_PER_ACCOUNT; d++) {
			struct clientid_device dev;
			memset(&dev, 0, sizeof(dev));
			dev.state = CLIENTID_DEV_TRUSTED;
			snprintf(dev.type, sizeof(dev.type), "UUID");
			dev.first_seen = NOW - 86400 * 30;
			dev.seen_day = NOW;
			dev.last_seen = NOW - 3600;
			clientid_ip_parse("198.51.100.20", &dev.last_ip);
			dev.last_protocol = CLIENTID_PROTO_IMAP;
			dev.successes = 100;
			uint8_t key[PDB_DEVKEY_MAX], val[128];
			int ret;
			if (!g->routine) {
				size_t klen = pdb_device_key(account, &fps[d], key);
				size_t vlen = pdb_device_encode(&dev, val);
				ret = db->ops->put(txn, PDB_T_DEVICES, key, klen, val, vlen);
			} else {
				size_t klen = pdb_touch_key(&fps[d], account, key);
				pdb_touch_encode(&dev, val);
				ret = db->ops->put(txn, PDB_T_TOUCH, key, klen, val, PDB_TOUCH_LEN);
			}
			if (ret != 0)
				return ret;
		}
	}
	return 0;
}

static int generate(struct policydb *db, uint64_t accounts)
{
	for (int pass = 0; pass < 2; pass++) {
		struct gen g = {accounts, 0, pass};
		while (g.next < accounts) {
			int ret =
			    pdb_with_txn(db, pass ? PDB_TXN_ROUTINE : PDB_TXN_DURABLE, gen_txn, &g);
			if (ret != 0) {
				fprintf(stderr, "generate: %s\n", policydb_last_error(db));
				return ret;
			}
			g.next += BATCH;
		}
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t ns_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s DIR ACCOUNTS DECISIONS\n", argv[0]);
		return 2;
	}
	uint64_t accounts = strtoull(argv[2], NULL, 10);
	size_t decisions = strtoull(argv[3], NULL, 10);
	struct clientid_config cfg;
	clientid_config_defaults(&cfg);
	snprintf(cfg.store_path, sizeof(cfg.store_path), "%s", argv[1]);
	cfg.mode = CLIENTID_MODE_LEARN;
	cfg.device_fail_limit = 1000; /* random failures must not lock devices out */
	struct policydb *db;
	char err[CLIENTID_ERRBUF_SIZE];
	if (policydb_init_config(&cfg, NULL, POLICYDB_NO_ALERTS, &db, err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	uint64_t t = ns_now();
	if (generate(db, accounts) != 0)
		return 1;
	fprintf(stderr, "generated %llu accounts x %d devices in %.1f s\n",
	        (unsigned long long)accounts, DEVICES_PER_ACCOUNT, (double)(ns_now() - t) / 1e9);
	struct policydb_stats s;
	if (policydb_stats(db, &s) != 0) {
		fprintf(stderr, "%s\n", policydb_last_error(db));
		return 1;
	}
	double bytes_per_device =
	    (double)(s.bytes_durable + s.bytes_routine) / (double)(accounts * DEVICES_PER_ACCOUNT);

	uint64_t *lat = malloc(decisions * sizeof(*lat));
	uint64_t seed = 42;
	size_t errors = 0;
	uint64_t start = ns_now();
	for (size_t i = 0; i < decisions; i++) {
		seed = mix(seed);
		uint64_t acc = seed % accounts;
		unsigned dev = (unsigned)((seed >> 40) % DEVICES_PER_ACCOUNT);
		char account[64];
		account_name(acc, account, sizeof(account));
		struct clientid_fp fp;
		device_fp(acc, dev, &fp);
		struct clientid_attempt a = {
		    .account = account,
		    .protocol = (seed >> 50) & 1 ? CLIENTID_PROTO_IMAP : CLIENTID_PROTO_SMTP,
		    .type = "UUID",
		    .fp = &fp,
		    .tls = 1,
		    .auth = (seed >> 20) % 10 == 0 ? CLIENTID_AUTH_FAILURE : CLIENTID_AUTH_SUCCESS,
		    .now = NOW + i / 50000,
		};
		clientid_ip_parse("198.51.100.20", &a.ip);
		struct clientid_verdict v;
		uint64_t t0 = ns_now();
		int ret = policydb_decide(db, &a, &v);
		lat[i] = ns_now() - t0;
		if (ret != 0 ||
		    (a.auth == CLIENTID_AUTH_SUCCESS && v.reason != CLIENTID_R_TRUSTED)) {
			if (errors++ == 0)
				fprintf(stderr, "decide: %d %s %s\n", ret,
				        clientid_reason_name(v.reason), policydb_last_error(db));
		}
	}
	double secs = (double)(ns_now() - start) / 1e9;
	qsort(lat, decisions, sizeof(*lat), cmp_u64);
	printf("RESULT accounts=%llu decisions=%zu errors=%zu decisions_per_s=%.0f p50_us=%.1f "
	       "p99_us=%.1f bytes_per_device=%.0f\n",
	       (unsigned long long)accounts, decisions, errors, (double)decisions / secs,
	       (double)lat[decisions / 2] / 1e3, (double)lat[decisions * 99 / 100] / 1e3,
	       bytes_per_device);
	free(lat);
	policydb_deinit(&db);
	return errors == 0 ? 0 : 1;
}
