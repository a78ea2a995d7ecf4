/* SPDX-License-Identifier: MIT */
/*
 * Tests for user/elf.c against the fixtures built from tests/fixtures/
 * (make .output/fixtures/...; directory from $TT_FIXTURES).
 *
 * Offsets are checked without libelf: by the section headers (a different
 * mapping than the PT_LOAD one elf.c uses), by the bytes read with pread(),
 * and by finding the known machine code of probe_push_rbp in the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <elf.h>
#include <cmocka.h>

#include "elf.h"

enum fixture { PIE, NOPIE, LIB, LIB_STRIPPED, NR_FIXTURES };

static const char *const fixture_names[NR_FIXTURES] = {
	[PIE] = "prog-pie",
	[NOPIE] = "prog-nopie",
	[LIB] = "libfix.so",
	[LIB_STRIPPED] = "libfix-stripped.so",
};

/* A fixture: its path, the tt_elf under test, and the file's bytes. */
struct fixture_file {
	char path[4096];
	struct tt_elf *elf;
	uint8_t *data;
	size_t size;
};

static struct fixture_file fixtures[NR_FIXTURES];

static const uint8_t endbr64[] = {0xf3, 0x0f, 0x1e, 0xfa};

/* probe_push_rbp after any endbr64: push %rbp; movabs $marker,%rax; pop %rbp; ret. */
static const uint8_t push_rbp_code[] = {0x55, 0x48, 0xb8, 0x62, 0x70, 0x61, 0x74,
					0x74, 0x61, 0x74, 0x74, 0x5d, 0xc3};

/* Reads the whole file at path with read(2). Returns a malloc'd buffer. */
static uint8_t *read_file(const char *path, size_t *size)
{
	size_t cap = 1 << 16, used = 0;
	uint8_t *buf = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	for (;;) {
		if (used == cap) {
			uint8_t *bigger = realloc(buf, cap * 2);

			if (!bigger)
				break;
			buf = bigger;
			cap *= 2;
		}
		n = read(fd, buf + used, cap - used);
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	*size = used;
	return buf;
}

/*
 * Crafted ELF files, built here byte by byte: an ELF64 header, section
 * headers (null, then sections[]), then each section's bytes. A section's
 * `claim`, when not 0, is the size its header states instead of the real one.
 */
struct crafted_section {
	Elf64_Word type;
	const void *data;
	size_t size;
	uint64_t claim;
	Elf64_Word link;
};

static void write_crafted(const char *path, const struct crafted_section *secs, size_t n)
{
	uint8_t buf[4096] = {0};
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
	Elf64_Shdr sh[8] = {0};
	size_t off = sizeof(*eh) + (n + 1) * sizeof(Elf64_Shdr);
	int fd;

	assert_true(n < 8);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_DYN;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_ehsize = sizeof(*eh);
	eh->e_shoff = sizeof(*eh);
	eh->e_shentsize = sizeof(Elf64_Shdr);
	eh->e_shnum = (Elf64_Half)(n + 1);
	for (size_t i = 0; i < n; i++) {
		Elf64_Shdr *h = &sh[i + 1];

		off = (off + 7) & ~(size_t)7;
		assert_true(off + secs[i].size <= sizeof(buf));
		h->sh_type = secs[i].type;
		h->sh_offset = off;
		h->sh_size = secs[i].claim ? secs[i].claim : secs[i].size;
		h->sh_link = secs[i].link;
		h->sh_addralign = secs[i].type == SHT_NOTE ? 4 : 8;
		h->sh_entsize = secs[i].type == SHT_SYMTAB ? sizeof(Elf64_Sym) : 0;
		memcpy(buf + off, secs[i].data, secs[i].size);
		off += secs[i].size;
	}
	memcpy(buf + eh->e_shoff, sh, (n + 1) * sizeof(Elf64_Shdr));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, off), (ssize_t)off);
	close(fd);
}

