#ifndef CLIENTID_TEMPFAIL_H
#define CLIENTID_TEMPFAIL_H

/* The reason the clientid policy service gives with a temporary failure
 * ([store] on_error = tempfail). Dovecot's auth policy protocol has no
 * temporary failure: the service refuses with this text as the reason, and
 * the imap-login plugin turns exactly this reason into IMAP's temporary
 * failure, NO [UNAVAILABLE], with the same text (Dovecot's own). Without
 * the plugin (POP3, submission) the text reaches the client as the reason. */
#define CLIENTID_POLICY_TEMPFAIL_MSG "Temporary authentication failure."

#endif
