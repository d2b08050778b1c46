/* The decide path: the history of an attempt in, the policy engine, the
 * updates out, in one transaction. */
#include "policydb-private.h"

#include <stdio.h>
#include <string.h>

/* --- history --- */

static int get_window(struct policydb *db, void *txn, enum policydb_table t, const void *key,
                      size_t klen, struct clientid_window *w)
{
	const void *val;
	size_t len;
	int ret = db->ops->get(txn, t, key, klen, &val, &len);
	if (ret <= 0)
		return ret;
	if (len != PDB_WINDOW_LEN)
		return CLIENTID_E_STORE_CORRUPT;
	w->start = pdb_get32(val);
	w->count = pdb_get32((const uint8_t *)val + 4);
	return 0;
}

static int put_window(struct policydb *db, void *txn, enum policydb_table t, const void *key,
                      size_t klen, const struct clientid_window *w)
{
	uint8_t b[PDB_WINDOW_LEN];
	pdb_put32(b, w->start);
	pdb_put32(b + 4, w->count);
	return db->ops->put(txn, t, key, klen, b, PDB_WINDOW_LEN);
}

/* Visits the keys that start with prefix; a callback's stop is no error. */
static int scan_prefix(struct policydb *db, void *txn, enum policydb_table t, const void *prefix,
                       size_t plen, policydb_scan_fn *fn, void *ctx)
{
	int ret = db->ops->scan(txn, t, prefix, plen, plen, fn, ctx);
	return ret < 0 ? ret : 0;
}

struct accounts_ctx {
	const char *account;
	size_t account_len;
	uint32_t now, window;
	unsigned count, stop_at;
};

static int count_accounts(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct accounts_ctx *c = vctx;
	size_t alen = klen - PDB_FP_ROUTINE;
	if (alen == 0)
		return 0; /* the device's failure window */
	if (alen == c->account_len &&
	    memcmp((const uint8_t *)key + PDB_FP_ROUTINE, c->account, alen) == 0)
		return 0;
	struct clientid_device d;
	if (pdb_touch_decode(val, vlen, &d) != 0)
		return 0;
	/* Only where the password verified (DESIGN.md section 3). */
	if (d.last_verified != 0 && c->now >= d.last_verified &&
	    c->now - d.last_verified < c->window)
		c->count++;
	return c->count >= c->stop_at ? 1 : 0;
}

struct devices_ctx {
	struct clientid_history *h;
	uint32_t oldest;
};

static int count_devices(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct devices_ctx *c = vctx;
	struct clientid_device d;
	if (pdb_device_decode(val, vlen, &d) != 0)
		return 0;
	if (d.state == CLIENTID_DEV_TRUSTED) {
		c->h->trusted_count++;
	} else if (d.state == CLIENTID_DEV_PENDING) {
		c->h->pending_count++;
		if ((c->h->have & CLIENTID_HAVE_OLDEST_PENDING) == 0 || d.first_seen < c->oldest) {
			c->h->have |= CLIENTID_HAVE_OLDEST_PENDING;
			c->oldest = d.first_seen;
			memcpy(c->h->oldest_pending.b,
			       (const uint8_t *)key + klen - CLIENTID_FP_LEN, CLIENTID_FP_LEN);
		}
	}
	return 0;
}

static int read_ban(struct policydb *db, void *txn, const struct clientid_fp *fp,
                    const char *account, struct clientid_history *h)
{
	uint8_t key[PDB_BANKEY_MAX];
	size_t klen = pdb_ban_key(fp, account, key);
	const void *val;
	size_t len;
	int ret = db->ops->get(txn, PDB_T_BANS, key, klen, &val, &len);
	if (ret <= 0)
		return ret;
	struct pdb_ban ban;
	if (pdb_ban_decode(val, len, &ban) != 0)
		return CLIENTID_E_STORE_CORRUPT;
	if (ban.kind == PDB_BAN_REVOKED)
		h->revoked = 1;
	else if (account == NULL) {
		h->banned = 1;
		h->ban_time = ban.time;
	}
	return 0;
}

/* The device version of the account's shard (backend.h): 1 and *v_r, or 0
 * when the shard has none yet. */
static int device_version(struct policydb *db, void *txn, const char *account, uint64_t *v_r)
{
	uint8_t key[PDB_VERSION_KEY];
	pdb_version_key(pdb_shard(account, strlen(account)), key);
	const void *val;
	size_t len;
	int ret = db->ops->get(txn, PDB_T_META, key, sizeof(key), &val, &len);
	if (ret <= 0)
		return ret;
	if (len != PDB_VERSION_LEN)
		return CLIENTID_E_STORE_CORRUPT;
	memcpy(v_r, val, PDB_VERSION_LEN);
	return 1;
}

