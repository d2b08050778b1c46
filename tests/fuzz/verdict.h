/* What a server must answer to one CLIENTID line, computed from the core
 * validator (clientid_args_parse) and the rules of tests/corpus/README.md.
 * Shared by the differential fuzz target and the hostile-client tests. */
#ifndef CLIENTID_TEST_VERDICT_H
#define CLIENTID_TEST_VERDICT_H

#include <stddef.h>

/* line[0..len) is one line as a server reads it: up to, not including, the
 * LF, so it may end in the CR of a CRLF. The session is on TLS, CLIENTID was
 * offered and none was given yet. len is at most 16384, Exim's command
 * buffer (a longer line is cut into several commands).
 *
 * SMTP: returns 250 (accepted), 501 (a CLIENTID command, malformed, or any
 * line holding a NUL, which Exim refuses before it looks at the verb) or 500
 * (not a CLIENTID command at all). */
int verdict_smtp(const char *line, size_t len);

/* IMAP: line is "tag SP CLIENTID SP args". Returns 1 when it must be
 * accepted (OK), 0 when it must be BAD. */
int verdict_imap(const char *line, size_t len);

#endif
