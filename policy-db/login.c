/* The one login entry point: a host's raw fields in, a verdict out. Both
 * servers come through here: the Dovecot policy service
 * (dovecot-plugin/policy-service/decide.c) and the Exim module
 * (exim-module/clientid-store.c). It checks the account, parses the
 * address, fingerprints the client id and wipes the token, dispatches on
 * the step, and owns the verdict for a store that cannot be asked. */
#include "policydb-private.h"

#include <stdio.h>
#include <string.h>

void policydb_login_fallback(const struct clientid_config *cfg, enum policydb_login_step step,
                             struct clientid_verdict *v_r)
{
	memset(v_r, 0, sizeof(*v_r));
	v_r->reason = CLIENTID_R_STORE_ERROR;
	if (cfg == NULL || cfg->store_on_error == CLIENTID_STORE_ERROR_TEMPFAIL) {
		v_r->decision = CLIENTID_TEMPFAIL;
		return;
	}
	v_r->decision = step == POLICYDB_LOGIN_FAILED ? CLIENTID_DENY : CLIENTID_ALLOW;
	v_r->flags = CLIENTID_VF_FAIL_OPEN;
}

static int present(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static void wipe_token(struct policydb_login *login)
{
	if (login->token != NULL)
		explicit_bzero(login->token, strlen(login->token));
}

/* Fingerprints the client id into login->fp. Returns 0 (also when there is
 * none, or a lenient host's was dropped) or a negative code. */
static int prepare_clientid(struct policydb *db, struct policydb_login *login, char *err_r)
{
	int lenient = (login->flags & POLICYDB_LOGIN_LENIENT) != 0;
	int has_type = present(login->type), has_token = present(login->token);
	login->clientid_given = has_type && has_token;
	if (!has_type && !(lenient && has_token))
		return 0;
	if (lenient && has_type != has_token) {
		login->dropped |= POLICYDB_DROPPED_CLIENTID;
		return 0;
	}
	const char *token = login->token != NULL ? login->token : "";
	int ret = policydb_fingerprint(db, login->type, strlen(login->type), token, strlen(token),
	                               &login->fp);
	if (ret == 0) {
		login->have_fp = 1;
		return 0;
	}
	if (lenient) {
		login->dropped |= POLICYDB_DROPPED_CLIENTID;
		login->clientid_error = ret;
		return 0;
	}
	snprintf(err_r, CLIENTID_ERRBUF_SIZE, "client id: %s", clientid_strerror(ret));
	return ret;
}

int policydb_login_prepare(struct policydb *db, struct policydb_login *login, char *err_r)
{
	if (login->prepared)
		return 0;
	login->prepared = 1;
	memset(&login->ip_parsed, 0, sizeof(login->ip_parsed));
	if (present(login->ip) && clientid_ip_parse(login->ip, &login->ip_parsed) != 0) {
		memset(&login->ip_parsed, 0, sizeof(login->ip_parsed));
		if ((login->flags & POLICYDB_LOGIN_LENIENT) == 0) {
			wipe_token(login);
			snprintf(err_r, CLIENTID_ERRBUF_SIZE, "not an IP address");
			return CLIENTID_E_INVAL;
		}
		login->dropped |= POLICYDB_DROPPED_IP;
	}
	/* The token becomes its fingerprint here and goes no further. */
	int ret = prepare_clientid(db, login, err_r);
	wipe_token(login);
	return ret;
}

int policydb_login_check_account(const struct policydb_login *login, struct clientid_verdict *v_r,
                                 char *err_r)
{
	if ((login->step == POLICYDB_LOGIN_PRECHECK && !present(login->account)) ||
	    clientid_account_check(login->account) == 0)
		return 0;
	/* Nothing to record against: an empty or odd name is a failure. */
	memset(v_r, 0, sizeof(*v_r));
	if (login->step == POLICYDB_LOGIN_RECORD) {
		/* The login already happened: recording never refuses it. */
		v_r->decision = CLIENTID_ALLOW;
		v_r->reason = CLIENTID_R_STORE_ERROR;
	} else {
		v_r->decision = CLIENTID_DENY;
		v_r->reason = CLIENTID_R_AUTH_FAILED;
	}
	snprintf(err_r, CLIENTID_ERRBUF_SIZE, "not a valid account name");
	return CLIENTID_E_INVAL;
}

int policydb_login(struct policydb *db, const struct clientid_config *cfg,
                   struct policydb_login *login, uint64_t now, struct clientid_verdict *v_r,
                   char *err_r)
{
	int ret = policydb_login_check_account(login, v_r, err_r);
	if (ret != 0) {
		wipe_token(login);
		return ret;
	}
	if (db == NULL) {
		wipe_token(login);
		policydb_login_fallback(cfg, login->step, v_r);
		return CLIENTID_E_STORE;
	}
	ret = policydb_login_prepare(db, login, err_r);
	if (ret != 0) {
		memset(v_r, 0, sizeof(*v_r));
		v_r->decision = CLIENTID_DENY;
		v_r->reason = CLIENTID_R_STORE_ERROR;
		return ret;
	}
	struct clientid_attempt a = {
	    .account = present(login->account) ? login->account : NULL,
	    .protocol = login->protocol,
	    .ip = login->ip_parsed,
	    .tls = login->tls == POLICYDB_TLS_IF_CLIENTID ? login->clientid_given
	                                                  : login->tls == POLICYDB_TLS_YES,
	    .now = now,
	    .no_learn = login->no_learn,
	};
	if (login->have_fp) {
		a.type = login->type;
		a.fp = &login->fp;
	}
	switch (login->step) {
	case POLICYDB_LOGIN_PRECHECK:
		a.auth = CLIENTID_AUTH_PRECHECK;
		ret = policydb_precheck(db, &a, v_r);
		break;
	case POLICYDB_LOGIN_VERIFIED:
		a.auth = CLIENTID_AUTH_SUCCESS;
		ret = policydb_decide(db, &a, v_r);
		break;
	case POLICYDB_LOGIN_RECORD:
		a.auth = CLIENTID_AUTH_SUCCESS;
		ret = policydb_record(db, &a, v_r);
		break;
	case POLICYDB_LOGIN_FAILED:
	default:
		a.auth = CLIENTID_AUTH_FAILURE;
		ret = policydb_decide(db, &a, v_r);
		break;
	}
	if (ret != 0)
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "%s", policydb_last_error(db));
	return ret;
}
