/* clientid-policy: a Dovecot service that answers Dovecot's auth-policy
 * requests (auth_policy_server_url) with the clientid policy.
 *
 * Dovecot's master starts it, hands it the listener from
 * `service clientid-policy { inet_listener ... }`, restarts it when it dies
 * and routes its log. Dovecot's auth process POSTs a JSON object built from
 * auth_policy_request_attributes to <url>?command=allow (before and/or after
 * the password check) and <url>?command=report (after every attempt, with
 * "success" and "policy_reject" added). The answer {"status":-1,"msg":""}
 * makes auth fail the attempt exactly as a wrong password does, after the
 * normal failure delay; {"status":0,"msg":""} lets it go on. A temporary
 * failure ([store] on_error = tempfail) is {"status":-1,"msg":"Temporary
 * authentication failure."}: Dovecot hands msg to the login process as the
 * failure's reason, and the clientid imap-login plugin answers it with
 * IMAP's temporary failure, NO [UNAVAILABLE] (the auth policy protocol has
 * no temporary failure of its own).
 *
 * The raw client-id token arrives in the body. It is fingerprinted at once
 * and the body wiped; nothing here logs or keeps it. */
#include "lib.h"
#include "buffer.h"
#include "ioloop.h"
#include "istream.h"
#include "json-parser.h"
#include "master-service.h"
#include "http-server.h"
#include "http-request.h"
#include "http-url.h"
#include "restrict-access.h"
#include "safe-memset.h"
#include "str.h"

#include <stdio.h>
#include <stdlib.h>

#include "clientid.h"
#include "clientid-config.h"
#include "clientid-fp.h"
#include "clientid-policy.h"
#include "decide.h"
#include "../clientid-tempfail.h"

/* Dovecot's request is a few hundred bytes; anything this big is not it. */
#define POLICY_BODY_MAX    16384
#define POLICY_API_KEY_MAX 256

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

/* What the body said. Strings point into the json values copied here, so
 * the parser's buffer can go. token is wiped as soon as it is fingerprinted. */
struct policy_body {
	char account[CLIENTID_ACCOUNT_MAX + 2]; /* +1 so that too long shows */
	char login[CLIENTID_ACCOUNT_MAX + 2];
	char remote[CLIENTID_IP_STR_MAX + 1];
	char protocol[32];
	char type[CLIENTID_TYPE_MAX + 2];
	char token[CLIENTID_TOKEN_MAX + 2];
	size_t type_len, token_len;
	int have_account, have_login, have_type, have_token, have_phase;
	int phase_verified;
	int tls, success, policy_reject;
};

struct policy_client {
	struct http_server_connection *http_conn;
};

struct policy_request {
	struct http_server_request *req;
	enum policy_command command;
	buffer_t *body;
};

static const char *policy_config_path = CLIENTID_CONFIG_PATH;
static const char *policy_api_key_path = NULL;
/* -a: every allow request comes after the password check
   (auth_policy_check_before_auth = no) */
static bool policy_after_auth_only = FALSE;
static char policy_api_key[POLICY_API_KEY_MAX + 1];
static struct clientid_config policy_cfg;
static struct clientid_secret policy_secret;
static struct policy_service_store *policy_store;
static struct http_server *policy_http;

/* ------------------------------------------------------------------------
 * The request body */

static void policy_copy(char *dst, size_t dst_size, const char *src, size_t *len_r)
{
	size_t len = strlen(src);

	/* one byte more than the field may hold is kept, so that an
	   overlong value is seen as such and refused, never cut */
	if (len > dst_size - 1)
		len = dst_size - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
	if (len_r != NULL)
		*len_r = len;
}

