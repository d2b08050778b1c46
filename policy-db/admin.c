/* Administration: what clientidctl does to the store. Every change is one
 * transaction; changes to durable records are synced and leave an admin
 * event. */
#include "policydb-admin.h"
#include "policydb-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_account(struct policydb *db, const char *account)
{
	if (clientid_account_check(account) != 0) {
		snprintf(db->err, sizeof(db->err), "'%s': not a valid account name",
		         account != NULL ? account : "");
		return CLIENTID_E_INVAL;
	}
	return 0;
}

/* ip may be NULL. */
static int admin_event_ip(struct policydb *db, void *txn, enum clientid_admin_action action,
                          const char *account, const struct clientid_fp *fp, const char *type,
                          const struct clientid_ip *ip, uint64_t now)
{
	struct clientid_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.time = (uint32_t)now;
	ev.kind = CLIENTID_EV_ADMIN;
	ev.reason = (uint8_t)action;
	if (account != NULL)
		snprintf(ev.account, sizeof(ev.account), "%s", account);
	if (fp != NULL) {
		ev.flags |= CLIENTID_EVF_FP;
		ev.fp = *fp;
	}
	if (type != NULL)
		snprintf(ev.type, sizeof(ev.type), "%s", type);
	if (ip != NULL)
		ev.ip = *ip;
	return pdb_event_append(db, txn, &ev);
}

static int admin_event(struct policydb *db, void *txn, enum clientid_admin_action action,
                       const char *account, const struct clientid_fp *fp, const char *type,
                       uint64_t now)
{
	return admin_event_ip(db, txn, action, account, fp, type, NULL, now);
}

/* --- listing --- */

struct list_ctx {
	const char *account;
	policydb_device_fn *fn;
	void *ctx;
};

static int fill_touch(struct policydb *db, void *txn, struct policydb_device_info *info)
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

struct devices_walk {
	struct policydb *db;
	void *txn;
	struct list_ctx *list;
};

static int devices_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct devices_walk *w = vctx;
	struct policydb_device_info info;
	memset(&info, 0, sizeof(info));
	info.account = w->list->account;
	memcpy(info.fp.b, (const uint8_t *)key + klen - CLIENTID_FP_LEN, CLIENTID_FP_LEN);
	if (pdb_device_decode(val, vlen, &info.device) != 0)
		return CLIENTID_E_STORE_CORRUPT;
	info.durable = 1;
	int ret = fill_touch(w->db, w->txn, &info);
	if (ret != 0)
		return ret;
	return w->list->fn(w->list->ctx, &info);
}

static int devices_txn(struct policydb *db, void *txn, void *vctx)
{
	struct list_ctx *c = vctx;
	struct devices_walk w = {db, txn, c};
	size_t plen = strlen(c->account) + 1;
	return db->ops->scan(txn, PDB_T_DEVICES, c->account, plen, plen, devices_cb, &w);
}

int policydb_devices(struct policydb *db, const char *account, policydb_device_fn *fn, void *ctx)
{
	if (check_account(db, account) != 0)
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
	if ((ret = fill_touch(db, txn, c->info)) != 0)
		return ret;
	c->found = c->info->durable || c->info->touched;
	return 0;
}

