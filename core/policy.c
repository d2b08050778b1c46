/* The policy engine. Pure: no clock, no I/O, no allocation. The order of the
 * checks in decide() is the policy; tests/unit/test_policy.c pins it. */
#include "clientid-policy.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

enum clientid_mode clientid_policy_mode(const struct clientid_config *cfg,
                                        const struct clientid_account_policy *p)
{
	if (p->mode >= CLIENTID_MODE_OFF && p->mode <= CLIENTID_MODE_ENFORCE)
		return (enum clientid_mode)p->mode;
	return cfg->mode;
}

unsigned clientid_config_contradictions(const struct clientid_config *cfg, clientid_warn_fn *fn,
                                        void *ctx)
{
	char msg[CLIENTID_ERRBUF_SIZE];
	unsigned n = 0;
	if (!cfg->require_clientid)
		return 0;
	if ((cfg->default_handling & CLIENTID_HANDLE_AUTH) == 0) {
		fn(ctx, "[policy] require_clientid = yes, but [types] default_handling lacks auth: "
		        "a type without a [type NAME] section never satisfies it");
		n++;
	}
	for (unsigned i = 0; i < cfg->type_rule_count; i++) {
		if ((cfg->type_rules[i].handling & CLIENTID_HANDLE_AUTH) != 0)
			continue;
		snprintf(msg, sizeof(msg),
		         "[policy] require_clientid = yes, but [type %s] handling lacks auth: "
		         "a client id of that type never satisfies it",
		         cfg->type_rules[i].type);
		fn(ctx, msg);
		n++;
	}
	return n;
}

int clientid_outcome_is_durable(const struct clientid_outcome *out)
{
	return (out->updates & CLIENTID_UPD_DURABLE) != 0 || out->n_events > 0;
}

/* --- windows --- */

/* A window is over once len seconds have passed since its start. A time
 * slightly before the start is inside it: processes read the clock before
 * they queue for the writer lock, so commits arrive slightly out of order.
 * A start far ahead was written by a clock that has since been corrected. */
static int window_over(const struct clientid_window *w, uint32_t now, unsigned len)
{
	if (len == 0)
		return 1;
	if (now < w->start)
		return w->start - now > CLIENTID_CLOCK_AHEAD_MAX;
	return now - w->start >= len;
}

/* Under-attack mode is on until attack_until, which lies at most the
 * attack's duration ahead; further ahead is a clock jump, and over. */
static int attack_active(const struct clientid_config *cfg, const struct clientid_history *h,
                         uint32_t now)
{
	if (h->attack_until == 0 || now >= h->attack_until)
		return 0;
	return h->attack_until - now <= (uint64_t)cfg->attack_duration + CLIENTID_CLOCK_AHEAD_MAX;
}

static uint32_t window_count(const struct clientid_window *w, uint32_t now, unsigned len)
{
	return window_over(w, now, len) ? 0 : w->count;
}

static void window_add(struct clientid_window *w, uint32_t now, unsigned len)
{
	if (window_over(w, now, len) || w->count == 0) {
		w->start = now;
		w->count = 0;
	}
	w->count++;
}

static int type_listed(const struct clientid_type_list *list, const char *type)
{
	for (unsigned i = 0; i < list->count; i++) {
		if (strcasecmp(list->type[i], type) == 0)
			return 1;
	}
	return 0;
}

/* Two addresses are distant when they are of one family and differ within
 * the configured prefix. Families are not compared: dual-stack clients move
 * between them all the time. */
static int ip_distant(const struct clientid_config *cfg, const struct clientid_ip *a,
                      const struct clientid_ip *b)
{
	if (a->family == 0 || a->family != b->family)
		return 0;
	unsigned bits = a->family == 4 ? cfg->travel_prefix4 : cfg->travel_prefix6;
	unsigned bytes = bits / 8, rest = bits % 8;
	if (memcmp(a->addr, b->addr, bytes) != 0)
		return 1;
	if (rest == 0)
		return 0;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a->addr[bytes] & mask) != (b->addr[bytes] & mask);
}