/* What read_history() learns besides the history, for apply(). */
struct read_state {
	int use_copy;     /* in: a current copy may stand in for the durable record */
	int have_version; /* out: version is the account shard's device version */
	uint64_t version;
};

/* The device's durable state from the copy in its trace, if that is
 * current: returns 1 with state and seen day set in h, else 0. */
static int read_copy(struct policydb *db, void *txn, const struct clientid_attempt *a,
                     const void *trace, size_t len, struct read_state *rs,
                     struct clientid_history *h)
{
	struct pdb_copy copy;
	if (pdb_touch_copy(trace, len, &copy) != 1)
		return 0;
	int ret = device_version(db, txn, a->account, &rs->version);
	rs->have_version = ret == 1;
	if (ret != 1 || rs->version != copy.version)
		return ret < 0 ? ret : 0;
	h->device.state = copy.state;
	h->device.seen_day = copy.seen_day;
	h->have |= CLIENTID_HAVE_DEVICE;
	return 1;
}

/* OTHER accounts on which the device verified a password lately. */
static int read_walk(struct policydb *db, void *txn, const struct clientid_attempt *a,
                     struct clientid_history *h)
{
	const struct clientid_config *cfg = &db->cfg;
	if (cfg->device_max_accounts == 0)
		return 0;
	struct accounts_ctx c = {
	    .account = a->account,
	    .account_len = strlen(a->account),
	    .now = (uint32_t)a->now,
	    .window = cfg->device_accounts_window,
	    .stop_at = cfg->device_max_accounts + 1,
	};
	int ret = scan_prefix(db, txn, PDB_T_TOUCH, a->fp->b, PDB_FP_ROUTINE, count_accounts, &c);
	h->device_accounts = c.count;
	return ret;
}

/* The device on this account: its trace, its state (from a current copy
 * when allowed), and the account's device counts. */
static int read_pair(struct policydb *db, void *txn, const struct clientid_attempt *a,
                     struct read_state *rs, struct clientid_history *h)
{
	const void *val;
	size_t len;
	int ret;
	uint8_t key[PDB_DEVKEY_MAX];
	if ((ret = read_ban(db, txn, a->fp, a->account, h)) != 0 ||
	    (ret = read_walk(db, txn, a, h)) != 0)
		return ret;
	/* After a walk the engine needs the first sighting, which only the
	 * durable record holds. */
	int use_copy =
	    rs->use_copy && !h->banned &&
	    (db->cfg.device_max_accounts == 0 || h->device_accounts < db->cfg.device_max_accounts);
	size_t klen = pdb_touch_key(a->fp, a->account, key);
	ret = db->ops->get(txn, PDB_T_TOUCH, key, klen, &val, &len);
	if (ret < 0)
		return ret;
	if (ret == 1 && pdb_touch_decode(val, len, &h->device) == 0) {
		h->have |= CLIENTID_HAVE_TOUCH;
		if (use_copy && (ret = read_copy(db, txn, a, val, len, rs, h)) < 0)
			return ret;
	}
	if ((h->have & CLIENTID_HAVE_DEVICE) == 0) {
		klen = pdb_device_key(a->account, a->fp, key);
		ret = db->ops->get(txn, PDB_T_DEVICES, key, klen, &val, &len);
		if (ret < 0)
			return ret;
		if (ret == 1) {
			if (pdb_device_decode(val, len, &h->device) != 0)
				return CLIENTID_E_STORE_CORRUPT;
			h->have |= CLIENTID_HAVE_DEVICE;
		}
	}
	/* Any device not trusted yet may become trusted: learn_max_devices
	 * holds on every path that promotes one (issue 13 item 1). */
	int trusted =
	    (h->have & CLIENTID_HAVE_DEVICE) != 0 && h->device.state == CLIENTID_DEV_TRUSTED;
	if (trusted || a->auth != CLIENTID_AUTH_SUCCESS)
		return 0;
	struct devices_ctx c = {.h = h};
	return scan_prefix(db, txn, PDB_T_DEVICES, a->account, strlen(a->account) + 1,
	                   count_devices, &c);
}

/* With rs->use_copy, a current copy of the device's state in its trace
 * stands in for its durable record, whose type, label and first sighting
 * are then left empty: fine for a decision that changes nothing durable. */
