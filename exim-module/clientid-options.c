/* The Exim module's argument words (clientid-options.h). */
#include "clientid-options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clientid-exim.h"

int clientid_exim_parse_bool(const char *s)
{
	if (s[0] == '\0' || strcmp(s, "0") == 0 || strcasecmp(s, "no") == 0 ||
	    strcasecmp(s, "false") == 0)
		return 0;
	if (strcmp(s, "1") == 0 || strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0)
		return 1;
	return -1;
}

int clientid_exim_parse_tls(const char *s)
{
	return clientid_exim_parse_bool(s) != 0;
}

/* "250ms", "2s", "0": milliseconds into *ms_r. Returns 0 or -1. */
static int parse_delay(const char *s, unsigned *ms_r)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (end == s || errno != 0 || s[0] == '-')
		return -1;
	if (strcmp(end, "s") == 0)
		v *= 1000;
	else if (strcmp(end, "ms") != 0 && end[0] != '\0')
		return -1;
	if (v > CLIENTID_FAIL_DELAY_MAX_MS)
		return -1;
	*ms_r = (unsigned)v;
	return 0;
}

/* Applies one name=value option. Returns 0 or -1 with err_r. */
static int parse_option(const char *arg, size_t len, struct clientid_exim_options *opt_r,
                        char *err_r)
{
	if (len > 7 && strncmp(arg, "config=", 7) == 0) {
		if (len - 7 >= sizeof(opt_r->config_buf)) {
			snprintf(err_r, CLIENTID_ERRBUF_SIZE, "config= path too long");
			return -1;
		}
		memcpy(opt_r->config_buf, arg + 7, len - 7);
		opt_r->config_buf[len - 7] = '\0';
		opt_r->config_path = opt_r->config_buf;
		return 0;
	}
	if (len > 11 && strncmp(arg, "fail_delay=", 11) == 0) {
		char buf[16];
		if (len - 11 >= sizeof(buf)) {
			snprintf(err_r, CLIENTID_ERRBUF_SIZE, "bad fail_delay");
			return -1;
		}
		memcpy(buf, arg + 11, len - 11);
		buf[len - 11] = '\0';
		if (parse_delay(buf, &opt_r->fail_delay_ms) != 0) {
			snprintf(err_r, CLIENTID_ERRBUF_SIZE, "bad fail_delay \"%s\"", buf);
			return -1;
		}
		return 0;
	}
	if (len >= 9 && strncmp(arg, "precheck=", 9) == 0) {
		/* What acl_smtp_auth kept from clientid_precheck; "" when that
		 * ACL is not in use. */
		opt_r->precheck_refused = len == 12 && strncmp(arg + 9, "yes", 3) == 0;
		return 0;
	}
	snprintf(err_r, CLIENTID_ERRBUF_SIZE, "unknown option \"%.*s\"", (int)(len > 40 ? 40 : len),
	         arg);
	return -1;
}

int clientid_exim_options_parse(int argc, const char *const argv[], int first,
                                struct clientid_exim_options *opt_r, char *err_r)
{
	/* Exim runs setuid root: whoever starts it must not choose the file. */
	const char *env = secure_getenv("CLIENTID_CONFIG");
	opt_r->config_path = env != NULL && env[0] != '\0' ? env : CLIENTID_EXIM_CONFIG_DEFAULT;
	opt_r->fail_delay_ms = CLIENTID_FAIL_DELAY_DEFAULT_MS;
	opt_r->precheck_refused = 0;
	for (int i = first; i < argc; i++) {
		const char *p = argv[i];
		for (;;) {
			p += strspn(p, " \t\r\n");
			if (*p == '\0')
				break;
			size_t len = strcspn(p, " \t\r\n");
			if (parse_option(p, len, opt_r, err_r) != 0)
				return -1;
			p += len;
		}
	}
	return 0;
}
