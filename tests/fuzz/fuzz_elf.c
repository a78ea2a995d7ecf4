// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: the ELF reader (tt_elf__open) on arbitrary files, as
 * a container could hand the agent. The input becomes a memfd opened by
 * its /proc path; a file that opens is walked: its functions, its USDT
 * notes, a lookup, a "did you mean", the instruction at a function.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "elf.h"

static volatile uint64_t sink;

static int on_func(const struct tt_sym *sym, void *ctx)
{
	char *first = ctx;

	if (!first[0])
		snprintf(first, 256, "%s", sym->name);
	sink += strlen(sym->name) + sym->offset;
	return 0;
}

static int on_note(const struct tt_usdt_note *note, void *ctx)
{
	sink += strlen(note->provider) + strlen(note->name) + strlen(note->args);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-elf", MFD_CLOEXEC);
	struct tt_elf *elf;
	char path[64], buf[256], first[256] = "main";
	uint64_t off;

	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	elf = tt_elf__open(path);
	if (elf) {
		first[0] = '\0';
		tt_elf__for_each_func(elf, on_func, first);
		tt_elf__for_each_usdt(elf, on_note, NULL);
		tt_elf__func_offset(elf, first[0] ? first : "main", &off, NULL);
		tt_elf__closest(elf, "mian", 3, buf, sizeof(buf));
		if (tt_elf__build_id(elf))
			sink += strlen(tt_elf__build_id(elf));
		tt_elf__free(elf);
	}
	close(fd);
	return 0;
}
