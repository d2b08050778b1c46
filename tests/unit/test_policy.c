/* The policy engine, as tables: {configuration, history, attempt} ->
 * {decision, reason, flags, updates, events}. One row per rule; the row's
 * name says which. */
#include "clientid-policy.h"
#include "unit.h"

#include <stdio.h>
#include <string.h>

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

/* Modes: off, observe, learn, enforce, and require_clientid. */
static const struct row mode_rows[] = {
    {.name = "off: success allowed, nothing recorded",
     .conf = OFF,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_POLICY_OFF,
     .flags = VF_LOG,
     .events = ""},
    {.name = "off: failure is the password's, nothing recorded",
     .conf = OFF,
     .auth = F,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_AUTH_FAILED,
     .flags = VF_LOG,
     .events = ""},
    {.name = "off: require_clientid ignored",
     .conf = OFF "require_clientid = yes\n",
     .auth = S,
     .decision = ALLOW,
     .reason = CLIENTID_R_POLICY_OFF,
     .events = ""},
    /* Issue 13 item 3: observe trusted new devices, which stayed trusted
     * after the switch to enforce. This row expected device_learned. */
    {.name = "observe trusts new devices (issue 13 item 3): recorded pending, logged",
     .conf = OBSERVE,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_UNKNOWN_DEVICE,
     .flags = VF_LOG | VF_NEW | VF_OBS,
     .updates = U_DEV | U_TOUCH,
     .events = "new_device"},
    {.name = "observe trusts new devices (issue 13 item 3): a pending device stays pending",
     .conf = OBSERVE,
     .state = PENDING,
     .pending = 1,
     .last_ago = 60,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_PENDING,
     .flags = VF_LOG | VF_OBS,
     .updates = U_TOUCH,
     .events = ""},
    {.name = "observe trusts new devices (issue 13 item 3): a walking device, no ban written",
     .conf = OBSERVE LIMITS,
     .others = 2,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_MANY_ACCOUNTS,
     .flags = VF_LOG | VF_OBS,
     .updates = U_TOUCH,
     .events = ""},
    {.name = "observe: would deny a blocked device, allows",
     .conf = OBSERVE,
     .state = BLOCKED,
     .last_ago = 100,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_BLOCKED,
     .flags = VF_LOG | VF_OBS,
     .updates = U_TOUCH,
     .events = "denied"},
    {.name = "observe: would require a client id",
     .conf = OBSERVE "require_clientid = yes\n",
     .auth = S,
     .decision = ALLOW,
     .reason = CLIENTID_R_CLIENTID_REQUIRED,
     .flags = VF_OBS,
     .events = ""},
    {.name = "observe: a wrong password is still wrong",
     .conf = OBSERVE,
     .auth = F,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_AUTH_FAILED,
     .flags = VF_LOG,
     .updates = U_TOUCH | U_DFAIL | U_IFAIL,
     .events = ""},
    {.name = "learn: new device trusted on first use",
     .conf = LEARN,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_LEARNED,
     .flags = VF_LOG | VF_NEW,
     .updates = U_DEV | U_TOUCH,
     .events = "new_device"},
    {.name = "learn: trusted device allowed, routine touch only",
     .conf = LEARN,
     .state = TRUSTED,
     .trusted = 1,
     .last_ago = 60,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_TRUSTED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = ""},
    {.name = "learn: limit reached, new device pending and refused",
     .conf = LEARN "learn_max_devices = 2\n",
     .trusted = 2,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_LEARN_LIMIT,
     .flags = VF_LOG | VF_NEW,
     .updates = U_DEV | U_TOUCH,
     .events = "new_device"},
    {.name = "learn: pending device promoted when there is room",
     .conf = LEARN,
     .state = PENDING,
     .pending = 1,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_LEARNED,
     .flags = VF_LOG,
     .updates = U_DEV | U_TOUCH,
     .events = "new_device"},
    {.name = "learn: a host that cannot vouch for the password learns nothing (service -a misuse)",
     .conf = LEARN,
     .no_learn = 1,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_UNKNOWN_DEVICE,
     .flags = VF_LOG | VF_NEW,
     .updates = U_DEV | U_TOUCH,
     .events = "new_device"},
    {.name = "learn: no_learn leaves trusted devices alone",
     .conf = LEARN,
     .no_learn = 1,
     .state = TRUSTED,
     .last_ago = 60,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_TRUSTED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = ""},
    {.name = "learn: per-account limit overrides the site's",
     .conf = LEARN "learn_max_devices = 2\n",
     .acct_mode = -1,
     .trusted = 2,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_LEARNED,
     .flags = VF_LOG | VF_NEW,
     .updates = U_DEV | U_TOUCH,
     .events = "new_device"},
    {.name = "learn: no client id allowed",
     .conf = LEARN,
     .auth = S,
     .decision = ALLOW,
     .reason = CLIENTID_R_NO_CLIENTID_OK,
     .events = ""},
    {.name = "enforce: trusted device allowed",
     .conf = ENFORCE,
     .state = TRUSTED,
     .last_ago = 60,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_TRUSTED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = ""},
    {.name = "enforce: unknown device refused and recorded pending",
     .conf = ENFORCE,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_UNKNOWN_DEVICE,
     .flags = VF_LOG | VF_NEW,
     .updates = U_DEV | U_TOUCH,
     .events = "new_device"},
    {.name = "enforce: pending device refused, no new event",
     .conf = ENFORCE,
     .state = PENDING,
     .last_ago = 60,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_PENDING,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = ""},
    {.name = "enforce: pending full, oldest evicted",
     .conf = ENFORCE "pending_max_devices = 3\n",
     .pending = 3,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_UNKNOWN_DEVICE,
     .flags = VF_LOG | VF_NEW,
     .updates = U_DEV | U_TOUCH | U_EVICT,
     .events = "new_device"},
    {.name = "enforce: no client id allowed unless required",
     .conf = ENFORCE,
     .auth = S,
     .decision = ALLOW,
     .reason = CLIENTID_R_NO_CLIENTID_OK,
     .events = ""},
    {.name = "enforce + require_clientid: none sent, refused",
     .conf = ENFORCE "require_clientid = yes\n",
     .auth = S,
     .decision = DENY,
     .reason = CLIENTID_R_CLIENTID_REQUIRED,
     .events = ""},
    {.name = "per-account mode enforce over site learn",
     .conf = LEARN,
     .acct_mode = CLIENTID_MODE_ENFORCE + 1,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_UNKNOWN_DEVICE,
     .flags = VF_LOG | VF_NEW,
     .updates = U_DEV | U_TOUCH,
     .events = "new_device"},
    {.name = "per-account mode off over site enforce",
     .conf = ENFORCE,
     .acct_mode = CLIENTID_MODE_OFF + 1,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_POLICY_OFF,
     .flags = VF_LOG,
     .events = ""},
    {.name = "per-account require_clientid",
     .conf = LEARN,
     .acct_require = 1,
     .auth = S,
     .decision = DENY,
     .reason = CLIENTID_R_CLIENTID_REQUIRED,
     .events = ""},
    {.name = "client id without TLS counts as none",
     .conf = ENFORCE "require_clientid = on\n",
     .auth = S,
     .dev = DEV_A,
     .no_tls = 1,
     .decision = DENY,
     .reason = CLIENTID_R_CLIENTID_REQUIRED,
     .events = ""},
    {.name = NULL},
};

