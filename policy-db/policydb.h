/* policy-db: the device history store, and the calls the Dovecot policy
 * service and the Exim dlfunc module make on every login.
 *
 * Usage, in the process that serves logins (after any fork): every host
 * goes through policydb_login(), which owns the rules a host would
 * otherwise write itself.
 *
 *     static struct clientid_config cfg;
 *     static struct policydb *db;
 *     char err[CLIENTID_ERRBUF_SIZE];
 *     if (db == NULL && clientid_config_load(path, &cfg, err) == 0)
 *             policydb_init_loaded(&cfg, 0, &db, err);   // db stays NULL on failure
 *
 *     struct policydb_login login = {
 *             .step = password_ok ? POLICYDB_LOGIN_VERIFIED : POLICYDB_LOGIN_FAILED,
 *             .account = user, .protocol = CLIENTID_PROTO_SMTP,
 *             .ip = remote_ip, .tls = POLICYDB_TLS_YES,
 *             .type = type, .token = token_copy,       // wiped by the call
 *     };
 *     struct clientid_verdict v;
 *     if (policydb_login(db, &cfg, &login, (uint64_t)time(NULL), &v, err) != 0)
 *             log_error("clientid: %s", err);
 *     // v is always filled in: on a store failure as [store] on_error says.
 *     if (v.decision != CLIENTID_ALLOW) refuse exactly like a wrong password
 *     log("clientid: %s %s device=%s", clientid_decision_name(v.decision),
 *         clientid_reason_name(v.reason), v.fp_short);
 *
 * Before the password is checked, step POLICYDB_LOGIN_PRECHECK says whether
 * the device or address is locked out or blocked; it writes nothing. Hosts
 * that only learn about logins afterwards use POLICYDB_LOGIN_RECORD.
 * policydb_decide(), policydb_precheck() and policydb_record() below are
 * what it dispatches to, for tests and tools that hold an attempt already.
 *
 * One handle per process. It opens the store lazily, and reopens it when
 * getpid() changes, so a handle made before fork() is safe to use in the
 * child (the parent's environment is abandoned, never used). Not
 * thread-safe: use one handle per thread or a lock. */
#ifndef POLICYDB_H
#define POLICYDB_H

#include "clientid.h"
#include "clientid-config.h"
#include "clientid-fp.h"
#include "clientid-policy.h"

struct policydb;

enum policydb_init_flags {
	POLICYDB_NO_CREATE = 1u << 0, /* a missing store is an error (CLIENTID_E_STORE_MISSING) */
	POLICYDB_NO_SECRET = 1u << 1, /* do not load the site secret (no fingerprints) */
	POLICYDB_NO_ALERTS = 1u << 2, /* never run alert_command */
};

/* Loads the configuration at config_path and the site secret it names, and
 * makes a handle. The store itself is opened at the first call that needs
 * it. Returns 0, or CLIENTID_E_CONFIG / E_IO / E_PERM / E_SECRET_SHORT /
 * E_NOMEM with err_r (CLIENTID_ERRBUF_SIZE bytes) naming the file. The
 * caller owns *db_r and frees it with policydb_deinit(). */
int policydb_init(const char *config_path, unsigned flags, struct policydb **db_r, char *err_r);

/* As policydb_init() from a configuration already loaded (copied): loads
 * the site secret it names unless flags has POLICYDB_NO_SECRET. For hosts
 * that keep the configuration to answer by [store] on_error when the handle
 * cannot be made (policydb_login() with db NULL). */
int policydb_init_loaded(const struct clientid_config *cfg, unsigned flags, struct policydb **db_r,
                         char *err_r);

/* As policydb_init() from a configuration already loaded; the secret may be
 * NULL (then policydb_fingerprint() fails with CLIENTID_E_INVAL). Both are
 * copied. */
int policydb_init_config(const struct clientid_config *cfg, const struct clientid_secret *secret,
                         unsigned flags, struct policydb **db_r, char *err_r);

