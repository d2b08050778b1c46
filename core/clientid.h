/* libclientid: the CLIENTID grammar and the project's error codes.
 *
 * Every function here takes (buf, len), never allocates, and never reads
 * past buf + len. None of them needs a NUL terminator. */
#ifndef CLIENTID_H
#define CLIENTID_H

#include <stddef.h>

/* Error codes. Every public function of the project returns 0 on success or
 * one of these (negative). clientid_strerror() has a text for each; when you
 * add a code, add its text and move CLIENTID_E_LAST_. */
enum clientid_error {
	CLIENTID_OK = 0,
	CLIENTID_E_TYPE = -1,           /* not a client-id-type */
	CLIENTID_E_TOKEN = -2,          /* not a client-id-token */
	CLIENTID_E_ARGS = -3,           /* missing, extra or badly separated arguments */
	CLIENTID_E_NOMEM = -4,          /* out of memory */
	CLIENTID_E_IO = -5,             /* a file could not be opened, read or written */
	CLIENTID_E_PERM = -6,           /* a file has unsafe permissions */
	CLIENTID_E_SECRET_SHORT = -7,   /* the site secret is shorter than 32 bytes */
	CLIENTID_E_CRYPTO = -8,         /* OpenSSL failed */
	CLIENTID_E_CONFIG = -9,         /* bad configuration file */
	CLIENTID_E_INVAL = -10,         /* invalid argument to a function */
	CLIENTID_E_STORE = -11,         /* the policy store failed */
	CLIENTID_E_STORE_FULL = -12,    /* the policy store's disk or map is full */
	CLIENTID_E_STORE_RDONLY = -13,  /* the policy store is read-only */
	CLIENTID_E_STORE_CORRUPT = -14, /* the policy store is damaged */
	CLIENTID_E_STORE_VERSION = -15, /* the policy store's schema is unknown */
	CLIENTID_E_NOTFOUND = -16,      /* the named record does not exist */
	CLIENTID_E_EXISTS = -17,        /* the record already exists */
	CLIENTID_E_STORE_ACCESS = -18,  /* no permission to open the policy store */
	CLIENTID_E_STORE_MISSING = -19, /* the policy store does not exist */
	CLIENTID_E_AMBIGUOUS = -20,     /* a device prefix matches more than one device */
	CLIENTID_E_FORMAT = -21,        /* malformed import data */
	CLIENTID_E_LAST_ = -21
};

/* Returns a static, non-NULL English text for any value. Codes outside the
 * enum give "unknown error". */
const char *clientid_strerror(int err);

/* Size of the err_r buffers that functions reading files fill in. */
#define CLIENTID_ERRBUF_SIZE 512

/* Maximum lengths from the ABNF: client-id-type = 1*16, client-id-token = 1*128. */
#define CLIENTID_TYPE_MAX  16
#define CLIENTID_TOKEN_MAX 128

/* Returns 0 when buf[0..len) is a client-id-type (1*16 ALPHA / DIGIT / "-"),
 * else CLIENTID_E_TYPE. */
int clientid_type_check(const char *buf, size_t len);

/* Returns 0 when buf[0..len) is a client-id-token (1*128 VCHAR, 0x21-0x7E),
 * else CLIENTID_E_TOKEN. Atom-specials, quotes and braces are ordinary token
 * characters; NUL, SP, HTAB, DEL and bytes >= 0x80 are not. */
int clientid_token_check(const char *buf, size_t len);

/* A view into a caller's buffer. Valid as long as that buffer is. */
struct clientid_slice {
	const char *ptr;
	size_t len;
};

/* Checks buf[0..len) as clientid_type_check() does and, when it is a
 * client-id-type, writes it folded to upper case plus NUL into out: the one
 * form in which the project stores and compares types (the drafts make them
 * case-insensitive). Returns 0, or CLIENTID_E_TYPE with out untouched. */
int clientid_type_upper(const char *buf, size_t len, char out[CLIENTID_TYPE_MAX + 1]);

/* Flags for clientid_args_parse(). */
enum clientid_args_flags {
	CLIENTID_ARGS_IMAP = 0, /* strict: nothing after the token */
	CLIENTID_ARGS_SMTP_TRAILING =
	    1u, /* ignore trailing SP/HTAB, as Exim does for every command */
};

/* Parses the arguments of a CLIENTID command: what follows the verb and its
 * one SP, i.e. "<type> SP <token>". Exactly one SP separates the two; a
 * leading space, doubled spaces, a TAB as separator, a third argument or a
 * missing one give CLIENTID_E_ARGS. Trailing SP/HTAB are ignored only with
 * CLIENTID_ARGS_SMTP_TRAILING. Then the type and the token are checked, giving
 * CLIENTID_E_TYPE or CLIENTID_E_TOKEN. On success returns 0 and sets type_r
 * and token_r to slices of buf; on failure they are left unchanged. */
int clientid_args_parse(const char *buf, size_t len, unsigned flags, struct clientid_slice *type_r,
                        struct clientid_slice *token_r);

/* Whether an IMAP command that imap-login has split into name and tag is
 * one for the CLIENTID code to answer: the verb CLIENTID, in any case, with
 * a tag. imap-login turns a missing or invalid tag into "" (or none); such a
 * command must meet imap-login's own reply ("* BAD"), never ours, which
 * would be " OK CLIENTID completed" with an empty tag. Returns 1 or 0. */
int clientid_imap_command_is_ours(const char *name, const char *tag);

#endif
