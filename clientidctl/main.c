/* clientidctl: the administrators' tool for the device history.
 * See docs/clientidctl.1. This file parses the command line, opens the
 * store as the command needs it, and runs one row of the command table. */
#include "clientidctl.h"
#include "output.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a command needs before it runs. */
enum ctl_needs {
	CTL_WRITES = 1u << 0,       /* may create the store */
	CTL_SECRET = 1u << 1,       /* computes fingerprints */
	CTL_TOKEN_SECRET = 1u << 2, /* computes fingerprints with --token */
	CTL_ACCOUNT = 1u << 3,      /* the first argument is an account name */
	CTL_NO_STORE = 1u << 4,     /* runs without a store (create-secret) */
};

static const struct ctl_command {
	const char *name;
	ctl_command_fn *fn;
	unsigned needs;
} commands[] = {
    {"list", ctl_cmd_list, CTL_ACCOUNT},
    {"show", ctl_cmd_show, CTL_ACCOUNT},
    {"approve", ctl_cmd_approve, CTL_WRITES | CTL_ACCOUNT},
    {"block", ctl_cmd_block, CTL_WRITES | CTL_ACCOUNT},
    {"forget", ctl_cmd_forget, CTL_WRITES | CTL_ACCOUNT},
    {"label", ctl_cmd_label, CTL_WRITES | CTL_ACCOUNT},
    {"register", ctl_cmd_register, CTL_WRITES | CTL_SECRET | CTL_ACCOUNT},
    {"revoke", ctl_cmd_revoke, CTL_WRITES | CTL_TOKEN_SECRET},
    {"unrevoke", ctl_cmd_unrevoke, CTL_WRITES | CTL_TOKEN_SECRET},
    {"unlock", ctl_cmd_unlock, CTL_WRITES | CTL_TOKEN_SECRET},
    {"bans", ctl_cmd_bans, 0},
    {"policy", ctl_cmd_policy, CTL_WRITES | CTL_ACCOUNT},
    {"accounts", ctl_cmd_accounts, 0},
    {"stats", ctl_cmd_stats, 0},
    {"events", ctl_cmd_events, 0},
    {"prune", ctl_cmd_prune, CTL_WRITES},
    {"init", ctl_cmd_init, CTL_WRITES},
    {"migrate", ctl_cmd_init, 0},
    {"check", ctl_cmd_check, 0},
    {"export", ctl_cmd_export, 0},
    {"import", ctl_cmd_import, CTL_WRITES},
    {"fingerprint", ctl_cmd_fingerprint, CTL_SECRET},
    {"create-secret", ctl_cmd_create_secret, CTL_NO_STORE},
};

int ctl_usage(void)
{
	fputs("usage: clientidctl [-c CONFIG] [--json] COMMAND [ARGS]\n"
	      "  list ACCOUNT                 devices of an account\n"
	      "  show ACCOUNT DEVICE          one device\n"
	      "  approve|block|forget ACCOUNT DEVICE\n"
	      "  label ACCOUNT DEVICE TEXT\n"
	      "  register ACCOUNT TYPE [--label TEXT] [--state pending|trusted]  (token on stdin)\n"
	      "  revoke|unrevoke DEVICE|--token TYPE [--account ACCOUNT]       (token on stdin)\n"
	      "  unlock DEVICE|--token TYPE|--ip ADDRESS|--attack\n"
	      "                                 end a lock-out, or under-attack mode, now\n"
	      "                                 (token on stdin)\n"
	      "  bans                         revoked and blocked devices\n"
	      "  policy ACCOUNT [mode=M] [require_clientid=yes|no|default]\n"
	      "                [learn_max_devices=N] [pending_max_devices=N]\n"
	      "  accounts DEVICE              accounts seen with a device\n"
	      "  init | migrate               create the store | bring its schema up to date\n"
	      "  stats | check | prune [--dry-run]\n"
	      "  events [--since SEQ] [--follow]\n"
	      "  export [FILE] | import [FILE]\n"
	      "  fingerprint TYPE             fingerprint of the token on stdin\n"
	      "  create-secret [FILE]         a new site secret (default: secret_file)\n",
	      stderr);
	return CTL_EXIT_USAGE;
}

/* getopt_long's codes for options without a short form. */
enum {
	OPT_JSON = 256,
	OPT_SINCE,
	OPT_LABEL,
	OPT_ACCOUNT,
	OPT_TOKEN,
	OPT_ATTACK,
	OPT_IP,
	OPT_STATE,
};

