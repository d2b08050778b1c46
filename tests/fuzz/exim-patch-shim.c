/* Stand-ins for the parts of Exim the patch's check uses, then the check
 * itself (exim-patch-check.inc, extracted from the patch at build time). */
#include "exim-patch-shim.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef unsigned char uschar;
typedef int BOOL;
#define TRUE               1
#define FALSE              0
#define US                 (uschar *)
#define CUS                (const uschar *)
#define Ustrchr(s, c)      (const uschar *)strchr((const char *)(s), (c))
#define Ustrlen(s)         strlen((const char *)(s))
#define strncmpic(a, b, n) strncasecmp((const char *)(a), (const char *)(b), (n))
#define SUPPORT_CLIENTID

#define SMTP_CMD_BUFFER_SIZE 16384

/* Exim's growable string; here one buffer per call, kept until the next. */
typedef struct gstring {
	int size, ptr;
	uschar *s;
} gstring;

static gstring shim_g;

static gstring *string_catn(gstring *g, const uschar *s, int n)
{
	if (g == NULL) {
		g = &shim_g;
		g->ptr = 0;
	}
	if (g->s == NULL || g->ptr + n + 1 > g->size) {
		int size = (g->ptr + n + 1) * 2;
		uschar *grown = realloc(g->s, (size_t)size);
		if (grown == NULL)
			abort();
		g->s = grown;
		g->size = size;
	}
	memcpy(g->s + g->ptr, s, (size_t)n);
	g->ptr += n;
	return g;
}

static uschar *string_from_gstring(gstring *g)
{
	g->s[g->ptr] = '\0';
	return g->s;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wshadow"
#include "exim-patch-check.inc"
#pragma GCC diagnostic pop

int exim_patch_verdict(const char *line, size_t len, size_t *type_off_r, size_t *type_len_r,
                       size_t *token_off_r, size_t *token_len_r)
{
	static uschar smtp_cmd_buffer[SMTP_CMD_BUFFER_SIZE + 1];
	BOOL hadnull = FALSE;
	int ptr = 0;

	if (len > SMTP_CMD_BUFFER_SIZE)
		abort();
	/* smtp_read_command(): NUL is read as '?', and remembered */
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)line[i];
		if (c == 0) {
			hadnull = TRUE;
			c = '?';
		}
		smtp_cmd_buffer[ptr++] = (uschar)c;
	}
	(void)clientid_patch_bad_tail(smtp_cmd_buffer, ptr);
	while (ptr > 0 && isspace(smtp_cmd_buffer[ptr - 1]))
		ptr--;
	smtp_cmd_buffer[ptr] = 0;
	if (hadnull)
		return 501;
	/* the verb match of the command table, for CLIENTID */
	if (!(strncmpic(smtp_cmd_buffer, "clientid", 8) == 0 &&
	      (smtp_cmd_buffer[8] == 0 || smtp_cmd_buffer[8] == ' ' ||
	       isspace(smtp_cmd_buffer[8]))))
		return 500;
	int typelen, tokenlen;
	const uschar *arg = smtp_cmd_buffer + sizeof("clientid") - 1;
	if (clientid_bad_tail || !clientid_check(arg, &typelen, &tokenlen))
		return 501;
	*type_off_r = 9;
	*type_len_r = (size_t)typelen;
	*token_off_r = 10 + (size_t)typelen;
	*token_len_r = (size_t)tokenlen;
	return 250;
}

const char *exim_patch_log_string(const char *text)
{
	return (const char *)smtp_cmd_log_string(CUS text);
}
