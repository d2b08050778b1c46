/* Administration of the store, for clientidctl and the tests. The login path
 * never needs these. Every function returns 0 or a negative CLIENTID_E_*
 * code with policydb_last_error() explaining it; callbacks get views that
 * are valid during the call only, and a non-zero return from a callback
 * stops the walk and is returned. */
#ifndef POLICYDB_ADMIN_H
#define POLICYDB_ADMIN_H

#include <stdint.h>
#include <stdio.h>

#include "policydb.h"

struct policydb_device_info {
	const char *account;
	struct clientid_fp fp;
	int durable; /* a durable record exists (else: only routine traces) */
	int touched; /* routine record exists */
	struct clientid_device device;
};

typedef int policydb_device_fn(void *ctx, const struct policydb_device_info *info);

/* The devices of an account, in fingerprint order. */
int policydb_devices(struct policydb *db, const char *account, policydb_device_fn *fn, void *ctx);

/* One device. Returns 1 and fills *info_r (account points to the argument),
 * or 0 when the account has no such device. */
int policydb_device_get(struct policydb *db, const char *account, const struct clientid_fp *fp,
                        struct policydb_device_info *info_r);

/* Resolves a device id typed by an administrator: the full hex fingerprint,
 * or a prefix of at least 4 hex digits that is unique among the account's
 * devices (account NULL: among every device of the store). Returns 0,
 * CLIENTID_E_NOTFOUND, CLIENTID_E_AMBIGUOUS or CLIENTID_E_INVAL. */
int policydb_device_resolve(struct policydb *db, const char *account, const char *id,
                            struct clientid_fp *fp_r);

/* Sets a known device's state (approve: trusted; block: blocked). Synced;
 * appends an admin event. CLIENTID_E_NOTFOUND if the account has no such
 * durable device. */
int policydb_device_set_state(struct policydb *db, const char *account,
                              const struct clientid_fp *fp, enum clientid_device_state state,
                              uint64_t now);

/* Sets or clears (label "") a device's label. */
int policydb_device_set_label(struct policydb *db, const char *account,
                              const struct clientid_fp *fp, const char *label);

/* Removes every trace of the device from the account. */
int policydb_device_forget(struct policydb *db, const char *account, const struct clientid_fp *fp,
                           uint64_t now);

/* Pre-registers a device (state as given, usually trusted). Replaces the
 * state of an existing record. type must be a client-id-type. */
int policydb_device_register(struct policydb *db, const char *account, const char *type,
                             const struct clientid_fp *fp, enum clientid_device_state state,
                             const char *label, uint64_t now);

/* Ends a lock-out early: forgets the failure window of the device fp (and
 * of its trusted pairs), or, with fp NULL, of the address ip (its
 * [limits] ip_fail_prefix4/6 network), so that its failures count from zero
 * again. Returns 0 (with an admin event), CLIENTID_E_NOTFOUND when nothing
 * is on record, or another negative code. */
int policydb_unlock(struct policydb *db, const struct clientid_fp *fp, const struct clientid_ip *ip,
                    uint64_t now);

/* Ends under-attack mode now, and forgets the site-wide failure count that
 * started it. Returns 0 (with an admin event), CLIENTID_E_NOTFOUND when the
 * mode was not on record, or another negative code. */
int policydb_unlock_attack(struct policydb *db, uint64_t now);

/* Revokes a token (account NULL: site-wide), or withdraws that. */
int policydb_revoke(struct policydb *db, const struct clientid_fp *fp, const char *account,
                    uint64_t now);
int policydb_unrevoke(struct policydb *db, const struct clientid_fp *fp, const char *account,
                      uint64_t now);

struct policydb_ban_info {
	struct clientid_fp fp;
	const char *account; /* "" when site-wide */
	int revoked;         /* else blocked */
	unsigned reason;     /* clientid_reason, or clientid_admin_action */
	uint32_t time;
};
typedef int policydb_ban_fn(void *ctx, const struct policydb_ban_info *ban);
int policydb_bans(struct policydb *db, policydb_ban_fn *fn, void *ctx);