/* Heuristics. */
static const struct row heuristic_rows[] = {
    {.name = "device fail limit: third failure locks out",
     .conf = LEARN LIMITS,
     .dev_fails = 2,
     .auth = F,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_AUTH_FAILED,
     .flags = VF_LOG,
     .updates = U_TOUCH | U_DFAIL | U_IFAIL,
     .events = "lockout"},
    {.name = "device fail limit: locked device refused with right password",
     .conf = LEARN LIMITS,
     .dev_fails = 3,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_DEVICE_FAIL_LIMIT,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = "denied"},
    {.name = "device fail limit: another device of the same IP is not locked",
     .conf = LEARN LIMITS,
     .state = TRUSTED,
     .ip_fails = 99,
     .auth = S,
     .dev = DEV_B,
     .decision = ALLOW,
     .reason = CLIENTID_R_TRUSTED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = ""},
    {.name = "device fail limit: precheck refuses",
     .conf = LEARN LIMITS,
     .dev_fails = 3,
     .auth = P,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_DEVICE_FAIL_LIMIT,
     .flags = VF_LOG,
     .events = ""},
    /* This row expected a refusal: without an account the device may be
     * trusted where it is used, and its owner must not be refused for a
     * stolen token's failures elsewhere (issue 13 item 5). */
    {.name = "device fail limit: precheck without account leaves it to the decision",
     .conf = LEARN LIMITS,
     .dev_fails = 3,
     .auth = P,
     .dev = DEV_A,
     .no_account = 1,
     .decision = ALLOW,
     .reason = CLIENTID_R_ALLOWED,
     .flags = VF_LOG,
     .events = ""},
    {.name = "a stolen token locks out its owner (issue 13 item 5): failures elsewhere do not",
     .conf = LEARN LIMITS,
     .state = TRUSTED,
     .dev_fails = 3,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_TRUSTED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = ""},
    {.name = "a stolen token locks out its owner (issue 13 item 5): a trusted pair's own window",
     .conf = LEARN LIMITS,
     .state = TRUSTED,
     .pair_fails = 2,
     .auth = F,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_AUTH_FAILED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = "lockout"},
    {.name = "device fail limit: a trusted pair locked by its own failures",
     .conf = LEARN LIMITS,
     .state = TRUSTED,
     .pair_fails = 3,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_DEVICE_FAIL_LIMIT,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = "denied"},
    {.name = "device fail limit: precheck of a trusted pair locked by its own failures",
     .conf = LEARN LIMITS,
     .state = TRUSTED,
     .pair_fails = 3,
     .auth = P,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_DEVICE_FAIL_LIMIT,
     .flags = VF_LOG,
     .events = ""},
    {.name = "clock jump (issue 13 item 10): a window far ahead is over",
     .conf = LEARN LIMITS,
     .dev_fails = 3,
     .win_ahead = 3600,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_LEARNED,
     .flags = VF_LOG | VF_NEW,
     .updates = U_DEV | U_TOUCH,
     .events = "new_device"},
    {.name = "clock jump (issue 13 item 10): a window slightly ahead still counts",
     .conf = LEARN LIMITS,
     .dev_fails = 3,
     .win_ahead = 60,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_DEVICE_FAIL_LIMIT,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = "denied"},
    {.name = "device fail limit 0 is off",
     .conf = LEARN "[limits]\ndevice_fail_limit = 0\n",
     .state = TRUSTED,
     .dev_fails = 1000,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_TRUSTED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = ""},
    {.name = "ip fail limit: no client id, counted by IP",
     .conf = LEARN LIMITS,
     .ip_fails = 4,
     .auth = F,
     .decision = DENY,
     .reason = CLIENTID_R_AUTH_FAILED,
     .updates = U_IFAIL,
     .events = "lockout"},
    {.name = "ip fail limit: IP locked for clients without id",
     .conf = LEARN LIMITS,
     .ip_fails = 5,
     .auth = S,
     .decision = DENY,
     .reason = CLIENTID_R_IP_FAIL_LIMIT,
     .events = "denied"},
    {.name = "ip fail limit: a client with a device id is not locked by the IP",
     .conf = LEARN LIMITS,
     .state = TRUSTED,
     .ip_fails = 5,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_TRUSTED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = ""},
    /* Regression (bench/attack): a fresh random token with every attempt was
     * never limited, because only attempts without a client id counted by IP. */
    {.name = "ip fail limit: a failure of an unknown device counts by IP too",
     .conf = LEARN LIMITS,
     .ip_fails = 4,
     .auth = F,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_AUTH_FAILED,
     .flags = VF_LOG,
     .updates = U_TOUCH | U_DFAIL | U_IFAIL,
     .events = "lockout"},
    {.name = "ip fail limit: a failure of a trusted device does not count by IP",
     .conf = LEARN LIMITS,
     .state = TRUSTED,
     .ip_fails = 4,
     .auth = F,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_AUTH_FAILED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = ""},
    {.name = "ip fail limit: an unknown device from a locked IP is refused, not learned",
     .conf = LEARN LIMITS,
     .ip_fails = 5,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_IP_FAIL_LIMIT,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = "denied"},
    {.name = "ip fail limit: a pending device from a locked IP is refused",
     .conf = ENFORCE LIMITS,
     .state = PENDING,
     .ip_fails = 5,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_IP_FAIL_LIMIT,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = "denied"},
    {.name = "ip fail limit: precheck refuses an unknown device from a locked IP",
     .conf = ENFORCE LIMITS,
     .ip_fails = 5,
     .auth = P,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_IP_FAIL_LIMIT,
     .flags = VF_LOG,
     .events = ""},
    {.name = "ip fail limit: precheck without account leaves a device to the decision",
     .conf = ENFORCE LIMITS,
     .ip_fails = 5,
     .auth = P,
     .dev = DEV_A,
     .no_account = 1,
     .decision = ALLOW,
     .reason = CLIENTID_R_ALLOWED,
     .flags = VF_LOG,
     .events = ""},
    /* These two rows walked with wrong passwords; only verified ones count
     * now (issue 13 item 5). */
    {.name = "many accounts: a device verified on a third account is blocked site-wide",
     .conf = LEARN LIMITS,
     .others = 2,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_MANY_ACCOUNTS,
     .flags = VF_LOG,
     .updates = U_BAN | U_TOUCH,
     .events = "device_blocked"},
    {.name = "many accounts: a walking device is blocked while its address is locked",
     .conf = LEARN LIMITS,
     .others = 2,
     .ip_fails = 5,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_MANY_ACCOUNTS,
     .flags = VF_LOG,
     .updates = U_BAN | U_TOUCH,
     .events = "device_blocked"},
    {.name = "a stolen token bans its owner (issue 13 item 5): wrong passwords write no ban",
     .conf = LEARN LIMITS,
     .others = 2,
     .auth = F,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_AUTH_FAILED,
     .flags = VF_LOG,
     .updates = U_TOUCH | U_DFAIL | U_IFAIL,
     .events = ""},
    {.name = "a stolen token bans its owner (issue 13 item 5): an older trusted pair keeps working",
     .conf = LEARN LIMITS,
     .state = TRUSTED,
     .first_ago = 2 * 86400,
     .others = 2,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_TRUSTED,
     .flags = VF_LOG,
     .updates = U_BAN | U_TOUCH,
     .events = "device_blocked"},
    {.name = "a stolen token bans its owner (issue 13 item 5): banned, older trusted pair works",
     .conf = LEARN LIMITS,
     .state = TRUSTED,
     .first_ago = 2 * 86400,
     .banned = 1,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_TRUSTED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = ""},
    {.name = "many accounts: banned, refused where not trusted",
     .conf = LEARN LIMITS,
     .banned = 1,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_BLOCKED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = "denied"},
    {.name = "many accounts: a trusted pair learned by the walk is refused",
     .conf = LEARN LIMITS,
     .state = TRUSTED,
     .others = 2,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_MANY_ACCOUNTS,
     .flags = VF_LOG,
     .updates = U_BAN | U_TOUCH,
     .events = "device_blocked"},
    {.name = "precheck many accounts (issue 13 item 6): the count never refuses a precheck",
     .conf = LEARN LIMITS,
     .others = 2,
     .auth = P,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_ALLOWED,
     .flags = VF_LOG,
     .events = ""},
    {.name = "precheck many accounts: a banned device's precheck without account",
     .conf = LEARN LIMITS,
     .banned = 1,
     .auth = P,
     .dev = DEV_A,
     .no_account = 1,
     .decision = ALLOW,
     .reason = CLIENTID_R_ALLOWED,
     .flags = VF_LOG,
     .events = ""},
    {.name = "precheck many accounts: a banned device's precheck where not trusted",
     .conf = LEARN LIMITS,
     .banned = 1,
     .auth = P,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_BLOCKED,
     .flags = VF_LOG,
     .events = ""},
    {.name = "many accounts: second account is fine",
     .conf = LEARN LIMITS,
     .others = 1,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_LEARNED,
     .flags = VF_LOG | VF_NEW,
     .updates = U_DEV | U_TOUCH,
     .events = "new_device"},
    {.name = "banned device refused everywhere",
     .conf = LEARN LIMITS,
     .state = TRUSTED,
     .banned = 1,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_BLOCKED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = "denied"},
    {.name = "blocked on this account",
     .conf = LEARN,
     .state = BLOCKED,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_BLOCKED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = "denied"},
    {.name = "revoked token refused even when trusted",
     .conf = LEARN,
     .state = TRUSTED,
     .revoked = 1,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_REVOKED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = "denied"},
    {.name = "revoked token: precheck refuses",
     .conf = LEARN,
     .revoked = 1,
     .auth = P,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_REVOKED,
     .flags = VF_LOG,
     .events = ""},
    {.name = "type deny list",
     .conf = LEARN "[types]\ndeny = COOKIE\n",
     .auth = S,
     .dev = DEV_A,
     .type = "cookie",
     .decision = DENY,
     .reason = CLIENTID_R_TYPE_DENIED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = "denied"},
    {.name = "type allow list: other types count as none",
     .conf = LEARN "[types]\nallow = UUID\n",
     .auth = S,
     .dev = DEV_A,
     .type = "TBIRD",
     .decision = ALLOW,
     .reason = CLIENTID_R_NO_CLIENTID_OK,
     .events = ""},
    {.name = "type allow list: listed type used",
     .conf = LEARN "[types]\nallow = uuid\n",
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_LEARNED,
     .flags = VF_LOG | VF_NEW,
     .updates = U_DEV | U_TOUCH,
     .events = "new_device"},
    {.name = "under attack: unknown device refused",
     .conf = LEARN,
     .attack_for = 60,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_UNDER_ATTACK,
     .flags = VF_LOG | VF_ATTACK,
     .updates = U_TOUCH,
     .events = "denied"},
    {.name = "under attack: no client id refused",
     .conf = LEARN,
     .attack_for = 60,
     .auth = S,
     .decision = DENY,
     .reason = CLIENTID_R_UNDER_ATTACK,
     .flags = VF_ATTACK,
     .events = "denied"},
    {.name = "under attack: trusted device allowed",
     .conf = LEARN,
     .attack_for = 60,
     .state = TRUSTED,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_TRUSTED,
     .flags = VF_LOG | VF_ATTACK,
     .updates = U_TOUCH,
     .events = ""},
    {.name = "under attack precheck without account (issue 13 item 6): left to the decision",
     .conf = LEARN,
     .attack_for = 100,
     .auth = P,
     .dev = DEV_A,
     .no_account = 1,
     .decision = ALLOW,
     .reason = CLIENTID_R_ALLOWED,
     .flags = VF_LOG | VF_ATTACK,
     .events = ""},
    {.name = "under attack precheck without account (issue 13 item 6): no client id either",
     .conf = LEARN,
     .attack_for = 100,
     .auth = P,
     .no_account = 1,
     .decision = ALLOW,
     .reason = CLIENTID_R_ALLOWED,
     .flags = VF_ATTACK,
     .events = ""},
    {.name = "under attack: precheck with an account refuses an unknown device",
     .conf = LEARN,
     .attack_for = 100,
     .auth = P,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_UNDER_ATTACK,
     .flags = VF_LOG | VF_ATTACK,
     .events = ""},
    {.name = "clock jump (issue 13 item 10): attack_until beyond its duration is over",
     .conf = LEARN,
     .attack_for = 900 + 301,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_LEARNED,
     .flags = VF_LOG | VF_NEW,
     .updates = U_DEV | U_TOUCH,
     .events = "new_device"},
    {.name = "clock jump: attack_until within its duration and the margin holds",
     .conf = LEARN,
     .attack_for = 900 + 300,
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_UNDER_ATTACK,
     .flags = VF_LOG | VF_ATTACK,
     .updates = U_TOUCH,
     .events = "denied"},
    {.name = "under attack: over",
     .conf = LEARN,
     .attack_for = -1,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_LEARNED,
     .flags = VF_LOG | VF_NEW,
     .updates = U_DEV | U_TOUCH,
     .events = "new_device"},
    {.name = "under attack: the threshold failure starts it",
     .conf = LEARN "[attack]\nfail_threshold = 100\n",
     .site_fails = 99,
     .auth = F,
     .decision = DENY,
     .reason = CLIENTID_R_AUTH_FAILED,
     .updates = U_IFAIL | U_SFAIL | U_ATTACK,
     .events = "under_attack"},
    {.name = "under attack: below the threshold",
     .conf = LEARN "[attack]\nfail_threshold = 100\n",
     .site_fails = 98,
     .auth = F,
     .decision = DENY,
     .reason = CLIENTID_R_AUTH_FAILED,
     .updates = U_IFAIL | U_SFAIL,
     .events = ""},
    {.name = "travel: distant network within the window is flagged",
     .conf = LEARN "[travel]\nwindow = 10m\n",
     .state = TRUSTED,
     .last_ago = 120,
     .last_ip = "198.51.100.7",
     .auth = S,
     .dev = DEV_A,
     .ip = "203.0.113.9",
     .decision = ALLOW,
     .reason = CLIENTID_R_TRUSTED,
     .flags = VF_LOG | VF_TRAVEL,
     .updates = U_TOUCH,
     .events = "travel"},
    {.name = "travel: action deny refuses",
     .conf = LEARN "[travel]\nwindow = 10m\naction = deny\n",
     .state = TRUSTED,
     .last_ago = 120,
     .last_ip = "198.51.100.7",
     .auth = S,
     .dev = DEV_A,
     .ip = "203.0.113.9",
     .decision = DENY,
     .reason = CLIENTID_R_TRAVEL,
     .flags = VF_LOG | VF_TRAVEL,
     .updates = U_TOUCH,
     .events = "travel"},
    {.name = "travel evaded by a failure first (issue 13 item 9): the last success counts",
     .conf = LEARN "[travel]\nwindow = 10m\naction = deny\n",
     .state = TRUSTED,
     .last_ago = 60,
     .last_ip = "203.0.113.5",
     .ok_ago = 120,
     .ok_ip = "198.51.100.7",
     .auth = S,
     .dev = DEV_A,
     .ip = "203.0.113.9",
     .decision = DENY,
     .reason = CLIENTID_R_TRAVEL,
     .flags = VF_LOG | VF_TRAVEL,
     .updates = U_TOUCH,
     .events = "travel"},
    {.name = "travel evaded by a failure first (issue 13 item 9): no denial for the owner",
     .conf = LEARN "[travel]\nwindow = 10m\naction = deny\n",
     .state = TRUSTED,
     .last_ago = 60,
     .last_ip = "203.0.113.5",
     .ok_ago = 120,
     .ok_ip = "198.51.100.7",
     .auth = S,
     .dev = DEV_A,
     .ip = "198.51.100.9",
     .decision = ALLOW,
     .reason = CLIENTID_R_TRUSTED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = ""},
    {.name = "travel: never allowed before, nothing to compare",
     .conf = LEARN "[travel]\nwindow = 10m\naction = deny\n",
     .state = TRUSTED,
     .last_ago = 60,
     .last_ip = "203.0.113.5",
     .ok_ago = -1,
     .auth = S,
     .dev = DEV_A,
     .ip = "198.51.100.9",
     .decision = ALLOW,
     .reason = CLIENTID_R_TRUSTED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = ""},
    {.name = "travel: same /16 is near",
     .conf = LEARN "[travel]\nwindow = 10m\naction = deny\n",
     .state = TRUSTED,
     .last_ago = 120,
     .last_ip = "198.51.100.7",
     .auth = S,
     .dev = DEV_A,
     .ip = "198.51.3.9",
     .decision = ALLOW,
     .reason = CLIENTID_R_TRUSTED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = ""},
    {.name = "travel: outside the window",
     .conf = LEARN "[travel]\nwindow = 10m\naction = deny\n",
     .state = TRUSTED,
     .last_ago = 601,
     .last_ip = "198.51.100.7",
     .auth = S,
     .dev = DEV_A,
     .ip = "203.0.113.9",
     .decision = ALLOW,
     .reason = CLIENTID_R_TRUSTED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = ""},
    {.name = "travel: IPv6 /32",
     .conf = LEARN "[travel]\nwindow = 10m\naction = deny\n",
     .state = TRUSTED,
     .last_ago = 10,
     .last_ip = "2001:db8:1::1",
     .auth = S,
     .dev = DEV_A,
     .ip = "2001:db9::1",
     .decision = DENY,
     .reason = CLIENTID_R_TRAVEL,
     .flags = VF_LOG | VF_TRAVEL,
     .updates = U_TOUCH,
     .events = "travel"},
    {.name = "travel: family change is not travel",
     .conf = LEARN "[travel]\nwindow = 10m\naction = deny\n",
     .state = TRUSTED,
     .last_ago = 10,
     .last_ip = "2001:db8:1::1",
     .auth = S,
     .dev = DEV_A,
     .ip = "203.0.113.9",
     .decision = ALLOW,
     .reason = CLIENTID_R_TRUSTED,
     .flags = VF_LOG,
     .updates = U_TOUCH,
     .events = ""},
    {.name = NULL},
};

