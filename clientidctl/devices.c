/* The devices of an account: list, show, approve, block, forget, label,
 * register, and the accounts a device was seen on. main.c has already put
 * the account argument into its canonical form. */
#include "clientidctl.h"
#include "output.h"

#include <time.h>

int ctl_cmd_list(struct ctl *ctl)
{
	if (ctl->nargs != 1)
		return ctl_usage();
	struct ctl_list l;
	ctl_list_begin(&l, ctl->output);
	int ret = policydb_devices(ctl->db, ctl->args[0], ctl_list_device, &l);
	ctl_list_end(&l, ret == 0);
	if (ret != 0)
		return ctl_fail(ctl, ret);
	if (ctl->output == CTL_OUTPUT_TEXT && l.n == 0) {
		char esc[CTL_ESC_SIZE];
		ctl_error("account %s has no devices", ctl_escape(ctl->args[0], esc));
	}
	return CTL_EXIT_OK;
}

/* A command of nargs arguments whose args[1] is a device of the account
 * args[0]: its fingerprint, or the exit status of a usage error or of a
 * device that cannot be resolved. */
static int device_of_account(struct ctl *ctl, int nargs, struct clientid_fp *fp_r)
{
	if (ctl->nargs != nargs)
		return ctl_usage();
	int ret = policydb_device_resolve(ctl->db, ctl->args[0], ctl->args[1], fp_r);
	return ctl_result(ctl, ret);
}

int ctl_cmd_show(struct ctl *ctl)
{
	struct clientid_fp fp;
	int ret = device_of_account(ctl, 2, &fp);
	if (ret != CTL_EXIT_OK)
		return ret;
	struct policydb_device_info info;
	ret = policydb_device_get(ctl->db, ctl->args[0], &fp, &info);
	if (ret < 0)
		return ctl_fail(ctl, ret);
	if (ret == 0) {
		char a[CTL_ESC_SIZE], d[CTL_ESC_SIZE];
		ctl_error("account %s has no device %s", ctl_escape(ctl->args[0], a),
		          ctl_escape(ctl->args[1], d));
		return CTL_EXIT_NOTFOUND;
	}
	ctl_print_device(ctl->output, &info);
	return CTL_EXIT_OK;
}

/* approve and block. */
static int set_state(struct ctl *ctl, enum clientid_device_state state)
{
	struct clientid_fp fp;
	int ret = device_of_account(ctl, 2, &fp);
	if (ret != CTL_EXIT_OK)
		return ret;
	ret = policydb_device_set_state(ctl->db, ctl->args[0], &fp, state, (uint64_t)time(NULL));
	return ctl_result(ctl, ret);
}

int ctl_cmd_approve(struct ctl *ctl)
{
	return set_state(ctl, CLIENTID_DEV_TRUSTED);
}

int ctl_cmd_block(struct ctl *ctl)
{
	return set_state(ctl, CLIENTID_DEV_BLOCKED);
}

int ctl_cmd_forget(struct ctl *ctl)
{
	struct clientid_fp fp;
	int ret = device_of_account(ctl, 2, &fp);
	if (ret != CTL_EXIT_OK)
		return ret;
	ret = policydb_device_forget(ctl->db, ctl->args[0], &fp, (uint64_t)time(NULL));
	return ctl_result(ctl, ret);
}

int ctl_cmd_label(struct ctl *ctl)
{
	struct clientid_fp fp;
	int ret = device_of_account(ctl, 3, &fp);
	if (ret != CTL_EXIT_OK)
		return ret;
	ret = policydb_device_set_label(ctl->db, ctl->args[0], &fp, ctl->args[2]);
	return ctl_result(ctl, ret);
}

int ctl_cmd_register(struct ctl *ctl)
{
	if (ctl->nargs != 2)
		return ctl_usage();
	enum clientid_device_state state = CLIENTID_DEV_TRUSTED;
	const char *s = ctl->opts.state;
	if (s != NULL &&
	    (clientid_device_state_parse(s, &state) != 0 || state == CLIENTID_DEV_BLOCKED)) {
		ctl_error("--state is pending or trusted");
		return CTL_EXIT_USAGE;
	}
	struct clientid_fp fp;
	int ret = ctl_token_fp(ctl, ctl->args[1], &fp);
	if (ret != CTL_EXIT_OK)
		return ret;
	ret = policydb_device_register(ctl->db, ctl->args[0], ctl->args[1], &fp, state,
	                               ctl->opts.label, (uint64_t)time(NULL));
	if (ret != 0)
		return ctl_fail(ctl, ret);
	ctl_print_fp(&fp, 0);
	return CTL_EXIT_OK;
}

int ctl_cmd_accounts(struct ctl *ctl)
{
	if (ctl->nargs != 1)
		return ctl_usage();
	struct clientid_fp fp;
	int ret = policydb_device_resolve(ctl->db, NULL, ctl->args[0], &fp);
	if (ret != 0)
		return ctl_fail(ctl, ret);
	struct ctl_list l;
	ctl_list_begin(&l, ctl->output);
	ret = policydb_device_accounts(ctl->db, &fp, ctl_list_account, &l);
	ctl_list_end(&l, ret == 0);
	return ctl_result(ctl, ret);
}
