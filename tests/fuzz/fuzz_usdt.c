// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: USDT notes. The input is the content of a
 * .note.stapsdt section, placed in a small well-formed ELF file built
 * here (two PT_LOAD segments, .stapsdt.base), so that every run reaches
 * the note parser; each note found has its argument string decoded as
 * attaching would.
 */
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "elf.h"
#include "usdt.h"

static const char shstrtab[] = "\0.shstrtab\0.note.stapsdt\0.stapsdt.base";

static int on_note(const struct tt_usdt_note *note, void *ctx)
{
	struct tt_usdt_site site;
	char err[256];

	tt_usdt__parse_args(note->provider, note->name, note->args, &site, err, sizeof(err));
	return 0;
}

/* Writes the ELF file around `notes` into fd. */
static void write_elf(int fd, const uint8_t *notes, size_t len)
{
	const size_t phoff = sizeof(Elf64_Ehdr), strs = phoff + 2 * sizeof(Elf64_Phdr);
	const size_t note_off = (strs + sizeof(shstrtab) + 7) & ~(size_t)7;
	const size_t shoff = (note_off + len + 7) & ~(size_t)7;
	Elf64_Ehdr eh = {
		.e_ident = {ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB,
			    EV_CURRENT},
		.e_type = ET_DYN,
		.e_machine = EM_X86_64,
		.e_version = EV_CURRENT,
		.e_phoff = phoff,
		.e_shoff = shoff,
		.e_ehsize = sizeof(Elf64_Ehdr),
		.e_phentsize = sizeof(Elf64_Phdr),
		.e_phnum = 2,
		.e_shentsize = sizeof(Elf64_Shdr),
		.e_shnum = 4,
		.e_shstrndx = 1,
	};
	Elf64_Phdr ph[2] = {
		{.p_type = PT_LOAD,
		 .p_flags = PF_R | PF_X,
		 .p_vaddr = 0x1000,
		 .p_filesz = 0x1000,
		 .p_memsz = 0x1000,
		 .p_align = 0x1000},
		{.p_type = PT_LOAD,
		 .p_flags = PF_R | PF_W,
		 .p_offset = 0x1000,
		 .p_vaddr = 0x4000,
		 .p_filesz = 0x100,
		 .p_memsz = 0x1000,
		 .p_align = 0x1000},
	};
	Elf64_Shdr sh[4] = {
		{0},
		{.sh_name = 1,
		 .sh_type = SHT_STRTAB,
		 .sh_offset = strs,
		 .sh_size = sizeof(shstrtab),
		 .sh_addralign = 1},
		{.sh_name = 11,
		 .sh_type = SHT_NOTE,
		 .sh_offset = note_off,
		 .sh_size = len,
		 .sh_addralign = 4},
		{.sh_name = 25,
		 .sh_type = SHT_PROGBITS,
		 .sh_flags = SHF_ALLOC,
		 .sh_addr = 0x1800,
		 .sh_offset = 0x800,
		 .sh_size = 1,
		 .sh_addralign = 1},
	};
	size_t total = shoff + sizeof(sh);
	uint8_t *file = calloc(1, total);

	if (!file)
		abort();
	memcpy(file, &eh, sizeof(eh));
	memcpy(file + phoff, ph, sizeof(ph));
	memcpy(file + strs, shstrtab, sizeof(shstrtab));
	memcpy(file + note_off, notes, len);
	memcpy(file + shoff, sh, sizeof(sh));
	if (write(fd, file, total) != (ssize_t)total)
		abort();
	free(file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-usdt", MFD_CLOEXEC);
	struct tt_elf *elf;
	char path[64];

	if (fd < 0)
		abort();
	write_elf(fd, data, size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	elf = tt_elf__open(path);
	if (elf) {
		tt_elf__for_each_usdt(elf, on_note, NULL);
		tt_elf__usdt(elf, "tt", "task");
		tt_elf__free(elf);
	}
	close(fd);
	return 0;
}
