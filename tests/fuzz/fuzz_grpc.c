// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: a gRPC answer as the exporter reads it: the body's
 * first message unframed (5-byte prefix), gunzipped when its flag says so,
 * decoded as an ExportTraceServiceResponse; and a grpc-status-details-bin
 * value (base64 google.rpc.Status with RetryInfo). The first byte splits the
 * input between the two.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/otlp_encode.h"
#include "export/otlp_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *msg;
	size_t msg_len, plain_len = 0;
	uint8_t *body, *plain = NULL;
	bool compressed;
	int64_t rejected = 0;
	char text[256];

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		char *b64 = malloc(size);

		if (!b64)
			abort();
		memcpy(b64, data + 1, size - 1);
		b64[size - 1] = '\0';
		tt_grpc__retry_info_ms(b64);
		free(b64);
		return 0;
	}
	body = malloc(size - 1 ? size - 1 : 1);
	if (!body)
		abort();
	memcpy(body, data + 1, size - 1);
	if (tt_grpc__unframe(body, size - 1, &msg, &msg_len, &compressed) == 0) {
		if (msg < body || msg + msg_len > body + size - 1)
			abort(); /* the message must lie inside the body */
		if (compressed && tt_gunzip(msg, msg_len, &plain, &plain_len) == 0) {
			msg = plain;
			msg_len = plain_len;
		}
		tt_otlp__parse_response(msg, msg_len, false, &rejected, text, sizeof(text));
		free(plain);
	}
	free(body);
	return 0;
}
