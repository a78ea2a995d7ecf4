// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: tt_gunzip on arbitrary bytes (a compressed gRPC
 * answer). What it returns must be what zlib says the stream holds:
 * gzipping it again and gunzipping gives the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/otlp_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *in = malloc(size ? size : 1), *out = NULL, *gz = NULL, *again = NULL;
	size_t out_len = 0, gz_len = 0, again_len = 0;

	if (!in)
		abort();
	memcpy(in, data, size);
	if (tt_gunzip(in, size, &out, &out_len) == 0) {
		if (tt_gzip(out, out_len, &gz, &gz_len) == 0) {
			if (tt_gunzip(gz, gz_len, &again, &again_len) || again_len != out_len ||
			    memcmp(again, out, out_len))
				abort();
		}
		free(again);
		free(gz);
		free(out);
	}
	free(in);
	return 0;
}
