/* imap-login plugin: the IMAP CLIENTID extension (draft-yu-imap-client-id).
 *
 * - CLIENTID is added to the greeting's [CAPABILITY ...] code and to the
 *   CAPABILITY response while the connection is on TLS (and the feature is
 *   enabled). Pre-login commands only exist in imap-login, so the client is
 *   always unauthenticated here.
 * - "tag CLIENTID <type> <token>" is read as a raw line, not through the IMAP
 *   string parser: the token is 1*128 VCHAR, atom-specials, quotes and braces
 *   included, and "{5}" is never a literal.
 * - A valid type and token go to the auth process as the forward fields
 *   clientid_type and clientid_token (passdb: forward_clientid_type,
 *   forward_clientid_token) for every SASL mechanism and for LOGIN.
 *
 * Settings come from the environment, which Dovecot's import_environment
 * setting fills (login processes cannot read plugin {} settings):
 *   CLIENTID_IMAP_ENABLE=yes|no            default yes
 *   CLIENTID_IMAP_TRUST_PROXY_TLS=no|haproxy|trusted_networks[,...]
 *                                          default no
 * An invalid value is fatal: the login process refuses to start. */

#include "lib.h"
#include "array.h"
#include "istream.h"
#include "module-context.h"
#include "str.h"
#include "safe-memset.h"
#include "login-common.h"
#include "client-common.h"
#include "imap-login-client.h"
#include "imap-login-commands.h"

#include "clientid.h"
#include "clientid-capability.h"
#include "clientid-tempfail.h"

#include <stdlib.h>
#include <string.h>

#define CLIENTID_CONTEXT(obj) MODULE_CONTEXT(obj, clientid_login_module)

#define CLIENTID_ENV_ENABLE          "CLIENTID_IMAP_ENABLE"
#define CLIENTID_ENV_TRUST_PROXY_TLS "CLIENTID_IMAP_TRUST_PROXY_TLS"

/* Longest CLIENTID argument line we wait for; a valid one is at most
 * 16 + 1 + 128 + CRLF. Longer lines get BAD without being buffered. */
#define CLIENTID_ARGS_MAX_LEN 512

/* Same limit and replies as imap-login's client_invalid_command(). */
#define CLIENTID_MAX_BAD_COMMANDS 3
#define CLIENTID_REPLY_BAD        "Error in IMAP command received by server."

enum clientid_trust_proxy {
	CLIENTID_TRUST_HAPROXY = 0x01,
	CLIENTID_TRUST_NETWORKS = 0x02,
};

struct clientid_client {
	union login_client_module_context module_ctx;

	/* The next raw output may carry a capability list to extend. */
	bool rewrite_capability : 1;
	/* A CLIENTID command succeeded on this connection. */
	bool done : 1;
};

/* Exported (and only these, see clientid-plugin.map): the module loader looks
 * them up by the plugin name, "clientid_plugin" for lib95_clientid_plugin.so.
 * clientid_plugin_binary_dependency keeps other login processes
 * (pop3-login, submission-login) from loading the plugin. */
#define CLIENTID_EXPORT __attribute__((visibility("default")))
extern CLIENTID_EXPORT const char *clientid_plugin_version;
extern CLIENTID_EXPORT const char clientid_plugin_binary_dependency[];
CLIENTID_EXPORT void clientid_plugin_init(struct module *module);
CLIENTID_EXPORT void clientid_plugin_deinit(void);

const char *clientid_plugin_version = DOVECOT_ABI_VERSION;
const char clientid_plugin_binary_dependency[] = "imap-login";

static MODULE_CONTEXT_DEFINE_INIT(clientid_login_module, &login_module_register);

static bool clientid_enabled = TRUE;
static unsigned int clientid_trust_proxy = 0;

/* imap-login's command table exists only once the first client is allocated;
 * the original CAPABILITY handler is wrapped then, once per process. */
static bool clientid_capability_wrapped = FALSE;
static imap_login_command_t *clientid_orig_cmd_capability = NULL;

/* Is the connection on TLS that this server can vouch for? client->secured is
 * not the test: it is also TRUE on plaintext loopback and trusted networks. */
static bool clientid_client_on_tls(const struct client *client)
{
	if (client->tls)
		return TRUE;
	/* TLS terminated by HAProxy and announced in its PROXY v2 header */
	if ((clientid_trust_proxy & CLIENTID_TRUST_HAPROXY) != 0 && client->proxied_ssl &&
	    client->ssl_secured)
		return TRUE;
	/* a login_trusted_networks peer, e.g. a TLS-terminating proxy */
	if ((clientid_trust_proxy & CLIENTID_TRUST_NETWORKS) != 0 && client->trusted)
		return TRUE;
	return FALSE;
}

static bool clientid_client_active(const struct client *client)
{
	return clientid_enabled && !client->login_success && !client->destroyed &&
	       clientid_client_on_tls(client);
}

