/* Reading Dovecot's auth-policy request: the JSON body (Dovecot's own
 * parser), its mapping onto a login, the query's command and the API key. */
#include "lib.h"
#include "istream.h"
#include "json-parser.h"
#include "safe-memset.h"
#include "strfuncs.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "clientid.h"
#include "policy-body.h"

static void policy_copy(char *dst, size_t dst_size, const char *src)
{
	size_t len = strlen(src);

	/* a key given twice must leave nothing of its longer value behind
	   (the token is wiped up to its NUL) */
	memset(dst, 0, dst_size);
	/* one byte more than the field may hold is kept, so that an
	   overlong value is seen as such and refused, never cut */
	if (len > dst_size - 1)
		len = dst_size - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* The body's members, by key: booleans, and strings copied into the body
 * (setting a have_ flag when not empty). */
#define BODY_FIELD(name) offsetof(struct policy_body, name), sizeof(((struct policy_body *)0)->name)
static const struct {
	const char *key;
	size_t off, size;
	size_t have_off; /* 0: none */
} policy_body_strings[] = {
    {KEY_ACCOUNT, BODY_FIELD(account), offsetof(struct policy_body, have_account)},
    {KEY_LOGIN, BODY_FIELD(login), offsetof(struct policy_body, have_login)},
    {KEY_REMOTE, BODY_FIELD(remote), 0},
    {KEY_PROTO, BODY_FIELD(protocol), 0},
    {KEY_TYPE, BODY_FIELD(type), offsetof(struct policy_body, have_type)},
    {KEY_TOKEN, BODY_FIELD(token), offsetof(struct policy_body, have_token)},
};
static const struct {
	const char *key;
	size_t off;
} policy_body_bools[] = {
    {KEY_TLS, offsetof(struct policy_body, tls)},
    {KEY_SUCCESS, offsetof(struct policy_body, success)},
    {KEY_REJECT, offsetof(struct policy_body, policy_reject)},
};

static void policy_body_set(struct policy_body *b, const char *key, enum json_type type,
                            const char *value)
{
	char *base = (char *)b;
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(policy_body_bools); i++) {
		if (strcmp(key, policy_body_bools[i].key) == 0) {
			*(int *)(base + policy_body_bools[i].off) = type == JSON_TYPE_TRUE;
			return;
		}
	}
	if (type != JSON_TYPE_STRING)
		return;
	for (i = 0; i < N_ELEMENTS(policy_body_strings); i++) {
		if (strcmp(key, policy_body_strings[i].key) == 0) {
			policy_copy(base + policy_body_strings[i].off, policy_body_strings[i].size,
			            value);
			if (policy_body_strings[i].have_off != 0)
				*(int *)(base + policy_body_strings[i].have_off) = value[0] != '\0';
			return;
		}
	}
	if (strcmp(key, KEY_PHASE) == 0) {
		b->have_phase = 1;
		b->phase_verified = strcmp(value, PHASE_VERIFIED) == 0;
	}
}

int policy_body_parse(const void *data, size_t size, struct policy_body *b, const char **error_r)
{
	struct istream *input = i_stream_create_from_data(data, size);
	struct json_parser *parser = json_parser_init(input);
	enum json_type type;
	const char *value, *error;
	char outer[64] = "", key[160] = "";
	unsigned depth = 0, arrays = 0;
	int ret;

	i_zero(b);
	while ((ret = json_parse_next(parser, &type, &value)) > 0) {
		switch (type) {
		case JSON_TYPE_OBJECT_KEY:
			if (depth == 0)
				i_snprintf(key, sizeof(key), "%s", value);
			else
				i_snprintf(key, sizeof(key), "%s/%s", outer, value);
			break;
		case JSON_TYPE_OBJECT:
			if (depth == 0)
				i_snprintf(outer, sizeof(outer), "%s", key);
			depth++;
			break;
		case JSON_TYPE_OBJECT_END:
			if (depth > 0)
				depth--;
			break;
		case JSON_TYPE_ARRAY:
			/* Dovecot sends none; what is inside is ignored */
			arrays++;
			break;
		case JSON_TYPE_ARRAY_END:
			if (arrays > 0)
				arrays--;
			break;
		default:
			if (depth <= 1 && arrays == 0)
				policy_body_set(b, key, type, value);
			break;
		}
	}
	ret = json_parser_deinit(&parser, &error);
	i_stream_unref(&input);
	if (ret < 0) {
		*error_r = t_strdup_printf("invalid JSON: %s", error);
		return -1;
	}
	return 0;
}

