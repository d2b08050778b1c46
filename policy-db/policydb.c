/* The store's front door: handles, record formats, and the decide path
 * (history in, engine, updates out, in one transaction). */
#include "policydb-private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- little-endian helpers --- */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* --- keys --- */

size_t pdb_device_key(const char *account, const struct clientid_fp *fp, uint8_t *key)
{
	size_t n = strlen(account);
	memcpy(key, account, n);
	key[n] = 0;
	memcpy(key + n + 1, fp->b, CLIENTID_FP_LEN);
	return n + 1 + CLIENTID_FP_LEN;
}

size_t pdb_touch_key(const struct clientid_fp *fp, const char *account, uint8_t *key)
{
	size_t n = strlen(account);
	memcpy(key, fp->b, PDB_FP_ROUTINE);
	memcpy(key + PDB_FP_ROUTINE, account, n);
	return PDB_FP_ROUTINE + n;
}

size_t pdb_ban_key(const struct clientid_fp *fp, const char *account, uint8_t *key)
{
	/* Never memcpy from NULL, even 0 bytes: the compiler would conclude
	 * account != NULL in the caller (read_ban() regression test in
	 * test_store.c, "precheck, limits, walking device"). */
	size_t n = account != NULL ? strlen(account) : 0;
	memcpy(key, fp->b, CLIENTID_FP_LEN);
	if (n > 0)
		memcpy(key + CLIENTID_FP_LEN, account, n);
	return CLIENTID_FP_LEN + n;
}

/* --- records --- */

/* Durable device: state, type length, label length, 0, first seen, seen day,
 * type, label. 12 to 92 bytes. */
size_t pdb_device_encode(const struct clientid_device *d, uint8_t *buf)
{
	size_t tl = strnlen(d->type, CLIENTID_TYPE_MAX);
	size_t ll = strnlen(d->label, CLIENTID_LABEL_MAX);
	buf[0] = (uint8_t)d->state;
	buf[1] = (uint8_t)tl;
	buf[2] = (uint8_t)ll;
	buf[3] = 0;
	put32(buf + 4, d->first_seen);
	put32(buf + 8, d->seen_day);
	memcpy(buf + 12, d->type, tl);
	memcpy(buf + 12 + tl, d->label, ll);
	return 12 + tl + ll;
}

int pdb_device_decode(const void *val, size_t len, struct clientid_device *d)
{
	const uint8_t *b = val;
	if (len < 12 || b[1] > CLIENTID_TYPE_MAX || b[2] > CLIENTID_LABEL_MAX ||
	    len != 12u + b[1] + b[2] || b[0] < CLIENTID_DEV_PENDING || b[0] > CLIENTID_DEV_BLOCKED)
		return CLIENTID_E_STORE_CORRUPT;
	d->state = (enum clientid_device_state)b[0];
	d->first_seen = get32(b + 4);
	d->seen_day = get32(b + 8);
	memcpy(d->type, b + 12, b[1]);
	d->type[b[1]] = '\0';
	memcpy(d->label, b + 12 + b[1], b[2]);
	d->label[b[2]] = '\0';
	return 0;
}

/* Routine device (a trace): last seen, successes, failures, family,
 * protocol, copied state (0 without a copy), flags, the address (4 bytes
 * with TRACE_ADDR4, else 16), then with TRACE_COPY the device version and
 * seen day of the copy, then with TRACE_PAIR (schema 3) the last verified
 * password, the last allowed login, the pair's failure window (start,
 * count), and the allowed login's family, 3 zero bytes and address (16).
 * 20 to 80 bytes; 32 with flags 0 is the first layout. */
#define TRACE_ADDR4    0x01
#define TRACE_COPY     0x02
#define TRACE_PAIR     0x04
#define TRACE_PAIR_LEN 36

static size_t trace_addr_len(const uint8_t *b)
{
	return (b[15] & TRACE_ADDR4) != 0 ? 4 : 16;
}

static size_t trace_pair_off(const uint8_t *b)
{
	return 16 + trace_addr_len(b) + ((b[15] & TRACE_COPY) != 0 ? PDB_VERSION_LEN + 4 : 0);
}

