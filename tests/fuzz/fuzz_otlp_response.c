// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: a collector's answer to an export. The first byte
 * picks the encoding (http/protobuf or JSON partial-success and status
 * bodies); the rest is the body, in a buffer of exactly its size, so that a
 * read past its length shows (a collector's body is not NUL-terminated).
 * The same text, NUL-terminated, goes through the Retry-After parser.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "export/otlp_encode.h"
#include "export/otlp_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t rejected = 0;
	char msg[256];
	uint8_t *body;
	char *text;

	if (size < 1)
		return 0;
	body = malloc(size - 1 ? size - 1 : 1);
	text = malloc(size);
	if (!body || !text)
		abort();
	memcpy(body, data + 1, size - 1);
	tt_otlp__parse_response(body, size - 1, data[0] & 1, &rejected, msg, sizeof(msg));
	if (!memchr(msg, '\0', sizeof(msg)))
		abort();
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	tt_retry__parse_after(text, (time_t)1700000000);
	free(text);
	free(body);
	return 0;
}