struct ctx {
	const struct clientid_config *cfg;
	const struct clientid_attempt *a;
	const struct clientid_history *h;
	struct clientid_outcome *out;
	uint32_t now;
	unsigned handling;
	enum clientid_mode mode;
	int presented; /* a client id counts as sent */
	int used;      /* and it takes part in the decision and the history */
};

static struct clientid_event *add_event(struct ctx *c, enum clientid_event_kind kind,
                                        enum clientid_reason reason)
{
	struct clientid_outcome *out = c->out;
	if (out->n_events >= CLIENTID_OUTCOME_EVENTS_MAX)
		return NULL;
	struct clientid_event *ev = &out->events[out->n_events++];
	memset(ev, 0, sizeof(*ev));
	ev->time = c->now;
	ev->kind = (uint8_t)kind;
	ev->reason = (uint8_t)reason;
	ev->protocol = (uint8_t)c->a->protocol;
	ev->ip = c->a->ip;
	ev->decision = (uint8_t)out->verdict.decision;
	if (c->a->account != NULL)
		snprintf(ev->account, sizeof(ev->account), "%s", c->a->account);
	if (c->presented) {
		ev->flags |= CLIENTID_EVF_FP;
		ev->fp = *c->a->fp;
		(void)clientid_type_upper(c->a->type, strlen(c->a->type), ev->type);
	}
	if ((c->handling & CLIENTID_HANDLE_USERLOG) != 0)
		ev->flags |= CLIENTID_EVF_USER;
	if (kind != CLIENTID_EV_ADMIN)
		ev->flags |= CLIENTID_EVF_ALERT;
	return ev;
}

static int attempt_valid(const struct clientid_attempt *a)
{
	if ((a->type == NULL) != (a->fp == NULL))
		return 0;
	if (a->type != NULL && clientid_type_check(a->type, strlen(a->type)) != 0)
		return 0;
	if (a->auth == CLIENTID_AUTH_PRECHECK)
		return a->account == NULL || clientid_account_check(a->account) == 0;
	if (a->auth != CLIENTID_AUTH_SUCCESS && a->auth != CLIENTID_AUTH_FAILURE)
		return 0;
	return clientid_account_check(a->account) == 0;
}

/* The device is trusted on this account (known only with an account). */
static int pair_trusted(const struct ctx *c)
{
	const struct clientid_history *h = c->h;
	return c->used && c->a->account != NULL && (h->have & CLIENTID_HAVE_DEVICE) != 0 &&
	       h->device.state == CLIENTID_DEV_TRUSTED;
}

/* Whether the attempt also counts as its address: clients without a client
 * id, and devices the account does not trust (unknown or pending), so that a
 * fresh random token with every attempt is limited like no token at all.
 * Trusted devices never are: they are what lets one device through while its
 * carrier-grade NAT address is locked. A precheck without an account cannot
 * tell, and leaves it to the decision after the password. */
static int keyed_by_ip(const struct ctx *c)
{
	if (c->a->ip.family == 0)
		return 0;
	if (!c->used)
		return 1;
	if (c->a->account == NULL)
		return 0;
	return !pair_trusted(c);
}

/* A trusted pair that existed before a walk through accounts noticed at
 * walk_time keeps working; one first seen within device_accounts_window
 * before it was learned by the walk (DESIGN.md section 3). */
static int pair_predates(const struct ctx *c, uint32_t walk_time)
{
	uint32_t first = c->h->device.first_seen;
	return pair_trusted(c) && first < walk_time &&
	       walk_time - first >= c->cfg->device_accounts_window;
}

/* The failure limit: a trusted pair has its own window, so that failures
 * elsewhere (a stolen token without the password) never lock it out; other
 * uses share the device's. A precheck without an account cannot tell which
 * applies and leaves it to the decision after the password. */
