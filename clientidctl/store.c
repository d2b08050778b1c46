/* The store as a whole: stats, events, prune, check, export, import, and
 * the per-account policy. */
#include "clientidctl.h"
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int ctl_cmd_stats(struct ctl *ctl)
{
	struct policydb_stats s;
	int ret = policydb_stats(ctl->db, &s);
	if (ret != 0)
		return ctl_fail(ctl, ret);
	int attack = s.attack_until > (uint32_t)time(NULL);
	ctl_print_stats(ctl->output, &s, policydb_config(ctl->db), attack);
	return CTL_EXIT_OK;
}

struct events_ctx {
	enum ctl_output output;
	uint64_t next; /* the sequence number to read from */
};

static int events_cb(void *vctx, const struct clientid_event *ev)
{
	struct events_ctx *c = vctx;
	c->next = ev->seq + 1;
	ctl_print_event(c->output, ev);
	return 0;
}

/* Set by SIGINT and SIGTERM to end events --follow; a signal handler
 * reaches no context, hence file scope. */
static volatile sig_atomic_t follow_stop;

static void on_signal(int sig)
{
	(void)sig;
	follow_stop = 1;
}

int ctl_cmd_events(struct ctl *ctl)
{
	if (ctl->nargs != 0)
		return ctl_usage();
	struct events_ctx c = {ctl->output, ctl->opts.since};
	int ret = policydb_events(ctl->db, c.next, events_cb, &c);
	if (ret != 0)
		return ctl_fail(ctl, ret);
	if (!ctl->opts.follow)
		return CTL_EXIT_OK;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (!follow_stop) {
		fflush(stdout);
		usleep(250000);
		if ((ret = policydb_events(ctl->db, c.next, events_cb, &c)) != 0)
			return ctl_fail(ctl, ret);
	}
	return CTL_EXIT_OK;
}

int ctl_cmd_prune(struct ctl *ctl)
{
	if (ctl->nargs != 0)
		return ctl_usage();
	struct policydb_prune_counts n;
	int ret = policydb_prune(ctl->db, (uint64_t)time(NULL), ctl->opts.dry_run, &n);
	if (ret != 0)
		return ctl_fail(ctl, ret);
	ctl_print_prune(ctl->output, ctl->opts.dry_run, &n);
	return CTL_EXIT_OK;
}

/* init (may create) and migrate (may not): opening the store does the
 * work; both report the schema version. */
int ctl_cmd_init(struct ctl *ctl)
{
	if (ctl->nargs != 0)
		return ctl_usage();
	uint32_t version;
	int ret = policydb_schema(ctl->db, &version);
	if (ret != 0)
		return ctl_fail(ctl, ret);
	ctl_print_schema(ctl->output, version, policydb_config(ctl->db));
	return CTL_EXIT_OK;
}

int ctl_cmd_check(struct ctl *ctl)
{
	if (ctl->nargs != 0)
		return ctl_usage();
	struct policydb_check r;
	int ret = policydb_check(ctl->db, &r);
	if (ret != 0)
		return ctl_fail(ctl, ret);
	ctl_print_check(ctl->output, &r);
	return r.problems == 0 ? CTL_EXIT_OK : CTL_EXIT_CHECK;
}

int ctl_cmd_export(struct ctl *ctl)
{
	if (ctl->nargs > 1)
		return ctl_usage();
	FILE *out = stdout;
	const char *path = ctl->nargs == 1 ? ctl->args[0] : "-";
	if (strcmp(path, "-") != 0) {
		/* Fingerprints, addresses and account names: 0600 whatever the
		 * umask, also when the file was there before. */
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600);
		if (fd < 0 || fchmod(fd, 0600) != 0 || (out = fdopen(fd, "w")) == NULL) {
			char esc[CTL_ESC_SIZE];
			ctl_error("%s: %s", ctl_escape(path, esc), strerror(errno));
			if (fd >= 0)
				close(fd);
			return CTL_EXIT_FAIL;
		}
	}
	int ret = policydb_export(ctl->db, out);
	if (out != stdout && fclose(out) != 0 && ret == 0) {
		ctl_error("%s: %s", path, strerror(errno));
		return CTL_EXIT_FAIL;
	}
	return ctl_result(ctl, ret);
}