int policydb_device_get(struct policydb *db, const char *account, const struct clientid_fp *fp,
                        struct policydb_device_info *info_r)
{
	if (check_account(db, account) != 0)
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
	if (account != NULL && check_account(db, account) != 0)
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

/* --- changes --- */

struct change_ctx {
	const char *account;
	const struct clientid_fp *fp;
	enum clientid_device_state state;
	const char *type, *label;
	uint64_t now;
	const struct clientid_account_policy *policy;
};

static int load_device(struct policydb *db, void *txn, const struct change_ctx *c,
                       struct clientid_device *d, uint8_t *key, size_t *klen)
{
	*klen = pdb_device_key(c->account, c->fp, key);
	const void *val;
	size_t len;
	int ret = db->ops->get(txn, PDB_T_DEVICES, key, *klen, &val, &len);
	if (ret < 0)
		return ret;
	if (ret == 0) {
		char s[CLIENTID_FP_SHORT_LEN + 1];
		clientid_fp_short(c->fp, s);
		snprintf(db->err, sizeof(db->err), "account %s has no device %s", c->account, s);
		return CLIENTID_E_NOTFOUND;
	}
	memset(d, 0, sizeof(*d));
	return pdb_device_decode(val, len, d) == 0 ? 0 : CLIENTID_E_STORE_CORRUPT;
}

static int set_state_txn(struct policydb *db, void *txn, void *vctx)
{
	struct change_ctx *c = vctx;
	struct clientid_device d;
	uint8_t key[PDB_DEVKEY_MAX], val[128];
	size_t klen;
	int ret = load_device(db, txn, c, &d, key, &klen);
	if (ret != 0)
		return ret;
	d.state = c->state;
	size_t vlen = pdb_device_encode(&d, val);
	if ((ret = db->ops->put(txn, PDB_T_DEVICES, key, klen, val, vlen)) != 0)
		return ret;
	return admin_event(db, txn,
	                   c->state == CLIENTID_DEV_BLOCKED ? CLIENTID_ADMIN_BLOCK
	                                                    : CLIENTID_ADMIN_APPROVE,
	                   c->account, c->fp, d.type, c->now);
}

int policydb_device_set_state(struct policydb *db, const char *account,
                              const struct clientid_fp *fp, enum clientid_device_state state,
                              uint64_t now)
{
	if (check_account(db, account) != 0)
		return CLIENTID_E_INVAL;
	struct change_ctx c = {.account = account, .fp = fp, .state = state, .now = now};
	return pdb_with_txn(db, PDB_TXN_DURABLE, set_state_txn, &c);
}

static int set_label_txn(struct policydb *db, void *txn, void *vctx)
{
	struct change_ctx *c = vctx;
	struct clientid_device d;
	uint8_t key[PDB_DEVKEY_MAX], val[128];
	size_t klen;
	int ret = load_device(db, txn, c, &d, key, &klen);
	if (ret != 0)
		return ret;
	snprintf(d.label, sizeof(d.label), "%s", c->label);
	size_t vlen = pdb_device_encode(&d, val);
	if ((ret = db->ops->put(txn, PDB_T_DEVICES, key, klen, val, vlen)) != 0)
		return ret;
	return admin_event(db, txn, CLIENTID_ADMIN_LABEL, c->account, c->fp, d.type, c->now);
}

static int check_label(struct policydb *db, const char *label)
{
	size_t n = strlen(label);
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)label[i] < 0x20 || label[i] == 0x7f)
			n = CLIENTID_LABEL_MAX + 1;
	}
	if (n > CLIENTID_LABEL_MAX) {
		snprintf(db->err, sizeof(db->err),
		         "a label is at most %d bytes without control characters",
		         CLIENTID_LABEL_MAX);
		return CLIENTID_E_INVAL;
	}
	return 0;
}

int policydb_device_set_label(struct policydb *db, const char *account,
                              const struct clientid_fp *fp, const char *label)
{
	if (check_account(db, account) != 0 || check_label(db, label) != 0)
		return CLIENTID_E_INVAL;
	struct change_ctx c = {.account = account, .fp = fp, .label = label};
	return pdb_with_txn(db, PDB_TXN_DURABLE, set_label_txn, &c);
}

static int forget_txn(struct policydb *db, void *txn, void *vctx)
{
	struct change_ctx *c = vctx;
	uint8_t key[PDB_DEVKEY_MAX];
	size_t klen = pdb_device_key(c->account, c->fp, key);
	int a = db->ops->del(txn, PDB_T_DEVICES, key, klen);
	if (a < 0)
		return a;
	klen = pdb_touch_key(c->fp, c->account, key);
	int b = db->ops->del(txn, PDB_T_TOUCH, key, klen);
	if (b < 0)
		return b;
	if (a == 0 && b == 0) {
		char s[CLIENTID_FP_SHORT_LEN + 1];
		clientid_fp_short(c->fp, s);
		snprintf(db->err, sizeof(db->err), "account %s has no device %s", c->account, s);
		return CLIENTID_E_NOTFOUND;
	}
	return admin_event(db, txn, CLIENTID_ADMIN_FORGET, c->account, c->fp, NULL, c->now);
}

