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
#include "policy-body.h"

/* Dovecot's request is a few hundred bytes; anything this big is not it. */
#define POLICY_BODY_MAX    16384
#define POLICY_API_KEY_MAX 256

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
static struct policy_service_store *policy_store;
static struct http_server *policy_http;

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
	char account[CLIENTID_ACCOUNT_MAX + 1];
	int have_fp;
	struct clientid_fp fp;
	struct clientid_ip ip;
};

static struct policy_a_allow policy_a_pending[POLICY_A_PENDING];
static unsigned int policy_a_next;
static bool policy_a_misused = FALSE;

/* Same account, device and address: r is prepared (policy_service_prepare()). */
static bool policy_a_same(const struct policy_a_allow *e, const struct policy_service_request *r)
{
	return strcmp(e->account, r->account) == 0 && e->have_fp == r->login.have_fp &&
	       (!e->have_fp || memcmp(&e->fp, &r->login.fp, sizeof(e->fp)) == 0) &&
	       memcmp(&e->ip, &r->login.ip_parsed, sizeof(e->ip)) == 0;
}

static void policy_a_remember(const struct policy_service_request *r)
{
	struct policy_a_allow *e = &policy_a_pending[policy_a_next++ % POLICY_A_PENDING];
	e->time = ioloop_time;
	i_snprintf(e->account, sizeof(e->account), "%s", r->account);
	e->have_fp = r->login.have_fp;
	e->fp = r->login.fp;
	e->ip = r->login.ip_parsed;
}

/* Takes the allow that waits for r's report: TRUE when there was one. */
static bool policy_a_take(const struct policy_service_request *r)
{
	for (unsigned int i = 0; i < POLICY_A_PENDING; i++) {
		struct policy_a_allow *e = &policy_a_pending[i];
		if (e->time != 0 && ioloop_time - e->time <= POLICY_A_PENDING_SECS &&
		    policy_a_same(e, r)) {
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

static const char *policy_step_name(enum policydb_login_step step)
{
	switch (step) {
	case POLICYDB_LOGIN_PRECHECK:
		return "precheck";
	case POLICYDB_LOGIN_VERIFIED:
		return "verified";
	case POLICYDB_LOGIN_FAILED:
		return "failed";
	case POLICYDB_LOGIN_RECORD:
		return "record";
	}
	return "?";
}

static void policy_log_decision(const struct policy_service_request *r,
                                const struct clientid_verdict *v, int status)
{
	char fp_short[CLIENTID_FP_SHORT_LEN + 1] = "-";
	char ip[CLIENTID_IP_STR_MAX], observed[CLIENTID_OBSERVED_TEXT_MAX];
	const char *mode = clientid_mode_name(v->mode);

	if (r->login.have_fp)
		clientid_fp_short(&r->login.fp, fp_short);
	clientid_ip_format(&r->login.ip_parsed, ip);
	i_info("clientid-policy: account=%s fp=%s type=%s ip=%s proto=%s step=%s "
	       "verdict=%s reason=%s mode=%s%s%s answer=%d",
	       r->account[0] != '\0' ? r->account : "-", fp_short,
	       r->login.have_fp ? r->login.type : "-", ip[0] != '\0' ? ip : "-",
	       clientid_protocol_name(r->login.protocol), policy_step_name(r->login.step),
	       clientid_decision_name(v->decision), clientid_reason_name(v->reason),
	       mode != NULL ? mode : "?", clientid_verdict_observed(v, observed),
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

	ret = policy_body_parse(preq->body->data, preq->body->used, &b, &error);
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
		if (via_a && policy_body_to_request(&b, preq->command, policy_after_auth_only, &r,
		                                    &error) == 0) {
			policy_service_prepare(policy_store, &r);
			policy_a_report(&r, TRUE);
		}
		safe_memset(b.token, 0, sizeof(b.token));
		policy_respond(req, 0);
		return;
	}
	if (policy_body_to_request(&b, preq->command, policy_after_auth_only, &r, &error) < 0) {
		i_error("clientid-policy: cannot decide: %s", error);
		/* as if the store could not be asked, before any password
		   outcome is known */
		policydb_login_fallback(&policy_cfg, POLICYDB_LOGIN_PRECHECK, &v);
		policy_respond(req, v.decision == CLIENTID_ALLOW      ? 0
		                    : v.decision == CLIENTID_TEMPFAIL ? POLICY_TEMPFAIL
		                                                      : -1);
		return;
	}
	policy_service_prepare(policy_store, &r);

	if (via_a && preq->command == POLICY_CMD_REPORT) {
		policy_a_report(&r, FALSE);
	} else if (via_a) {
		r.login.no_learn = policy_a_misused ? 1 : 0;
		policy_a_remember(&r);
	}

	ret = policy_service_decide(policy_store, &r, (uint64_t)ioloop_time, &v, err);
	if (r.login.no_learn && v.mode == CLIENTID_MODE_LEARN &&
	    v.reason == CLIENTID_R_UNKNOWN_DEVICE)
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
	    !policy_api_key_ok(policy_api_key, http_request_header_get(hreq, "X-API-Key"))) {
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
	struct clientid_secret secret;
	struct http_server_settings http_set;
	int ret;

	ret = clientid_config_load(policy_config_path, &policy_cfg, err);
	if (ret != 0)
		i_fatal("clientid-policy: bad configuration: %s", err);
	(void)clientid_config_contradictions(&policy_cfg, policy_warn, NULL);
	ret = clientid_secret_load(policy_cfg.secret_file, &secret, err);
	if (ret != 0)
		i_fatal("clientid-policy: cannot load the site secret ([general] secret_file "
		        "in %s): %s",
		        policy_config_path, err);
	if (policy_api_key_path != NULL)
		policy_load_api_key(policy_api_key_path);
	ret = policy_service_store_init(&policy_cfg, &secret, &policy_store, err);
	/* the store holds its own copy */
	clientid_secret_clear(&secret);
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