/* Reads all of in into a new buffer the caller frees. Returns NULL when
 * out of memory. */
static char *read_all(FILE *in, size_t *len_r)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	size_t n;
	while (buf != NULL && (n = fread(buf + len, 1, cap - len, in)) > 0) {
		len += n;
		if (len == cap) {
			char *nb = realloc(buf, cap *= 2);
			if (nb == NULL)
				free(buf);
			buf = nb;
		}
	}
	*len_r = len;
	return buf;
}

int ctl_cmd_import(struct ctl *ctl)
{
	if (ctl->nargs > 1)
		return ctl_usage();
	FILE *in = stdin;
	const char *name = ctl->nargs == 1 ? ctl->args[0] : "-";
	if (strcmp(name, "-") != 0 && (in = fopen(name, "re")) == NULL) {
		ctl_error("%s: %s", name, strerror(errno));
		return CTL_EXIT_FAIL;
	}
	size_t len;
	char *buf = read_all(in, &len);
	if (in != stdin)
		fclose(in);
	if (buf == NULL) {
		ctl_error("out of memory");
		return CTL_EXIT_FAIL;
	}
	struct policydb_import_counts c;
	int ret = policydb_import(ctl->db, buf, len, (uint64_t)time(NULL), &c);
	free(buf);
	if (ret != 0)
		return ctl_fail(ctl, ret);
	ctl_print_import(ctl->output, &c);
	return CTL_EXIT_OK;
}

/* One KEY=VALUE setting of policy into *p. Returns 0, or -1 when it is
 * not one. */
static int parse_setting(const char *arg, struct clientid_account_policy *p)
{
	const char *eq = strchr(arg, '=');
	if (eq == NULL)
		return -1;
	size_t kl = (size_t)(eq - arg);
	const char *v = eq + 1;
	int dflt = strcmp(v, "default") == 0;
	if (kl == 4 && strncmp(arg, "mode", 4) == 0) {
		enum clientid_mode m;
		if (dflt)
			p->mode = -1;
		else if (clientid_mode_parse(v, &m) == 0)
			p->mode = (int)m;
		else
			return -1;
	} else if (kl == 16 && strncmp(arg, "require_clientid", 16) == 0) {
		if (dflt)
			p->require_clientid = -1;
		else if (strcmp(v, "yes") == 0 || strcmp(v, "on") == 0)
			p->require_clientid = 1;
		else if (strcmp(v, "no") == 0 || strcmp(v, "off") == 0)
			p->require_clientid = 0;
		else
			return -1;
	} else if ((kl == 17 && strncmp(arg, "learn_max_devices", 17) == 0) ||
	           (kl == 19 && strncmp(arg, "pending_max_devices", 19) == 0)) {
		unsigned *f = arg[0] == 'l' ? &p->learn_max_devices : &p->pending_max_devices;
		char *end;
		unsigned long n = dflt ? 0 : strtoul(v, &end, 10);
		if (!dflt && (*v == '\0' || *end != '\0' || n < 1 || n > 1000))
			return -1;
		*f = (unsigned)n;
	} else {
		return -1;
	}
	return 0;
}

/* policy ACCOUNT: show the effective policy; with settings: change it. */
int ctl_cmd_policy(struct ctl *ctl)
{
	if (ctl->nargs < 1)
		return ctl_usage();
	struct clientid_account_policy p;
	int ret = policydb_account_policy_get(ctl->db, ctl->args[0], &p);
	if (ret != 0)
		return ctl_fail(ctl, ret);
	if (ctl->nargs == 1) {
		ctl_print_policy(ctl->output, ctl->args[0], &p, policydb_config(ctl->db));
		return CTL_EXIT_OK;
	}
	for (int i = 1; i < ctl->nargs; i++) {
		if (parse_setting(ctl->args[i], &p) != 0) {
			ctl_error("'%s': expected mode=off|observe|learn|enforce, "
			          "require_clientid=yes|no, learn_max_devices=1..1000 or "
			          "pending_max_devices=1..1000 (or =default)",
			          ctl->args[i]);
			return CTL_EXIT_USAGE;
		}
	}
	ret = policydb_account_policy_set(ctl->db, ctl->args[0], &p, (uint64_t)time(NULL));
	return ctl_result(ctl, ret);
}
