/* A scratch store for the policy-db tests: a temporary directory holding a
 * site secret, a configuration and the store. */
#ifndef TEST_POLICYDB_FIXTURE_H
#define TEST_POLICYDB_FIXTURE_H

#include "policydb-admin.h"

struct fixture {
	char dir[256];
	char conf[300];
	char store[300];
};

/* Creates the directory and files; extra is appended to the configuration
 * (sections and keys). Aborts on failure. */
void fixture_make(struct fixture *f, const char *extra);

/* Opens a handle on it, aborting on failure. */
struct policydb *fixture_open(const struct fixture *f, unsigned flags);

/* Removes the directory tree. */
void fixture_remove(struct fixture *f);

/* An attempt on account with device n (0: no client id). */
struct clientid_attempt fixture_attempt(const char *account, unsigned device, int success,
                                        uint64_t now, struct clientid_fp *fp_buf);

#endif
