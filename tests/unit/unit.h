/* Shared CUnit glue for the unit test programs. */
#ifndef TEST_UNIT_H
#define TEST_UNIT_H

#include <CUnit/CUnit.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
};

/* Registers a suite of tests; the array ends with {NULL, NULL}. */
void unit_add_suite(const char *name, const struct unit_test *tests);

/* Marks the running test as skipped, with why (printed and recorded). The
 * test must return after it; a skip is reported in make test's summary. */
void unit_skip(const char *why);

/* Runs every registered suite with CUnit's basic interface, prints its run
 * summary, appends one PASS/FAIL/SKIP line per test to $CLIENTID_RESULTS
 * when it is set (tests/harness/results.py), and returns the process exit status (0 when nothing
 * failed). */
int unit_run(void);

/* The main() of a test program that takes one argument, named in its usage
 * line: sets *arg_r to it, registers the suite and runs it as unit_run()
 * does. Without exactly one argument prints the usage and returns 2. */
int unit_main_arg(int argc, char **argv, const char *usage_arg, const char **arg_r,
                  const char *suite, const struct unit_test *tests);

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

#endif
