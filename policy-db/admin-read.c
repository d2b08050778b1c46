/* Administration, the reading half: listings, typed ids, the accounts of
 * a device, events and statistics. Read-only transactions. */
#include "policydb-admin.h"
#include "policydb-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- listing --- */

struct list_ctx {
	const char *account;
	policydb_device_fn *fn;
	void *ctx;
};

int pdb_fill_touch(struct policydb *db, void *txn, struct policydb_device_info *info)
{
	uint8_t key[PDB_TOUCHKEY_MAX];
	size_t klen = pdb_touch_key(&info->fp, info->account, key);
	const void *val;
	size_t len;
	int ret = db->ops->get(txn, PDB_T_TOUCH, key, klen, &val, &len);
	if (ret < 0)
		return ret;
	info->touched = ret == 1 && pdb_touch_decode(val, len, &info->device) == 0;
	return 0;
}

int pdb_device_info_load(struct policydb *db, void *txn, const void *key, size_t klen,
                         const void *val, size_t vlen, char account[CLIENTID_ACCOUNT_MAX + 1],
                         struct policydb_device_info *info_r)
{
	memset(info_r, 0, sizeof(*info_r));
	if (klen < CLIENTID_FP_LEN + 2 || klen > PDB_DEVKEY_MAX ||
	    pdb_device_decode(val, vlen, &info_r->device) != 0)
		return CLIENTID_E_STORE_CORRUPT;
	size_t alen = klen - CLIENTID_FP_LEN - 1;
	memcpy(account, key, alen);
	account[alen] = '\0';
	info_r->account = account;
	info_r->durable = 1;
	memcpy(info_r->fp.b, (const uint8_t *)key + alen + 1, CLIENTID_FP_LEN);
	return pdb_fill_touch(db, txn, info_r);
}

int pdb_device_walk_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct pdb_device_walk *w = vctx;
	struct policydb_device_info info;
	char account[CLIENTID_ACCOUNT_MAX + 1];
	int ret = pdb_device_info_load(w->db, w->txn, key, klen, val, vlen, account, &info);
	if (ret != 0)
		return ret;
	return w->fn(w->ctx, &info);
}

static int devices_txn(struct policydb *db, void *txn, void *vctx)
{
	struct list_ctx *c = vctx;
	struct pdb_device_walk w = {db, txn, c->fn, c->ctx};
	size_t plen = strlen(c->account) + 1;
	return db->ops->scan(txn, PDB_T_DEVICES, c->account, plen, plen, pdb_device_walk_cb, &w);
}

int policydb_devices(struct policydb *db, const char *account, policydb_device_fn *fn, void *ctx)
{
	if (pdb_check_account(db, account) != 0)
		return CLIENTID_E_INVAL;
	struct list_ctx c = {account, fn, ctx};
	return pdb_with_txn(db, PDB_TXN_READ, devices_txn, &c);
}

struct get_ctx {
	const char *account;
	const struct clientid_fp *fp;
	struct policydb_device_info *info;
	int found;
};

static int get_txn(struct policydb *db, void *txn, void *vctx)
{
	struct get_ctx *c = vctx;
	uint8_t key[PDB_DEVKEY_MAX];
	size_t klen = pdb_device_key(c->account, c->fp, key);
	const void *val;
	size_t len;
	memset(c->info, 0, sizeof(*c->info));
	c->info->account = c->account;
	c->info->fp = *c->fp;
	int ret = db->ops->get(txn, PDB_T_DEVICES, key, klen, &val, &len);
	if (ret < 0)
		return ret;
	if (ret == 1) {
		if (pdb_device_decode(val, len, &c->info->device) != 0)
			return CLIENTID_E_STORE_CORRUPT;
		c->info->durable = 1;
	}
	if ((ret = pdb_fill_touch(db, txn, c->info)) != 0)
		return ret;
	c->found = c->info->durable || c->info->touched;
	return 0;
}

int policydb_device_get(struct policydb *db, const char *account, const struct clientid_fp *fp,
                        struct policydb_device_info *info_r)
{
	if (pdb_check_account(db, account) != 0)
		return CLIENTID_E_INVAL;
	struct get_ctx c = {account, fp, info_r, 0};
	int ret = pdb_with_txn(db, PDB_TXN_READ, get_txn, &c);
	return ret != 0 ? ret : c.found;
}

/* --- resolving typed ids --- */

struct resolve_ctx {
	const char *account;
	uint8_t prefix[CLIENTID_FP_LEN];
	size_t nibbles;
	unsigned matches;
	struct clientid_fp fp;
};