/* A symbol table that says it is far larger than the file is refused, not allocated. */
static void test_crafted_symtab_size_beyond_file(void **state)
{
	static const char strtab[] = "\0func";
	Elf64_Sym syms[2] = {{0},
			     {.st_name = 1,
			      .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC),
			      .st_shndx = 1,
			      .st_value = 0x1000}};
	/* 1 TiB of symbols: 45 G entries, which the reader once tried to allocate */
	const struct crafted_section secs[] = {
		{SHT_SYMTAB, syms, sizeof(syms), 1ull << 40, 2},
		{SHT_STRTAB, strtab, sizeof(strtab), 0, 0},
	};
	char path[] = "/tmp/tt-elf-crafted-XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	write_crafted(path, secs, 2);
	errno = 0;
	assert_null(tt_elf__open(path));
	assert_int_equal(errno, ENOEXEC);
	unlink(path);
}

static int count_note(const struct tt_usdt_note *note, void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

/* A stapsdt note whose strings run off its end is skipped; the next one is read. */
static void test_crafted_usdt_note_unterminated(void **state)
{
	struct {
		Elf64_Nhdr h;
		char name[8];
		uint8_t desc[28];
		Elf64_Nhdr h2;
		char name2[8];
		uint8_t desc2[32];
	} notes = {
		.h = {.n_namesz = 8, .n_descsz = 24 + 4, .n_type = 3},
		.name = "stapsdt",
		.desc = {[24] = 'p', 'r', 'o', 'v'}, /* no NUL: no name either */
		.h2 = {.n_namesz = 8, .n_descsz = 24 + 6, .n_type = 3},
		.name2 = "stapsdt",
		.desc2 = {[24] = 'p', 0, 'n', 0, 'a', 0},
	};
	const struct crafted_section secs[] = {{SHT_NOTE, &notes, sizeof(notes), 0, 0}};
	char path[] = "/tmp/tt-elf-crafted-XXXXXX";
	int fd = mkstemp(path), n = 0;
	struct tt_elf *elf;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	write_crafted(path, secs, 1);
	elf = tt_elf__open(path);
	assert_non_null(elf);
	assert_int_equal(tt_elf__for_each_usdt(elf, count_note, &n), 0);
	assert_int_equal(n, 1);
	assert_non_null(tt_elf__usdt(elf, "p", "n"));
	tt_elf__free(elf);
	unlink(path);
}

/* A FIFO where a binary was expected: refused at once, never waited on. */
static void test_open_fifo_does_not_block(void **state)
{
	char path[] = "/tmp/tt-elf-fifo-XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	errno = 0;
	assert_null(tt_elf__open(path)); /* blocked forever in open() before */
	assert_int_equal(errno, ENOEXEC);
	unlink(path);
}

/* Rewrites a file again and again from empty, as a package update or a hostile container may. */
struct rewriter {
	int fd;
	const uint8_t *data;
	size_t size;
	volatile bool stop;
	unsigned rounds;
};

static void *rewrite_main(void *arg)
{
	struct rewriter *w = arg;

	while (!w->stop) {
		if (ftruncate(w->fd, 0) || pwrite(w->fd, w->data, w->size, 0) != (ssize_t)w->size)
			break;
		w->rounds++;
	}
	return NULL;
}

/*
 * A binary truncated while it is read: refused or read whole, never a crash.
 * A mapped file cut short raises SIGBUS at the first read past its new end,
 * which killed the agent; the reader now reads with pread() into memory.
 */
static void test_open_file_truncated_while_read(void **state)
{
	char path[] = "/tmp/tt-elf-trunc-XXXXXX";
	struct rewriter w = {0};
	size_t whole = 0, refused = 0;
	pthread_t t;

	(void)state;
	/* this program: big enough that a rewrite is in progress most of the time */
	w.data = read_file("/proc/self/exe", &w.size);
	assert_non_null(w.data);
	w.fd = mkstemp(path);
	assert_true(w.fd >= 0);
	assert_int_equal(pwrite(w.fd, w.data, w.size, 0), (ssize_t)w.size);
	assert_int_equal(pthread_create(&t, NULL, rewrite_main, &w), 0);
	for (int i = 0; i < 400; i++) {
		struct tt_elf *elf = tt_elf__open(path);
		uint64_t off;

		if (!elf) {
			assert_true(errno == ENOEXEC || errno == ENOENT);
			refused++;
			continue;
		}
		/* what was read is this test program's own symbols, or nothing */
		if (tt_elf__func_offset(elf, "test_open_file_truncated_while_read", &off, NULL) ==
		    0)
			whole++;
		tt_elf__free(elf);
	}
	w.stop = true;
	pthread_join(t, NULL);
	close(w.fd);
	unlink(path);
	free((void *)w.data);
	assert_true(w.rounds > 0);
	fprintf(stderr, "truncated while read: %zu read whole, %zu refused, %u rewrites\n", whole,
		refused, w.rounds);
}

static int setup_fixtures(void **state)
{
	const char *dir = getenv("TT_FIXTURES");
	int i;

	if (!dir || !dir[0])
		dir = ".output/fixtures";
	for (i = 0; i < NR_FIXTURES; i++) {
		struct fixture_file *f = &fixtures[i];

		snprintf(f->path, sizeof(f->path), "%s/%s", dir, fixture_names[i]);
		f->data = read_file(f->path, &f->size);
		f->elf = tt_elf__open(f->path);
		if (!f->data || !f->elf) {
			fprintf(stderr,
				"cannot open fixture '%s': %s (build it: make "
				".output/fixtures/%s)\n",
				f->path, strerror(errno), fixture_names[i]);
			return -1;
		}
	}
	return 0;
}

static int teardown_fixtures(void **state)
{
	int i;

	for (i = 0; i < NR_FIXTURES; i++) {
		tt_elf__free(fixtures[i].elf);
		free(fixtures[i].data);
		fixtures[i].elf = NULL;
		fixtures[i].data = NULL;
	}
	return 0;
}

/*
 * Independent of elf.c: the file offset of function `name` found in the
 * raw ELF64 bytes, mapped through the section that holds it. Returns 0 and
 * fills *offset, or -1.
 */
static int raw_func_offset(const struct fixture_file *f, const char *name, uint64_t *offset)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f->data;
	const Elf64_Shdr *sh;
	static const Elf64_Word types[] = {SHT_SYMTAB, SHT_DYNSYM};
	size_t t, i, j;

	assert_true(f->size >= sizeof(*eh));
	assert_memory_equal(eh->e_ident, ELFMAG, SELFMAG);
	assert_int_equal(eh->e_ident[EI_CLASS], ELFCLASS64);
	assert_true(eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(*sh) <= f->size);
	sh = (const Elf64_Shdr *)(f->data + eh->e_shoff);
	for (t = 0; t < 2; t++) {
		for (i = 0; i < eh->e_shnum; i++) {
			const Elf64_Sym *syms = (const Elf64_Sym *)(f->data + sh[i].sh_offset);
			const char *strtab;

			if (sh[i].sh_type != types[t])
				continue;
			assert_true(sh[i].sh_offset + sh[i].sh_size <= f->size);
			strtab = (const char *)(f->data + sh[sh[i].sh_link].sh_offset);
			for (j = 0; j < sh[i].sh_size / sizeof(*syms); j++) {
				const Elf64_Sym *s = &syms[j];
				int type = ELF64_ST_TYPE(s->st_info);

				if ((type != STT_FUNC && type != STT_GNU_IFUNC) ||
				    s->st_shndx == SHN_UNDEF || s->st_value == 0 ||
				    strcmp(strtab + s->st_name, name) != 0)
					continue;
				assert_true(s->st_shndx < eh->e_shnum);
				*offset = s->st_value - sh[s->st_shndx].sh_addr +
					  sh[s->st_shndx].sh_offset;
				return 0;
			}
		}
	}
	return -1;
}

