/* libFuzzer target, differential: the Exim patch's own CLIENTID check,
 * compiled from the patch (exim-patch-shim.c), against the core validator
 * (verdict.c). They must agree on every line, down to the type and token
 * they take; and the patch's log redaction must never let a token through. */
#include "clientid.h"
#include "exim-patch-shim.h"
#include "verdict.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define EXIM_LINE_MAX 16384

static void check_verdicts(const char *line, size_t len)
{
	size_t type_off = 0, type_len = 0, token_off = 0, token_len = 0;
	int want = verdict_smtp(line, len);
	int got = exim_patch_verdict(line, len, &type_off, &type_len, &token_off, &token_len);
	if (want != got)
		abort();
	if (got != 250)
		return;
	/* the same type and token as the core parser finds */
	struct clientid_slice type, token;
	size_t args_len = len - 9;
	while (args_len > 0 && isspace((unsigned char)line[9 + args_len - 1]))
		args_len--;
	if (clientid_args_parse(line + 9, args_len, CLIENTID_ARGS_SMTP_TRAILING, &type, &token) !=
	    0)
		abort();
	if ((size_t)(type.ptr - line) != type_off || type.len != type_len ||
	    (size_t)(token.ptr - line) != token_off || token.len != token_len)
		abort();
}

static int type_char(char c)
{
	return isalnum((unsigned char)c) || c == '-';
}

/* Checks the redaction of one input line in[0..n) (with its LF, if any),
 * whose copy starts at out. Returns the length of that copy. */
static size_t check_log_line(const char *in, size_t n, const char *out)
{
	if (!(n >= 8 && strncasecmp(in, "clientid", 8) == 0 &&
	      (n == 8 || isspace((unsigned char)in[8])))) {
		if (strncmp(out, in, n) != 0)
			abort(); /* other lines are kept as they were */
		return n;
	}
	size_t end = n;
	while (end > 8 && isspace((unsigned char)in[end - 1]))
		end--;
	const char *tail = in + end;
	size_t tail_len = n - end;
	if (strncmp(out, in, 8) != 0)
		abort();
	if (end == 8) {
		if (strncmp(out + 8, tail, tail_len) != 0)
			abort();
		return 8 + tail_len;
	}
	/* verb, then at most " <type>", then " ***", then the line's end: the
	 * token never reaches the log */
	for (size_t xl = 0; xl <= 1 + CLIENTID_TYPE_MAX && 8 + xl <= end; xl++) {
		if (xl > 0 && (in[8] != ' ' || (xl > 1 && !type_char(in[8 + xl - 1]))))
			break;
		if (strncmp(out + 8, in + 8, xl) == 0 && strncmp(out + 8 + xl, " ***", 4) == 0 &&
		    strncmp(out + 12 + xl, tail, tail_len) == 0)
			return 12 + xl + tail_len;
	}
	abort();
}

static void check_log_string(const char *text)
{
	const char *out = exim_patch_log_string(text);
	size_t o = 0;
	for (const char *line = text; *line != '\0';) {
		const char *lf = strchr(line, '\n');
		size_t n = lf != NULL ? (size_t)(lf + 1 - line) : strlen(line);
		o += check_log_line(line, n, out + o);
		line += n;
	}
	if (out[o] != '\0')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	const char *lf = memchr(buf, '\n', size);
	size_t len = lf != NULL ? (size_t)(lf - buf) : size;
	if (len > EXIM_LINE_MAX)
		len = EXIM_LINE_MAX;
	check_verdicts(buf, len);

	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	check_log_string(text);
	free(text);
	return 0;
}
