#include "etpan-common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int etpan_args_parse(int argc, char **argv, struct etpan_args *a)
{
	if (argc != 7) {
		fprintf(stderr,
		        "usage: %s plain|starttls|ssl <port> <type> <token> <user> <pass>\n",
		        argv[0]);
		return 2;
	}
	a->mode = argv[1];
	a->port = (uint16_t)atoi(argv[2]);
	a->type = argv[3];
	a->token = argv[4];
	a->user = argv[5];
	a->password = argv[6];
	return 0;
}

int etpan_is_ssl(const struct etpan_args *a)
{
	return strcmp(a->mode, "ssl") == 0;
}

int etpan_is_starttls(const struct etpan_args *a)
{
	return strcmp(a->mode, "starttls") == 0;
}
