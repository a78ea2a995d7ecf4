/* SPDX-License-Identifier: MIT */
/*
 * Target of the USDT argument-form tests (tests/e2e/test_usdt.py): probes
 * whose notes use the argument forms tasktap decodes itself, and two it
 * refuses. No tracing code otherwise.
 *
 *	ttwf:konst(7, -7, 42)              constants: N@$imm
 *	ttwf:narrow(i8, u8, i16, u16, i32, u32, i64)
 *	                                   every width, signed and not, in
 *	                                   registers or in memory
 *	ttwf:fields(id, i32, i16, u8, i8)  struct fields read in memory,
 *	                                   at a register plus an offset; once
 *	                                   more at the end, in a page nobody
 *	                                   can read (the worker does not read
 *	                                   it either: only a tracer would)
 *	ttwf:step(id, where)               one probe fired from two places
 *	                                   (two sites): where is 1 or 2
 *	ttwf:global(counter)               a global variable: "-8@counter(%rip)"
 *	ttwf:indexed(table[i])             an array element: "-8@(%rax,%rdx,8)"
 *
 * It prints one JSON object on stdout: its pid and the values it passed.
 *
 *	usdt-forms-worker [--rounds N]
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sdt.h>
#include <unistd.h>

#define noinline __attribute__((noinline, noclone))

long counter = 5;
long table[8] = {10, 11, 12, 13, 14, 15, 16, 17};

/* Values from the round number, so that the compiler cannot fold them into constants. */
static noinline void narrow(long round)
{
	int8_t i8 = (int8_t)(-3 - round);
	uint8_t u8 = (uint8_t)(250 + round);
	int16_t i16 = (int16_t)(-300 - round);
	uint16_t u16 = (uint16_t)(65000 + round);
	int32_t i32 = (int32_t)(-70000 - round);
	uint32_t u32 = (uint32_t)(4000000000u + (uint32_t)round);
	int64_t i64 = -5000000000LL - round;

	asm volatile("");
	STAP_PROBE7(ttwf, narrow, i8, u8, i16, u16, i32, u32, i64);
}

struct fields {
	int64_t id;
	int32_t i32;
	int16_t i16;
	uint8_t u8;
	int8_t i8;
};

/* Fields read in place: the notes say "N@off(%reg)" with N the field's size. */
static noinline void fields(const struct fields *f)
{
	asm volatile("");
	STAP_PROBE5(ttwf, fields, f->id, f->i32, f->i16, f->u8, f->i8);
}

static noinline void step_one(long id)
{
	asm volatile("");
	STAP_PROBE2(ttwf, step, id, 1);
}

static noinline void step_two(long id)
{
	asm volatile("");
	STAP_PROBE2(ttwf, step, id, 2);
}

static noinline void refused(long i)
{
	asm volatile("");
	STAP_PROBE1(ttwf, global, counter);
	STAP_PROBE1(ttwf, indexed, table[i & 7]);
}

int main(int argc, char **argv)
{
	long rounds = 2;
	void *guard;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			rounds = strtol(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "usage: %s [--rounds N]\n", argv[0]);
			return 2;
		}
	}
	for (long r = 0; r < rounds; r++) {
		STAP_PROBE3(ttwf, konst, 7, -7, 42);
		narrow(r);
		fields(&(struct fields){.id = 300 + r,
					.i32 = -100000 - (int32_t)r,
					.i16 = (int16_t)(-2 - r),
					.u8 = (uint8_t)(200 + r),
					.i8 = (int8_t)(-100 - r)});
		step_one(100 + r);
		step_two(200 + r);
		refused(r);
	}
	/* arguments a tracer cannot read: the probe's operands point into a PROT_NONE page */
	guard = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	fields(guard);
	printf("{\"pid\": %d, \"rounds\": %ld}\n", (int)getpid(), rounds);
	return 0;
}