static void trace_pair_encode(const struct clientid_device *d, uint8_t *p)
{
	put32(p, d->last_verified);
	put32(p + 4, d->last_ok);
	put32(p + 8, d->pair_fail.start);
	put32(p + 12, d->pair_fail.count);
	memset(p + 16, 0, 4);
	p[16] = d->last_ok_ip.family;
	memcpy(p + 20, d->last_ok_ip.addr, 16);
}

size_t pdb_touch_encode(const struct clientid_device *d, const struct pdb_copy *copy, uint8_t *buf)
{
	size_t alen = d->last_ip.family == 4 ? 4 : 16;
	put32(buf, d->last_seen);
	put32(buf + 4, d->successes);
	put32(buf + 8, d->failures);
	buf[12] = d->last_ip.family;
	buf[13] = (uint8_t)d->last_protocol;
	buf[14] = copy != NULL ? (uint8_t)copy->state : 0;
	buf[15] =
	    (uint8_t)((alen == 4 ? TRACE_ADDR4 : 0) | (copy != NULL ? TRACE_COPY : 0) | TRACE_PAIR);
	memcpy(buf + 16, d->last_ip.addr, alen);
	size_t n = 16 + alen;
	if (copy != NULL) {
		memcpy(buf + n, &copy->version, PDB_VERSION_LEN);
		put32(buf + n + PDB_VERSION_LEN, copy->seen_day);
		n += PDB_VERSION_LEN + 4;
	}
	trace_pair_encode(d, buf + n);
	return n + TRACE_PAIR_LEN;
}

/* The pair's part; a trace written before schema 3 has none: its last
 * success is taken as its last sighting, as the checks then saw it. */
static int trace_pair_decode(const uint8_t *b, struct clientid_device *d)
{
	memset(&d->last_ok_ip, 0, sizeof(d->last_ok_ip));
	if ((b[15] & TRACE_PAIR) == 0) {
		d->last_verified = d->successes > 0 ? d->last_seen : 0;
		d->last_ok = d->last_verified;
		d->last_ok_ip = d->last_ip;
		d->pair_fail = (struct clientid_window){0, 0};
		return 0;
	}
	const uint8_t *p = b + trace_pair_off(b);
	if (p[16] != 0 && p[16] != 4 && p[16] != 6)
		return CLIENTID_E_STORE_CORRUPT;
	d->last_verified = get32(p);
	d->last_ok = get32(p + 4);
	d->pair_fail.start = get32(p + 8);
	d->pair_fail.count = get32(p + 12);
	d->last_ok_ip.family = p[16];
	memcpy(d->last_ok_ip.addr, p + 20, 16);
	return 0;
}

int pdb_touch_decode(const void *val, size_t len, struct clientid_device *d)
{
	const uint8_t *b = val;
	if (len < 20 || (b[15] & ~(TRACE_ADDR4 | TRACE_COPY | TRACE_PAIR)) != 0 ||
	    len != trace_pair_off(b) + ((b[15] & TRACE_PAIR) != 0 ? TRACE_PAIR_LEN : 0) ||
	    (b[12] != 0 && b[12] != 4 && b[12] != 6) || b[13] > CLIENTID_PROTO_OTHER ||
	    ((b[15] & TRACE_ADDR4) != 0 && b[12] != 4))
		return CLIENTID_E_STORE_CORRUPT;
	if ((b[15] & TRACE_COPY) != 0 ? b[14] < CLIENTID_DEV_PENDING || b[14] > CLIENTID_DEV_BLOCKED
	                              : b[14] != 0)
		return CLIENTID_E_STORE_CORRUPT;
	d->last_seen = get32(b);
	d->successes = get32(b + 4);
	d->failures = get32(b + 8);
	d->last_ip.family = b[12];
	d->last_protocol = (enum clientid_protocol)b[13];
	memset(d->last_ip.addr, 0, sizeof(d->last_ip.addr));
	memcpy(d->last_ip.addr, b + 16, trace_addr_len(b));
	return trace_pair_decode(b, d);
}

int pdb_touch_copy(const void *val, size_t len, struct pdb_copy *copy)
{
	const uint8_t *b = val;
	struct clientid_device d;
	if (pdb_touch_decode(val, len, &d) != 0 || (b[15] & TRACE_COPY) == 0)
		return 0;
	size_t n = 16 + trace_addr_len(b);
	memcpy(&copy->version, b + n, PDB_VERSION_LEN);
	copy->seen_day = get32(b + n + PDB_VERSION_LEN);
	copy->state = (enum clientid_device_state)b[14];
	return 1;
}

