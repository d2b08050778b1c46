/* The policy service's adapter to the policy store: the only file that calls
 * policydb_*(). It knows nothing of HTTP, JSON or Dovecot; policy-main.c
 * turns Dovecot's auth-policy requests into a policy_service_request and the
 * verdict back into Dovecot's answer. */
#ifndef POLICY_SERVICE_DECIDE_H
#define POLICY_SERVICE_DECIDE_H

#include "clientid-config.h"
#include "clientid-fp.h"
#include "clientid-policy.h"

enum policy_service_step {
	/* command=allow before the password was checked: refusals only, nothing
	   is recorded (policydb_precheck()) */
	POLICY_SERVICE_PRECHECK = 0,
	/* command=allow after the password verified: the full decision, which
	   records the device (learned, pending, counted) */
	POLICY_SERVICE_VERIFIED,
	/* command=report for an attempt whose password did not verify: the
	   failure counts toward the device and IP limits */
	POLICY_SERVICE_FAILED,
};

/* One attempt, as the service understood Dovecot's request. The raw token
 * never reaches this struct: only its fingerprint does. */
struct policy_service_request {
	enum policy_service_step step;
	char account[CLIENTID_ACCOUNT_MAX + 1]; /* "" only for a precheck */
	enum clientid_protocol protocol;
	struct clientid_ip ip;
	int tls;
	int have_clientid; /* type and fp are set */
	char type[CLIENTID_TYPE_MAX + 1];
	struct clientid_fp fp;
	int no_learn; /* the password may not have verified: trust no device */
};

struct policy_service_store;

/* Prepares the adapter for cfg, which must outlive it. The store itself is
 * opened on first use, in the serving process. Returns 0 or a negative
 * CLIENTID_E_* code, with err_r (CLIENTID_ERRBUF_SIZE bytes) saying why. */
int policy_service_store_init(const struct clientid_config *cfg,
                              struct policy_service_store **store_r, char *err_r);

/* Closes the store and frees *store, setting it to NULL. */
void policy_service_store_deinit(struct policy_service_store **store);

/* Decides and records one attempt at time now (seconds since the epoch).
 * Always fills *verdict_r. Returns 0, or a negative CLIENTID_E_* code when
 * the store failed: then *verdict_r already follows the configuration's
 * [store] on_error (CLIENTID_TEMPFAIL, or CLIENTID_ALLOW with
 * CLIENTID_VF_FAIL_OPEN), its reason is CLIENTID_R_STORE_ERROR, and err_r
 * (CLIENTID_ERRBUF_SIZE bytes) says what failed, for one log line. */
int policy_service_decide(struct policy_service_store *store,
                          const struct policy_service_request *req, uint64_t now,
                          struct clientid_verdict *verdict_r, char *err_r);

#endif