static void policy_body_set(struct policy_body *b, const char *key, enum json_type type,
                            const char *value)
{
	bool is_true = type == JSON_TYPE_TRUE;

	if (strcmp(key, KEY_TLS) == 0) {
		b->tls = is_true;
		return;
	}
	if (strcmp(key, KEY_SUCCESS) == 0) {
		b->success = is_true;
		return;
	}
	if (strcmp(key, KEY_REJECT) == 0) {
		b->policy_reject = is_true;
		return;
	}
	if (type != JSON_TYPE_STRING)
		return;
	if (strcmp(key, KEY_ACCOUNT) == 0) {
		policy_copy(b->account, sizeof(b->account), value, NULL);
		b->have_account = value[0] != '\0';
	} else if (strcmp(key, KEY_LOGIN) == 0) {
		policy_copy(b->login, sizeof(b->login), value, NULL);
		b->have_login = value[0] != '\0';
	} else if (strcmp(key, KEY_REMOTE) == 0) {
		policy_copy(b->remote, sizeof(b->remote), value, NULL);
	} else if (strcmp(key, KEY_PROTO) == 0) {
		policy_copy(b->protocol, sizeof(b->protocol), value, NULL);
	} else if (strcmp(key, KEY_TYPE) == 0) {
		policy_copy(b->type, sizeof(b->type), value, &b->type_len);
		b->have_type = value[0] != '\0';
	} else if (strcmp(key, KEY_TOKEN) == 0) {
		policy_copy(b->token, sizeof(b->token), value, &b->token_len);
		b->have_token = value[0] != '\0';
	} else if (strcmp(key, KEY_PHASE) == 0) {
		b->have_phase = 1;
		b->phase_verified = strcmp(value, PHASE_VERIFIED) == 0;
	}
}

/* Parses Dovecot's JSON object: string, number and boolean members at the top
 * level and one level down ("clientid": {"type": ...}). Returns 0, or -1 with
 * error_r for a body that is not such an object. */
