/* Export and import of the durable state as one JSON document (json-c).
 * Administration only: no login process links this file. */
#include "policydb-admin.h"
#include "policydb-private.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT_FORMAT  "clientid-export"
#define EXPORT_VERSION 1

/* --- export --- */

struct export_ctx {
	FILE *out;
	int first;
	int ret;
};

static void emit(struct export_ctx *c, json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (fprintf(c->out, "%s\n  %s", c->first ? "" : ",", s) < 0)
		c->ret = CLIENTID_E_IO;
	c->first = 0;
	json_object_put(o);
}

/* A device's "device" (its short id, in the view only) and "fingerprint". */
static void add_fp(json_object *o, const struct clientid_fp *fp, int view)
{
	char hex[CLIENTID_FP_HEX_LEN + 1];
	if (view) {
		char s[CLIENTID_FP_SHORT_LEN + 1];
		clientid_fp_short(fp, s);
		pdb_json_add_str(o, "device", s);
	}
	clientid_fp_hex(fp, hex);
	pdb_json_add_str(o, "fingerprint", hex);
}

struct json_object *policydb_device_json(const struct policydb_device_info *info,
                                         enum policydb_json_form form)
{
	const struct clientid_device *d = &info->device;
	int view = form == POLICYDB_JSON_VIEW;
	char ip[CLIENTID_IP_STR_MAX];
	json_object *o = json_object_new_object();
	pdb_json_add_str(o, "account", info->account);
	add_fp(o, &info->fp, view);
	int durable = info->durable || !view;
	pdb_json_add_str(o, "state", durable ? clientid_device_state_name(d->state) : "unknown");
	if (durable) {
		pdb_json_add_str(o, "type", d->type);
		if (view || d->label[0] != '\0')
			pdb_json_add_str(o, "label", d->label);
		pdb_json_add_int(o, "first_seen", d->first_seen);
		if (!view)
			pdb_json_add_int(o, "seen_day", d->seen_day);
	}
	if (info->touched) {
		clientid_ip_format(&d->last_ip, ip);
		pdb_json_add_int(o, "last_seen", d->last_seen);
		if (view || ip[0] != '\0')
			pdb_json_add_str(o, "last_ip", ip);
		pdb_json_add_str(o, "last_protocol", clientid_protocol_name(d->last_protocol));
		pdb_json_add_int(o, "successes", d->successes);
		pdb_json_add_int(o, "failures", d->failures);
	}
	return o;
}

struct json_object *policydb_ban_json(const struct policydb_ban_info *ban,
                                      enum policydb_json_form form)
{
	int view = form == POLICYDB_JSON_VIEW;
	json_object *o = json_object_new_object();
	add_fp(o, &ban->fp, view);
	if (!view && ban->account[0] != '\0')
		pdb_json_add_str(o, "account", ban->account);
	pdb_json_add_str(o, "kind", ban->revoked ? "revoked" : "blocked");
	pdb_json_add_int(o, "time", ban->time);
	if (view && ban->account[0] != '\0')
		pdb_json_add_str(o, "account", ban->account);
	return o;
}

static int export_device(void *vctx, const struct policydb_device_info *info)
{
	struct export_ctx *c = vctx;
	emit(c, policydb_device_json(info, POLICYDB_JSON_EXPORT));
	return c->ret;
}

static int export_ban_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct export_ctx *c = vctx;
	char account[CLIENTID_ACCOUNT_MAX + 1];
	struct policydb_ban_info info;
	int ret = pdb_ban_info_decode(key, klen, val, vlen, account, &info);
	if (ret != 0)
		return ret;
	emit(c, policydb_ban_json(&info, POLICYDB_JSON_EXPORT));
	return c->ret;
}

static int export_policy_cb(void *vctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct export_ctx *c = vctx;
	struct clientid_account_policy p;
	if (klen == 0 || klen > CLIENTID_ACCOUNT_MAX || pdb_policy_decode(val, vlen, &p) != 0)
		return CLIENTID_E_STORE_CORRUPT;
	char account[CLIENTID_ACCOUNT_MAX + 1];
	memcpy(account, key, klen);
	account[klen] = '\0';
	json_object *o = json_object_new_object();
	pdb_json_add_str(o, "account", account);
	if (p.mode >= 0)
		pdb_json_add_str(o, "mode", clientid_mode_name((enum clientid_mode)p.mode));
	if (p.require_clientid >= 0)
		json_object_object_add(o, "require_clientid",
		                       json_object_new_boolean(p.require_clientid));
	if (p.learn_max_devices != 0)
		pdb_json_add_int(o, "learn_max_devices", p.learn_max_devices);
	if (p.pending_max_devices != 0)
		pdb_json_add_int(o, "pending_max_devices", p.pending_max_devices);
	emit(c, o);
	return c->ret;
}

