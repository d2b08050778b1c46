/* clientidctl: the administrators' tool for the device history.
 * See docs/clientidctl.1. Tokens are read from standard input, never from
 * the command line, where ps(1) would show them. */
#include "policydb-admin.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Exit codes, documented in clientidctl(1). */
enum {
	EX_OK_ = 0,
	EX_FAIL = 1,      /* the operation failed (store error) */
	EX_USAGE_ = 2,    /* bad command line */
	EX_CONFIG_ = 3,   /* configuration or site secret unusable */
	EX_STORE = 4,     /* store missing, not accessible, read-only or of a newer schema */
	EX_NOTFOUND = 5,  /* no such account, device or ban */
	EX_AMBIGUOUS = 6, /* device prefix matches several devices */
	EX_CHECK = 7,     /* check found problems */
	EX_DATA = 8,      /* import data invalid */
	EX_EXISTS = 9,    /* create-secret: the file exists (it is never replaced) */
};

struct opts {
	const char *config;
	int json, follow, dry_run, attack;
	uint64_t since;
	const char *label, *account, *token_type, *state, *ip;
	int nargs;
	char **args;
};

static struct policydb *db;
static struct opts o;

static void warn_cb(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "clientidctl: warning: %s: %s\n", o.config, msg);
}

/* Length of the UTF-8 sequence at p (at most n bytes) when it is one
 * character that a terminal shows as it is (U+00A0 and up, no surrogate,
 * shortest form), else 0. */
static size_t utf8_printable(const unsigned char *p, size_t n)
{
	unsigned cp;
	size_t len;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1fu;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0fu;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07u;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp < 0xa0)
		return 0;
	return len;
}

/* Names in text output are what clients sent (an SMTP user name is any
 * bytes): printable ASCII and printable UTF-8 as they are, a backslash as
 * \\, anything else (controls, C1 controls, invalid UTF-8) as \xHH, so
 * nothing reaches the terminal as a control sequence. Returns one of a few
 * static buffers, so that several fit in one printf(). */
static const char *safe(const char *in)
{
	static char bufs[4][CLIENTID_ACCOUNT_MAX * 4 + 1];
	static unsigned next;
	static const char hex[] = "0123456789abcdef";
	char *out = bufs[next++ % 4];
	size_t w = 0, n = strlen(in);
	const unsigned char *p = (const unsigned char *)in;
	for (size_t i = 0; i < n && w + 4 < sizeof(bufs[0]);) {
		size_t u = p[i] >= 0x80 ? utf8_printable(p + i, n - i) : 0;
		if (u > 0 && w + u < sizeof(bufs[0])) {
			memcpy(out + w, p + i, u);
			w += u;
			i += u;
		} else if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
			out[w++] = (char)p[i++];
		} else if (p[i] == '\\') {
			out[w++] = '\\';
			out[w++] = '\\';
			i++;
		} else {
			out[w++] = '\\';
			out[w++] = 'x';
			out[w++] = hex[p[i] >> 4];
			out[w++] = hex[p[i] & 15];
			i++;
		}
	}
	out[w] = '\0';
	return out;
}

static int exit_code(int err)
{
	switch (err) {
	case 0:
		return EX_OK_;
	case CLIENTID_E_STORE_MISSING:
	case CLIENTID_E_STORE_ACCESS:
	case CLIENTID_E_STORE_RDONLY:
	case CLIENTID_E_STORE_VERSION:
		return EX_STORE;
	case CLIENTID_E_NOTFOUND:
		return EX_NOTFOUND;
	case CLIENTID_E_AMBIGUOUS:
		return EX_AMBIGUOUS;
	case CLIENTID_E_FORMAT:
		return EX_DATA;
	case CLIENTID_E_INVAL:
		return EX_USAGE_;
	default:
		return EX_FAIL;
	}
}

static int fail(int err)
{
	const char *msg = policydb_last_error(db);
	fprintf(stderr, "clientidctl: %s\n", msg[0] != '\0' ? safe(msg) : clientid_strerror(err));
	return exit_code(err);
}

static int usage(void)
{
	fputs("usage: clientidctl [-c CONFIG] [--json] COMMAND [ARGS]\n"
	      "  list ACCOUNT                 devices of an account\n"
	      "  show ACCOUNT DEVICE          one device\n"
	      "  approve|block|forget ACCOUNT DEVICE\n"
	      "  label ACCOUNT DEVICE TEXT\n"
	      "  register ACCOUNT TYPE [--label TEXT] [--state pending|trusted]  (token on stdin)\n"
	      "  revoke|unrevoke DEVICE|--token TYPE [--account ACCOUNT]       (token on stdin)\n"
	      "  unlock DEVICE|--token TYPE|--ip ADDRESS|--attack\n"
	      "                                 end a lock-out, or under-attack mode, now\n"
	      "                                 (token on stdin)\n"
	      "  bans                         revoked and blocked devices\n"
	      "  policy ACCOUNT [mode=M] [require_clientid=yes|no|default]\n"
	      "                [learn_max_devices=N] [pending_max_devices=N]\n"
	      "  accounts DEVICE              accounts seen with a device\n"
	      "  stats | check | prune [--dry-run]\n"
	      "  events [--since SEQ] [--follow]\n"
	      "  export [FILE] | import [FILE]\n"
	      "  fingerprint TYPE             fingerprint of the token on stdin\n"
	      "  create-secret [FILE]         a new site secret (default: secret_file)\n",
	      stderr);
	return EX_USAGE_;
}

