/* Events as JSON (json-c), for alert_command and clientidctl, and the
 * small helpers that export shares. */
#include "policydb-private.h"

#include <json-c/json.h>
#include <string.h>

void pdb_json_add_str(json_object *o, const char *key, const char *val)
{
	json_object_object_add(o, key, json_object_new_string(val));
}

void pdb_json_add_int(json_object *o, const char *key, int64_t val)
{
	json_object_object_add(o, key, json_object_new_int64(val));
}

static int render(json_object *o, char *buf, size_t size)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t n = s != NULL ? strlen(s) : 0;
	int ret = s == NULL || n + 1 > size ? CLIENTID_E_NOMEM : (int)n;
	if (ret >= 0)
		memcpy(buf, s, n + 1);
	json_object_put(o);
	return ret;
}

int policydb_event_json(const struct clientid_event *ev, char *buf, size_t size)
{
	json_object *o = json_object_new_object();
	if (o == NULL)
		return CLIENTID_E_NOMEM;
	pdb_json_add_int(o, "seq", (int64_t)ev->seq);
	pdb_json_add_int(o, "time", ev->time);
	pdb_json_add_str(o, "event", clientid_event_kind_name(ev->kind));
	if (ev->kind == CLIENTID_EV_ADMIN) {
		pdb_json_add_str(o, "action", clientid_admin_action_name(ev->reason));
	} else {
		pdb_json_add_str(o, "reason", clientid_reason_name(ev->reason));
		pdb_json_add_str(o, "decision", clientid_decision_name(ev->decision));
		pdb_json_add_str(o, "protocol", clientid_protocol_name(ev->protocol));
	}
	if (ev->account[0] != '\0')
		pdb_json_add_str(o, "account", ev->account);
	if ((ev->flags & CLIENTID_EVF_FP) != 0) {
		char hex[CLIENTID_FP_HEX_LEN + 1], s[CLIENTID_FP_SHORT_LEN + 1];
		clientid_fp_hex(&ev->fp, hex);
		clientid_fp_short(&ev->fp, s);
		pdb_json_add_str(o, "device", s);
		pdb_json_add_str(o, "fingerprint", hex);
		if (ev->type[0] != '\0')
			pdb_json_add_str(o, "type", ev->type);
	}
	if (ev->ip.family != 0) {
		char ip[CLIENTID_IP_STR_MAX];
		clientid_ip_format(&ev->ip, ip);
		pdb_json_add_str(o, "ip", ip);
	}
	if ((ev->flags & CLIENTID_EVF_OBSERVE) != 0)
		json_object_object_add(o, "observe_only", json_object_new_boolean(1));
	if ((ev->flags & CLIENTID_EVF_USER) != 0)
		json_object_object_add(o, "user_visible", json_object_new_boolean(1));
	return render(o, buf, size);
}