static void clientid_send_raw_data(struct client *client, const void *data, size_t size)
{
	struct clientid_client *cclient = CLIENTID_CONTEXT(client);
	size_t pos;

	if (cclient->rewrite_capability && clientid_client_active(client) &&
	    (pos = clientid_capability_insert_pos(data, size)) > 0) {
		/* one write, so the line leaves in one piece; the ioloop's
		 * data stack frame frees it */
		string_t *line = t_str_new(size + CLIENTID_CAPABILITY_EXTRA);

		str_append_data(line, data, pos);
		str_append(line, " " CLIENTID_CAPABILITY_WORD);
		str_append_data(line, CONST_PTR_OFFSET(data, pos), size - pos);
		cclient->module_ctx.super.send_raw_data(client, str_data(line), str_len(line));
		return;
	}
	cclient->module_ctx.super.send_raw_data(client, data, size);
}

static void clientid_notify_auth_ready(struct client *client)
{
	struct clientid_client *cclient = CLIENTID_CONTEXT(client);

	cclient->rewrite_capability = TRUE;
	cclient->module_ctx.super.notify_auth_ready(client);
	cclient->rewrite_capability = FALSE;
}

static int clientid_cmd_capability(struct imap_client *imap_client, const struct imap_arg *args)
{
	struct clientid_client *cclient = CLIENTID_CONTEXT(&imap_client->common);
	int ret;

	if (cclient == NULL)
		return clientid_orig_cmd_capability(imap_client, args);
	cclient->rewrite_capability = TRUE;
	ret = clientid_orig_cmd_capability(imap_client, args);
	cclient->rewrite_capability = FALSE;
	return ret;
}

/* Like imap-login's client_invalid_command(): BAD, and after too many of
 * them BYE. Returns FALSE when the client was destroyed. */
static bool clientid_reply_bad(struct imap_client *imap_client, const char *text)
{
	struct client *client = &imap_client->common;

	if (++client->bad_counter >= CLIENTID_MAX_BAD_COMMANDS) {
		client_send_reply(client, IMAP_CMD_REPLY_BYE, "Too many invalid IMAP commands.");
		client_destroy(client, "Too many invalid commands");
		return FALSE;
	}
	client_send_reply(client, IMAP_CMD_REPLY_BAD, text);
	return TRUE;
}

static void clientid_forward(struct client *client, const struct clientid_slice *type,
                             const struct clientid_slice *token)
{
	char buf[CLIENTID_TOKEN_MAX + 1];

	memcpy(buf, type->ptr, type->len);
	buf[type->len] = '\0';
	client_add_forward_field(client, "clientid_type", buf);
	memcpy(buf, token->ptr, token->len);
	buf[token->len] = '\0';
	client_add_forward_field(client, "clientid_token", buf);
	safe_memset(buf, 0, sizeof(buf));
}

/* Handles "tag CLIENTID ..." once the tag and the verb (with the one SP after
 * it) have been consumed. Reads the rest of the line from the input stream
 * as raw bytes. Returns what input_next_cmd returns: FALSE to wait for more
 * input or when the client is gone, TRUE to go on with the next command. */
static bool clientid_cmd_clientid(struct imap_client *imap_client, struct clientid_client *cclient)
{
	struct client *client = &imap_client->common;
	struct clientid_slice type, token;
	const unsigned char *data, *lf;
	size_t size, line_len, args_len;
	int ret;

	data = i_stream_get_data(client->input, &size);
	lf = memchr(data, '\n', I_MIN(size, CLIENTID_ARGS_MAX_LEN + 1));
	if (lf == NULL) {
		if (size <= CLIENTID_ARGS_MAX_LEN)
			return FALSE; /* need more data */
		/* too long: answer now, drop the rest of the line */
		imap_client->cmd_finished = TRUE;
		imap_client->skip_line = TRUE;
		if (!clientid_reply_bad(imap_client, CLIENTID_REPLY_BAD))
			return FALSE;
		return !client->destroyed;
	}
	line_len = (size_t)(lf - data);
	args_len = line_len;
	if (args_len > 0 && data[args_len - 1] == '\r')
		args_len--;

	if (cclient->done)
		ret = 1;
	else
		ret = clientid_args_parse((const char *)data, args_len, CLIENTID_ARGS_IMAP, &type,
		                          &token);
	if (ret == 0) {
		clientid_forward(client, &type, &token);
		cclient->done = TRUE;
		e_debug(client->event, "CLIENTID accepted (type %.*s)", (int)type.len, type.ptr);
	}
	i_stream_skip(client->input, line_len + 1);
	imap_client->cmd_finished = TRUE;
	imap_client->skip_line = FALSE;

	if (ret == 0) {
		client_send_reply(client, IMAP_CMD_REPLY_OK, "CLIENTID completed");
	} else if (ret > 0) {
		client_send_reply(client, IMAP_CMD_REPLY_BAD, "CLIENTID already issued.");
	} else {
		e_debug(client->event, "CLIENTID rejected: %s", clientid_strerror(ret));
		if (!clientid_reply_bad(imap_client, CLIENTID_REPLY_BAD))
			return FALSE;
	}
	return !client->destroyed;
}

