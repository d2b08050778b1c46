/* The command line of the libetpan test clients (dovecot/etpan-clientid.c,
 * exim/etpan-smtp-clientid.c):
 *   PROG plain|starttls|ssl <port> <type> <token> <user> <password> */
#ifndef TEST_ETPAN_COMMON_H
#define TEST_ETPAN_COMMON_H

#include <stdint.h>

struct etpan_args {
	const char *mode; /* plain, starttls or ssl */
	uint16_t port;
	const char *type, *token, *user, *password;
};

/* Reads argv into *a (pointers into argv). Returns 0, or 2 (the exit status
 * of a usage error) after printing the usage line. */
int etpan_args_parse(int argc, char **argv, struct etpan_args *a);

/* Whether the mode is ssl (TLS from the start) or starttls. */
int etpan_is_ssl(const struct etpan_args *a);
int etpan_is_starttls(const struct etpan_args *a);

#endif