/* The JSON objects of a device and a ban: one code for export and for
 * clientidctl's --json output. EXPORT is export's object, the one import
 * reads. VIEW is clientidctl's: it adds "device" (the short id), always has
 * "label" and "last_ip", calls a device known only by its traces "unknown",
 * leaves out "seen_day", and puts a ban's "account" last. Both return a new
 * json-c object that the caller owns (json_object_put()). */
enum policydb_json_form {
	POLICYDB_JSON_EXPORT,
	POLICYDB_JSON_VIEW,
};
struct json_object;
struct json_object *policydb_device_json(const struct policydb_device_info *info,
                                         enum policydb_json_form form);
struct json_object *policydb_ban_json(const struct policydb_ban_info *ban,
                                      enum policydb_json_form form);

/* Per-account policy. get returns the defaults (-1/0) when none is set. */
int policydb_account_policy_get(struct policydb *db, const char *account,
                                struct clientid_account_policy *p_r);
/* Stores p; all fields at their defaults removes the override. */
int policydb_account_policy_set(struct policydb *db, const char *account,
                                const struct clientid_account_policy *p, uint64_t now);

/* The accounts on which a device (its first 16 fingerprint bytes) was seen.
 * last_seen is 0 when only the durable record is left. */
typedef int policydb_account_fn(void *ctx, const char *account, uint32_t last_seen,
                                const struct policydb_device_info *durable_or_null);
int policydb_device_accounts(struct policydb *db, const struct clientid_fp *fp,
                             policydb_account_fn *fn, void *ctx);

/* Events with seq >= since, in order. */
typedef int policydb_event_fn(void *ctx, const struct clientid_event *ev);
int policydb_events(struct policydb *db, uint64_t since, policydb_event_fn *fn, void *ctx);

struct policydb_stats {
	uint64_t devices, trusted, pending, blocked; /* durable device records */
	uint64_t accounts;                           /* accounts with a durable device */
	uint64_t touches, bans, policies, events, counters;
	uint64_t bytes_durable, bytes_routine; /* pages in use */
	uint64_t map_durable, map_routine;
	unsigned readers, max_readers;
	uint32_t attack_until;
};
int policydb_stats(struct policydb *db, struct policydb_stats *s_r);

struct policydb_prune_counts {
	uint64_t devices, touches, events, counters;
	uint64_t batches; /* transactions used */
};
/* Removes devices unseen for [events] device_retention, routine traces and
 * counters past their windows, and events older than [events] retention.
 * With dry_run, only counts. Works in short transactions of a bounded
 * number of records each, so that logins never wait for a whole scan; a
 * record changed between batches is judged as it is then. */
int policydb_prune(struct policydb *db, uint64_t now, int dry_run,
                   struct policydb_prune_counts *counts_r);

struct policydb_check {
	unsigned stale_readers; /* reclaimed */
	unsigned problems;
	uint64_t records;
	char first_problem[CLIENTID_ERRBUF_SIZE];
};
/* Reclaims stale readers, walks every table and decodes every record. */
int policydb_check(struct policydb *db, struct policydb_check *r);

/* Opens the store as the handle's flags allow (creating it unless
 * POLICYDB_NO_CREATE; bringing an older schema to this program's, as every
 * first use does) and sets *version_r to the schema version it then has. */
int policydb_schema(struct policydb *db, uint32_t *version_r);

/* Writes the durable state (devices with their routine data, bans,
 * policies) as one JSON document. */
int policydb_export(struct policydb *db, FILE *out);

struct policydb_import_counts {
	uint64_t devices, bans, policies;
};
/* Reads a document written by policydb_export() and merges it into the
 * store in one transaction: all or nothing. Malformed data gives
 * CLIENTID_E_FORMAT with the reason in policydb_last_error(). */
int policydb_import(struct policydb *db, const char *json, size_t len, uint64_t now,
                    struct policydb_import_counts *counts_r);

/* Parses and validates a document without touching any store (the fuzz
 * target's entry point). err_r: CLIENTID_ERRBUF_SIZE bytes. */
int policydb_import_validate(const char *json, size_t len, char *err_r);

#endif
