/* The policy engine: a pure decision.
 *
 * An attempt (who, from where, with which device, did the password verify)
 * and a snapshot of that device's history go in; a verdict, the records to
 * write back and the events to append come out. Nothing here reads a clock,
 * a file or the store: policy-db/ reads the history, calls
 * clientid_policy_decide() inside its write transaction and applies the
 * outcome. That makes every mode and heuristic a table test
 * (tests/unit/test_policy.c). */
#ifndef CLIENTID_POLICY_H
#define CLIENTID_POLICY_H

#include <stdint.h>

#include "clientid-config.h"
#include "clientid-fp.h"

#define CLIENTID_ACCOUNT_MAX 255 /* bytes of an account name, no NUL inside */
#define CLIENTID_LABEL_MAX   64  /* bytes of a device label */
#define CLIENTID_IP_STR_MAX  46  /* INET6_ADDRSTRLEN */
/* A window start (or an attack end beyond its duration) further ahead of the
 * clock than this is a clock that jumped forward and back: treated as over. */
#define CLIENTID_CLOCK_AHEAD_MAX 300

enum clientid_protocol {
	CLIENTID_PROTO_NONE = 0,
	CLIENTID_PROTO_IMAP,
	CLIENTID_PROTO_SMTP,
	CLIENTID_PROTO_OTHER,
};

enum clientid_auth {
	CLIENTID_AUTH_FAILURE = 0, /* the password did not verify */
	CLIENTID_AUTH_SUCCESS,     /* the password verified */
	CLIENTID_AUTH_PRECHECK,    /* before authentication: only refusals, no records */
};

/* An address: family 0 (none), 4 or 6; IPv4-mapped IPv6 is stored as 4. */
struct clientid_ip {
	uint8_t family;
	uint8_t addr[16]; /* IPv4 in the first 4 bytes */
};

/* Parses a textual IPv4 or IPv6 address (no brackets, no port). Returns 0
 * or CLIENTID_E_INVAL. */
int clientid_ip_parse(const char *text, struct clientid_ip *ip_r);

/* Writes the address as text ("" for family 0) into out. */
void clientid_ip_format(const struct clientid_ip *ip, char out[CLIENTID_IP_STR_MAX]);

/* One login attempt. Every pointer is the caller's and only read during the
 * call. */
struct clientid_attempt {
	const char *account; /* NUL-terminated, 1..CLIENTID_ACCOUNT_MAX bytes;
	                        NULL only for CLIENTID_AUTH_PRECHECK */
	enum clientid_protocol protocol;
	const char *type;             /* client-id-type as sent, NUL-terminated; NULL: none */
	const struct clientid_fp *fp; /* its fingerprint; NULL exactly when type is */
	struct clientid_ip ip;
	int tls; /* a client id received without TLS is ignored */
	enum clientid_auth auth;
	uint64_t now; /* seconds since the epoch */
	int no_learn; /* the host cannot vouch that the password verified before
	                 this decision: learn mode trusts no device on it */
};

enum clientid_decision {
	CLIENTID_ALLOW = 0,
	CLIENTID_DENY,
	CLIENTID_TEMPFAIL, /* only from the store, when on_error = tempfail */
};

/* Why. The names (clientid_reason_name()) are stable: logs and tests grep
 * for them. Append only. */
