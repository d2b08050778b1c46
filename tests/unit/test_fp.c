/* Fingerprints (known answers from an independent HMAC) and the site secret. */
#include "clientid.h"
#include "clientid-fp.h"
#include "guard.h"
#include "unit.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct clientid_secret test_secret(void)
{
	struct clientid_secret s = {.len = 32};
	for (int i = 0; i < 32; i++)
		s.key[i] = (unsigned char)i;
	return s;
}

struct fp_case {
	const char *type, *token;
	const char *hex; /* HMAC-SHA256(bytes 0..31, upper(type) ":" token), from Python's hmac */
};

static void test_known_answers(void)
{
	static const struct fp_case cases[] = {
	    {"UUID", "23bf83be-aad7-46aa-9e0f-39191ccf402f",
	     "916eb76cce7630d2820d643b5c20bfa1646fb9ce27a4ab5fbb9fc77e70fe5a7a"},
	    {"uuid", "23bf83be-aad7-46aa-9e0f-39191ccf402f",
	     "916eb76cce7630d2820d643b5c20bfa1646fb9ce27a4ab5fbb9fc77e70fe5a7a"},
	    {"tbird-uuid", "(a){b}%*\"\\]",
	     "2694b4623eff83bc26d3f06ff791079cbe47863b6dfcda4996ea2fdce03db15b"},
	};
	struct clientid_secret s = test_secret();
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		size_t tl = strlen(cases[i].type), kl = strlen(cases[i].token);
		char *type = guard_dup(cases[i].type, tl), *token = guard_dup(cases[i].token, kl);
		struct clientid_fp fp;
		char hex[CLIENTID_FP_HEX_LEN + 1], shortf[CLIENTID_FP_SHORT_LEN + 1];
		CU_ASSERT_EQUAL_FATAL(clientid_fp_compute(&s, type, tl, token, kl, &fp), 0);
		clientid_fp_hex(&fp, hex);
		CU_ASSERT_STRING_EQUAL(hex, cases[i].hex);
		clientid_fp_short(&fp, shortf);
		CU_ASSERT_EQUAL(strlen(shortf), CLIENTID_FP_SHORT_LEN);
		CU_ASSERT(strncmp(shortf, cases[i].hex, CLIENTID_FP_SHORT_LEN) == 0);
		struct clientid_fp back;
		CU_ASSERT_EQUAL(clientid_fp_from_hex(hex, strlen(hex), &back), 0);
		CU_ASSERT(memcmp(&back, &fp, sizeof(fp)) == 0);
		guard_free(type, tl);
		guard_free(token, kl);
	}
}

static void test_token_case_and_key_matter(void)
{
	struct clientid_secret s = test_secret(), s2 = test_secret();
	s2.key[0] ^= 1;
	struct clientid_fp a, b, c;
	CU_ASSERT_EQUAL(clientid_fp_compute(&s, "UUID", 4, "abc", 3, &a), 0);
	CU_ASSERT_EQUAL(clientid_fp_compute(&s, "UUID", 4, "ABC", 3, &b), 0);
	CU_ASSERT_EQUAL(clientid_fp_compute(&s2, "UUID", 4, "abc", 3, &c), 0);
	CU_ASSERT(memcmp(&a, &b, sizeof(a)) != 0);
	CU_ASSERT(memcmp(&a, &c, sizeof(a)) != 0);
}

static void test_compute_rejects(void)
{
	struct clientid_secret s = test_secret(), weak = test_secret();
	weak.len = 31;
	struct clientid_fp fp;
	CU_ASSERT_EQUAL(clientid_fp_compute(&s, "UU_ID", 5, "abc", 3, &fp), CLIENTID_E_TYPE);
	CU_ASSERT_EQUAL(clientid_fp_compute(&s, "UUID", 4, "a c", 3, &fp), CLIENTID_E_TOKEN);
	CU_ASSERT_EQUAL(clientid_fp_compute(&s, "UUID", 4, "", 0, &fp), CLIENTID_E_TOKEN);
	CU_ASSERT_EQUAL(clientid_fp_compute(&weak, "UUID", 4, "abc", 3, &fp), CLIENTID_E_INVAL);
	CU_ASSERT_EQUAL(clientid_fp_compute(NULL, "UUID", 4, "abc", 3, &fp), CLIENTID_E_INVAL);
}

static void test_from_hex_rejects(void)
{
	static const char *const bad[] = {
	    "",
	    "00",
	    "916eb76cce7630d2820d643b5c20bfa1646fb9ce27a4ab5fbb9fc77e70fe5a7",
	    "916eb76cce7630d2820d643b5c20bfa1646fb9ce27a4ab5fbb9fc77e70fe5a7g",
	    "916eb76cce7630d2820d643b5c20bfa1646fb9ce27a4ab5fbb9fc77e70fe5a7a0",
	};
	struct clientid_fp fp;
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		size_t len = strlen(bad[i]);
		char *p = guard_dup(bad[i], len);
		CU_ASSERT_EQUAL(clientid_fp_from_hex(p, len, &fp), CLIENTID_E_INVAL);
		guard_free(p, len);
	}
}

static char dir[] = "/tmp/clientid-test-fp-XXXXXX";

