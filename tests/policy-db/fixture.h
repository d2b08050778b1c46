/* A scratch store for the policy-db tests: a temporary directory holding a
 * site secret, a configuration and the store: an LMDB directory there, or,
 * when $CLIENTID_TEST_PG_DSN names a PostgreSQL database (with-postgresql
 * sets it), fresh tables in that database. The same tests run on both,
 * but for LMDB's file and map tests (test_store.c lists them, and the
 * PostgreSQL-only counterparts). */
#ifndef TEST_POLICYDB_FIXTURE_H
#define TEST_POLICYDB_FIXTURE_H

#include "policydb-admin.h"

struct fixture {
	char dir[256];
	char conf[300];
	char store[300];
	int pg; /* the store is PostgreSQL's tables */
};

/* $CLIENTID_TEST_PG_DSN, or NULL when the tests run on LMDB. */
const char *fixture_pg_dsn(void);

/* Creates the directory and files; extra is appended to the configuration
 * (sections and keys). On PostgreSQL drops the tables a test before may
 * have left. Aborts on failure. */
void fixture_make(struct fixture *f, const char *extra);

/* fixture_make() on LMDB, whatever fixture_pg_dsn() says. */
void fixture_make_lmdb(struct fixture *f, const char *extra);

/* Opens a handle on it, aborting on failure. */
struct policydb *fixture_open(const struct fixture *f, unsigned flags);

/* Removes the directory tree (and on PostgreSQL the tables). */
void fixture_remove(struct fixture *f);

/* An attempt on account with device n (0: no client id), from 192.0.2.10.
 * The fingerprint is written to *fp_buf, which the attempt points to. */
struct clientid_attempt fixture_attempt(const char *account, unsigned device, int success,
                                        uint64_t now, struct clientid_fp *fp_buf);

/* The fingerprint of fixture_attempt()'s device n. */
struct clientid_fp fixture_fp(unsigned device);

/* fixture_make() and fixture_open() without alerts: the usual start of a
 * test. The handle is the caller's; fixture_end() releases both. */
struct policydb *fixture_start(struct fixture *f, const char *extra);

/* Closes *db (set to NULL) and removes the directory tree. */
void fixture_end(struct fixture *f, struct policydb **db);

/* policydb_decide() on fixture_attempt(account, device, success, now). */
int fixture_decide(struct policydb *db, const char *account, unsigned device, int success,
                   uint64_t now, struct clientid_verdict *v);

/* fixture_decide() from ip instead of 192.0.2.10 (a CUnit failure, fatal,
 * when ip is not an address). */
int fixture_decide_from(struct policydb *db, const char *ip, const char *account, unsigned device,
                        int success, uint64_t now, struct clientid_verdict *v);

/* CUnit asserts that policydb_check() runs and finds no problem. */
void fixture_assert_clean(struct policydb *db);

#endif