enum clientid_reason {
	CLIENTID_R_ALLOWED = 0,       /* "allowed": precheck found nothing */
	CLIENTID_R_POLICY_OFF,        /* "policy_off" */
	CLIENTID_R_TRUSTED,           /* "trusted_device" */
	CLIENTID_R_LEARNED,           /* "device_learned": trusted on first use */
	CLIENTID_R_NO_CLIENTID_OK,    /* "no_clientid": none sent, none required */
	CLIENTID_R_AUTH_FAILED,       /* "auth_failed": the password was wrong */
	CLIENTID_R_CLIENTID_REQUIRED, /* "clientid_required" */
	CLIENTID_R_TYPE_DENIED,       /* "type_denied" */
	CLIENTID_R_REVOKED,           /* "token_revoked" */
	CLIENTID_R_BLOCKED,           /* "device_blocked" */
	CLIENTID_R_DEVICE_FAIL_LIMIT, /* "device_fail_limit" */
	CLIENTID_R_IP_FAIL_LIMIT,     /* "ip_fail_limit" */
	CLIENTID_R_MANY_ACCOUNTS,     /* "device_many_accounts" */
	CLIENTID_R_TRAVEL,            /* "impossible_travel" */
	CLIENTID_R_UNDER_ATTACK,      /* "under_attack" */
	CLIENTID_R_UNKNOWN_DEVICE,    /* "device_unknown": enforce, now pending */
	CLIENTID_R_PENDING,           /* "device_pending": not approved yet */
	CLIENTID_R_LEARN_LIMIT,       /* "learn_limit": learn mode, account full */
	CLIENTID_R_STORE_ERROR,       /* "store_error": set by policy-db, never here */
	CLIENTID_R_COUNT_
};

/* Verdict flags. */
enum clientid_verdict_flags {
	CLIENTID_VF_OBSERVED = 1u << 0,     /* observe mode: would have denied for reason */
	CLIENTID_VF_SYSLOG = 1u << 1,       /* the type's handling asks to log the fingerprint */
	CLIENTID_VF_NEW_DEVICE = 1u << 2,   /* first sighting of this device on this account */
	CLIENTID_VF_TRAVEL = 1u << 3,       /* seen from a distant network within travel window */
	CLIENTID_VF_UNDER_ATTACK = 1u << 4, /* the site is in under-attack mode */
	CLIENTID_VF_FAIL_OPEN = 1u << 5,    /* store failed and on_error = allow */
};

struct clientid_verdict {
	enum clientid_decision decision;
	enum clientid_reason reason; /* with CLIENTID_VF_OBSERVED: what would have denied */
	unsigned flags;
	enum clientid_mode mode;                  /* the account's effective mode */
	char fp_short[CLIENTID_FP_SHORT_LEN + 1]; /* "" without a client id */
};

const char *clientid_reason_name(enum clientid_reason reason);
const char *clientid_decision_name(enum clientid_decision decision);

/* What observe mode let through, for a log line: " observed would=deny
 * reason=<reason>" when v carries CLIENTID_VF_OBSERVED, else "". Written
 * into buf, which the caller owns; returns buf. */
#define CLIENTID_OBSERVED_TEXT_MAX 64
const char *clientid_verdict_observed(const struct clientid_verdict *v,
                                      char buf[CLIENTID_OBSERVED_TEXT_MAX]);

enum clientid_device_state {
	CLIENTID_DEV_PENDING = 1,
	CLIENTID_DEV_TRUSTED,
	CLIENTID_DEV_BLOCKED,
};

const char *clientid_device_state_name(enum clientid_device_state state);
int clientid_device_state_parse(const char *name, enum clientid_device_state *state_r);
const char *clientid_protocol_name(enum clientid_protocol protocol);

/* A fixed-window counter: count events since start; a window of 0 is off. */
struct clientid_window {
	uint32_t start;
	uint32_t count;
};

/* A device as the account knows it. The durable part is committed with an
 * fsync; the routine part (last seen, counts) may not be. */
struct clientid_device {
	/* durable */
	enum clientid_device_state state;
	char type[CLIENTID_TYPE_MAX + 1]; /* upper case */
	char label[CLIENTID_LABEL_MAX + 1];
	uint32_t first_seen;
	uint32_t seen_day; /* last seen, refreshed durably at most once a day */
	/* routine */
	uint32_t last_seen;
	struct clientid_ip last_ip;
	enum clientid_protocol last_protocol;
	uint32_t successes, failures;
	uint32_t last_verified;           /* the password last verified here; 0: never */
	uint32_t last_ok;                 /* the last login allowed here; 0: none */
	struct clientid_ip last_ok_ip;    /* its address: the travel check's reference */
	struct clientid_window pair_fail; /* failures here while the device is trusted */
};

