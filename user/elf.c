/* SPDX-License-Identifier: MIT */
/*
 * ELF symbols for uprobes (libelf).
 *
 * tt_elf__open() reads every defined function symbol of .symtab and .dynsym
 * once, maps each to its file offset through the PT_LOAD segment holding
 * it, and keeps them in one array sorted by name with one entry per name
 * (a .symtab entry wins over the same name in .dynsym). Names live in one
 * string pool owned by the object. The file stays open so that the bytes
 * at a function's entry can be read when it is resolved.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <libiberty/demangle.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elf.h"

/* Names longer than this are not compared by edit distance. */
#define TT_ELF_DIST_MAX_LEN 128

struct tt_elf {
	int fd;
	struct tt_sym *syms; /* sorted by name, one per name */
	size_t nr_syms;
	char *pool; /* every syms[i].name points in here */
	char build_id[129];
	struct tt_usdt_note *usdt; /* strings point into usdt_pool */
	size_t nr_usdt;
};

/* A symbol while loading: its name still points into libelf's data. */
struct raw_sym {
	struct tt_sym sym;
	size_t seq; /* order of discovery: .symtab first, then .dynsym */
};

/* What tt_elf__open() gathers before the libelf handle is released. */
struct loader {
	Elf *elf;
	uint64_t file_size; /* bounds every size and count the file states */
	GElf_Phdr *loads;   /* PT_LOAD headers */
	size_t nr_loads;
	struct raw_sym *raw;
	size_t nr_raw;
	size_t cap_raw;
};

/*
 * Reads the PT_LOAD program headers into ld->loads (owned by ld). Returns 0,
 * or -ENOEXEC when the headers cannot be read, -ENOMEM.
 */
static int loader__read_loads(struct loader *ld)
{
	size_t phnum, i;
	GElf_Phdr phdr;

	if (elf_getphdrnum(ld->elf, &phnum))
		return -ENOEXEC;
	if (phnum == 0)
		return 0;
	if (phnum > ld->file_size / sizeof(Elf32_Phdr))
		return -ENOEXEC;
	ld->loads = calloc(phnum, sizeof(*ld->loads));
	if (!ld->loads)
		return -ENOMEM;
	for (i = 0; i < phnum; i++) {
		if (!gelf_getphdr(ld->elf, i, &phdr))
			return -ENOEXEC;
		if (phdr.p_type == PT_LOAD)
			ld->loads[ld->nr_loads++] = phdr;
	}
	return 0;
}

/*
 * Maps a virtual address to its file offset through the PT_LOAD segment
 * whose file-backed part holds it. Returns 0 and fills *offset, or -ENOENT.
 */
static int loader__addr_to_offset(const struct loader *ld, uint64_t addr, uint64_t *offset)
{
	size_t i;

	for (i = 0; i < ld->nr_loads; i++) {
		const GElf_Phdr *p = &ld->loads[i];

		if (addr >= p->p_vaddr && addr - p->p_vaddr < p->p_filesz) {
			*offset = addr - p->p_vaddr + p->p_offset;
			return 0;
		}
	}
	return -ENOENT;
}

static bool sym_is_func(const GElf_Sym *sym)
{
	int type = GELF_ST_TYPE(sym->st_info);

	if (type != STT_FUNC && type != STT_GNU_IFUNC)
		return false;
	return sym->st_shndx != SHN_UNDEF && sym->st_value != 0;
}

/* The size of one symbol in the file's class, whatever sh_entsize says. */
static size_t sym_size(const struct loader *ld)
{
	size_t n = gelf_fsize(ld->elf, ELF_T_SYM, 1, EV_CURRENT);

	return n ? n : sizeof(Elf64_Sym);
}

/*
 * Appends the defined functions of one symbol table section to ld->raw.
 * Functions outside every PT_LOAD segment cannot be probed and are left
 * out. Returns 0 or -ENOEXEC on a malformed table.
 */