/* Resolves name in fixture fx, failing the test when it is not found. */
static uint64_t must_resolve(enum fixture fx, const char *name, enum tt_insn_cost *cost)
{
	uint64_t offset = 0;
	int err = tt_elf__func_offset(fixtures[fx].elf, name, &offset, cost);

	if (err)
		fail_msg("'%s' not found in %s: %d", name, fixture_names[fx], err);
	assert_true(offset + 16 <= fixtures[fx].size);
	return offset;
}

static bool starts_with_endbr64(enum fixture fx, uint64_t offset)
{
	return memcmp(fixtures[fx].data + offset, endbr64, sizeof(endbr64)) == 0;
}

static void test_open_missing_file_enoent(void **state)
{
	errno = 0;
	assert_null(tt_elf__open("/nonexistent/tasktap/no-such-file"));
	assert_int_equal(errno, ENOENT);
}

/* Writes content to a new temporary file; fills path. */
static void make_temp_file(char *path, size_t len, const char *content)
{
	int fd;

	snprintf(path, len, "/tmp/tt-test-elf-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static void test_open_text_file_enoexec(void **state)
{
	char path[64];
	struct tt_elf *elf;

	make_temp_file(path, sizeof(path), "#!/bin/sh\necho not an ELF file\n");
	errno = 0;
	elf = tt_elf__open(path);
	unlink(path);
	assert_null(elf);
	assert_int_equal(errno, ENOEXEC);
}

static void test_open_empty_file_enoexec(void **state)
{
	char path[64];
	struct tt_elf *elf;

	make_temp_file(path, sizeof(path), "");
	errno = 0;
	elf = tt_elf__open(path);
	unlink(path);
	assert_null(elf);
	assert_int_equal(errno, ENOEXEC);
}

static void test_open_directory_enoexec(void **state)
{
	errno = 0;
	assert_null(tt_elf__open("/tmp"));
	assert_int_equal(errno, ENOEXEC);
}

static void test_free_accepts_null(void **state)
{
	tt_elf__free(NULL);
}

static void test_pie_finds_functions(void **state)
{
	const char *names[] = {"process_item", "process_batch", "run_task", "main"};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_true(must_resolve(PIE, names[i], NULL) > 0);
}

static void test_nopie_finds_functions(void **state)
{
	const char *names[] = {"process_item", "process_batch", "run_task", "main"};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_true(must_resolve(NOPIE, names[i], NULL) > 0);
}

static void test_lib_finds_exported_and_static(void **state)
{
	must_resolve(LIB, "fix_publish", NULL);
	must_resolve(LIB, "fix_consume", NULL);
	must_resolve(LIB, "fix_checksum", NULL);
}

static void test_stripped_lib_finds_exported_via_dynsym(void **state)
{
	uint64_t plain = must_resolve(LIB, "fix_publish", NULL);

	/* strip keeps the layout, so the offset is the same as unstripped. */
	assert_int_equal(must_resolve(LIB_STRIPPED, "fix_publish", NULL), plain);
	must_resolve(LIB_STRIPPED, "fix_consume", NULL);
}

static void test_stripped_lib_misses_static(void **state)
{
	uint64_t offset = 0;

	assert_int_equal(
		tt_elf__func_offset(fixtures[LIB_STRIPPED].elf, "fix_checksum", &offset, NULL),
		-ENOENT);
}

static void test_lib_finds_ifunc(void **state)
{
	uint64_t expect;

	/* fix_pick is STT_GNU_IFUNC: its value is the resolver's address. */
	assert_int_equal(raw_func_offset(&fixtures[LIB_STRIPPED], "fix_pick", &expect), 0);
	if (starts_with_endbr64(LIB_STRIPPED, expect))
		expect += 4;
	assert_int_equal(must_resolve(LIB_STRIPPED, "fix_pick", NULL), expect);
}

static void test_missing_symbol_enoent(void **state)
{
	uint64_t offset = 12345;
	enum tt_insn_cost cost = TT_INSN_NOP5;

	assert_int_equal(tt_elf__func_offset(fixtures[PIE].elf, "run_tsak", &offset, &cost),
			 -ENOENT);
	assert_int_equal(offset, 12345);
	assert_int_equal(cost, TT_INSN_NOP5);
}

/* The non-PIE binary maps text at 0x400000+: an address is not an offset. */
static void test_nopie_offset_is_not_the_address(void **state)
{
	uint64_t offset = must_resolve(NOPIE, "probe_push_rbp", NULL);

	assert_true(offset < fixtures[NOPIE].size);
	assert_true(offset < 0x400000);
}

/* The file holds probe_push_rbp's code once: the offset must point at it. */
static void check_marker_offset(enum fixture fx)
{
	const struct fixture_file *f = &fixtures[fx];
	uint64_t offset = must_resolve(fx, "probe_push_rbp", NULL);
	const uint8_t *hit = memmem(f->data, f->size, push_rbp_code, sizeof(push_rbp_code));
	size_t at;

	assert_non_null(hit);
	at = (size_t)(hit - f->data);
	assert_null(memmem(hit + 1, f->size - at - 1, push_rbp_code, sizeof(push_rbp_code)));
	assert_int_equal(offset, at);
}

static void test_nopie_offset_points_at_machine_code(void **state)
{
	check_marker_offset(NOPIE);
}

static void test_pie_offset_points_at_machine_code(void **state)
{
	check_marker_offset(PIE);
}

static void test_pie_skips_endbr64(void **state)
{
	const char *names[] = {"process_item", "process_batch", "run_task", "probe_nop5"};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint64_t offset = must_resolve(PIE, names[i], NULL), sym_offset;

		assert_int_equal(raw_func_offset(&fixtures[PIE], names[i], &sym_offset), 0);
		assert_true(starts_with_endbr64(PIE, sym_offset));
		assert_int_equal(offset, sym_offset + 4);
	}
}

static void test_nopie_keeps_symbol_offset(void **state)
{
	const char *names[] = {"process_item", "process_batch", "run_task", "probe_nop5"};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint64_t offset = must_resolve(NOPIE, names[i], NULL), sym_offset;

		assert_int_equal(raw_func_offset(&fixtures[NOPIE], names[i], &sym_offset), 0);
		assert_false(starts_with_endbr64(NOPIE, sym_offset));
		assert_int_equal(offset, sym_offset);
	}
}