static bool clientid_input_next_cmd(struct client *client)
{
	struct clientid_client *cclient = CLIENTID_CONTEXT(client);
	struct imap_client *imap_client = (struct imap_client *)client;

	/* Another command, inactive, or a missing or invalid tag: pass on,
	 * so the command meets imap-login's own reply, byte for byte ("* BAD"
	 * for a bad tag, whatever the command). */
	if (!clientid_imap_command_is_ours(imap_client->cmd_name, imap_client->cmd_tag) ||
	    !clientid_client_active(client))
		return cclient->module_ctx.super.input_next_cmd(client);
	return clientid_cmd_clientid(imap_client, cclient);
}

/* The policy service's temporary failure arrives as a refusal with its
 * reason (clientid-tempfail.h): answer it as IMAP's temporary failure,
 * NO [UNAVAILABLE], so that clients retry instead of asking for the
 * password again. Every other result passes unchanged. */
static void clientid_auth_result(struct client *client, enum client_auth_result result,
                                 const struct client_auth_reply *reply, const char *text)
{
	struct clientid_client *cclient = CLIENTID_CONTEXT(client);

	if ((result == CLIENT_AUTH_RESULT_AUTHFAILED_REASON ||
	     result == CLIENT_AUTH_RESULT_AUTHFAILED) &&
	    text != NULL && strcmp(text, CLIENTID_POLICY_TEMPFAIL_MSG) == 0)
		result = CLIENT_AUTH_RESULT_TEMPFAIL;
	cclient->module_ctx.super.auth_result(client, result, reply, text);
}

static void clientid_wrap_capability(void)
{
	struct imap_login_command *cmd;

	clientid_capability_wrapped = TRUE;
	cmd = imap_login_command_lookup("CAPABILITY");
	if (cmd == NULL) {
		i_error("clientid: imap-login has no CAPABILITY command; "
		        "CLIENTID is only advertised in the greeting");
		return;
	}
	clientid_orig_cmd_capability = cmd->func;
	cmd->func = clientid_cmd_capability;
}

static void clientid_client_allocated(struct client *client)
{
	struct clientid_client *cclient;
	struct client_vfuncs *v = client->vlast;

	if (!clientid_capability_wrapped)
		clientid_wrap_capability();

	cclient = p_new(client->pool, struct clientid_client, 1);
	cclient->module_ctx.super = *v;
	client->vlast = &cclient->module_ctx.super;
	v->notify_auth_ready = clientid_notify_auth_ready;
	v->send_raw_data = clientid_send_raw_data;
	v->input_next_cmd = clientid_input_next_cmd;
	v->auth_result = clientid_auth_result;
	MODULE_CONTEXT_SET(client, clientid_login_module, cclient);
}

static struct login_client_hooks clientid_login_hooks = {
    .client_allocated = clientid_client_allocated,
};

static bool clientid_parse_bool(const char *name, const char *value, bool *value_r)
{
	if (strcasecmp(value, "yes") == 0 || strcasecmp(value, "y") == 0 ||
	    strcmp(value, "1") == 0) {
		*value_r = TRUE;
		return TRUE;
	}
	if (strcasecmp(value, "no") == 0 || strcasecmp(value, "n") == 0 ||
	    strcmp(value, "0") == 0) {
		*value_r = FALSE;
		return TRUE;
	}
	i_error("clientid: %s=%s: expected yes or no", name, value);
	return FALSE;
}

static bool clientid_parse_trust(const char *value, unsigned int *flags_r)
{
	const char *const *words = t_strsplit(value, ",");
	unsigned int flags = 0;

	for (; *words != NULL; words++) {
		if (strcmp(*words, "no") == 0 && flags == 0 && words[1] == NULL)
			break;
		else if (strcmp(*words, "haproxy") == 0)
			flags |= CLIENTID_TRUST_HAPROXY;
		else if (strcmp(*words, "trusted_networks") == 0)
			flags |= CLIENTID_TRUST_NETWORKS;
		else {
			i_error("clientid: %s=%s: expected no, or a comma-separated list of "
			        "haproxy and trusted_networks",
			        CLIENTID_ENV_TRUST_PROXY_TLS, value);
			return FALSE;
		}
	}
	*flags_r = flags;
	return TRUE;
}

void clientid_plugin_init(struct module *module)
{
	const char *value;

	clientid_enabled = TRUE;
	clientid_trust_proxy = 0;

	value = getenv(CLIENTID_ENV_ENABLE);
	if (value != NULL && !clientid_parse_bool(CLIENTID_ENV_ENABLE, value, &clientid_enabled))
		i_fatal("clientid: invalid setting, refusing to start");
	value = getenv(CLIENTID_ENV_TRUST_PROXY_TLS);
	if (value != NULL && !clientid_parse_trust(value, &clientid_trust_proxy))
		i_fatal("clientid: invalid setting, refusing to start");

	login_client_hooks_add(module, &clientid_login_hooks);
}

void clientid_plugin_deinit(void)
{
	login_client_hooks_remove(&clientid_login_hooks);
	/* The CAPABILITY wrapper stays: imap-login frees its command table
	 * before plugins are deinitialized. */
}
