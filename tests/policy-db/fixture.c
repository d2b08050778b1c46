#include "fixture.h"
#include "backend.h"

#include <CUnit/CUnit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *fixture_pg_dsn(void)
{
	const char *dsn = getenv("CLIENTID_TEST_PG_DSN");
	return dsn != NULL && dsn[0] != '\0' ? dsn : NULL;
}

/* A fresh PostgreSQL store: no tables yet. */
static void pg_drop(void)
{
#ifdef POLICYDB_HAVE_POSTGRESQL
	char err[CLIENTID_ERRBUF_SIZE];
	if (pdb_postgresql_drop(fixture_pg_dsn(), err) != 0) {
		fprintf(stderr, "fixture: %s\n", err);
		abort();
	}
#else
	fprintf(stderr, "fixture: CLIENTID_TEST_PG_DSN is set, but PostgreSQL is not built\n");
	abort();
#endif
}

static void make(struct fixture *f, const char *extra, int pg)
{
	snprintf(f->dir, sizeof(f->dir), "/tmp/clientid-policydb.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		abort();
	char secret[300];
	snprintf(secret, sizeof(secret), "%s/secret", f->dir);
	FILE *s = fopen(secret, "w");
	if (s == NULL)
		abort();
	fputs("0123456789abcdef0123456789abcdef", s);
	fclose(s);
	chmod(secret, 0600);
	snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
	snprintf(f->conf, sizeof(f->conf), "%s/clientid.conf", f->dir);
	FILE *c = fopen(f->conf, "w");
	if (c == NULL)
		abort();
	fprintf(c, "[general]\nsecret_file = %s\n[store]\npath = %s\nmap_size = 1M\n", secret,
	        f->store);
	f->pg = pg;
	if (pg) {
		fprintf(c, "backend = postgresql\ndsn = %s\n", fixture_pg_dsn());
		pg_drop();
	}
	fprintf(c, "%s\n", extra != NULL ? extra : "");
	fclose(c);
}

void fixture_make(struct fixture *f, const char *extra)
{
	make(f, extra, fixture_pg_dsn() != NULL);
}

void fixture_make_lmdb(struct fixture *f, const char *extra)
{
	make(f, extra, 0);
}

struct policydb *fixture_open(const struct fixture *f, unsigned flags)
{
	struct policydb *db;
	char err[CLIENTID_ERRBUF_SIZE];
	if (policydb_init(f->conf, flags, &db, err) != 0) {
		fprintf(stderr, "fixture: %s\n", err);
		abort();
	}
	return db;
}

void fixture_remove(struct fixture *f)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fixture: could not remove %s\n", f->dir);
	if (f->pg)
		pg_drop();
}

struct clientid_attempt fixture_attempt(const char *account, unsigned device, int success,
                                        uint64_t now, struct clientid_fp *fp_buf)
{
	struct clientid_attempt a = {
	    .account = account,
	    .protocol = CLIENTID_PROTO_IMAP,
	    .tls = 1,
	    .auth = success ? CLIENTID_AUTH_SUCCESS : CLIENTID_AUTH_FAILURE,
	    .now = now,
	};
	clientid_ip_parse("192.0.2.10", &a.ip);
	if (device != 0) {
		memset(fp_buf, 0, sizeof(*fp_buf));
		for (int i = 0; i < 4; i++)
			fp_buf->b[i] = (uint8_t)(device >> (24 - 8 * i));
		fp_buf->b[31] = 0x5a;
		a.type = "UUID";
		a.fp = fp_buf;
	}
	return a;
}

struct clientid_fp fixture_fp(unsigned device)
{
	struct clientid_fp fp;
	(void)fixture_attempt("x", device, 1, 0, &fp);
	return fp;
}

struct policydb *fixture_start(struct fixture *f, const char *extra)
{
	fixture_make(f, extra);
	return fixture_open(f, POLICYDB_NO_ALERTS);
}

void fixture_end(struct fixture *f, struct policydb **db)
{
	policydb_deinit(db);
	fixture_remove(f);
}

int fixture_decide(struct policydb *db, const char *account, unsigned device, int success,
                   uint64_t now, struct clientid_verdict *v)
{
	struct clientid_fp fp;
	struct clientid_attempt a = fixture_attempt(account, device, success, now, &fp);
	return policydb_decide(db, &a, v);
}

int fixture_decide_from(struct policydb *db, const char *ip, const char *account, unsigned device,
                        int success, uint64_t now, struct clientid_verdict *v)
{
	struct clientid_fp fp;
	struct clientid_attempt a = fixture_attempt(account, device, success, now, &fp);
	CU_ASSERT_EQUAL_FATAL(clientid_ip_parse(ip, &a.ip), 0);
	return policydb_decide(db, &a, v);
}

void fixture_assert_clean(struct policydb *db)
{
	struct policydb_check r;
	CU_ASSERT_EQUAL(policydb_check(db, &r), 0);
	CU_ASSERT_EQUAL(r.problems, 0);
}
