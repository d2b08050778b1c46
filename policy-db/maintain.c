/* Administration, upkeep: prune in short batches, and the consistency check. */
#include "policydb-admin.h"
#include "policydb-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- prune --- */

struct keylist {
	enum policydb_table table;
	size_t n, cap;
	uint8_t (*keys)[PDB_DEVKEY_MAX + 1]; /* [0] = length */
};

static int keylist_add(struct keylist *l, const void *key, size_t klen)
{
	if (klen > PDB_DEVKEY_MAX)
		return CLIENTID_E_STORE_CORRUPT;
	if (l->n == l->cap) {
		size_t cap = l->cap == 0 ? 64 : l->cap * 2;
		void *p = realloc(l->keys, cap * sizeof(*l->keys));
		if (p == NULL)
			return CLIENTID_E_NOMEM;
		l->keys = p;
		l->cap = cap;
	}
	l->keys[l->n][0] = (uint8_t)klen;
	memcpy(l->keys[l->n] + 1, key, klen);
	l->n++;
	return 0;
}

struct prune_ctx {
	struct policydb *db;
	void *txn;
	uint32_t now;
	int dry_run;
	struct keylist devices, touches, events, counters;
	struct keylist windows; /* device failure windows, in the touch table */
	/* the batch: which table, from which key, and where the next starts */
	unsigned table, visited;
	int more;
	uint8_t resume[PDB_DEVKEY_MAX], next[PDB_DEVKEY_MAX];
	size_t resume_len, next_len;
};

static int older(uint32_t now, uint32_t t, uint32_t age)
{
	return now > t && now - t >= age;
}

static int prune_device(void *vctx, const struct policydb_device_info *info)
{
	struct prune_ctx *c = vctx;
	uint32_t last = info->device.seen_day;
	if (info->touched && info->device.last_seen > last)
		last = info->device.last_seen;
	if (!older(c->now, last, c->db->cfg.device_retention))
		return 0;
	uint8_t key[PDB_DEVKEY_MAX];
	int ret = keylist_add(&c->devices, key, pdb_device_key(info->account, &info->fp, key));
	if (ret != 0)
		return ret;
	if (info->touched) {
		uint8_t tkey[PDB_TOUCHKEY_MAX];
		size_t tlen = pdb_touch_key(&info->fp, info->account, tkey);
		return keylist_add(&c->touches, tkey, tlen);
	}
	return 0;
}

static int prune_dev_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct prune_ctx *c = vctx;
	struct pdb_device_walk w = {c->db, c->txn, prune_device, c};
	return pdb_device_walk_cb(&w, key, klen, val, vlen);
}

static int prune_touch_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct prune_ctx *c = vctx;
	if (klen == PDB_FP_ROUTINE) {
		/* The device's failure window. */
		if (vlen == PDB_WINDOW_LEN &&
		    !older(c->now, pdb_get32(val), c->db->cfg.device_fail_window))
			return 0;
		return keylist_add(&c->windows, key, klen);
	}
	struct clientid_device d;
	if (pdb_touch_decode(val, vlen, &d) != 0)
		return CLIENTID_E_STORE_CORRUPT;
	/* Traces of devices the account never accepted serve the walking
	 * device check only: keep them for its window. Traces of accepted
	 * devices go with their record. */
	if (!older(c->now, d.last_seen, c->db->cfg.device_accounts_window))
		return 0;
	unsigned matches;
	int ret = pdb_trace_has_device(c->db, c->txn, key, klen, &matches);
	if (ret < 0)
		return ret;
	return matches > 0 ? 0 : keylist_add(&c->touches, key, klen);
}

static int prune_event_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct prune_ctx *c = vctx;
	struct clientid_event ev;
	if (pdb_event_decode(val, vlen, &ev) != 0)
		return CLIENTID_E_STORE_CORRUPT;
	if (!older(c->now, ev.time, c->db->cfg.event_retention))
		return 1; /* events are in time order: done */
	return keylist_add(&c->events, key, klen);
}