/* Per-account overrides of the [policy] defaults. */
struct clientid_account_policy {
	int mode;                     /* enum clientid_mode, or -1: site default */
	int require_clientid;         /* 0 or 1, or -1: site default */
	unsigned learn_max_devices;   /* 0: site default */
	unsigned pending_max_devices; /* 0: site default */
};

#define CLIENTID_ACCOUNT_POLICY_DEFAULT                                                            \
	{                                                                                          \
		-1, -1, 0, 0                                                                       \
	}

enum clientid_history_bits {
	CLIENTID_HAVE_DEVICE = 1u << 0, /* device holds a durable record */
	CLIENTID_HAVE_TOUCH = 1u << 1,  /* device holds a routine record */
	CLIENTID_HAVE_OLDEST_PENDING = 1u << 2,
};

/* What the store knows that bears on one attempt. Zero it, then fill in. */
struct clientid_history {
	unsigned have;
	struct clientid_device device; /* this account's record of this device */
	struct clientid_account_policy policy;
	unsigned trusted_count, pending_count; /* the account's devices */
	struct clientid_fp oldest_pending;     /* evicted when pending is full */
	unsigned device_accounts;              /* OTHER accounts on which this device verified a
	                                          password within device_accounts_window (need
	                                          not exceed the limit + 1) */
	int revoked;       /* the token is revoked site-wide or for this account */
	int banned;        /* the device walked many accounts: refused where not trusted */
	uint32_t ban_time; /* when; trusted pairs first seen within device_accounts_window
	                      before it were learned by the walk and are refused too */
	struct clientid_window dev_fail; /* failures of this device where it is not trusted */
	struct clientid_window ip_fail;  /* failures without client id from this IP */
	struct clientid_window site_fail;
	uint32_t attack_until; /* under-attack mode until then */
};

enum clientid_event_kind {
	CLIENTID_EV_NEW_DEVICE = 1, /* first sighting; the device is trusted or pending */
	CLIENTID_EV_DENIED,         /* a verified password was refused by policy */
	CLIENTID_EV_LOCKOUT,        /* a device or IP reached its failure limit */
	CLIENTID_EV_DEVICE_BLOCKED, /* a device was blocked site-wide (many accounts) */
	CLIENTID_EV_TRAVEL,         /* same device, distant networks, within minutes */
	CLIENTID_EV_ATTACK,         /* the site entered under-attack mode */
	CLIENTID_EV_ALERT_SUCCESS,  /* the type's handling asks for it */
	CLIENTID_EV_ALERT_FAILURE,
	CLIENTID_EV_ADMIN, /* clientidctl changed something; reason holds the action */
	CLIENTID_EV_COUNT_
};

const char *clientid_event_kind_name(enum clientid_event_kind kind);

enum clientid_event_flags {
	CLIENTID_EVF_FP = 1u << 0,      /* fp and type are set */
	CLIENTID_EVF_USER = 1u << 1,    /* the user may see it (handling userlog) */
	CLIENTID_EVF_ALERT = 1u << 2,   /* run alert_command */
	CLIENTID_EVF_OBSERVE = 1u << 3, /* observe mode: nothing was refused */
};

/* Actions recorded in CLIENTID_EV_ADMIN events, in the reason field. */
enum clientid_admin_action {
	CLIENTID_ADMIN_APPROVE = 1,
	CLIENTID_ADMIN_BLOCK,
	CLIENTID_ADMIN_FORGET,
	CLIENTID_ADMIN_REGISTER,
	CLIENTID_ADMIN_REVOKE,
	CLIENTID_ADMIN_UNREVOKE,
	CLIENTID_ADMIN_POLICY,
	CLIENTID_ADMIN_IMPORT,
	CLIENTID_ADMIN_LABEL,
	CLIENTID_ADMIN_UNLOCK, /* a lock-out ended early */
	CLIENTID_ADMIN_COUNT_
};

const char *clientid_admin_action_name(enum clientid_admin_action action);

