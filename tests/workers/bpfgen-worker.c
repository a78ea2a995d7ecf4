/* SPDX-License-Identifier: MIT */
/*
 * Target of the compiled-versus-interpreted capture test
 * (tests/e2e/test_bpfgen.py, tests/e2e/bpfgen-compare.c): functions with
 * ten arguments (six in registers, four on the stack) and an
 * out-parameter, called with a table of cases: strings shorter than, as
 * long as and longer than the capture limit, empty ones, NULL, pointers
 * into a page nobody can read, negative numbers of every width, lengths
 * above the bytes() limit. No tracing code.
 *
 *	bpfgen-worker [--rounds N]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define noinline __attribute__((noinline, noclone))

struct rec {
	int64_t id;
	int32_t i32;
	int16_t i16;
	uint8_t u8;
	int8_t i8;
	const char *name;
	struct rec *next;
};

/*
 * The probed functions, one per probe of the test's spec (a spec has one
 * probe of a role per symbol): the same body, what they return depends on
 * their arguments.
 */
#define PROBED(NAME)                                                                               \
	noinline long NAME(long a0, const struct rec *r, const char *s, long len, const char *t,   \
			   long *out, long a6, const char *s7, const struct rec *r8, long a9)      \
	{                                                                                          \
		asm volatile("" : : "r"(r), "r"(s), "r"(t), "r"(s7), "r"(r8));                     \
		*out = a0 * 3 + len;                                                               \
		return a0 - a6 + a9;                                                               \
	}

PROBED(bg_a)
PROBED(bg_b)
PROBED(bg_c)
PROBED(bg_d)
PROBED(bg_e)
PROBED(bg_f)
PROBED(bg_g)

typedef long (*probed_fn)(long, const struct rec *, const char *, long, const char *, long *, long,
			  const char *, const struct rec *, long);
static const probed_fn probed[] = {bg_a, bg_b, bg_c, bg_d, bg_e, bg_f, bg_g};

static const char *const strings[] = {
	"",
	"hello",
	"perf-test",
	"exact",
	/* 63, 64 and 65 bytes: the capture keeps at most 63 and a NUL */
	"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk",
	"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl",
	"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklm",
};

#define NSTRINGS (sizeof(strings) / sizeof(strings[0]))

int main(int argc, char **argv)
{
	long rounds = 3, out = 0, chars = 0;
	struct rec recs[4];
	void *guard;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			rounds = strtol(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "usage: %s [--rounds N]\n", argv[0]);
			return 2;
		}
	}
	/* a tracer reads only pages the process has touched: touch the strings */
	for (size_t i = 0; i < NSTRINGS; i++)
		chars += (long)strlen(strings[i]);
	guard = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (int i = 0; i < 4; i++)
		recs[i] = (struct rec){.id = 1000 + i,
				       .i32 = -70000 - i,
				       .i16 = (int16_t)(-300 - i),
				       .u8 = (uint8_t)(250 + i),
				       .i8 = (int8_t)(-3 - i),
				       .name = strings[i % NSTRINGS],
				       .next = i == 3 ? guard : &recs[i + 1]};
	for (long r = 0; r < rounds; r++) {
		for (long c = 0; c < (long)NSTRINGS + 4; c++) {
			const char *s = c < (long)NSTRINGS ? strings[c] : NULL;
			const struct rec *rec = &recs[c % 4];
			long len = (c * 13) % 90 - 5; /* negative, small, above 64 */

			if (c == NSTRINGS + 1)
				s = guard; /* unreadable */
			if (c == NSTRINGS + 2)
				rec = guard;
			if (c == NSTRINGS + 3)
				rec = NULL;
			for (size_t f = 0; f < sizeof(probed) / sizeof(probed[0]); f++)
				probed[f](c - 3, rec, s, len, strings[(c + r) % NSTRINGS], &out,
					  -c * 1000, strings[(c + 1) % NSTRINGS],
					  c % 2 ? rec : guard, r);
		}
	}
	printf("{\"calls\": %ld, \"out\": %ld, \"chars\": %ld}\n", rounds * ((long)NSTRINGS + 4),
	       out, chars);
	return 0;
}