static enum clientid_protocol policy_protocol(const char *name)
{
	if (name[0] == '\0')
		return CLIENTID_PROTO_NONE;
	if (strcmp(name, "imap") == 0)
		return CLIENTID_PROTO_IMAP;
	if (strcmp(name, "smtp") == 0 || strcmp(name, "submission") == 0)
		return CLIENTID_PROTO_SMTP;
	return CLIENTID_PROTO_OTHER;
}

int policy_body_to_request(struct policy_body *b, enum policy_command command, int after_auth_only,
                           struct policy_service_request *r, const char **error_r)
{
	const char *account = b->have_account ? b->account : b->login;
	struct policydb_login *login = &r->login;

	i_zero(r);
	if (command == POLICY_CMD_REPORT) {
		login->step = POLICYDB_LOGIN_FAILED;
	} else if (b->have_phase) {
		login->step = b->phase_verified ? POLICYDB_LOGIN_VERIFIED : POLICYDB_LOGIN_PRECHECK;
	} else if (after_auth_only) {
		login->step = POLICYDB_LOGIN_VERIFIED;
	} else {
		/* Dovecot checks before auth by default, and taking that
		   request for a verified password would trust devices on a
		   wrong one */
		*error_r = "no " KEY_PHASE " in the request, so a request before the password "
		           "check cannot be told from one after it: add "
		           "clientid/phase=%{passdb:" KEY_PHASE_FIELD "} to "
		           "auth_policy_request_attributes (and override_fields to every "
		           "passdb), or set auth_policy_check_before_auth = no and start "
		           "the service with -a";
		safe_memset(b->token, 0, sizeof(b->token));
		return -1;
	}

	if (login->step != POLICYDB_LOGIN_PRECHECK || account[0] != '\0') {
		if (clientid_account_check(account) != 0) {
			*error_r = account[0] == '\0' ? "no account in the request (is "
			                                "account=%{user} in "
			                                "auth_policy_request_attributes?)"
			                              : "invalid account name";
			safe_memset(b->token, 0, sizeof(b->token));
			return -1;
		}
		i_snprintf(r->account, sizeof(r->account), "%s", account);
	}
	login->account = r->account;
	login->protocol = policy_protocol(b->protocol);
	login->ip = b->remote;
	/* Dovecot's own "tls" is false when a trusted proxy terminated the
	   TLS; policydb_login() then tells TLS by the client id, which the
	   login plugin forwards only from a connection it counts as TLS. */
	login->tls = b->tls ? POLICYDB_TLS_YES : POLICYDB_TLS_IF_CLIENTID;
	login->type = b->type;
	login->token = b->token;
	return 0;
}

int policy_query_command(const char *enc_query, enum policy_command *command_r)
{
	const char *const *args;

	if (enc_query == NULL)
		return 0;
	for (args = t_strsplit(enc_query, "&"); *args != NULL; args++) {
		if (strcmp(*args, "command=allow") == 0) {
			*command_r = POLICY_CMD_ALLOW;
			return 1;
		}
		if (strcmp(*args, "command=report") == 0) {
			*command_r = POLICY_CMD_REPORT;
			return 1;
		}
	}
	return 0;
}

int policy_api_key_ok(const char *want, const char *got)
{
	size_t want_len = strlen(want), got_len, i;
	unsigned char diff = 0;

	if (got == NULL)
		return 0;
	got_len = strlen(got);
	for (i = 0; i < want_len; i++)
		diff |= (unsigned char)want[i] ^ (unsigned char)(i < got_len ? got[i] : 0);
	return diff == 0 && got_len == want_len;
}