static void fmt_time(uint32_t t, char out[32])
{
	if (t == 0) {
		snprintf(out, 32, "-");
		return;
	}
	time_t tt = t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void print_json(json_object *obj)
{
	puts(
	    json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
	json_object_put(obj);
}

static json_object *device_json(const struct policydb_device_info *d)
{
	char hex[CLIENTID_FP_HEX_LEN + 1], s[CLIENTID_FP_SHORT_LEN + 1], ip[CLIENTID_IP_STR_MAX];
	clientid_fp_hex(&d->fp, hex);
	clientid_fp_short(&d->fp, s);
	json_object *j = json_object_new_object();
	json_object_object_add(j, "account", json_object_new_string(d->account));
	json_object_object_add(j, "device", json_object_new_string(s));
	json_object_object_add(j, "fingerprint", json_object_new_string(hex));
	json_object_object_add(
	    j, "state",
	    json_object_new_string(d->durable ? clientid_device_state_name(d->device.state)
	                                      : "unknown"));
	if (d->durable) {
		json_object_object_add(j, "type", json_object_new_string(d->device.type));
		json_object_object_add(j, "label", json_object_new_string(d->device.label));
		json_object_object_add(j, "first_seen",
		                       json_object_new_int64(d->device.first_seen));
	}
	if (d->touched) {
		clientid_ip_format(&d->device.last_ip, ip);
		json_object_object_add(j, "last_seen", json_object_new_int64(d->device.last_seen));
		json_object_object_add(j, "last_ip", json_object_new_string(ip));
		json_object_object_add(
		    j, "last_protocol",
		    json_object_new_string(clientid_protocol_name(d->device.last_protocol)));
		json_object_object_add(j, "successes", json_object_new_int64(d->device.successes));
		json_object_object_add(j, "failures", json_object_new_int64(d->device.failures));
	}
	return j;
}

static void device_line(const struct policydb_device_info *d)
{
	char s[CLIENTID_FP_SHORT_LEN + 1], ip[CLIENTID_IP_STR_MAX], seen[32];
	clientid_fp_short(&d->fp, s);
	clientid_ip_format(&d->device.last_ip, ip);
	uint32_t last = d->touched ? d->device.last_seen : d->device.seen_day;
	fmt_time(last, seen);
	printf("%-12s  %-8s  %-16s  %-20s  %-15s  %-5s  %6u  %6u  %s\n", s,
	       d->durable ? clientid_device_state_name(d->device.state) : "unknown",
	       d->durable ? d->device.type : "-", seen, ip[0] ? ip : "-",
	       d->touched ? clientid_protocol_name(d->device.last_protocol) : "-",
	       d->device.successes, d->device.failures, safe(d->device.label));
}

struct list_ctx {
	json_object *arr;
	unsigned n;
};

static int list_cb(void *vctx, const struct policydb_device_info *d)
{
	struct list_ctx *c = vctx;
	if (c->n++ == 0 && c->arr == NULL)
		printf("%-12s  %-8s  %-16s  %-20s  %-15s  %-5s  %6s  %6s  %s\n", "DEVICE", "STATE",
		       "TYPE", "LAST SEEN", "LAST IP", "PROTO", "PW OK", "PW BAD", "LABEL");
	if (c->arr != NULL)
		json_object_array_add(c->arr, device_json(d));
	else
		device_line(d);
	return 0;
}

static int cmd_list(void)
{
	if (o.nargs != 1)
		return usage();
	struct list_ctx c = {o.json ? json_object_new_array() : NULL, 0};
	int ret = policydb_devices(db, o.args[0], list_cb, &c);
	if (ret != 0) {
		json_object_put(c.arr);
		return fail(ret);
	}
	if (o.json)
		print_json(c.arr);
	else if (c.n == 0)
		fprintf(stderr, "clientidctl: account %s has no devices\n", safe(o.args[0]));
	return EX_OK_;
}

static int resolve(const char *account, const char *id, struct clientid_fp *fp)
{
	return policydb_device_resolve(db, account, id, fp);
}

static int cmd_show(void)
{
	if (o.nargs != 2)
		return usage();
	struct clientid_fp fp;
	int ret = resolve(o.args[0], o.args[1], &fp);
	if (ret != 0)
		return fail(ret);
	struct policydb_device_info info;
	ret = policydb_device_get(db, o.args[0], &fp, &info);
	if (ret < 0)
		return fail(ret);
	if (ret == 0) {
		fprintf(stderr, "clientidctl: account %s has no device %s\n", safe(o.args[0]),
		        safe(o.args[1]));
		return EX_NOTFOUND;
	}
	if (o.json) {
		print_json(device_json(&info));
		return EX_OK_;
	}
	char hex[CLIENTID_FP_HEX_LEN + 1], t1[32], t2[32], ip[CLIENTID_IP_STR_MAX];
	clientid_fp_hex(&fp, hex);
	clientid_ip_format(&info.device.last_ip, ip);
	fmt_time(info.device.first_seen, t1);
	fmt_time(info.touched ? info.device.last_seen : info.device.seen_day, t2);
	printf("account:      %s\nfingerprint:  %s\nstate:        %s\ntype:         %s\n"
	       "label:        %s\nfirst seen:   %s\nlast seen:    %s\nlast address: %s\n"
	       "last via:     %s\npassword ok:  %u\npassword bad: %u\n",
	       safe(o.args[0]), hex,
	       info.durable ? clientid_device_state_name(info.device.state) : "unknown",
	       info.device.type, safe(info.device.label), t1, t2, ip[0] ? ip : "-",
	       info.touched ? clientid_protocol_name(info.device.last_protocol) : "-",
	       info.device.successes, info.device.failures);
	return EX_OK_;
}

static int cmd_change(const char *cmd)
{
	int label = strcmp(cmd, "label") == 0;
	if (o.nargs != (label ? 3 : 2))
		return usage();
	struct clientid_fp fp;
	int ret = resolve(o.args[0], o.args[1], &fp);
	if (ret != 0)
		return fail(ret);
	uint64_t now = (uint64_t)time(NULL);
	if (strcmp(cmd, "approve") == 0)
		ret = policydb_device_set_state(db, o.args[0], &fp, CLIENTID_DEV_TRUSTED, now);
	else if (strcmp(cmd, "block") == 0)
		ret = policydb_device_set_state(db, o.args[0], &fp, CLIENTID_DEV_BLOCKED, now);
	else if (label)
		ret = policydb_device_set_label(db, o.args[0], &fp, o.args[2]);
	else
		ret = policydb_device_forget(db, o.args[0], &fp, now);
	return ret != 0 ? fail(ret) : EX_OK_;
}

/* Reads one token from standard input: the first line, without its line
 * end. The buffer is wiped by the caller. */
static int read_token(char *buf, size_t size, size_t *len_r)
{
	if (isatty(0))
		fprintf(stderr, "token: ");
	if (fgets(buf, (int)size, stdin) == NULL) {
		fprintf(stderr, "clientidctl: no token on standard input\n");
		return -1;
	}
	size_t n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (clientid_token_check(buf, n) != 0) {
		fprintf(stderr, "clientidctl: standard input does not hold a client-id-token "
		                "(1 to 128 printable ASCII characters)\n");
		return -1;
	}
	*len_r = n;
	return 0;
}

static int token_fp(const char *type, struct clientid_fp *fp)
{
	char tok[CLIENTID_TOKEN_MAX + 8];
	size_t n;
	if (clientid_type_check(type, strlen(type)) != 0) {
		fprintf(stderr, "clientidctl: '%s' is not a client-id-type\n", type);
		return EX_USAGE_;
	}
	if (read_token(tok, sizeof(tok), &n) != 0)
		return EX_USAGE_;
	int ret = policydb_fingerprint(db, type, strlen(type), tok, n, fp);
	explicit_bzero(tok, sizeof(tok));
	return ret != 0 ? fail(ret) : 0;
}

static int cmd_register(void)
{
	if (o.nargs != 2)
		return usage();
	enum clientid_device_state state = CLIENTID_DEV_TRUSTED;
	if (o.state != NULL &&
	    (clientid_device_state_parse(o.state, &state) != 0 || state == CLIENTID_DEV_BLOCKED)) {
		fprintf(stderr, "clientidctl: --state is pending or trusted\n");
		return EX_USAGE_;
	}
	struct clientid_fp fp;
	int ret = token_fp(o.args[1], &fp);
	if (ret != 0)
		return ret;
	ret = policydb_device_register(db, o.args[0], o.args[1], &fp, state, o.label,
	                               (uint64_t)time(NULL));
	if (ret != 0)
		return fail(ret);
	char s[CLIENTID_FP_SHORT_LEN + 1];
	clientid_fp_short(&fp, s);
	printf("%s\n", s);
	return EX_OK_;
}

/* The device of revoke, unrevoke and unlock: the token on stdin with
 * --token TYPE, else the one DEVICE argument (a prefix unique among the
 * account's devices, or the whole store's with account NULL). Returns
 * EX_OK_ with *fp set, or the exit status. */
static int device_arg(const char *account, struct clientid_fp *fp)
{
	int ret;
	if (o.token_type != NULL && o.nargs == 0)
		return token_fp(o.token_type, fp);
	if (o.token_type != NULL || o.nargs != 1)
		return usage();
	if ((ret = resolve(account, o.args[0], fp)) != 0)
		return fail(ret);
	return EX_OK_;
}

static int cmd_revoke(int revoke)
{
	struct clientid_fp fp;
	int ret = device_arg(o.account, &fp);
	if (ret != EX_OK_)
		return ret;
	uint64_t now = (uint64_t)time(NULL);
	ret = revoke ? policydb_revoke(db, &fp, o.account, now)
	             : policydb_unrevoke(db, &fp, o.account, now);
	return ret != 0 ? fail(ret) : EX_OK_;
}

static int cmd_unlock(void)
{
	struct clientid_fp fp;
	struct clientid_ip ip;
	int ret;
	if (o.attack) {
		if (o.ip != NULL || o.token_type != NULL || o.nargs != 0)
			return usage();
		ret = policydb_unlock_attack(db, (uint64_t)time(NULL));
		return ret != 0 ? fail(ret) : EX_OK_;
	}
	if (o.ip != NULL && o.token_type == NULL && o.nargs == 0) {
		if (clientid_ip_parse(o.ip, &ip) != 0) {
			fprintf(stderr, "clientidctl: '%s' is not an IP address\n", o.ip);
			return EX_USAGE_;
		}
		ret = policydb_unlock(db, NULL, &ip, (uint64_t)time(NULL));
		return ret != 0 ? fail(ret) : EX_OK_;
	}
	if (o.ip != NULL)
		return usage();
	if ((ret = device_arg(NULL, &fp)) != EX_OK_)
		return ret;
	ret = policydb_unlock(db, &fp, NULL, (uint64_t)time(NULL));
	return ret != 0 ? fail(ret) : EX_OK_;
}

struct bans_ctx {
	json_object *arr;
};

static int bans_cb(void *vctx, const struct policydb_ban_info *b)
{
	struct bans_ctx *c = vctx;
	char s[CLIENTID_FP_SHORT_LEN + 1], hex[CLIENTID_FP_HEX_LEN + 1], t[32];
	clientid_fp_short(&b->fp, s);
	clientid_fp_hex(&b->fp, hex);
	fmt_time(b->time, t);
	if (c->arr == NULL) {
		printf("%-12s  %-8s  %-20s  %s\n", s, b->revoked ? "revoked" : "blocked", t,
		       b->account[0] ? safe(b->account) : "(site-wide)");
		return 0;
	}
	json_object *j = json_object_new_object();
	json_object_object_add(j, "device", json_object_new_string(s));
	json_object_object_add(j, "fingerprint", json_object_new_string(hex));
	json_object_object_add(j, "kind",
	                       json_object_new_string(b->revoked ? "revoked" : "blocked"));
	json_object_object_add(j, "time", json_object_new_int64(b->time));
	if (b->account[0] != '\0')
		json_object_object_add(j, "account", json_object_new_string(b->account));
	json_object_array_add(c->arr, j);
	return 0;
}

static int cmd_bans(void)
{
	if (o.nargs != 0)
		return usage();
	struct bans_ctx c = {o.json ? json_object_new_array() : NULL};
	int ret = policydb_bans(db, bans_cb, &c);
	if (ret != 0) {
		json_object_put(c.arr);
		return fail(ret);
	}
	if (o.json)
		print_json(c.arr);
	return EX_OK_;
}

static int parse_setting(const char *arg, struct clientid_account_policy *p)
{
	const char *eq = strchr(arg, '=');
	if (eq == NULL)
		return -1;
	size_t kl = (size_t)(eq - arg);
	const char *v = eq + 1;
	int dflt = strcmp(v, "default") == 0;
	if (kl == 4 && strncmp(arg, "mode", 4) == 0) {
		enum clientid_mode m;
		if (dflt)
			p->mode = -1;
		else if (clientid_mode_parse(v, &m) == 0)
			p->mode = (int)m;
		else
			return -1;
	} else if (kl == 16 && strncmp(arg, "require_clientid", 16) == 0) {
		if (dflt)
			p->require_clientid = -1;
		else if (strcmp(v, "yes") == 0 || strcmp(v, "on") == 0)
			p->require_clientid = 1;
		else if (strcmp(v, "no") == 0 || strcmp(v, "off") == 0)
			p->require_clientid = 0;
		else
			return -1;
	} else if ((kl == 17 && strncmp(arg, "learn_max_devices", 17) == 0) ||
	           (kl == 19 && strncmp(arg, "pending_max_devices", 19) == 0)) {
		unsigned *f = arg[0] == 'l' ? &p->learn_max_devices : &p->pending_max_devices;
		char *end;
		unsigned long n = dflt ? 0 : strtoul(v, &end, 10);
		if (!dflt && (*v == '\0' || *end != '\0' || n < 1 || n > 1000))
			return -1;
		*f = (unsigned)n;
	} else {
		return -1;
	}
	return 0;
}

static int cmd_policy(void)
{
	if (o.nargs < 1)
		return usage();
	struct clientid_account_policy p;
	int ret = policydb_account_policy_get(db, o.args[0], &p);
	if (ret != 0)
		return fail(ret);
	if (o.nargs > 1) {
		for (int i = 1; i < o.nargs; i++) {
			if (parse_setting(o.args[i], &p) != 0) {
				fprintf(
				    stderr,
				    "clientidctl: '%s': expected mode=off|observe|learn|enforce, "
				    "require_clientid=yes|no, learn_max_devices=1..1000 or "
				    "pending_max_devices=1..1000 (or =default)\n",
				    o.args[i]);
				return EX_USAGE_;
			}
		}
		ret = policydb_account_policy_set(db, o.args[0], &p, (uint64_t)time(NULL));
		return ret != 0 ? fail(ret) : EX_OK_;
	}
	const struct clientid_config *cfg = policydb_config(db);
	enum clientid_mode mode = clientid_policy_mode(cfg, &p);
	int req = p.require_clientid >= 0 ? p.require_clientid : cfg->require_clientid;
	unsigned lm = p.learn_max_devices ? p.learn_max_devices : cfg->learn_max_devices;
	unsigned pm = p.pending_max_devices ? p.pending_max_devices : cfg->pending_max_devices;
	if (o.json) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "account", json_object_new_string(o.args[0]));
		json_object_object_add(j, "mode", json_object_new_string(clientid_mode_name(mode)));
		json_object_object_add(j, "require_clientid", json_object_new_boolean(req));
		json_object_object_add(j, "learn_max_devices", json_object_new_int64(lm));
		json_object_object_add(j, "pending_max_devices", json_object_new_int64(pm));
		json_object_object_add(
		    j, "overridden",
		    json_object_new_boolean(p.mode >= 0 || p.require_clientid >= 0 ||
		                            p.learn_max_devices || p.pending_max_devices));
		print_json(j);
		return EX_OK_;
	}
	printf("mode                 %s%s\nrequire_clientid     %s%s\n"
	       "learn_max_devices    %u%s\npending_max_devices  %u%s\n",
	       clientid_mode_name(mode), p.mode >= 0 ? "" : " (site default)", req ? "yes" : "no",
	       p.require_clientid >= 0 ? "" : " (site default)", lm,
	       p.learn_max_devices ? "" : " (site default)", pm,
	       p.pending_max_devices ? "" : " (site default)");
	return EX_OK_;
}

