/* clientid_strerror() covers every code, with distinct texts. */
#include "clientid.h"
#include "unit.h"

#include <string.h>

static void test_every_code(void)
{
	for (int code = CLIENTID_E_LAST_; code <= 0; code++) {
		const char *text = clientid_strerror(code);
		CU_ASSERT_PTR_NOT_NULL_FATAL(text);
		CU_ASSERT(text[0] != '\0');
		CU_ASSERT_STRING_NOT_EQUAL(text, "unknown error");
		for (int other = code + 1; other <= 0; other++)
			CU_ASSERT_STRING_NOT_EQUAL(text, clientid_strerror(other));
	}
}

static void test_unknown(void)
{
	const int bad[] = {1, 42, CLIENTID_E_LAST_ - 1, -1000, (int)0x80000000};
	for (size_t i = 0; i < N_ELEMENTS(bad); i++)
		CU_ASSERT_STRING_EQUAL(clientid_strerror(bad[i]), "unknown error");
}

void register_error(void);
void register_error(void)
{
	static const struct unit_test tests[] = {
	    {"every code has a text", test_every_code},
	    {"unknown codes", test_unknown},
	    {NULL, NULL},
	};
	unit_add_suite("error", tests);
}