int policydb_device_forget(struct policydb *db, const char *account, const struct clientid_fp *fp,
                           uint64_t now)
{
	if (check_account(db, account) != 0)
		return CLIENTID_E_INVAL;
	struct change_ctx c = {.account = account, .fp = fp, .now = now};
	return pdb_with_txn(db, PDB_TXN_ROUTINE | PDB_TXN_DURABLE, forget_txn, &c);
}

struct unlock_ctx {
	const struct clientid_fp *fp;
	const struct clientid_ip *ip;
	uint64_t now;
};

#define LOCKED_PAIRS_BATCH 16

struct locked_pairs {
	unsigned n;
	uint8_t keys[LOCKED_PAIRS_BATCH][PDB_TOUCHKEY_MAX + 1]; /* [0] = length */
};

static int locked_pair_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct locked_pairs *l = vctx;
	struct clientid_device d;
	if (klen == PDB_FP_ROUTINE || klen > PDB_TOUCHKEY_MAX ||
	    pdb_touch_decode(val, vlen, &d) != 0 || d.pair_fail.count == 0)
		return 0;
	l->keys[l->n][0] = (uint8_t)klen;
	memcpy(l->keys[l->n] + 1, key, klen);
	return ++l->n == LOCKED_PAIRS_BATCH ? 1 : 0;
}

/* Empties the failure window of a trace, keeping the rest of it. */
static int pair_unlock(struct policydb *db, void *txn, const uint8_t *key, size_t klen)
{
	const void *val;
	size_t len;
	struct clientid_device d;
	struct pdb_copy copy;
	int ret = db->ops->get(txn, PDB_T_TOUCH, key, klen, &val, &len);
	if (ret <= 0)
		return ret;
	if (pdb_touch_decode(val, len, &d) != 0)
		return CLIENTID_E_STORE_CORRUPT;
	int have_copy = pdb_touch_copy(val, len, &copy);
	d.pair_fail = (struct clientid_window){0, 0};
	uint8_t buf[PDB_TOUCH_MAX];
	size_t n = pdb_touch_encode(&d, have_copy ? &copy : NULL, buf);
	return db->ops->put(txn, PDB_T_TOUCH, key, klen, buf, n);
}

/* The failure windows of the device's trusted pairs (DESIGN.md section 3),
 * in batches, since a scan must not see its own writes. Returns how many
 * were emptied, or a negative code. */
static int pairs_unlock(struct policydb *db, void *txn, const struct clientid_fp *fp)
{
	int total = 0, ret;
	struct locked_pairs l;
	do {
		l.n = 0;
		ret = db->ops->scan(txn, PDB_T_TOUCH, fp->b, PDB_FP_ROUTINE, PDB_FP_ROUTINE,
		                    locked_pair_cb, &l);
		if (ret < 0)
			return ret;
		for (unsigned i = 0; i < l.n; i++) {
			if ((ret = pair_unlock(db, txn, l.keys[i] + 1, l.keys[i][0])) < 0)
				return ret;
		}
		total += (int)l.n;
	} while (l.n == LOCKED_PAIRS_BATCH);
	return total;
}

static int unlock_txn(struct policydb *db, void *txn, void *vctx)
{
	struct unlock_ctx *c = vctx;
	uint8_t key[32];
	int ret, pairs = 0;
	if (c->fp != NULL) { /* the device's window sorts before its traces */
		ret = db->ops->del(txn, PDB_T_TOUCH, c->fp->b, PDB_FP_ROUTINE);
		if (ret >= 0 && (pairs = pairs_unlock(db, txn, c->fp)) < 0)
			ret = pairs;
	} else {
		ret = db->ops->del(txn, PDB_T_COUNTERS, key,
		                   pdb_ip_counter_key(&db->cfg, c->ip, key));
	}
	if (ret < 0)
		return ret;
	if (ret == 0 && pairs == 0) {
		snprintf(db->err, sizeof(db->err), "no failed logins on record for this %s",
		         c->fp != NULL ? "device" : "address");
		return CLIENTID_E_NOTFOUND;
	}
	return admin_event_ip(db, txn, CLIENTID_ADMIN_UNLOCK, NULL, c->fp, NULL,
	                      c->fp != NULL ? NULL : c->ip, c->now);
}