static int accounts_cb(void *vctx, const char *account, uint32_t last_seen,
                       const struct policydb_device_info *d)
{
	json_object *arr = vctx;
	char t[32];
	fmt_time(last_seen != 0 ? last_seen : (d != NULL ? d->device.seen_day : 0), t);
	const char *state = d != NULL ? clientid_device_state_name(d->device.state) : "unknown";
	if (arr == NULL) {
		printf("%-40s  %-8s  %s\n", safe(account), state, t);
		return 0;
	}
	json_object *j = json_object_new_object();
	json_object_object_add(j, "account", json_object_new_string(account));
	json_object_object_add(j, "state", json_object_new_string(state));
	json_object_object_add(
	    j, "last_seen",
	    json_object_new_int64(last_seen ? last_seen : (d ? d->device.seen_day : 0)));
	json_object_array_add(arr, j);
	return 0;
}

static int cmd_accounts(void)
{
	if (o.nargs != 1)
		return usage();
	struct clientid_fp fp;
	int ret = resolve(NULL, o.args[0], &fp);
	if (ret != 0)
		return fail(ret);
	json_object *arr = o.json ? json_object_new_array() : NULL;
	ret = policydb_device_accounts(db, &fp, accounts_cb, arr);
	if (ret != 0) {
		json_object_put(arr);
		return fail(ret);
	}
	if (o.json)
		print_json(arr);
	return EX_OK_;
}

