/* The adapter between the policy service and policy-db: the only file of
 * the service that calls policydb_*(). */
#include "lib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"

struct policy_service_store {
	struct policydb *db;
};

int policy_service_store_init(const struct clientid_config *cfg,
                              const struct clientid_secret *secret,
                              struct policy_service_store **store_r, char *err_r)
{
	struct policy_service_store *store = calloc(1, sizeof(*store));
	int ret;

	if (store == NULL) {
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "%s", clientid_strerror(CLIENTID_E_NOMEM));
		return CLIENTID_E_NOMEM;
	}
	ret = policydb_init_config(cfg, secret, 0, &store->db, err_r);
	if (ret != 0) {
		free(store);
		return ret;
	}
	*store_r = store;
	return 0;
}

void policy_service_store_deinit(struct policy_service_store **store)
{
	if (*store == NULL)
		return;
	policydb_deinit(&(*store)->db);
	free(*store);
	*store = NULL;
}

void policy_service_prepare(struct policy_service_store *store, struct policy_service_request *r)
{
	struct policydb_login *login = &r->login;
	char err[CLIENTID_ERRBUF_SIZE];
	int half = login->type == NULL || login->type[0] == '\0';

	if (login->prepared)
		return;
	/* Dovecot's fields were checked on their way here (the login plugin
	   forwards only valid client ids): drop what does not parse */
	login->flags |= POLICYDB_LOGIN_LENIENT;
	(void)policydb_login_prepare(store->db, login, err);
	if ((login->dropped & POLICYDB_DROPPED_IP) != 0)
		i_warning("clientid-policy: ignoring unparsable remote address");
	if ((login->dropped & POLICYDB_DROPPED_CLIENTID) == 0)
		return;
	if (login->clientid_error != 0)
		i_warning("clientid-policy: account=%s: ignoring the client id: %s", r->account,
		          clientid_strerror(login->clientid_error));
	else
		i_warning("clientid-policy: account=%s: ignoring a client id without %s",
		          r->account, half ? "type" : "token");
}

int policy_service_decide(struct policy_service_store *store, struct policy_service_request *r,
                          uint64_t now, struct clientid_verdict *verdict_r, char *err_r)
{
	policy_service_prepare(store, r);
	return policydb_login(store->db, NULL, &r->login, now, verdict_r, err_r);
}
