/* The store: decisions recorded and read back, administration, fork,
 * map growth, bad stores, reboot handling, schema, import/export, alerts.
 * The tests are in test_store_*.c by subject; this is their suite. */
#include "store_tests.h"

int store_count_cb(void *ctx, const char *acc, uint32_t last, const struct policydb_device_info *d)
{
	(void)acc;
	(void)last;
	(void)d;
	(*(unsigned *)ctx)++;
	return 0;
}

/* Tests of LMDB's files and map, not of the store: not registered when the
 * tests run on PostgreSQL (fixture_pg_dsn()), where there is no map to
 * grow, no file to chmod, fill or throw away after a reboot. */
static void (*const lmdb_only[])(void) = {
    store_test_map_grows,
    store_test_bad_store,
    store_test_disk_full_short_write,
    store_test_permissions,
    store_test_reboot_discards_routine,
    store_test_fallocate_once,
};

/* And PostgreSQL's counterparts, registered only there. */
static void (*const pg_only[])(void) = {store_test_pg_bad_store, store_test_pg_reconnect};

static int listed(void (*const *list)(void), size_t n, void (*fn)(void))
{
	for (size_t i = 0; i < n; i++) {
		if (list[i] == fn)
			return 1;
	}
	return 0;
}

static int registered(void (*fn)(void))
{
	if (fixture_pg_dsn() != NULL)
		return !listed(lmdb_only, N_ELEMENTS(lmdb_only), fn);
	return !listed(pg_only, N_ELEMENTS(pg_only), fn);
}

void register_store(void);
void register_store(void)
{
	static const struct unit_test all[] = {
	    {"learn, then trusted; counts", store_test_learn_then_trusted},
	    {"enforce: pending, approve, block, forget", store_test_enforce_pending_approve},
	    {"revocations and account policy", store_test_revoke_and_policy},
	    {"precheck, limits, walking device, record-only", store_test_precheck_and_limits},
	    {"unlock ends a lock-out early", store_test_unlock},
	    {"a fork reopens the store", store_test_fork_reopens},
	    {"map full: a tiny map grows", store_test_map_grows},
	    {"bad store: missing, not a directory, no access, read-only", store_test_bad_store},
	    {"disk full: a short write is reported as full", store_test_disk_full_short_write},
	    {"files are group-shared whatever the umask", store_test_permissions},
	    {"after a reboot the routine part is discarded", store_test_reboot_discards_routine},
	    {"a newer schema is refused", store_test_schema_version},
	    {"export and import", store_test_export_import},
	    {"alert_command runs detached", store_test_alert_command},
	    {"events and prune", store_test_events_and_prune},
	    {"a device's failure window lives with its traces",
	     store_test_device_window_with_traces},
	    {"a trace's copy of the device state is used only while current",
	     store_test_trace_copy},
	    {"learn limit bypassed by retrying (issue 13 item 1)", store_test_learn_limit_retry},
	    {"a stolen token locks out its owner (issue 13 item 5)", store_test_stolen_token_owner},
	    {"a walk keeps older trusted pairs (issue 13 item 5)",
	     store_test_walk_keeps_trusted_pairs},
	    {"travel evaded by a failure first (issue 13 item 9)", store_test_travel_last_success},
	    {"IPv6 ip_fail_limit keyed on the full /128 (issue 13 item 8)", store_test_ip_prefix},
	    {"schema 2 is taken up by schema 3", store_test_schema_3},
	    {"a forward clock jump never expires (issue 13 item 10)", store_test_clock_jump},
	    {"prune works in bounded batches (issue 13, lower)", store_test_prune_batches},
	    {"the routine map is allocated at growth only (issue 13, lower)",
	     store_test_fallocate_once},
	    {"bad store: no tables, no database, no server, a password in the DSN",
	     store_test_pg_bad_store},
	    {"a connection the server ended is made again", store_test_pg_reconnect},
	    {NULL, NULL},
	};
	static struct unit_test tests[N_ELEMENTS(all)];
	size_t n = 0;
	for (const struct unit_test *t = all; t->name != NULL; t++) {
		if (registered(t->fn))
			tests[n++] = *t;
	}
	tests[n] = (struct unit_test){NULL, NULL};
	unit_add_suite(fixture_pg_dsn() != NULL ? "store (postgresql)" : "store", tests);
}