static int cmd_stats(void)
{
	struct policydb_stats s;
	int ret = policydb_stats(db, &s);
	if (ret != 0)
		return fail(ret);
	const struct clientid_config *cfg = policydb_config(db);
	int attack = s.attack_until > (uint32_t)time(NULL);
	if (o.json) {
		json_object *j = json_object_new_object();
#define ADD(k, v) json_object_object_add(j, k, json_object_new_int64((int64_t)(v)))
		ADD("accounts", s.accounts);
		ADD("devices", s.devices);
		ADD("trusted", s.trusted);
		ADD("pending", s.pending);
		ADD("blocked", s.blocked);
		ADD("device_traces", s.touches);
		ADD("bans", s.bans);
		ADD("account_policies", s.policies);
		ADD("events", s.events);
		ADD("counters", s.counters);
		ADD("bytes_durable", s.bytes_durable);
		ADD("bytes_routine", s.bytes_routine);
		ADD("map_durable", s.map_durable);
		ADD("map_routine", s.map_routine);
		ADD("readers", s.readers);
		ADD("max_readers", s.max_readers);
		ADD("under_attack_until", attack ? s.attack_until : 0);
#undef ADD
		json_object_object_add(j, "store", json_object_new_string(cfg->store_path));
		json_object_object_add(j, "mode",
		                       json_object_new_string(clientid_mode_name(cfg->mode)));
		print_json(j);
		return EX_OK_;
	}
	char t[32];
	fmt_time(attack ? s.attack_until : 0, t);
	printf("store            %s\nsite mode        %s\naccounts         %llu\n"
	       "devices          %llu (trusted %llu, pending %llu, blocked %llu)\n"
	       "device traces    %llu\nbans             %llu\naccount policies %llu\n"
	       "events           %llu\ncounters         %llu\n"
	       "size             %llu bytes durable, %llu bytes routine\n"
	       "readers          %u of %u\nunder attack     %s\n",
	       cfg->store_path, clientid_mode_name(cfg->mode), (unsigned long long)s.accounts,
	       (unsigned long long)s.devices, (unsigned long long)s.trusted,
	       (unsigned long long)s.pending, (unsigned long long)s.blocked,
	       (unsigned long long)s.touches, (unsigned long long)s.bans,
	       (unsigned long long)s.policies, (unsigned long long)s.events,
	       (unsigned long long)s.counters, (unsigned long long)s.bytes_durable,
	       (unsigned long long)s.bytes_routine, s.readers, s.max_readers, attack ? t : "no");
	return EX_OK_;
}