/* The drafts' per-type handling. */
static const struct row handling_rows[] = {
    {.name = "handling ignore: as if not sent",
     .conf = ENFORCE "require_clientid = yes\n[type UUID]\nhandling = ignore\n",
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_CLIENTID_REQUIRED,
     .events = ""},
    /* Issue 13 item 4: this row expected the session-only id to satisfy
     * require_clientid (allow, no_clientid). */
    {.name = "handling session: kept out of the history, and no client id for require_clientid",
     .conf = ENFORCE "require_clientid = yes\n[type UUID]\nhandling = session\n",
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_CLIENTID_REQUIRED,
     .events = ""},
    {.name = "a type without auth handling satisfies require_clientid (issue 13 item 4)",
     .conf = ENFORCE "require_clientid = yes\n[type UUID]\nhandling = syslog\n",
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_CLIENTID_REQUIRED,
     .flags = VF_LOG,
     .events = ""},
    {.name = "require_clientid: a default_handling without auth does not satisfy it",
     .conf = LEARN "require_clientid = yes\n[types]\ndefault_handling = syslog\n",
     .auth = S,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_CLIENTID_REQUIRED,
     .flags = VF_LOG,
     .events = ""},
    {.name = "handling syslog only: logged, not used",
     .conf = ENFORCE "[type UUID]\nhandling = syslog\n",
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_NO_CLIENTID_OK,
     .flags = VF_LOG,
     .events = ""},
    {.name = "handling auth without syslog",
     .conf = LEARN "[type UUID]\nhandling = auth\n",
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_LEARNED,
     .flags = VF_NEW,
     .updates = U_DEV | U_TOUCH,
     .events = "new_device"},
    {.name = "handling alert-success",
     .conf = LEARN "[type UUID]\nhandling = auth alert-success\n",
     .state = TRUSTED,
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_TRUSTED,
     .updates = U_TOUCH,
     .events = "alert_success"},
    {.name = "handling alert-failure",
     .conf = LEARN "[type UUID]\nhandling = auth alert-failure\n",
     .state = TRUSTED,
     .auth = F,
     .dev = DEV_A,
     .decision = DENY,
     .reason = CLIENTID_R_AUTH_FAILED,
     .updates = U_TOUCH,
     .events = "alert_failure"},
    {.name = "handling of another type does not apply",
     .conf = LEARN "[type COOKIE]\nhandling = ignore\n",
     .auth = S,
     .dev = DEV_A,
     .decision = ALLOW,
     .reason = CLIENTID_R_LEARNED,
     .flags = VF_LOG | VF_NEW,
     .updates = U_DEV | U_TOUCH,
     .events = "new_device"},
    {.name = NULL},
};