static const char *write_file(const char *name, size_t size, mode_t mode)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	for (size_t i = 0; i < size; i++)
		CU_ASSERT_FATAL(write(fd, "k", 1) == 1);
	CU_ASSERT_FATAL(fchmod(fd, mode) == 0);
	close(fd);
	return path;
}

struct secret_case {
	const char *name;
	size_t size;
	mode_t mode;
	int expected;
	const char *message; /* a part of the error text */
};

static void test_secret_load(void)
{
	static const struct secret_case cases[] = {
	    {"ok32", 32, 0640, 0, NULL},
	    {"ok600", 100, 0600, 0, NULL},
	    {"ok1024", 1024, 0400, 0, NULL},
	    {"short", 31, 0640, CLIENTID_E_SECRET_SHORT, "has 31 bytes, at least 32"},
	    {"empty", 0, 0640, CLIENTID_E_SECRET_SHORT, "has 0 bytes"},
	    {"world-read", 64, 0644, CLIENTID_E_PERM, "accessible by others (mode 0644)"},
	    {"world-write", 64, 0602, CLIENTID_E_PERM, "accessible by others"},
	    /* issue 13: a group-writable secret could be replaced by the group */
	    {"group-write", 64, 0660, CLIENTID_E_PERM, "writable by its group (mode 0660)"},
	    {"group-write-only", 64, 0620, CLIENTID_E_PERM, "writable by its group"},
	    {"huge", 1025, 0640, CLIENTID_E_INVAL, "longer than 1024"},
	};
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		const struct secret_case *c = &cases[i];
		const char *path = write_file(c->name, c->size, c->mode);
		struct clientid_secret s;
		char err[CLIENTID_ERRBUF_SIZE] = "";
		int got = clientid_secret_load(path, &s, err);
		CU_ASSERT_EQUAL(got, c->expected);
		if (got == 0)
			CU_ASSERT_EQUAL(s.len, c->size);
		if (c->message != NULL) {
			CU_ASSERT_PTR_NOT_NULL(strstr(err, c->message));
			CU_ASSERT_PTR_NOT_NULL(strstr(err, path)); /* names the file */
		}
		unlink(path);
	}
	char err[CLIENTID_ERRBUF_SIZE];
	struct clientid_secret s;
	CU_ASSERT_EQUAL(clientid_secret_load("/nonexistent/secret", &s, err), CLIENTID_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/secret"));
	CU_ASSERT_EQUAL(clientid_secret_load(dir, &s, err), CLIENTID_E_PERM);
}

/* Issue 13: a secret owned by another user (who could chmod or replace it)
 * is refused; root's and the reader's own are fine. Needs root to chown. */
static void test_secret_foreign_owner(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "(secret owner test skipped: not root) ");
		return;
	}
	char path[] = "/tmp/clientid-test-owner-XXXXXX";
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	for (int i = 0; i < 64; i++)
		CU_ASSERT_FATAL(write(fd, "k", 1) == 1);
	CU_ASSERT_FATAL(fchmod(fd, 0640) == 0);
	close(fd);
	struct clientid_secret s;
	char err[CLIENTID_ERRBUF_SIZE] = "";
	CU_ASSERT_EQUAL(clientid_secret_load(path, &s, err), 0);
	CU_ASSERT_FATAL(chown(path, 65534, (gid_t)-1) == 0);
	CU_ASSERT_EQUAL(clientid_secret_load(path, &s, err), CLIENTID_E_PERM);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "owned by uid 65534"));
	unlink(path);
}

static void test_secret_create(void)
{
	char path[512], err[CLIENTID_ERRBUF_SIZE];
	snprintf(path, sizeof(path), "%s/created", dir);
	CU_ASSERT_EQUAL_FATAL(clientid_secret_create(path, err), 0);
	struct stat st;
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0640);
	CU_ASSERT_EQUAL(st.st_size, CLIENTID_SECRET_GEN);
	struct clientid_secret first, again;
	CU_ASSERT_EQUAL(clientid_secret_load(path, &first, err), 0);
	/* Never overwritten. */
	CU_ASSERT_EQUAL(clientid_secret_create(path, err), CLIENTID_E_EXISTS);
	CU_ASSERT_EQUAL(clientid_secret_load(path, &again, err), 0);
	CU_ASSERT(first.len == again.len && memcmp(first.key, again.key, first.len) == 0);
	unlink(path);
	rmdir(dir);

	struct clientid_secret a, b;
	CU_ASSERT_EQUAL(clientid_secret_generate(&a), 0);
	CU_ASSERT_EQUAL(clientid_secret_generate(&b), 0);
	CU_ASSERT(memcmp(a.key, b.key, CLIENTID_SECRET_GEN) != 0);
	clientid_secret_clear(&a);
	CU_ASSERT_EQUAL(a.len, 0);
}

void register_fp(void);
void register_fp(void)
{
	static const struct unit_test tests[] = {
	    {"known answers", test_known_answers},
	    {"token case and key matter", test_token_case_and_key_matter},
	    {"compute rejects bad input", test_compute_rejects},
	    {"from_hex rejects", test_from_hex_rejects},
	    {"secret load", test_secret_load},
	    {"issue 13: a secret owned by another user is refused", test_secret_foreign_owner},
	    {"secret create and generate", test_secret_create},
	    {NULL, NULL},
	};
	unit_add_suite("fingerprint", tests);
}