static const struct option long_options[] = {
    {"config", required_argument, NULL, 'c'},
    {"json", no_argument, NULL, OPT_JSON},
    {"since", required_argument, NULL, OPT_SINCE},
    {"follow", no_argument, NULL, 'f'},
    {"dry-run", no_argument, NULL, 'n'},
    {"label", required_argument, NULL, OPT_LABEL},
    {"account", required_argument, NULL, OPT_ACCOUNT},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"attack", no_argument, NULL, OPT_ATTACK},
    {"ip", required_argument, NULL, OPT_IP},
    {"state", required_argument, NULL, OPT_STATE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Whether the option element arg is spelt as clientidctl(1) has it: "-X"
 * or "--name" whole, its value (if any) in the next element. getopt_long
 * would also take "-fn", "-cFILE", "--name=VALUE" and abbreviations; these
 * stay errors, as they always were (an abbreviation would become ambiguous,
 * and break scripts, as options are added). */
static int spelt_whole(const char *arg)
{
	if (arg[0] != '-' || arg[1] != '-')
		return strlen(arg) == 2;
	for (const struct option *o = long_options; o->name != NULL; o++) {
		if (strcmp(arg + 2, o->name) == 0)
			return 1;
	}
	return 0;
}

/* Parses argv into ctl: options anywhere, the positional arguments in
 * order into pos (room for argc), their count into *npos_r. Returns -1 to
 * go on, or the exit status (usage errors, --help). */
static int parse_args(struct ctl *ctl, int argc, char **argv, char **pos, int *npos_r)
{
	struct ctl_opts *o = &ctl->opts;
	int npos = 0, c;
	/* "-": positional arguments come back in order as 1, so options may
	 * follow the command, whatever POSIXLY_CORRECT says; ":": no messages
	 * from getopt, and ':' for a missing value. */
	opterr = 0;
	for (;;) {
		/* The element getopt_long reads next (it stays at optind while
		 * it reads a group of short options). */
		const char *cur = optind < argc ? argv[optind] : "";
		c = getopt_long(argc, argv, "-:c:fnh", long_options, NULL);
		if (c == -1)
			break;
		if (c != 1 && !spelt_whole(cur))
			c = '?';
		switch (c) {
		case 1:
			pos[npos++] = optarg;
			break;
		case 'c':
			o->config = optarg;
			break;
		case OPT_JSON:
			ctl->output = CTL_OUTPUT_JSON;
			break;
		case 'f':
			o->follow = 1;
			break;
		case 'n':
			o->dry_run = 1;
			break;
		case OPT_SINCE:
			o->since = strtoull(optarg, NULL, 10);
			break;
		case OPT_LABEL:
			o->label = optarg;
			break;
		case OPT_ACCOUNT:
			o->account = optarg;
			break;
		case OPT_TOKEN:
			o->token_type = optarg;
			break;
		case OPT_ATTACK:
			o->attack = 1;
			break;
		case OPT_IP:
			o->ip = optarg;
			break;
		case OPT_STATE:
			o->state = optarg;
			break;
		case 'h':
			ctl_usage();
			return CTL_EXIT_OK;
		case ':':
			return ctl_usage();
		default:
			ctl_error("unknown option %s", cur);
			return ctl_usage();
		}
	}
	while (optind < argc) /* after "--" */
		pos[npos++] = argv[optind++];
	*npos_r = npos;
	return -1;
}

static void warn_cb(void *vctx, const char *msg)
{
	const struct ctl *ctl = vctx;
	fprintf(stderr, "clientidctl: warning: %s: %s\n", ctl->opts.config, msg);
}

/* Turns the account arguments into the canonical names the servers use
 * ([policy] account_case), so that "policy Anna" is anna's account. */
static int canon_accounts(struct ctl *ctl, const struct ctl_command *cmd)
{
	const struct clientid_config *cfg = policydb_config(ctl->db);
	if ((cmd->needs & CTL_ACCOUNT) != 0 && ctl->nargs > 0) {
		if (clientid_account_canon(cfg, ctl->args[0], ctl->account_arg) != 0) {
			ctl_error("not a valid account name");
			return CTL_EXIT_USAGE;
		}
		ctl->args[0] = ctl->account_arg;
	}
	if (ctl->opts.account != NULL) {
		if (clientid_account_canon(cfg, ctl->opts.account, ctl->account_opt) != 0) {
			ctl_error("--account: not a valid account name");
			return CTL_EXIT_USAGE;
		}
		ctl->opts.account = ctl->account_opt;
	}
	return CTL_EXIT_OK;
}

/* Opens the store as cmd needs it, runs cmd, and closes the store. */
static int run_command(struct ctl *ctl, const struct ctl_command *cmd)
{
	if ((cmd->needs & CTL_NO_STORE) != 0)
		return cmd->fn(ctl);
	int secret = (cmd->needs & CTL_SECRET) != 0 ||
	             ((cmd->needs & CTL_TOKEN_SECRET) != 0 && ctl->opts.token_type != NULL);
	unsigned flags = POLICYDB_NO_ALERTS | ((cmd->needs & CTL_WRITES) ? 0 : POLICYDB_NO_CREATE) |
	                 (secret ? 0 : POLICYDB_NO_SECRET);
	char err[CLIENTID_ERRBUF_SIZE];
	if (policydb_init(ctl->opts.config, flags, &ctl->db, err) != 0) {
		ctl_error("%s", err);
		return CTL_EXIT_CONFIG;
	}
	(void)clientid_config_contradictions(policydb_config(ctl->db), warn_cb, ctl);
	int rc = canon_accounts(ctl, cmd);
	if (rc == CTL_EXIT_OK)
		rc = cmd->fn(ctl);
	policydb_deinit(&ctl->db);
	return rc;
}

static int run(struct ctl *ctl, int argc, char **argv, char **pos)
{
	int npos = 0;
	int rc = parse_args(ctl, argc, argv, pos, &npos);
	if (rc >= 0)
		return rc;
	if (npos == 0)
		return ctl_usage();
	const struct ctl_command *cmd = NULL;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, pos[0]) == 0)
			cmd = &commands[i];
	}
	if (cmd == NULL) {
		ctl_error("unknown command '%s'", pos[0]);
		return ctl_usage();
	}
	ctl->args = pos + 1;
	ctl->nargs = npos - 1;
	return run_command(ctl, cmd);
}

int main(int argc, char **argv)
{
	struct ctl ctl = {
	    .opts = {.config = CLIENTID_CONFIG_PATH, .since = 1},
	    .output = CTL_OUTPUT_TEXT,
	};
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	if (pos == NULL)
		return CTL_EXIT_FAIL;
	int rc = run(&ctl, argc, argv, pos);
	free(pos);
	return rc;
}
