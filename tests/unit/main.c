/* The core unit tests: one CUnit run over every suite. */
#include "unit.h"

void register_error(void);
void register_grammar(void);
void register_fp(void);
void register_config(void);
void register_account(void);

int main(void)
{
	register_error();
	register_grammar();
	register_fp();
	register_config();
	register_account();
	return unit_run();
}