static int prune_counter_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct prune_ctx *c = vctx;
	const struct clientid_config *cfg = &c->db->cfg;
	const uint8_t *k = key, *v = val;
	uint32_t window;
	if (klen == 6 && memcmp(key, "attack", 6) == 0) {
		uint32_t until = vlen == 4 ? (uint32_t)v[0] | (uint32_t)v[1] << 8 |
		                                 (uint32_t)v[2] << 16 | (uint32_t)v[3] << 24
		                           : 0;
		return until < c->now ? keylist_add(&c->counters, key, klen) : 0;
	}
	if (vlen != PDB_WINDOW_LEN)
		return keylist_add(&c->counters, key, klen);
	/* 'd': device windows of stores written before they moved to the touch
	 * table; nothing reads them any more. */
	window = k[0] == 'd'   ? cfg->device_fail_window
	         : k[0] == 'i' ? cfg->ip_fail_window
	                       : cfg->attack_window;
	return older(c->now, pdb_get32(v), window) ? keylist_add(&c->counters, key, klen) : 0;
}

static int delete_all(struct policydb *db, void *txn, struct keylist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		int ret = db->ops->del(txn, l->table, l->keys[i] + 1, l->keys[i][0]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void prune_reset(struct prune_ctx *c)
{
	struct keylist *lists[] = {&c->devices, &c->touches, &c->events, &c->counters, &c->windows};
	for (size_t i = 0; i < 5; i++) {
		free(lists[i]->keys);
		lists[i]->keys = NULL;
		lists[i]->n = lists[i]->cap = 0;
	}
}

/* Prune works through one table at a time, PRUNE_BATCH records per write
 * transaction, so that logins wait for one short batch, never for a scan
 * of the whole store. */
#define PRUNE_BATCH 256

static const enum policydb_table prune_tables[] = {PDB_T_DEVICES, PDB_T_TOUCH, PDB_T_EVENTS,
                                                   PDB_T_COUNTERS};
static policydb_scan_fn *const prune_fns[] = {prune_dev_cb, prune_touch_cb, prune_event_cb,
                                              prune_counter_cb};
#define PRUNE_TABLES (sizeof(prune_tables) / sizeof(prune_tables[0]))

/* Where the batch stops: the first record it did not visit. */
static int prune_batch_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct prune_ctx *c = vctx;
	if (c->visited == PRUNE_BATCH) {
		if (klen > sizeof(c->next))
			return CLIENTID_E_STORE_CORRUPT;
		memcpy(c->next, key, klen);
		c->next_len = klen;
		c->more = 1;
		return 1;
	}
	c->visited++;
	return prune_fns[c->table](vctx, key, klen, val, vlen);
}

static int prune_txn(struct policydb *db, void *txn, void *vctx)
{
	struct prune_ctx *c = vctx;
	prune_reset(c); /* a retry starts over */
	c->db = db;
	c->txn = txn;
	c->visited = 0;
	c->more = 0;
	int ret = db->ops->scan(txn, prune_tables[c->table], c->resume, c->resume_len, 0,
	                        prune_batch_cb, c);
	if (ret == 1)
		ret = 0; /* a full batch, or the events past retention are done */
	if (ret != 0 || c->dry_run)
		return ret;
	c->devices.table = PDB_T_DEVICES;
	c->touches.table = PDB_T_TOUCH;
	c->events.table = PDB_T_EVENTS;
	c->counters.table = PDB_T_COUNTERS;
	c->windows.table = PDB_T_TOUCH;
	if ((ret = delete_all(db, txn, &c->devices)) == 0 &&
	    (ret = delete_all(db, txn, &c->touches)) == 0 &&
	    (ret = delete_all(db, txn, &c->events)) == 0 &&
	    (ret = delete_all(db, txn, &c->counters)) == 0)
		ret = delete_all(db, txn, &c->windows);
	return ret;
}

static void prune_count(const struct prune_ctx *c, struct policydb_prune_counts *counts)
{
	counts->devices += c->devices.n;
	counts->touches += c->touches.n;
	counts->events += c->events.n;
	counts->counters += c->counters.n + c->windows.n;
	counts->batches++;
}

int policydb_prune(struct policydb *db, uint64_t now, int dry_run,
                   struct policydb_prune_counts *counts_r)
{
	struct prune_ctx c;
	memset(&c, 0, sizeof(c));
	memset(counts_r, 0, sizeof(*counts_r));
	c.now = (uint32_t)now;
	c.dry_run = dry_run;
	int ret = 0;
	while (c.table < PRUNE_TABLES) {
		ret = pdb_with_txn(db, dry_run ? PDB_TXN_READ : PDB_TXN_ROUTINE | PDB_TXN_DURABLE,
		                   prune_txn, &c);
		if (ret != 0)
			break;
		prune_count(&c, counts_r);
		if (c.more) {
			memcpy(c.resume, c.next, c.next_len);
			c.resume_len = c.next_len;
		} else {
			c.table++;
			c.resume_len = 0;
		}
	}
	prune_reset(&c);
	return ret;
}

/* --- check --- */

struct check_ctx {
	struct policydb_check *r;
	enum policydb_table table;
};

static const char *const table_label[PDB_T_COUNT_] = {
    "durable meta", "devices", "bans", "accounts", "events", "routine meta", "touch", "counters",
};

static void problem(struct check_ctx *c, size_t klen)
{
	if (c->r->problems++ == 0)
		snprintf(c->r->first_problem, sizeof(c->r->first_problem),
		         "table %s: malformed record (key of %zu bytes)", table_label[c->table],
		         klen);
}

static int check_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct check_ctx *c = vctx;
	c->r->records++;
	int bad = 0;
	struct clientid_device d;
	struct pdb_ban ban;
	struct clientid_account_policy p;
	struct clientid_event ev;
	switch (c->table) {
	case PDB_T_DEVICES: {
		const uint8_t *nul = memchr(key, 0, klen);
		bad = nul == NULL || nul == key ||
		      (size_t)(nul - (const uint8_t *)key) + 1 + CLIENTID_FP_LEN != klen ||
		      pdb_device_decode(val, vlen, &d) != 0;
		break;
	}
	case PDB_T_TOUCH:
		if (klen == PDB_FP_ROUTINE)
			bad = vlen != PDB_WINDOW_LEN;
		else
			bad = klen < PDB_FP_ROUTINE || klen > PDB_TOUCHKEY_MAX ||
			      pdb_touch_decode(val, vlen, &d) != 0;
		break;
	case PDB_T_BANS:
		bad = klen < CLIENTID_FP_LEN || klen > PDB_BANKEY_MAX ||
		      pdb_ban_decode(val, vlen, &ban) != 0;
		break;
	case PDB_T_ACCOUNTS:
		bad = klen == 0 || klen > CLIENTID_ACCOUNT_MAX ||
		      pdb_policy_decode(val, vlen, &p) != 0;
		break;
	case PDB_T_EVENTS:
		bad = klen != 8 || pdb_event_decode(val, vlen, &ev) != 0;
		break;
	default:
		break;
	}
	if (bad)
		problem(c, klen);
	return 0;
}