static int export_txn(struct policydb *db, void *txn, void *vctx)
{
	struct export_ctx *c = vctx;
	struct pdb_device_walk w = {db, txn, export_device, c};
	fprintf(c->out, "{\"format\": \"%s\", \"version\": %d,\n\"devices\": [", EXPORT_FORMAT,
	        EXPORT_VERSION);
	c->first = 1;
	int ret = db->ops->scan(txn, PDB_T_DEVICES, NULL, 0, 0, pdb_device_walk_cb, &w);
	if (ret != 0)
		return ret;
	fprintf(c->out, "],\n\"bans\": [");
	c->first = 1;
	if ((ret = db->ops->scan(txn, PDB_T_BANS, NULL, 0, 0, export_ban_cb, c)) != 0)
		return ret;
	fprintf(c->out, "],\n\"policies\": [");
	c->first = 1;
	if ((ret = db->ops->scan(txn, PDB_T_ACCOUNTS, NULL, 0, 0, export_policy_cb, c)) != 0)
		return ret;
	if (fprintf(c->out, "]}\n") < 0 || fflush(c->out) != 0)
		return CLIENTID_E_IO;
	return c->ret;
}

int policydb_export(struct policydb *db, FILE *out)
{
	struct export_ctx c = {out, 1, 0};
	int ret = pdb_with_txn(db, PDB_TXN_READ, export_txn, &c);
	if (ret == CLIENTID_E_IO)
		snprintf(db->err, sizeof(db->err), "export: write error: %s", strerror(errno));
	return ret;
}

/* --- import --- */

struct import_item {
	int kind; /* 0 device, 1 ban, 2 policy */
	char account[CLIENTID_ACCOUNT_MAX + 1];
	struct clientid_fp fp;
	int touched;
	struct clientid_device device;
	struct pdb_ban ban;
	struct clientid_account_policy policy;
};

typedef int import_fn(void *ctx, const struct import_item *item);

static int bad(char *err_r, const char *what, size_t index, const char *why)
{
	snprintf(err_r, CLIENTID_ERRBUF_SIZE, "import: %s[%zu]: %s", what, index, why);
	return CLIENTID_E_FORMAT;
}

/* Field readers: 1 = present and valid, 0 = absent, -1 = wrong. */
static int get_string(json_object *o, const char *key, const char **val_r)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	*val_r = json_object_get_string(v);
	/* An embedded NUL would make the C string shorter than the value. */
	if (strlen(*val_r) != (size_t)json_object_get_string_len(v))
		return -1;
	return 1;
}

static int get_u32(json_object *o, const char *key, uint32_t *val_r)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	errno = 0;
	int64_t n = json_object_get_int64(v);
	if (errno != 0 || n < 0 || n > UINT32_MAX)
		return -1;
	*val_r = (uint32_t)n;
	return 1;
}

static int get_account(json_object *o, char *account, int required)
{
	const char *s;
	int r = get_string(o, "account", &s);
	if (r == 0 && !required) {
		account[0] = '\0';
		return 0;
	}
	if (r != 1 || clientid_account_check(s) != 0)
		return -1;
	snprintf(account, CLIENTID_ACCOUNT_MAX + 1, "%s", s);
	return 0;
}

static int get_fp(json_object *o, struct clientid_fp *fp)
{
	const char *s;
	if (get_string(o, "fingerprint", &s) != 1 || clientid_fp_from_hex(s, strlen(s), fp) != 0)
		return -1;
	return 0;
}

