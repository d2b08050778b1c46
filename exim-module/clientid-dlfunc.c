/* clientid.so: Exim ${dlfunc} functions that put the CLIENTID policy in
 * front of SMTP AUTH.
 *
 *   clientid_precheck {type}{token}{ip}{tls}[{options}]
 *       for acl_smtp_auth, which only keeps the answer in a variable: "yes"
 *       when the device (or, without a client id, the address) is locked
 *       out, blocked or revoked, "no" when it may try, "defer" when the
 *       store failed and [store] on_error = tempfail. It answers at once:
 *       the refusal is clientid_decide's, after the SASL exchange, since a
 *       refusal from the ACL comes before the password prompts (an oracle).
 *   clientid_decide {password}{account}{type}{token}{ip}{tls}[{options}]
 *       for an authenticator's server_condition: "yes" (allow) or "no"
 *       (deny). Exim answers "no" with its wrong-password 535, and every
 *       "no" is held until fail_delay after the call began, so a policy
 *       refusal and a wrong password look and take the same. The option
 *       precheck=VALUE passes clientid_precheck's answer: with "yes" the
 *       answer is "no" and, as for a refusal before the password check,
 *       nothing is recorded.
 *   clientid_fingerprint {type}{token}[{options}]
 *       the short fingerprint of the client id (the keyed HMAC that logs
 *       and clientidctl show, never the token), for log lines of your own;
 *       "" without a client id or when the site secret cannot be read.
 *   clientid_record {account}{type}{token}{ip}{tls}[{options}]
 *       for authenticators that run server_condition only after success
 *       (dovecot, cyrus_sasl): records the login, "yes"; only with
 *       precheck=yes it answers "no", after fail_delay, recording nothing.
 *   clientid_preload [{options}]
 *       optional, for smtp_accept_max_per_host, which the daemon expands
 *       before it forks for a connection: loads the module, the
 *       configuration and the secret once in the daemon, so connections
 *       do not each pay for it (about 2 ms). Yields "" and never fails.
 *
 * {password} is the result of the password check: yes/true/1 or
 * no/false/0/"". {tls} is true when non-empty and not no/false/0 (pass
 * $tls_in_cipher). The last argument may hold options, name=value words
 * separated by spaces: config=PATH (else $CLIENTID_CONFIG, which Exim keeps
 * only if keep_environment lists it and which is ignored in a setuid or
 * setgid process, else /etc/clientid/clientid.conf), fail_delay=TIME
 * (250ms, 1s, 0; default 1s) and, for clientid_decide, precheck=VALUE. ${dlfunc} takes at most 8
 * arguments and miscounts 8, so the functions take at most 7.
 *
 * Errors are turned into Exim's idioms here and only here: a bad call or a
 * store failure that must tempfail returns DEFER with the reason in *yield,
 * which Exim logs and turns into a temporary failure. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clientid-exim.h"
#include "clientid-options.h"
#include "clientid-fp.h"
#include "clientid-policy.h"
#include "clientid.h"

#define DLFUNC_IMPL
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include "local_scan.h"
#pragma GCC diagnostic pop

#define CLIENTID_EXPORT __attribute__((visibility("default")))

CLIENTID_EXPORT int clientid_precheck(uschar **yield, int argc, uschar *argv[]);
CLIENTID_EXPORT int clientid_decide(uschar **yield, int argc, uschar *argv[]);
CLIENTID_EXPORT int clientid_record(uschar **yield, int argc, uschar *argv[]);
CLIENTID_EXPORT int clientid_preload(uschar **yield, int argc, uschar *argv[]);
CLIENTID_EXPORT int clientid_fingerprint(uschar **yield, int argc, uschar *argv[]);

/* Reads the options from argv[first] on; NULL or the error in Exim's memory. */
static uschar *parse_options(int argc, uschar *argv[], int first,
                             struct clientid_exim_options *opt_r)
{
	char err[CLIENTID_ERRBUF_SIZE];
	if (clientid_exim_options_parse(argc, (const char *const *)argv, first, opt_r, err) == 0)
		return NULL;
	return string_sprintf("%s", err);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Holds a refusal until delay_ms after start, so that every refusal, a
 * wrong password or a policy one, takes the same time whatever the store
 * did meanwhile. */
static void pad_until(uint64_t start_ms, unsigned delay_ms)
{
	uint64_t deadline = start_ms + delay_ms;
	uint64_t now;
	while ((now = now_ms()) < deadline) {
		uint64_t left = deadline - now;
		struct timespec ts = {.tv_sec = (time_t)(left / 1000u),
		                      .tv_nsec = (long)(left % 1000u) * 1000000L};
		nanosleep(&ts, NULL);
	}
}

/* Copies an account name for the log: printable ASCII as is, anything
 * else (and the quote and backslash) as \xHH; cut at 64 bytes. */
static void log_escape(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; in[i] != '\0' && i < 64; i++) {
		unsigned char c = (unsigned char)in[i];
		if (o + 5 >= size)
			break;
		if (c > 0x20 && c < 0x7f && c != '"' && c != '\\')
			out[o++] = (char)c;
		else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

static const char *const op_names[] = {
    [CLIENTID_EXIM_PRECHECK] = "precheck",
    [CLIENTID_EXIM_DECIDE] = "decide",
    [CLIENTID_EXIM_RECORD] = "record",
};

/* The one log line of a decision: who, which device (short fingerprint,
 * never the token), verdict and reason. */
static void log_decision(const struct clientid_exim_query *q, const struct clientid_verdict *v,
                         int ret, const char *err)
{
	char account[64 * 4 + 1], observed[CLIENTID_OBSERVED_TEXT_MAX];
	log_escape(q->account != NULL ? q->account : "", account, sizeof(account));
	const char *mode = clientid_mode_name(v->mode);
	log_write(0, LOG_MAIN,
	          "clientid: %s account=\"%s\" device=%s type=%s ip=%s tls=%s verdict=%s "
	          "reason=%s mode=%s%s%s%s%s%s%s%s",
	          op_names[q->op], account, v->fp_short[0] != '\0' ? v->fp_short : "-",
	          q->type != NULL && q->type[0] != '\0' ? q->type : "-",
	          q->ip != NULL && q->ip[0] != '\0' ? q->ip : "-", q->tls ? "yes" : "no",
	          clientid_decision_name(v->decision), clientid_reason_name(v->reason),
	          mode != NULL ? mode : "-", clientid_verdict_observed(v, observed),
	          (v->flags & CLIENTID_VF_NEW_DEVICE) != 0 ? " new_device" : "",
	          (v->flags & CLIENTID_VF_TRAVEL) != 0 ? " travel" : "",
	          (v->flags & CLIENTID_VF_UNDER_ATTACK) != 0 ? " under_attack" : "",
	          (v->flags & CLIENTID_VF_FAIL_OPEN) != 0 ? " fail_open" : "",
	          ret != 0 ? " error=" : "", ret != 0 ? err : "");
}

/* Each function's name, its count of fixed arguments, and where it finds
 * the login in them (-1: not there). The client id comes as Exim's
 * variables hold it: both empty when none was given; a type without a token
 * cannot come from the CLIENTID patch, and is passed on to be refused by
 * the grammar check. */
static const struct {
	const char *fn;
	int fixed;
	int account, type, token, ip, tls;
} query_args[] = {
    [CLIENTID_EXIM_PRECHECK] = {"clientid_precheck", 4, -1, 0, 1, 2, 3},
    [CLIENTID_EXIM_DECIDE] = {"clientid_decide", 6, 1, 2, 3, 4, 5},
    [CLIENTID_EXIM_RECORD] = {"clientid_record", 5, 0, 1, 2, 3, 4},
};

static struct clientid_exim_query query_from_args(enum clientid_exim_op op, uschar *argv[],
                                                  const struct clientid_exim_options *opt)
{
	struct clientid_exim_query q = {
	    .op = op,
	    .config_path = opt->config_path,
	    .account = query_args[op].account >= 0 ? CS argv[query_args[op].account] : NULL,
	    .type = CS argv[query_args[op].type],
	    .token = CS argv[query_args[op].token],
	    .ip = CS argv[query_args[op].ip],
	    .tls = clientid_exim_parse_tls(CS argv[query_args[op].tls]),
	};
	return q;
}

/* The refusal that clientid_precheck found, now that the SASL exchange and
 * the password check are over: "no" after the fail delay. As before the
 * exchange, nothing is recorded: the precheck's own line names the device
 * and the reason. */
static int precheck_refusal(uschar **yield, const struct clientid_exim_query *q, uint64_t start,
                            unsigned delay_ms)
{
	char account[64 * 4 + 1];
	log_escape(q->account != NULL ? q->account : "", account, sizeof(account));
	log_write(0, LOG_MAIN,
	          "clientid: %s account=\"%s\" ip=%s verdict=deny refused_by=precheck "
	          "(not recorded)",
	          op_names[q->op], account, q->ip != NULL && q->ip[0] != '\0' ? q->ip : "-");
	pad_until(start, delay_ms);
	*yield = US "no";
	return OK;
}

/* Asks the store about a login with an account, and logs the answer. Never
 * asks about an account name that is not one. */
static int ask_and_log(const struct clientid_exim_query *q, struct clientid_verdict *v,
                       char err[CLIENTID_ERRBUF_SIZE])
{
	int ret = clientid_exim_store_check(q, v, err);
	if (ret == 0)
		ret = clientid_exim_store_query(q, v, err);
	log_decision(q, v, ret, err);
	return ret;
}

/* The fixed arguments of fn are there and its options parse: 0, or -1 with
 * the reason in *yield. */
static int call_args(uschar **yield, const char *fn, int argc, uschar *argv[], int fixed,
                     struct clientid_exim_options *opt_r)
{
	if (argc < fixed) {
		*yield = string_sprintf("clientid: %s needs at least %d arguments, got %d", fn,
		                        fixed, argc);
		return -1;
	}
	uschar *bad = parse_options(argc, argv, fixed, opt_r);
	if (bad == NULL)
		return 0;
	*yield = string_sprintf("clientid: %s: %s", fn, bad);
	return -1;
}

/* The arguments of the login function op: its options into *opt_r and the
 * login into *q_r (pointers into argv). 0, or -1 with the reason in *yield. */
static int login_args(uschar **yield, enum clientid_exim_op op, int argc, uschar *argv[],
                      struct clientid_exim_options *opt_r, struct clientid_exim_query *q_r)
{
	if (call_args(yield, query_args[op].fn, argc, argv, query_args[op].fixed, opt_r) != 0)
		return -1;
	*q_r = query_from_args(op, argv, opt_r);
	return 0;
}

int clientid_precheck(uschar **yield, int argc, uschar *argv[])
{
	struct clientid_exim_options opt;
	struct clientid_exim_query q;
	if (login_args(yield, CLIENTID_EXIM_PRECHECK, argc, argv, &opt, &q) != 0)
		return DEFER;

	struct clientid_verdict v;
	char err[CLIENTID_ERRBUF_SIZE];
	int ret = clientid_exim_store_query(&q, &v, err);
	/* Only refusals and trouble are worth a line: a precheck runs for
	 * every AUTH, and clientid_decide logs the outcome. */
	if (v.decision != CLIENTID_ALLOW || ret != 0)
		log_decision(&q, &v, ret, err);
	switch (v.decision) {
	case CLIENTID_ALLOW:
		*yield = US "no";
		break;
	case CLIENTID_DENY:
		/* Never waits: it answers before the SASL exchange, and
		 * clientid_decide refuses after it, padded. */
		*yield = US "yes";
		break;
	case CLIENTID_TEMPFAIL:
		*yield = US "defer";
		break;
	}
	return OK;
}

int clientid_decide(uschar **yield, int argc, uschar *argv[])
{
	uint64_t start = now_ms();
	struct clientid_exim_options opt;
	struct clientid_exim_query q;
	if (login_args(yield, CLIENTID_EXIM_DECIDE, argc, argv, &opt, &q) != 0)
		return DEFER;
	int password_ok = clientid_exim_parse_bool(CS argv[0]);
	if (password_ok < 0) {
		/* Never echo it: a misconfiguration could pass the password. */
		*yield = US "clientid: clientid_decide: the password result is neither yes nor no";
		return DEFER;
	}
	q.password_ok = password_ok;
	if (opt.precheck_refused)
		return precheck_refusal(yield, &q, start, opt.fail_delay_ms);

	struct clientid_verdict v;
	char err[CLIENTID_ERRBUF_SIZE];
	(void)ask_and_log(&q, &v, err);

	switch (v.decision) {
	case CLIENTID_ALLOW:
		*yield = US "yes";
		return OK;
	case CLIENTID_DENY:
		pad_until(start, opt.fail_delay_ms);
		*yield = US "no";
		return OK;
	case CLIENTID_TEMPFAIL:
		break;
	}
	*yield = string_sprintf("clientid: policy store unavailable: %s", err);
	return DEFER;
}

int clientid_record(uschar **yield, int argc, uschar *argv[])
{
	uint64_t start = now_ms();
	struct clientid_exim_options opt;
	struct clientid_exim_query q;
	if (login_args(yield, CLIENTID_EXIM_RECORD, argc, argv, &opt, &q) != 0)
		return DEFER;
	if (opt.precheck_refused) {
		/* Blocked, revoked or locked out: the one refusal it makes. */
		return precheck_refusal(yield, &q, start, opt.fail_delay_ms);
	}

	struct clientid_verdict v;
	char err[CLIENTID_ERRBUF_SIZE];
	(void)ask_and_log(&q, &v, err);
	/* The login already happened: recording never refuses it. */
	*yield = US "yes";
	return OK;
}

/* clientid_config_contradictions()'s warnings, in the main log. */
static void preload_warn(void *ctx, const char *msg)
{
	log_write(0, LOG_MAIN, "clientid: warning: configuration %s: %s", (const char *)ctx, msg);
}

int clientid_preload(uschar **yield, int argc, uschar *argv[])
{
	/* Runs in the daemon for every connection; the work is done once. */
	static int done;
	*yield = US "";
	if (done)
		return OK;
	done = 1;
	struct clientid_exim_options opt;
	if (call_args(yield, "clientid_preload", argc, argv, 0, &opt) != 0) {
		log_write(0, LOG_MAIN, "clientid: preload: bad arguments");
		*yield = US "";
		return OK;
	}
	char err[CLIENTID_ERRBUF_SIZE];
	if (clientid_exim_store_preload(opt.config_path, preload_warn, (void *)opt.config_path,
	                                err) != 0)
		log_write(0, LOG_MAIN,
		          "clientid: preload: %s (connections will load it themselves)", err);
	return OK;
}

int clientid_fingerprint(uschar **yield, int argc, uschar *argv[])
{
	struct clientid_exim_options opt;
	if (call_args(yield, "clientid_fingerprint", argc, argv, 2, &opt) != 0)
		return DEFER;
	char fp_short[CLIENTID_FP_SHORT_LEN + 1];
	char err[CLIENTID_ERRBUF_SIZE];
	int ret =
	    clientid_exim_store_fingerprint(opt.config_path, CS argv[0], CS argv[1], fp_short, err);
	if (ret < 0)
		log_write(0, LOG_MAIN, "clientid: fingerprint: %s", err);
	/* A log line without the device beats a deferred ACL. */
	*yield = ret > 0 ? string_sprintf("%s", fp_short) : US "";
	return OK;
}
