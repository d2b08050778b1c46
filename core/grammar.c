/* The CLIENTID grammar: the single definition of a valid type and token. */
#include "clientid.h"

#include <string.h>
#include <strings.h>

/* client-id-type characters: ALPHA / DIGIT / "-". */
static const unsigned char type_char[256] = {
    ['0' ... '9'] = 1,
    ['A' ... 'Z'] = 1,
    ['a' ... 'z'] = 1,
    ['-'] = 1,
};

/* client-id-token characters: VCHAR, %x21-7E. */
static const unsigned char token_char[256] = {
    ['!' ... '~'] = 1,
};

static int span_all(const char *buf, size_t len, size_t max, const unsigned char *table)
{
	if (len == 0 || len > max)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (table[(unsigned char)buf[i]] == 0)
			return 0;
	}
	return 1;
}

int clientid_type_check(const char *buf, size_t len)
{
	return span_all(buf, len, CLIENTID_TYPE_MAX, type_char) ? 0 : CLIENTID_E_TYPE;
}

int clientid_token_check(const char *buf, size_t len)
{
	return span_all(buf, len, CLIENTID_TOKEN_MAX, token_char) ? 0 : CLIENTID_E_TOKEN;
}

int clientid_type_upper(const char *buf, size_t len, char out[CLIENTID_TYPE_MAX + 1])
{
	if (clientid_type_check(buf, len) != 0)
		return CLIENTID_E_TYPE;
	for (size_t i = 0; i < len; i++)
		out[i] = (buf[i] >= 'a' && buf[i] <= 'z') ? (char)(buf[i] - 'a' + 'A') : buf[i];
	out[len] = '\0';
	return 0;
}

int clientid_args_parse(const char *buf, size_t len, unsigned flags, struct clientid_slice *type_r,
                        struct clientid_slice *token_r)
{
	if (buf == NULL)
		return CLIENTID_E_ARGS;
	if ((flags & CLIENTID_ARGS_SMTP_TRAILING) != 0) {
		while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
			len--;
	}
	const char *sp = memchr(buf, ' ', len);
	if (sp == NULL || sp == buf)
		return CLIENTID_E_ARGS;
	size_t type_len = (size_t)(sp - buf);
	const char *token = sp + 1;
	size_t token_len = len - type_len - 1;
	if (token_len == 0 || memchr(token, ' ', token_len) != NULL)
		return CLIENTID_E_ARGS;

	int ret = clientid_type_check(buf, type_len);
	if (ret == 0)
		ret = clientid_token_check(token, token_len);
	if (ret != 0)
		return ret;
	type_r->ptr = buf;
	type_r->len = type_len;
	token_r->ptr = token;
	token_r->len = token_len;
	return 0;
}

int clientid_imap_command_is_ours(const char *name, const char *tag)
{
	return name != NULL && strcasecmp(name, "CLIENTID") == 0 && tag != NULL && tag[0] != '\0';
}