static int loader__add_table(struct loader *ld, Elf_Scn *scn, const GElf_Shdr *shdr)
{
	Elf_Data *data;
	size_t i, count;
	GElf_Sym sym;

	data = elf_getdata(scn, NULL);
	if (!data)
		return -ENOEXEC;
	count = data->d_size / sym_size(ld);
	for (i = 0; i < count && ld->nr_raw < ld->cap_raw; i++) {
		struct raw_sym *raw = &ld->raw[ld->nr_raw];
		const char *name;

		if (!gelf_getsym(data, i, &sym))
			return -ENOEXEC;
		if (!sym_is_func(&sym))
			continue;
		name = elf_strptr(ld->elf, shdr->sh_link, sym.st_name);
		if (!name || !name[0])
			continue;
		if (loader__addr_to_offset(ld, sym.st_value, &raw->sym.offset))
			continue;
		raw->sym.name = name;
		raw->sym.addr = sym.st_value;
		raw->sym.size = sym.st_size;
		raw->seq = ld->nr_raw++;
	}
	return 0;
}

/*
 * Finds the first section of type `type`. Returns it and fills *shdr, or
 * NULL when there is none.
 */
static Elf_Scn *find_section(Elf *elf, Elf64_Word type, GElf_Shdr *shdr)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		if (gelf_getshdr(scn, shdr) && shdr->sh_type == type)
			return scn;
	}
	return NULL;
}

/*
 * Whether the bytes section header `sh` claims lie inside the file: a
 * crafted header must not make the reader size anything by its word.
 */
static bool section_in_file(const struct loader *ld, const GElf_Shdr *sh)
{
	return sh->sh_offset <= ld->file_size && sh->sh_size <= ld->file_size - sh->sh_offset;
}

/*
 * Reads the functions of .symtab, then of .dynsym, into ld->raw (owned by
 * ld). Returns 0, -ENOEXEC or -ENOMEM.
 */
static int loader__read_syms(struct loader *ld)
{
	static const Elf64_Word types[] = {SHT_SYMTAB, SHT_DYNSYM};
	Elf_Scn *scns[2];
	GElf_Shdr shdrs[2];
	size_t i;
	int err;

	for (i = 0; i < 2; i++) {
		scns[i] = find_section(ld->elf, types[i], &shdrs[i]);
		if (!scns[i])
			continue;
		if (!section_in_file(ld, &shdrs[i]))
			return -ENOEXEC;
		ld->cap_raw += shdrs[i].sh_size / sym_size(ld);
	}
	if (ld->cap_raw == 0)
		return 0;
	ld->raw = calloc(ld->cap_raw, sizeof(*ld->raw));
	if (!ld->raw)
		return -ENOMEM;
	for (i = 0; i < 2; i++) {
		if (!scns[i])
			continue;
		err = loader__add_table(ld, scns[i], &shdrs[i]);
		if (err)
			return err;
	}
	return 0;
}

static int raw_sym_cmp(const void *a, const void *b)
{
	const struct raw_sym *x = a, *y = b;
	int cmp = strcmp(x->sym.name, y->sym.name);

	if (cmp)
		return cmp;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

/*
 * Sorts ld->raw by name and moves the first symbol of each name into
 * elf->syms, with its name copied into elf->pool (both owned by elf).
 * Returns 0 or -ENOMEM.
 */
static int tt_elf__take_syms(struct tt_elf *elf, struct loader *ld)
{
	size_t i, pool_len = 0, used = 0;

	if (ld->nr_raw == 0)
		return 0;
	qsort(ld->raw, ld->nr_raw, sizeof(*ld->raw), raw_sym_cmp);
	for (i = 0; i < ld->nr_raw; i++) {
		if (i > 0 && strcmp(ld->raw[i].sym.name, ld->raw[i - 1].sym.name) == 0)
			continue;
		pool_len += strlen(ld->raw[i].sym.name) + 1;
		elf->nr_syms++;
	}
	elf->syms = calloc(elf->nr_syms, sizeof(*elf->syms));
	elf->pool = malloc(pool_len);
	if (!elf->syms || !elf->pool)
		return -ENOMEM;
	elf->nr_syms = 0;
	for (i = 0; i < ld->nr_raw; i++) {
		struct tt_sym *sym = &elf->syms[elf->nr_syms];
		size_t n;

		if (i > 0 && strcmp(ld->raw[i].sym.name, ld->raw[i - 1].sym.name) == 0)
			continue;
		*sym = ld->raw[i].sym;
		n = strlen(sym->name) + 1;
		memcpy(elf->pool + used, sym->name, n);
		sym->name = elf->pool + used;
		used += n;
		elf->nr_syms++;
	}
	return 0;
}

#define NT_STAPSDT 3

/*
 * Maps a virtual address to its file offset through the PT_LOAD segment
 * holding it (p_memsz, as libbpf does), executable or not as `exec` says.
 * Returns the offset, or 0 when no such segment holds it.
 */
static uint64_t loader__usdt_offset(const struct loader *ld, uint64_t addr, bool exec)
{
	for (size_t i = 0; i < ld->nr_loads; i++) {
		const GElf_Phdr *p = &ld->loads[i];

		if (addr >= p->p_vaddr && addr - p->p_vaddr < p->p_memsz &&
		    !!(p->p_flags & PF_X) == exec)
			return addr - p->p_vaddr + p->p_offset;
	}
	return 0;
}

/* The address of section .stapsdt.base, or 0 when the file has none. */
static uint64_t stapsdt_base(Elf *e)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(e, &shstrndx))
		return 0;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		name = elf_strptr(e, shstrndx, sh.sh_name);
		if (name && !strcmp(name, ".stapsdt.base"))
			return sh.sh_addr;
	}
	return 0;
}