static int parse_device(json_object *o, struct import_item *it)
{
	const char *s;
	struct clientid_device *d = &it->device;
	if (get_account(o, it->account, 1) != 0 || get_fp(o, &it->fp) != 0)
		return -1;
	if (get_string(o, "state", &s) != 1 || clientid_device_state_parse(s, &d->state) != 0)
		return -1;
	if (get_string(o, "type", &s) != 1 || clientid_type_upper(s, strlen(s), d->type) != 0)
		return -1;
	int r = get_string(o, "label", &s);
	if (r < 0 || (r == 1 && strlen(s) > CLIENTID_LABEL_MAX))
		return -1;
	if (r == 1) {
		for (const char *p = s; *p != '\0'; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return -1;
		}
		snprintf(d->label, sizeof(d->label), "%s", s);
	}
	if (get_u32(o, "first_seen", &d->first_seen) != 1 ||
	    get_u32(o, "seen_day", &d->seen_day) < 0)
		return -1;
	r = get_u32(o, "last_seen", &d->last_seen);
	if (r < 0)
		return -1;
	it->touched = r == 1;
	if (get_u32(o, "successes", &d->successes) < 0 || get_u32(o, "failures", &d->failures) < 0)
		return -1;
	r = get_string(o, "last_ip", &s);
	if (r < 0 || (r == 1 && clientid_ip_parse(s, &d->last_ip) != 0))
		return -1;
	r = get_string(o, "last_protocol", &s);
	if (r < 0)
		return -1;
	if (r == 1) {
		int found = 0;
		for (int p = CLIENTID_PROTO_NONE; p <= CLIENTID_PROTO_OTHER; p++) {
			if (strcmp(s, clientid_protocol_name((enum clientid_protocol)p)) == 0) {
				d->last_protocol = (enum clientid_protocol)p;
				found = 1;
			}
		}
		if (!found)
			return -1;
	}
	return 0;
}

static int parse_ban(json_object *o, struct import_item *it)
{
	const char *s;
	if (get_fp(o, &it->fp) != 0 || get_account(o, it->account, 0) != 0)
		return -1;
	if (get_string(o, "kind", &s) != 1)
		return -1;
	if (strcmp(s, "revoked") == 0)
		it->ban.kind = PDB_BAN_REVOKED;
	else if (strcmp(s, "blocked") == 0)
		it->ban.kind = PDB_BAN_BLOCKED;
	else
		return -1;
	it->ban.reason =
	    it->ban.kind == PDB_BAN_REVOKED ? CLIENTID_ADMIN_REVOKE : CLIENTID_R_MANY_ACCOUNTS;
	return get_u32(o, "time", &it->ban.time) == 1 ? 0 : -1;
}