/*
 * For every function of fx: the offset agrees with the section headers, and
 * the resolved offset is 4 past it exactly when the file has endbr64 there.
 */
static int check_sym_cb(const struct tt_sym *sym, void *ctx)
{
	enum fixture fx = *(enum fixture *)ctx;
	uint64_t expect, offset = 0;

	assert_int_equal(raw_func_offset(&fixtures[fx], sym->name, &expect), 0);
	assert_int_equal(sym->offset, expect);
	assert_int_equal(tt_elf__func_offset(fixtures[fx].elf, sym->name, &offset, NULL), 0);
	assert_int_equal(offset, expect + (starts_with_endbr64(fx, expect) ? 4 : 0));
	return 0;
}

static void test_offsets_match_section_headers(void **state)
{
	enum fixture fx;

	for (fx = 0; fx < NR_FIXTURES; fx++)
		assert_int_equal(tt_elf__for_each_func(fixtures[fx].elf, check_sym_cb, &fx), 0);
}

static void check_cost(const char *name, enum tt_insn_cost expect)
{
	enum fixture fx;

	for (fx = PIE; fx <= NOPIE; fx++) {
		enum tt_insn_cost cost = (enum tt_insn_cost) - 1;

		must_resolve(fx, name, &cost);
		if (cost != expect)
			fail_msg("%s in %s: cost %d, want %d", name, fixture_names[fx], cost,
				 expect);
	}
}

