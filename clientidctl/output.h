/* clientidctl's output: every line and JSON document it prints, and the
 * escaping of names (what clients sent) in text output. Results go to
 * standard output, messages to standard error. */
#ifndef CLIENTIDCTL_OUTPUT_H
#define CLIENTIDCTL_OUTPUT_H

#include <stdint.h>

#include "clientidctl.h"

/* A name escaped for a terminal: a few bytes per input byte, cut to this. */
#define CTL_ESC_SIZE (CLIENTID_ACCOUNT_MAX * 4 + 1)

/* Escapes in for text output: printable ASCII and printable UTF-8 as they
 * are, a backslash as \\, anything else (controls, C1 controls, invalid
 * UTF-8) as \xHH, so that nothing reaches the terminal as a control
 * sequence. Writes into out (cut to CTL_ESC_SIZE) and returns out. */
const char *ctl_escape(const char *in, char out[CTL_ESC_SIZE]);

/* Prints "clientidctl: " and the message, with a line end, to standard
 * error. */
void ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reports a policy-db failure (policydb_last_error(), escaped, else the
 * code's text) and returns the exit status for err. */
int ctl_fail(const struct ctl *ctl, int err);

/* CTL_EXIT_OK for 0, else ctl_fail(ctl, err): the end of most commands. */
int ctl_result(const struct ctl *ctl, int err);

/* The exit status for a CLIENTID_E_* code (0: CTL_EXIT_OK). */
int ctl_exit_code(int err);

/* A list being printed: text lines as the walk gives them (after a header
 * for devices), or one JSON array printed by ctl_list_end(). */
struct json_object;
struct ctl_list {
	struct json_object *arr; /* NULL in text */
	unsigned n;
};
void ctl_list_begin(struct ctl_list *l, enum ctl_output output);
/* Prints the JSON array if print is set; frees it either way. */
void ctl_list_end(struct ctl_list *l, int print);

/* One item of a list: the policy-db walks' callbacks, with a struct
 * ctl_list as their ctx; they return 0 (the walk goes on). The views are
 * copied, so they need to last for the call only. */
policydb_device_fn ctl_list_device;
policydb_ban_fn ctl_list_ban;
/* One account of a device (accounts): last_seen 0 when only the durable
 * record d is left; d NULL when only traces are. */
policydb_account_fn ctl_list_account;

/* One device in full (show). */
void ctl_print_device(enum ctl_output output, const struct policydb_device_info *info);
/* A device id: the short one (register), or all 64 digits (fingerprint). */
void ctl_print_fp(const struct clientid_fp *fp, int full);
/* One event: a text line, or one JSON object on its own line. */
void ctl_print_event(enum ctl_output output, const struct clientid_event *ev);
/* The effective policy of an account: p as stored, over cfg's defaults. */
void ctl_print_policy(enum ctl_output output, const char *account,
                      const struct clientid_account_policy *p, const struct clientid_config *cfg);
/* attack: whether s->attack_until is still ahead. */
void ctl_print_stats(enum ctl_output output, const struct policydb_stats *s,
                     const struct clientid_config *cfg, int attack);
void ctl_print_prune(enum ctl_output output, int dry_run, const struct policydb_prune_counts *n);
void ctl_print_check(enum ctl_output output, const struct policydb_check *r);
/* init and migrate: the store (never the DSN) and its schema version. */
void ctl_print_schema(enum ctl_output output, uint32_t version, const struct clientid_config *cfg);
/* Text only: an import prints nothing with --json. */
void ctl_print_import(enum ctl_output output, const struct policydb_import_counts *c);

#endif
