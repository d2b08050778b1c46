/* The policy engine and store unit tests: one CUnit run. */
#include "unit.h"

void register_policy(void);
void register_store(void);
void register_account_store(void);
void register_login(void);

int main(void)
{
	register_policy();
	register_store();
	register_account_store();
	register_login();
	return unit_run();
}