static void test_insn_push_rbp_emulated(void **state)
{
	check_cost("probe_push_rbp", TT_INSN_EMULATED);
}

static void test_insn_push_r12_emulated(void **state)
{
	check_cost("probe_push_r12", TT_INSN_EMULATED);
}

static void test_insn_nop5(void **state)
{
	check_cost("probe_nop5", TT_INSN_NOP5);
}

static void test_insn_sub_rsp_stepped(void **state)
{
	check_cost("probe_stepped", TT_INSN_STEPPED);
}

/* In the PIE the cost is that of the instruction after endbr64, not of endbr64. */
static void test_insn_endbr64_itself_not_reported(void **state)
{
	enum tt_insn_cost cost = (enum tt_insn_cost) - 1;
	uint64_t offset = must_resolve(PIE, "probe_push_r12", &cost);

	assert_false(starts_with_endbr64(PIE, offset));
	assert_int_equal(fixtures[PIE].data[offset], 0x41);
	assert_int_equal(cost, TT_INSN_EMULATED);
}

static void test_closest_suggests_typo(void **state)
{
	char buf[256];
	int n = tt_elf__closest(fixtures[PIE].elf, "run_tsak", 3, buf, sizeof(buf));

	assert_true(n >= 1);
	assert_int_equal(strncmp(buf, "run_task", strlen("run_task")), 0);
	assert_true(buf[8] == '\0' || buf[8] == ',');
}

