/* The configuration loader. One table holds every key with its default and
 * bounds; the parser (inih) calls config_handler() once per line. */
#include "clientid-config.h"

#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum key_kind {
	KIND_PATH,     /* absolute path, or empty where allowed */
	KIND_WORD,     /* enum: one of a key's names */
	KIND_BOOL,     /* yes/no/true/false/on/off/1/0 */
	KIND_UINT,     /* decimal, within [min, max] */
	KIND_DURATION, /* decimal with optional s/m/h/d suffix, seconds */
	KIND_SIZE,     /* decimal with optional K/M/G suffix, bytes */
	KIND_TYPES,    /* list of client-id-types, separated by spaces or commas */
	KIND_HANDLING, /* list of handling words */
	KIND_DSN,      /* a libpq connection string without a password */
};

struct key_def {
	const char *section;
	const char *name;
	enum key_kind kind;
	size_t offset;
	size_t size;              /* KIND_PATH: buffer size */
	const char *def;          /* default, in the file's own syntax */
	uint64_t min, max;        /* KIND_UINT, KIND_DURATION, KIND_SIZE */
	const char *const *words; /* KIND_WORD: names, index = value */
	int empty_ok;             /* KIND_PATH: may be empty */
};

static const char *const mode_words[] = {"off", "observe", "learn", "enforce", NULL};
static const char *const on_error_words[] = {"tempfail", "allow", NULL};
static const char *const travel_words[] = {"flag", "deny", NULL};
static const char *const backend_words[] = {"lmdb", "postgresql", NULL};
static const char *const account_case_words[] = {"fold", "keep", NULL};
static const char *const handling_words[] = {"ignore", "session",       "syslog",        "userlog",
                                             "auth",   "alert-failure", "alert-success", NULL};

#define F(field) offsetof(struct clientid_config, field)
#define DAY      86400u
#define PATH(s, n, field, d, e)                                                                    \
	{                                                                                          \
		s, n, KIND_PATH, F(field), sizeof(((struct clientid_config *)0)->field), d, 0, 0,  \
		    NULL, e                                                                        \
	}
#define NUM(s, n, k, field, d, lo, hi)                                                             \
	{                                                                                          \
		s, n, k, F(field), 0, d, lo, hi, NULL, 0                                           \
	}
#define WORD(s, n, field, d, w)                                                                    \
	{                                                                                          \
		s, n, KIND_WORD, F(field), 0, d, 0, 0, w, 0                                        \
	}

