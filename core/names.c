/* The policy's words and values as text: reasons, decisions, events,
 * administrative actions, device states and protocols (for logs, events
 * and clientidctl), and addresses. */
#include "clientid-policy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static const char *const reason_names[CLIENTID_R_COUNT_] = {
    [CLIENTID_R_ALLOWED] = "allowed",
    [CLIENTID_R_POLICY_OFF] = "policy_off",
    [CLIENTID_R_TRUSTED] = "trusted_device",
    [CLIENTID_R_LEARNED] = "device_learned",
    [CLIENTID_R_NO_CLIENTID_OK] = "no_clientid",
    [CLIENTID_R_AUTH_FAILED] = "auth_failed",
    [CLIENTID_R_CLIENTID_REQUIRED] = "clientid_required",
    [CLIENTID_R_TYPE_DENIED] = "type_denied",
    [CLIENTID_R_REVOKED] = "token_revoked",
    [CLIENTID_R_BLOCKED] = "device_blocked",
    [CLIENTID_R_DEVICE_FAIL_LIMIT] = "device_fail_limit",
    [CLIENTID_R_IP_FAIL_LIMIT] = "ip_fail_limit",
    [CLIENTID_R_MANY_ACCOUNTS] = "device_many_accounts",
    [CLIENTID_R_TRAVEL] = "impossible_travel",
    [CLIENTID_R_UNDER_ATTACK] = "under_attack",
    [CLIENTID_R_UNKNOWN_DEVICE] = "device_unknown",
    [CLIENTID_R_PENDING] = "device_pending",
    [CLIENTID_R_LEARN_LIMIT] = "learn_limit",
    [CLIENTID_R_STORE_ERROR] = "store_error",
};

static const char *const event_names[CLIENTID_EV_COUNT_] = {
    [CLIENTID_EV_NEW_DEVICE] = "new_device",
    [CLIENTID_EV_DENIED] = "denied",
    [CLIENTID_EV_LOCKOUT] = "lockout",
    [CLIENTID_EV_DEVICE_BLOCKED] = "device_blocked",
    [CLIENTID_EV_TRAVEL] = "travel",
    [CLIENTID_EV_ATTACK] = "under_attack",
    [CLIENTID_EV_ALERT_SUCCESS] = "alert_success",
    [CLIENTID_EV_ALERT_FAILURE] = "alert_failure",
    [CLIENTID_EV_ADMIN] = "admin",
};

static const char *const admin_names[CLIENTID_ADMIN_COUNT_] = {
    [CLIENTID_ADMIN_APPROVE] = "approve", [CLIENTID_ADMIN_BLOCK] = "block",
    [CLIENTID_ADMIN_FORGET] = "forget",   [CLIENTID_ADMIN_REGISTER] = "register",
    [CLIENTID_ADMIN_REVOKE] = "revoke",   [CLIENTID_ADMIN_UNREVOKE] = "unrevoke",
    [CLIENTID_ADMIN_POLICY] = "policy",   [CLIENTID_ADMIN_IMPORT] = "import",
    [CLIENTID_ADMIN_LABEL] = "label",     [CLIENTID_ADMIN_UNLOCK] = "unlock",
};

static const char *const state_names[] = {NULL, "pending", "trusted", "blocked"};
static const char *const protocol_names[] = {"none", "imap", "smtp", "other"};
static const char *const decision_names[] = {"allow", "deny", "tempfail"};

const char *clientid_reason_name(enum clientid_reason reason)
{
	if ((unsigned)reason >= CLIENTID_R_COUNT_)
		return "unknown";
	return reason_names[reason];
}

const char *clientid_decision_name(enum clientid_decision decision)
{
	if ((unsigned)decision > CLIENTID_TEMPFAIL)
		return "unknown";
	return decision_names[decision];
}

const char *clientid_verdict_observed(const struct clientid_verdict *v,
                                      char buf[CLIENTID_OBSERVED_TEXT_MAX])
{
	buf[0] = '\0';
	if ((v->flags & CLIENTID_VF_OBSERVED) != 0)
		snprintf(buf, CLIENTID_OBSERVED_TEXT_MAX, " observed would=%s reason=%s",
		         clientid_decision_name(CLIENTID_DENY), clientid_reason_name(v->reason));
	return buf;
}

const char *clientid_event_kind_name(enum clientid_event_kind kind)
{
	if ((unsigned)kind >= CLIENTID_EV_COUNT_ || event_names[kind] == NULL)
		return "unknown";
	return event_names[kind];
}

const char *clientid_admin_action_name(enum clientid_admin_action action)
{
	if ((unsigned)action >= CLIENTID_ADMIN_COUNT_ || admin_names[action] == NULL)
		return "unknown";
	return admin_names[action];
}

const char *clientid_device_state_name(enum clientid_device_state state)
{
	if (state < CLIENTID_DEV_PENDING || state > CLIENTID_DEV_BLOCKED)
		return "unknown";
	return state_names[state];
}

int clientid_device_state_parse(const char *name, enum clientid_device_state *state_r)
{
	for (int s = CLIENTID_DEV_PENDING; s <= CLIENTID_DEV_BLOCKED; s++) {
		if (strcasecmp(name, state_names[s]) == 0) {
			*state_r = (enum clientid_device_state)s;
			return 0;
		}
	}
	return CLIENTID_E_INVAL;
}

const char *clientid_protocol_name(enum clientid_protocol protocol)
{
	if ((unsigned)protocol > CLIENTID_PROTO_OTHER)
		return "unknown";
	return protocol_names[protocol];
}

int clientid_ip_parse(const char *text, struct clientid_ip *ip_r)
{
	struct clientid_ip ip;
	memset(&ip, 0, sizeof(ip));
	if (inet_pton(AF_INET, text, ip.addr) == 1) {
		ip.family = 4;
	} else if (inet_pton(AF_INET6, text, ip.addr) == 1) {
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		ip.family = 6;
		if (memcmp(ip.addr, mapped, sizeof(mapped)) == 0) {
			memmove(ip.addr, ip.addr + 12, 4);
			memset(ip.addr + 4, 0, 12);
			ip.family = 4;
		}
	} else {
		return CLIENTID_E_INVAL;
	}
	*ip_r = ip;
	return 0;
}

void clientid_ip_format(const struct clientid_ip *ip, char out[CLIENTID_IP_STR_MAX])
{
	out[0] = '\0';
	if (ip->family == 4)
		inet_ntop(AF_INET, ip->addr, out, CLIENTID_IP_STR_MAX);
	else if (ip->family == 6)
		inet_ntop(AF_INET6, ip->addr, out, CLIENTID_IP_STR_MAX);
}
