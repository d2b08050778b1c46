/* Benchmark of decide-and-record (bench/policy builds and runs this).
 *
 * Generates a store of N accounts x 3 trusted devices through the backend
 * interface, each table in its key order, then times policydb_decide() —
 * the plugins' call — on random known devices: 90% correct passwords, 10%
 * wrong, so every decision commits routine updates (unsynced) and none is
 * a security change. WARMUP untimed decisions come first, so that what is
 * timed is the steady state of a long-running process (the policy
 * service), not its first touches of the map. The two stores are timed
 * in ROUNDS alternating blocks, so that both meet the same machine, and
 * each percentile is the median of the blocks'. Prints a line per store:
 *   RESULT accounts=N decisions=K decisions_per_s=.. p50_us=.. p99_us=..
 *          bytes_per_device=.. faults=.. preempted=.. p99_us_by_round=..,..
 * faults (page faults: first touches of the maps) and preempted
 * (involuntary context switches: other load on the machine) are counted
 * over the timed blocks only, to tell the causes of a latency tail apart.
 * Usage: policy-bench DIR SMALL BIG DECISIONS WARMUP ROUNDS */
#include "policydb-admin.h"
#include "policydb-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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
	const uint64_t *order; /* pass 2: account * 8 + device, in touch key order */
};

static int fp_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CLIENTID_FP_LEN);
}

/* The record every generated device starts with. */
static void generated_device(struct clientid_device *dev)
{
	memset(dev, 0, sizeof(*dev));
	dev->state = CLIENTID_DEV_TRUSTED;
	snprintf(dev->type, sizeof(dev->type), "UUID");
	dev->first_seen = NOW - 86400 * 30;
	dev->seen_day = NOW;
	dev->last_seen = NOW - 3600;
	clientid_ip_parse("198.51.100.20", &dev->last_ip);
	dev->last_protocol = CLIENTID_PROTO_IMAP;
	dev->successes = 100;
}

/* Pass 1: durable device records, accounts in order, each account's
 * devices sorted: the devices table's key order. */
static int gen_devices_txn(struct policydb *db, void *txn, void *ctx)
{
	struct gen *g = ctx;
	uint64_t end = g->next + BATCH < g->accounts ? g->next + BATCH : g->accounts;
	struct clientid_device dev;
	generated_device(&dev);
	for (uint64_t i = g->next; i < end; i++) {
		char account[64];
		account_name(i, account, sizeof(account));
		struct clientid_fp fps[DEVICES_PER_ACCOUNT];
		for (unsigned d = 0; d < DEVICES_PER_ACCOUNT; d++)
			device_fp(i, d, &fps[d]);
		qsort(fps, DEVICES_PER_ACCOUNT, sizeof(fps[0]), fp_cmp);
		for (unsigned d = 0; d < DEVICES_PER_ACCOUNT; d++) {
			uint8_t key[PDB_DEVKEY_MAX], val[128];
			size_t klen = pdb_device_key(account, &fps[d], key);
			size_t vlen = pdb_device_encode(&dev, val);
			int ret = db->ops->put(txn, PDB_T_DEVICES, key, klen, val, vlen);
			if (ret != 0)
				return ret;
		}
	}
	return 0;
}

/* Pass 2: routine touch records in the touch table's key order (device
 * fingerprint first), as a store built up over time holds them: without
 * the free list that inserting 3M random keys in 60 big transactions
 * leaves behind (see docs/durability.md). Each is what a decision on the
 * device writes: with the copy of its durable state and the device version
 * of its account's shard (backend.h). */
