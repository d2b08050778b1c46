#include "clientid-capability.h"

#include <string.h>

#define RESP_CAPABILITY "* CAPABILITY "
#define RESP_OK_CODE    "* OK [CAPABILITY "

static int has_prefix(const char *buf, size_t len, const char *prefix)
{
	size_t plen = strlen(prefix);

	return len >= plen && memcmp(buf, prefix, plen) == 0;
}

/* Is the word already in the list buf[start..end)? Case-insensitive, as
 * capability names are. */
static int list_has_word(const char *buf, size_t start, size_t end)
{
	const size_t wlen = sizeof(CLIENTID_CAPABILITY_WORD) - 1;
	size_t i = start;

	while (i < end) {
		size_t j = i;

		while (j < end && buf[j] != ' ')
			j++;
		if (j - i == wlen && strncasecmp(buf + i, CLIENTID_CAPABILITY_WORD, wlen) == 0)
			return 1;
		i = j + 1;
	}
	return 0;
}

size_t clientid_capability_insert_pos(const char *buf, size_t len)
{
	size_t start, end;

	if (has_prefix(buf, len, RESP_CAPABILITY)) {
		start = sizeof(RESP_CAPABILITY) - 1;
		/* one line, ending in CRLF, nothing after it */
		if (len < start + 2 || buf[len - 2] != '\r' || buf[len - 1] != '\n')
			return 0;
		end = len - 2;
		if (memchr(buf + start, '\n', end - start) != NULL)
			return 0;
	} else if (has_prefix(buf, len, RESP_OK_CODE)) {
		const char *close;

		start = sizeof(RESP_OK_CODE) - 1;
		close = memchr(buf + start, ']', len - start);
		if (close == NULL)
			return 0;
		end = (size_t)(close - buf);
		if (memchr(buf + start, '\n', end - start) != NULL)
			return 0;
	} else {
		return 0;
	}
	if (end <= start || list_has_word(buf, start, end))
		return 0;
	return end;
}
