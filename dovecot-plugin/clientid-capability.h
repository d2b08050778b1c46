/* The capability rewrite of the imap-login plugin, kept free of Dovecot
 * headers so that it can be tested on its own. */
#ifndef CLIENTID_CAPABILITY_H
#define CLIENTID_CAPABILITY_H

#include <stddef.h>

/* The word added to capability lists. */
#define CLIENTID_CAPABILITY_WORD "CLIENTID"

/* Room the rewrite adds: one SP and the word. */
#define CLIENTID_CAPABILITY_EXTRA (sizeof(CLIENTID_CAPABILITY_WORD))

/* If buf[0..len) is one server line carrying a capability list, i.e.
 * "* CAPABILITY <list>\r\n" or "* OK [CAPABILITY <list>] <text>\r\n",
 * returns the offset at which " CLIENTID" must be inserted (the end of the
 * list). Returns 0 when the line has no capability list, or when the list
 * already holds the word. Never reads past buf + len; allocates nothing. */
size_t clientid_capability_insert_pos(const char *buf, size_t len);

#endif