struct events_ctx {
	uint64_t next;
};

static int events_cb(void *vctx, const struct clientid_event *ev)
{
	struct events_ctx *c = vctx;
	c->next = ev->seq + 1;
	if (o.json) {
		char buf[2048];
		if (policydb_event_json(ev, buf, sizeof(buf)) >= 0)
			puts(buf);
		return 0;
	}
	char t[32], s[CLIENTID_FP_SHORT_LEN + 1] = "-", ip[CLIENTID_IP_STR_MAX];
	fmt_time(ev->time, t);
	if ((ev->flags & CLIENTID_EVF_FP) != 0)
		clientid_fp_short(&ev->fp, s);
	clientid_ip_format(&ev->ip, ip);
	const char *why = ev->kind == CLIENTID_EV_ADMIN ? clientid_admin_action_name(ev->reason)
	                                                : clientid_reason_name(ev->reason);
	printf("%-8llu  %s  %-14s  %-20s  %-12s  %-15s  %s%s\n", (unsigned long long)ev->seq, t,
	       clientid_event_kind_name(ev->kind), why, s, ip[0] ? ip : "-",
	       ev->account[0] ? safe(ev->account) : "-",
	       (ev->flags & CLIENTID_EVF_OBSERVE) ? " (observe)" : "");
	return 0;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int cmd_events(void)
{
	if (o.nargs != 0)
		return usage();
	struct events_ctx c = {o.since};
	int ret = policydb_events(db, c.next, events_cb, &c);
	if (ret != 0)
		return fail(ret);
	if (!o.follow)
		return EX_OK_;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (!stop) {
		fflush(stdout);
		usleep(250000);
		if ((ret = policydb_events(db, c.next, events_cb, &c)) != 0)
			return fail(ret);
	}
	return EX_OK_;
}

static int cmd_prune(void)
{
	if (o.nargs != 0)
		return usage();
	struct policydb_prune_counts n;
	int ret = policydb_prune(db, (uint64_t)time(NULL), o.dry_run, &n);
	if (ret != 0)
		return fail(ret);
	if (o.json) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "dry_run", json_object_new_boolean(o.dry_run));
		json_object_object_add(j, "devices", json_object_new_int64((int64_t)n.devices));
		json_object_object_add(j, "device_traces",
		                       json_object_new_int64((int64_t)n.touches));
		json_object_object_add(j, "events", json_object_new_int64((int64_t)n.events));
		json_object_object_add(j, "counters", json_object_new_int64((int64_t)n.counters));
		print_json(j);
	} else {
		printf("%s %llu devices, %llu device traces, %llu events, %llu counters\n",
		       o.dry_run ? "would remove" : "removed", (unsigned long long)n.devices,
		       (unsigned long long)n.touches, (unsigned long long)n.events,
		       (unsigned long long)n.counters);
	}
	return EX_OK_;
}