static struct clientid_fp fp_of(int dev)
{
	struct clientid_fp fp;
	memset(&fp, dev == DEV_A ? 0xa1 : 0xb2, sizeof(fp));
	return fp;
}

static void run_row(const struct row *r)
{
	struct clientid_config cfg;
	char err[CLIENTID_ERRBUF_SIZE];
	if (clientid_config_load_string("row.conf", r->conf, &cfg, err) != 0) {
		fprintf(stderr, "%s: %s\n", r->name, err);
		CU_FAIL_FATAL("row configuration");
	}
	struct clientid_history h;
	memset(&h, 0, sizeof(h));
	h.policy = (struct clientid_account_policy)CLIENTID_ACCOUNT_POLICY_DEFAULT;
	if (r->acct_mode > 0)
		h.policy.mode = r->acct_mode - 1;
	if (r->acct_mode == -1)
		h.policy.learn_max_devices = 5;
	if (r->acct_require != 0)
		h.policy.require_clientid = r->acct_require;
	if (r->state != 0) {
		h.have |= CLIENTID_HAVE_DEVICE;
		h.device.state = (enum clientid_device_state)r->state;
		snprintf(h.device.type, sizeof(h.device.type), "UUID");
		h.device.first_seen = NOW - (r->first_ago != 0 ? r->first_ago : 1000);
		h.device.seen_day = NOW - 1000;
	}
	if (r->last_ago > 0) {
		h.have |= CLIENTID_HAVE_TOUCH;
		h.device.last_seen = NOW - (unsigned)r->last_ago;
		CU_ASSERT_EQUAL_FATAL(
		    clientid_ip_parse(r->last_ip ? r->last_ip : "192.0.2.1", &h.device.last_ip), 0);
		h.device.last_ok_ip = h.device.last_ip;
		if (r->ok_ip != NULL)
			CU_ASSERT_EQUAL_FATAL(clientid_ip_parse(r->ok_ip, &h.device.last_ok_ip), 0);
		if (r->ok_ago >= 0)
			h.device.last_ok =
			    NOW - (unsigned)(r->ok_ago > 0 ? r->ok_ago : r->last_ago);
		h.device.last_verified = h.device.last_ok;
	}
	if (r->pair_fails > 0) {
		h.have |= CLIENTID_HAVE_TOUCH;
		h.device.pair_fail = (struct clientid_window){NOW - 10, r->pair_fails};
	}
	h.trusted_count = r->trusted;
	h.pending_count = r->pending;
	if (r->pending > 0) {
		h.have |= CLIENTID_HAVE_OLDEST_PENDING;
		h.oldest_pending = fp_of(DEV_B);
	}
	h.device_accounts = r->others;
	h.revoked = r->revoked;
	h.banned = r->banned;
	if (r->banned)
		h.ban_time = NOW - 10;
	uint32_t start = r->win_ahead > 0 ? NOW + r->win_ahead : NOW - 10;
	h.dev_fail = (struct clientid_window){start, r->dev_fails};
	h.ip_fail = (struct clientid_window){start, r->ip_fails};
	h.site_fail = (struct clientid_window){start, r->site_fails};
	if (r->attack_for != 0)
		h.attack_until = (uint32_t)((int)NOW + r->attack_for);

	struct clientid_fp fp = fp_of(r->dev);
	struct clientid_attempt a = {
	    .account = r->no_account ? NULL : "alice@example.org",
	    .protocol = CLIENTID_PROTO_IMAP,
	    .type = r->dev != NO_ID ? (r->type ? r->type : "UUID") : NULL,
	    .fp = r->dev != NO_ID ? &fp : NULL,
	    .tls = !r->no_tls,
	    .auth = r->auth,
	    .now = NOW,
	    .no_learn = r->no_learn,
	};
	CU_ASSERT_EQUAL_FATAL(clientid_ip_parse(r->ip ? r->ip : "192.0.2.1", &a.ip), 0);

	struct clientid_outcome out;
	CU_ASSERT_EQUAL_FATAL(clientid_policy_decide(&cfg, &a, &h, &out), 0);
	char events[128] = "";
	for (unsigned i = 0; i < out.n_events; i++)
		snprintf(events + strlen(events), sizeof(events) - strlen(events), "%s%s",
		         i ? "," : "", clientid_event_kind_name(out.events[i].kind));
	int ok = out.verdict.decision == r->decision && out.verdict.reason == r->reason &&
	         out.verdict.flags == r->flags && out.updates == r->updates &&
	         strcmp(events, r->events) == 0;
	if (!ok)
		fprintf(stderr,
		        "\nrow '%s': got %s/%s flags %#x updates %#x events '%s'; "
		        "want %s/%s flags %#x updates %#x events '%s'\n",
		        r->name, clientid_decision_name(out.verdict.decision),
		        clientid_reason_name(out.verdict.reason), out.verdict.flags, out.updates,
		        events, clientid_decision_name(r->decision),
		        clientid_reason_name(r->reason), r->flags, r->updates, r->events);
	CU_ASSERT(ok);
	/* The routine part always carries the attempt when the device is used. */
	if ((out.updates & U_TOUCH) != 0) {
		CU_ASSERT_EQUAL(out.device.last_seen, NOW);
		CU_ASSERT_EQUAL(out.device.successes + out.device.failures, 1);
	}
	/* A precheck never writes. */
	if (r->auth == P)
		CU_ASSERT(out.updates == 0 && out.n_events == 0);
}