void pdb_ban_encode(const struct pdb_ban *ban, uint8_t *buf)
{
	memset(buf, 0, PDB_BAN_LEN);
	buf[0] = ban->kind;
	buf[1] = ban->reason;
	put32(buf + 4, ban->time);
}

int pdb_ban_decode(const void *val, size_t len, struct pdb_ban *ban)
{
	const uint8_t *b = val;
	if (len != PDB_BAN_LEN || (b[0] != PDB_BAN_REVOKED && b[0] != PDB_BAN_BLOCKED))
		return CLIENTID_E_STORE_CORRUPT;
	ban->kind = b[0];
	ban->reason = b[1];
	ban->time = get32(b + 4);
	return 0;
}

void pdb_policy_encode(const struct clientid_account_policy *p, uint8_t *buf)
{
	memset(buf, 0, PDB_POLICY_LEN);
	buf[0] = p->mode < 0 ? 0xff : (uint8_t)p->mode;
	buf[1] = p->require_clientid < 0 ? 0xff : (uint8_t)p->require_clientid;
	buf[2] = (uint8_t)p->learn_max_devices;
	buf[3] = (uint8_t)(p->learn_max_devices >> 8);
	buf[4] = (uint8_t)p->pending_max_devices;
	buf[5] = (uint8_t)(p->pending_max_devices >> 8);
}

int pdb_policy_decode(const void *val, size_t len, struct clientid_account_policy *p)
{
	const uint8_t *b = val;
	if (len != PDB_POLICY_LEN || (b[0] != 0xff && b[0] > CLIENTID_MODE_ENFORCE) ||
	    (b[1] != 0xff && b[1] > 1))
		return CLIENTID_E_STORE_CORRUPT;
	p->mode = b[0] == 0xff ? -1 : b[0];
	p->require_clientid = b[1] == 0xff ? -1 : b[1];
	p->learn_max_devices = (unsigned)b[2] | (unsigned)b[3] << 8;
	p->pending_max_devices = (unsigned)b[4] | (unsigned)b[5] << 8;
	return 0;
}

/* Event: time, kind, reason, protocol, flags, decision, family, address,
 * [fingerprint when flagged], type length, type, account length, account. */
size_t pdb_event_encode(const struct clientid_event *ev, uint8_t *buf)
{
	size_t n = 0;
	put32(buf, ev->time);
	n = 4;
	buf[n++] = ev->kind;
	buf[n++] = ev->reason;
	buf[n++] = ev->protocol;
	buf[n++] = ev->flags;
	buf[n++] = ev->decision;
	buf[n++] = ev->ip.family;
	memcpy(buf + n, ev->ip.addr, 16);
	n += 16;
	if ((ev->flags & CLIENTID_EVF_FP) != 0) {
		memcpy(buf + n, ev->fp.b, CLIENTID_FP_LEN);
		n += CLIENTID_FP_LEN;
	}
	size_t tl = strnlen(ev->type, CLIENTID_TYPE_MAX);
	size_t al = strnlen(ev->account, CLIENTID_ACCOUNT_MAX);
	buf[n++] = (uint8_t)tl;
	memcpy(buf + n, ev->type, tl);
	n += tl;
	buf[n++] = (uint8_t)al;
	memcpy(buf + n, ev->account, al);
	return n + al;
}

int pdb_event_decode(const void *val, size_t len, struct clientid_event *ev)
{
	const uint8_t *b = val;
	memset(ev, 0, sizeof(*ev));
	size_t n = 26;
	if (len < n + 2)
		return CLIENTID_E_STORE_CORRUPT;
	ev->time = get32(b);
	ev->kind = b[4];
	ev->reason = b[5];
	ev->protocol = b[6];
	ev->flags = b[7];
	ev->decision = b[8];
	ev->ip.family = b[9];
	memcpy(ev->ip.addr, b + 10, 16);
	if ((ev->flags & CLIENTID_EVF_FP) != 0) {
		if (len < n + CLIENTID_FP_LEN + 2)
			return CLIENTID_E_STORE_CORRUPT;
		memcpy(ev->fp.b, b + n, CLIENTID_FP_LEN);
		n += CLIENTID_FP_LEN;
	}
	size_t tl = b[n++];
	if (tl > CLIENTID_TYPE_MAX || n + tl + 1 > len)
		return CLIENTID_E_STORE_CORRUPT;
	memcpy(ev->type, b + n, tl);
	n += tl;
	size_t al = b[n++];
	if (n + al != len)
		return CLIENTID_E_STORE_CORRUPT;
	memcpy(ev->account, b + n, al);
	if (ev->kind == 0 || ev->kind >= CLIENTID_EV_COUNT_)
		return CLIENTID_E_STORE_CORRUPT;
	return 0;
}

