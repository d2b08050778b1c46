/* The adapter between the policy service and policy-db: the only file of
 * the service that calls policydb_*(). */
#include "decide.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policydb.h"

struct policy_service_store {
	struct policydb *db;
};

int policy_service_store_init(const struct clientid_config *cfg,
                              struct policy_service_store **store_r, char *err_r)
{
	struct policy_service_store *store = calloc(1, sizeof(*store));
	int ret;

	if (store == NULL) {
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "%s", clientid_strerror(CLIENTID_E_NOMEM));
		return CLIENTID_E_NOMEM;
	}
	/* the service fingerprints tokens itself, at once, and passes only
	   fingerprints; the store never needs the secret */
	ret = policydb_init_config(cfg, NULL, POLICYDB_NO_SECRET, &store->db, err_r);
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

int policy_service_decide(struct policy_service_store *store,
                          const struct policy_service_request *req, uint64_t now,
                          struct clientid_verdict *verdict_r, char *err_r)
{
	struct clientid_attempt a;
	int ret;

	memset(&a, 0, sizeof(a));
	a.account = req->account[0] != '\0' ? req->account : NULL;
	a.protocol = req->protocol;
	a.ip = req->ip;
	a.tls = req->tls;
	a.now = now;
	a.no_learn = req->no_learn;
	if (req->have_clientid) {
		a.type = req->type;
		a.fp = &req->fp;
	}
	switch (req->step) {
	case POLICY_SERVICE_PRECHECK:
		a.auth = CLIENTID_AUTH_PRECHECK;
		/* The core leaves what only the decision after the password
		   can tell (a walk through accounts, a device without an
		   account) to that decision. */
		ret = policydb_precheck(store->db, &a, verdict_r);
		break;
	case POLICY_SERVICE_VERIFIED:
		a.auth = CLIENTID_AUTH_SUCCESS;
		ret = policydb_decide(store->db, &a, verdict_r);
		break;
	case POLICY_SERVICE_FAILED:
	default:
		a.auth = CLIENTID_AUTH_FAILURE;
		ret = policydb_decide(store->db, &a, verdict_r);
		break;
	}
	if (ret != 0)
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "%s", policydb_last_error(store->db));
	return ret;
}