static int read_history(struct policydb *db, void *txn, const struct clientid_attempt *a,
                        struct read_state *rs, struct clientid_history *h)
{
	const void *val;
	size_t len;
	int ret;
	memset(h, 0, sizeof(*h));
	h->policy = (struct clientid_account_policy)CLIENTID_ACCOUNT_POLICY_DEFAULT;
	if (a->account != NULL) {
		ret = db->ops->get(txn, PDB_T_ACCOUNTS, a->account, strlen(a->account), &val, &len);
		if (ret < 0 || (ret == 1 && pdb_policy_decode(val, len, &h->policy) != 0))
			return ret < 0 ? ret : CLIENTID_E_STORE_CORRUPT;
	}
	if (a->fp != NULL) {
		if ((ret = read_ban(db, txn, a->fp, NULL, h)) != 0)
			return ret;
		/* Before the device's traces, on the same page: see backend.h. */
		if ((ret = get_window(db, txn, PDB_T_TOUCH, a->fp->b, PDB_FP_ROUTINE,
		                      &h->dev_fail)) < 0)
			return ret;
	}
	if (a->fp != NULL && a->account != NULL && (ret = read_pair(db, txn, a, rs, h)) != 0)
		return ret;
	uint8_t ckey[32];
	if (a->ip.family != 0 &&
	    (ret = get_window(db, txn, PDB_T_COUNTERS, ckey,
	                      pdb_ip_counter_key(&db->cfg, &a->ip, ckey), &h->ip_fail)) < 0)
		return ret;
	if ((ret = get_window(db, txn, PDB_T_COUNTERS, "s", 1, &h->site_fail)) < 0)
		return ret;
	ret = db->ops->get(txn, PDB_T_COUNTERS, "attack", 6, &val, &len);
	if (ret < 0)
		return ret;
	if (ret == 1 && len == 4)
		h->attack_until = pdb_get32(val);
	return 0;
}

/* known: the device had a durable record before this decision. */
static int apply(struct policydb *db, void *txn, const struct clientid_attempt *a, int known,
                 const struct read_state *rs, struct clientid_outcome *out)
{
	uint8_t key[PDB_DEVKEY_MAX], val[128];
	int ret = 0;
	unsigned u = out->updates;
	if ((u & CLIENTID_UPD_DEVICE) != 0) {
		size_t klen = pdb_device_key(a->account, a->fp, key);
		size_t vlen = pdb_device_encode(&out->device, val);
		if ((ret = db->ops->put(txn, PDB_T_DEVICES, key, klen, val, vlen)) != 0)
			return ret;
	}
	if ((u & CLIENTID_UPD_EVICT) != 0) {
		size_t klen = pdb_device_key(a->account, &out->evict, key);
		if ((ret = db->ops->del(txn, PDB_T_DEVICES, key, klen)) < 0)
			return ret;
	}
	if ((u & CLIENTID_UPD_BAN) != 0) {
		struct pdb_ban ban = {PDB_BAN_BLOCKED, CLIENTID_R_MANY_ACCOUNTS, (uint32_t)a->now};
		size_t klen = pdb_ban_key(a->fp, NULL, key);
		pdb_ban_encode(&ban, val);
		if ((ret = db->ops->put(txn, PDB_T_BANS, key, klen, val, PDB_BAN_LEN)) != 0)
			return ret;
	}
	if ((u & CLIENTID_UPD_TOUCH) != 0) {
		/* The trace copies the device's durable state as this transaction
		 * leaves it, with the version that this transaction sees. */
		struct pdb_copy copy = {.state = out->device.state,
		                        .seen_day = out->device.seen_day};
		int have_copy = 0;
		if (rs->have_version && (u & (CLIENTID_UPD_DEVICE | CLIENTID_UPD_EVICT)) == 0) {
			copy.version = rs->version; /* no device written since it was read */
			have_copy = known;
		} else if ((known || (u & CLIENTID_UPD_DEVICE) != 0) &&
		           (have_copy = device_version(db, txn, a->account, &copy.version)) < 0) {
			return have_copy;
		}
		size_t klen = pdb_touch_key(a->fp, a->account, key);
		size_t vlen = pdb_touch_encode(&out->device, have_copy ? &copy : NULL, val);
		if ((ret = db->ops->put(txn, PDB_T_TOUCH, key, klen, val, vlen)) != 0)
			return ret;
	}
	if ((u & CLIENTID_UPD_DEV_FAIL) != 0 &&
	    (ret = put_window(db, txn, PDB_T_TOUCH, a->fp->b, PDB_FP_ROUTINE, &out->dev_fail)) != 0)
		return ret;
	if ((u & CLIENTID_UPD_IP_FAIL) != 0 &&
	    (ret = put_window(db, txn, PDB_T_COUNTERS, key,
	                      pdb_ip_counter_key(&db->cfg, &a->ip, key), &out->ip_fail)) != 0)
		return ret;
	if ((u & CLIENTID_UPD_SITE_FAIL) != 0 &&
	    (ret = put_window(db, txn, PDB_T_COUNTERS, "s", 1, &out->site_fail)) != 0)
		return ret;
	if ((u & CLIENTID_UPD_ATTACK) != 0) {
		pdb_put32(val, out->attack_until);
		if ((ret = db->ops->put(txn, PDB_T_COUNTERS, "attack", 6, val, 4)) != 0)
			return ret;
	}
	for (unsigned i = 0; i < out->n_events; i++) {
		if ((ret = pdb_event_append(db, txn, &out->events[i])) != 0)
			return ret;
	}
	return 0;
}