static int fail_limited(const struct ctx *c)
{
	const struct clientid_config *cfg = c->cfg;
	if (!c->used || cfg->device_fail_limit == 0 || c->a->account == NULL)
		return 0;
	const struct clientid_window *w =
	    pair_trusted(c) ? &c->h->device.pair_fail : &c->h->dev_fail;
	return window_count(w, c->now, cfg->device_fail_window) >= cfg->device_fail_limit;
}

/* A device that verified passwords on more than device_max_accounts
 * accounts: this account makes one more. Recorded once, site-wide, with an
 * alert (not in observe mode, which writes no ban); refused wherever its
 * trust does not predate the walk. Only a verified password counts: a token
 * holder without passwords cannot make its owner's device walk. */
static enum clientid_reason walk(struct ctx *c)
{
	const struct clientid_config *cfg = c->cfg;
	const struct clientid_history *h = c->h;
	if (!c->used || c->a->account == NULL || c->a->auth != CLIENTID_AUTH_SUCCESS ||
	    cfg->device_max_accounts == 0 || h->device_accounts < cfg->device_max_accounts)
		return CLIENTID_R_ALLOWED;
	if (c->mode != CLIENTID_MODE_OBSERVE && !h->banned) {
		c->out->updates |= CLIENTID_UPD_BAN;
		add_event(c, CLIENTID_EV_DEVICE_BLOCKED, CLIENTID_R_MANY_ACCOUNTS);
	}
	return pair_predates(c, c->now) ? CLIENTID_R_ALLOWED : CLIENTID_R_MANY_ACCOUNTS;
}

/* A device blocked on this account, or after a walk wherever its trust does
 * not predate the walk. Without an account the decision after the password
 * tells. */
static int blocked(const struct ctx *c)
{
	const struct clientid_history *h = c->h;
	if (!c->used || c->a->account == NULL)
		return 0;
	if ((h->have & CLIENTID_HAVE_DEVICE) != 0 && h->device.state == CLIENTID_DEV_BLOCKED)
		return 1;
	return h->banned && !pair_predates(c, h->ban_time);
}

static int travelled(const struct ctx *c)
{
	const struct clientid_config *cfg = c->cfg;
	const struct clientid_device *d = &c->h->device;
	/* From the last allowed login: failures (of a token holder without the
	 * password, say) neither hide a move nor fake one. */
	return c->used && c->a->auth == CLIENTID_AUTH_SUCCESS && cfg->travel_window != 0 &&
	       (c->h->have & CLIENTID_HAVE_TOUCH) != 0 && d->last_ok != 0 && c->now >= d->last_ok &&
	       c->now - d->last_ok < cfg->travel_window &&
	       ip_distant(cfg, &d->last_ok_ip, &c->a->ip);
}

/* The refusals that hold whatever the password: revocations, blocks, type
 * lists, requirements, failure limits, walking devices, travel, attack.
 * Returns the first reason that applies, or CLIENTID_R_ALLOWED. Side
 * effects: bans the walking device, raises travel. */
static enum clientid_reason refusals(struct ctx *c)
{
	const struct clientid_config *cfg = c->cfg;
	const struct clientid_history *h = c->h;
	const struct clientid_attempt *a = c->a;
	int have_account = a->account != NULL;
	int require =
	    h->policy.require_clientid >= 0 ? h->policy.require_clientid : cfg->require_clientid;

