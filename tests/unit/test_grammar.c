/* The grammar: tables of {input, expected}, each input behind a guard page. */
#include "clientid.h"
#include "guard.h"
#include "unit.h"

#include <string.h>

#define S(lit) lit, sizeof(lit) - 1

struct check_case {
	const char *in;
	size_t len;
	int expected;
};

static const char type16[] = "ABCDEFGHIJ-12345";
static const char type17[] = "ABCDEFGHIJ-123456";

static char token128[129], token129[130];

static void make_long_tokens(void)
{
	memset(token128, '!', 128);
	memset(token129, '~', 129);
}

static void run_check(int (*fn)(const char *, size_t), const struct check_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *p = guard_dup(cases[i].in, cases[i].len);
		int got = fn(p, cases[i].len);
		if (got != cases[i].expected)
			fprintf(stderr, "case %zu: got %d, expected %d\n", i, got,
			        cases[i].expected);
		CU_ASSERT_EQUAL(got, cases[i].expected);
		guard_free(p, cases[i].len);
	}
}

static void test_type(void)
{
	const struct check_case cases[] = {
	    {S("U"), 0},
	    {S("UUID"), 0},
	    {S("uuid"), 0},
	    {S("TBIRD-UUID"), 0},
	    {S("0"), 0},
	    {S("-"), 0},
	    {type16, 16, 0},
	    {type17, 17, CLIENTID_E_TYPE},
	    {S(""), CLIENTID_E_TYPE},
	    {S("DEVICE_ID"), CLIENTID_E_TYPE},
	    {S("UU ID"), CLIENTID_E_TYPE},
	    {S("UU\tID"), CLIENTID_E_TYPE},
	    {S("UU.ID"), CLIENTID_E_TYPE},
	    {S("UU\0ID"), CLIENTID_E_TYPE},
	    {S("\xc3\x9c"), CLIENTID_E_TYPE},
	    {S("\x7f"), CLIENTID_E_TYPE},
	};
	run_check(clientid_type_check, cases, N_ELEMENTS(cases));
}

static void test_token(void)
{
	make_long_tokens();
	const struct check_case cases[] = {
	    {S("x"), 0},
	    {S("23bf83be-aad7-46aa-9e0f-39191ccf402f"), 0},
	    {S("()"), 0},
	    {S("{}"), 0},
	    {S("%*"), 0},
	    {S("\"abc\""), 0},
	    {S("\\"), 0},
	    {S("]["), 0},
	    {S("{5}"), 0},
	    {S("!~"), 0},
	    {token128, 128, 0},
	    {token129, 129, CLIENTID_E_TOKEN},
	    {S(""), CLIENTID_E_TOKEN},
	    {S("a b"), CLIENTID_E_TOKEN},
	    {S("a\tb"), CLIENTID_E_TOKEN},
	    {S("a\0b"), CLIENTID_E_TOKEN},
	    {S("a\x7f"), CLIENTID_E_TOKEN},
	    {S("a\x80"), CLIENTID_E_TOKEN},
	    {S("\xff"), CLIENTID_E_TOKEN},
	    {S("caf\xc3\xa9"), CLIENTID_E_TOKEN},
	    {S("a\r"), CLIENTID_E_TOKEN},
	    {S("a\nb"), CLIENTID_E_TOKEN},
	};
	run_check(clientid_token_check, cases, N_ELEMENTS(cases));
}

struct args_case {
	const char *in;
	size_t len;
	unsigned flags;
	int expected;
	const char *type, *token; /* on success */
};

