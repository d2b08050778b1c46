/* The configuration file, /etc/clientid/clientid.conf, shared by the policy
 * service, the Exim module and clientidctl. Every key, its default and its
 * bounds live in one table in config.c; docs/clientid.conf.5 documents them. */
#ifndef CLIENTID_CONFIG_H
#define CLIENTID_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "clientid.h"

#define CLIENTID_CONFIG_PATH "/etc/clientid/clientid.conf"
#define CLIENTID_PATH_MAX    1024
#define CLIENTID_LIST_MAX    32 /* entries in a type list, and [type NAME] sections */

enum clientid_mode {
	CLIENTID_MODE_OFF = 0, /* not consulted */
	CLIENTID_MODE_OBSERVE, /* record and log what would be denied; deny nothing */
	CLIENTID_MODE_LEARN,   /* trust on first successful use, up to learn_max_devices */
	CLIENTID_MODE_ENFORCE, /* only trusted devices may log in */
};

enum clientid_store_error_action {
	CLIENTID_STORE_ERROR_TEMPFAIL = 0, /* refuse the login as a temporary failure */
	CLIENTID_STORE_ERROR_ALLOW,        /* fail open: decide as if the policy were off */
};

enum clientid_store_backend {
	CLIENTID_BACKEND_LMDB = 0,
	CLIENTID_BACKEND_POSTGRESQL, /* a cluster's shared store, through libpq */
};

/* How account names become store keys (clientid_account_canon()). */
enum clientid_account_case {
	CLIENTID_ACCOUNT_FOLD = 0, /* ASCII upper case to lower case: "Anna" is "anna" */
	CLIENTID_ACCOUNT_KEEP,     /* byte for byte, for case-sensitive password checks */
};

enum clientid_travel_action {
	CLIENTID_TRAVEL_FLAG = 0, /* raise an alert event only */
	CLIENTID_TRAVEL_DENY,     /* also deny the login */
};

/* The drafts' per-type handling (IMAP draft section 6, SMTP draft 6.5). */
enum clientid_type_handling {
	CLIENTID_HANDLE_IGNORE = 1u << 0,        /* treat as not presented */
	CLIENTID_HANDLE_SESSION = 1u << 1,       /* keep in the session only (debugging) */
	CLIENTID_HANDLE_SYSLOG = 1u << 2,        /* log the fingerprint */
	CLIENTID_HANDLE_USERLOG = 1u << 3,       /* record events visible to the user */
	CLIENTID_HANDLE_AUTH = 1u << 4,          /* use for the authentication decision */
	CLIENTID_HANDLE_ALERT_FAILURE = 1u << 5, /* alert when authentication fails */
	CLIENTID_HANDLE_ALERT_SUCCESS = 1u << 6, /* alert when authentication succeeds */
};

struct clientid_type_rule {
	char type[CLIENTID_TYPE_MAX + 1]; /* upper case */
	unsigned handling;                /* enum clientid_type_handling bits */
};

struct clientid_type_list {
	unsigned count;
	char type[CLIENTID_LIST_MAX][CLIENTID_TYPE_MAX + 1]; /* upper case */
};

/* Durations are in seconds; 0 turns the heuristic that uses them off. */
struct clientid_config {
	/* [general] */
	char secret_file[CLIENTID_PATH_MAX];
	/* [store] */
	char store_path[CLIENTID_PATH_MAX];
	enum clientid_store_backend store_backend;
	char store_dsn[CLIENTID_PATH_MAX]; /* libpq connection string, no password */
	uint64_t store_map_size;
	enum clientid_store_error_action store_on_error;
	/* [policy] */
	enum clientid_mode mode;
	int require_clientid;
	unsigned learn_max_devices;
	unsigned pending_max_devices;
	enum clientid_account_case account_case;
	/* [limits] */
	unsigned device_fail_limit;
	unsigned device_fail_window;
	unsigned ip_fail_limit;
	unsigned ip_fail_window;
	unsigned device_max_accounts;
	unsigned device_accounts_window;
	unsigned ip_fail_prefix4; /* addresses counted together: IPv4 /n */
	unsigned ip_fail_prefix6; /* IPv6 /n */
	/* [attack] */
	unsigned attack_fail_threshold;
	unsigned attack_window;
	unsigned attack_duration;
	/* [travel] */
	unsigned travel_window;
	enum clientid_travel_action travel_action;
	unsigned travel_prefix4;
	unsigned travel_prefix6;
	/* [types] and [type NAME] */
	struct clientid_type_list types_allow; /* empty: every type is allowed */
	struct clientid_type_list types_deny;
	unsigned default_handling;
	unsigned type_rule_count;
	struct clientid_type_rule type_rules[CLIENTID_LIST_MAX];
	/* [events] */
	char alert_command[CLIENTID_PATH_MAX];
	unsigned event_retention;
	unsigned device_retention;
};

/* Sets every field to its documented default. */
void clientid_config_defaults(struct clientid_config *cfg_r);

/* Loads path over the defaults. A missing file is an error
 * (CLIENTID_E_IO); so are syntax errors, unknown sections or keys, repeated
 * keys and out-of-range values (CLIENTID_E_CONFIG). On failure err_r, of
 * CLIENTID_ERRBUF_SIZE bytes, holds "path:line: [section] key: reason" for
 * the first problem, and *cfg_r is unspecified. */
int clientid_config_load(const char *path, struct clientid_config *cfg_r, char *err_r);

/* As clientid_config_load(), from a NUL-terminated string; name stands for
 * the path in messages. */
int clientid_config_load_string(const char *name, const char *text, struct clientid_config *cfg_r,
                                char *err_r);

/* The handling bits for a type (any case): its [type NAME] section if there
 * is one, else default_handling. */
unsigned clientid_config_type_handling(const struct clientid_config *cfg, const char *type,
                                       size_t type_len);

/* Names for modes, for logs and tools; NULL for an unknown value. */
const char *clientid_mode_name(enum clientid_mode mode);

/* Parses a mode name. Returns 0 or CLIENTID_E_INVAL. */
int clientid_mode_parse(const char *name, enum clientid_mode *mode_r);

#endif