/* --- handles --- */

int policydb_init_config(const struct clientid_config *cfg, const struct clientid_secret *secret,
                         unsigned flags, struct policydb **db_r, char *err_r)
{
	struct policydb *db = calloc(1, sizeof(*db));
	if (db == NULL) {
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "clientid: out of memory");
		return CLIENTID_E_NOMEM;
	}
	db->cfg = *cfg;
	if (secret != NULL) {
		db->secret = *secret;
		db->has_secret = 1;
	}
	db->flags = flags;
	db->ops = &policydb_backend_lmdb;
	*db_r = db;
	return 0;
}

int policydb_init(const char *config_path, unsigned flags, struct policydb **db_r, char *err_r)
{
	struct clientid_config cfg;
	int ret = clientid_config_load(config_path, &cfg, err_r);
	if (ret != 0)
		return ret;
	struct clientid_secret secret;
	int have_secret = (flags & POLICYDB_NO_SECRET) == 0;
	if (have_secret) {
		ret = clientid_secret_load(cfg.secret_file, &secret, err_r);
		if (ret != 0)
			return ret;
	}
	ret = policydb_init_config(&cfg, have_secret ? &secret : NULL, flags, db_r, err_r);
	if (have_secret)
		clientid_secret_clear(&secret);
	return ret;
}

void policydb_deinit(struct policydb **dbp)
{
	struct policydb *db = *dbp;
	if (db == NULL)
		return;
	if (db->be != NULL) {
		if (db->pid == getpid())
			db->ops->close(db->be);
		else
			db->ops->abandon(db->be);
	}
	clientid_secret_clear(&db->secret);
	free(db);
	*dbp = NULL;
}

const char *policydb_last_error(const struct policydb *db)
{
	return db->err;
}

const struct clientid_config *policydb_config(const struct policydb *db)
{
	return &db->cfg;
}

int policydb_fingerprint(struct policydb *db, const char *type, size_t type_len, const char *token,
                         size_t token_len, struct clientid_fp *fp_r)
{
	if (!db->has_secret) {
		snprintf(db->err, sizeof(db->err), "no site secret loaded");
		return CLIENTID_E_INVAL;
	}
	return clientid_fp_compute(&db->secret, type, type_len, token, token_len, fp_r);
}

int pdb_fail(struct policydb *db, int code)
{
	if (db->be != NULL)
		snprintf(db->err, sizeof(db->err), "%s", db->ops->last_error(db->be));
	return code;
}

/* Schema migrations: steps[v] turns version v into v + 1; a change of a
 * record format adds one and bumps PDB_SCHEMA_VERSION. */
typedef int migrate_fn(struct policydb *db, void *txn);
/* 1 -> 2: device versions appear as devices are written; nothing to do.
 * 2 -> 3: traces gain their pair part (TRACE_PAIR) as they are written, and
 * read without it as before (trace_pair_decode()); nothing to do. The bump
 * keeps older programs, which would refuse such traces, off the store. */
static migrate_fn *const migrations[PDB_SCHEMA_VERSION] = {NULL, NULL, NULL};

