/* libFuzzer target: the CLIENTID argument parser and the validators. */
#include "clientid.h"
#include "clientid-fp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_and_verify(const char *buf, size_t len, unsigned flags)
{
	struct clientid_slice type, token;
	if (clientid_args_parse(buf, len, flags, &type, &token) != 0)
		return;
	/* What the parser accepts, the validators and the fingerprint accept. */
	if (type.ptr < buf || type.ptr + type.len > buf + len || token.ptr < buf ||
	    token.ptr + token.len > buf + len)
		abort();
	if (clientid_type_check(type.ptr, type.len) != 0 ||
	    clientid_token_check(token.ptr, token.len) != 0)
		abort();
	static struct clientid_secret secret = {.len = CLIENTID_SECRET_MIN};
	struct clientid_fp fp;
	if (clientid_fp_compute(&secret, type.ptr, type.len, token.ptr, token.len, &fp) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	parse_and_verify(buf, size, CLIENTID_ARGS_IMAP);
	parse_and_verify(buf, size, CLIENTID_ARGS_SMTP_TRAILING);
	/* Corpus files are whole command lines: also try what follows the verb. */
	const char *sp = memchr(buf, ' ', size);
	for (int skip = 0; sp != NULL && skip < 2; skip++) {
		size_t rest = size - (size_t)(sp + 1 - buf);
		parse_and_verify(sp + 1, rest, CLIENTID_ARGS_IMAP);
		sp = memchr(sp + 1, ' ', rest);
	}
	(void)clientid_type_check(buf, size);
	(void)clientid_token_check(buf, size);
	return 0;
}
