/* Account names: what is one, and the one canonical form every store key
 * uses. */
#include "clientid-policy.h"

#include <string.h>

int clientid_account_check(const char *account)
{
	if (account == NULL || account[0] == '\0')
		return CLIENTID_E_INVAL;
	size_t len = strnlen(account, CLIENTID_ACCOUNT_MAX + 1);
	if (len > CLIENTID_ACCOUNT_MAX)
		return CLIENTID_E_INVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)account[i];
		if (c < 0x20 || c == 0x7f)
			return CLIENTID_E_INVAL;
	}
	return 0;
}

int clientid_account_canon(const struct clientid_config *cfg, const char *account,
                           char out[CLIENTID_ACCOUNT_MAX + 1])
{
	if (clientid_account_check(account) != 0) {
		out[0] = '\0';
		return CLIENTID_E_INVAL;
	}
	size_t len = strlen(account);
	memmove(out, account, len + 1);
	if (cfg->account_case == CLIENTID_ACCOUNT_FOLD) {
		for (size_t i = 0; i < len; i++) {
			if (out[i] >= 'A' && out[i] <= 'Z')
				out[i] = (char)(out[i] - 'A' + 'a');
		}
	}
	return 0;
}
