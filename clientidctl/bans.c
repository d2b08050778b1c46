/* Bans and lock-outs: revoke, unrevoke, bans, unlock. */
#include "clientidctl.h"
#include "output.h"

#include <time.h>

/* The device of revoke, unrevoke and unlock: the token on standard input
 * with --token TYPE, else the one DEVICE argument (a prefix unique among
 * the account's devices, or the whole store's with account NULL). Returns
 * CTL_EXIT_OK with *fp_r set, or the exit status. */
static int device_arg(struct ctl *ctl, const char *account, struct clientid_fp *fp_r)
{
	if (ctl->opts.token_type != NULL && ctl->nargs == 0)
		return ctl_token_fp(ctl, ctl->opts.token_type, fp_r);
	if (ctl->opts.token_type != NULL || ctl->nargs != 1)
		return ctl_usage();
	int ret = policydb_device_resolve(ctl->db, account, ctl->args[0], fp_r);
	return ctl_result(ctl, ret);
}

/* revoke and unrevoke: change is policydb_revoke() or policydb_unrevoke(). */
static int change_revocation(struct ctl *ctl,
                             int (*change)(struct policydb *db, const struct clientid_fp *fp,
                                           const char *account, uint64_t now))
{
	struct clientid_fp fp;
	int ret = device_arg(ctl, ctl->opts.account, &fp);
	if (ret != CTL_EXIT_OK)
		return ret;
	return ctl_result(ctl, change(ctl->db, &fp, ctl->opts.account, (uint64_t)time(NULL)));
}

int ctl_cmd_revoke(struct ctl *ctl)
{
	return change_revocation(ctl, policydb_revoke);
}

int ctl_cmd_unrevoke(struct ctl *ctl)
{
	return change_revocation(ctl, policydb_unrevoke);
}

int ctl_cmd_bans(struct ctl *ctl)
{
	if (ctl->nargs != 0)
		return ctl_usage();
	struct ctl_list l;
	ctl_list_begin(&l, ctl->output);
	int ret = policydb_bans(ctl->db, ctl_list_ban, &l);
	ctl_list_end(&l, ret == 0);
	return ctl_result(ctl, ret);
}

/* unlock DEVICE | --token TYPE | --ip ADDRESS | --attack */
int ctl_cmd_unlock(struct ctl *ctl)
{
	const struct ctl_opts *o = &ctl->opts;
	int ret;
	if (o->attack) {
		if (o->ip != NULL || o->token_type != NULL || ctl->nargs != 0)
			return ctl_usage();
		ret = policydb_unlock_attack(ctl->db, (uint64_t)time(NULL));
		return ctl_result(ctl, ret);
	}
	if (o->ip != NULL) {
		struct clientid_ip ip;
		if (o->token_type != NULL || ctl->nargs != 0)
			return ctl_usage();
		if (clientid_ip_parse(o->ip, &ip) != 0) {
			ctl_error("'%s' is not an IP address", o->ip);
			return CTL_EXIT_USAGE;
		}
		ret = policydb_unlock(ctl->db, NULL, &ip, (uint64_t)time(NULL));
		return ctl_result(ctl, ret);
	}
	struct clientid_fp fp;
	if ((ret = device_arg(ctl, NULL, &fp)) != CTL_EXIT_OK)
		return ret;
	ret = policydb_unlock(ctl->db, &fp, NULL, (uint64_t)time(NULL));
	return ctl_result(ctl, ret);
}