static int nibble_match(const uint8_t *fp, const struct resolve_ctx *c)
{
	for (size_t i = 0; i < c->nibbles; i++) {
		unsigned a = (fp[i / 2] >> (i % 2 ? 0 : 4)) & 15;
		unsigned b = (c->prefix[i / 2] >> (i % 2 ? 0 : 4)) & 15;
		if (a != b)
			return 0;
	}
	return 1;
}

static int resolve_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct resolve_ctx *c = vctx;
	(void)val;
	(void)vlen;
	const uint8_t *fp = (const uint8_t *)key + klen - CLIENTID_FP_LEN;
	if (c->account == NULL) {
		/* Whole-store walk: the fingerprint follows the account's NUL. */
		const uint8_t *nul = memchr(key, 0, klen);
		if (nul == NULL ||
		    (size_t)(nul - (const uint8_t *)key) + 1 + CLIENTID_FP_LEN != klen)
			return 0;
	}
	if (!nibble_match(fp, c))
		return 0;
	if (c->matches > 0 && memcmp(c->fp.b, fp, CLIENTID_FP_LEN) == 0)
		return 0; /* the same device on another account */
	c->matches++;
	memcpy(c->fp.b, fp, CLIENTID_FP_LEN);
	return c->matches > 1 ? 1 : 0;
}

int pdb_trace_has_device(struct policydb *db, void *txn, const void *key, size_t klen,
                         unsigned *matches_r)
{
	/* Seek the account's durable devices on the first 16 fingerprint bytes. */
	size_t alen = klen - PDB_FP_ROUTINE;
	uint8_t dkey[PDB_DEVKEY_MAX];
	memcpy(dkey, (const uint8_t *)key + PDB_FP_ROUTINE, alen);
	dkey[alen] = 0;
	memcpy(dkey + alen + 1, key, PDB_FP_ROUTINE);
	char account[CLIENTID_ACCOUNT_MAX + 1];
	memcpy(account, dkey, alen + 1);
	struct resolve_ctx r;
	memset(&r, 0, sizeof(r));
	r.account = account;
	memcpy(r.prefix, key, PDB_FP_ROUTINE);
	r.nibbles = 2 * PDB_FP_ROUTINE;
	int ret = db->ops->scan(txn, PDB_T_DEVICES, dkey, alen + 1 + PDB_FP_ROUTINE,
	                        alen + 1 + PDB_FP_ROUTINE, resolve_cb, &r);
	*matches_r = r.matches;
	return ret < 0 ? ret : 0;
}

static int bans_resolve_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	(void)klen;
	/* Bans keys start with the fingerprint. */
	return resolve_cb(vctx, key, CLIENTID_FP_LEN, val, vlen);
}

static int resolve_txn(struct policydb *db, void *txn, void *vctx)
{
	struct resolve_ctx *c = vctx;
	int ret;
	if (c->account != NULL) {
		size_t plen = strlen(c->account) + 1;
		ret = db->ops->scan(txn, PDB_T_DEVICES, c->account, plen, plen, resolve_cb, c);
	} else {
		ret = db->ops->scan(txn, PDB_T_DEVICES, NULL, 0, 0, resolve_cb, c);
		if (ret == 0)
			ret = db->ops->scan(txn, PDB_T_BANS, NULL, 0, 0, bans_resolve_cb, c);
	}
	return ret < 0 ? ret : 0;
}

int policydb_device_resolve(struct policydb *db, const char *account, const char *id,
                            struct clientid_fp *fp_r)
{
	size_t n = strlen(id);
	if (n == CLIENTID_FP_HEX_LEN && clientid_fp_from_hex(id, n, fp_r) == 0)
		return 0;
	struct resolve_ctx c;
	memset(&c, 0, sizeof(c));
	c.account = account;
	if (n < 4 || n > CLIENTID_FP_HEX_LEN) {
		snprintf(db->err, sizeof(db->err),
		         "'%s': a device id is 4 to 64 hex digits of its fingerprint", id);
		return CLIENTID_E_INVAL;
	}
	for (size_t i = 0; i < n; i++) {
		char ch = id[i];
		unsigned v = ch >= '0' && ch <= '9'   ? (unsigned)(ch - '0')
		             : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
		             : ch >= 'A' && ch <= 'F' ? (unsigned)(ch - 'A' + 10)
		                                      : 99;
		if (v == 99) {
			snprintf(db->err, sizeof(db->err), "'%s': not hex digits", id);
			return CLIENTID_E_INVAL;
		}
		c.prefix[i / 2] |= (uint8_t)(v << (i % 2 ? 0 : 4));
	}
	c.nibbles = n;
	if (account != NULL && pdb_check_account(db, account) != 0)
		return CLIENTID_E_INVAL;
	int ret = pdb_with_txn(db, PDB_TXN_READ, resolve_txn, &c);
	if (ret != 0)
		return ret;
	if (c.matches == 0) {
		snprintf(db->err, sizeof(db->err), "no device %s%s%s", id,
		         account != NULL ? " on account " : "", account != NULL ? account : "");
		return CLIENTID_E_NOTFOUND;
	}
	if (c.matches > 1) {
		snprintf(db->err, sizeof(db->err), "device id %s is ambiguous; give more digits",
		         id);
		return CLIENTID_E_AMBIGUOUS;
	}
	*fp_r = c.fp;
	return 0;
}

