/* libFuzzer target: the argument and option parsing of the Exim dlfunc
 * module (exim-module/clientid-dlfunc.c against the real local_scan.h, and
 * clientid-options.c, both linked), with the store, Exim's string and log functions
 * and the clock replaced. Input: one byte choosing the function, one choosing what the stand-in
 * store answers, then up to 7 NUL-separated arguments. Checks: no crash or overread whatever the
 * arguments, every query the store sees is well formed, a refusal's padding never exceeds the 60 s
 * cap, and neither the log lines nor the result depend on the token: the call is made again with
 * the token argument overwritten, and both must be the same. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clientid-exim.h"
#include "clientid-options.h"

#define DLFUNC_IMPL
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include "local_scan.h"
#pragma GCC diagnostic pop

/* The module's functions (clientid-dlfunc.c, linked). */
exim_dlfunc_t clientid_precheck, clientid_decide, clientid_record, clientid_preload;

/* The module's clock and sleep, on a fake clock that sleeping advances:
 * meson compiles clientid-dlfunc.c for this target with
 * -Dclock_gettime=fuzz_clock_gettime -Dnanosleep=fuzz_nanosleep. */
int fuzz_clock_gettime(clockid_t clk, struct timespec *ts);
int fuzz_nanosleep(const struct timespec *req, struct timespec *rem);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fuzz_clock_ns;
static uint64_t fuzz_slept_ns;
static unsigned fuzz_answer;
static char fuzz_log[16384]; /* every log line of one call */
static size_t fuzz_log_len;
static void *fuzz_strings[64];
static unsigned fuzz_nstrings;

int fuzz_clock_gettime(clockid_t clk, struct timespec *ts)
{
	(void)clk;
	ts->tv_sec = (time_t)(fuzz_clock_ns / 1000000000u);
	ts->tv_nsec = (long)(fuzz_clock_ns % 1000000000u);
	return 0;
}

int fuzz_nanosleep(const struct timespec *req, struct timespec *rem)
{
	(void)rem;
	uint64_t ns = (uint64_t)req->tv_sec * 1000000000u + (uint64_t)req->tv_nsec;
	fuzz_clock_ns += ns;
	fuzz_slept_ns += ns;
	return 0;
}

/* Exim's allocating printf: freed after each input. Its format comes from
 * the module, as in Exim. */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
uschar *string_sprintf_trc(const char *fmt, const uschar *func, unsigned line, ...)
{
	(void)func;
	(void)line;
	char *s = malloc(1024);
	if (s == NULL || fuzz_nstrings == sizeof(fuzz_strings) / sizeof(fuzz_strings[0]))
		abort();
	va_list ap;
	va_start(ap, line);
	vsnprintf(s, 1024, fmt, ap);
	va_end(ap);
	fuzz_strings[fuzz_nstrings++] = s;
	return US s;
}

void log_write(unsigned int selector, int flags, const char *format, ...)
{
	(void)selector;
	(void)flags;
	va_list ap;
	va_start(ap, format);
	int n = vsnprintf(fuzz_log + fuzz_log_len, sizeof(fuzz_log) - fuzz_log_len, format, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(fuzz_log) - fuzz_log_len)
		abort(); /* one call logs at most a line or two */
	fuzz_log_len += (size_t)n;
}

int clientid_exim_store_check(const struct clientid_exim_query *q, struct clientid_verdict *v_r,
                              char *err_r)
{
	if (q->op == CLIENTID_EXIM_PRECHECK || clientid_account_check(q->account) == 0)
		return 0;
	memset(v_r, 0, sizeof(*v_r));
	v_r->decision = q->op == CLIENTID_EXIM_RECORD ? CLIENTID_ALLOW : CLIENTID_DENY;
	snprintf(err_r, CLIENTID_ERRBUF_SIZE, "not a valid account name");
	return CLIENTID_E_INVAL;
}