	if (c->presented && type_listed(&cfg->types_deny, a->type))
		return CLIENTID_R_TYPE_DENIED;
	if (c->used && h->revoked)
		return CLIENTID_R_REVOKED;
	if (blocked(c))
		return CLIENTID_R_BLOCKED;
	/* Only a client id used for authentication satisfies the requirement. */
	if (!c->used && require && have_account)
		return CLIENTID_R_CLIENTID_REQUIRED;
	if (fail_limited(c))
		return CLIENTID_R_DEVICE_FAIL_LIMIT;
	enum clientid_reason why = walk(c);
	if (why != CLIENTID_R_ALLOWED)
		return why;
	/* After the device's own checks, so that a walking device is still
	 * blocked while its address is locked. */
	if (keyed_by_ip(c) && cfg->ip_fail_limit != 0 &&
	    window_count(&h->ip_fail, c->now, cfg->ip_fail_window) >= cfg->ip_fail_limit)
		return CLIENTID_R_IP_FAIL_LIMIT;
	if (travelled(c)) {
		c->out->verdict.flags |= CLIENTID_VF_TRAVEL;
		add_event(c, CLIENTID_EV_TRAVEL, CLIENTID_R_TRAVEL);
		if (cfg->travel_action == CLIENTID_TRAVEL_DENY)
			return CLIENTID_R_TRAVEL;
	}
	if (attack_active(cfg, h, c->now)) {
		c->out->verdict.flags |= CLIENTID_VF_UNDER_ATTACK;
		/* Without an account nothing is known to be trusted yet: the
		 * decision after the password, which knows the account, refuses. */
		if (have_account && !pair_trusted(c))
			return CLIENTID_R_UNDER_ATTACK;
	}
	return CLIENTID_R_ALLOWED;
}

static void new_device(struct ctx *c, enum clientid_device_state state)
{
	struct clientid_device *d = &c->out->device;
	const struct clientid_history *h = c->h;
	d->state = state;
	(void)clientid_type_upper(c->a->type, strlen(c->a->type), d->type);
	d->label[0] = '\0';
	d->first_seen = c->now;
	d->seen_day = c->now;
	c->out->updates |= CLIENTID_UPD_DEVICE;
	c->out->verdict.flags |= CLIENTID_VF_NEW_DEVICE;
	if (state == CLIENTID_DEV_PENDING) {
		unsigned max = h->policy.pending_max_devices != 0 ? h->policy.pending_max_devices
		                                                  : c->cfg->pending_max_devices;
		if (h->pending_count >= max && (h->have & CLIENTID_HAVE_OLDEST_PENDING) != 0) {
			c->out->evict = h->oldest_pending;
			c->out->updates |= CLIENTID_UPD_EVICT;
		}
	}
}

/* After a verified password: the mode decides about the device itself. */
static enum clientid_reason mode_decision(struct ctx *c, enum clientid_mode mode)
{
	const struct clientid_history *h = c->h;
	struct clientid_device *d = &c->out->device;
	if (!c->used)
		return CLIENTID_R_NO_CLIENTID_OK;
	unsigned learn_max = h->policy.learn_max_devices != 0 ? h->policy.learn_max_devices
	                                                      : c->cfg->learn_max_devices;
	/* Observe records new devices as pending, like enforce, and only logs. */
	int learning = mode == CLIENTID_MODE_LEARN && !c->a->no_learn;
	int room = h->trusted_count < learn_max;
	if ((h->have & CLIENTID_HAVE_DEVICE) != 0) {
		if (d->state == CLIENTID_DEV_TRUSTED)
			return CLIENTID_R_TRUSTED;
		/* pending */
		if (learning && room) {
			d->state = CLIENTID_DEV_TRUSTED;
			c->out->updates |= CLIENTID_UPD_DEVICE;
			add_event(c, CLIENTID_EV_NEW_DEVICE, CLIENTID_R_LEARNED);
			return CLIENTID_R_LEARNED;
		}
		return learning ? CLIENTID_R_LEARN_LIMIT : CLIENTID_R_PENDING;
	}
	if (learning && room) {
		new_device(c, CLIENTID_DEV_TRUSTED);
		add_event(c, CLIENTID_EV_NEW_DEVICE, CLIENTID_R_LEARNED);
		return CLIENTID_R_LEARNED;
	}
	new_device(c, CLIENTID_DEV_PENDING);
	enum clientid_reason why = learning ? CLIENTID_R_LEARN_LIMIT : CLIENTID_R_UNKNOWN_DEVICE;
	add_event(c, CLIENTID_EV_NEW_DEVICE, why);
	return why;
}

/* Denials after a verified password that deserve an event: someone holds
 * the password but not an acceptable device. */