static void test_closest_orders_by_distance_then_name(void **state)
{
	char buf[256];

	/*
	 * process_itex: 1 from process_item, 4 from process_batch (the bound for
	 * 12 characters): by distance, so process_batch comes second.
	 */
	assert_int_equal(tt_elf__closest(fixtures[PIE].elf, "process_itex", 5, buf, sizeof(buf)),
			 2);
	assert_string_equal(buf, "process_item, process_batch");
	/* With room for one, the nearest. */
	assert_int_equal(tt_elf__closest(fixtures[PIE].elf, "process_itex", 1, buf, sizeof(buf)),
			 1);
	assert_string_equal(buf, "process_item");
	/* probe_push_r1: 1 from probe_push_r12, 2 from probe_push_rbp. */
	assert_int_equal(tt_elf__closest(fixtures[PIE].elf, "probe_push_r1", 2, buf, sizeof(buf)),
			 2);
	assert_string_equal(buf, "probe_push_r12, probe_push_rbp");
	/* probe_push_rxx: 2 from both; the tie goes in name order. */
	assert_int_equal(tt_elf__closest(fixtures[PIE].elf, "probe_push_rxx", 2, buf, sizeof(buf)),
			 2);
	assert_string_equal(buf, "probe_push_r12, probe_push_rbp");
}

