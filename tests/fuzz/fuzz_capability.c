/* libFuzzer target: the imap-login plugin's reader of server capability
 * lines (dovecot-plugin/clientid-capability.c), which decides where the
 * CLIENTID word goes into the greeting and the CAPABILITY response. */
#include "clientid-capability.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t pos = clientid_capability_insert_pos(buf, size);
	if (pos == 0)
		return 0;
	/* only into one of the two capability lines, inside the data */
	if (pos > size ||
	    (strncmp(buf, "* CAPABILITY ", 13) != 0 && strncmp(buf, "* OK [CAPABILITY ", 17) != 0))
		abort();
	if (memchr(buf, '\n', pos) != NULL)
		abort();
	/* once inserted, the word is there: never added twice */
	size_t out_len = size + CLIENTID_CAPABILITY_EXTRA;
	char *out = malloc(out_len);
	if (out == NULL)
		return 0;
	memcpy(out, buf, pos);
	memcpy(out + pos, " " CLIENTID_CAPABILITY_WORD, CLIENTID_CAPABILITY_EXTRA);
	memcpy(out + pos + CLIENTID_CAPABILITY_EXTRA, buf + pos, size - pos);
	if (clientid_capability_insert_pos(out, out_len) != 0)
		abort();
	free(out);
	return 0;
}
