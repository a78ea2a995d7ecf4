// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: the spec parser (tt_spec__parse) on arbitrary text,
 * given without a terminating NUL so that a read past its length shows.
 * A spec that parses is matched against itself, as a reload does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	struct tt_spec *spec = NULL;
	char err[512];

	if (!text)
		return 0;
	memcpy(text, data, size);
	if (tt_spec__parse("fuzz.yaml", text, size, &spec, err, sizeof(err)) == 0) {
		int *map = calloc((size_t)spec->nhooks + 1, sizeof(*map));

		if (map)
			tt_spec__match(spec, spec, map);
		free(map);
		for (int id = 0; id <= spec->nhooks + 1; id++)
			tt_spec__probe(spec, id);
	} else if (!memchr(err, '\0', sizeof(err))) {
		abort(); /* the message must be NUL-terminated */
	}
	tt_spec__free(spec);
	free(text);
	return 0;
}
