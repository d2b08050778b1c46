/* The store's CUnit tests, in files by subject; test_store.c registers
 * them, in this order, as the suite "store". */
#ifndef TEST_STORE_TESTS_H
#define TEST_STORE_TESTS_H

#include "fixture.h"
#include "unit.h"

#define T0 1800000000u

/* policydb_device_accounts()'s callback that counts into *(unsigned *)ctx. */
int store_count_cb(void *ctx, const char *acc, uint32_t last, const struct policydb_device_info *d);

void store_test_learn_then_trusted(void);
void store_test_enforce_pending_approve(void);
void store_test_revoke_and_policy(void);
void store_test_precheck_and_limits(void);
void store_test_unlock(void);
void store_test_fork_reopens(void);
void store_test_map_grows(void);
void store_test_bad_store(void);
void store_test_disk_full_short_write(void);
void store_test_permissions(void);
void store_test_reboot_discards_routine(void);
void store_test_schema_version(void);
void store_test_export_import(void);
void store_test_alert_command(void);
void store_test_events_and_prune(void);
void store_test_device_window_with_traces(void);
void store_test_trace_copy(void);
void store_test_learn_limit_retry(void);
void store_test_stolen_token_owner(void);
void store_test_walk_keeps_trusted_pairs(void);
void store_test_travel_last_success(void);
void store_test_ip_prefix(void);
void store_test_schema_3(void);
void store_test_clock_jump(void);
void store_test_prune_batches(void);
void store_test_fallocate_once(void);
void store_test_pg_bad_store(void);
void store_test_pg_reconnect(void);

#endif