static int schema_txn(struct policydb *db, void *txn, void *ctx)
{
	int *need_write = ctx;
	const void *val;
	size_t len;
	int ret = db->ops->get(txn, PDB_T_META, "schema", 6, &val, &len);
	if (ret < 0)
		return ret;
	uint32_t version = 0;
	if (ret == 1) {
		if (len != 4)
			return CLIENTID_E_STORE_CORRUPT;
		version = get32(val);
	}
	if (version > PDB_SCHEMA_VERSION) {
		snprintf(db->err, sizeof(db->err),
		         "%s: store schema version %u is newer than this program's (%d)",
		         db->cfg.store_path, version, PDB_SCHEMA_VERSION);
		return CLIENTID_E_STORE_VERSION;
	}
	if (version == PDB_SCHEMA_VERSION)
		return 0;
	if (!*need_write) {
		*need_write = 1;
		return 1; /* again, as a writer */
	}
	for (uint32_t v = version == 0 ? PDB_SCHEMA_VERSION : version; v < PDB_SCHEMA_VERSION;
	     v++) {
		if (migrations[v] != NULL && (ret = migrations[v](db, txn)) != 0)
			return ret;
	}
	uint8_t b[4];
	put32(b, PDB_SCHEMA_VERSION);
	return db->ops->put(txn, PDB_T_META, "schema", 6, b, 4);
}

int pdb_open(struct policydb *db)
{
	if (db->be != NULL && db->pid == getpid())
		return 0;
	if (db->be != NULL) {
		/* A fork happened: never use the parent's environment. */
		db->ops->abandon(db->be);
		db->be = NULL;
	}
	struct policydb_backend_params params = {
	    .path = db->cfg.store_path,
	    .map_size = db->cfg.store_map_size,
	    .create = (db->flags & POLICYDB_NO_CREATE) == 0,
	    .boot_id = getenv("CLIENTID_TEST_BOOT_ID"),
	};
	int ret = db->ops->open(&params, &db->be, db->err);
	if (ret != 0) {
		db->be = NULL;
		return ret;
	}
	db->pid = getpid();
	int need_write = 0;
	ret = pdb_with_txn(db, PDB_TXN_READ, schema_txn, &need_write);
	if (ret == 1)
		ret = pdb_with_txn(db, PDB_TXN_ROUTINE | PDB_TXN_DURABLE, schema_txn, &need_write);
	if (ret != 0) {
		char keep[CLIENTID_ERRBUF_SIZE];
		snprintf(keep, sizeof(keep), "%s", db->err);
		db->ops->close(db->be);
		db->be = NULL;
		snprintf(db->err, sizeof(db->err), "%s", keep);
		return ret;
	}
	return 0;
}

/* Alerts of the transaction being run, started after its commit. */
static struct clientid_event pending_alerts[CLIENTID_OUTCOME_EVENTS_MAX];
static unsigned n_pending_alerts;

int pdb_event_append(struct policydb *db, void *txn, struct clientid_event *ev)
{
	uint8_t buf[PDB_EVENT_MAX];
	size_t len = pdb_event_encode(ev, buf);
	int ret = db->ops->append(txn, PDB_T_EVENTS, buf, len, &ev->seq);
	if (ret == 0 && (ev->flags & CLIENTID_EVF_ALERT) != 0 &&
	    n_pending_alerts < CLIENTID_OUTCOME_EVENTS_MAX)
		pending_alerts[n_pending_alerts++] = *ev;
	return ret;
}

int pdb_with_txn(struct policydb *db, unsigned flags, pdb_txn_fn *fn, void *ctx)
{
	int ret;
	for (int tries = 0;; tries++) {
		if ((ret = pdb_open(db)) != 0)
			return ret;
		void *txn;
		n_pending_alerts = 0;
		ret = db->ops->begin(db->be, flags, &txn);
		if (ret == 0) {
			ret = fn(db, txn, ctx);
			if (ret == 0 && flags != PDB_TXN_READ)
				ret = db->ops->commit(txn);
			else
				db->ops->abort(txn);
		}
		if (ret == CLIENTID_E_STORE_FULL && tries < 16 && db->ops->grow(db->be) == 0)
			continue;
		break;
	}
	if (ret < 0) {
		switch (ret) {
		case CLIENTID_E_NOTFOUND:
		case CLIENTID_E_AMBIGUOUS:
		case CLIENTID_E_INVAL:
		case CLIENTID_E_EXISTS:
		case CLIENTID_E_FORMAT:
		case CLIENTID_E_STORE_VERSION:
			break; /* fn explained it */
		default:
			pdb_fail(db, ret);
		}
		n_pending_alerts = 0;
		return ret;
	}
	if (ret == 0 && (db->flags & POLICYDB_NO_ALERTS) == 0 && db->cfg.alert_command[0] != '\0') {
		for (unsigned i = 0; i < n_pending_alerts; i++)
			pdb_alert_spawn(db, &pending_alerts[i]);
	}
	n_pending_alerts = 0;
	return ret;
}

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
	w->start = get32(val);
	w->count = get32((const uint8_t *)val + 4);
	return 0;
}

