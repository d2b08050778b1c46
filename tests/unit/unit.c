#include "unit.h"

#include <CUnit/Basic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The tests that called unit_skip(), with their reasons. */
#define UNIT_MAX_SKIPS 64
static struct {
	const char *test;
	char why[200];
} skips[UNIT_MAX_SKIPS];
static unsigned n_skips;

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

void unit_skip(const char *why)
{
	CU_pTest test = CU_get_current_test();
	printf("\n  SKIP: %s\n", why);
	if (test == NULL || n_skips == UNIT_MAX_SKIPS)
		abort();
	skips[n_skips].test = test->pName;
	snprintf(skips[n_skips].why, sizeof(skips[n_skips].why), "%s", why);
	n_skips++;
}

static const char *skip_reason(const char *test)
{
	for (unsigned i = 0; i < n_skips; i++)
		if (skips[i].test == test)
			return skips[i].why;
	return NULL;
}

static int test_failed(CU_pTest test)
{
	for (CU_pFailureRecord f = CU_get_failure_list(); f != NULL; f = f->pNext)
		if (f->pTest == test)
			return 1;
	return 0;
}

/* One line per test to $CLIENTID_RESULTS (tests/harness/results.py has the
 * format); returns the number of skipped tests. */
static unsigned record_results(void)
{
	const char *path = getenv("CLIENTID_RESULTS");
	const char *prog = program_invocation_short_name;
	int fd = path != NULL ? open(path, O_WRONLY | O_APPEND | O_CREAT, 0644) : -1;
	for (CU_pSuite s = CU_get_registry()->pSuite; s != NULL; s = s->pNext) {
		for (CU_pTest t = s->pTest; t != NULL; t = t->pNext) {
			const char *why = skip_reason(t->pName);
			const char *status = test_failed(t) ? "FAIL" : why ? "SKIP" : "PASS";
			if (fd >= 0)
				dprintf(fd, "%s\t%s\t%s: %s\t%s\n", status, prog, s->pName,
				        t->pName, why ? why : "");
		}
	}
	if (fd >= 0)
		close(fd);
	return n_skips;
}

int unit_run(void)
{
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	unsigned ran = CU_get_number_of_tests_run();
	unsigned skipped = record_results();
	CU_cleanup_registry();
	printf("\n%u tests skipped%s\n", skipped, skipped ? " (see the SKIP lines above)" : "");
	return failed == 0 && ran > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int unit_main_arg(int argc, char **argv, const char *usage_arg, const char **arg_r,
                  const char *suite, const struct unit_test *tests)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s %s\n", argv[0], usage_arg);
		return 2;
	}
	*arg_r = argv[1];
	unit_add_suite(suite, tests);
	return unit_run();
}
