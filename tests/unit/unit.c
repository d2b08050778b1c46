#include "unit.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>

void unit_add_suite(const char *name, const struct unit_test *tests)
{
	if (CU_get_registry() == NULL && CU_initialize_registry() != CUE_SUCCESS)
		abort();
	CU_pSuite suite = CU_add_suite(name, NULL, NULL);
	if (suite == NULL)
		abort();
	for (; tests->name != NULL; tests++) {
		if (CU_add_test(suite, tests->name, tests->fn) == NULL)
			abort();
	}
}

int unit_run(void)
{
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	unsigned ran = CU_get_number_of_tests_run();
	CU_cleanup_registry();
	printf("\n");
	return failed == 0 && ran > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
