/* Token fingerprints and the site secret.
 *
 * A token is a secret, like a second password: nothing outside this module
 * ever keeps it. The store, logs and tools use its fingerprint,
 * HMAC-SHA256(site secret, upper(type) ":" token). The type is folded to upper
 * case because the drafts make it case-insensitive; the token is not. */
#ifndef CLIENTID_FP_H
#define CLIENTID_FP_H

#include <stddef.h>

#define CLIENTID_SECRET_MIN   32
#define CLIENTID_SECRET_MAX   1024
#define CLIENTID_SECRET_GEN   32 /* bytes written by clientid_secret_generate() */
#define CLIENTID_FP_LEN       32
#define CLIENTID_FP_HEX_LEN   (2 * CLIENTID_FP_LEN)
#define CLIENTID_FP_SHORT_LEN 12 /* hex characters shown in logs and tools */

struct clientid_secret {
	size_t len;
	unsigned char key[CLIENTID_SECRET_MAX];
};

struct clientid_fp {
	unsigned char b[CLIENTID_FP_LEN];
};

/* Loads the site secret from path: the file's bytes, as they are. Refuses
 * (CLIENTID_E_PERM) a file that is not regular, that others may read or
 * write, that its group may write, or that is owned by neither root nor the
 * effective user, and (CLIENTID_E_SECRET_SHORT) one shorter than
 * CLIENTID_SECRET_MIN.
 * Longer than CLIENTID_SECRET_MAX is CLIENTID_E_INVAL. On failure err_r (of
 * CLIENTID_ERRBUF_SIZE bytes) says why, naming the path. The caller owns
 * *secret_r and should clear it with clientid_secret_clear(). */
int clientid_secret_load(const char *path, struct clientid_secret *secret_r, char *err_r);

/* Fills secret_r with CLIENTID_SECRET_GEN bytes from OpenSSL's RNG.
 * Returns 0 or CLIENTID_E_CRYPTO. */
int clientid_secret_generate(struct clientid_secret *secret_r);

/* Writes a fresh secret to path with mode 0640, atomically (temporary file,
 * fsync, rename). Refuses to replace an existing file (CLIENTID_E_EXISTS):
 * a site secret is never overwritten. err_r as for clientid_secret_load(). */
int clientid_secret_create(const char *path, char *err_r);

/* Wipes the key in a way the compiler cannot drop. */
void clientid_secret_clear(struct clientid_secret *secret);

/* Computes the fingerprint of (type, token). Both are checked against the
 * grammar first (CLIENTID_E_TYPE, CLIENTID_E_TOKEN); OpenSSL failure gives
 * CLIENTID_E_CRYPTO. Inputs are (buf, len) and need no NUL. */
int clientid_fp_compute(const struct clientid_secret *secret, const char *type, size_t type_len,
                        const char *token, size_t token_len, struct clientid_fp *fp_r);

/* Writes the full fingerprint as CLIENTID_FP_HEX_LEN lower-case hex digits
 * plus NUL into out. */
void clientid_fp_hex(const struct clientid_fp *fp, char out[CLIENTID_FP_HEX_LEN + 1]);

/* Writes the short form for logs: the first CLIENTID_FP_SHORT_LEN hex digits
 * plus NUL. */
void clientid_fp_short(const struct clientid_fp *fp, char out[CLIENTID_FP_SHORT_LEN + 1]);

/* Parses exactly CLIENTID_FP_HEX_LEN hex digits (either case) from
 * (hex, len). Returns 0 or CLIENTID_E_INVAL. */
int clientid_fp_from_hex(const char *hex, size_t len, struct clientid_fp *fp_r);

#endif