static int gen_touch_txn(struct policydb *db, void *txn, void *ctx)
{
	struct gen *g = ctx;
	uint64_t n = g->accounts * DEVICES_PER_ACCOUNT;
	uint64_t end = g->next + BATCH < n ? g->next + BATCH : n;
	struct clientid_device dev;
	generated_device(&dev);
	for (uint64_t i = g->next; i < end; i++) {
		char account[64];
		account_name(g->order[i] / 8, account, sizeof(account));
		struct clientid_fp fp;
		device_fp(g->order[i] / 8, (unsigned)(g->order[i] % 8), &fp);
		uint8_t key[PDB_TOUCHKEY_MAX], val[PDB_TOUCH_MAX];
		size_t klen = pdb_touch_key(&fp, account, key);
		struct pdb_copy copy = {.state = dev.state, .seen_day = dev.seen_day};
		uint8_t vkey[PDB_VERSION_KEY];
		pdb_version_key(pdb_shard(account, strlen(account)), vkey);
		const void *v;
		size_t vlen;
		int ret = db->ops->get(txn, PDB_T_META, vkey, sizeof(vkey), &v, &vlen);
		if (ret != 1 || vlen != PDB_VERSION_LEN)
			return ret < 0 ? ret : CLIENTID_E_STORE_CORRUPT;
		memcpy(&copy.version, v, PDB_VERSION_LEN);
		vlen = pdb_touch_encode(&dev, &copy, val);
		ret = db->ops->put(txn, PDB_T_TOUCH, key, klen, val, vlen);
		if (ret != 0)
			return ret;
	}
	return 0;
}

/* Touch keys start with the fingerprint's first PDB_FP_ROUTINE bytes, then
 * the account name, whose order is the account number's. */
static int touch_order_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	struct clientid_fp fx, fy;
	device_fp(x / 8, (unsigned)(x % 8), &fx);
	device_fp(y / 8, (unsigned)(y % 8), &fy);
	int c = memcmp(fx.b, fy.b, PDB_FP_ROUTINE);
	return c != 0 ? c : (x / 8 > y / 8) - (x / 8 < y / 8);
}

static int generate_pass(struct policydb *db, unsigned flags, pdb_txn_fn *fn, struct gen *g,
                         uint64_t n)
{
	for (g->next = 0; g->next < n; g->next += BATCH) {
		if (pdb_with_txn(db, flags, fn, g) != 0) {
			fprintf(stderr, "generate: %s\n", policydb_last_error(db));
			return -1;
		}
	}
	return 0;
}

static int generate(struct policydb *db, uint64_t accounts)
{
	uint64_t n = accounts * DEVICES_PER_ACCOUNT;
	uint64_t *order = malloc(n * sizeof(*order));
	if (order == NULL)
		return -1;
	for (uint64_t i = 0; i < n; i++)
		order[i] = i / DEVICES_PER_ACCOUNT * 8 + i % DEVICES_PER_ACCOUNT;
	qsort(order, n, sizeof(*order), touch_order_cmp);
	struct gen g = {.accounts = accounts, .order = order};
	int ret = generate_pass(db, PDB_TXN_DURABLE, gen_devices_txn, &g, accounts);
	if (ret == 0)
		ret = generate_pass(db, PDB_TXN_ROUTINE, gen_touch_txn, &g, n);
	free(order);
	return ret;
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

struct run {
	struct policydb *db;
	uint64_t accounts, seed, i;
	size_t errors;
};

/* Runs n decisions on random known devices, each latency into lat[] when
 * lat is not NULL. */
static void run_decisions(struct run *r, size_t n, uint64_t *lat)
{
	for (size_t k = 0; k < n; k++, r->i++) {
		uint64_t seed = r->seed = mix(r->seed);
		uint64_t acc = seed % r->accounts;
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
		    .now = NOW + r->i / 50000,
		};
		clientid_ip_parse("198.51.100.20", &a.ip);
		struct clientid_verdict v;
		uint64_t t0 = ns_now();
		int ret = policydb_decide(r->db, &a, &v);
		if (lat != NULL)
			lat[k] = ns_now() - t0;
		if (ret != 0 ||
		    (a.auth == CLIENTID_AUTH_SUCCESS && v.reason != CLIENTID_R_TRUSTED)) {
			if (r->errors++ == 0)
				fprintf(stderr, "decide: %d %s %s\n", ret,
				        clientid_reason_name(v.reason), policydb_last_error(r->db));
		}
	}
}

#define MAX_ROUNDS 99