static void run_rows(const struct row *rows)
{
	for (const struct row *r = rows; r->name != NULL; r++)
		run_row(r);
}

static void test_modes(void)
{
	run_rows(mode_rows);
}

static void test_heuristics(void)
{
	run_rows(heuristic_rows);
}

static void test_handling(void)
{
	run_rows(handling_rows);
}

static void test_windows_expire(void)
{
	struct clientid_config cfg;
	char err[CLIENTID_ERRBUF_SIZE];
	CU_ASSERT_EQUAL_FATAL(clientid_config_load_string("w", LEARN LIMITS, &cfg, err), 0);
	struct clientid_history h;
	memset(&h, 0, sizeof(h));
	h.policy = (struct clientid_account_policy)CLIENTID_ACCOUNT_POLICY_DEFAULT;
	h.dev_fail = (struct clientid_window){NOW - cfg.device_fail_window, 99};
	struct clientid_fp fp = fp_of(DEV_A);
	struct clientid_attempt a = {
	    .account = "bob", .type = "UUID", .fp = &fp, .tls = 1, .auth = F, .now = NOW};
	struct clientid_outcome out;
	CU_ASSERT_EQUAL(clientid_policy_decide(&cfg, &a, &h, &out), 0);
	/* The old window is over: this failure starts a new one. */
	CU_ASSERT_EQUAL(out.dev_fail.start, NOW);
	CU_ASSERT_EQUAL(out.dev_fail.count, 1);
	CU_ASSERT_EQUAL(out.verdict.reason, CLIENTID_R_AUTH_FAILED);
}