static void test_args(void)
{
	const unsigned SMTP = CLIENTID_ARGS_SMTP_TRAILING;
	const struct args_case cases[] = {
	    {S("UUID abc"), 0, 0, "UUID", "abc"},
	    {S("UUID abc"), SMTP, 0, "UUID", "abc"},
	    {S("UUID \"abc\""), 0, 0, "UUID", "\"abc\""},
	    {S("UUID {5}"), 0, 0, "UUID", "{5}"},
	    {S("UUID abc "), SMTP, 0, "UUID", "abc"},
	    {S("UUID abc \t "), SMTP, 0, "UUID", "abc"},
	    {S("UUID abc "), 0, CLIENTID_E_ARGS, NULL, NULL},
	    {S("UUID"), 0, CLIENTID_E_ARGS, NULL, NULL},
	    {S("UUID "), 0, CLIENTID_E_ARGS, NULL, NULL},
	    {S("UUID "), SMTP, CLIENTID_E_ARGS, NULL, NULL},
	    {S(""), 0, CLIENTID_E_ARGS, NULL, NULL},
	    {S(" UUID abc"), 0, CLIENTID_E_ARGS, NULL, NULL},
	    {S("UUID  abc"), 0, CLIENTID_E_ARGS, NULL, NULL},
	    {S("UUID abc def"), 0, CLIENTID_E_ARGS, NULL, NULL},
	    {S("UUID abc def"), SMTP, CLIENTID_E_ARGS, NULL, NULL},
	    {S("UUID\tabc"), 0, CLIENTID_E_ARGS, NULL, NULL},
	    {S("UUID abc\tdef"), 0, CLIENTID_E_TOKEN, NULL, NULL},
	    {S("UU_ID abc"), 0, CLIENTID_E_TYPE, NULL, NULL},
	    {S("UUID ab\0c"), 0, CLIENTID_E_TOKEN, NULL, NULL},
	    {S("ABCDEFGHIJ-123456 abc"), 0, CLIENTID_E_TYPE, NULL, NULL},
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		const struct args_case *c = &cases[i];
		struct clientid_slice type = {NULL, 0}, token = {NULL, 0};
		char *p = guard_dup(c->in, c->len);
		int got = clientid_args_parse(p, c->len, c->flags, &type, &token);
		if (got != c->expected)
			fprintf(stderr, "args case %zu: got %d, expected %d\n", i, got,
			        c->expected);
		CU_ASSERT_EQUAL(got, c->expected);
		if (c->expected == 0 && got == 0) {
			CU_ASSERT(type.ptr >= p && type.ptr + type.len <= p + c->len);
			CU_ASSERT(token.ptr >= p && token.ptr + token.len <= p + c->len);
			CU_ASSERT(type.len == strlen(c->type) &&
			          memcmp(type.ptr, c->type, type.len) == 0);
			CU_ASSERT(token.len == strlen(c->token) &&
			          memcmp(token.ptr, c->token, token.len) == 0);
		} else {
			CU_ASSERT_PTR_NULL(type.ptr);
			CU_ASSERT_PTR_NULL(token.ptr);
		}
		guard_free(p, c->len);
	}
	struct clientid_slice t, k;
	CU_ASSERT_EQUAL(clientid_args_parse(NULL, 0, 0, &t, &k), CLIENTID_E_ARGS);
}

static void test_type_upper(void)
{
	const struct {
		const char *in;
		size_t len;
		int expected;
		const char *out;
	} cases[] = {
	    {S("uuid"), 0, "UUID"},
	    {S("Tbird-Uuid-09"), 0, "TBIRD-UUID-09"},
	    {type16, 16, 0, "ABCDEFGHIJ-12345"},
	    {type17, 17, CLIENTID_E_TYPE, NULL},
	    {S(""), CLIENTID_E_TYPE, NULL},
	    {S("device_id"), CLIENTID_E_TYPE, NULL},
	    {S("uu\0id"), CLIENTID_E_TYPE, NULL},
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char out[CLIENTID_TYPE_MAX + 1] = "untouched";
		char *p = guard_dup(cases[i].in, cases[i].len);
		CU_ASSERT_EQUAL(clientid_type_upper(p, cases[i].len, out), cases[i].expected);
		CU_ASSERT_STRING_EQUAL(out, cases[i].out != NULL ? cases[i].out : "untouched");
		guard_free(p, cases[i].len);
	}
}

/* Every one-byte value, alone, in the type and in the token. */
static void test_every_byte(void)
{
	for (int c = 0; c < 256; c++) {
		char b = (char)c;
		int alnum =
		    (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
		CU_ASSERT_EQUAL(clientid_type_check(&b, 1) == 0, alnum || c == '-');
		CU_ASSERT_EQUAL(clientid_token_check(&b, 1) == 0, c >= 0x21 && c <= 0x7e);
	}
}

/* Which commands imap-login hands over the plugin answers: a CLIENTID with
 * a tag only. An empty tag (imap-login's form of a missing or invalid one)
 * must get imap-login's "* BAD", never " OK CLIENTID completed" (issue 13). */
static void test_imap_command_is_ours(void)
{
	static const struct {
		const char *name, *tag;
		int ours;
	} rows[] = {
	    {"CLIENTID", "a1", 1}, {"clientid", "a", 1}, {"ClientId", "*x", 1}, {"CLIENTID", "", 0},
	    {"CLIENTID", NULL, 0}, {"LOGIN", "a1", 0},   {"CLIENTIDX", "a", 0}, {"CLIENTI", "a", 0},
	    {"", "a", 0},          {NULL, "a", 0},       {"CAPABILITY", "", 0},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CU_ASSERT_EQUAL(clientid_imap_command_is_ours(rows[i].name, rows[i].tag),
		                rows[i].ours);
}

void register_grammar(void);
void register_grammar(void)
{
	static const struct unit_test tests[] = {
	    {"type", test_type},
	    {"token", test_token},
	    {"type upper", test_type_upper},
	    {"args", test_args},
	    {"every byte", test_every_byte},
	    {"IMAP command is ours", test_imap_command_is_ours},
	    {NULL, NULL},
	};
	unit_add_suite("grammar", tests);
}
