/* Administration: what clientidctl does to the store. Every change is one
 * transaction; changes to durable records are synced and leave an admin
 * event. */
#include "policydb-admin.h"
#include "policydb-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pdb_check_account(struct policydb *db, const char *account)
{
	if (clientid_account_check(account) != 0) {
		snprintf(db->err, sizeof(db->err), "'%s': not a valid account name",
		         account != NULL ? account : "");
		return CLIENTID_E_INVAL;
	}
	return 0;
}

/* ip may be NULL. */
int pdb_admin_event_ip(struct policydb *db, void *txn, enum clientid_admin_action action,
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

int pdb_admin_event(struct policydb *db, void *txn, enum clientid_admin_action action,
                    const char *account, const struct clientid_fp *fp, const char *type,
                    uint64_t now)
{
	return pdb_admin_event_ip(db, txn, action, account, fp, type, NULL, now);
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

/* Rewrites a known device: its label when c->label is set, else its state. */
static int rewrite_txn(struct policydb *db, void *txn, void *vctx)
{
	struct change_ctx *c = vctx;
	struct clientid_device d;
	uint8_t key[PDB_DEVKEY_MAX], val[128];
	size_t klen;
	int ret = load_device(db, txn, c, &d, key, &klen);
	if (ret != 0)
		return ret;
	enum clientid_admin_action action;
	if (c->label != NULL) {
		snprintf(d.label, sizeof(d.label), "%s", c->label);
		action = CLIENTID_ADMIN_LABEL;
	} else {
		d.state = c->state;
		action = c->state == CLIENTID_DEV_BLOCKED ? CLIENTID_ADMIN_BLOCK
		                                          : CLIENTID_ADMIN_APPROVE;
	}
	size_t vlen = pdb_device_encode(&d, val);
	if ((ret = db->ops->put(txn, PDB_T_DEVICES, key, klen, val, vlen)) != 0)
		return ret;
	return pdb_admin_event(db, txn, action, c->account, c->fp, d.type, c->now);
}

int policydb_device_set_state(struct policydb *db, const char *account,
                              const struct clientid_fp *fp, enum clientid_device_state state,
                              uint64_t now)
{
	if (pdb_check_account(db, account) != 0)
		return CLIENTID_E_INVAL;
	struct change_ctx c = {.account = account, .fp = fp, .state = state, .now = now};
	return pdb_with_txn(db, PDB_TXN_DURABLE, rewrite_txn, &c);
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
	if (pdb_check_account(db, account) != 0 || check_label(db, label) != 0)
		return CLIENTID_E_INVAL;
	struct change_ctx c = {.account = account, .fp = fp, .label = label};
	return pdb_with_txn(db, PDB_TXN_DURABLE, rewrite_txn, &c);
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
	return pdb_admin_event(db, txn, CLIENTID_ADMIN_FORGET, c->account, c->fp, NULL, c->now);
}

int policydb_device_forget(struct policydb *db, const char *account, const struct clientid_fp *fp,
                           uint64_t now)
{
	if (pdb_check_account(db, account) != 0)
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
	return pdb_admin_event_ip(db, txn, CLIENTID_ADMIN_UNLOCK, NULL, c->fp, NULL,
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
	return pdb_admin_event_ip(db, txn, CLIENTID_ADMIN_UNLOCK, NULL, NULL, NULL, NULL, *now);
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
	return pdb_admin_event(db, txn, CLIENTID_ADMIN_REGISTER, c->account, c->fp, d.type, c->now);
}

int policydb_device_register(struct policydb *db, const char *account, const char *type,
                             const struct clientid_fp *fp, enum clientid_device_state state,
                             const char *label, uint64_t now)
{
	if (pdb_check_account(db, account) != 0 || (label != NULL && check_label(db, label) != 0))
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
	return pdb_admin_event(db, txn,
	                       c->state != 0 ? CLIENTID_ADMIN_REVOKE : CLIENTID_ADMIN_UNREVOKE,
	                       c->account, c->fp, NULL, c->now);
}

/* revoked: 1 to revoke, 0 to withdraw. */
static int revoke_set(struct policydb *db, const struct clientid_fp *fp, const char *account,
                      int revoked, uint64_t now)
{
	if (account != NULL && pdb_check_account(db, account) != 0)
		return CLIENTID_E_INVAL;
	struct change_ctx c = {.account = account, .fp = fp, .state = revoked, .now = now};
	return pdb_with_txn(db, PDB_TXN_DURABLE, revoke_txn, &c);
}

int policydb_revoke(struct policydb *db, const struct clientid_fp *fp, const char *account,
                    uint64_t now)
{
	return revoke_set(db, fp, account, 1, now);
}

int policydb_unrevoke(struct policydb *db, const struct clientid_fp *fp, const char *account,
                      uint64_t now)
{
	return revoke_set(db, fp, account, 0, now);
}

struct bans_ctx {
	policydb_ban_fn *fn;
	void *ctx;
};

int pdb_ban_info_decode(const void *key, size_t klen, const void *val, size_t vlen,
                        char account[CLIENTID_ACCOUNT_MAX + 1], struct policydb_ban_info *info_r)
{
	struct pdb_ban ban;
	if (klen < CLIENTID_FP_LEN || klen > PDB_BANKEY_MAX || pdb_ban_decode(val, vlen, &ban) != 0)
		return CLIENTID_E_STORE_CORRUPT;
	memcpy(account, (const uint8_t *)key + CLIENTID_FP_LEN, klen - CLIENTID_FP_LEN);
	account[klen - CLIENTID_FP_LEN] = '\0';
	*info_r = (struct policydb_ban_info){.account = account,
	                                     .revoked = ban.kind == PDB_BAN_REVOKED,
	                                     .reason = ban.reason,
	                                     .time = ban.time};
	memcpy(info_r->fp.b, key, CLIENTID_FP_LEN);
	return 0;
}

static int bans_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct bans_ctx *c = vctx;
	char account[CLIENTID_ACCOUNT_MAX + 1];
	struct policydb_ban_info info;
	int ret = pdb_ban_info_decode(key, klen, val, vlen, account, &info);
	return ret != 0 ? ret : c->fn(c->ctx, &info);
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
	if (pdb_check_account(db, account) != 0)
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
	return pdb_admin_event(db, txn, CLIENTID_ADMIN_POLICY, c->account, NULL, NULL, c->now);
}

int policydb_account_policy_set(struct policydb *db, const char *account,
                                const struct clientid_account_policy *p, uint64_t now)
{
	if (pdb_check_account(db, account) != 0)
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
