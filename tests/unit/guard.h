/* Guard-page copies, after picohttpparser's tests: every input ends right
 * before a PROT_NONE page, so reading one byte past its end crashes the test. */
#ifndef TEST_GUARD_H
#define TEST_GUARD_H

#include <stddef.h>

/* Returns a copy of data[0..len) whose last byte is the last byte before an
 * inaccessible page. Aborts the test program if memory cannot be mapped.
 * Release with guard_free(p, len). */
char *guard_dup(const void *data, size_t len);

/* As guard_dup() for a NUL-terminated string: the NUL is the last byte. */
char *guard_strdup(const char *s);

void guard_free(char *p, size_t len);

#endif