/*
 * Where the note's uprobe goes, as libbpf finds it: the pc moved by the
 * prelink adjustment (the actual .stapsdt.base address `base` minus the
 * note's), then turned into file offsets through the program headers.
 */
static void locate_usdt(const struct loader *ld, uint64_t base, struct tt_usdt_note *note)
{
	uint64_t pc = note->pc;

	if (base && note->base)
		pc += base - note->base;
	note->pc_offset = loader__usdt_offset(ld, pc, true);
	note->sem_offset = note->semaphore ? loader__usdt_offset(ld, note->semaphore, false) : 0;
}

/* Appends one stapsdt note (desc: pc, base, semaphore, then three strings). */
static int add_usdt(struct tt_elf *elf, const struct loader *ld, uint64_t base, const char *desc,
		    size_t len)
{
	const char *strs = desc + 24, *end = desc + len;
	const char *provider, *name, *args;
	struct tt_usdt_note *notes;
	size_t n;

	if (len < 24 + 3)
		return 0; /* malformed: skip it */
	provider = strs;
	name = memchr(provider, '\0', (size_t)(end - provider));
	if (!name || ++name >= end)
		return 0;
	args = memchr(name, '\0', (size_t)(end - name));
	if (!args || ++args >= end || !memchr(args, '\0', (size_t)(end - args)))
		return 0;
	n = (size_t)(end - strs);
	notes = realloc(elf->usdt, (elf->nr_usdt + 1) * sizeof(*notes));
	if (!notes)
		return -ENOMEM;
	elf->usdt = notes;
	notes = &elf->usdt[elf->nr_usdt];
	/* each note keeps its own copy of its strings: the pool grows note by note */
	notes->provider = malloc(n);
	if (!notes->provider)
		return -ENOMEM;
	memcpy((char *)notes->provider, strs, n);
	notes->name = notes->provider + (name - provider);
	notes->args = notes->provider + (args - provider);
	memcpy(&notes->pc, desc, 8);
	memcpy(&notes->base, desc + 8, 8);
	memcpy(&notes->semaphore, desc + 16, 8);
	locate_usdt(ld, base, notes);
	elf->nr_usdt++;
	return 0;
}

/* Reads the GNU build-id and the USDT notes of every note section. */
static int tt_elf__read_notes(struct tt_elf *elf, const struct loader *ld)
{
	Elf *e = ld->elf;
	uint64_t base = stapsdt_base(e);
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;
		GElf_Nhdr nh;
		size_t off = 0, name_off, desc_off;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE || !section_in_file(ld, &sh))
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
			const char *name = (const char *)data->d_buf + name_off;
			const unsigned char *desc = (const unsigned char *)data->d_buf + desc_off;

			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    !memcmp(name, "GNU", 4) && nh.n_descsz <= 64) {
				for (size_t i = 0; i < nh.n_descsz; i++)
					snprintf(elf->build_id + 2 * i, 3, "%02x", desc[i]);
			} else if (nh.n_type == NT_STAPSDT && nh.n_namesz == 8 &&
				   !memcmp(name, "stapsdt", 8)) {
				int err = add_usdt(elf, ld, base, (const char *)desc, nh.n_descsz);

				if (err)
					return err;
			}
		}
	}
	return 0;
}