static int denial_is_event(enum clientid_reason r)
{
	switch (r) {
	case CLIENTID_R_TYPE_DENIED:
	case CLIENTID_R_REVOKED:
	case CLIENTID_R_BLOCKED:
	case CLIENTID_R_DEVICE_FAIL_LIMIT:
	case CLIENTID_R_IP_FAIL_LIMIT:
	case CLIENTID_R_UNDER_ATTACK:
		return 1;
	default:
		return 0; /* raised elsewhere, or too frequent to be news */
	}
}

static void count_failure(struct ctx *c)
{
	const struct clientid_config *cfg = c->cfg;
	struct clientid_outcome *out = c->out;
	if (pair_trusted(c)) {
		struct clientid_window *w = &out->device.pair_fail;
		window_add(w, c->now, cfg->device_fail_window);
		if (cfg->device_fail_limit != 0 && w->count == cfg->device_fail_limit)
			add_event(c, CLIENTID_EV_LOCKOUT, CLIENTID_R_DEVICE_FAIL_LIMIT);
	} else if (c->used) {
		out->dev_fail = c->h->dev_fail;
		window_add(&out->dev_fail, c->now, cfg->device_fail_window);
		out->updates |= CLIENTID_UPD_DEV_FAIL;
		if (cfg->device_fail_limit != 0 && out->dev_fail.count == cfg->device_fail_limit)
			add_event(c, CLIENTID_EV_LOCKOUT, CLIENTID_R_DEVICE_FAIL_LIMIT);
	}
	if (keyed_by_ip(c)) {
		out->ip_fail = c->h->ip_fail;
		window_add(&out->ip_fail, c->now, cfg->ip_fail_window);
		out->updates |= CLIENTID_UPD_IP_FAIL;
		if (cfg->ip_fail_limit != 0 && out->ip_fail.count == cfg->ip_fail_limit)
			add_event(c, CLIENTID_EV_LOCKOUT, CLIENTID_R_IP_FAIL_LIMIT);
	}
	if (cfg->attack_fail_threshold != 0) {
		out->site_fail = c->h->site_fail;
		window_add(&out->site_fail, c->now, cfg->attack_window);
		out->updates |= CLIENTID_UPD_SITE_FAIL;
		int active = attack_active(cfg, c->h, c->now);
		if (out->site_fail.count >= cfg->attack_fail_threshold && !active) {
			out->attack_until = c->now + cfg->attack_duration;
			out->updates |= CLIENTID_UPD_ATTACK;
			struct clientid_event *ev =
			    add_event(c, CLIENTID_EV_ATTACK, CLIENTID_R_UNDER_ATTACK);
			if (ev != NULL) {
				/* A site-wide event: the attempt that tipped it is no news. */
				ev->account[0] = '\0';
				ev->flags &= (uint8_t) ~(CLIENTID_EVF_FP | CLIENTID_EVF_USER);
				memset(&ev->fp, 0, sizeof(ev->fp));
				ev->type[0] = '\0';
			}
		}
	}
}