static void test_closest_falls_back_to_substring(void **state)
{
	char buf[256];

	/* Every letter differs in case, so no name is near by edit distance. */
	assert_int_equal(tt_elf__closest(fixtures[LIB].elf, "PUBLISH", 5, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "fix_publish");
	assert_int_equal(tt_elf__closest(fixtures[PIE].elf, "PROCESS", 5, buf, sizeof(buf)), 2);
	assert_string_equal(buf, "process_batch, process_item");
}

static void test_closest_respects_max_and_buffer(void **state)
{
	char buf[256], small[20];

	assert_int_equal(tt_elf__closest(fixtures[PIE].elf, "PROCESS", 1, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "process_batch");
	/* "process_batch, process_item" needs 28 bytes: only the first fits whole. */
	memset(small, 'Z', sizeof(small));
	assert_int_equal(tt_elf__closest(fixtures[PIE].elf, "PROCESS", 5, small, sizeof(small)), 1);
	assert_string_equal(small, "process_batch");
	assert_int_equal(tt_elf__closest(fixtures[PIE].elf, "PROCESS", 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
}

static void test_closest_nothing_near(void **state)
{
	char buf[256] = "stale";

	assert_int_equal(tt_elf__closest(fixtures[LIB].elf, "zzzzqqqqwwww", 3, buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "");
}

struct walk {
	char last[256];
	int count;
	int publish_seen;
	int stop_after;
};

static int walk_cb(const struct tt_sym *sym, void *ctx)
{
	struct walk *w = ctx;

	if (w->count > 0 && strcmp(w->last, sym->name) >= 0)
		fail_msg("'%s' after '%s': not sorted or not unique", sym->name, w->last);
	snprintf(w->last, sizeof(w->last), "%s", sym->name);
	if (strcmp(sym->name, "fix_publish") == 0)
		w->publish_seen++;
	w->count++;
	return w->stop_after && w->count == w->stop_after ? 7 : 0;
}

/* fix_publish is in both .symtab and .dynsym of libfix.so: it must come once. */
static void test_for_each_sorted_and_unique(void **state)
{
	struct walk w = {};

	assert_int_equal(tt_elf__for_each_func(fixtures[LIB].elf, walk_cb, &w), 0);
	assert_int_equal(w.publish_seen, 1);
	assert_true(w.count >= 5);
}

static void test_for_each_stops_on_nonzero(void **state)
{
	struct walk w = {.stop_after = 2};

	assert_int_equal(tt_elf__for_each_func(fixtures[PIE].elf, walk_cb, &w), 7);
	assert_int_equal(w.count, 2);
}

int main(void)
{
	const struct CMUnitTest open_tests[] = {
		cmocka_unit_test(test_open_missing_file_enoent),
		cmocka_unit_test(test_open_text_file_enoexec),
		cmocka_unit_test(test_open_empty_file_enoexec),
		cmocka_unit_test(test_open_directory_enoexec),
		cmocka_unit_test(test_free_accepts_null),
		cmocka_unit_test(test_crafted_symtab_size_beyond_file),
		cmocka_unit_test(test_crafted_usdt_note_unterminated),
		cmocka_unit_test(test_open_fifo_does_not_block),
		cmocka_unit_test(test_open_file_truncated_while_read),
	};
	const struct CMUnitTest fixture_tests[] = {
		cmocka_unit_test(test_pie_finds_functions),
		cmocka_unit_test(test_nopie_finds_functions),
		cmocka_unit_test(test_lib_finds_exported_and_static),
		cmocka_unit_test(test_stripped_lib_finds_exported_via_dynsym),
		cmocka_unit_test(test_stripped_lib_misses_static),
		cmocka_unit_test(test_lib_finds_ifunc),
		cmocka_unit_test(test_missing_symbol_enoent),
		cmocka_unit_test(test_nopie_offset_is_not_the_address),
		cmocka_unit_test(test_nopie_offset_points_at_machine_code),
		cmocka_unit_test(test_pie_offset_points_at_machine_code),
		cmocka_unit_test(test_pie_skips_endbr64),
		cmocka_unit_test(test_nopie_keeps_symbol_offset),
		cmocka_unit_test(test_offsets_match_section_headers),
		cmocka_unit_test(test_insn_push_rbp_emulated),
		cmocka_unit_test(test_insn_push_r12_emulated),
		cmocka_unit_test(test_insn_nop5),
		cmocka_unit_test(test_insn_sub_rsp_stepped),
		cmocka_unit_test(test_insn_endbr64_itself_not_reported),
		cmocka_unit_test(test_closest_suggests_typo),
		cmocka_unit_test(test_closest_orders_by_distance_then_name),
		cmocka_unit_test(test_closest_falls_back_to_substring),
		cmocka_unit_test(test_closest_respects_max_and_buffer),
		cmocka_unit_test(test_closest_nothing_near),
		cmocka_unit_test(test_for_each_sorted_and_unique),
		cmocka_unit_test(test_for_each_stops_on_nonzero),
	};
	int failed;

	failed = cmocka_run_group_tests_name("elf_open", open_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("elf_fixtures", fixture_tests, setup_fixtures,
					      teardown_fixtures);
	return failed;
}