static int cmd_check(void)
{
	if (o.nargs != 0)
		return usage();
	struct policydb_check r;
	int ret = policydb_check(db, &r);
	if (ret != 0)
		return fail(ret);
	if (o.json) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "ok", json_object_new_boolean(r.problems == 0));
		json_object_object_add(j, "records", json_object_new_int64((int64_t)r.records));
		json_object_object_add(j, "stale_readers_reclaimed",
		                       json_object_new_int64(r.stale_readers));
		json_object_object_add(j, "problems", json_object_new_int64(r.problems));
		if (r.problems)
			json_object_object_add(j, "first_problem",
			                       json_object_new_string(r.first_problem));
		print_json(j);
	} else {
		printf("%s: %llu records, %u stale readers reclaimed, %u problems%s%s\n",
		       r.problems == 0 ? "ok" : "DAMAGED", (unsigned long long)r.records,
		       r.stale_readers, r.problems, r.problems ? ": " : "", r.first_problem);
	}
	return r.problems == 0 ? EX_OK_ : EX_CHECK;
}

static int cmd_export(void)
{
	if (o.nargs > 1)
		return usage();
	FILE *out = stdout;
	if (o.nargs == 1 && strcmp(o.args[0], "-") != 0) {
		/* Fingerprints, addresses and account names: 0600 whatever the
		 * umask, also when the file was there before. */
		int fd = open(o.args[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600);
		if (fd < 0 || fchmod(fd, 0600) != 0 || (out = fdopen(fd, "w")) == NULL) {
			fprintf(stderr, "clientidctl: %s: %s\n", safe(o.args[0]), strerror(errno));
			if (fd >= 0)
				close(fd);
			return EX_FAIL;
		}
	}
	int ret = policydb_export(db, out);
	if (out != stdout && fclose(out) != 0 && ret == 0) {
		fprintf(stderr, "clientidctl: %s: %s\n", o.args[0], strerror(errno));
		return EX_FAIL;
	}
	return ret != 0 ? fail(ret) : EX_OK_;
}

static int cmd_import(void)
{
	if (o.nargs > 1)
		return usage();
	FILE *in = stdin;
	const char *name = o.nargs == 1 ? o.args[0] : "-";
	if (strcmp(name, "-") != 0 && (in = fopen(name, "re")) == NULL) {
		fprintf(stderr, "clientidctl: %s: %s\n", name, strerror(errno));
		return EX_FAIL;
	}
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	size_t n;
	while (buf != NULL && (n = fread(buf + len, 1, cap - len, in)) > 0) {
		len += n;
		if (len == cap) {
			char *nb = realloc(buf, cap *= 2);
			if (nb == NULL)
				free(buf);
			buf = nb;
		}
	}
	if (in != stdin)
		fclose(in);
	if (buf == NULL) {
		fprintf(stderr, "clientidctl: out of memory\n");
		return EX_FAIL;
	}
	struct policydb_import_counts c;
	int ret = policydb_import(db, buf, len, (uint64_t)time(NULL), &c);
	free(buf);
	if (ret != 0)
		return fail(ret);
	if (!o.json)
		printf("imported %llu devices, %llu bans, %llu account policies\n",
		       (unsigned long long)c.devices, (unsigned long long)c.bans,
		       (unsigned long long)c.policies);
	return EX_OK_;
}

static int cmd_fingerprint(void)
{
	if (o.nargs != 1)
		return usage();
	struct clientid_fp fp;
	int ret = token_fp(o.args[0], &fp);
	if (ret != 0)
		return ret;
	char hex[CLIENTID_FP_HEX_LEN + 1];
	clientid_fp_hex(&fp, hex);
	printf("%s\n", hex);
	return EX_OK_;
}

/* Creates the site secret: FILE, else the configuration's secret_file. It
 * needs no store and no existing secret, so it runs before policydb_init. */
static int cmd_create_secret(void)
{
	if (o.nargs > 1)
		return usage();
	char err[CLIENTID_ERRBUF_SIZE];
	struct clientid_config cfg;
	const char *path = o.nargs == 1 ? o.args[0] : NULL;
	if (path == NULL) {
		if (clientid_config_load(o.config, &cfg, err) != 0) {
			fprintf(stderr, "clientidctl: %s\n", err);
			return EX_CONFIG_;
		}
		path = cfg.secret_file;
	}
	int ret = clientid_secret_create(path, err);
	if (ret != 0) {
		fprintf(stderr, "clientidctl: %s\n", err);
		return ret == CLIENTID_E_EXISTS ? EX_EXISTS : EX_FAIL;
	}
	return EX_OK_;
}

static const struct command {
	const char *name;
	int (*fn)(void);
	int writes;       /* may create the store */
	int needs_secret; /* computes fingerprints */
} commands[] = {
    {"list", cmd_list, 0, 0},
    {"show", cmd_show, 0, 0},
    {"approve", NULL, 1, 0},
    {"block", NULL, 1, 0},
    {"forget", NULL, 1, 0},
    {"label", NULL, 1, 0},
    {"register", cmd_register, 1, 1},
    {"revoke", NULL, 1, 1},
    {"unrevoke", NULL, 1, 1},
    {"unlock", cmd_unlock, 1, 1},
    {"bans", cmd_bans, 0, 0},
    {"policy", cmd_policy, 1, 0},
    {"accounts", cmd_accounts, 0, 0},
    {"stats", cmd_stats, 0, 0},
    {"events", cmd_events, 0, 0},
    {"prune", cmd_prune, 1, 0},
    {"check", cmd_check, 0, 0},
    {"export", cmd_export, 0, 0},
    {"import", cmd_import, 1, 0},
    {"fingerprint", cmd_fingerprint, 0, 1},
    {"create-secret", cmd_create_secret, 0, 0},
};

/* Commands whose first argument is an account name. */
static int takes_account(const char *cmd)
{
	static const char *const names[] = {"list",   "show",  "approve",  "block",
	                                    "forget", "label", "register", "policy"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(names[i], cmd) == 0)
			return 1;
	}
	return 0;
}