static int parse_policy(json_object *o, struct import_item *it)
{
	const char *s;
	struct clientid_account_policy *p = &it->policy;
	*p = (struct clientid_account_policy)CLIENTID_ACCOUNT_POLICY_DEFAULT;
	if (get_account(o, it->account, 1) != 0)
		return -1;
	int r = get_string(o, "mode", &s);
	enum clientid_mode mode;
	if (r < 0 || (r == 1 && clientid_mode_parse(s, &mode) != 0))
		return -1;
	if (r == 1)
		p->mode = (int)mode;
	json_object *v;
	if (json_object_object_get_ex(o, "require_clientid", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			return -1;
		p->require_clientid = json_object_get_boolean(v) ? 1 : 0;
	}
	uint32_t n;
	if ((r = get_u32(o, "learn_max_devices", &n)) < 0 || (r == 1 && (n < 1 || n > 1000)))
		return -1;
	if (r == 1)
		p->learn_max_devices = n;
	if ((r = get_u32(o, "pending_max_devices", &n)) < 0 || (r == 1 && (n < 1 || n > 1000)))
		return -1;
	if (r == 1)
		p->pending_max_devices = n;
	return 0;
}

static int import_walk(const char *json, size_t len, import_fn *fn, void *ctx, char *err_r)
{
	if (len > INT32_MAX)
		return bad(err_r, "document", 0, "too large");
	json_tokener *tok = json_tokener_new();
	if (tok == NULL)
		return CLIENTID_E_NOMEM;
	json_object *doc = json_tokener_parse_ex(tok, json, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (doc == NULL || jerr != json_tokener_success) {
		json_object_put(doc);
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "import: not JSON: %s",
		         jerr == json_tokener_continue ? "unexpected end"
		                                       : json_tokener_error_desc(jerr));
		return CLIENTID_E_FORMAT;
	}
	for (; used < len; used++) {
		if (json[used] != ' ' && json[used] != '\n' && json[used] != '\t' &&
		    json[used] != '\r') {
			json_object_put(doc);
			return bad(err_r, "document", 0, "trailing data after the JSON object");
		}
	}
	int ret = 0;
	const char *s;
	json_object *v;
	if (!json_object_is_type(doc, json_type_object) || get_string(doc, "format", &s) != 1 ||
	    strcmp(s, EXPORT_FORMAT) != 0 || !json_object_object_get_ex(doc, "version", &v) ||
	    !json_object_is_type(v, json_type_int) || json_object_get_int64(v) != EXPORT_VERSION) {
		json_object_put(doc);
		return bad(err_r, "document", 0,
		           "not a clientid export (\"format\": \"" EXPORT_FORMAT
		           "\", \"version\": 1)");
	}
	static const char *const lists[] = {"devices", "bans", "policies"};
	struct import_item *it = malloc(sizeof(*it));
	if (it == NULL) {
		json_object_put(doc);
		return CLIENTID_E_NOMEM;
	}
	for (int kind = 0; kind < 3 && ret == 0; kind++) {
		json_object *arr;
		if (!json_object_object_get_ex(doc, lists[kind], &arr))
			continue;
		if (!json_object_is_type(arr, json_type_array)) {
			ret = bad(err_r, lists[kind], 0, "not an array");
			break;
		}
		size_t n = json_object_array_length(arr);
		for (size_t i = 0; i < n && ret == 0; i++) {
			json_object *o = json_object_array_get_idx(arr, i);
			memset(it, 0, sizeof(*it));
			it->kind = kind;
			int r = !json_object_is_type(o, json_type_object) ? -1
			        : kind == 0                               ? parse_device(o, it)
			        : kind == 1                               ? parse_ban(o, it)
			                                                  : parse_policy(o, it);
			if (r != 0)
				ret = bad(err_r, lists[kind], i, "missing or invalid field");
			else if (fn != NULL)
				ret = fn(ctx, it);
		}
	}
	free(it);
	json_object_put(doc);
	return ret;
}

int policydb_import_validate(const char *json, size_t len, char *err_r)
{
	return import_walk(json, len, NULL, NULL, err_r);
}

struct import_ctx {
	struct policydb *db;
	void *txn;
	const char *json;
	size_t len;
	uint64_t now;
	struct policydb_import_counts counts;
};

static int import_item_apply(void *vctx, const struct import_item *it)
{
	struct import_ctx *c = vctx;
	struct policydb *db = c->db;
	uint8_t key[PDB_DEVKEY_MAX], val[128];
	size_t klen;
	int ret;
	/* Every store key uses the canonical name ([policy] account_case), as
	 * a login does: an export of an older store, or of one with another
	 * account_case, lands on the accounts logins will look up. Spellings
	 * that fold to one name are one account; the later record wins. */
	char account[CLIENTID_ACCOUNT_MAX + 1] = "";
	if (it->account[0] != '\0' && clientid_account_canon(&db->cfg, it->account, account) != 0)
		return CLIENTID_E_INVAL;
	switch (it->kind) {
	case 0:
		klen = pdb_device_key(account, &it->fp, key);
		ret = db->ops->put(c->txn, PDB_T_DEVICES, key, klen, val,
		                   pdb_device_encode(&it->device, val));
		if (ret == 0 && it->touched) {
			klen = pdb_touch_key(&it->fp, account, key);
			size_t vlen = pdb_touch_encode(&it->device, NULL, val);
			ret = db->ops->put(c->txn, PDB_T_TOUCH, key, klen, val, vlen);
		}
		c->counts.devices++;
		return ret;
	case 1:
		klen = pdb_ban_key(&it->fp, account[0] ? account : NULL, key);
		pdb_ban_encode(&it->ban, val);
		c->counts.bans++;
		return db->ops->put(c->txn, PDB_T_BANS, key, klen, val, PDB_BAN_LEN);
	default:
		pdb_policy_encode(&it->policy, val);
		c->counts.policies++;
		return db->ops->put(c->txn, PDB_T_ACCOUNTS, account, strlen(account), val,
		                    PDB_POLICY_LEN);
	}
}

static int import_txn(struct policydb *db, void *txn, void *vctx)
{
	struct import_ctx *c = vctx;
	c->db = db;
	c->txn = txn;
	memset(&c->counts, 0, sizeof(c->counts));
	int ret = import_walk(c->json, c->len, import_item_apply, c, db->err);
	if (ret != 0)
		return ret;
	return pdb_admin_event(db, txn, CLIENTID_ADMIN_IMPORT, NULL, NULL, NULL, c->now);
}

int policydb_import(struct policydb *db, const char *json, size_t len, uint64_t now,
                    struct policydb_import_counts *counts_r)
{
	struct import_ctx c = {.json = json, .len = len, .now = now};
	/* Validate first, outside any transaction: a bad file never takes a
	 * writer lock. */
	int ret = policydb_import_validate(json, len, db->err);
	if (ret == 0)
		ret = pdb_with_txn(db, PDB_TXN_ROUTINE | PDB_TXN_DURABLE, import_txn, &c);
	*counts_r = c.counts;
	return ret;
}