struct store {
	uint64_t accounts;
	struct run r;
	double bytes_per_device, secs;
	long minflt, nivcsw; /* page faults and preemptions in the timed blocks */
	double p50[MAX_ROUNDS], p99[MAX_ROUNDS];
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double s[MAX_ROUNDS];
	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* Opens DIR/store-N, fills it with N accounts and warms it up. */
static int store_open(struct store *st, const char *dir, size_t warmup)
{
	struct clientid_config cfg;
	clientid_config_defaults(&cfg);
	snprintf(cfg.store_path, sizeof(cfg.store_path), "%s/store-%llu", dir,
	         (unsigned long long)st->accounts);
	cfg.mode = CLIENTID_MODE_LEARN;
	cfg.device_fail_limit = 1000; /* random failures must not lock devices out */
	char err[CLIENTID_ERRBUF_SIZE];
	if (policydb_init_config(&cfg, NULL, POLICYDB_NO_ALERTS, &st->r.db, err) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	uint64_t t = ns_now();
	if (generate(st->r.db, st->accounts) != 0)
		return -1;
	fprintf(stderr, "generated %llu accounts x %d devices in %.1f s\n",
	        (unsigned long long)st->accounts, DEVICES_PER_ACCOUNT,
	        (double)(ns_now() - t) / 1e9);
	struct policydb_stats s;
	if (policydb_stats(st->r.db, &s) != 0) {
		fprintf(stderr, "%s\n", policydb_last_error(st->r.db));
		return -1;
	}
	st->bytes_per_device = (double)(s.bytes_durable + s.bytes_routine) /
	                       (double)(st->accounts * DEVICES_PER_ACCOUNT);
	st->r.accounts = st->accounts;
	st->r.seed = 42;
	run_decisions(&st->r, warmup, NULL);
	return 0;
}

/* One timed block of n decisions: its p50 and p99 go to round k. */
static void store_round(struct store *st, int k, size_t n, uint64_t *lat)
{
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	uint64_t start = ns_now();
	run_decisions(&st->r, n, lat);
	st->secs += (double)(ns_now() - start) / 1e9;
	getrusage(RUSAGE_SELF, &ru1);
	st->minflt += ru1.ru_minflt - ru0.ru_minflt + ru1.ru_majflt - ru0.ru_majflt;
	st->nivcsw += ru1.ru_nivcsw - ru0.ru_nivcsw;
	qsort(lat, n, sizeof(*lat), cmp_u64);
	st->p50[k] = (double)lat[n / 2] / 1e3;
	st->p99[k] = (double)lat[n * 99 / 100] / 1e3;
}

static void store_report(const struct store *st, int rounds, size_t n)
{
	printf("RESULT accounts=%llu decisions=%zu errors=%zu decisions_per_s=%.0f p50_us=%.1f "
	       "p99_us=%.1f bytes_per_device=%.0f faults=%ld preempted=%ld p99_us_by_round=",
	       (unsigned long long)st->accounts, n * (size_t)rounds, st->r.errors,
	       (double)n * rounds / st->secs, median(st->p50, rounds), median(st->p99, rounds),
	       st->bytes_per_device, st->minflt, st->nivcsw);
	for (int k = 0; k < rounds; k++)
		printf("%s%.1f", k ? "," : "", st->p99[k]);
	printf("\n");
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: %s DIR SMALL BIG DECISIONS WARMUP ROUNDS\n", argv[0]);
		return 2;
	}
	struct store st[2] = {{.accounts = strtoull(argv[2], NULL, 10)},
	                      {.accounts = strtoull(argv[3], NULL, 10)}};
	size_t decisions = strtoull(argv[4], NULL, 10);
	size_t warmup = strtoull(argv[5], NULL, 10);
	int rounds = atoi(argv[6]);
	if (rounds < 1 || rounds > MAX_ROUNDS || decisions < (size_t)rounds * 100) {
		fprintf(stderr, "ROUNDS must be 1..%d, DECISIONS at least 100 a round\n",
		        MAX_ROUNDS);
		return 2;
	}
	size_t n = decisions / (size_t)rounds;
	uint64_t *lat = malloc(n * sizeof(*lat));
	if (lat == NULL || store_open(&st[0], argv[1], warmup) != 0 ||
	    store_open(&st[1], argv[1], warmup) != 0)
		return 1;
	/* Alternate the stores, so that both see the same machine. */
	for (int k = 0; k < rounds; k++)
		for (int i = 0; i < 2; i++)
			store_round(&st[i], k, n, lat);
	for (int i = 0; i < 2; i++) {
		store_report(&st[i], rounds, n);
		policydb_deinit(&st[i].r.db);
	}
	free(lat);
	return st[0].r.errors == 0 && st[1].r.errors == 0 ? 0 : 1;
}
