/* The policy engine's tables: {configuration, history, attempt} ->
 * {decision, reason, flags, updates, events}. One row per rule; the row's
 * name says which. test_policy.c runs them. */
#ifndef TEST_POLICY_TABLE_H
#define TEST_POLICY_TABLE_H

#include "clientid-policy.h"

#define NOW 1000000u

enum { NO_ID = 0, DEV_A = 1, DEV_B = 2 };

struct row {
	const char *name;
	const char *conf; /* over the defaults */
	/* history */
	int state;     /* 0: unknown device, else enum clientid_device_state */
	int acct_mode; /* mode + 1; 0: site default; -1: learn_max_devices 5 */
	int acct_require;
	unsigned trusted, pending, others;
	int revoked, banned;
	unsigned dev_fails, ip_fails, site_fails;
	int attack_for;      /* > 0: under attack for that many more seconds */
	int last_ago;        /* > 0: routine record, last seen that long ago */
	const char *last_ip; /* with last_ago */
	int ok_ago;          /* with last_ago: last allowed login; 0: at last_ago, -1: none */
	const char *ok_ip;   /* with ok_ago; NULL: last_ip */
	unsigned pair_fails; /* failures of this trusted pair in its window */
	unsigned first_ago;  /* first seen that long ago; 0: 1000 s */
	unsigned win_ahead;  /* > 0: the windows start that far ahead of the clock */
	/* attempt */
	enum clientid_auth auth;
	int dev;
	const char *type; /* NULL: "UUID" */
	int no_tls;
	const char *ip; /* NULL: 192.0.2.1 */
	int no_account;
	int no_learn;
	/* expected */
	enum clientid_decision decision;
	enum clientid_reason reason;
	unsigned flags;     /* exactly */
	unsigned updates;   /* exactly */
	const char *events; /* kinds, comma-separated; "" none */
};

#define S         CLIENTID_AUTH_SUCCESS
#define F         CLIENTID_AUTH_FAILURE
#define P         CLIENTID_AUTH_PRECHECK
#define ALLOW     CLIENTID_ALLOW
#define DENY      CLIENTID_DENY
#define TRUSTED   CLIENTID_DEV_TRUSTED
#define PENDING   CLIENTID_DEV_PENDING
#define BLOCKED   CLIENTID_DEV_BLOCKED
#define U_DEV     CLIENTID_UPD_DEVICE
#define U_TOUCH   CLIENTID_UPD_TOUCH
#define U_EVICT   CLIENTID_UPD_EVICT
#define U_BAN     CLIENTID_UPD_BAN
#define U_DFAIL   CLIENTID_UPD_DEV_FAIL
#define U_IFAIL   CLIENTID_UPD_IP_FAIL
#define U_SFAIL   CLIENTID_UPD_SITE_FAIL
#define U_ATTACK  CLIENTID_UPD_ATTACK
#define VF_OBS    CLIENTID_VF_OBSERVED
#define VF_LOG    CLIENTID_VF_SYSLOG
#define VF_NEW    CLIENTID_VF_NEW_DEVICE
#define VF_TRAVEL CLIENTID_VF_TRAVEL
#define VF_ATTACK CLIENTID_VF_UNDER_ATTACK

#define OBSERVE "[policy]\nmode = observe\n"
#define LEARN   "[policy]\nmode = learn\n"
#define ENFORCE "[policy]\nmode = enforce\n"
#define OFF     "[policy]\nmode = off\n"
#define LIMITS  "[limits]\ndevice_fail_limit = 3\nip_fail_limit = 5\ndevice_max_accounts = 2\n"

/* Each table ends with a row whose name is NULL. */
/* Modes: off, observe, learn, enforce, and require_clientid. */
extern const struct row policy_mode_rows[];
/* Heuristics: the failure limits and the walking device... */
extern const struct row policy_limit_rows[];
/* ...then bans, revocations, type lists, attack mode and travel. */
extern const struct row policy_heuristic_rows[];
/* The drafts' per-type handling. */
extern const struct row policy_handling_rows[];

#endif