const char *tt_elf__build_id(const struct tt_elf *elf)
{
	return elf->build_id[0] ? elf->build_id : NULL;
}

int tt_elf__for_each_usdt(struct tt_elf *elf, int (*cb)(const struct tt_usdt_note *note, void *ctx),
			  void *ctx)
{
	for (size_t i = 0; i < elf->nr_usdt; i++) {
		int ret = cb(&elf->usdt[i], ctx);

		if (ret)
			return ret;
	}
	return 0;
}

const struct tt_usdt_note *tt_elf__usdt(struct tt_elf *elf, const char *provider, const char *name)
{
	for (size_t i = 0; i < elf->nr_usdt; i++) {
		if (!strcmp(elf->usdt[i].provider, provider) && !strcmp(elf->usdt[i].name, name))
			return &elf->usdt[i];
	}
	return NULL;
}

char *tt_demangle(const char *name)
{
	if (strncmp(name, "_Z", 2) != 0 && strncmp(name, "_R", 2) != 0)
		return NULL;
	return cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
}

/* Cuts a Rust hash suffix ("::h" and 16 hex digits) off a demangled name, in place. */
static void strip_rust_hash(char *d)
{
	size_t n = strlen(d);

	if (n > 19 && !strncmp(d + n - 19, "::h", 3)) {
		bool hex = true;

		for (size_t i = n - 16; i < n; i++)
			hex = hex && ((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f'));
		if (hex)
			d[n - 19] = '\0';
	}
}

/*
 * The demangled name without parameters, without the return type that a
 * function template's name carries ("int Worker::run<int>(int)" is
 * "Worker::run<int>") and without a Rust hash: what a glob such as
 * "Worker::run_*" is written against. The caller frees it; NULL when
 * `name` is not mangled.
 */
static char *demangle_bare(const char *name)
{
	char *d;

	if (strncmp(name, "_Z", 2) != 0 && strncmp(name, "_R", 2) != 0)
		return NULL;
	d = cplus_demangle(name, DMGL_ANSI | DMGL_AUTO);
	if (d)
		strip_rust_hash(d);
	return d;
}

bool tt_elf__glob_matches(const char *pattern, const char *name, char **demangled)
{
	char *d = tt_demangle(name);
	bool hit = fnmatch(pattern, name, 0) == 0;

	if (d && !hit)
		hit = fnmatch(pattern, d, 0) == 0;
	if (d && !hit) {
		char *bare = demangle_bare(name);

		if (bare) {
			hit = fnmatch(pattern, bare, 0) == 0;
			free(bare);
		}
	}
	if (demangled)
		*demangled = d;
	else
		free(d);
	return hit;
}

/*
 * Loads the function symbols of the ELF file open at elf->fd, `file_size`
 * bytes long, into elf. Returns 0, -ENOEXEC when the file is not a readable
 * ELF file, -ENOMEM.
 */
static int tt_elf__load(struct tt_elf *elf, uint64_t file_size)
{
	struct loader ld = {.file_size = file_size};
	GElf_Ehdr ehdr;
	int err;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOEXEC;
	/*
	 * read, never mapped: a file truncated while mapped raises SIGBUS at the
	 * first read past its new end (a binary being updated, or a hostile one);
	 * libelf's pread() of a section cut short fails instead
	 */
	ld.elf = elf_begin(elf->fd, ELF_C_READ, NULL);
	if (!ld.elf || elf_kind(ld.elf) != ELF_K_ELF || !gelf_getehdr(ld.elf, &ehdr)) {
		err = -ENOEXEC;
		goto cleanup;
	}
	err = loader__read_loads(&ld);
	if (err)
		goto cleanup;
	err = loader__read_syms(&ld);
	if (err)
		goto cleanup;
	err = tt_elf__read_notes(elf, &ld);
	if (err)
		goto cleanup;
	err = tt_elf__take_syms(elf, &ld);
cleanup:
	free(ld.raw);
	free(ld.loads);
	elf_end(ld.elf);
	return err;
}

struct tt_elf *tt_elf__open(const char *path)
{
	struct tt_elf *elf;
	struct stat st;
	int err;

	elf = calloc(1, sizeof(*elf));
	if (!elf)
		return NULL;
	/* non-blocking: a FIFO planted where a binary was expected must not hang the open */
	elf->fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (elf->fd < 0) {
		err = -errno;
		goto err_out;
	}
	if (fstat(elf->fd, &st)) {
		err = -errno;
		goto err_out;
	}
	/* A directory or a FIFO is not an ELF file; reading a FIFO could block. */
	if (!S_ISREG(st.st_mode)) {
		err = -ENOEXEC;
		goto err_out;
	}
	err = tt_elf__load(elf, (uint64_t)st.st_size);
	if (err)
		goto err_out;
	return elf;
err_out:
	tt_elf__free(elf);
	errno = -err;
	return NULL;
}

void tt_elf__free(struct tt_elf *elf)
{
	for (size_t i = 0; elf && i < elf->nr_usdt; i++)
		free((char *)elf->usdt[i].provider);
	if (elf)
		free(elf->usdt);
	if (!elf)
		return;
	if (elf->fd >= 0)
		close(elf->fd);
	free(elf->syms);
	free(elf->pool);
	free(elf);
}

static int sym_name_cmp(const void *key, const void *elem)
{
	const struct tt_sym *sym = elem;

	return strcmp(key, sym->name);
}

static const struct tt_sym *tt_elf__find(const struct tt_elf *elf, const char *name)
{
	if (elf->nr_syms == 0)
		return NULL;
	return bsearch(name, elf->syms, elf->nr_syms, sizeof(*elf->syms), sym_name_cmp);
}

static bool is_push_r64(const uint8_t *insn, size_t len)
{
	if (len >= 1 && insn[0] >= 0x50 && insn[0] <= 0x57)
		return true;
	return len >= 2 && insn[0] == 0x41 && insn[1] >= 0x50 && insn[1] <= 0x57;
}

/* Classifies the x86-64 instruction that starts `insn` (len bytes known). */
static enum tt_insn_cost classify_insn(const uint8_t *insn, size_t len)
{
	static const uint8_t nop5[] = {0x0f, 0x1f, 0x44, 0x00, 0x00};

	if (is_push_r64(insn, len))
		return TT_INSN_EMULATED;
	if (len >= sizeof(nop5) && memcmp(insn, nop5, sizeof(nop5)) == 0)
		return TT_INSN_NOP5;
	return TT_INSN_STEPPED;
}

int tt_elf__func_offset(struct tt_elf *elf, const char *name, uint64_t *offset,
			enum tt_insn_cost *cost)
{
	static const uint8_t endbr64[] = {0xf3, 0x0f, 0x1e, 0xfa};
	const struct tt_sym *sym;
	uint8_t buf[16];
	const uint8_t *insn = buf;
	ssize_t n;

	sym = tt_elf__find(elf, name);
	if (!sym)
		return -ENOENT;
	n = pread(elf->fd, buf, sizeof(buf), (off_t)sym->offset);
	if (n < 0)
		return -errno;
	*offset = sym->offset;
	if ((size_t)n >= sizeof(endbr64) && memcmp(buf, endbr64, sizeof(endbr64)) == 0) {
		*offset += sizeof(endbr64);
		insn += sizeof(endbr64);
		n -= sizeof(endbr64);
	}
	if (cost)
		*cost = classify_insn(insn, (size_t)n);
	return 0;
}

/*
 * Levenshtein distance between a and b (lengths la, lb, both at most
 * TT_ELF_DIST_MAX_LEN), or limit + 1 as soon as it must exceed limit.
 */
static int edit_distance(const char *a, size_t la, const char *b, size_t lb, int limit)
{
	int rows[2][TT_ELF_DIST_MAX_LEN + 1];
	int *prev = rows[0], *cur = rows[1], *tmp;
	size_t i, j;

	for (j = 0; j <= lb; j++)
		prev[j] = (int)j;
	for (i = 1; i <= la; i++) {
		int row_min;

		cur[0] = (int)i;
		row_min = cur[0];
		for (j = 1; j <= lb; j++) {
			int best = prev[j - 1] + (a[i - 1] != b[j - 1]);

			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			cur[j] = best;
			if (best < row_min)
				row_min = best;
		}
		if (row_min > limit)
			return limit + 1;
		tmp = prev;
		prev = cur;
		cur = tmp;
	}
	return prev[lb] <= limit ? prev[lb] : limit + 1;
}

struct candidate {
	const char *name;
	int dist;
};

/*
 * Inserts (name, dist) into the best `max` candidates, kept sorted by
 * distance. Names arrive sorted, so a later name goes after an equal
 * distance and ties stay in name order.
 */
static void candidates__insert(struct candidate *best, int *nr, int max, const char *name, int dist)
{
	int pos = *nr;

	while (pos > 0 && best[pos - 1].dist > dist)
		pos--;
	if (pos >= max)
		return;
	if (*nr < max)
		(*nr)++;
	memmove(&best[pos + 1], &best[pos], (size_t)(*nr - 1 - pos) * sizeof(*best));
	best[pos].name = name;
	best[pos].dist = dist;
}

/* Fills best with up to max names within a bounded edit distance of name. */
static int closest_by_distance(const struct tt_elf *elf, const char *name, int max,
			       struct candidate *best)
{
	size_t len = strlen(name), i;
	int limit = len / 3 > 3 ? (int)(len / 3) : 3;
	int nr = 0;

	/* A distance of len or more means nothing of name is left. */
	if ((size_t)limit >= len)
		limit = (int)len - 1;
	if (len > TT_ELF_DIST_MAX_LEN || limit < 1)
		return 0;
	for (i = 0; i < elf->nr_syms; i++) {
		const char *cand = elf->syms[i].name;
		size_t clen = strlen(cand);
		size_t diff = clen > len ? clen - len : len - clen;
		int dist;

		if (diff > (size_t)limit || clen > TT_ELF_DIST_MAX_LEN)
			continue;
		dist = edit_distance(name, len, cand, clen, limit);
		if (dist <= limit)
			candidates__insert(best, &nr, max, cand, dist);
	}
	return nr;
}

/* Fills best with the first max names (in name order) containing name. */
static int closest_by_substring(const struct tt_elf *elf, const char *name, int max,
				struct candidate *best)
{
	size_t i;
	int nr = 0;

	if (!name[0])
		return 0;
	for (i = 0; i < elf->nr_syms && nr < max; i++) {
		if (strcasestr(elf->syms[i].name, name)) {
			best[nr].name = elf->syms[i].name;
			best[nr].dist = 0;
			nr++;
		}
	}
	return nr;
}

/*
 * Appends ", name" (or "name" first) to buf when it fits whole. Returns
 * true when it was written.
 */
static bool append_name(char *buf, size_t len, size_t *used, const char *name, bool first)
{
	size_t sep_len = first ? 0 : 2;
	size_t name_len = strlen(name);

	if (*used + sep_len + name_len + 1 > len)
		return false;
	memcpy(buf + *used, ", ", sep_len);
	memcpy(buf + *used + sep_len, name, name_len);
	*used += sep_len + name_len;
	buf[*used] = '\0';
	return true;
}

int tt_elf__closest(struct tt_elf *elf, const char *name, int max, char *buf, size_t len)
{
	struct candidate *best;
	size_t used = 0;
	int nr, i, written = 0;

	if (len > 0)
		buf[0] = '\0';
	if (max <= 0 || len == 0)
		return 0;
	best = calloc((size_t)max, sizeof(*best));
	if (!best)
		return -ENOMEM;
	nr = closest_by_distance(elf, name, max, best);
	if (nr == 0)
		nr = closest_by_substring(elf, name, max, best);
	for (i = 0; i < nr; i++) {
		if (!append_name(buf, len, &used, best[i].name, written == 0))
			break;
		written++;
	}
	free(best);
	return written;
}

int tt_elf__for_each_func(struct tt_elf *elf, int (*cb)(const struct tt_sym *sym, void *ctx),
			  void *ctx)
{
	size_t i;
	int ret;

	for (i = 0; i < elf->nr_syms; i++) {
		ret = cb(&elf->syms[i], ctx);
		if (ret)
			return ret;
	}
	return 0;
}
