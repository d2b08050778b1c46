/* clientidctl's text and JSON output. JSON is built with json-c; --json
 * results are pretty-printed documents, events one object per line. */
#include "output.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

const char *ctl_escape(const char *in, char out[CTL_ESC_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	size_t w = 0, n = strlen(in);
	const unsigned char *p = (const unsigned char *)in;
	for (size_t i = 0; i < n && w + 4 < CTL_ESC_SIZE;) {
		size_t u = p[i] >= 0x80 ? utf8_printable(p + i, n - i) : 0;
		if (u > 0 && w + u < CTL_ESC_SIZE) {
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

void ctl_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("clientidctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int ctl_exit_code(int err)
{
	switch (err) {
	case 0:
		return CTL_EXIT_OK;
	case CLIENTID_E_STORE_MISSING:
	case CLIENTID_E_STORE_ACCESS:
	case CLIENTID_E_STORE_RDONLY:
	case CLIENTID_E_STORE_VERSION:
		return CTL_EXIT_STORE;
	case CLIENTID_E_NOTFOUND:
		return CTL_EXIT_NOTFOUND;
	case CLIENTID_E_AMBIGUOUS:
		return CTL_EXIT_AMBIGUOUS;
	case CLIENTID_E_FORMAT:
		return CTL_EXIT_DATA;
	case CLIENTID_E_INVAL:
		return CTL_EXIT_USAGE;
	default:
		return CTL_EXIT_FAIL;
	}
}

int ctl_fail(const struct ctl *ctl, int err)
{
	char esc[CTL_ESC_SIZE];
	const char *msg = ctl->db != NULL ? policydb_last_error(ctl->db) : "";
	ctl_error("%s", msg[0] != '\0' ? ctl_escape(msg, esc) : clientid_strerror(err));
	return ctl_exit_code(err);
}

int ctl_result(const struct ctl *ctl, int err)
{
	return err != 0 ? ctl_fail(ctl, err) : CTL_EXIT_OK;
}

/* t as UTC in ISO 8601, or "-" for 0. */
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

/* Prints obj as a pretty document and releases it. */
static void print_json(json_object *obj)
{
	puts(
	    json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
	json_object_put(obj);
}

static void add_str(json_object *j, const char *key, const char *val)
{
	json_object_object_add(j, key, json_object_new_string(val));
}

static void add_int(json_object *j, const char *key, int64_t val)
{
	json_object_object_add(j, key, json_object_new_int64(val));
}

static void add_bool(json_object *j, const char *key, int val)
{
	json_object_object_add(j, key, json_object_new_boolean(val));
}

void ctl_list_begin(struct ctl_list *l, enum ctl_output output)
{
	l->arr = output == CTL_OUTPUT_JSON ? json_object_new_array() : NULL;
	l->n = 0;
}

void ctl_list_end(struct ctl_list *l, int print)
{
	if (l->arr != NULL && print)
		print_json(l->arr);
	else
		json_object_put(l->arr);
	l->arr = NULL;
}

/* --- devices --- */

static const char *device_state(const struct policydb_device_info *d)
{
	return d->durable ? clientid_device_state_name(d->device.state) : "unknown";
}

int ctl_list_device(void *ctx, const struct policydb_device_info *d)
{
	struct ctl_list *l = ctx;
	if (l->arr != NULL) {
		l->n++;
		json_object_array_add(l->arr, policydb_device_json(d, POLICYDB_JSON_VIEW));
		return 0;
	}
	if (l->n++ == 0)
		printf("%-12s  %-8s  %-16s  %-20s  %-15s  %-5s  %6s  %6s  %s\n", "DEVICE", "STATE",
		       "TYPE", "LAST SEEN", "LAST IP", "PROTO", "PW OK", "PW BAD", "LABEL");
	char s[CLIENTID_FP_SHORT_LEN + 1], ip[CLIENTID_IP_STR_MAX], seen[32], label[CTL_ESC_SIZE];
	clientid_fp_short(&d->fp, s);
	clientid_ip_format(&d->device.last_ip, ip);
	fmt_time(d->touched ? d->device.last_seen : d->device.seen_day, seen);
	printf("%-12s  %-8s  %-16s  %-20s  %-15s  %-5s  %6u  %6u  %s\n", s, device_state(d),
	       d->durable ? d->device.type : "-", seen, ip[0] ? ip : "-",
	       d->touched ? clientid_protocol_name(d->device.last_protocol) : "-",
	       d->device.successes, d->device.failures, ctl_escape(d->device.label, label));
	return 0;
}

void ctl_print_device(enum ctl_output output, const struct policydb_device_info *info)
{
	if (output == CTL_OUTPUT_JSON) {
		print_json(policydb_device_json(info, POLICYDB_JSON_VIEW));
		return;
	}
	const struct clientid_device *d = &info->device;
	char hex[CLIENTID_FP_HEX_LEN + 1], t1[32], t2[32], ip[CLIENTID_IP_STR_MAX];
	char account[CTL_ESC_SIZE], label[CTL_ESC_SIZE];
	clientid_fp_hex(&info->fp, hex);
	clientid_ip_format(&d->last_ip, ip);
	fmt_time(d->first_seen, t1);
	fmt_time(info->touched ? d->last_seen : d->seen_day, t2);
	printf("account:      %s\nfingerprint:  %s\nstate:        %s\ntype:         %s\n"
	       "label:        %s\nfirst seen:   %s\nlast seen:    %s\nlast address: %s\n"
	       "last via:     %s\npassword ok:  %u\npassword bad: %u\n",
	       ctl_escape(info->account, account), hex, device_state(info), d->type,
	       ctl_escape(d->label, label), t1, t2, ip[0] ? ip : "-",
	       info->touched ? clientid_protocol_name(d->last_protocol) : "-", d->successes,
	       d->failures);
}

void ctl_print_fp(const struct clientid_fp *fp, int full)
{
	char hex[CLIENTID_FP_HEX_LEN + 1];
	if (full)
		clientid_fp_hex(fp, hex);
	else
		clientid_fp_short(fp, hex);
	printf("%s\n", hex);
}

int ctl_list_account(void *ctx, const char *account, uint32_t last_seen,
                     const struct policydb_device_info *d)
{
	struct ctl_list *l = ctx;
	char t[32];
	fmt_time(last_seen != 0 ? last_seen : (d != NULL ? d->device.seen_day : 0), t);
	const char *state = d != NULL ? clientid_device_state_name(d->device.state) : "unknown";
	l->n++;
	if (l->arr == NULL) {
		char esc[CTL_ESC_SIZE];
		printf("%-40s  %-8s  %s\n", ctl_escape(account, esc), state, t);
		return 0;
	}
	json_object *j = json_object_new_object();
	add_str(j, "account", account);
	add_str(j, "state", state);
	add_int(j, "last_seen", last_seen ? last_seen : (d ? d->device.seen_day : 0));
	json_object_array_add(l->arr, j);
	return 0;
}

/* --- bans --- */

int ctl_list_ban(void *ctx, const struct policydb_ban_info *b)
{
	struct ctl_list *l = ctx;
	l->n++;
	if (l->arr != NULL) {
		json_object_array_add(l->arr, policydb_ban_json(b, POLICYDB_JSON_VIEW));
		return 0;
	}
	char s[CLIENTID_FP_SHORT_LEN + 1], t[32], esc[CTL_ESC_SIZE];
	clientid_fp_short(&b->fp, s);
	fmt_time(b->time, t);
	printf("%-12s  %-8s  %-20s  %s\n", s, b->revoked ? "revoked" : "blocked", t,
	       b->account[0] ? ctl_escape(b->account, esc) : "(site-wide)");
	return 0;
}

/* --- the store --- */

void ctl_print_event(enum ctl_output output, const struct clientid_event *ev)
{
	if (output == CTL_OUTPUT_JSON) {
		char buf[2048];
		if (policydb_event_json(ev, buf, sizeof(buf)) >= 0)
			puts(buf);
		return;
	}
	char t[32], s[CLIENTID_FP_SHORT_LEN + 1] = "-", ip[CLIENTID_IP_STR_MAX], esc[CTL_ESC_SIZE];
	fmt_time(ev->time, t);
	if ((ev->flags & CLIENTID_EVF_FP) != 0)
		clientid_fp_short(&ev->fp, s);
	clientid_ip_format(&ev->ip, ip);
	const char *why = ev->kind == CLIENTID_EV_ADMIN ? clientid_admin_action_name(ev->reason)
	                                                : clientid_reason_name(ev->reason);
	printf("%-8llu  %s  %-14s  %-20s  %-12s  %-15s  %s%s\n", (unsigned long long)ev->seq, t,
	       clientid_event_kind_name(ev->kind), why, s, ip[0] ? ip : "-",
	       ev->account[0] ? ctl_escape(ev->account, esc) : "-",
	       (ev->flags & CLIENTID_EVF_OBSERVE) ? " (observe)" : "");
}

void ctl_print_policy(enum ctl_output output, const char *account,
                      const struct clientid_account_policy *p, const struct clientid_config *cfg)
{
	enum clientid_mode mode = clientid_policy_mode(cfg, p);
	int req = p->require_clientid >= 0 ? p->require_clientid : cfg->require_clientid;
	unsigned lm = p->learn_max_devices ? p->learn_max_devices : cfg->learn_max_devices;
	unsigned pm = p->pending_max_devices ? p->pending_max_devices : cfg->pending_max_devices;
	if (output == CTL_OUTPUT_JSON) {
		json_object *j = json_object_new_object();
		add_str(j, "account", account);
		add_str(j, "mode", clientid_mode_name(mode));
		add_bool(j, "require_clientid", req);
		add_int(j, "learn_max_devices", lm);
		add_int(j, "pending_max_devices", pm);
		add_bool(j, "overridden",
		         p->mode >= 0 || p->require_clientid >= 0 || p->learn_max_devices ||
		             p->pending_max_devices);
		print_json(j);
		return;
	}
	printf("mode                 %s%s\nrequire_clientid     %s%s\n"
	       "learn_max_devices    %u%s\npending_max_devices  %u%s\n",
	       clientid_mode_name(mode), p->mode >= 0 ? "" : " (site default)", req ? "yes" : "no",
	       p->require_clientid >= 0 ? "" : " (site default)", lm,
	       p->learn_max_devices ? "" : " (site default)", pm,
	       p->pending_max_devices ? "" : " (site default)");
}

/* Where the store is, for people: its directory, or for PostgreSQL the
 * backend's name alone (the DSN stays in the configuration file). */
static const char *store_name(const struct clientid_config *cfg)
{
	return cfg->store_backend == CLIENTID_BACKEND_POSTGRESQL ? "postgresql ([store] dsn)"
	                                                         : cfg->store_path;
}

void ctl_print_stats(enum ctl_output output, const struct policydb_stats *s,
                     const struct clientid_config *cfg, int attack)
{
	if (output == CTL_OUTPUT_JSON) {
		json_object *j = json_object_new_object();
		add_int(j, "accounts", (int64_t)s->accounts);
		add_int(j, "devices", (int64_t)s->devices);
		add_int(j, "trusted", (int64_t)s->trusted);
		add_int(j, "pending", (int64_t)s->pending);
		add_int(j, "blocked", (int64_t)s->blocked);
		add_int(j, "device_traces", (int64_t)s->touches);
		add_int(j, "bans", (int64_t)s->bans);
		add_int(j, "account_policies", (int64_t)s->policies);
		add_int(j, "events", (int64_t)s->events);
		add_int(j, "counters", (int64_t)s->counters);
		add_int(j, "bytes_durable", (int64_t)s->bytes_durable);
		add_int(j, "bytes_routine", (int64_t)s->bytes_routine);
		add_int(j, "map_durable", (int64_t)s->map_durable);
		add_int(j, "map_routine", (int64_t)s->map_routine);
		add_int(j, "readers", s->readers);
		add_int(j, "max_readers", s->max_readers);
		add_int(j, "under_attack_until", attack ? s->attack_until : 0);
		add_str(j, "store", store_name(cfg));
		add_str(j, "mode", clientid_mode_name(cfg->mode));
		print_json(j);
		return;
	}
	char t[32];
	fmt_time(attack ? s->attack_until : 0, t);
	printf("store            %s\nsite mode        %s\naccounts         %llu\n"
	       "devices          %llu (trusted %llu, pending %llu, blocked %llu)\n"
	       "device traces    %llu\nbans             %llu\naccount policies %llu\n"
	       "events           %llu\ncounters         %llu\n"
	       "size             %llu bytes durable, %llu bytes routine\n"
	       "readers          %u of %u\nunder attack     %s\n",
	       store_name(cfg), clientid_mode_name(cfg->mode), (unsigned long long)s->accounts,
	       (unsigned long long)s->devices, (unsigned long long)s->trusted,
	       (unsigned long long)s->pending, (unsigned long long)s->blocked,
	       (unsigned long long)s->touches, (unsigned long long)s->bans,
	       (unsigned long long)s->policies, (unsigned long long)s->events,
	       (unsigned long long)s->counters, (unsigned long long)s->bytes_durable,
	       (unsigned long long)s->bytes_routine, s->readers, s->max_readers, attack ? t : "no");
}

void ctl_print_prune(enum ctl_output output, int dry_run, const struct policydb_prune_counts *n)
{
	if (output == CTL_OUTPUT_JSON) {
		json_object *j = json_object_new_object();
		add_bool(j, "dry_run", dry_run);
		add_int(j, "devices", (int64_t)n->devices);
		add_int(j, "device_traces", (int64_t)n->touches);
		add_int(j, "events", (int64_t)n->events);
		add_int(j, "counters", (int64_t)n->counters);
		print_json(j);
		return;
	}
	printf("%s %llu devices, %llu device traces, %llu events, %llu counters\n",
	       dry_run ? "would remove" : "removed", (unsigned long long)n->devices,
	       (unsigned long long)n->touches, (unsigned long long)n->events,
	       (unsigned long long)n->counters);
}

void ctl_print_schema(enum ctl_output output, uint32_t version, const struct clientid_config *cfg)
{
	if (output == CTL_OUTPUT_JSON) {
		json_object *j = json_object_new_object();
		add_str(j, "store", store_name(cfg));
		add_int(j, "schema", version);
		print_json(j);
		return;
	}
	printf("%s: schema version %u\n", store_name(cfg), version);
}

void ctl_print_check(enum ctl_output output, const struct policydb_check *r)
{
	if (output == CTL_OUTPUT_JSON) {
		json_object *j = json_object_new_object();
		add_bool(j, "ok", r->problems == 0);
		add_int(j, "records", (int64_t)r->records);
		add_int(j, "stale_readers_reclaimed", r->stale_readers);
		add_int(j, "problems", r->problems);
		if (r->problems)
			add_str(j, "first_problem", r->first_problem);
		print_json(j);
		return;
	}
	printf("%s: %llu records, %u stale readers reclaimed, %u problems%s%s\n",
	       r->problems == 0 ? "ok" : "DAMAGED", (unsigned long long)r->records,
	       r->stale_readers, r->problems, r->problems ? ": " : "", r->first_problem);
}

void ctl_print_import(enum ctl_output output, const struct policydb_import_counts *c)
{
	if (output == CTL_OUTPUT_JSON)
		return;
	printf("imported %llu devices, %llu bans, %llu account policies\n",
	       (unsigned long long)c->devices, (unsigned long long)c->bans,
	       (unsigned long long)c->policies);
}