int policydb_unlock(struct policydb *db, const struct clientid_fp *fp, const struct clientid_ip *ip,
                    uint64_t now)
{
	if (fp == NULL && (ip == NULL || ip->family == 0))
		return CLIENTID_E_INVAL;
	struct unlock_ctx c = {.fp = fp, .ip = ip, .now = now};
	return pdb_with_txn(db, PDB_TXN_ROUTINE | PDB_TXN_DURABLE, unlock_txn, &c);
}

static int unlock_attack_txn(struct policydb *db, void *txn, void *vctx)
{
	const uint64_t *now = vctx;
	int ret = db->ops->del(txn, PDB_T_COUNTERS, "attack", 6);
	if (ret < 0)
		return ret;
	if (ret == 0) {
		snprintf(db->err, sizeof(db->err), "the site is not in under-attack mode");
		return CLIENTID_E_NOTFOUND;
	}
	/* The site-wide count too, or the next failure starts the mode again. */
	if ((ret = db->ops->del(txn, PDB_T_COUNTERS, "s", 1)) < 0)
		return ret;
	return admin_event_ip(db, txn, CLIENTID_ADMIN_UNLOCK, NULL, NULL, NULL, NULL, *now);
}

int policydb_unlock_attack(struct policydb *db, uint64_t now)
{
	return pdb_with_txn(db, PDB_TXN_ROUTINE | PDB_TXN_DURABLE, unlock_attack_txn, &now);
}

static int register_txn(struct policydb *db, void *txn, void *vctx)
{
	struct change_ctx *c = vctx;
	uint8_t key[PDB_DEVKEY_MAX], val[128];
	size_t klen = pdb_device_key(c->account, c->fp, key);
	const void *old;
	size_t olen;
	struct clientid_device d;
	memset(&d, 0, sizeof(d));
	int ret = db->ops->get(txn, PDB_T_DEVICES, key, klen, &old, &olen);
	if (ret < 0)
		return ret;
	if (ret == 1 && pdb_device_decode(old, olen, &d) != 0)
		return CLIENTID_E_STORE_CORRUPT;
	if (ret == 0) {
		d.first_seen = (uint32_t)c->now;
		d.seen_day = (uint32_t)c->now;
	}
	d.state = c->state;
	snprintf(d.type, sizeof(d.type), "%s", c->type); /* upper case already */
	if (c->label != NULL)
		snprintf(d.label, sizeof(d.label), "%s", c->label);
	size_t vlen = pdb_device_encode(&d, val);
	if ((ret = db->ops->put(txn, PDB_T_DEVICES, key, klen, val, vlen)) != 0)
		return ret;
	return admin_event(db, txn, CLIENTID_ADMIN_REGISTER, c->account, c->fp, d.type, c->now);
}

int policydb_device_register(struct policydb *db, const char *account, const char *type,
                             const struct clientid_fp *fp, enum clientid_device_state state,
                             const char *label, uint64_t now)
{
	if (check_account(db, account) != 0 || (label != NULL && check_label(db, label) != 0))
		return CLIENTID_E_INVAL;
	char upper[CLIENTID_TYPE_MAX + 1];
	if (clientid_type_upper(type, strlen(type), upper) != 0) {
		snprintf(db->err, sizeof(db->err), "'%s': not a client-id-type", type);
		return CLIENTID_E_INVAL;
	}
	struct change_ctx c = {.account = account,
	                       .fp = fp,
	                       .state = state,
	                       .type = upper,
	                       .label = label,
	                       .now = now};
	return pdb_with_txn(db, PDB_TXN_DURABLE, register_txn, &c);
}

