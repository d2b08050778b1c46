/* Prints the configuration path clientid.so would use when no config=
 * option is given: exim-module-secure-env runs it with $CLIENTID_CONFIG
 * set, plainly and as a setuid program (issue 13: the environment must not
 * choose the file of a setuid or setgid process, as Exim is). It links the
 * module's option parser (clientid-options.c), the code the module runs. */
#include <stdio.h>

#include "clientid-options.h"

int main(void)
{
	struct clientid_exim_options opt;
	char err[CLIENTID_ERRBUF_SIZE];
	if (clientid_exim_options_parse(0, NULL, 0, &opt, err) != 0)
		return 1;
	puts(opt.config_path);
	return 0;
}
