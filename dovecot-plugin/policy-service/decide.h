/* The policy service's adapter to the policy store: the only file of the
 * service that calls policydb_*(). It knows nothing of HTTP, JSON or
 * Dovecot's wire format; policy-body.c maps Dovecot's request onto a
 * policy_service_request, and policy-main.c turns the verdict into
 * Dovecot's answer. */
#ifndef POLICY_SERVICE_DECIDE_H
#define POLICY_SERVICE_DECIDE_H

#include "clientid-config.h"
#include "clientid-fp.h"
#include "clientid-policy.h"
#include "policydb.h"

/* One attempt, as the service understood Dovecot's request. login.account
 * points to account; login.type and login.token into the parsed body. */
struct policy_service_request {
	char account[CLIENTID_ACCOUNT_MAX + 1]; /* "" only for a precheck */
	struct policydb_login login;
};

struct policy_service_store;

/* Prepares the adapter for cfg and the site secret (both copied; the caller
 * may wipe its secret). The store itself is opened on first use, in the
 * serving process. Returns 0 or a negative CLIENTID_E_* code, with err_r
 * (CLIENTID_ERRBUF_SIZE bytes) saying why. */
int policy_service_store_init(const struct clientid_config *cfg,
                              const struct clientid_secret *secret,
                              struct policy_service_store **store_r, char *err_r);

/* Closes the store and frees *store, setting it to NULL. */
void policy_service_store_deinit(struct policy_service_store **store);

/* Parses the address and fingerprints the client id, wiping the token
 * (policydb_login_prepare()); logs a warning for each field it had to drop.
 * After it, r->login.have_fp, fp and ip_parsed say who is asking. */
void policy_service_prepare(struct policy_service_store *store, struct policy_service_request *r);

/* Decides and records one attempt at time now (seconds since the epoch)
 * through policydb_login(), which owns every rule. Always fills
 * *verdict_r. Returns 0, or a negative CLIENTID_E_* code when the store
 * failed: then *verdict_r already follows [store] on_error, and err_r
 * (CLIENTID_ERRBUF_SIZE bytes) says what failed, for one log line. */
int policy_service_decide(struct policy_service_store *store, struct policy_service_request *r,
                          uint64_t now, struct clientid_verdict *verdict_r, char *err_r);

#endif
