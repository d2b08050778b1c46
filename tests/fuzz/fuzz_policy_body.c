/* libFuzzer target: the policy service's reading of Dovecot's auth-policy
 * request body (dovecot-plugin/policy-service/policy-body.c:
 * policy_body_parse() on Dovecot's own JSON parser, then
 * policy_body_to_request() and policy_service_prepare() in decide.c, which
 * fingerprints through policydb_login_prepare()), and the same bytes as the
 * request's query string (policy_query_command()) and API key
 * (policy_api_key_ok()), linked against the installed libdovecot. The HTTP
 * server is never started and the store never opened. Checks: no crash, leak or overread on any
 * body; an attempt that gets through carries a valid account and type; and the raw token is wiped
 * from the parsed body every time; the key check says yes exactly for the key. */
#include "lib.h"
#include "buffer.h"

#include "decide.h"
#include "policy-body.h"

static struct policy_service_store *fuzz_store;
static char fuzz_api_key[] = "fuzz-api-key-0123";

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_quiet(const struct failure_context *ctx ATTR_UNUSED,
                       const char *format ATTR_UNUSED, va_list args ATTR_UNUSED)
{
}

int LLVMFuzzerInitialize(int *argc ATTR_UNUSED, char ***argv ATTR_UNUSED)
{
	lib_init();
	i_set_info_handler(fuzz_quiet);
	i_set_error_handler(fuzz_quiet);
	i_set_debug_handler(fuzz_quiet);
	struct clientid_config cfg;
	struct clientid_secret secret;
	char err[CLIENTID_ERRBUF_SIZE];
	clientid_config_defaults(&cfg);
	i_zero(&secret);
	secret.len = CLIENTID_SECRET_MIN;
	if (policy_service_store_init(&cfg, &secret, &fuzz_store, err) != 0)
		i_unreached();
	return 0;
}

static void fuzz_to_request(const struct policy_body *parsed, enum policy_command command,
                            int after_auth_only)
{
	static const char zero[CLIENTID_TOKEN_MAX + 2];
	struct policy_service_request r;
	struct policy_body b = *parsed;
	const char *error = NULL;

	if (policy_body_to_request(&b, command, after_auth_only, &r, &error) < 0) {
		if (error == NULL)
			i_unreached();
	} else {
		policy_service_prepare(fuzz_store, &r);
		if ((r.login.step != POLICYDB_LOGIN_PRECHECK || r.account[0] != '\0') &&
		    clientid_account_check(r.account) != 0)
			i_unreached();
		if (r.login.have_fp && clientid_type_check(r.login.type, strlen(r.login.type)) != 0)
			i_unreached();
	}
	if (memcmp(b.token, zero, sizeof(b.token)) != 0)
		i_unreached(); /* the raw token outlived the request */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	buffer_t body;
	struct policy_body b;
	const char *error;

	buffer_create_from_const_data(&body, data, size);
	T_BEGIN
	{
		if (policy_body_parse(body.data, body.used, &b, &error) == 0) {
			for (int after_auth = 0; after_auth <= 1; after_auth++) {
				fuzz_to_request(&b, POLICY_CMD_ALLOW, after_auth);
				fuzz_to_request(&b, POLICY_CMD_REPORT, after_auth);
			}
		}
	}
	T_END;

	/* the same bytes as the query string and as the API key header */
	T_BEGIN
	{
		const char *text = t_strndup(data, size);
		enum policy_command command;

		if (policy_query_command(text, &command) > 0 && command != POLICY_CMD_ALLOW &&
		    command != POLICY_CMD_REPORT)
			i_unreached();
		if (policy_api_key_ok(fuzz_api_key, text) != (strcmp(text, fuzz_api_key) == 0))
			i_unreached();
	}
	T_END;
	return 0;
}
