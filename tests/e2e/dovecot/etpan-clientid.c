/* A small IMAP client on libetpan, the library Thunderbird-era clients use for
 * CLIENTID: connect, (STARTTLS), CAPABILITY, CLIENTID, LOGIN, LOGOUT.
 *
 * usage: etpan-clientid plain|starttls|ssl <port> <type> <token> <user> <password>
 *
 * Prints one "key=value" line per step for the test driver to check:
 *   connect=<rc> starttls=<rc> capability=<rc> has_clientid=<0|1>
 *   clientid=<rc> login=<rc>
 * where rc is libetpan's MAILIMAP_* code (0 = MAILIMAP_NO_ERROR, 1 =
 * MAILIMAP_NO_ERROR_AUTHENTICATED, 2 = MAILIMAP_NO_ERROR_NON_AUTHENTICATED).
 * Exits 0 when every step ran (whatever its result), 2 on usage errors. */
#include <libetpan/libetpan.h>
#include <libetpan/clientid.h>

#include "../etpan-common.h"

#include <stdio.h>

static int is_ok(int rc)
{
	return rc == MAILIMAP_NO_ERROR || rc == MAILIMAP_NO_ERROR_AUTHENTICATED ||
	       rc == MAILIMAP_NO_ERROR_NON_AUTHENTICATED;
}

int main(int argc, char **argv)
{
	struct etpan_args a;
	struct mailimap_capability_data *caps = NULL;
	mailimap *imap;
	int rc;

	if (etpan_args_parse(argc, argv, &a) != 0)
		return 2;

	imap = mailimap_new(0, NULL);
	if (imap == NULL)
		return 1;
	mailimap_set_timeout(imap, 10);
	if (etpan_is_ssl(&a))
		rc = mailimap_ssl_connect(imap, "127.0.0.1", a.port);
	else
		rc = mailimap_socket_connect(imap, "127.0.0.1", a.port);
	printf("connect=%d\n", rc);
	if (!is_ok(rc)) {
		mailimap_free(imap);
		return 0;
	}
	if (etpan_is_starttls(&a)) {
		rc = mailimap_socket_starttls(imap);
		printf("starttls=%d\n", rc);
		if (!is_ok(rc)) {
			mailimap_free(imap);
			return 0;
		}
	}
	/* After STARTTLS the pre-TLS capabilities are stale; ask again. On
	 * implicit TLS the greeting's list is what a client like Thunderbird
	 * trusts, so check it before asking. */
	if (etpan_is_ssl(&a))
		printf("greeting_has_clientid=%d\n", mailimap_has_clientid(imap) ? 1 : 0);
	rc = mailimap_capability(imap, &caps);
	printf("capability=%d\n", rc);
	if (caps != NULL)
		mailimap_capability_data_free(caps);
	printf("has_clientid=%d\n", mailimap_has_clientid(imap) ? 1 : 0);

	rc = mailimap_clientid(imap, a.type, a.token);
	printf("clientid=%d\n", rc);
	printf("clientid_reply=%s\n", imap->imap_response != NULL ? imap->imap_response : "");

	rc = mailimap_login(imap, a.user, a.password);
	printf("login=%d\n", rc);
	if (is_ok(rc))
		mailimap_logout(imap);
	mailimap_free(imap);
	return 0;
}