/* The one place where defaults live. Keep docs/clientid.conf.5 in step. */
static const struct key_def keys[] = {
    PATH("general", "secret_file", secret_file, "/etc/clientid/secret", 0),
    PATH("store", "path", store_path, "/var/lib/clientid", 0),
    WORD("store", "backend", store_backend, "lmdb", backend_words),
    {"store", "dsn", KIND_DSN, F(store_dsn), sizeof(((struct clientid_config *)0)->store_dsn), "",
     0, 0, NULL, 1},
    NUM("store", "map_size", KIND_SIZE, store_map_size, "64M", 1u << 20, 1ull << 40),
    WORD("store", "on_error", store_on_error, "tempfail", on_error_words),
    WORD("policy", "mode", mode, "observe", mode_words),
    NUM("policy", "require_clientid", KIND_BOOL, require_clientid, "no", 0, 1),
    NUM("policy", "learn_max_devices", KIND_UINT, learn_max_devices, "10", 1, 1000),
    NUM("policy", "pending_max_devices", KIND_UINT, pending_max_devices, "20", 1, 1000),
    WORD("policy", "account_case", account_case, "fold", account_case_words),
    NUM("limits", "device_fail_limit", KIND_UINT, device_fail_limit, "10", 0, 1000000),
    NUM("limits", "device_fail_window", KIND_DURATION, device_fail_window, "15m", 1, 30 * DAY),
    NUM("limits", "ip_fail_limit", KIND_UINT, ip_fail_limit, "50", 0, 1000000),
    NUM("limits", "ip_fail_window", KIND_DURATION, ip_fail_window, "15m", 1, 30 * DAY),
    NUM("limits", "device_max_accounts", KIND_UINT, device_max_accounts, "5", 0, 100000),
    NUM("limits", "device_accounts_window", KIND_DURATION, device_accounts_window, "1d", 1,
        365 * DAY),
    NUM("limits", "ip_fail_prefix4", KIND_UINT, ip_fail_prefix4, "32", 8, 32),
    NUM("limits", "ip_fail_prefix6", KIND_UINT, ip_fail_prefix6, "64", 16, 128),
    NUM("attack", "fail_threshold", KIND_UINT, attack_fail_threshold, "0", 0, 100000000),
    NUM("attack", "window", KIND_DURATION, attack_window, "1m", 1, DAY),
    NUM("attack", "duration", KIND_DURATION, attack_duration, "15m", 1, 30 * DAY),
    NUM("travel", "window", KIND_DURATION, travel_window, "0", 0, DAY),
    WORD("travel", "action", travel_action, "flag", travel_words),
    NUM("travel", "prefix4", KIND_UINT, travel_prefix4, "16", 1, 32),
    NUM("travel", "prefix6", KIND_UINT, travel_prefix6, "32", 1, 128),
    {"types", "allow", KIND_TYPES, F(types_allow), 0, "", 0, 0, NULL, 0},
    {"types", "deny", KIND_TYPES, F(types_deny), 0, "", 0, 0, NULL, 0},
    {"types", "default_handling", KIND_HANDLING, F(default_handling), 0, "syslog auth", 0, 0, NULL,
     0},
    PATH("events", "alert_command", alert_command, "", 1),
    NUM("events", "retention", KIND_DURATION, event_retention, "90d", 1, 3650 * DAY),
    NUM("events", "device_retention", KIND_DURATION, device_retention, "365d", 1, 3650 * DAY),
};

#define N_KEYS       (sizeof(keys) / sizeof(keys[0]))
#define TYPE_SECTION "type "
/* Longest line, with room for CR, LF and NUL. */
#define CONFIG_LINE_MAX (CLIENTID_PATH_MAX + 128)

struct parse_state {
	struct clientid_config *cfg;
	unsigned char seen[N_KEYS];
	char first_error[CLIENTID_ERRBUF_SIZE]; /* "[section] key: reason" */
};