/* Closes the store (if this process opened it), wipes the secret, frees the
 * handle and sets *db to NULL. Safe on NULL. */
void policydb_deinit(struct policydb **db);

/* The text of the last failure, naming the store path. Owned by the handle,
 * valid until the next call on it. "" when there was none. */
const char *policydb_last_error(const struct policydb *db);

/* The configuration in use. Owned by the handle. */
const struct clientid_config *policydb_config(const struct policydb *db);

/* Fingerprint of (type, token) with the site secret; see clientid_fp_compute().
 * The token is not kept. */
int policydb_fingerprint(struct policydb *db, const char *type, size_t type_len, const char *token,
                         size_t token_len, struct clientid_fp *fp_r);

/* Decides a login after the password was checked (.auth SUCCESS or
 * FAILURE) and records it: reads the history, runs the policy engine, and
 * writes the result in one short transaction. Security changes (new
 * devices, blocks, events) are synced before it returns; routine touches
 * are not. Events flagged as alerts start [events] alert_command, detached;
 * nothing waits for it.
 * Returns 0 when the store was consulted. On a store failure returns its
 * CLIENTID_E_* code (text in policydb_last_error()) and *v_r still holds
 * the answer [store] on_error asks for: TEMPFAIL, or ALLOW with
 * CLIENTID_VF_FAIL_OPEN (DENY for a failed password), reason
 * CLIENTID_R_STORE_ERROR. CLIENTID_E_INVAL: a malformed attempt, *v_r is a
 * deny. *v_r is always filled in. */
int policydb_decide(struct policydb *db, const struct clientid_attempt *a,
                    struct clientid_verdict *v_r);

/* Before authentication: is this device (or, without a client id, this
 * address) revoked, blocked or locked out, is a required client id missing,
 * or is the site under attack and the device not trusted? a->auth must be
 * CLIENTID_AUTH_PRECHECK; a->account may be NULL when not known yet. Reads
 * only. Returns and fills *v_r as policydb_decide(). */
int policydb_precheck(struct policydb *db, const struct clientid_attempt *a,
                      struct clientid_verdict *v_r);

/* For hosts that learn about a login only after it happened: records it as
 * policydb_decide() would, but never refuses. A verdict that would have
 * denied comes back as ALLOW with CLIENTID_VF_OBSERVED and the reason, for
 * the log. Returns as policydb_decide(). */
int policydb_record(struct policydb *db, const struct clientid_attempt *a,
                    struct clientid_verdict *v_r);

/* --- The one login entry point, for every host --- */

enum policydb_login_step {
	POLICYDB_LOGIN_PRECHECK = 0, /* before the password check: refusals only, writes nothing */
	POLICYDB_LOGIN_VERIFIED,     /* the password verified: decide and record */
	POLICYDB_LOGIN_FAILED,       /* the password did not verify: decide and count the failure */
	POLICYDB_LOGIN_RECORD,       /* a success learnt afterwards: record it, never refuse */
};

enum policydb_login_tls {
	POLICYDB_TLS_NO = 0,
	POLICYDB_TLS_YES,
	/* The host saw no TLS but cannot see one that a trusted proxy
	 * terminated (Dovecot's auth-policy request). Both login paths accept a
	 * client id only over TLS, so one that arrived proves it: TLS exactly
	 * when a type and a token are given. */
	POLICYDB_TLS_IF_CLIENTID,
};

enum policydb_login_flags {
	/* A malformed address, or a client id that is malformed or only half
	 * there, is dropped (see .dropped) instead of refused: for a host whose
	 * fields were checked before they reached it (the Dovecot login plugin
	 * forwards only valid client ids). */
	POLICYDB_LOGIN_LENIENT = 1u << 0,
};

enum policydb_login_dropped {
	POLICYDB_DROPPED_IP = 1u << 0,       /* the address did not parse */
	POLICYDB_DROPPED_CLIENTID = 1u << 1, /* see .clientid_error */
};

/* One login as the host saw it, raw. Pointers are the caller's, read during
 * the call only; the token is wiped by it. */
