/* The policy engine: its tables (policy_table.h) run row by row, then the
 * few cases that are not rows. */
#include "policy_table.h"
#include "unit.h"

#include <stdio.h>
#include <string.h>

static struct clientid_fp fp_of(int dev)
{
	struct clientid_fp fp;
	memset(&fp, dev == DEV_A ? 0xa1 : 0xb2, sizeof(fp));
	return fp;
}

static void run_row(const struct row *r)
{
	struct clientid_config cfg;
	char err[CLIENTID_ERRBUF_SIZE];
	if (clientid_config_load_string("row.conf", r->conf, &cfg, err) != 0) {
		fprintf(stderr, "%s: %s\n", r->name, err);
		CU_FAIL_FATAL("row configuration");
	}
	struct clientid_history h;
	memset(&h, 0, sizeof(h));
	h.policy = (struct clientid_account_policy)CLIENTID_ACCOUNT_POLICY_DEFAULT;
	if (r->acct_mode > 0)
		h.policy.mode = r->acct_mode - 1;
	if (r->acct_mode == -1)
		h.policy.learn_max_devices = 5;
	if (r->acct_require != 0)
		h.policy.require_clientid = r->acct_require;
	if (r->state != 0) {
		h.have |= CLIENTID_HAVE_DEVICE;
		h.device.state = (enum clientid_device_state)r->state;
		snprintf(h.device.type, sizeof(h.device.type), "UUID");
		h.device.first_seen = NOW - (r->first_ago != 0 ? r->first_ago : 1000);
		h.device.seen_day = NOW - 1000;
	}
	if (r->last_ago > 0) {
		h.have |= CLIENTID_HAVE_TOUCH;
		h.device.last_seen = NOW - (unsigned)r->last_ago;
		CU_ASSERT_EQUAL_FATAL(
		    clientid_ip_parse(r->last_ip ? r->last_ip : "192.0.2.1", &h.device.last_ip), 0);
		h.device.last_ok_ip = h.device.last_ip;
		if (r->ok_ip != NULL)
			CU_ASSERT_EQUAL_FATAL(clientid_ip_parse(r->ok_ip, &h.device.last_ok_ip), 0);
		if (r->ok_ago >= 0)
			h.device.last_ok =
			    NOW - (unsigned)(r->ok_ago > 0 ? r->ok_ago : r->last_ago);
		h.device.last_verified = h.device.last_ok;
	}
	if (r->pair_fails > 0) {
		h.have |= CLIENTID_HAVE_TOUCH;
		h.device.pair_fail = (struct clientid_window){NOW - 10, r->pair_fails};
	}
	h.trusted_count = r->trusted;
	h.pending_count = r->pending;
	if (r->pending > 0) {
		h.have |= CLIENTID_HAVE_OLDEST_PENDING;
		h.oldest_pending = fp_of(DEV_B);
	}
	h.device_accounts = r->others;
	h.revoked = r->revoked;
	h.banned = r->banned;
	if (r->banned)
		h.ban_time = NOW - 10;
	uint32_t start = r->win_ahead > 0 ? NOW + r->win_ahead : NOW - 10;
	h.dev_fail = (struct clientid_window){start, r->dev_fails};
	h.ip_fail = (struct clientid_window){start, r->ip_fails};
	h.site_fail = (struct clientid_window){start, r->site_fails};
	if (r->attack_for != 0)
		h.attack_until = (uint32_t)((int)NOW + r->attack_for);

	struct clientid_fp fp = fp_of(r->dev);
	struct clientid_attempt a = {
	    .account = r->no_account ? NULL : "alice@example.org",
	    .protocol = CLIENTID_PROTO_IMAP,
	    .type = r->dev != NO_ID ? (r->type ? r->type : "UUID") : NULL,
	    .fp = r->dev != NO_ID ? &fp : NULL,
	    .tls = !r->no_tls,
	    .auth = r->auth,
	    .now = NOW,
	    .no_learn = r->no_learn,
	};
	CU_ASSERT_EQUAL_FATAL(clientid_ip_parse(r->ip ? r->ip : "192.0.2.1", &a.ip), 0);

	struct clientid_outcome out;
	CU_ASSERT_EQUAL_FATAL(clientid_policy_decide(&cfg, &a, &h, &out), 0);
	char events[128] = "";
	for (unsigned i = 0; i < out.n_events; i++)
		snprintf(events + strlen(events), sizeof(events) - strlen(events), "%s%s",
		         i ? "," : "", clientid_event_kind_name(out.events[i].kind));
	int ok = out.verdict.decision == r->decision && out.verdict.reason == r->reason &&
	         out.verdict.flags == r->flags && out.updates == r->updates &&
	         strcmp(events, r->events) == 0;
	if (!ok)
		fprintf(stderr,
		        "\nrow '%s': got %s/%s flags %#x updates %#x events '%s'; "
		        "want %s/%s flags %#x updates %#x events '%s'\n",
		        r->name, clientid_decision_name(out.verdict.decision),
		        clientid_reason_name(out.verdict.reason), out.verdict.flags, out.updates,
		        events, clientid_decision_name(r->decision),
		        clientid_reason_name(r->reason), r->flags, r->updates, r->events);
	CU_ASSERT(ok);
	/* The routine part always carries the attempt when the device is used. */
	if ((out.updates & U_TOUCH) != 0) {
		CU_ASSERT_EQUAL(out.device.last_seen, NOW);
		CU_ASSERT_EQUAL(out.device.successes + out.device.failures, 1);
	}
	/* A precheck never writes. */
	if (r->auth == P)
		CU_ASSERT(out.updates == 0 && out.n_events == 0);
}