static int revoke_txn(struct policydb *db, void *txn, void *vctx)
{
	struct change_ctx *c = vctx;
	uint8_t key[PDB_BANKEY_MAX], val[PDB_BAN_LEN];
	size_t klen = pdb_ban_key(c->fp, c->account, key);
	int ret;
	if (c->state != 0) {
		struct pdb_ban ban = {PDB_BAN_REVOKED, CLIENTID_ADMIN_REVOKE, (uint32_t)c->now};
		pdb_ban_encode(&ban, val);
		ret = db->ops->put(txn, PDB_T_BANS, key, klen, val, PDB_BAN_LEN);
	} else {
		ret = db->ops->del(txn, PDB_T_BANS, key, klen);
		if (ret == 0) {
			snprintf(db->err, sizeof(db->err), "that device is not revoked or blocked");
			return CLIENTID_E_NOTFOUND;
		}
		ret = ret < 0 ? ret : 0;
	}
	if (ret != 0)
		return ret;
	return admin_event(db, txn, c->state != 0 ? CLIENTID_ADMIN_REVOKE : CLIENTID_ADMIN_UNREVOKE,
	                   c->account, c->fp, NULL, c->now);
}

int policydb_revoke(struct policydb *db, const struct clientid_fp *fp, const char *account,
                    uint64_t now)
{
	if (account != NULL && check_account(db, account) != 0)
		return CLIENTID_E_INVAL;
	struct change_ctx c = {.account = account, .fp = fp, .state = 1, .now = now};
	return pdb_with_txn(db, PDB_TXN_DURABLE, revoke_txn, &c);
}

int policydb_unrevoke(struct policydb *db, const struct clientid_fp *fp, const char *account,
                      uint64_t now)
{
	if (account != NULL && check_account(db, account) != 0)
		return CLIENTID_E_INVAL;
	struct change_ctx c = {.account = account, .fp = fp, .state = 0, .now = now};
	return pdb_with_txn(db, PDB_TXN_DURABLE, revoke_txn, &c);
}

struct bans_ctx {
	policydb_ban_fn *fn;
	void *ctx;
};

static int bans_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct bans_ctx *c = vctx;
	struct pdb_ban ban;
	if (klen < CLIENTID_FP_LEN || klen > PDB_BANKEY_MAX || pdb_ban_decode(val, vlen, &ban) != 0)
		return CLIENTID_E_STORE_CORRUPT;
	char account[CLIENTID_ACCOUNT_MAX + 1];
	memcpy(account, (const uint8_t *)key + CLIENTID_FP_LEN, klen - CLIENTID_FP_LEN);
	account[klen - CLIENTID_FP_LEN] = '\0';
	struct policydb_ban_info info = {.account = account,
	                                 .revoked = ban.kind == PDB_BAN_REVOKED,
	                                 .reason = ban.reason,
	                                 .time = ban.time};
	memcpy(info.fp.b, key, CLIENTID_FP_LEN);
	return c->fn(c->ctx, &info);
}

static int bans_txn(struct policydb *db, void *txn, void *vctx)
{
	return db->ops->scan(txn, PDB_T_BANS, NULL, 0, 0, bans_cb, vctx);
}

int policydb_bans(struct policydb *db, policydb_ban_fn *fn, void *ctx)
{
	struct bans_ctx c = {fn, ctx};
	return pdb_with_txn(db, PDB_TXN_READ, bans_txn, &c);
}

/* --- account policy --- */

struct policy_ctx {
	const char *account;
	struct clientid_account_policy p;
	uint64_t now;
};

static int policy_get_txn(struct policydb *db, void *txn, void *vctx)
{
	struct policy_ctx *c = vctx;
	const void *val;
	size_t len;
	int ret = db->ops->get(txn, PDB_T_ACCOUNTS, c->account, strlen(c->account), &val, &len);
	if (ret <= 0)
		return ret;
	return pdb_policy_decode(val, len, &c->p) == 0 ? 0 : CLIENTID_E_STORE_CORRUPT;
}

