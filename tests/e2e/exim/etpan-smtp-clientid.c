/* A small SMTP client on libetpan, the library whose mailesmtp_clientid() is
 * the reference client side of CLIENTID: connect, EHLO, (STARTTLS, EHLO),
 * CLIENTID, CLIENTID again, AUTH PLAIN, QUIT.
 *
 * usage: etpan-smtp-clientid plain|starttls|ssl <port> <type> <token> <user> <password>
 *
 * Prints one "key=value" line per step for the test driver to check:
 *   connect=<rc> ehlo=<rc> starttls=<rc> has_clientid=<0|1>
 *   clientid=<rc> clientid2=<rc> auth=<rc>
 * where rc is libetpan's MAILSMTP_* code (0 = MAILSMTP_NO_ERROR).
 * Exits 0 when every step ran (whatever its result), 2 on usage errors. */
#include <libetpan/libetpan.h>

#include "../etpan-common.h"

#include <stdio.h>

int main(int argc, char **argv)
{
	struct etpan_args a;
	mailsmtp *smtp;
	int rc;

	if (etpan_args_parse(argc, argv, &a) != 0)
		return 2;

	smtp = mailsmtp_new(0, NULL);
	if (smtp == NULL)
		return 1;
	mailsmtp_set_timeout(smtp, 10);
	if (etpan_is_ssl(&a))
		rc = mailsmtp_ssl_connect(smtp, "127.0.0.1", a.port);
	else
		rc = mailsmtp_socket_connect(smtp, "127.0.0.1", a.port);
	printf("connect=%d\n", rc);
	if (rc != MAILSMTP_NO_ERROR) {
		mailsmtp_free(smtp);
		return 0;
	}
	rc = mailesmtp_ehlo(smtp);
	printf("ehlo=%d\n", rc);
	if (etpan_is_starttls(&a)) {
		rc = mailsmtp_socket_starttls(smtp);
		printf("starttls=%d\n", rc);
		if (rc == MAILSMTP_NO_ERROR)
			printf("ehlo2=%d\n", mailesmtp_ehlo(smtp));
	}
	printf("has_clientid=%d\n", (smtp->esmtp & MAILSMTP_ESMTP_CLIENTID) != 0);
	printf("clientid=%d\n", mailesmtp_clientid(smtp, a.type, a.token));
	printf("clientid2=%d\n", mailesmtp_clientid(smtp, a.type, a.token));
	rc = mailesmtp_auth_sasl(smtp, "PLAIN", "server.example.com", NULL, NULL, a.user, a.user,
	                         a.password, NULL);
	printf("auth=%d\n", rc);
	mailsmtp_quit(smtp);
	mailsmtp_free(smtp);
	return 0;
}