static int put_window(struct policydb *db, void *txn, enum policydb_table t, const void *key,
                      size_t klen, const struct clientid_window *w)
{
	uint8_t b[PDB_WINDOW_LEN];
	put32(b, w->start);
	put32(b + 4, w->count);
	return db->ops->put(txn, t, key, klen, b, PDB_WINDOW_LEN);
}

size_t pdb_ip_counter_key(const struct clientid_config *cfg, const struct clientid_ip *ip,
                          uint8_t *key)
{
	unsigned bits = ip->family == 4 ? cfg->ip_fail_prefix4 : cfg->ip_fail_prefix6;
	key[0] = 'i';
	key[1] = ip->family;
	memset(key + 2, 0, 16);
	memcpy(key + 2, ip->addr, bits / 8);
	if (bits % 8 != 0)
		key[2 + bits / 8] = (uint8_t)(ip->addr[bits / 8] & (0xff << (8 - bits % 8)));
	return 18;
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
	int ret = db->ops->scan(txn, PDB_T_TOUCH, a->fp->b, PDB_FP_ROUTINE, PDB_FP_ROUTINE,
	                        count_accounts, &c);
	h->device_accounts = c.count;
	return ret < 0 ? ret : 0;
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
	size_t plen = strlen(a->account) + 1;
	struct devices_ctx c = {.h = h};
	ret = db->ops->scan(txn, PDB_T_DEVICES, a->account, plen, plen, count_devices, &c);
	return ret < 0 ? ret : 0;
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
		h->attack_until = get32(val);
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
		put32(val, out->attack_until);
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

static int decide_txn(struct policydb *db, void *txn, void *vctx)
{
	struct decide_ctx *c = vctx;
	struct clientid_history h;
	struct read_state rs = {.use_copy = 1};
	int ret = read_history(db, txn, c->a, &rs, &h);
	if (ret != 0)
		return ret;
	if ((ret = clientid_policy_decide(&db->cfg, c->a, &h, &c->out)) != 0)
		return ret;
	if (!clientid_outcome_is_durable(&c->out))
		return apply(db, txn, c->a, (h.have & CLIENTID_HAVE_DEVICE) != 0, &rs, &c->out);
	/* A security change: become the durable writer, then decide again on
	 * what is there now (an administrator may have just changed it), from
	 * the durable record itself, which the change rewrites. */
	if ((ret = db->ops->upgrade(txn)) != 0)
		return ret;
	rs = (struct read_state){.use_copy = 0};
	if ((ret = read_history(db, txn, c->a, &rs, &h)) != 0)
		return ret;
	if ((ret = clientid_policy_decide(&db->cfg, c->a, &h, &c->out)) != 0)
		return ret;
	return apply(db, txn, c->a, (h.have & CLIENTID_HAVE_DEVICE) != 0, &rs, &c->out);
}

static int precheck_txn(struct policydb *db, void *txn, void *vctx)
{
	struct decide_ctx *c = vctx;
	struct clientid_history h;
	struct read_state rs = {.use_copy = 1};
	int ret = read_history(db, txn, c->a, &rs, &h);
	if (ret != 0)
		return ret;
	return clientid_policy_decide(&db->cfg, c->a, &h, &c->out);
}

static void store_failed_verdict(struct policydb *db, const struct clientid_attempt *a,
                                 struct clientid_verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->reason = CLIENTID_R_STORE_ERROR;
	v->mode = db->cfg.mode;
	if (a->fp != NULL)
		clientid_fp_short(a->fp, v->fp_short);
	if (db->cfg.store_on_error == CLIENTID_STORE_ERROR_TEMPFAIL) {
		v->decision = CLIENTID_TEMPFAIL;
	} else {
		v->decision = a->auth == CLIENTID_AUTH_FAILURE ? CLIENTID_DENY : CLIENTID_ALLOW;
		v->flags = CLIENTID_VF_FAIL_OPEN;
	}
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