int policydb_account_policy_get(struct policydb *db, const char *account,
                                struct clientid_account_policy *p_r)
{
	if (check_account(db, account) != 0)
		return CLIENTID_E_INVAL;
	struct policy_ctx c = {account, CLIENTID_ACCOUNT_POLICY_DEFAULT, 0};
	int ret = pdb_with_txn(db, PDB_TXN_READ, policy_get_txn, &c);
	if (ret == 0)
		*p_r = c.p;
	return ret;
}

static int policy_set_txn(struct policydb *db, void *txn, void *vctx)
{
	struct policy_ctx *c = vctx;
	int ret;
	size_t alen = strlen(c->account);
	if (c->p.mode < 0 && c->p.require_clientid < 0 && c->p.learn_max_devices == 0 &&
	    c->p.pending_max_devices == 0) {
		ret = db->ops->del(txn, PDB_T_ACCOUNTS, c->account, alen);
		ret = ret < 0 ? ret : 0;
	} else {
		uint8_t val[PDB_POLICY_LEN];
		pdb_policy_encode(&c->p, val);
		ret = db->ops->put(txn, PDB_T_ACCOUNTS, c->account, alen, val, PDB_POLICY_LEN);
	}
	if (ret != 0)
		return ret;
	return admin_event(db, txn, CLIENTID_ADMIN_POLICY, c->account, NULL, NULL, c->now);
}

int policydb_account_policy_set(struct policydb *db, const char *account,
                                const struct clientid_account_policy *p, uint64_t now)
{
	if (check_account(db, account) != 0)
		return CLIENTID_E_INVAL;
	if ((p->mode < -1 || p->mode > CLIENTID_MODE_ENFORCE) || p->require_clientid < -1 ||
	    p->require_clientid > 1 || p->learn_max_devices > 1000 ||
	    p->pending_max_devices > 1000) {
		snprintf(db->err, sizeof(db->err), "account policy out of range");
		return CLIENTID_E_INVAL;
	}
	struct policy_ctx c = {account, *p, now};
	return pdb_with_txn(db, PDB_TXN_DURABLE, policy_set_txn, &c);
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

static int prune_dev_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct prune_ctx *c = vctx;
	struct policydb_device_info info;
	memset(&info, 0, sizeof(info));
	if (pdb_device_decode(val, vlen, &info.device) != 0 || klen < CLIENTID_FP_LEN + 2)
		return CLIENTID_E_STORE_CORRUPT;
	char account[CLIENTID_ACCOUNT_MAX + 1];
	size_t alen = klen - CLIENTID_FP_LEN - 1;
	memcpy(account, key, alen);
	account[alen] = '\0';
	info.account = account;
	memcpy(info.fp.b, (const uint8_t *)key + alen + 1, CLIENTID_FP_LEN);
	int ret = fill_touch(c->db, c->txn, &info);
	if (ret != 0)
		return ret;
	uint32_t last = info.device.seen_day;
	if (info.touched && info.device.last_seen > last)
		last = info.device.last_seen;
	if (!older(c->now, last, c->db->cfg.device_retention))
		return 0;
	if ((ret = keylist_add(&c->devices, key, klen)) != 0)
		return ret;
	if (info.touched) {
		uint8_t tkey[PDB_TOUCHKEY_MAX];
		size_t tlen = pdb_touch_key(&info.fp, account, tkey);
		return keylist_add(&c->touches, tkey, tlen);
	}
	return 0;
}

static uint32_t window_start(const uint8_t *v)
{
	return (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 24;
}

static int prune_touch_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct prune_ctx *c = vctx;
	if (klen == PDB_FP_ROUTINE) {
		/* The device's failure window. */
		if (vlen == PDB_WINDOW_LEN &&
		    !older(c->now, window_start(val), c->db->cfg.device_fail_window))
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
	int ret = c->db->ops->scan(c->txn, PDB_T_DEVICES, dkey, alen + 1 + PDB_FP_ROUTINE,
	                           alen + 1 + PDB_FP_ROUTINE, resolve_cb, &r);
	if (ret < 0)
		return ret;
	return r.matches > 0 ? 0 : keylist_add(&c->touches, key, klen);
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
	return older(c->now, window_start(v), window) ? keylist_add(&c->counters, key, klen) : 0;
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