/* Turns the account arguments into the canonical names the servers use
 * ([policy] account_case), so that "policy Anna" is anna's account. */
static int canon_accounts(const char *cmd)
{
	static char first[CLIENTID_ACCOUNT_MAX + 1], opt[CLIENTID_ACCOUNT_MAX + 1];
	const struct clientid_config *cfg = policydb_config(db);
	if (takes_account(cmd) && o.nargs > 0) {
		if (clientid_account_canon(cfg, o.args[0], first) != 0) {
			fprintf(stderr, "clientidctl: not a valid account name\n");
			return EX_USAGE_;
		}
		o.args[0] = first;
	}
	if (o.account != NULL) {
		if (clientid_account_canon(cfg, o.account, opt) != 0) {
			fprintf(stderr, "clientidctl: --account: not a valid account name\n");
			return EX_USAGE_;
		}
		o.account = opt;
	}
	return EX_OK_;
}

static int run_command(const struct command *cmd)
{
	if (cmd->fn != NULL)
		return cmd->fn();
	if (strcmp(cmd->name, "revoke") == 0 || strcmp(cmd->name, "unrevoke") == 0)
		return cmd_revoke(cmd->name[0] == 'r');
	return cmd_change(cmd->name);
}

static int take_value(int argc, char **argv, int *i, const char **val)
{
	if (*i + 1 >= argc)
		return -1;
	*val = argv[++*i];
	return 0;
}

