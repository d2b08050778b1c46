/* The Exim module's adapter to the policy store: the only file of the
 * module that calls policydb_*. It owns the process's store handle. */
#include "clientid-exim.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clientid-fp.h"
#include "policydb.h"

/* One handle per process, for the configuration it was made from. A
 * handle inherited across fork() is fine: policydb reopens the store when
 * getpid() changes and never touches the parent's environment. The
 * configuration is kept apart from the handle: when the handle cannot be
 * made (the secret unreadable), policydb_login() still answers by its
 * [store] on_error. */
static struct policydb *store_db;
static struct clientid_config store_cfg;
static int store_cfg_loaded;
static char store_config_path[CLIENTID_PATH_MAX];

static int store_handle(const char *config_path, char *err_r)
{
	if (store_db != NULL && strcmp(store_config_path, config_path) == 0)
		return 0;
	policydb_deinit(&store_db);
	store_cfg_loaded = 0;
	int ret = clientid_config_load(config_path, &store_cfg, err_r);
	if (ret != 0)
		return ret;
	store_cfg_loaded = 1;
	if (strlen(config_path) >= sizeof(store_config_path)) {
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "configuration path too long");
		return CLIENTID_E_INVAL;
	}
	ret = policydb_init_loaded(&store_cfg, 0, &store_db, err_r);
	if (ret != 0) {
		store_db = NULL;
		return ret;
	}
	snprintf(store_config_path, sizeof(store_config_path), "%s", config_path);
	return 0;
}

int clientid_exim_store_preload(const char *config_path, clientid_warn_fn *warn, void *ctx,
                                char *err_r)
{
	err_r[0] = '\0';
	int ret = store_handle(config_path, err_r);
	if (store_cfg_loaded)
		(void)clientid_config_contradictions(&store_cfg, warn, ctx);
	if (ret != 0)
		return ret;
	/* The first HMAC initialises OpenSSL (and reads openssl.cnf). */
	struct clientid_fp fp;
	ret = policydb_fingerprint(store_db, "PRELOAD", 7, "x", 1, &fp);
	if (ret != 0)
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "%s", policydb_last_error(store_db));
	return ret;
}

int clientid_exim_store_fingerprint(const char *config_path, const char *type, const char *token,
                                    char fp_short_r[CLIENTID_FP_SHORT_LEN + 1], char *err_r)
{
	err_r[0] = '\0';
	fp_short_r[0] = '\0';
	if (type == NULL || type[0] == '\0')
		return 0;
	int ret = store_handle(config_path, err_r);
	if (ret != 0)
		return ret;
	if (token == NULL)
		token = "";
	struct clientid_fp fp;
	ret = policydb_fingerprint(store_db, type, strlen(type), token, strlen(token), &fp);
	if (ret != 0) {
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "client id: %s", clientid_strerror(ret));
		return ret;
	}
	clientid_fp_short(&fp, fp_short_r);
	memset(&fp, 0, sizeof(fp));
	return 1;
}

static const enum policydb_login_step op_steps[] = {
    [CLIENTID_EXIM_PRECHECK] = POLICYDB_LOGIN_PRECHECK,
    [CLIENTID_EXIM_DECIDE] = POLICYDB_LOGIN_VERIFIED,
    [CLIENTID_EXIM_RECORD] = POLICYDB_LOGIN_RECORD,
};

/* The login as policydb_login() takes it; token is the caller's copy. */
static struct policydb_login query_login(const struct clientid_exim_query *q, char *token)
{
	struct policydb_login login = {
	    .step = op_steps[q->op],
	    .account = q->account,
	    .protocol = CLIENTID_PROTO_SMTP,
	    .ip = q->ip,
	    .tls = q->tls ? POLICYDB_TLS_YES : POLICYDB_TLS_NO,
	    .type = q->type,
	    .token = token,
	};
	if (q->op == CLIENTID_EXIM_DECIDE && !q->password_ok)
		login.step = POLICYDB_LOGIN_FAILED;
	return login;
}

int clientid_exim_store_check(const struct clientid_exim_query *q, struct clientid_verdict *v_r,
                              char *err_r)
{
	struct policydb_login login = query_login(q, NULL);
	return policydb_login_check_account(&login, v_r, err_r);
}

int clientid_exim_store_query(const struct clientid_exim_query *q, struct clientid_verdict *v_r,
                              char *err_r)
{
	err_r[0] = '\0';
	/* A copy of the token that policydb_login() wipes: Exim's own strings
	 * are not ours to write. One byte more than a token may hold, so that
	 * an overlong one is refused as such, never cut. */
	char token[CLIENTID_TOKEN_MAX + 2] = "";
	if (q->token != NULL)
		snprintf(token, sizeof(token), "%s", q->token);
	struct policydb_login login = query_login(q, token);
	int ret = store_handle(q->config_path, err_r);
	ret = policydb_login(ret == 0 ? store_db : NULL, store_cfg_loaded ? &store_cfg : NULL,
	                     &login, (uint64_t)time(NULL), v_r, err_r);
	explicit_bzero(token, sizeof(token));
	return ret;
}
