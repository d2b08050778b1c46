/* The CLIENTID check of the Exim patch (exim-module/patches/), compiled from
 * the patch itself at build time (extract-exim-check) with a few stand-ins
 * for Exim's types and string helpers. */
#ifndef CLIENTID_EXIM_PATCH_SHIM_H
#define CLIENTID_EXIM_PATCH_SHIM_H

#include <stddef.h>

/* One line as smtp_read_command() reads it (without the LF, at most 16384
 * bytes), run through the patch's steps: clientid_bad_tail, Exim's removal of
 * trailing white space, its NUL refusal, its verb match and clientid_check().
 * Returns 250, 501 or 500 as verdict_smtp() does; on 250 sets the offsets and
 * lengths of type and token in line. */
int exim_patch_verdict(const char *line, size_t len, size_t *type_off_r, size_t *type_len_r,
                       size_t *token_off_r, size_t *token_len_r);

/* smtp_cmd_log_string() of the patch on a NUL-terminated text. Returns a
 * NUL-terminated string valid until the next call. */
const char *exim_patch_log_string(const char *text);

#endif
