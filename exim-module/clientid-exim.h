/* The clientid Exim module, between its two halves.
 *
 * clientid-dlfunc.c is the Exim glue: it alone includes local_scan.h, parses
 * the ${dlfunc} arguments, logs with log_write() and turns results into
 * Exim's idioms. clientid-store.c is the adapter to the policy store: it
 * alone calls policydb_*. Nothing here knows of Exim. */
#ifndef CLIENTID_EXIM_H
#define CLIENTID_EXIM_H

#include "clientid-fp.h"
#include "clientid-policy.h"
#include "clientid.h"

/* Used when neither the config= argument nor the CLIENTID_CONFIG
 * environment variable names a file. */
#define CLIENTID_EXIM_CONFIG_DEFAULT CLIENTID_CONFIG_PATH

enum clientid_exim_op {
	CLIENTID_EXIM_PRECHECK = 0, /* before AUTH: locked out, blocked? writes nothing */
	CLIENTID_EXIM_DECIDE,       /* after the password check: decide and record */
	CLIENTID_EXIM_RECORD,       /* after a successful login elsewhere: record only */
};

/* One question to the store. Every pointer is the caller's and only read
 * during the call. */
struct clientid_exim_query {
	enum clientid_exim_op op;
	const char *config_path; /* NUL-terminated, never NULL */
	const char *account;     /* NULL for a precheck */
	const char *type;        /* NULL or "": no client id */
	const char *token;       /* the raw token: fingerprinted, never kept */
	const char *ip;          /* textual address; NULL or "": none (local) */
	int tls;
	int password_ok; /* DECIDE only */
};

/* Asks the store. The handle is made at the first call, kept for the life
 * of the process, and made again when the configuration path changes; the
 * store itself is reopened after a fork (getpid() changes).
 * Returns 0 when the store was consulted; *v_r holds its verdict.
 * On failure returns a negative CLIENTID_E_* code, writes a one-line reason
 * into err_r (CLIENTID_ERRBUF_SIZE bytes; never the token), and *v_r holds
 * what the configuration's [store] on_error asks for (TEMPFAIL, or ALLOW
 * with CLIENTID_VF_FAIL_OPEN; a failed password stays a DENY). When the
 * configuration itself cannot be loaded, on_error is unknown and *v_r is a
 * TEMPFAIL. CLIENTID_E_TYPE/E_TOKEN/E_INVAL: the query itself is malformed
 * (bad client id, account or address); *v_r is a DENY. */
int clientid_exim_store_query(const struct clientid_exim_query *q, struct clientid_verdict *v_r,
                              char *err_r);

/* Whether q's account may be asked about: 0 when it is valid (or absent
 * from a precheck), else CLIENTID_E_INVAL with *v_r and err_r as
 * policydb_login_check_account() gives them (the module checks before it
 * asks, and never asks about such a name). */
int clientid_exim_store_check(const struct clientid_exim_query *q, struct clientid_verdict *v_r,
                              char *err_r);

/* The short fingerprint (CLIENTID_FP_SHORT_LEN hex digits and a NUL) of a
 * client id, with the site secret of the configuration at config_path.
 * Returns 1 with it in fp_short_r, 0 when type is NULL or "" (no client id;
 * fp_short_r is ""), or a negative CLIENTID_E_* code with err_r as for
 * clientid_exim_store_query() (a malformed type or token is
 * CLIENTID_E_TYPE / CLIENTID_E_TOKEN). The token is not kept. */
int clientid_exim_store_fingerprint(const char *config_path, const char *type, const char *token,
                                    char fp_short_r[CLIENTID_FP_SHORT_LEN + 1], char *err_r);

/* Makes the process's handle now (configuration, secret, OpenSSL), without
 * opening the store: for the Exim daemon, whose connection processes then
 * inherit it instead of each paying for it. Each contradiction of the
 * configuration (clientid_config_contradictions()) goes to warn. Returns 0
 * or a negative CLIENTID_E_* code with err_r as for
 * clientid_exim_store_query(). */
int clientid_exim_store_preload(const char *config_path, clientid_warn_fn *warn, void *ctx,
                                char *err_r);

#endif