static int check_txn(struct policydb *db, void *txn, void *vctx)
{
	struct check_ctx c = {.r = vctx};
	for (int t = 0; t < PDB_T_COUNT_; t++) {
		c.table = (enum policydb_table)t;
		int ret = db->ops->scan(txn, c.table, NULL, 0, 0, check_cb, &c);
		if (ret < 0) {
			if (c.r->problems++ == 0)
				snprintf(c.r->first_problem, sizeof(c.r->first_problem), "%s",
				         db->ops->last_error(db->be));
		}
	}
	return 0;
}

static int schema_read_txn(struct policydb *db, void *txn, void *ctx)
{
	const void *val;
	size_t len;
	int ret = db->ops->get(txn, PDB_T_META, "schema", 6, &val, &len);
	if (ret == 1 && len == 4)
		*(uint32_t *)ctx = pdb_get32(val);
	return ret < 0 ? ret : ret == 1 && len == 4 ? 0 : CLIENTID_E_STORE_CORRUPT;
}

int policydb_schema(struct policydb *db, uint32_t *version_r)
{
	*version_r = 0;
	return pdb_with_txn(db, PDB_TXN_READ, schema_read_txn, version_r);
}

int policydb_check(struct policydb *db, struct policydb_check *r)
{
	memset(r, 0, sizeof(*r));
	int ret = pdb_open(db);
	if (ret != 0)
		return ret;
	struct policydb_check_report rep;
	if ((ret = db->ops->check(db->be, &rep)) != 0)
		return pdb_fail(db, ret);
	r->stale_readers = rep.stale_readers;
	r->problems = rep.problems;
	snprintf(r->first_problem, sizeof(r->first_problem), "%s", rep.first_problem);
	return pdb_with_txn(db, PDB_TXN_READ, check_txn, r);
}