/* Parses the command line into o and pos (the positional arguments, room
 * for argc), then runs the command; returns the exit status. */
static int run(int argc, char **argv, char **pos)
{
	int npos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (strcmp(a, "--") == 0) {
			while (++i < argc)
				pos[npos++] = argv[i];
			break;
		}
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (take_value(argc, argv, &i, &o.config) != 0)
				return usage();
		} else if (strcmp(a, "--json") == 0) {
			o.json = 1;
		} else if (strcmp(a, "--follow") == 0 || strcmp(a, "-f") == 0) {
			o.follow = 1;
		} else if (strcmp(a, "--dry-run") == 0 || strcmp(a, "-n") == 0) {
			o.dry_run = 1;
		} else if (strcmp(a, "--since") == 0) {
			if (take_value(argc, argv, &i, &v) != 0)
				return usage();
			o.since = strtoull(v, NULL, 10);
		} else if (strcmp(a, "--label") == 0) {
			if (take_value(argc, argv, &i, &o.label) != 0)
				return usage();
		} else if (strcmp(a, "--account") == 0) {
			if (take_value(argc, argv, &i, &o.account) != 0)
				return usage();
		} else if (strcmp(a, "--token") == 0) {
			if (take_value(argc, argv, &i, &o.token_type) != 0)
				return usage();
		} else if (strcmp(a, "--attack") == 0) {
			o.attack = 1;
		} else if (strcmp(a, "--ip") == 0) {
			if (take_value(argc, argv, &i, &o.ip) != 0)
				return usage();
		} else if (strcmp(a, "--state") == 0) {
			if (take_value(argc, argv, &i, &o.state) != 0)
				return usage();
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage();
			return EX_OK_;
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "clientidctl: unknown option %s\n", a);
			return usage();
		} else {
			pos[npos++] = argv[i];
		}
	}
	if (npos == 0)
		return usage();
	const struct command *cmd = NULL;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, pos[0]) == 0)
			cmd = &commands[i];
	}
	if (cmd == NULL) {
		fprintf(stderr, "clientidctl: unknown command '%s'\n", pos[0]);
		return usage();
	}
	o.args = pos + 1;
	o.nargs = npos - 1;
	if (strcmp(cmd->name, "create-secret") == 0)
		return cmd_create_secret();
	char err[CLIENTID_ERRBUF_SIZE];
	unsigned flags = POLICYDB_NO_ALERTS | (cmd->writes ? 0 : POLICYDB_NO_CREATE) |
	                 (cmd->needs_secret ? 0 : POLICYDB_NO_SECRET);
	if (strcmp(cmd->name, "revoke") == 0 || strcmp(cmd->name, "unrevoke") == 0 ||
	    strcmp(cmd->name, "unlock") == 0) {
		if (o.token_type == NULL)
			flags |= POLICYDB_NO_SECRET;
	}
	int ret = policydb_init(o.config, flags, &db, err);
	if (ret != 0) {
		fprintf(stderr, "clientidctl: %s\n", err);
		return EX_CONFIG_;
	}
	(void)clientid_config_contradictions(policydb_config(db), warn_cb, NULL);
	int rc = canon_accounts(cmd->name);
	if (rc == EX_OK_)
		rc = run_command(cmd);
	policydb_deinit(&db);
	return rc;
}

int main(int argc, char **argv)
{
	o.config = CLIENTID_CONFIG_PATH;
	o.since = 1;
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	if (pos == NULL)
		return EX_FAIL;
	int rc = run(argc, argv, pos);
	free(pos);
	return rc;
}