struct policydb_login {
	enum policydb_login_step step;
	unsigned flags;      /* enum policydb_login_flags */
	const char *account; /* as typed; NULL or "" only for a precheck */
	enum clientid_protocol protocol;
	const char *ip; /* textual; NULL or "": none (a local login) */
	enum policydb_login_tls tls;
	const char *type; /* client-id-type; NULL or "": no client id */
	char *token;      /* the raw token, NUL-terminated; NULL: none */
	int no_learn;     /* see struct clientid_attempt */

	/* Filled in by policydb_login_prepare(). */
	int prepared;
	int clientid_given;           /* both a type and a token were given */
	unsigned dropped;             /* enum policydb_login_dropped, LENIENT only */
	int clientid_error;           /* why the client id was dropped; 0: half of one */
	struct clientid_ip ip_parsed; /* zero without an address */
	int have_fp;                  /* fp is the client id's fingerprint */
	struct clientid_fp fp;
};

/* The verdict when the store cannot be asked, as [store] on_error says:
 * TEMPFAIL, or with on_error = allow ALLOW with CLIENTID_VF_FAIL_OPEN (DENY
 * for a failed password). cfg NULL (the configuration could not be read):
 * TEMPFAIL. Reason CLIENTID_R_STORE_ERROR; mode and device left empty. */
void policydb_login_fallback(const struct clientid_config *cfg, enum policydb_login_step step,
                             struct clientid_verdict *v_r);

/* The first half of policydb_login(), for a host that needs the device's
 * fingerprint without a decision (to match one request to another): parses
 * the address, fingerprints the client id with db's secret and wipes the
 * token. Idempotent. Returns 0, or (without POLICYDB_LOGIN_LENIENT) a
 * negative CLIENTID_E_* code with err_r (CLIENTID_ERRBUF_SIZE bytes) saying
 * why: CLIENTID_E_INVAL for an address, E_TYPE/E_TOKEN for a client id. */
int policydb_login_prepare(struct policydb *db, struct policydb_login *login, char *err_r);

/* The account check that policydb_login() makes first: 0 when the account
 * is valid (or absent from a precheck). Else CLIENTID_E_INVAL with err_r
 * and *v_r: DENY reason CLIENTID_R_AUTH_FAILED, or for a record (the login
 * already happened) ALLOW reason CLIENTID_R_STORE_ERROR. For hosts that
 * check before they make their handle. */
int policydb_login_check_account(const struct policydb_login *login, struct clientid_verdict *v_r,
                                 char *err_r);

/* Decides one login at time now, for any host: checks the account name,
 * prepares the login (above), and dispatches on the step to
 * policydb_precheck(), policydb_decide() or policydb_record(), which key on
 * the canonical account name ([policy] account_case).
 * db NULL means the host could not make its handle: then *v_r follows
 * policydb_login_fallback() with cfg (NULL when unreadable), err_r is left
 * as the caller wrote it, and CLIENTID_E_STORE is returned.
 * Returns 0 when the store was consulted. Otherwise a negative CLIENTID_E_*
 * code with err_r (CLIENTID_ERRBUF_SIZE bytes) for one log line, never the
 * token, and *v_r is: for a malformed account (CLIENTID_E_INVAL) DENY
 * reason CLIENTID_R_AUTH_FAILED, or for a record ALLOW reason
 * CLIENTID_R_STORE_ERROR; for a malformed address or client id DENY reason
 * CLIENTID_R_STORE_ERROR; for a store failure the fallback with the mode
 * and device filled in. *v_r is always filled in. */
int policydb_login(struct policydb *db, const struct clientid_config *cfg,
                   struct policydb_login *login, uint64_t now, struct clientid_verdict *v_r,
                   char *err_r);

/* Renders an event as one JSON object (no newline) into buf, as
 * alert_command and `clientidctl events` see it. Returns the length, or
 * CLIENTID_E_NOMEM when it does not fit. */
int policydb_event_json(const struct clientid_event *ev, char *buf, size_t size);

#endif
