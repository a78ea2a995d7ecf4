/* SPDX-License-Identifier: MIT */
/*
 * Target of the USDT site-bound test (tests/e2e/test_usdt.py): a probe
 * fired from one place more than tasktap attaches USDT sites
 * (TT_MAX_USDT_SITES), which tasktap refuses before attaching any. No
 * tracing code otherwise.
 *
 *	ttws:over    fired from TT_MAX_USDT_SITES + 1 places
 */
#include <stdio.h>
#include <sys/sdt.h>
#include <unistd.h>

#include "../../include/tasktap/limits.h"

#define noinline __attribute__((noinline, noclone))

#define R2(x)	 x x
#define R4(x)	 R2(R2(x))
#define R16(x)	 R4(R4(x))
#define R256(x)	 R16(R16(x))
#define R4096(x) R16(R256(x))

_Static_assert(TT_MAX_USDT_SITES == 4096, "ttws:over must have TT_MAX_USDT_SITES + 1 sites");

static noinline void over(void)
{
	asm volatile("");
	R4096(STAP_PROBE(ttws, over);)
	STAP_PROBE(ttws, over);
}

int main(void)
{
	over();
	printf("{\"pid\": %d, \"over\": %d}\n", (int)getpid(), TT_MAX_USDT_SITES + 1);
	return 0;
}
