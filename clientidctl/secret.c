/* The site secret and tokens: fingerprint, create-secret, and the reading
 * of a token from standard input for every command that takes one. Tokens
 * are read from standard input, never from the command line, where ps(1)
 * would show them. */
#include "clientidctl.h"
#include "output.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Reads one token from standard input: the first line, without its line
 * end. The caller wipes buf. Returns 0, or -1 after printing why. */
static int read_token(char *buf, size_t size, size_t *len_r)
{
	if (isatty(0))
		fprintf(stderr, "token: ");
	if (fgets(buf, (int)size, stdin) == NULL) {
		ctl_error("no token on standard input");
		return -1;
	}
	size_t n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (clientid_token_check(buf, n) != 0) {
		ctl_error("standard input does not hold a client-id-token "
		          "(1 to 128 printable ASCII characters)");
		return -1;
	}
	*len_r = n;
	return 0;
}

int ctl_token_fp(struct ctl *ctl, const char *type, struct clientid_fp *fp_r)
{
	char tok[CLIENTID_TOKEN_MAX + 8];
	size_t n;
	if (clientid_type_check(type, strlen(type)) != 0) {
		ctl_error("'%s' is not a client-id-type", type);
		return CTL_EXIT_USAGE;
	}
	if (read_token(tok, sizeof(tok), &n) != 0) {
		explicit_bzero(tok, sizeof(tok));
		return CTL_EXIT_USAGE;
	}
	int ret = policydb_fingerprint(ctl->db, type, strlen(type), tok, n, fp_r);
	explicit_bzero(tok, sizeof(tok));
	return ctl_result(ctl, ret);
}

int ctl_cmd_fingerprint(struct ctl *ctl)
{
	if (ctl->nargs != 1)
		return ctl_usage();
	struct clientid_fp fp;
	int ret = ctl_token_fp(ctl, ctl->args[0], &fp);
	if (ret != CTL_EXIT_OK)
		return ret;
	ctl_print_fp(&fp, 1);
	return CTL_EXIT_OK;
}

/* Creates the site secret: FILE, else the configuration's secret_file. It
 * needs no store and no existing secret, so main() runs it without
 * opening one (ctl->db is NULL). */
int ctl_cmd_create_secret(struct ctl *ctl)
{
	if (ctl->nargs > 1)
		return ctl_usage();
	char err[CLIENTID_ERRBUF_SIZE];
	struct clientid_config cfg;
	const char *path = ctl->nargs == 1 ? ctl->args[0] : NULL;
	if (path == NULL) {
		if (clientid_config_load(ctl->opts.config, &cfg, err) != 0) {
			ctl_error("%s", err);
			return CTL_EXIT_CONFIG;
		}
		path = cfg.secret_file;
	}
	int ret = clientid_secret_create(path, err);
	if (ret != 0) {
		ctl_error("%s", err);
		return ret == CLIENTID_E_EXISTS ? CTL_EXIT_EXISTS : CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}
