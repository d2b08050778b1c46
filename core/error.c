/* Error texts: one per code, proven complete by tests/unit/test_error.c. */
#include "clientid.h"

static const char *const error_text[] = {
    [-CLIENTID_OK] = "success",
    [-CLIENTID_E_TYPE] = "invalid client-id-type (1 to 16 letters, digits or '-')",
    [-CLIENTID_E_TOKEN] = "invalid client-id-token (1 to 128 printable ASCII characters)",
    [-CLIENTID_E_ARGS] = "malformed CLIENTID arguments (expected: <type> SP <token>)",
    [-CLIENTID_E_NOMEM] = "out of memory",
    [-CLIENTID_E_IO] = "input/output error",
    [-CLIENTID_E_PERM] = "unsafe file permissions",
    [-CLIENTID_E_SECRET_SHORT] = "site secret is shorter than 32 bytes",
    [-CLIENTID_E_CRYPTO] = "cryptographic library failure",
    [-CLIENTID_E_CONFIG] = "invalid configuration",
    [-CLIENTID_E_INVAL] = "invalid argument",
    [-CLIENTID_E_STORE] = "policy store failure",
    [-CLIENTID_E_STORE_FULL] = "policy store is full",
    [-CLIENTID_E_STORE_RDONLY] = "policy store is read-only",
    [-CLIENTID_E_STORE_CORRUPT] = "policy store is damaged",
    [-CLIENTID_E_STORE_VERSION] = "policy store has an unknown schema version",
    [-CLIENTID_E_NOTFOUND] = "no such record",
    [-CLIENTID_E_EXISTS] = "record already exists",
    [-CLIENTID_E_STORE_ACCESS] = "no permission to use the policy store",
    [-CLIENTID_E_STORE_MISSING] = "policy store does not exist",
    [-CLIENTID_E_AMBIGUOUS] = "device prefix matches more than one device",
    [-CLIENTID_E_FORMAT] = "malformed import data",
};

_Static_assert(sizeof(error_text) / sizeof(error_text[0]) == 1 - CLIENTID_E_LAST_,
               "every error code needs a text");

const char *clientid_strerror(int err)
{
	if (err > 0 || err < CLIENTID_E_LAST_ || error_text[-err] == NULL)
		return "unknown error";
	return error_text[-err];
}