struct decide_ctx {
	const struct clientid_attempt *a;
	struct clientid_outcome out;
};

/* Reads the history and asks the engine; rs->use_copy as read_history(). */
static int read_and_decide(struct policydb *db, void *txn, struct decide_ctx *c,
                           struct read_state *rs, struct clientid_history *h)
{
	int ret = read_history(db, txn, c->a, rs, h);
	if (ret != 0)
		return ret;
	return clientid_policy_decide(&db->cfg, c->a, h, &c->out);
}

static int decide_txn(struct policydb *db, void *txn, void *vctx)
{
	struct decide_ctx *c = vctx;
	struct clientid_history h;
	struct read_state rs = {.use_copy = 1};
	int ret = read_and_decide(db, txn, c, &rs, &h);
	if (ret != 0)
		return ret;
	if (!clientid_outcome_is_durable(&c->out))
		return apply(db, txn, c->a, (h.have & CLIENTID_HAVE_DEVICE) != 0, &rs, &c->out);
	/* A security change: become the durable writer, then decide again on
	 * what is there now (an administrator may have just changed it), from
	 * the durable record itself, which the change rewrites. */
	if ((ret = db->ops->upgrade(txn)) != 0)
		return ret;
	rs = (struct read_state){.use_copy = 0};
	if ((ret = read_and_decide(db, txn, c, &rs, &h)) != 0)
		return ret;
	return apply(db, txn, c->a, (h.have & CLIENTID_HAVE_DEVICE) != 0, &rs, &c->out);
}

static int precheck_txn(struct policydb *db, void *txn, void *vctx)
{
	struct clientid_history h;
	struct read_state rs = {.use_copy = 1};
	return read_and_decide(db, txn, vctx, &rs, &h);
}

static void store_failed_verdict(struct policydb *db, const struct clientid_attempt *a,
                                 struct clientid_verdict *v)
{
	policydb_login_fallback(
	    &db->cfg,
	    a->auth == CLIENTID_AUTH_FAILURE ? POLICYDB_LOGIN_FAILED : POLICYDB_LOGIN_VERIFIED, v);
	v->mode = db->cfg.mode;
	if (a->fp != NULL)
		clientid_fp_short(a->fp, v->fp_short);
}

static int run(struct policydb *db, const struct clientid_attempt *a_in, int precheck,
               struct clientid_verdict *v_r)
{
	db->err[0] = '\0';
	/* Every key below uses the canonical account name ([policy] account_case). */
	struct clientid_attempt canon = *a_in;
	char account[CLIENTID_ACCOUNT_MAX + 1];
	if (a_in->account != NULL && clientid_account_canon(&db->cfg, a_in->account, account) == 0)
		canon.account = account;
	const struct clientid_attempt *a = &canon;
	struct decide_ctx c = {.a = a};
	int ret;
	if (precheck != (a->auth == CLIENTID_AUTH_PRECHECK)) {
		snprintf(db->err, sizeof(db->err), "attempt: wrong auth value for this call");
		ret = CLIENTID_E_INVAL;
	} else {
		ret = pdb_with_txn(db, precheck ? PDB_TXN_READ : PDB_TXN_ROUTINE,
		                   precheck ? precheck_txn : decide_txn, &c);
	}
	if (ret == CLIENTID_E_INVAL) {
		if (db->err[0] == '\0')
			snprintf(db->err, sizeof(db->err), "attempt: malformed (account or type)");
		memset(v_r, 0, sizeof(*v_r));
		v_r->decision = CLIENTID_DENY;
		v_r->reason = CLIENTID_R_STORE_ERROR;
		return ret;
	}
	if (ret != 0) {
		store_failed_verdict(db, a, v_r);
		return ret;
	}
	*v_r = c.out.verdict;
	return 0;
}

int policydb_decide(struct policydb *db, const struct clientid_attempt *a,
                    struct clientid_verdict *v_r)
{
	return run(db, a, 0, v_r);
}

int policydb_precheck(struct policydb *db, const struct clientid_attempt *a,
                      struct clientid_verdict *v_r)
{
	return run(db, a, 1, v_r);
}

int policydb_record(struct policydb *db, const struct clientid_attempt *a,
                    struct clientid_verdict *v_r)
{
	int ret = run(db, a, 0, v_r);
	if (v_r->decision != CLIENTID_ALLOW && a->auth == CLIENTID_AUTH_SUCCESS) {
		v_r->decision = CLIENTID_ALLOW;
		v_r->flags |= CLIENTID_VF_OBSERVED;
	}
	return ret;
}
