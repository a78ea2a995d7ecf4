/* SPDX-License-Identifier: MIT */
/*
 * Tests for the USDT notes user/elf.c reads, against the fixture
 * .output/fixtures/usdt-prog (tests/fixtures/usdt-prog.c and usdt-sem.c,
 * built with Debian's <sys/sdt.h>; directory from $TT_FIXTURES).
 *
 * What the notes say is checked against the file read independently with
 * libelf: each probe's address lies in the function that fires it, and the
 * semaphore's address is that of the symbol ttfix_guarded_semaphore; the
 * file offsets a uprobe needs follow the program headers, with the
 * prelink adjustment (.stapsdt.base).
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "elf.h"

static char fixture[4096];
static struct tt_elf *elf;

static int setup(void **state)
{
	const char *dir = getenv("TT_FIXTURES");

	if (!dir || !dir[0])
		dir = ".output/fixtures";
	snprintf(fixture, sizeof(fixture), "%s/usdt-prog", dir);
	elf = tt_elf__open(fixture);
	if (!elf) {
		fprintf(stderr, "cannot open fixture '%s': %s (build it: make %s)\n", fixture,
			strerror(errno), fixture);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	tt_elf__free(elf);
	elf = NULL;
	return 0;
}

/* The st_value and st_size of symbol `name` in .symtab, read with libelf directly. */
static void raw_symbol(const char *name, uint64_t *value, uint64_t *size)
{
	int fd = open(fixture, O_RDONLY | O_CLOEXEC);
	Elf_Scn *scn = NULL;
	bool found = false;
	Elf *e;

	assert_true(fd >= 0);
	assert_int_not_equal(elf_version(EV_CURRENT), EV_NONE);
	e = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(e);
	while (!found && (scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		data = elf_getdata(scn, NULL);
		assert_non_null(data);
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *n;

			assert_non_null(gelf_getsym(data, (int)i, &sym));
			n = elf_strptr(e, sh.sh_link, sym.st_name);
			if (n && strcmp(n, name) == 0) {
				*value = sym.st_value;
				*size = sym.st_size;
				found = true;
				break;
			}
		}
	}
	elf_end(e);
	close(fd);
	if (!found)
		fail_msg("no symbol '%s' in %s", name, fixture);
}

/* Splits an argument spec at spaces into its size prefixes ("-4", "8", ...). */
static int arg_sizes(const char *args, char sizes[][4], int max)
{
	int n = 0;

	for (const char *c = args; *c;) {
		const char *at = strchr(c, '@');
		const char *end = strchr(c, ' ');

		if (!end)
			end = c + strlen(c);
		assert_non_null(at);
		assert_true(at < end);
		assert_true(n < max);
		assert_true(at - c < 4);
		memcpy(sizes[n], c, (size_t)(at - c));
		sizes[n][at - c] = '\0';
		n++;
		c = *end ? end + 1 : end;
	}
	return n;
}

struct collected {
	const struct tt_usdt_note *notes[16];
	int n;
};

static int collect(const struct tt_usdt_note *note, void *ctx)
{
	struct collected *c = ctx;

	assert_true(c->n < 16);
	c->notes[c->n++] = note;
	return 0;
}

static void test_lists_every_probe_in_file_order(void **state)
{
	struct collected c = {.n = 0};
	static const char *const names[] = {"nothing", "ints", "strs", "guarded"};

	assert_int_equal(tt_elf__for_each_usdt(elf, collect, &c), 0);
	assert_int_equal(c.n, 4);
	for (int i = 0; i < 4; i++) {
		assert_string_equal(c.notes[i]->provider, "ttfix");
		assert_string_equal(c.notes[i]->name, names[i]);
	}
}

static int stop_at_second(const struct tt_usdt_note *note, void *ctx)
{
	return ++*(int *)ctx == 2 ? 7 : 0;
}

static void test_for_each_stops_on_nonzero(void **state)
{
	int calls = 0;

	assert_int_equal(tt_elf__for_each_usdt(elf, stop_at_second, &calls), 7);
	assert_int_equal(calls, 2);
}

static void test_probe_without_arguments(void **state)
{
	const struct tt_usdt_note *n = tt_elf__usdt(elf, "ttfix", "nothing");

	assert_non_null(n);
	assert_string_equal(n->args, "");
	assert_int_equal(n->semaphore, 0);
}

static void test_argument_sizes_and_signs(void **state)
{
	const struct tt_usdt_note *ints = tt_elf__usdt(elf, "ttfix", "ints");
	const struct tt_usdt_note *strs = tt_elf__usdt(elf, "ttfix", "strs");
	char sizes[8][4];

	assert_non_null(ints);
	/* int32_t, int64_t, int8_t, uint16_t: signed sizes are negative */
	assert_int_equal(arg_sizes(ints->args, sizes, 8), 4);
	assert_string_equal(sizes[0], "-4");
	assert_string_equal(sizes[1], "-8");
	assert_string_equal(sizes[2], "-1");
	assert_string_equal(sizes[3], "2");
	assert_non_null(strs);
	/* a pointer and a uint64_t */
	assert_int_equal(arg_sizes(strs->args, sizes, 8), 2);
	assert_string_equal(sizes[0], "8");
	assert_string_equal(sizes[1], "8");
}