static int policy_body_parse(const buffer_t *data, struct policy_body *b, const char **error_r)
{
	struct istream *input = i_stream_create_from_data(data->data, data->used);
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

/* Turns the body into an attempt: the token becomes a fingerprint and is
 * wiped. Returns 0, or -1 with error_r for a request the service cannot
 * decide (no account after authentication, no phase). A malformed client id, which
 * the login plugin never forwards, is logged and treated as none. */
static int policy_body_to_request(struct policy_body *b, enum policy_command command,
                                  struct policy_service_request *r, const char **error_r)
{
	const char *account = b->have_account ? b->account : b->login;
	int err;

	i_zero(r);
	if (command == POLICY_CMD_REPORT) {
		r->step = POLICY_SERVICE_FAILED;
	} else if (b->have_phase) {
		r->step = b->phase_verified ? POLICY_SERVICE_VERIFIED : POLICY_SERVICE_PRECHECK;
	} else if (policy_after_auth_only) {
		r->step = POLICY_SERVICE_VERIFIED;
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

	if (r->step != POLICY_SERVICE_PRECHECK || account[0] != '\0') {
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
	r->protocol = policy_protocol(b->protocol);
	if (b->remote[0] != '\0' && clientid_ip_parse(b->remote, &r->ip) != 0)
		i_warning("clientid-policy: ignoring unparsable remote address");
	/* The login plugin forwards a client id only from a connection it
	   counts as TLS, also when a trusted proxy terminated the TLS, where
	   Dovecot's own "tls" is false. */
	r->tls = b->tls || (b->have_type && b->have_token);

	if (b->have_type && b->have_token) {
		err = clientid_fp_compute(&policy_secret, b->type, b->type_len, b->token,
		                          b->token_len, &r->fp);
		if (err == 0) {
			r->have_clientid = 1;
			i_snprintf(r->type, sizeof(r->type), "%s", b->type);
		} else {
			i_warning("clientid-policy: account=%s: ignoring the client id: %s",
			          r->account, clientid_strerror(err));
		}
	} else if (b->have_type || b->have_token) {
		i_warning("clientid-policy: account=%s: ignoring a client id without %s",
		          r->account, b->have_type ? "token" : "type");
	}
	safe_memset(b->token, 0, sizeof(b->token));
	return 0;
}

/* ------------------------------------------------------------------------
 * -a misuse: with auth_policy_check_before_auth = yes left on, -a takes the
 * allow before the password check for a verified password, and learn mode
 * would trust devices on wrong passwords. Each allow taken as verified waits
 * here for its report; a failure report that finds one shows the misuse.
 * From then on no device is learned, loudly. */

#define POLICY_A_PENDING      64
#define POLICY_A_PENDING_SECS 30

struct policy_a_allow {
	time_t time; /* 0: free */
	struct policy_service_request r;
};

static struct policy_a_allow policy_a_pending[POLICY_A_PENDING];
static unsigned int policy_a_next;
static bool policy_a_misused = FALSE;

static bool policy_a_same(const struct policy_service_request *a,
                          const struct policy_service_request *b)
{
	return strcmp(a->account, b->account) == 0 && a->have_clientid == b->have_clientid &&
	       (!a->have_clientid || memcmp(&a->fp, &b->fp, sizeof(a->fp)) == 0) &&
	       memcmp(&a->ip, &b->ip, sizeof(a->ip)) == 0;
}

static void policy_a_remember(const struct policy_service_request *r)
{
	struct policy_a_allow *e = &policy_a_pending[policy_a_next++ % POLICY_A_PENDING];
	e->time = ioloop_time;
	e->r = *r;
}

/* Takes the allow that waits for r's report: TRUE when there was one. */
static bool policy_a_take(const struct policy_service_request *r)
{
	for (unsigned int i = 0; i < POLICY_A_PENDING; i++) {
		struct policy_a_allow *e = &policy_a_pending[i];
		if (e->time != 0 && ioloop_time - e->time <= POLICY_A_PENDING_SECS &&
		    policy_a_same(&e->r, r)) {
			e->time = 0;
			return TRUE;
		}
	}
	return FALSE;
}

static void policy_a_report(const struct policy_service_request *r, bool success)
{
	if (!policy_a_take(r) || success || policy_a_misused)
		return;
	policy_a_misused = TRUE;
	i_error("clientid-policy: -a misused: account=%s: a failed login was asked about "
	        "as an allow first, which -a takes for a verified password, so Dovecot "
	        "also checks before auth (auth_policy_check_before_auth = yes). No device "
	        "is learned from now on. Set auth_policy_check_before_auth = no, or drop -a "
	        "and add the clientid/phase marker; then check the devices learned lately "
	        "(clientidctl events) and restart the service",
	        r->account[0] != '\0' ? r->account : "-");
}

/* ------------------------------------------------------------------------
 * Answers and the decision log */

/* status 0 lets the login go on, -1 refuses it like a wrong password, and
 * POLICY_TEMPFAIL refuses it as a temporary failure (see the top). */
#define POLICY_TEMPFAIL (-2)
static void policy_respond(struct http_server_request *req, int status)
{
	struct http_server_response *resp = http_server_response_create(req, 200, "OK");
	const char *body = status == POLICY_TEMPFAIL
	                       ? "{\"status\":-1,\"msg\":\"" CLIENTID_POLICY_TEMPFAIL_MSG "\"}"
	                   : status < 0 ? "{\"status\":-1,\"msg\":\"\"}"
	                                : "{\"status\":0,\"msg\":\"\"}";

	http_server_response_add_header(resp, "Content-Type", "application/json");
	http_server_response_set_payload_data(resp, (const unsigned char *)body, strlen(body));
	http_server_response_submit(resp);
}

static const char *policy_step_name(enum policy_service_step step)
{
	switch (step) {
	case POLICY_SERVICE_PRECHECK:
		return "precheck";
	case POLICY_SERVICE_VERIFIED:
		return "verified";
	case POLICY_SERVICE_FAILED:
		return "failed";
	}
	return "?";
}

static void policy_log_decision(const struct policy_service_request *r,
                                const struct clientid_verdict *v, int status)
{
	char fp_short[CLIENTID_FP_SHORT_LEN + 1] = "-";
	char ip[CLIENTID_IP_STR_MAX], observed[CLIENTID_OBSERVED_TEXT_MAX];
	const char *mode = clientid_mode_name(v->mode);

	if (r->have_clientid)
		clientid_fp_short(&r->fp, fp_short);
	clientid_ip_format(&r->ip, ip);
	i_info("clientid-policy: account=%s fp=%s type=%s ip=%s proto=%s step=%s "
	       "verdict=%s reason=%s mode=%s%s%s answer=%d",
	       r->account[0] != '\0' ? r->account : "-", fp_short, r->have_clientid ? r->type : "-",
	       ip[0] != '\0' ? ip : "-", clientid_protocol_name(r->protocol),
	       policy_step_name(r->step), clientid_decision_name(v->decision),
	       clientid_reason_name(v->reason), mode != NULL ? mode : "?",
	       clientid_verdict_observed(v, observed),
	       (v->flags & CLIENTID_VF_NEW_DEVICE) != 0 ? " new_device" : "", status);
}

/* ------------------------------------------------------------------------
 * Requests */

static void policy_handle_body(struct policy_request *preq)
{
	struct http_server_request *req = preq->req;
	struct policy_service_request r;
	struct clientid_verdict v;
	struct policy_body b;
	char err[CLIENTID_ERRBUF_SIZE];
	const char *error;
	int status, ret;
	bool via_a;

	ret = policy_body_parse(preq->body, &b, &error);
	/* the body held the raw token */
	safe_memset(buffer_get_modifiable_data(preq->body, NULL), 0, preq->body->used);
	if (ret < 0) {
		safe_memset(b.token, 0, sizeof(b.token));
		i_error("clientid-policy: refusing a malformed request: %s", error);
		http_server_request_fail(req, 400, "Bad Request");
		return;
	}

	if (preq->command == POLICY_CMD_REPORT && b.success && b.have_phase && !b.phase_verified) {
		/* a passdb without the marker: its logins looked like
		   before-auth requests and were only prechecked */
		i_error("clientid-policy: account=%s logged in through a passdb without "
		        "\"override_fields = " KEY_PHASE_FIELD "=" PHASE_VERIFIED "\": "
		        "its logins are not decided; add it to every passdb",
		        b.have_account ? b.account : "-");
	}
	via_a = policy_after_auth_only && !b.have_phase;
	if (preq->command == POLICY_CMD_REPORT && (b.success || b.policy_reject)) {
		/* a success was decided and recorded at command=allow after
		   auth; a policy refusal was recorded by the allow that
		   refused it. Only password failures are left to count. */
		if (via_a && policy_body_to_request(&b, preq->command, &r, &error) == 0)
			policy_a_report(&r, TRUE);
		safe_memset(b.token, 0, sizeof(b.token));
		policy_respond(req, 0);
		return;
	}
	if (policy_body_to_request(&b, preq->command, &r, &error) < 0) {
		i_error("clientid-policy: cannot decide: %s", error);
		status = policy_cfg.store_on_error == CLIENTID_STORE_ERROR_ALLOW ? 0 : POLICY_TEMPFAIL;
		policy_respond(req, status);
		return;
	}

	if (via_a && preq->command == POLICY_CMD_REPORT) {
		policy_a_report(&r, FALSE);
	} else if (via_a) {
		r.no_learn = policy_a_misused ? 1 : 0;
		policy_a_remember(&r);
	}

	ret = policy_service_decide(policy_store, &r, (uint64_t)ioloop_time, &v, err);
	if (r.no_learn && v.mode == CLIENTID_MODE_LEARN && v.reason == CLIENTID_R_UNKNOWN_DEVICE)
		i_error("clientid-policy: account=%s: device not learned: -a is misused (see "
		        "the error above)",
		        r.account);
	if (ret < 0)
		i_error("clientid-policy: account=%s: policy store failed, %s: %s",
		        r.account[0] != '\0' ? r.account : "-",
		        preq->command == POLICY_CMD_REPORT ? "the failed login is not counted"
		        : v.decision == CLIENTID_ALLOW     ? "allowing (on_error = allow)"
		                                           : "refusing (on_error = tempfail)",
		        err);
	status = v.decision == CLIENTID_ALLOW ? 0 : -1;
	if (preq->command == POLICY_CMD_REPORT)
		status = 0;
	policy_log_decision(&r, &v, status);
	if (status < 0 && v.decision == CLIENTID_TEMPFAIL)
		status = POLICY_TEMPFAIL;
	policy_respond(req, status);
}

static void policy_request_destroy(struct policy_request *preq)
{
	if (preq->body != NULL) {
		safe_memset(buffer_get_modifiable_data(preq->body, NULL), 0, preq->body->used);
		buffer_free(&preq->body);
	}
	http_server_request_unref(&preq->req);
	i_free(preq);
}

static void policy_payload_done(struct policy_request *preq)
{
	T_BEGIN
	{
		policy_handle_body(preq);
	}
	T_END;
}

/* 1 when the query holds command=<name>, else 0. */
static int policy_query_command(const char *enc_query, enum policy_command *command_r)
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

/* Compares without an early exit, so the time taken does not tell how much
 * of a guessed key was right. */
static bool policy_api_key_ok(const char *got)
{
	size_t want_len = strlen(policy_api_key), got_len, i;
	unsigned char diff = 0;

	if (got == NULL)
		return FALSE;
	got_len = strlen(got);
	for (i = 0; i < want_len; i++)
		diff |=
		    (unsigned char)policy_api_key[i] ^ (unsigned char)(i < got_len ? got[i] : 0);
	return diff == 0 && got_len == want_len;
}

static void policy_handle_request(void *context ATTR_UNUSED, struct http_server_request *req)
{
	const struct http_request *hreq = http_server_request_get(req);
	struct policy_request *preq;
	enum policy_command command;

	if (strcmp(hreq->method, "POST") != 0) {
		http_server_request_fail_bad_method(req, "POST");
		return;
	}
	if (policy_api_key[0] != '\0' &&
	    !policy_api_key_ok(http_request_header_get(hreq, "X-API-Key"))) {
		i_error("clientid-policy: refusing a request without the right X-API-Key "
		        "(auth_policy_server_api_header)");
		http_server_request_fail(req, 403, "Forbidden");
		return;
	}
	if (policy_query_command(hreq->target.url->enc_query, &command) == 0) {
		http_server_request_fail(req, 404, "Unknown command");
		return;
	}

	preq = i_new(struct policy_request, 1);
	preq->req = req;
	preq->command = command;
	/* full size at once: a growing buffer would leave copies of the
	   token behind in freed memory */
	preq->body = buffer_create_dynamic(default_pool, POLICY_BODY_MAX + 1);
	http_server_request_ref(req);
	http_server_request_set_destroy_callback(req, policy_request_destroy, preq);
	http_server_request_buffer_payload(req, preq->body, POLICY_BODY_MAX, policy_payload_done,
	                                   preq);
}

/* ------------------------------------------------------------------------
 * Connections */

static void policy_connection_destroy(void *context, const char *reason ATTR_UNUSED)
{
	struct policy_client *client = context;

	client->http_conn = NULL;
	i_free(client);
	master_service_client_connection_destroyed(master_service);
}

static const struct http_server_callbacks policy_http_callbacks = {
    .connection_destroy = policy_connection_destroy,
    .handle_request = policy_handle_request,
};

static void policy_client_connected(struct master_service_connection *conn)
{
	struct policy_client *client = i_new(struct policy_client, 1);

	master_service_client_connection_accept(conn);
	client->http_conn = http_server_connection_create(policy_http, conn->fd, conn->fd, FALSE,
	                                                  &policy_http_callbacks, client);
}

/* ------------------------------------------------------------------------
 * Start-up */

static void policy_load_api_key(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t len;

	if (f == NULL)
		i_fatal("clientid-policy: cannot open the API key file %s: %m", path);
	if (fgets(policy_api_key, sizeof(policy_api_key), f) == NULL)
		policy_api_key[0] = '\0';
	fclose(f);
	len = strcspn(policy_api_key, "\r\n");
	policy_api_key[len] = '\0';
	if (len == 0)
		i_fatal("clientid-policy: the API key file %s is empty", path);
}

static void policy_warn(void *ctx ATTR_UNUSED, const char *msg)
{
	i_warning("clientid-policy: configuration %s: %s", policy_config_path, msg);
}

static void policy_init(void)
{
	char err[CLIENTID_ERRBUF_SIZE];
	struct http_server_settings http_set;
	int ret;

	ret = clientid_config_load(policy_config_path, &policy_cfg, err);
	if (ret != 0)
		i_fatal("clientid-policy: bad configuration: %s", err);
	(void)clientid_config_contradictions(&policy_cfg, policy_warn, NULL);
	ret = clientid_secret_load(policy_cfg.secret_file, &policy_secret, err);
	if (ret != 0)
		i_fatal("clientid-policy: cannot load the site secret ([general] secret_file "
		        "in %s): %s",
		        policy_config_path, err);
	if (policy_api_key_path != NULL)
		policy_load_api_key(policy_api_key_path);
	ret = policy_service_store_init(&policy_cfg, &policy_store, err);
	if (ret != 0)
		i_fatal("clientid-policy: %s", err);

	i_zero(&http_set);
	http_set.max_client_idle_time_msecs = 60 * 1000;
	http_set.max_pipelined_requests = 4;
	http_set.request_limits.max_payload_size = POLICY_BODY_MAX;
	policy_http = http_server_init(&http_set);
	i_info("clientid-policy: ready (config %s, mode %s, store on_error %s%s%s)",
	       policy_config_path, clientid_mode_name(policy_cfg.mode),
	       policy_cfg.store_on_error == CLIENTID_STORE_ERROR_ALLOW ? "allow" : "tempfail",
	       policy_api_key[0] != '\0' ? ", X-API-Key required" : "",
	       policy_after_auth_only ? ", allow requests are after auth (-a)" : "");
}

static void policy_deinit(void)
{
	http_server_deinit(&policy_http);
	policy_service_store_deinit(&policy_store);
	clientid_secret_clear(&policy_secret);
	safe_memset(policy_api_key, 0, sizeof(policy_api_key));
}

int main(int argc, char *argv[])
{
	const enum master_service_flags service_flags =
	    MASTER_SERVICE_FLAG_NO_SSL_INIT | MASTER_SERVICE_FLAG_DONT_SEND_STATS;
	int c;

	master_service =
	    master_service_init("clientid-policy", service_flags, &argc, &argv, "C:A:a");
	while ((c = master_getopt(master_service)) > 0) {
		switch (c) {
		case 'C':
			policy_config_path = optarg;
			break;
		case 'a':
			policy_after_auth_only = TRUE;
			break;
		case 'A':
			policy_api_key_path = optarg;
			break;
		default:
			if (!master_service_parse_option(master_service, c, optarg)) {
				i_error("usage: clientid-policy [-a] [-C clientid.conf] [-A "
				        "api-key-file]");
				return FATAL_DEFAULT;
			}
			break;
		}
	}

	master_service_init_log(master_service);
	restrict_access_by_env(RESTRICT_ACCESS_FLAG_ALLOW_ROOT, NULL);
	restrict_access_allow_coredumps(TRUE);

	/* after privileges are dropped: the files must be readable by the
	   service's user, and the store is opened in this process */
	policy_init();

	master_service_init_finish(master_service);
	master_service_run(master_service, policy_client_connected);

	policy_deinit();
	master_service_deinit(&master_service);
	return 0;
}