static void run_rows(const struct row *rows)
{
	for (const struct row *r = rows; r->name != NULL; r++)
		run_row(r);
}

static void test_modes(void)
{
	run_rows(policy_mode_rows);
}

static void test_heuristics(void)
{
	run_rows(policy_limit_rows);
	run_rows(policy_heuristic_rows);
}

static void test_handling(void)
{
	run_rows(policy_handling_rows);
}

static void test_windows_expire(void)
{
	struct clientid_config cfg;
	char err[CLIENTID_ERRBUF_SIZE];
	CU_ASSERT_EQUAL_FATAL(clientid_config_load_string("w", LEARN LIMITS, &cfg, err), 0);
	struct clientid_history h;
	memset(&h, 0, sizeof(h));
	h.policy = (struct clientid_account_policy)CLIENTID_ACCOUNT_POLICY_DEFAULT;
	h.dev_fail = (struct clientid_window){NOW - cfg.device_fail_window, 99};
	struct clientid_fp fp = fp_of(DEV_A);
	struct clientid_attempt a = {
	    .account = "bob", .type = "UUID", .fp = &fp, .tls = 1, .auth = F, .now = NOW};
	struct clientid_outcome out;
	CU_ASSERT_EQUAL(clientid_policy_decide(&cfg, &a, &h, &out), 0);
	/* The old window is over: this failure starts a new one. */
	CU_ASSERT_EQUAL(out.dev_fail.start, NOW);
	CU_ASSERT_EQUAL(out.dev_fail.count, 1);
	CU_ASSERT_EQUAL(out.verdict.reason, CLIENTID_R_AUTH_FAILED);
}

static void test_durable(void)
{
	struct clientid_outcome out;
	memset(&out, 0, sizeof(out));
	out.updates = U_TOUCH | U_DFAIL | U_IFAIL | U_SFAIL | U_ATTACK;
	CU_ASSERT_FALSE(clientid_outcome_is_durable(&out));
	out.updates |= U_DEV;
	CU_ASSERT_TRUE(clientid_outcome_is_durable(&out));
	out.updates = 0;
	out.n_events = 1;
	CU_ASSERT_TRUE(clientid_outcome_is_durable(&out));
}

static void test_bad_attempts(void)
{
	struct clientid_config cfg;
	clientid_config_defaults(&cfg);
	struct clientid_history h;
	memset(&h, 0, sizeof(h));
	struct clientid_fp fp = fp_of(DEV_A);
	char long_account[CLIENTID_ACCOUNT_MAX + 2];
	memset(long_account, 'a', sizeof(long_account) - 1);
	long_account[sizeof(long_account) - 1] = '\0';
	const struct clientid_attempt bad[] = {
	    {.account = NULL, .auth = S},
	    {.account = "", .auth = S},
	    {.account = long_account, .auth = S},
	    {.account = "a\nb", .auth = S},
	    {.account = "a", .type = "UUID", .fp = NULL, .auth = S},
	    {.account = "a", .type = NULL, .fp = &fp, .auth = S},
	    {.account = "a", .type = "U_U", .fp = &fp, .auth = S},
	    {.account = "a", .auth = (enum clientid_auth)9},
	};
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		struct clientid_outcome out;
		CU_ASSERT_EQUAL(clientid_policy_decide(&cfg, &bad[i], &h, &out), CLIENTID_E_INVAL);
		CU_ASSERT_EQUAL(out.verdict.decision, CLIENTID_DENY);
		CU_ASSERT_EQUAL(out.updates, 0);
	}
}

