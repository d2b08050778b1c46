/* The policy service's reading of Dovecot's auth-policy request: the JSON
 * body, the query's command and the API key. Pure parsing on Dovecot's own
 * JSON parser: no HTTP server, no store, no log. The fuzz target
 * tests/fuzz/fuzz_policy_body.c links this file. */
#ifndef POLICY_BODY_H
#define POLICY_BODY_H

#include "clientid-config.h"
#include "clientid-policy.h"
#include "decide.h"

/* The JSON keys the service reads. Nested keys are written "a/b", as in
 * auth_policy_request_attributes. */
#define KEY_ACCOUNT "account"
#define KEY_LOGIN   "login"
#define KEY_REMOTE  "remote"
#define KEY_PROTO   "protocol"
#define KEY_TYPE    "clientid/type"
#define KEY_TOKEN   "clientid/token"
#define KEY_PHASE   "clientid/phase"
#define KEY_TLS     "tls"
#define KEY_SUCCESS "success"
#define KEY_REJECT  "policy_reject"

/* The value of KEY_PHASE once a passdb has run (passdb override_fields). */
#define PHASE_VERIFIED "verified"
/* The passdb field that carries it into KEY_PHASE. */
#define KEY_PHASE_FIELD "clientid_phase"

enum policy_command {
	POLICY_CMD_ALLOW,
	POLICY_CMD_REPORT,
};

/* What the body said, copied out of the parser's values. token holds the
 * raw token until policy_service_prepare() wipes it. */
struct policy_body {
	char account[CLIENTID_ACCOUNT_MAX + 2]; /* +1 so that too long shows */
	char login[CLIENTID_ACCOUNT_MAX + 2];
	char remote[CLIENTID_IP_STR_MAX + 1];
	char protocol[32];
	char type[CLIENTID_TYPE_MAX + 2];
	char token[CLIENTID_TOKEN_MAX + 2];
	int have_account, have_login, have_type, have_token, have_phase;
	int phase_verified;
	int tls, success, policy_reject;
};

/* Parses Dovecot's JSON object (data, size): string, number and boolean
 * members at the top level and one level down ("clientid": {"type": ...}).
 * Returns 0, or -1 with error_r (data stack) for a body that is not such an
 * object. Never keeps data. */
int policy_body_parse(const void *data, size_t size, struct policy_body *b, const char **error_r);

/* Maps the body onto the request for policydb_login(): r->login points
 * into b and r, which must outlive it. after_auth_only: the service runs
 * with -a. Returns 0, or -1 with error_r (static text) for a request that
 * cannot be decided (no account after authentication, no phase); then the
 * token in b is wiped. */
int policy_body_to_request(struct policy_body *b, enum policy_command command, int after_auth_only,
                           struct policy_service_request *r, const char **error_r);

/* 1 and *command_r when the query string holds command=allow or
 * command=report, else 0. enc_query may be NULL. */
int policy_query_command(const char *enc_query, enum policy_command *command_r);

/* Whether got (NULL: no header) is the API key want, compared without an
 * early exit so that the time taken does not tell how much of a guess was
 * right. */
int policy_api_key_ok(const char *want, const char *got);

#endif