static void test_probes_without_semaphores(void **state)
{
	assert_int_equal(tt_elf__usdt(elf, "ttfix", "ints")->semaphore, 0);
	assert_int_equal(tt_elf__usdt(elf, "ttfix", "strs")->semaphore, 0);
}

static void test_semaphore_address_is_the_symbol(void **state)
{
	const struct tt_usdt_note *n = tt_elf__usdt(elf, "ttfix", "guarded");
	uint64_t value = 0, size = 0;
	char sizes[8][4];

	assert_non_null(n);
	raw_symbol("ttfix_guarded_semaphore", &value, &size);
	assert_int_not_equal(value, 0);
	assert_int_equal(size, 2); /* an unsigned short */
	assert_int_equal(n->semaphore, value);
	assert_int_equal(arg_sizes(n->args, sizes, 8), 2);
	assert_string_equal(sizes[0], "-4");
	assert_string_equal(sizes[1], "8");
}

/* Each probe's nop lies inside the function that fires it. */
static void test_probe_addresses_lie_in_their_functions(void **state)
{
	static const struct {
		const char *probe;
		const char *func;
	} where[] = {
		{"nothing", "fire_plain"},
		{"ints", "fire_plain"},
		{"strs", "fire_plain"},
		{"guarded", "fire_guarded"},
	};

	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		const struct tt_usdt_note *n = tt_elf__usdt(elf, "ttfix", where[i].probe);
		uint64_t value = 0, size = 0;

		assert_non_null(n);
		raw_symbol(where[i].func, &value, &size);
		if (n->pc < value || n->pc >= value + size)
			fail_msg("probe %s at 0x%llx is not in %s [0x%llx, 0x%llx)", where[i].probe,
				 (unsigned long long)n->pc, where[i].func,
				 (unsigned long long)value, (unsigned long long)(value + size));
	}
}

static void test_base_is_stapsdt_base(void **state)
{
	const struct tt_usdt_note *a = tt_elf__usdt(elf, "ttfix", "ints");
	const struct tt_usdt_note *b = tt_elf__usdt(elf, "ttfix", "guarded");
	uint64_t value = 0, size = 0;

	raw_symbol("_.stapsdt.base", &value, &size);
	assert_int_equal(a->base, value);
	assert_int_equal(b->base, value);
}

/* The PT_LOAD header holding addr, executable or not, read with libelf directly. */
static bool raw_segment(const char *path, uint64_t addr, bool exec, GElf_Phdr *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool found = false;
	size_t n = 0;
	Elf *e;

	assert_true(fd >= 0);
	e = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(e);
	assert_int_equal(elf_getphdrnum(e, &n), 0);
	for (size_t i = 0; i < n && !found; i++) {
		GElf_Phdr ph;

		assert_non_null(gelf_getphdr(e, (int)i, &ph));
		if (ph.p_type == PT_LOAD && addr >= ph.p_vaddr && addr < ph.p_vaddr + ph.p_memsz &&
		    !!(ph.p_flags & PF_X) == exec) {
			*out = ph;
			found = true;
		}
	}
	elf_end(e);
	close(fd);
	return found;
}