static void test_durable(void)
{
	struct clientid_outcome out;
	memset(&out, 0, sizeof(out));
	out.updates = U_TOUCH | U_DFAIL | U_IFAIL | U_SFAIL | U_ATTACK;
	CU_ASSERT_FALSE(clientid_outcome_is_durable(&out));
	out.updates |= U_DEV;
	CU_ASSERT_TRUE(clientid_outcome_is_durable(&out));
	out.updates = 0;
	out.n_events = 1;
	CU_ASSERT_TRUE(clientid_outcome_is_durable(&out));
}

static void test_bad_attempts(void)
{
	struct clientid_config cfg;
	clientid_config_defaults(&cfg);
	struct clientid_history h;
	memset(&h, 0, sizeof(h));
	struct clientid_fp fp = fp_of(DEV_A);
	char long_account[CLIENTID_ACCOUNT_MAX + 2];
	memset(long_account, 'a', sizeof(long_account) - 1);
	long_account[sizeof(long_account) - 1] = '\0';
	const struct clientid_attempt bad[] = {
	    {.account = NULL, .auth = S},
	    {.account = "", .auth = S},
	    {.account = long_account, .auth = S},
	    {.account = "a\nb", .auth = S},
	    {.account = "a", .type = "UUID", .fp = NULL, .auth = S},
	    {.account = "a", .type = NULL, .fp = &fp, .auth = S},
	    {.account = "a", .type = "U_U", .fp = &fp, .auth = S},
	    {.account = "a", .auth = (enum clientid_auth)9},
	};
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		struct clientid_outcome out;
		CU_ASSERT_EQUAL(clientid_policy_decide(&cfg, &bad[i], &h, &out), CLIENTID_E_INVAL);
		CU_ASSERT_EQUAL(out.verdict.decision, CLIENTID_DENY);
		CU_ASSERT_EQUAL(out.updates, 0);
	}
}