struct clientid_event {
	uint64_t seq; /* given by the store when appended */
	uint32_t time;
	uint8_t kind;     /* enum clientid_event_kind */
	uint8_t reason;   /* enum clientid_reason, or clientid_admin_action for ADMIN */
	uint8_t protocol; /* enum clientid_protocol */
	uint8_t flags;    /* enum clientid_event_flags */
	uint8_t decision;
	struct clientid_ip ip;
	struct clientid_fp fp;
	char type[CLIENTID_TYPE_MAX + 1];
	char account[CLIENTID_ACCOUNT_MAX + 1]; /* "" for site-wide events */
};

/* What to write back. */
enum clientid_update_bits {
	CLIENTID_UPD_DEVICE = 1u << 0,    /* durable part of .device (synced) */
	CLIENTID_UPD_TOUCH = 1u << 1,     /* routine part of .device */
	CLIENTID_UPD_EVICT = 1u << 2,     /* forget .evict (oldest pending; synced) */
	CLIENTID_UPD_BAN = 1u << 3,       /* block the device site-wide (synced) */
	CLIENTID_UPD_DEV_FAIL = 1u << 4,  /* .dev_fail */
	CLIENTID_UPD_IP_FAIL = 1u << 5,   /* .ip_fail */
	CLIENTID_UPD_SITE_FAIL = 1u << 6, /* .site_fail */
	CLIENTID_UPD_ATTACK = 1u << 7,    /* .attack_until */
};

#define CLIENTID_UPD_DURABLE        (CLIENTID_UPD_DEVICE | CLIENTID_UPD_EVICT | CLIENTID_UPD_BAN)
#define CLIENTID_OUTCOME_EVENTS_MAX 4

struct clientid_outcome {
	struct clientid_verdict verdict;
	unsigned updates; /* enum clientid_update_bits */
	struct clientid_device device;
	struct clientid_fp evict;
	struct clientid_window dev_fail, ip_fail, site_fail;
	uint32_t attack_until;
	unsigned n_events; /* events are durable: they make the commit synced */
	struct clientid_event events[CLIENTID_OUTCOME_EVENTS_MAX];
};

/* Decides one attempt. Pure: reads only its arguments, writes only *out_r.
 * Returns 0, or CLIENTID_E_INVAL for a malformed attempt (account missing or
 * too long outside a precheck, type without fp, ...); then *out_r is a
 * deny with CLIENTID_R_STORE_ERROR and no updates. */
int clientid_policy_decide(const struct clientid_config *cfg, const struct clientid_attempt *a,
                           const struct clientid_history *h, struct clientid_outcome *out_r);

/* Nonzero when applying out needs a synced commit. */
int clientid_outcome_is_durable(const struct clientid_outcome *out);

/* The effective mode and limits of an account. */
enum clientid_mode clientid_policy_mode(const struct clientid_config *cfg,
                                        const struct clientid_account_policy *p);

/* Called with each contradiction found by clientid_config_contradictions();
 * msg is valid during the call only. */
typedef void clientid_warn_fn(void *ctx, const char *msg);

/* Settings that contradict each other, such as require_clientid with a
 * type whose handling lacks auth (that type never satisfies it). Calls fn
 * once per finding, with a message that names the settings. Returns the
 * number of findings. Hosts log them as warnings when they load the
 * configuration. */
unsigned clientid_config_contradictions(const struct clientid_config *cfg, clientid_warn_fn *fn,
                                        void *ctx);

/* Validates an account name: 1..CLIENTID_ACCOUNT_MAX bytes, no NUL, no
 * control character. Returns 0 or CLIENTID_E_INVAL. */
int clientid_account_check(const char *account);

/* The canonical form of an account name, the one every store key uses, so
 * that every spelling the password check accepts is one account on both
 * protocols: with [policy] account_case = fold (the default) ASCII A-Z
 * become a-z and every other byte stays; with keep the name is copied.
 * Checks the name as clientid_account_check() does. Returns 0 with the
 * name and a NUL in out, or CLIENTID_E_INVAL with out[0] = '\0'. in and out
 * may be the same buffer. */
int clientid_account_canon(const struct clientid_config *cfg, const char *account,
                           char out[CLIENTID_ACCOUNT_MAX + 1]);

#endif
