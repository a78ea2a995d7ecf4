// SPDX-License-Identifier: MIT
/* Writing JSON text: escaped strings, UTF-8 checks and hex ids. */
#include "jsonw.h"

size_t tt_utf8__len(const unsigned char *s, size_t left)
{
	size_t n;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

void tt_json__str(FILE *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	fputc('"', out);
	while (i < len) {
		size_t n = tt_utf8__len(p + i, len - i);

		if (n == 1 && p[i] == '"') {
			fputs("\\\"", out);
		} else if (n == 1 && p[i] == '\\') {
			fputs("\\\\", out);
		} else if (n == 1 && p[i] == '\n') {
			fputs("\\n", out);
		} else if (n == 1 && p[i] == '\t') {
			fputs("\\t", out);
		} else if (n == 0 || p[i] < 0x20 || p[i] == 0x7f) {
			fprintf(out, "\\u%04x", p[i]);
			n = 1;
		} else {
			fwrite(p + i, 1, n, out);
		}
		i += n;
	}
	fputc('"', out);
}

void tt_json__hex(FILE *out, const uint8_t *bytes, size_t len)
{
	fputc('"', out);
	for (size_t i = 0; i < len; i++)
		fprintf(out, "%02x", bytes[i]);
	fputc('"', out);
}
