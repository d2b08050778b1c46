/* Prints the configuration path clientid.so would use when no config=
 * option is given: exim-module-secure-env runs it with $CLIENTID_CONFIG
 * set, plainly and as a setuid program (issue 13: the environment must not
 * choose the file of a setuid or setgid process, as Exim is). It includes
 * the module whole, with Exim's functions and the store left out. */
#include <stdio.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#include "clientid-dlfunc.c"
#pragma GCC diagnostic pop

#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
uschar *string_sprintf_trc(const char *fmt, const uschar *func, unsigned line, ...)
{
	(void)fmt;
	(void)func;
	(void)line;
	return US "";
}

void log_write(unsigned int selector, int flags, const char *format, ...)
{
	(void)selector;
	(void)flags;
	(void)format;
}

int clientid_exim_store_query(const struct clientid_exim_query *q, struct clientid_verdict *v_r,
                              char *err_r)
{
	(void)q;
	memset(v_r, 0, sizeof(*v_r));
	v_r->decision = CLIENTID_TEMPFAIL;
	err_r[0] = '\0';
	return CLIENTID_E_IO;
}

int clientid_exim_store_preload(const char *config_path, char *err_r)
{
	(void)config_path;
	(void)err_r;
	return CLIENTID_E_IO;
}

int clientid_exim_store_fingerprint(const char *config_path, const char *type, const char *token,
                                    char fp_short_r[CLIENTID_FP_SHORT_LEN + 1], char *err_r)
{
	(void)config_path;
	(void)type;
	(void)token;
	(void)fp_short_r;
	(void)err_r;
	return CLIENTID_E_IO;
}

int main(void)
{
	struct options opt;
	uschar *argv[] = {NULL};
	if (parse_options(0, argv, 0, &opt) != NULL)
		return 1;
	puts(opt.config_path);
	return 0;
}