int clientid_policy_decide(const struct clientid_config *cfg, const struct clientid_attempt *a,
                           const struct clientid_history *h, struct clientid_outcome *out_r)
{
	memset(out_r, 0, sizeof(*out_r));
	struct clientid_verdict *v = &out_r->verdict;
	if (!attempt_valid(a)) {
		v->decision = CLIENTID_DENY;
		v->reason = CLIENTID_R_STORE_ERROR;
		return CLIENTID_E_INVAL;
	}
	struct ctx c = {.cfg = cfg, .a = a, .h = h, .out = out_r, .now = (uint32_t)a->now};
	v->mode = clientid_policy_mode(cfg, &h->policy);
	c.mode = v->mode;
	if (a->fp != NULL) {
		clientid_fp_short(a->fp, v->fp_short);
		c.handling = clientid_config_type_handling(cfg, a->type, strlen(a->type));
		c.presented =
		    a->tls && (c.handling & CLIENTID_HANDLE_IGNORE) == 0 &&
		    (cfg->types_allow.count == 0 || type_listed(&cfg->types_allow, a->type));
		c.used = c.presented && (c.handling & CLIENTID_HANDLE_AUTH) != 0;
		if (c.presented && (c.handling & CLIENTID_HANDLE_SYSLOG) != 0)
			v->flags |= CLIENTID_VF_SYSLOG;
		if (!c.presented)
			v->fp_short[0] = '\0';
	}
	if (v->mode == CLIENTID_MODE_OFF) {
		v->decision = a->auth == CLIENTID_AUTH_FAILURE ? CLIENTID_DENY : CLIENTID_ALLOW;
		v->reason = a->auth == CLIENTID_AUTH_FAILURE ? CLIENTID_R_AUTH_FAILED
		                                             : CLIENTID_R_POLICY_OFF;
		return 0;
	}

	out_r->device = h->device;
	enum clientid_reason why = refusals(&c);
	if (a->auth == CLIENTID_AUTH_PRECHECK) {
		out_r->updates = 0; /* a precheck records nothing */
		out_r->n_events = 0;
		v->flags &= ~(unsigned)CLIENTID_VF_TRAVEL;
	} else if (a->auth == CLIENTID_AUTH_FAILURE) {
		count_failure(&c);
		if ((c.handling & CLIENTID_HANDLE_ALERT_FAILURE) != 0 && c.presented)
			add_event(&c, CLIENTID_EV_ALERT_FAILURE, CLIENTID_R_AUTH_FAILED);
		if (why == CLIENTID_R_ALLOWED)
			why = CLIENTID_R_AUTH_FAILED;
	} else {
		if (why == CLIENTID_R_ALLOWED)
			why = mode_decision(&c, v->mode);
		else if (denial_is_event(why))
			add_event(&c, CLIENTID_EV_DENIED, why);
		if ((c.handling & CLIENTID_HANDLE_ALERT_SUCCESS) != 0 && c.presented)
			add_event(&c, CLIENTID_EV_ALERT_SUCCESS, why);
	}

	int deny;
	switch (why) {
	case CLIENTID_R_ALLOWED:
	case CLIENTID_R_TRUSTED:
	case CLIENTID_R_LEARNED:
	case CLIENTID_R_NO_CLIENTID_OK:
		deny = 0;
		break;
	default:
		deny = 1;
	}
	v->reason = why;
	v->decision = deny ? CLIENTID_DENY : CLIENTID_ALLOW;
	if (deny && v->mode == CLIENTID_MODE_OBSERVE && why != CLIENTID_R_AUTH_FAILED) {
		v->decision = a->auth == CLIENTID_AUTH_FAILURE ? CLIENTID_DENY : CLIENTID_ALLOW;
		v->flags |= CLIENTID_VF_OBSERVED;
	}

	if (c.used && a->auth != CLIENTID_AUTH_PRECHECK) {
		struct clientid_device *d = &out_r->device;
		if ((h->have & CLIENTID_HAVE_DEVICE) != 0 && c.now >= d->seen_day + 86400u) {
			d->seen_day = c.now;
			out_r->updates |= CLIENTID_UPD_DEVICE;
		}
		d->last_seen = c.now;
		d->last_ip = a->ip;
		d->last_protocol = a->protocol;
		if (a->auth == CLIENTID_AUTH_SUCCESS) {
			d->successes++;
			d->last_verified = c.now;
		} else {
			d->failures++;
		}
		if (v->decision == CLIENTID_ALLOW && a->auth == CLIENTID_AUTH_SUCCESS) {
			d->last_ok = c.now;
			d->last_ok_ip = a->ip;
		}
		out_r->updates |= CLIENTID_UPD_TOUCH;
	}
	for (unsigned i = 0; i < out_r->n_events; i++) {
		out_r->events[i].decision = (uint8_t)v->decision;
		if ((v->flags & CLIENTID_VF_OBSERVED) != 0)
			out_r->events[i].flags |= CLIENTID_EVF_OBSERVE;
	}
	return 0;
}
