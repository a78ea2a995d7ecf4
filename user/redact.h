/* SPDX-License-Identifier: MIT */
/*
 * Secrets kept out of messages. An OTLP endpoint may carry a password
 * (http://user:pass@host), a header a token (Authorization=Bearer abc,
 * api-key=abc): every message on the diagnostics path goes through
 * tt_redact__text, which replaces them with "***".
 *
 * What counts as secret: the userinfo of any "scheme://userinfo@host", and
 * the value after a secret-looking name (one containing auth, token, secret,
 * passw, apikey/api-key/api_key, cookie, credential, signature or
 * private-key) and a separator ('=', ':' or a space); an authorization
 * scheme word (Bearer, Basic, ...) before the value is kept. A value ends at
 * a blank (after the scheme word), a comma, a semicolon, '&', a quote, or the
 * end of the text.
 */
#ifndef TASKTAP_REDACT_H
#define TASKTAP_REDACT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Writes `in` with its secrets replaced by "***" into `out` (`len` bytes,
 * always NUL-terminated, cut at `len` - 1). Returns the number of secrets
 * replaced.
 */
int tt_redact__text(const char *in, char *out, size_t len);

/* Whether a header or parameter name looks like it holds a secret. */
bool tt_redact__secret_name(const char *name, size_t n);

#endif /* TASKTAP_REDACT_H */