int clientid_exim_store_query(const struct clientid_exim_query *q, struct clientid_verdict *v_r,
                              char *err_r)
{
	if (q->config_path == NULL ||
	    strnlen(q->config_path, CLIENTID_PATH_MAX) >= CLIENTID_PATH_MAX)
		abort();
	if (q->op != CLIENTID_EXIM_PRECHECK && clientid_account_check(q->account) != 0)
		abort(); /* the module checks the account before it asks */
	memset(v_r, 0, sizeof(*v_r));
	v_r->decision = (enum clientid_decision)(fuzz_answer % 3);
	v_r->reason = CLIENTID_R_ALLOWED;
	if ((fuzz_answer & 4) != 0) {
		snprintf(err_r, CLIENTID_ERRBUF_SIZE, "store failed");
		return CLIENTID_E_STORE;
	}
	return 0;
}

/* clientid_fingerprint's answer is the token's by design: not fuzzed
 * here (the e2e tests run it), only linked. */
int clientid_exim_store_fingerprint(const char *config_path, const char *type, const char *token,
                                    char fp_short_r[CLIENTID_FP_SHORT_LEN + 1], char *err_r)
{
	(void)config_path;
	(void)type;
	(void)token;
	fp_short_r[0] = '\0';
	snprintf(err_r, CLIENTID_ERRBUF_SIZE, "not here");
	return CLIENTID_E_IO;
}

int clientid_exim_store_preload(const char *config_path, clientid_warn_fn *warn, void *ctx,
                                char *err_r)
{
	if (config_path == NULL)
		abort();
	warn(ctx, "a warning");
	snprintf(err_r, CLIENTID_ERRBUF_SIZE, "not here");
	return CLIENTID_E_IO;
}

/* One call; its log and result are left in fuzz_log and *result_r (a copy
 * the caller frees). */
static void fuzz_call(exim_dlfunc_t *fn, int argc, uschar **argv, char **result_r)
{
	fuzz_slept_ns = 0;
	fuzz_log_len = 0;
	fuzz_log[0] = '\0';
	uschar *yield = NULL;
	int rc = fn(&yield, argc, argv);
	if ((rc != OK && rc != DEFER) || yield == NULL)
		abort();
	if (fuzz_slept_ns > (uint64_t)CLIENTID_FAIL_DELAY_MAX_MS * 1000000u)
		abort();
	*result_r = strdup(CS yield);
	if (*result_r == NULL)
		abort();
	for (unsigned i = 0; i < fuzz_nstrings; i++)
		free(fuzz_strings[i]);
	fuzz_nstrings = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static exim_dlfunc_t *const fns[] = {clientid_precheck, clientid_decide, clientid_record,
	                                     clientid_preload};
	static const int token_arg[] = {1, 3, 2, -1};
	if (size < 2)
		return 0;
	unsigned which = data[0] % 4;
	fuzz_answer = data[1];
	char *copy = malloc(size - 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data + 2, size - 2);
	copy[size - 2] = '\0';
	/* arguments: the NUL-separated pieces, at most 7, then Exim's NULL */
	uschar *argv[CLIENTID_DLFUNC_MAX_ARGS + 1];
	int argc = 0;
	for (char *p = copy; argc < CLIENTID_DLFUNC_MAX_ARGS && p <= copy + size - 2;
	     p += strlen(p) + 1)
		argv[argc++] = US p;
	argv[argc] = NULL;

	char *result;
	fuzz_call(fns[which], argc, argv, &result);
	int t = token_arg[which];
	if (t >= 0 && t < argc && argv[t][0] != '\0') {
		static char log1[sizeof(fuzz_log)];
		memcpy(log1, fuzz_log, fuzz_log_len + 1);
		/* the same call with another token of the same length */
		for (uschar *c = argv[t]; *c != '\0'; c++)
			*c = *c == 'Z' ? 'Y' : 'Z';
		char *result2;
		fuzz_call(fns[which], argc, argv, &result2);
		if (strcmp(log1, fuzz_log) != 0 || strcmp(result, result2) != 0)
			abort();
		free(result2);
	}
	free(result);
	free(copy);
	return 0;
}
