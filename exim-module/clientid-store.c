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
 * getpid() changes and never touches the parent's environment. */
static struct policydb *store_db;
static char store_config_path[CLIENTID_PATH_MAX];

static void verdict_fallback(struct clientid_verdict *v_r, enum clientid_decision decision,
                             unsigned flags)
{
	memset(v_r, 0, sizeof(*v_r));
	v_r->decision = decision;
	v_r->reason = CLIENTID_R_STORE_ERROR;
	v_r->flags = flags;
}

/* What [store] on_error asks for when the handle cannot even be made. The
 * configuration may be fine and only the secret unreadable; if it cannot
 * be read either, tempfail is the only safe answer. */
static void verdict_on_init_error(const struct clientid_exim_query *q, struct clientid_verdict *v_r)
{
	struct clientid_config cfg;
	char err[CLIENTID_ERRBUF_SIZE];
	if (clientid_config_load(q->config_path, &cfg, err) == 0 &&
	    cfg.store_on_error == CLIENTID_STORE_ERROR_ALLOW) {
		if (q->op == CLIENTID_EXIM_DECIDE && !q->password_ok)
			verdict_fallback(v_r, CLIENTID_DENY, CLIENTID_VF_FAIL_OPEN);
		else
			verdict_fallback(v_r, CLIENTID_ALLOW, CLIENTID_VF_FAIL_OPEN);
		return;
	}
	verdict_fallback(v_r, CLIENTID_TEMPFAIL, 0);
}

static int store_handle(const char *config_path, char *err_r)
{
	if (store_db != NULL && strcmp(store_config_path, config_path) == 0)
		return 0;
	policydb_deinit(&store_db);
	if (strlen(config_path) >= sizeof(store_config_path)) {
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "configuration path too long");
		return CLIENTID_E_INVAL;
	}
	int ret = policydb_init(config_path, 0, &store_db, err_r);
	if (ret != 0) {
		store_db = NULL;
		return ret;
	}
	snprintf(store_config_path, sizeof(store_config_path), "%s", config_path);
	return 0;
}

int clientid_exim_store_preload(const char *config_path, char *err_r)
{
	err_r[0] = '\0';
	int ret = store_handle(config_path, err_r);
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

int clientid_exim_store_query(const struct clientid_exim_query *q, struct clientid_verdict *v_r,
                              char *err_r)
{
	err_r[0] = '\0';
	int ret = store_handle(q->config_path, err_r);
	if (ret != 0) {
		verdict_on_init_error(q, v_r);
		return ret;
	}

	struct clientid_attempt a = {
	    .account = q->account,
	    .protocol = CLIENTID_PROTO_SMTP,
	    .tls = q->tls,
	    .now = (uint64_t)time(NULL),
	};
	switch (q->op) {
	case CLIENTID_EXIM_PRECHECK:
		a.auth = CLIENTID_AUTH_PRECHECK;
		break;
	case CLIENTID_EXIM_DECIDE:
		a.auth = q->password_ok ? CLIENTID_AUTH_SUCCESS : CLIENTID_AUTH_FAILURE;
		break;
	case CLIENTID_EXIM_RECORD:
		a.auth = CLIENTID_AUTH_SUCCESS;
		break;
	}

	if (q->ip != NULL && q->ip[0] != '\0' && clientid_ip_parse(q->ip, &a.ip) != 0) {
		verdict_fallback(v_r, CLIENTID_DENY, 0);
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "not an IP address");
		return CLIENTID_E_INVAL;
	}

	/* The token is turned into its fingerprint here and goes no further. */
	struct clientid_fp fp;
	if (q->type != NULL && q->type[0] != '\0') {
		const char *token = q->token != NULL ? q->token : "";
		ret = policydb_fingerprint(store_db, q->type, strlen(q->type), token, strlen(token),
		                           &fp);
		if (ret != 0) {
			verdict_fallback(v_r, CLIENTID_DENY, 0);
			snprintf(err_r, CLIENTID_ERRBUF_SIZE, "client id: %s",
			         clientid_strerror(ret));
			return ret;
		}
		a.type = q->type;
		a.fp = &fp;
	}

	switch (q->op) {
	case CLIENTID_EXIM_PRECHECK:
		ret = policydb_precheck(store_db, &a, v_r);
		break;
	case CLIENTID_EXIM_DECIDE:
		ret = policydb_decide(store_db, &a, v_r);
		break;
	case CLIENTID_EXIM_RECORD:
		ret = policydb_record(store_db, &a, v_r);
		break;
	}
	memset(&fp, 0, sizeof(fp));
	if (ret != 0)
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "%s", policydb_last_error(store_db));
	return ret;
}
