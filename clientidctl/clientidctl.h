/* clientidctl: the administrators' tool for the device history.
 * See docs/clientidctl.1, which is the contract: output, exit statuses and
 * options. main.c parses the command line into a struct ctl and runs one
 * row of its command table; the commands live in devices.c, bans.c,
 * store.c and secret.c, and print through output.c. */
#ifndef CLIENTIDCTL_H
#define CLIENTIDCTL_H

#include <stdint.h>

#include "policydb-admin.h"

/* Exit statuses, documented in clientidctl(1). */
enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAIL = 1,      /* the operation failed (store error) */
	CTL_EXIT_USAGE = 2,     /* bad command line */
	CTL_EXIT_CONFIG = 3,    /* configuration or site secret unusable */
	CTL_EXIT_STORE = 4,     /* store missing, not accessible, read-only or newer */
	CTL_EXIT_NOTFOUND = 5,  /* no such account, device or ban */
	CTL_EXIT_AMBIGUOUS = 6, /* device prefix matches several devices */
	CTL_EXIT_CHECK = 7,     /* check found problems */
	CTL_EXIT_DATA = 8,      /* import data invalid */
	CTL_EXIT_EXISTS = 9,    /* create-secret: the file exists (never replaced) */
};

enum ctl_output {
	CTL_OUTPUT_TEXT = 0,
	CTL_OUTPUT_JSON, /* --json */
};

/* The command line: options as given (pointers into argv). */
struct ctl_opts {
	const char *config; /* -c, default CLIENTID_CONFIG_PATH */
	int follow;         /* events -f */
	int dry_run;        /* prune -n */
	int attack;         /* unlock --attack */
	uint64_t since;     /* events --since, default 1 */
	const char *label, *account, *token_type, *state, *ip; /* NULL when not given */
};

/* What every command gets. main() owns it; it lives for the whole run. */
struct ctl {
	struct ctl_opts opts;
	enum ctl_output output;
	struct policydb *db; /* NULL for create-secret, which runs without a store */
	int nargs;           /* positional arguments after the command name */
	char **args;
	/* The canonical forms of an account argument and of --account
	 * ([policy] account_case), which args[0] and opts.account then point to. */
	char account_arg[CLIENTID_ACCOUNT_MAX + 1];
	char account_opt[CLIENTID_ACCOUNT_MAX + 1];
};

/* A command: runs with ctl->args as its arguments (checked here: a wrong
 * count returns ctl_usage()), prints its result, and returns the exit
 * status. ctl->db is open, unless the row says CTL_NO_STORE. */
typedef int ctl_command_fn(struct ctl *ctl);

/* Prints the usage text to standard error and returns CTL_EXIT_USAGE
 * (main.c). */
int ctl_usage(void);

/* devices.c */
ctl_command_fn ctl_cmd_list, ctl_cmd_show, ctl_cmd_approve, ctl_cmd_block, ctl_cmd_forget,
    ctl_cmd_label, ctl_cmd_register, ctl_cmd_accounts;
/* bans.c */
ctl_command_fn ctl_cmd_revoke, ctl_cmd_unrevoke, ctl_cmd_bans, ctl_cmd_unlock;
/* store.c */
ctl_command_fn ctl_cmd_init, ctl_cmd_stats, ctl_cmd_events, ctl_cmd_prune, ctl_cmd_check,
    ctl_cmd_export, ctl_cmd_import, ctl_cmd_policy;
/* secret.c */
ctl_command_fn ctl_cmd_fingerprint, ctl_cmd_create_secret;

/* Fingerprints the token on standard input (its first line) as a token of
 * client-id-type type, and wipes the copy. Returns CTL_EXIT_OK with *fp_r
 * set, or the exit status after printing why (secret.c). */
int ctl_token_fp(struct ctl *ctl, const char *type, struct clientid_fp *fp_r);

#endif