/* --- device -> accounts --- */

struct daccounts_ctx {
	struct policydb *db;
	void *txn;
	struct clientid_fp fp;
	policydb_account_fn *fn;
	void *ctx;
	int pass; /* 0: routine traces; 1: durable records without a trace */
};

static int daccounts_touch_cb(void *vctx, const void *key, size_t klen, const void *val,
                              size_t vlen)
{
	struct daccounts_ctx *c = vctx;
	char account[CLIENTID_ACCOUNT_MAX + 1];
	size_t alen = klen - PDB_FP_ROUTINE;
	if (alen == 0)
		return 0; /* the device's failure window */
	if (alen > CLIENTID_ACCOUNT_MAX)
		return CLIENTID_E_STORE_CORRUPT;
	memcpy(account, (const uint8_t *)key + PDB_FP_ROUTINE, alen);
	account[alen] = '\0';
	struct clientid_device d;
	if (pdb_touch_decode(val, vlen, &d) != 0)
		return CLIENTID_E_STORE_CORRUPT;
	struct policydb_device_info info;
	memset(&info, 0, sizeof(info));
	info.account = account;
	uint8_t dkey[PDB_DEVKEY_MAX];
	const void *dval;
	size_t dlen;
	info.fp = c->fp;
	size_t fk = pdb_device_key(account, &c->fp, dkey);
	int ret = c->db->ops->get(c->txn, PDB_T_DEVICES, dkey, fk, &dval, &dlen);
	if (ret < 0)
		return ret;
	if (ret == 1 && pdb_device_decode(dval, dlen, &info.device) == 0)
		info.durable = 1;
	info.touched = 1;
	info.device.last_seen = d.last_seen;
	info.device.last_ip = d.last_ip;
	info.device.last_protocol = d.last_protocol;
	info.device.successes = d.successes;
	info.device.failures = d.failures;
	return c->fn(c->ctx, account, d.last_seen, info.durable ? &info : NULL);
}

static int daccounts_dev_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct daccounts_ctx *c = vctx;
	if (klen < CLIENTID_FP_LEN + 2 ||
	    memcmp((const uint8_t *)key + klen - CLIENTID_FP_LEN, c->fp.b, CLIENTID_FP_LEN) != 0)
		return 0;
	size_t alen = klen - CLIENTID_FP_LEN - 1;
	char account[CLIENTID_ACCOUNT_MAX + 1];
	memcpy(account, key, alen);
	account[alen] = '\0';
	/* Accounts with a routine trace were reported already. */
	uint8_t tkey[PDB_TOUCHKEY_MAX];
	size_t tlen = pdb_touch_key(&c->fp, account, tkey);
	const void *tval;
	size_t tvlen;
	int ret = c->db->ops->get(c->txn, PDB_T_TOUCH, tkey, tlen, &tval, &tvlen);
	if (ret != 0)
		return ret < 0 ? ret : 0;
	struct policydb_device_info info;
	memset(&info, 0, sizeof(info));
	info.account = account;
	info.fp = c->fp;
	info.durable = 1;
	if (pdb_device_decode(val, vlen, &info.device) != 0)
		return CLIENTID_E_STORE_CORRUPT;
	return c->fn(c->ctx, account, 0, &info);
}

static int daccounts_txn(struct policydb *db, void *txn, void *vctx)
{
	struct daccounts_ctx *c = vctx;
	c->db = db;
	c->txn = txn;
	int ret = db->ops->scan(txn, PDB_T_TOUCH, c->fp.b, PDB_FP_ROUTINE, PDB_FP_ROUTINE,
	                        daccounts_touch_cb, c);
	if (ret != 0)
		return ret;
	/* Durable records whose routine trace is gone (pruned, or discarded
	 * after a crash): a full walk, administrators only. */
	return db->ops->scan(txn, PDB_T_DEVICES, NULL, 0, 0, daccounts_dev_cb, c);
}

