/* The expected verdicts of verdict.h, from the core validator. */
#include "verdict.h"

#include "clientid.h"

#include <string.h>
#include <strings.h>

#define VERB     "CLIENTID"
#define VERB_LEN (sizeof(VERB) - 1)

/* Exim's isspace() in the C locale. */
static int smtp_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static size_t drop_cr(const char *line, size_t len)
{
	return len > 0 && line[len - 1] == '\r' ? len - 1 : len;
}

/* Is the line, without its trailing white space, one whose verb Exim takes
 * for CLIENTID ("CLIENTID" alone, or followed by white space)? */
static int smtp_is_clientid(const char *line, size_t len)
{
	while (len > 0 && smtp_space(line[len - 1]))
		len--;
	return len >= VERB_LEN && strncasecmp(line, VERB, VERB_LEN) == 0 &&
	       (len == VERB_LEN || smtp_space(line[VERB_LEN]));
}

int verdict_smtp(const char *line, size_t len)
{
	struct clientid_slice type, token;

	if (memchr(line, '\0', len) != NULL)
		return 501;
	if (!smtp_is_clientid(line, len))
		return 500;
	len = drop_cr(line, len);
	if (len <= VERB_LEN || line[VERB_LEN] != ' ')
		return 501;
	return clientid_args_parse(line + VERB_LEN + 1, len - VERB_LEN - 1,
	                           CLIENTID_ARGS_SMTP_TRAILING, &type, &token) == 0
	           ? 250
	           : 501;
}

int verdict_imap(const char *line, size_t len)
{
	struct clientid_slice type, token;

	len = drop_cr(line, len);
	const char *sp = memchr(line, ' ', len);
	if (sp == NULL || sp == line)
		return 0;
	len -= (size_t)(sp + 1 - line);
	line = sp + 1;
	if (len <= VERB_LEN || strncasecmp(line, VERB, VERB_LEN) != 0 || line[VERB_LEN] != ' ')
		return 0;
	return clientid_args_parse(line + VERB_LEN + 1, len - VERB_LEN - 1, CLIENTID_ARGS_IMAP,
	                           &type, &token) == 0;
}
