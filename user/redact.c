// SPDX-License-Identifier: MIT
/* Secrets kept out of messages: URL userinfo and secret-looking values become "***". */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "redact.h"

#define MASK "***"

/* Output with a bound: bytes past `len` - 1 are dropped, the NUL always fits. */
struct out {
	char *buf;
	size_t len, o;
};

static void put(struct out *w, const char *s, size_t n)
{
	for (size_t i = 0; i < n && w->o + 1 < w->len; i++)
		w->buf[w->o++] = s[i];
}

static bool name_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

static bool value_end(char c)
{
	return !c || c == ',' || c == ';' || c == '&' || c == '\'' || c == '"' || c == '\n' ||
	       isspace((unsigned char)c);
}

bool tt_redact__secret_name(const char *name, size_t n)
{
	static const char *const parts[] = {
		"auth",	   "token",  "secret",	   "passw",	"apikey",      "api-key",
		"api_key", "cookie", "credential", "signature", "private-key", "private_key",
	};
	char low[64];

	if (n == 0 || n >= sizeof(low))
		return false;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[n] = '\0';
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (strstr(low, parts[i]))
			return true;
	return false;
}

/* The length of an authorization scheme word at `s` followed by a blank, or 0. */
static size_t scheme_word(const char *s)
{
	static const char *const schemes[] = {"bearer", "basic",  "token",
					      "digest", "apikey", "negotiate"};

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t k = strlen(schemes[i]);

		if (!strncasecmp(s, schemes[i], k) && (s[k] == ' ' || s[k] == '\t'))
			return k;
	}
	return 0;
}

/*
 * At "://": copies it and the authority, with any userinfo masked. Returns
 * the number of bytes of `s` consumed.
 */
static size_t authority(const char *s, struct out *w, int *count)
{
	size_t end = 3, at = 0;

	while (s[end] && !strchr("/?# \t\n'\",", s[end])) {
		if (s[end] == '@')
			at = end;
		end++;
	}
	put(w, s, 3);
	if (!at)
		return 3;
	put(w, MASK, strlen(MASK));
	(*count)++;
	return at;
}

/*
 * At a secret-looking name of `n` bytes: copies it and its separator, masks
 * its value. Returns the number of bytes of `s` consumed, or 0 when no value
 * follows (nothing copied).
 */
static size_t secret_value(const char *s, size_t n, struct out *w, int *count)
{
	size_t i = n, scheme, v;
	bool sep = false;

	while (s[i] == '\'' || s[i] == '"')
		i++;
	while (s[i] == ' ' || s[i] == '\t')
		i++;
	if (s[i] == '=' || s[i] == ':') {
		sep = true;
		i++;
		while (s[i] == ' ' || s[i] == '\t')
			i++;
		while (s[i] == '\'' || s[i] == '"')
			i++;
	}
	scheme = scheme_word(s + i);
	if (!sep && !scheme)
		return 0;
	if (scheme) {
		i += scheme;
		while (s[i] == ' ' || s[i] == '\t')
			i++;
	}
	for (v = i; !value_end(s[v]); v++)
		;
	if (v == i)
		return 0;
	put(w, s, i);
	put(w, MASK, strlen(MASK));
	(*count)++;
	return v;
}

int tt_redact__text(const char *in, char *out, size_t len)
{
	struct out w = {.buf = out, .len = len};
	int count = 0;
	size_t i = 0;

	if (!len)
		return 0;
	while (in[i]) {
		if (!strncmp(in + i, "://", 3)) {
			i += authority(in + i, &w, &count);
			continue;
		}
		if (name_char(in[i]) && (i == 0 || !name_char(in[i - 1]))) {
			size_t n = 0, used = 0;

			while (name_char(in[i + n]))
				n++;
			if (tt_redact__secret_name(in + i, n))
				used = secret_value(in + i, n, &w, &count);
			if (!used) {
				put(&w, in + i, n);
				used = n;
			}
			i += used;
			continue;
		}
		put(&w, in + i, 1);
		i++;
	}
	out[w.o] = '\0';
	return count;
}