static void test_names(void)
{
	for (int r = 0; r < CLIENTID_R_COUNT_; r++) {
		const char *name = clientid_reason_name((enum clientid_reason)r);
		CU_ASSERT(strcmp(name, "unknown") != 0);
		for (int o = 0; o < r; o++)
			CU_ASSERT_STRING_NOT_EQUAL(name,
			                           clientid_reason_name((enum clientid_reason)o));
	}
	for (int k = 1; k < CLIENTID_EV_COUNT_; k++)
		CU_ASSERT(
		    strcmp(clientid_event_kind_name((enum clientid_event_kind)k), "unknown") != 0);
	for (int k = 1; k < CLIENTID_ADMIN_COUNT_; k++)
		CU_ASSERT(strcmp(clientid_admin_action_name((enum clientid_admin_action)k),
		                 "unknown") != 0);
	CU_ASSERT_STRING_EQUAL(clientid_reason_name(CLIENTID_R_COUNT_), "unknown");
	/* observe mode's log text (issue 13 item 3) */
	char buf[CLIENTID_OBSERVED_TEXT_MAX];
	struct clientid_verdict v = {.decision = CLIENTID_ALLOW,
	                             .reason = CLIENTID_R_UNKNOWN_DEVICE};
	CU_ASSERT_STRING_EQUAL(clientid_verdict_observed(&v, buf), "");
	v.flags = CLIENTID_VF_OBSERVED;
	CU_ASSERT_STRING_EQUAL(clientid_verdict_observed(&v, buf),
	                       " observed would=deny reason=device_unknown");
	enum clientid_device_state st;
	CU_ASSERT_EQUAL(clientid_device_state_parse("Trusted", &st), 0);
	CU_ASSERT_EQUAL(st, CLIENTID_DEV_TRUSTED);
	CU_ASSERT_EQUAL(clientid_device_state_parse("gone", &st), CLIENTID_E_INVAL);
}

