/* The core validator's verdict for lines a test sends, on a pipe: reads
 * "imap <hex>" or "smtp <hex>" lines (the line without its LF, hex-encoded)
 * and answers one number per line: 1/0 for IMAP (OK/BAD), 250/501/500 for
 * SMTP (see tests/fuzz/verdict.h). For tests/hostile/hostile.py. */
#include "verdict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES 16384

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes hex[0..len) into out; returns the byte count or -1. */
static long decode(const char *hex, size_t len, char *out)
{
	if (len % 2 != 0 || len / 2 > LINE_MAX_BYTES)
		return -1;
	for (size_t i = 0; i < len; i += 2) {
		int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i / 2] = (char)(hi << 4 | lo);
	}
	return (long)(len / 2);
}

int main(void)
{
	static char in[2 * LINE_MAX_BYTES + 16], line[LINE_MAX_BYTES];

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(in, sizeof(in), stdin) != NULL) {
		size_t n = strcspn(in, "\n");
		long len = n >= 5 ? decode(in + 5, n - 5, line) : -1;
		if (len < 0 || (strncmp(in, "imap ", 5) != 0 && strncmp(in, "smtp ", 5) != 0)) {
			fprintf(stderr, "verdict-cli: bad request\n");
			return 2;
		}
		if (in[0] == 'i')
			printf("%d\n", verdict_imap(line, (size_t)len));
		else
			printf("%d\n", verdict_smtp(line, (size_t)len));
	}
	return 0;
}
