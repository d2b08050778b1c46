/* Shared by the files of policy-db/: the handle, record formats, and the
 * transaction helper. Not installed. */
#ifndef POLICYDB_PRIVATE_H
#define POLICYDB_PRIVATE_H

#include <stdint.h>
#include <sys/types.h>

#include "backend.h"
#include "policydb.h"

/* 2: device versions (backend.h), which older programs would not keep.
 * 3: traces hold the pair's part (last verified password, last allowed
 * login and its address, the trusted pair's failure window). */
#define PDB_SCHEMA_VERSION 3

struct policydb {
	struct clientid_config cfg;
	struct clientid_secret secret;
	int has_secret;
	unsigned flags;
	const struct policydb_backend *ops;
	void *be;  /* NULL until opened */
	pid_t pid; /* the process that opened be */
	char err[CLIENTID_ERRBUF_SIZE];
	/* Alerts of the transaction being run, started after its commit. */
	struct clientid_event pending_alerts[CLIENTID_OUTCOME_EVENTS_MAX];
	unsigned n_pending_alerts;
};

/* Little-endian integers, as every record stores them. */
static inline void pdb_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t pdb_get32(const void *v)
{
	const uint8_t *p = v;
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Key sizes. */
#define PDB_FP_ROUTINE   16 /* bytes of the fingerprint in routine keys */
#define PDB_DEVKEY_MAX   (CLIENTID_ACCOUNT_MAX + 1 + CLIENTID_FP_LEN)
#define PDB_TOUCHKEY_MAX (PDB_FP_ROUTINE + CLIENTID_ACCOUNT_MAX)
#define PDB_BANKEY_MAX   (CLIENTID_FP_LEN + CLIENTID_ACCOUNT_MAX)
#define PDB_EVENT_MAX    (80 + CLIENTID_TYPE_MAX + CLIENTID_ACCOUNT_MAX)

enum pdb_ban_kind {
	PDB_BAN_REVOKED = 1, /* the token is revoked */
	PDB_BAN_BLOCKED = 2, /* the device is blocked */
};

struct pdb_ban {
	uint8_t kind;   /* enum pdb_ban_kind */
	uint8_t reason; /* enum clientid_reason or clientid_admin_action */
	uint32_t time;
};

size_t pdb_device_key(const char *account, const struct clientid_fp *fp, uint8_t *key);
size_t pdb_touch_key(const struct clientid_fp *fp, const char *account, uint8_t *key);
size_t pdb_ban_key(const struct clientid_fp *fp, const char *account, uint8_t *key);
/* The key of an address's failure window in PDB_T_COUNTERS; 18 bytes. The
 * address is cut to [limits] ip_fail_prefix4/6, so that every address of a
 * prefix shares one window. */
size_t pdb_ip_counter_key(const struct clientid_config *cfg, const struct clientid_ip *ip,
                          uint8_t *key);

size_t pdb_device_encode(const struct clientid_device *d, uint8_t *buf);
int pdb_device_decode(const void *val, size_t len, struct clientid_device *d);
/* A copy of a device's durable state in its trace, and the device version
 * (backend.h) of the account's shard it was copied at. */
struct pdb_copy {
	uint64_t version;
	uint32_t seen_day;
	enum clientid_device_state state;
};
#define PDB_TOUCH_MAX 80
/* Returns the length; copy may be NULL. */
size_t pdb_touch_encode(const struct clientid_device *d, const struct pdb_copy *copy, uint8_t *buf);
int pdb_touch_decode(const void *val, size_t len, struct clientid_device *d);
/* Returns 1 and the copy when the trace holds one, else 0. */
int pdb_touch_copy(const void *val, size_t len, struct pdb_copy *copy);
#define PDB_BAN_LEN 8
void pdb_ban_encode(const struct pdb_ban *b, uint8_t *buf);
int pdb_ban_decode(const void *val, size_t len, struct pdb_ban *b);
/* A ban record of the bans table as the admin library shows it: *info_r
 * points into account (the key's account, "" when site-wide), which the
 * caller provides. Returns 0 or CLIENTID_E_STORE_CORRUPT. (admin.c) */
struct policydb_ban_info;
int pdb_ban_info_decode(const void *key, size_t klen, const void *val, size_t vlen,
                        char account[CLIENTID_ACCOUNT_MAX + 1], struct policydb_ban_info *info_r);
#define PDB_WINDOW_LEN 8 /* start, count */
#define PDB_POLICY_LEN 8
void pdb_policy_encode(const struct clientid_account_policy *p, uint8_t *buf);
int pdb_policy_decode(const void *val, size_t len, struct clientid_account_policy *p);
size_t pdb_event_encode(const struct clientid_event *ev, uint8_t *buf);
int pdb_event_decode(const void *val, size_t len, struct clientid_event *ev);

/* Opens the store for this process if needed. */
int pdb_open(struct policydb *db);

/* Copies the backend's message into db->err and returns code. */
int pdb_fail(struct policydb *db, int code);

/* Runs fn in a transaction of the given flags, committing when it returns
 * 0 and the transaction writes, and retrying after the map grew. */
typedef int pdb_txn_fn(struct policydb *db, void *txn, void *ctx);
int pdb_with_txn(struct policydb *db, unsigned flags, pdb_txn_fn *fn, void *ctx);

/* Appends an event inside txn and, if it is an alert, remembers it for
 * pdb_alerts_run() after the commit. */
int pdb_event_append(struct policydb *db, void *txn, struct clientid_event *ev);

/* Starts alert_command for an event, detached (alert.c). */
void pdb_alert_spawn(struct policydb *db, const struct clientid_event *ev);

/* JSON helpers that event-json.c and export.c share: add a string or an
 * integer member to o (json-c's object; the value is copied). */
struct json_object;
void pdb_json_add_str(struct json_object *o, const char *key, const char *val);
void pdb_json_add_int(struct json_object *o, const char *key, int64_t val);

/* --- shared by the admin library (admin*.c, maintain.c, export.c) --- */

/* 0, or CLIENTID_E_INVAL with db->err naming the bad account name. */
int pdb_check_account(struct policydb *db, const char *account);

/* Appends an admin event inside txn; account, fp, type and ip may be NULL. */
int pdb_admin_event_ip(struct policydb *db, void *txn, enum clientid_admin_action action,
                       const char *account, const struct clientid_fp *fp, const char *type,
                       const struct clientid_ip *ip, uint64_t now);
int pdb_admin_event(struct policydb *db, void *txn, enum clientid_admin_action action,
                    const char *account, const struct clientid_fp *fp, const char *type,
                    uint64_t now);

/* Adds the routine trace of info's device on info's account, if any:
 * sets info->touched and the routine fields of info->device. Returns 0 or a
 * negative code. */
/* For the trace at key (PDB_T_TOUCH: fp[16] account): how many durable
 * devices of its account share its 16 fingerprint bytes (0, 1, or 2 for
 * more). Returns 0 or a negative code. */
int pdb_trace_has_device(struct policydb *db, void *txn, const void *key, size_t klen,
                         unsigned *matches_r);

struct policydb_device_info;

/* A durable device record (PDB_T_DEVICES key and value) as *info_r, with
 * its routine trace: info_r->account points to account, which the caller
 * provides. Returns 0, CLIENTID_E_STORE_CORRUPT or another negative code. */
int pdb_device_info_load(struct policydb *db, void *txn, const void *key, size_t klen,
                         const void *val, size_t vlen, char account[CLIENTID_ACCOUNT_MAX + 1],
                         struct policydb_device_info *info_r);

/* A walk over durable device records (PDB_T_DEVICES) that calls fn with
 * each as loaded by pdb_device_info_load(): pass pdb_device_walk_cb and a
 * struct pdb_device_walk to db->ops->scan(). */
typedef int pdb_device_fn(void *ctx, const struct policydb_device_info *info);
struct pdb_device_walk {
	struct policydb *db;
	void *txn;
	pdb_device_fn *fn;
	void *ctx;
};
int pdb_device_walk_cb(void *walk, const void *key, size_t klen, const void *val, size_t vlen);

int pdb_fill_touch(struct policydb *db, void *txn, struct policydb_device_info *info);

#endif