static void test_ip(void)
{
	static const struct {
		const char *in, *out;
		int family;
	} cases[] = {
	    {"192.0.2.1", "192.0.2.1", 4},
	    {"::ffff:192.0.2.1", "192.0.2.1", 4},
	    {"2001:db8::1", "2001:db8::1", 6},
	    {"::1", "::1", 6},
	    {"192.0.2.256", NULL, 0},
	    {"[::1]", NULL, 0},
	    {"", NULL, 0},
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct clientid_ip ip;
		int ret = clientid_ip_parse(cases[i].in, &ip);
		if (cases[i].out == NULL) {
			CU_ASSERT_EQUAL(ret, CLIENTID_E_INVAL);
			continue;
		}
		CU_ASSERT_EQUAL_FATAL(ret, 0);
		CU_ASSERT_EQUAL(ip.family, cases[i].family);
		char text[CLIENTID_IP_STR_MAX];
		clientid_ip_format(&ip, text);
		CU_ASSERT_STRING_EQUAL(text, cases[i].out);
	}
}

static void collect_warning(void *ctx, const char *msg)
{
	char *buf = ctx;
	snprintf(buf + strlen(buf), 512 - strlen(buf), "%s\n", msg);
}

/* Issue 13 item 4: a type without auth handling never satisfies
 * require_clientid; loading such settings says so. */
static void test_contradictions(void)
{
	static const struct {
		const char *conf;
		unsigned n;
		const char *names; /* in the messages */
	} cases[] = {
	    {"[policy]\nrequire_clientid = yes\n", 0, ""},
	    {"[policy]\nrequire_clientid = no\n[type X]\nhandling = syslog\n", 0, ""},
	    {"[policy]\nrequire_clientid = yes\n[type X]\nhandling = syslog\n", 1,
	     "[type X] handling"},
	    {"[policy]\nrequire_clientid = yes\n[types]\ndefault_handling = syslog\n", 1,
	     "[types] default_handling"},
	    {"[policy]\nrequire_clientid = yes\n[type Y]\nhandling = auth\n", 0, ""},
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct clientid_config cfg;
		char err[CLIENTID_ERRBUF_SIZE], got[512] = "";
		CU_ASSERT_EQUAL_FATAL(clientid_config_load_string("c", cases[i].conf, &cfg, err),
		                      0);
		CU_ASSERT_EQUAL(clientid_config_contradictions(&cfg, collect_warning, got),
		                cases[i].n);
		CU_ASSERT_PTR_NOT_NULL(strstr(got, cases[i].names));
		if (cases[i].n > 0)
			CU_ASSERT_PTR_NOT_NULL(strstr(got, "require_clientid"));
	}
}

void register_policy(void);
void register_policy(void)
{
	static const struct unit_test tests[] = {
	    {"modes", test_modes},
	    {"heuristics", test_heuristics},
	    {"per-type handling", test_handling},
	    {"windows expire", test_windows_expire},
	    {"durable outcomes", test_durable},
	    {"malformed attempts", test_bad_attempts},
	    {"names", test_names},
	    {"addresses", test_ip},
	    {"contradictory settings warn (issue 13 item 4)", test_contradictions},
	    {NULL, NULL},
	};
	unit_add_suite("policy", tests);
}