/* Each site's file offset holds its nop, where its executable segment says. */
static void test_site_offsets_hold_the_nop(void **state)
{
	struct collected c = {.n = 0};
	int fd = open(fixture, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(tt_elf__for_each_usdt(elf, collect, &c), 0);
	assert_int_equal(c.n, 4);
	for (int i = 0; i < c.n; i++) {
		const struct tt_usdt_note *n = c.notes[i];
		unsigned char insn = 0;
		GElf_Phdr ph;

		assert_true(raw_segment(fixture, n->pc, true, &ph));
		assert_int_equal(n->pc_offset, n->pc - ph.p_vaddr + ph.p_offset);
		assert_int_equal(pread(fd, &insn, 1, (off_t)n->pc_offset), 1);
		if (insn != 0x90)
			fail_msg("probe %s: byte 0x%02x at offset 0x%llx, not a nop", n->name, insn,
				 (unsigned long long)n->pc_offset);
	}
	close(fd);
}

/* A semaphore's file offset is where its (non-executable) segment puts it; none: 0. */
static void test_semaphore_offset(void **state)
{
	const struct tt_usdt_note *n = tt_elf__usdt(elf, "ttfix", "guarded");
	GElf_Phdr ph;

	assert_non_null(n);
	assert_true(raw_segment(fixture, n->semaphore, false, &ph));
	assert_int_not_equal(n->sem_offset, 0);
	assert_int_equal(n->sem_offset, n->semaphore - ph.p_vaddr + ph.p_offset);
	assert_int_equal(tt_elf__usdt(elf, "ttfix", "ints")->sem_offset, 0);
	assert_int_equal(tt_elf__usdt(elf, "ttfix", "nothing")->sem_offset, 0);
}

/* The file offset of the descriptor of the first stapsdt note, read with libelf directly. */
static off_t first_note_desc(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf_Scn *scn = NULL;
	off_t where = -1;
	size_t shstrndx;
	Elf *e;

	assert_true(fd >= 0);
	e = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(e);
	assert_int_equal(elf_getshdrstrndx(e, &shstrndx), 0);
	while (where < 0 && (scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		GElf_Nhdr nh;
		size_t name_off, desc_off;
		Elf_Data *data;
		const char *name;

		assert_non_null(gelf_getshdr(scn, &sh));
		name = elf_strptr(e, shstrndx, sh.sh_name);
		if (sh.sh_type != SHT_NOTE || !name || strcmp(name, ".note.stapsdt"))
			continue;
		data = elf_getdata(scn, NULL);
		assert_non_null(data);
		assert_true(gelf_getnote(data, 0, &nh, &name_off, &desc_off) > 0);
		where = (off_t)(sh.sh_offset + desc_off);
	}
	elf_end(e);
	close(fd);
	assert_true(where > 0);
	return where;
}

/*
 * A prelinked file: its sections moved by D after link time, .stapsdt.base
 * with them, while the notes still say where things were. Made here from
 * a copy of the fixture whose first note says pc - D and base - D: the
 * site is still found at the same file offset.
 */
static void test_prelink_adjustment(void **state)
{
	const struct tt_usdt_note *orig = tt_elf__usdt(elf, "ttfix", "nothing");
	const uint64_t d = 0x40;
	char copy[] = "/tmp/tt-usdt-prelinkXXXXXX";
	struct tt_elf *moved;
	uint64_t pcbase[2];
	int in, out;
	off_t desc;
	char buf[65536];
	ssize_t n;

	assert_non_null(orig);
	in = open(fixture, O_RDONLY | O_CLOEXEC);
	out = mkstemp(copy);
	assert_true(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	desc = first_note_desc(fixture);
	assert_int_equal(pread(out, pcbase, sizeof(pcbase), desc), sizeof(pcbase));
	assert_int_equal(pcbase[0], orig->pc);
	assert_int_equal(pcbase[1], orig->base);
	pcbase[0] -= d;
	pcbase[1] -= d;
	assert_int_equal(pwrite(out, pcbase, sizeof(pcbase), desc), sizeof(pcbase));
	close(out);

	moved = tt_elf__open(copy);
	unlink(copy);
	assert_non_null(moved);
	assert_int_equal(tt_elf__usdt(moved, "ttfix", "nothing")->pc, orig->pc - d);
	assert_int_equal(tt_elf__usdt(moved, "ttfix", "nothing")->pc_offset, orig->pc_offset);
	/* the other notes were not touched */
	assert_int_equal(tt_elf__usdt(moved, "ttfix", "ints")->pc_offset,
			 tt_elf__usdt(elf, "ttfix", "ints")->pc_offset);
	tt_elf__free(moved);
}

static void test_lookup_misses(void **state)
{
	assert_null(tt_elf__usdt(elf, "ttfix", "missing"));
	assert_null(tt_elf__usdt(elf, "other", "ints"));
	assert_null(tt_elf__usdt(elf, "ttfi", "ints"));
	assert_null(tt_elf__usdt(elf, "ttfix", "int"));
}

static void test_file_without_probes(void **state)
{
	char path[4096];
	const char *dir = getenv("TT_FIXTURES");
	struct collected c = {.n = 0};
	struct tt_elf *other;

	snprintf(path, sizeof(path), "%s/prog-pie", dir && dir[0] ? dir : ".output/fixtures");
	other = tt_elf__open(path);
	assert_non_null(other);
	assert_int_equal(tt_elf__for_each_usdt(other, collect, &c), 0);
	assert_int_equal(c.n, 0);
	assert_null(tt_elf__usdt(other, "ttfix", "ints"));
	tt_elf__free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists_every_probe_in_file_order),
		cmocka_unit_test(test_for_each_stops_on_nonzero),
		cmocka_unit_test(test_probe_without_arguments),
		cmocka_unit_test(test_argument_sizes_and_signs),
		cmocka_unit_test(test_probes_without_semaphores),
		cmocka_unit_test(test_semaphore_address_is_the_symbol),
		cmocka_unit_test(test_probe_addresses_lie_in_their_functions),
		cmocka_unit_test(test_base_is_stapsdt_base),
		cmocka_unit_test(test_site_offsets_hold_the_nop),
		cmocka_unit_test(test_semaphore_offset),
		cmocka_unit_test(test_prelink_adjustment),
		cmocka_unit_test(test_lookup_misses),
		cmocka_unit_test(test_file_without_probes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