static int set_error(struct parse_state *st, const char *section, const char *name, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

static int set_error(struct parse_state *st, const char *section, const char *name, const char *fmt,
                     ...)
{
	if (st->first_error[0] != '\0')
		return 0;
	int n = snprintf(st->first_error, sizeof(st->first_error), "[%s] %s: ", section, name);
	if (n > 0 && (size_t)n < sizeof(st->first_error)) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(st->first_error + n, sizeof(st->first_error) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return 0; /* inih: this line is an error */
}

static int parse_u64(const char *value, uint64_t *out, const char **suffix_r)
{
	if (*value < '0' || *value > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(value, &end, 10);
	if (errno != 0)
		return -1;
	*out = v;
	*suffix_r = end;
	return 0;
}

static int scale(uint64_t *v, uint64_t factor)
{
	if (factor != 0 && *v > UINT64_MAX / factor)
		return -1;
	*v *= factor;
	return 0;
}

static int parse_number(enum key_kind kind, const char *value, uint64_t *out)
{
	const char *suffix;
	if (parse_u64(value, out, &suffix) < 0)
		return -1;
	uint64_t factor = 1;
	if (*suffix == '\0')
		return 0;
	if (suffix[1] != '\0' || kind == KIND_UINT || kind == KIND_BOOL)
		return -1;
	const char *units = kind == KIND_DURATION ? "smhd" : "KMG";
	static const uint64_t dur[] = {1, 60, 3600, 86400};
	static const uint64_t size[] = {1u << 10, 1u << 20, 1u << 30};
	const char *u = strchr(units, *suffix);
	if (u == NULL)
		return -1;
	factor = kind == KIND_DURATION ? dur[u - units] : size[u - units];
	return scale(out, factor);
}

static int parse_bool(const char *value, uint64_t *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

static int word_index(const char *const *words, const char *value, size_t len)
{
	for (int i = 0; words[i] != NULL; i++) {
		if (strlen(words[i]) == len && strncasecmp(words[i], value, len) == 0)
			return i;
	}
	return -1;
}

/* Calls fn for each item of a list separated by spaces, tabs or commas.
 * Stops at the first non-zero return, and returns it. */
static int for_each_item(const char *value, int (*fn)(void *ctx, const char *item, size_t len),
                         void *ctx)
{
	const char *p = value;
	for (;;) {
		p += strspn(p, " \t,");
		if (*p == '\0')
			return 0;
		size_t len = strcspn(p, " \t,");
		int ret = fn(ctx, p, len);
		if (ret != 0)
			return ret;
		p += len;
	}
}

static int add_type(void *ctx, const char *item, size_t len)
{
	struct clientid_type_list *list = ctx;
	char upper[CLIENTID_TYPE_MAX + 1];
	if (clientid_type_upper(item, len, upper) != 0)
		return CLIENTID_E_TYPE;
	if (list->count >= CLIENTID_LIST_MAX)
		return CLIENTID_E_INVAL;
	memcpy(list->type[list->count++], upper, len + 1);
	return 0;
}

static int add_handling(void *ctx, const char *item, size_t len)
{
	unsigned *flags = ctx;
	int i = word_index(handling_words, item, len);
	if (i < 0)
		return CLIENTID_E_INVAL;
	*flags |= 1u << i;
	return 0;
}

static int parse_handling(const char *value, unsigned *flags_r)
{
	unsigned flags = 0;
	if (for_each_item(value, add_handling, &flags) != 0)
		return -1;
	if ((flags & CLIENTID_HANDLE_IGNORE) != 0 && flags != CLIENTID_HANDLE_IGNORE)
		return -1; /* "ignore" excludes everything else */
	*flags_r = flags;
	return 0;
}

static int apply_number(struct parse_state *st, const struct key_def *k, const char *value)
{
	uint64_t v;
	int bad = k->kind == KIND_BOOL ? parse_bool(value, &v) : parse_number(k->kind, value, &v);
	if (bad != 0) {
		const char *want = k->kind == KIND_BOOL ? "yes or no"
		                   : k->kind == KIND_DURATION
		                       ? "a duration such as 90s, 15m, 2h or 7d"
		                   : k->kind == KIND_SIZE ? "a size such as 64M or 1G"
		                                          : "a whole number";
		return set_error(st, k->section, k->name, "'%s' is not %s", value, want);
	}
	if (k->kind != KIND_BOOL && (v < k->min || v > k->max))
		return set_error(st, k->section, k->name,
		                 "%s is out of range (%" PRIu64 "..%" PRIu64 ")", value, k->min,
		                 k->max);
	char *field = (char *)st->cfg + k->offset;
	if (k->kind == KIND_SIZE)
		*(uint64_t *)field = v;
	else if (k->kind == KIND_BOOL)
		*(int *)field = (int)v;
	else
		*(unsigned *)field = (unsigned)v;
	return 1;
}

/* 1 when a libpq connection string carries a password: a password
 * keyword, or a URI whose user part has one (user:secret@host). A coarse
 * test on purpose: a false alarm costs a rename, a miss a secret in a file
 * that many programs read. The backend checks again with libpq's parser. */
static int dsn_has_password(const char *dsn)
{
	for (const char *p = dsn; *p != '\0'; p++) {
		if (strncasecmp(p, "password", 8) == 0)
			return 1;
	}
	const char *scheme = strstr(dsn, "://");
	if (scheme == NULL)
		return 0;
	const char *auth = scheme + 3;
	size_t len = strcspn(auth, "/?");
	const char *at = memchr(auth, '@', len);
	return at != NULL && memchr(auth, ':', (size_t)(at - auth)) != NULL;
}

/* The value is never echoed: it may hold what dsn_has_password() refuses. */
static int apply_dsn(struct parse_state *st, const struct key_def *k, const char *value)
{
	size_t len = strlen(value);
	if (len >= k->size)
		return set_error(st, k->section, k->name, "longer than %zu bytes", k->size - 1);
	if (dsn_has_password(value))
		return set_error(st, k->section, k->name,
		                 "holds a password; put it in a passfile (~/.pgpass, PGPASSFILE "
		                 "or passfile=), never in this file");
	memcpy((char *)st->cfg + k->offset, value, len + 1);
	return 1;
}

static int apply_key(struct parse_state *st, const struct key_def *k, const char *value)
{
	char *field = (char *)st->cfg + k->offset;
	switch (k->kind) {
	case KIND_PATH: {
		size_t len = strlen(value);
		if (len == 0 && k->empty_ok) {
			field[0] = '\0';
			return 1;
		}
		if (value[0] != '/')
			return set_error(st, k->section, k->name, "'%s' is not an absolute path",
			                 value);
		if (len >= k->size)
			return set_error(st, k->section, k->name, "path longer than %zu bytes",
			                 k->size - 1);
		memcpy(field, value, len + 1);
		return 1;
	}
	case KIND_WORD: {
		int i = word_index(k->words, value, strlen(value));
		if (i < 0) {
			char list[128] = "";
			for (int w = 0; k->words[w] != NULL; w++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				         w == 0 ? "" : ", ", k->words[w]);
			return set_error(st, k->section, k->name, "'%s' is not one of: %s", value,
			                 list);
		}
		*(int *)field = i;
		return 1;
	}
	case KIND_TYPES: {
		struct clientid_type_list *list = (struct clientid_type_list *)(void *)field;
		list->count = 0;
		if (for_each_item(value, add_type, list) != 0)
			return set_error(st, k->section, k->name,
			                 "'%s' is not a list of at most %d client-id-types", value,
			                 CLIENTID_LIST_MAX);
		return 1;
	}
	case KIND_HANDLING:
		if (parse_handling(value, (unsigned *)(void *)field) != 0)
			return set_error(st, k->section, k->name,
			                 "'%s' is not a list of: ignore, session, syslog, userlog, "
			                 "auth, alert-failure, alert-success (ignore stands alone)",
			                 value);
		return 1;
	case KIND_DSN:
		return apply_dsn(st, k, value);
	default:
		return apply_number(st, k, value);
	}
}

static int type_section(struct parse_state *st, const char *section, const char *name,
                        const char *value)
{
	const char *type = section + strlen(TYPE_SECTION);
	struct clientid_config *cfg = st->cfg;
	if (strcmp(name, "handling") != 0)
		return set_error(st, section, name,
		                 "unknown key (only 'handling' is allowed here)");
	char upper[CLIENTID_TYPE_MAX + 1];
	if (clientid_type_upper(type, strlen(type), upper) != 0)
		return set_error(st, section, name, "'%s' is not a client-id-type", type);
	unsigned i;
	for (i = 0; i < cfg->type_rule_count; i++) {
		if (strcmp(cfg->type_rules[i].type, upper) == 0)
			break;
	}
	if (i == CLIENTID_LIST_MAX)
		return set_error(st, section, name, "more than %d [type] sections",
		                 CLIENTID_LIST_MAX);
	/* A rule exists only once its one key, handling, was read. */
	if (i < cfg->type_rule_count)
		return set_error(st, section, name, "key given twice");
	if (parse_handling(value, &cfg->type_rules[i].handling) != 0)
		return set_error(st, section, name, "'%s' is not a list of handling words", value);
	memcpy(cfg->type_rules[i].type, upper, sizeof(upper));
	cfg->type_rule_count++;
	return 1;
}

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;
	if (strncmp(section, TYPE_SECTION, strlen(TYPE_SECTION)) == 0)
		return type_section(st, section, name, value);
	int section_known = 0;
	for (size_t i = 0; i < N_KEYS; i++) {
		if (strcmp(keys[i].section, section) != 0)
			continue;
		section_known = 1;
		if (strcmp(keys[i].name, name) != 0)
			continue;
		if (st->seen[i])
			return set_error(st, section, name, "key given twice");
		st->seen[i] = 1;
		return apply_key(st, &keys[i], value);
	}
	if (section[0] == '\0')
		return set_error(st, "", name, "key outside any section");
	return set_error(st, section, name, section_known ? "unknown key" : "unknown section");
}

void clientid_config_defaults(struct clientid_config *cfg_r)
{
	struct parse_state st;
	memset(cfg_r, 0, sizeof(*cfg_r));
	memset(&st, 0, sizeof(st));
	st.cfg = cfg_r;
	for (size_t i = 0; i < N_KEYS; i++) {
		/* The table's defaults are valid: tests/unit/test_config.c proves it. */
		(void)apply_key(&st, &keys[i], keys[i].def);
	}
}

/* Feeds inih one line at a time, counting lines, so that a line too long
 * for inih's buffer is an error instead of two silently split lines. */
struct line_source {
	FILE *file;       /* or */
	const char *text; /* advanced as lines are read */
	int line;
	int too_long;
};

static char *read_line(char *str, int num, void *stream)
{
	struct line_source *src = stream;
	if (src->file != NULL) {
		if (fgets(str, num, src->file) == NULL)
			return NULL;
	} else {
		if (*src->text == '\0')
			return NULL;
		size_t len = strcspn(src->text, "\n");
		len += src->text[len] == '\n';
		if (len > (size_t)num - 1)
			len = (size_t)num - 1;
		memcpy(str, src->text, len);
		str[len] = '\0';
		src->text += len;
	}
	src->line++;
	size_t got = strlen(str);
	if (got == (size_t)num - 1 && str[got - 1] != '\n') {
		src->too_long = 1;
		return NULL;
	}
	return str;
}

static int parse(struct line_source *src, const char *name, struct clientid_config *cfg_r,
                 char *err_r)
{
	struct parse_state st;
	memset(&st, 0, sizeof(st));
	clientid_config_defaults(cfg_r);
	st.cfg = cfg_r;
	/* Debian's libinih makes these run-time settings. */
	ini_stop_on_first_error = true;
	ini_allow_multiline = false;
	ini_use_stack = true; /* a line buffer of ini_max_line bytes */
	ini_max_line = CONFIG_LINE_MAX;
	int line = ini_parse_stream(read_line, src, config_handler, &st);
	if (src->too_long) {
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "%s:%d: line longer than %d characters", name,
		         src->line, CONFIG_LINE_MAX - 3);
		return CLIENTID_E_CONFIG;
	}
	if (line == 0)
		return 0;
	if (line < 0) {
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "%s: out of memory", name);
		return CLIENTID_E_NOMEM;
	}
	snprintf(err_r, CLIENTID_ERRBUF_SIZE, "%s:%d: %s", name, line,
	         st.first_error[0] != '\0' ? st.first_error
	                                   : "syntax error (expected [section] or key = value)");
	return CLIENTID_E_CONFIG;
}

int clientid_config_load(const char *path, struct clientid_config *cfg_r, char *err_r)
{
	struct line_source src = {.file = fopen(path, "re")};
	if (src.file == NULL) {
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "%s: cannot open: %s", path, strerror(errno));
		return CLIENTID_E_IO;
	}
	int ret = parse(&src, path, cfg_r, err_r);
	if (ret == 0 && ferror(src.file)) {
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "%s: read error", path);
		ret = CLIENTID_E_IO;
	}
	fclose(src.file);
	return ret;
}

int clientid_config_load_string(const char *name, const char *text, struct clientid_config *cfg_r,
                                char *err_r)
{
	struct line_source src = {.text = text};
	return parse(&src, name, cfg_r, err_r);
}

unsigned clientid_config_type_handling(const struct clientid_config *cfg, const char *type,
                                       size_t type_len)
{
	for (unsigned i = 0; i < cfg->type_rule_count; i++) {
		const char *rule = cfg->type_rules[i].type;
		if (strlen(rule) == type_len && strncasecmp(rule, type, type_len) == 0)
			return cfg->type_rules[i].handling;
	}
	return cfg->default_handling;
}

const char *clientid_mode_name(enum clientid_mode mode)
{
	if ((unsigned)mode >= sizeof(mode_words) / sizeof(mode_words[0]) - 1)
		return NULL;
	return mode_words[mode];
}

int clientid_mode_parse(const char *name, enum clientid_mode *mode_r)
{
	int i = word_index(mode_words, name, strlen(name));
	if (i < 0)
		return CLIENTID_E_INVAL;
	*mode_r = (enum clientid_mode)i;
	return 0;
}