int policydb_device_accounts(struct policydb *db, const struct clientid_fp *fp,
                             policydb_account_fn *fn, void *ctx)
{
	struct daccounts_ctx c = {.fp = *fp, .fn = fn, .ctx = ctx};
	return pdb_with_txn(db, PDB_TXN_READ, daccounts_txn, &c);
}

/* --- events --- */

struct events_ctx {
	policydb_event_fn *fn;
	void *ctx;
	uint64_t since;
};

static int events_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct events_ctx *c = vctx;
	struct clientid_event ev;
	if (klen != 8 || pdb_event_decode(val, vlen, &ev) != 0)
		return CLIENTID_E_STORE_CORRUPT;
	const uint8_t *k = key;
	for (int i = 0; i < 8; i++)
		ev.seq = ev.seq << 8 | k[i];
	return c->fn(c->ctx, &ev);
}

static int events_txn(struct policydb *db, void *txn, void *vctx)
{
	struct events_ctx *c = vctx;
	uint8_t start[8];
	for (int i = 0; i < 8; i++)
		start[i] = (uint8_t)(c->since >> (56 - 8 * i));
	return db->ops->scan(txn, PDB_T_EVENTS, start, 8, 0, events_cb, c);
}

int policydb_events(struct policydb *db, uint64_t since, policydb_event_fn *fn, void *ctx)
{
	struct events_ctx c = {fn, ctx, since};
	return pdb_with_txn(db, PDB_TXN_READ, events_txn, &c);
}

/* --- stats --- */

struct stats_walk {
	struct policydb_stats *s;
	uint64_t windows; /* device failure windows in the touch table */
	char last_account[CLIENTID_ACCOUNT_MAX + 1];
	size_t last_len;
};

static int stats_dev_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct stats_walk *w = vctx;
	struct clientid_device d;
	if (pdb_device_decode(val, vlen, &d) != 0 || klen < CLIENTID_FP_LEN + 2)
		return CLIENTID_E_STORE_CORRUPT;
	w->s->devices++;
	w->s->trusted += d.state == CLIENTID_DEV_TRUSTED;
	w->s->pending += d.state == CLIENTID_DEV_PENDING;
	w->s->blocked += d.state == CLIENTID_DEV_BLOCKED;
	size_t alen = klen - CLIENTID_FP_LEN - 1;
	if (alen != w->last_len || memcmp(w->last_account, key, alen) != 0) {
		w->s->accounts++;
		memcpy(w->last_account, key, alen);
		w->last_len = alen;
	}
	return 0;
}

static int stats_touch_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct stats_walk *w = vctx;
	(void)key;
	(void)val;
	(void)vlen;
	if (klen == PDB_FP_ROUTINE)
		w->windows++;
	else
		w->s->touches++;
	return 0;
}

static int stats_txn(struct policydb *db, void *txn, void *vctx)
{
	struct stats_walk w;
	memset(&w, 0, sizeof(w));
	w.s = vctx;
	int ret = db->ops->scan(txn, PDB_T_DEVICES, NULL, 0, 0, stats_dev_cb, &w);
	if (ret == 0)
		ret = db->ops->scan(txn, PDB_T_TOUCH, NULL, 0, 0, stats_touch_cb, &w);
	if (ret != 0)
		return ret;
	w.s->counters = w.windows; /* policydb_stats() adds the counters table */
	const void *val;
	size_t len;
	ret = db->ops->get(txn, PDB_T_COUNTERS, "attack", 6, &val, &len);
	if (ret == 1 && len == 4) {
		const uint8_t *b = val;
		w.s->attack_until = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
		                    (uint32_t)b[3] << 24;
	}
	return ret < 0 ? ret : 0;
}

int policydb_stats(struct policydb *db, struct policydb_stats *s_r)
{
	memset(s_r, 0, sizeof(*s_r));
	int ret = pdb_with_txn(db, PDB_TXN_READ, stats_txn, s_r);
	if (ret != 0)
		return ret;
	struct policydb_store_stats st;
	if ((ret = db->ops->stats(db->be, &st)) != 0)
		return pdb_fail(db, ret);
	s_r->bans = st.entries[PDB_T_BANS];
	s_r->policies = st.entries[PDB_T_ACCOUNTS];
	s_r->events = st.entries[PDB_T_EVENTS];
	s_r->counters += st.entries[PDB_T_COUNTERS];
	s_r->bytes_durable = st.bytes_durable;
	s_r->bytes_routine = st.bytes_routine;
	s_r->map_durable = st.map_durable;
	s_r->map_routine = st.map_routine;
	s_r->readers = st.readers;
	s_r->max_readers = st.max_readers;
	return 0;
}