static void test_names(void)
{
	for (int r = 0; r < CLIENTID_R_COUNT_; r++) {
		const char *name = clientid_reason_name((enum clientid_reason)r);
		CU_ASSERT(strcmp(name, "unknown") != 0);
		for (int o = 0; o < r; o++)
			CU_ASSERT_STRING_NOT_EQUAL(name,
			                           clientid_reason_name((enum clientid_reason)o));
	}
	for (int k = 1; k < CLIENTID_EV_COUNT_; k++)
		CU_ASSERT(
		    strcmp(clientid_event_kind_name((enum clientid_event_kind)k), "unknown") != 0);
	for (int k = 1; k < CLIENTID_ADMIN_COUNT_; k++)
		CU_ASSERT(strcmp(clientid_admin_action_name((enum clientid_admin_action)k),
		                 "unknown") != 0);
	CU_ASSERT_STRING_EQUAL(clientid_reason_name(CLIENTID_R_COUNT_), "unknown");
	/* observe mode's log text (issue 13 item 3) */
	char buf[CLIENTID_OBSERVED_TEXT_MAX];
	struct clientid_verdict v = {.decision = CLIENTID_ALLOW,
	                             .reason = CLIENTID_R_UNKNOWN_DEVICE};
	CU_ASSERT_STRING_EQUAL(clientid_verdict_observed(&v, buf), "");
	v.flags = CLIENTID_VF_OBSERVED;
	CU_ASSERT_STRING_EQUAL(clientid_verdict_observed(&v, buf),
	                       " observed would=deny reason=device_unknown");
	enum clientid_device_state st;
	CU_ASSERT_EQUAL(clientid_device_state_parse("Trusted", &st), 0);
	CU_ASSERT_EQUAL(st, CLIENTID_DEV_TRUSTED);
	CU_ASSERT_EQUAL(clientid_device_state_parse("gone", &st), CLIENTID_E_INVAL);
}

static void test_ip(void)
{
	static const struct {
		const char *in, *out;
		int family;
	} cases[] = {
	    {"192.0.2.1", "192.0.2.1", 4},
	    {"::ffff:192.0.2.1", "192.0.2.1", 4},
	    {"2001:db8::1", "2001:db8::1", 6},
	    {"::1", "::1", 6},
	    {"192.0.2.256", NULL, 0},
	    {"[::1]", NULL, 0},
	    {"", NULL, 0},
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct clientid_ip ip;
		int ret = clientid_ip_parse(cases[i].in, &ip);
		if (cases[i].out == NULL) {
			CU_ASSERT_EQUAL(ret, CLIENTID_E_INVAL);
			continue;
		}
		CU_ASSERT_EQUAL_FATAL(ret, 0);
		CU_ASSERT_EQUAL(ip.family, cases[i].family);
		char text[CLIENTID_IP_STR_MAX];
		clientid_ip_format(&ip, text);
		CU_ASSERT_STRING_EQUAL(text, cases[i].out);
	}
}

static void collect_warning(void *ctx, const char *msg)
{
	char *buf = ctx;
	snprintf(buf + strlen(buf), 512 - strlen(buf), "%s\n", msg);
}

/* Issue 13 item 4: a type without auth handling never satisfies
 * require_clientid; loading such settings says so. */
static void test_contradictions(void)
{
	static const struct {
		const char *conf;
		unsigned n;
		const char *names; /* in the messages */
	} cases[] = {
	    {"[policy]\nrequire_clientid = yes\n", 0, ""},
	    {"[policy]\nrequire_clientid = no\n[type X]\nhandling = syslog\n", 0, ""},
	    {"[policy]\nrequire_clientid = yes\n[type X]\nhandling = syslog\n", 1,
	     "[type X] handling"},
	    {"[policy]\nrequire_clientid = yes\n[types]\ndefault_handling = syslog\n", 1,
	     "[types] default_handling"},
	    {"[policy]\nrequire_clientid = yes\n[type Y]\nhandling = auth\n", 0, ""},
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct clientid_config cfg;
		char err[CLIENTID_ERRBUF_SIZE], got[512] = "";
		CU_ASSERT_EQUAL_FATAL(clientid_config_load_string("c", cases[i].conf, &cfg, err),
		                      0);
		CU_ASSERT_EQUAL(clientid_config_contradictions(&cfg, collect_warning, got),
		                cases[i].n);
		CU_ASSERT_PTR_NOT_NULL(strstr(got, cases[i].names));
		if (cases[i].n > 0)
			CU_ASSERT_PTR_NOT_NULL(strstr(got, "require_clientid"));
	}
}

void register_policy(void);
void register_policy(void)
{
	static const struct unit_test tests[] = {
	    {"modes", test_modes},
	    {"heuristics", test_heuristics},
	    {"per-type handling", test_handling},
	    {"windows expire", test_windows_expire},
	    {"durable outcomes", test_durable},
	    {"malformed attempts", test_bad_attempts},
	    {"names", test_names},
	    {"addresses", test_ip},
	    {"contradictory settings warn (issue 13 item 4)", test_contradictions},
	    {NULL, NULL},
	};
	unit_add_suite("policy", tests);
}
