/* Fingerprints and the site secret: the only place that touches OpenSSL. */
#include "clientid.h"
#include "clientid-fp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

static int fail(char *err_r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err_r, int code, const char *fmt, ...)
{
	if (err_r != NULL) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err_r, CLIENTID_ERRBUF_SIZE, fmt, ap);
		va_end(ap);
	}
	return code;
}

static int secret_check_file(int fd, const char *path, char *err_r)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return fail(err_r, CLIENTID_E_IO, "%s: fstat: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(err_r, CLIENTID_E_PERM, "%s: site secret is not a regular file", path);
	if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0)
		return fail(err_r, CLIENTID_E_PERM,
		            "%s: site secret is accessible by others (mode %04o); "
		            "run: chmod o-rwx %s",
		            path, (unsigned)(st.st_mode & 07777), path);
	if ((st.st_mode & S_IWGRP) != 0)
		return fail(err_r, CLIENTID_E_PERM,
		            "%s: site secret is writable by its group (mode %04o); "
		            "run: chmod g-w %s",
		            path, (unsigned)(st.st_mode & 07777), path);
	/* Whoever owns the file can change its mode, or replace the secret
	 * with one they know: only root, or the user reading it. */
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return fail(err_r, CLIENTID_E_PERM,
		            "%s: site secret is owned by uid %u, neither root nor this "
		            "process's user; run: chown root %s",
		            path, (unsigned)st.st_uid, path);
	return 0;
}

int clientid_secret_load(const char *path, struct clientid_secret *secret_r, char *err_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail(err_r, CLIENTID_E_IO, "%s: cannot open site secret: %s", path,
		            strerror(errno));
	int ret = secret_check_file(fd, path, err_r);
	size_t len = 0;
	while (ret == 0) {
		/* Read one byte more than allowed, to see an oversized file. */
		unsigned char extra;
		unsigned char *dst = len < CLIENTID_SECRET_MAX ? secret_r->key + len : &extra;
		size_t room = len < CLIENTID_SECRET_MAX ? CLIENTID_SECRET_MAX - len : 1;
		ssize_t n = read(fd, dst, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ret = fail(err_r, CLIENTID_E_IO, "%s: read: %s", path, strerror(errno));
		else if (n == 0)
			break;
		else if (len >= CLIENTID_SECRET_MAX)
			ret =
			    fail(err_r, CLIENTID_E_INVAL, "%s: site secret is longer than %d bytes",
			         path, CLIENTID_SECRET_MAX);
		else
			len += (size_t)n;
	}
	close(fd);
	if (ret == 0 && len < CLIENTID_SECRET_MIN)
		ret = fail(err_r, CLIENTID_E_SECRET_SHORT,
		           "%s: site secret has %zu bytes, at least %d are needed", path, len,
		           CLIENTID_SECRET_MIN);
	if (ret != 0) {
		clientid_secret_clear(secret_r);
		return ret;
	}
	secret_r->len = len;
	return 0;
}

int clientid_secret_generate(struct clientid_secret *secret_r)
{
	if (RAND_priv_bytes(secret_r->key, CLIENTID_SECRET_GEN) != 1)
		return CLIENTID_E_CRYPTO;
	secret_r->len = CLIENTID_SECRET_GEN;
	return 0;
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int clientid_secret_create(const char *path, char *err_r)
{
	struct clientid_secret secret;
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return fail(err_r, CLIENTID_E_INVAL, "%s: path too long", path);
	if (clientid_secret_generate(&secret) != 0)
		return fail(err_r, CLIENTID_E_CRYPTO, "%s: random generator failed", path);

	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0) {
		clientid_secret_clear(&secret);
		return fail(err_r, CLIENTID_E_IO, "%s: %s", tmp, strerror(errno));
	}
	int ok =
	    fchmod(fd, 0640) == 0 && write_all(fd, secret.key, secret.len) == 0 && fsync(fd) == 0;
	int saved = errno;
	clientid_secret_clear(&secret);
	if (close(fd) != 0 && ok) {
		ok = 0;
		saved = errno;
	}
	/* link() fails on an existing target, so a secret is never replaced. */
	if (ok && link(tmp, path) != 0) {
		saved = errno;
		unlink(tmp);
		return fail(err_r, saved == EEXIST ? CLIENTID_E_EXISTS : CLIENTID_E_IO,
		            "%s: cannot create site secret: %s", path, strerror(saved));
	}
	unlink(tmp);
	if (!ok)
		return fail(err_r, CLIENTID_E_IO, "%s: cannot write site secret: %s", path,
		            strerror(saved));
	return 0;
}

void clientid_secret_clear(struct clientid_secret *secret)
{
	OPENSSL_cleanse(secret, sizeof(*secret));
}

int clientid_fp_compute(const struct clientid_secret *secret, const char *type, size_t type_len,
                        const char *token, size_t token_len, struct clientid_fp *fp_r)
{
	/* upper(type) ":" token; the type's NUL is overwritten by the ':' */
	char msg[CLIENTID_TYPE_MAX + 1 + CLIENTID_TOKEN_MAX];
	int ret = clientid_type_upper(type, type_len, msg);
	if (ret == 0)
		ret = clientid_token_check(token, token_len);
	if (ret != 0)
		return ret;
	if (secret == NULL || secret->len < CLIENTID_SECRET_MIN)
		return CLIENTID_E_INVAL;
	msg[type_len] = ':';
	memcpy(msg + type_len + 1, token, token_len);

	unsigned int md_len = 0;
	unsigned char *md = HMAC(EVP_sha256(), secret->key, (int)secret->len, (unsigned char *)msg,
	                         type_len + 1 + token_len, fp_r->b, &md_len);
	OPENSSL_cleanse(msg, sizeof(msg));
	return md != NULL && md_len == CLIENTID_FP_LEN ? 0 : CLIENTID_E_CRYPTO;
}

static void hex_encode(const unsigned char *in, size_t nchars, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < nchars; i++)
		out[i] = digits[(in[i / 2] >> (i % 2 == 0 ? 4 : 0)) & 0xf];
	out[nchars] = '\0';
}

void clientid_fp_hex(const struct clientid_fp *fp, char out[CLIENTID_FP_HEX_LEN + 1])
{
	hex_encode(fp->b, CLIENTID_FP_HEX_LEN, out);
}

void clientid_fp_short(const struct clientid_fp *fp, char out[CLIENTID_FP_SHORT_LEN + 1])
{
	hex_encode(fp->b, CLIENTID_FP_SHORT_LEN, out);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int clientid_fp_from_hex(const char *hex, size_t len, struct clientid_fp *fp_r)
{
	struct clientid_fp fp;
	if (len != CLIENTID_FP_HEX_LEN)
		return CLIENTID_E_INVAL;
	for (size_t i = 0; i < CLIENTID_FP_LEN; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return CLIENTID_E_INVAL;
		fp.b[i] = (unsigned char)(hi << 4 | lo);
	}
	*fp_r = fp;
	return 0;
}
