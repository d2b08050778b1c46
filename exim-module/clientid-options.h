/* The Exim module's arguments: the options word list of every ${dlfunc}
 * call and the yes/no words. Nothing here knows of Exim: the fuzz target
 * tests/fuzz/fuzz_dlfunc.c links this file with the module's glue. */
#ifndef CLIENTID_OPTIONS_H
#define CLIENTID_OPTIONS_H

#include "clientid-config.h"
#include "clientid.h"

#define CLIENTID_FAIL_DELAY_DEFAULT_MS 1000u
#define CLIENTID_FAIL_DELAY_MAX_MS     60000u

/* Exim's ${dlfunc} reads at most 8 arguments and finds their number by a
 * NULL after the last, which is missing when all 8 are given. */
#define CLIENTID_DLFUNC_MAX_ARGS 7

struct clientid_exim_options {
	const char *config_path; /* config_buf, the environment's or the default */
	unsigned fail_delay_ms;
	int precheck_refused; /* precheck=yes */
	char config_buf[CLIENTID_PATH_MAX];
};

/* Returns 1 for yes/true/1, 0 for no/false/0/"", -1 for anything else. */
int clientid_exim_parse_bool(const char *s);

/* $tls_in_cipher and friends: 1 for any text but ""/no/false/0. */
int clientid_exim_parse_tls(const char *s);

/* Reads the options from argv[first] to argv[argc - 1]: each argument holds
 * name=value words separated by white space (so one argument can carry them
 * all: ${dlfunc} takes at most 8 arguments, and passes the 8th unreliably).
 * config=PATH, fail_delay=TIME, precheck=VALUE. Unset ones take their
 * defaults (config: $CLIENTID_CONFIG unless setuid, else
 * CLIENTID_EXIM_CONFIG_DEFAULT). Returns 0, or -1 with err_r
 * (CLIENTID_ERRBUF_SIZE bytes) naming the bad option. opt_r->config_path
 * points into opt_r or the environment. */
int clientid_exim_options_parse(int argc, const char *const argv[], int first,
                                struct clientid_exim_options *opt_r, char *err_r);

#endif
