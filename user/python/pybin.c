/* SPDX-License-Identifier: MIT */
/*
 * Which CPython a binary is: its version, build-id and _PyRuntime, read
 * from the ELF file with libelf (see offsets.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <gelf.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "python/offsets.h"
#include "resolve.h"

/* Builds whose table row the tests checked against the running interpreter. */
static const struct {
	const char *build_id;
	const char *what;
} known_builds[] = {
	{"571d98e01096d5c1c32420d229a6731a0a50d2a0", "Debian 12 /usr/bin/python3.11 3.11.2-6"},
	/* tests/e2e/test_python_versions.py */
	{"49daf84ed369fe589b73ea876f2591cd4c3588bb", "pyenv 3.11.7 libpython3.11.so.1.0"},
	{"f9d5c82f5f2c22df68c1d49c944ef3dee5103dcc", "pyenv 3.12.1 libpython3.12.so.1.0"},
	{"d11d13fb0f82d32f3da1221ffd551ab179afb423", "pyenv 3.13.0 libpython3.13.so.1.0"},
};

#define MAX_RODATA_SCAN (64u << 20) /* bytes of one section searched for PY_VERSION */

struct pyelf {
	int fd;
	Elf *elf;
	GElf_Ehdr ehdr;
};

/* The file offset of address `addr` (len bytes) in a PT_LOAD segment, or -1. */
static off_t pyelf__offset(const struct pyelf *pe, uint64_t addr, uint64_t len)
{
	for (size_t i = 0; i < pe->ehdr.e_phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(pe->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (addr >= ph.p_vaddr && addr - ph.p_vaddr <= ph.p_filesz &&
		    len <= ph.p_filesz - (addr - ph.p_vaddr))
			return (off_t)(ph.p_offset + (addr - ph.p_vaddr));
	}
	return -1;
}

/* Reads len bytes at address addr of the file. 0, or -EFAULT when not in the file. */
static int pyelf__read(const struct pyelf *pe, uint64_t addr, void *buf, size_t len)
{
	off_t off = pyelf__offset(pe, addr, len);

	if (off < 0 || pread(pe->fd, buf, len, off) != (ssize_t)len)
		return -EFAULT;
	return 0;
}

/* Finds the defined symbol `name` in .dynsym, else .symtab. 0 or -ENOENT. */
static int pyelf__symbol(const struct pyelf *pe, const char *name, GElf_Sym *out)
{
	static const Elf64_Word types[] = {SHT_DYNSYM, SHT_SYMTAB};

	for (size_t t = 0; t < 2; t++) {
		Elf_Scn *scn = NULL;

		while ((scn = elf_nextscn(pe->elf, scn))) {
			GElf_Shdr sh;
			Elf_Data *data;

			if (!gelf_getshdr(scn, &sh) || sh.sh_type != types[t] || !sh.sh_entsize)
				continue;
			data = elf_getdata(scn, NULL);
			if (!data)
				continue;
			for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
				GElf_Sym sym;
				const char *s;

				if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF)
					continue;
				s = elf_strptr(pe->elf, sh.sh_link, sym.st_name);
				if (s && strcmp(s, name) == 0) {
					*out = sym;
					return 0;
				}
			}
		}
	}
	return -ENOENT;
}

static void pyelf__build_id(const struct pyelf *pe, char *hex, size_t len)
{
	Elf_Scn *scn = NULL;

	hex[0] = '\0';
	while ((scn = elf_nextscn(pe->elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;
		GElf_Nhdr nh;
		size_t off = 0, name_off, desc_off;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		data = elf_getdata(scn, NULL);
		while (data && (off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
			if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
			    memcmp((char *)data->d_buf + name_off, "GNU", 4) != 0)
				continue;
			const unsigned char *d = (unsigned char *)data->d_buf + desc_off;
			for (size_t i = 0; i < nh.n_descsz && 2 * i + 2 < len; i++)
				snprintf(hex + 2 * i, 3, "%02x", d[i]);
			return;
		}
	}
}

/* Calls cb for each DT_NEEDED, DT_RUNPATH or DT_RPATH string; stops at its first non-zero. */
static int pyelf__for_each_dynamic(const struct pyelf *pe,
				   int (*cb)(int64_t tag, const char *s, void *ctx), void *ctx)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(pe->elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC || !sh.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Dyn dyn;
			const char *s;
			int ret;

			if (!gelf_getdyn(data, (int)i, &dyn))
				break;
			if (dyn.d_tag != DT_NEEDED && dyn.d_tag != DT_RUNPATH &&
			    dyn.d_tag != DT_RPATH)
				continue;
			s = elf_strptr(pe->elf, sh.sh_link, dyn.d_un.d_val);
			ret = s ? cb(dyn.d_tag, s, ctx) : 0;
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* Whether s is a CPython version: "3.11.2", "3.13.0rc1", "3.12.0a7+". */
static bool is_version_string(const char *s, size_t len)
{
	size_t i = 0, dots = 0;

	if (len < 5 || len > 16 || (s[0] != '2' && s[0] != '3') || s[1] != '.')
		return false;
	for (i = 2; i < len && (isdigit((unsigned char)s[i]) || s[i] == '.'); i++)
		dots += s[i] == '.';
	if (dots != 1 || s[i - 1] == '.')
		return false;
	for (; i < len; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '+')
			return false;
	}
	return true;
}

/*
 * Where a version string starts in the string s (n bytes), or n when none:
 * s itself, or its tail after the last '-' or '/' (the linker merges
 * "3.10.13" into a string that ends with it, such as the prefix
 * "/root/.pyenv/versions/3.10.13" or a directory "Python-3.10.13").
 */
static size_t version_tail(const char *s, size_t n)
{
	size_t k = n;

	if (is_version_string(s, n))
		return 0;
	while (k > 0 && s[k - 1] != '-' && s[k - 1] != '/')
		k--;
	return k > 0 && is_version_string(s + k, n - k) ? k : n;
}

/* The PY_VERSION string, searched for in .rodata (before 3.11: no Py_Version). */
static bool pyelf__version_string(const struct pyelf *pe, char *out, size_t len)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(pe->elf, &shstrndx) != 0)
		return false;
	while ((scn = elf_nextscn(pe->elf, scn))) {
		GElf_Shdr sh;
		const char *name;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS)
			continue;
		name = elf_strptr(pe->elf, shstrndx, sh.sh_name);
		if (!name || strcmp(name, ".rodata") != 0 || sh.sh_size > MAX_RODATA_SCAN)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data || !data->d_buf)
			return false;
		const char *p = data->d_buf, *end = p + data->d_size;
		while (p < end) {
			size_t n = strnlen(p, (size_t)(end - p));
			size_t k = version_tail(p, n);

			if (k < n && n - k < len) {
				memcpy(out, p + k, n - k);
				out[n - k] = '\0';
				return true;
			}
			p += n + 1;
		}
	}
	return false;
}

static void format_version(unsigned int hex, char *out, size_t len)
{
	unsigned int level = (hex >> 4) & 0xf, serial = hex & 0xf;
	const char *tag = level == 0xa ? "a" : level == 0xb ? "b" : level == 0xc ? "rc" : "";

	if (*tag)
		snprintf(out, len, "%u.%u.%u%s%u", hex >> 24, (hex >> 16) & 0xff, (hex >> 8) & 0xff,
			 tag, serial);
	else
		snprintf(out, len, "%u.%u.%u", hex >> 24, (hex >> 16) & 0xff, (hex >> 8) & 0xff);
}

/* "3.9" from a name such as "libpython3.9.so.1.0" or "python3.9"; false when none. */
static bool version_from_name(const char *name, char *out, size_t len)
{
	const char *p = strstr(name, "python");
	unsigned int major, minor;
	int n = 0;

	if (!p || !isdigit((unsigned char)p[6]) ||
	    sscanf(p, "python%u.%u%n", &major, &minor, &n) != 2 || n == 0)
		return false;
	snprintf(out, len, "%u.%u", major, minor);
	return true;
}

struct libpython_search {
	const char *origin; /* the executable's directory */
	char root[64];	    /* "/proc/PID/root" of a container's executable, else "" */
	char runpath[1024];
	char needed[256];
};

static int collect_dynamic(int64_t tag, const char *s, void *ctx)
{
	struct libpython_search *ls = ctx;

	if (tag == DT_NEEDED && !ls->needed[0] && fnmatch("libpython*", s, 0) == 0)
		snprintf(ls->needed, sizeof(ls->needed), "%s", s);
	else if (tag != DT_NEEDED && !ls->runpath[0])
		snprintf(ls->runpath, sizeof(ls->runpath), "%s", s);
	return 0;
}

/* Finds ls->needed in the run path ($ORIGIN expanded), else as the loader would. */
static int find_libpython(const struct libpython_search *ls, char *out, size_t len)
{
	char dirs[1024], *save = NULL;

	snprintf(dirs, sizeof(dirs), "%s", ls->runpath);
	for (char *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		const char *rest = dir;
		const char *base = ls->root; /* an absolute directory: in the executable's root */

		if (strncmp(dir, "$ORIGIN", 7) == 0) {
			base = ls->origin;
			rest = dir + 7;
		}
		int n = snprintf(out, len, "%s%s/%s", base, rest, ls->needed);
		if (n > 0 && (size_t)n < len && access(out, R_OK) == 0)
			return 0;
	}
	if (ls->root[0])
		return tt_find_library_in(ls->root, ls->needed, out, len);
	return tt_find_library(ls->needed, out, len);
}

/* "/proc/PID/root" when path is inside it (a container's file seen from the host), else "". */
static void root_of(const char *path, char *root, size_t len)
{
	int pid = 0, n = 0;

	root[0] = '\0';
	if (sscanf(path, "/proc/%d/root/%n", &pid, &n) == 1 && n > 0)
		snprintf(root, len, "/proc/%d/root", pid);
}

static int pyelf__open(struct pyelf *pe, int fd)
{
	pe->fd = fd;
	pe->elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!pe->elf || elf_kind(pe->elf) != ELF_K_ELF || !gelf_getehdr(pe->elf, &pe->ehdr)) {
		if (pe->elf)
			elf_end(pe->elf);
		pe->elf = NULL;
		return -ENOEXEC;
	}
	return 0;
}

static bool build_is_known(const char *build_id)
{
	for (size_t i = 0; i < sizeof(known_builds) / sizeof(known_builds[0]); i++) {
		if (strcmp(known_builds[i].build_id, build_id) == 0)
			return true;
	}
	return false;
}

/* Reads the version, and the 3.13+ debug offsets, of a file that has _PyRuntime. */
static int inspect_runtime(const struct pyelf *pe, const GElf_Sym *runtime, const char *shown,
			   struct tt_py_binary *bin, char *err, size_t errlen)
{
	GElf_Sym vsym;
	uint64_t hex = 0;

	bin->runtime_addr = runtime->st_value;
	bin->runtime_size = runtime->st_size;
	bin->pie = pe->ehdr.e_type == ET_DYN;
	pyelf__build_id(pe, bin->build_id, sizeof(bin->build_id));
	if (pyelf__symbol(pe, "Py_Version", &vsym) == 0 && vsym.st_size >= 4 &&
	    pyelf__read(pe, vsym.st_value, &hex, vsym.st_size >= 8 ? 8 : 4) == 0) {
		bin->version_hex = (unsigned int)hex;
		format_version(bin->version_hex, bin->version, sizeof(bin->version));
	} else if (pyelf__version_string(pe, bin->version, sizeof(bin->version))) {
		unsigned int major = 0, minor = 0, micro = 0;

		sscanf(bin->version, "%u.%u.%u", &major, &minor, &micro);
		bin->version_hex = major << 24 | minor << 16 | micro << 8;
	} else if (!version_from_name(shown, bin->version, sizeof(bin->version))) {
		snprintf(err, errlen,
			 "cannot tell which python '%s' is: no Py_Version, no version "
			 "string",
			 shown);
		return -ESRCH;
	}
	bin->offsets = bin->version_hex ? tt_py__offsets_for(bin->version_hex) : NULL;
	if (!bin->offsets) {
		snprintf(err, errlen,
			 "python %s at '%s': no offsets for this version; tasktap "
			 "knows %s",
			 bin->version, shown, tt_py__known_versions());
		return -ENOTSUP;
	}
	bin->known_build = build_is_known(bin->build_id);
	if (bin->version_hex >= 0x030d0000) {
		char block[1024], why[256];
		int ret;

		if (pyelf__read(pe, bin->runtime_addr, block, sizeof(block)) != 0) {
			snprintf(err, errlen, "python %s at '%s': cannot read its _PyRuntime",
				 bin->version, shown);
			return -EPROTO;
		}
		ret = tt_py__check_debug_offsets(bin->offsets, block, sizeof(block), why,
						 sizeof(why));
		if (ret) {
			snprintf(err, errlen, "python %s at '%s': %s", bin->version, shown, why);
			return -EPROTO;
		}
		bin->debug_offsets = true;
	}
	return 0;
}

static int inspect_file(int fd, const char *shown, struct tt_py_binary *bin, char *err,
			size_t errlen, int depth);

/* An executable without _PyRuntime: the libpython it loads, if any. */
static int inspect_libpython(const struct pyelf *pe, const char *shown, struct tt_py_binary *bin,
			     char *err, size_t errlen, int depth)
{
	struct libpython_search ls = {0};
	char dir[4096], lib[4096];
	int fd, ret;

	snprintf(dir, sizeof(dir), "%s", shown);
	ls.origin = dirname(dir);
	root_of(shown, ls.root, sizeof(ls.root));
	pyelf__for_each_dynamic(pe, collect_dynamic, &ls);
	if (version_from_name(shown, bin->version, sizeof(bin->version)) && !ls.needed[0]) {
		/* before 3.7: no _PyRuntime at all */
		snprintf(err, errlen,
			 "python %s at '%s': no offsets for this version; tasktap "
			 "knows %s",
			 bin->version, shown, tt_py__known_versions());
		return -ENOTSUP;
	}
	if (!ls.needed[0] || depth > 0) {
		snprintf(err, errlen,
			 "'%s' is not a python interpreter: no _PyRuntime, no "
			 "libpython",
			 shown);
		return -ESRCH;
	}
	if (find_libpython(&ls, lib, sizeof(lib)) != 0) {
		version_from_name(ls.needed, bin->version, sizeof(bin->version));
		snprintf(err, errlen, "cannot find '%s', the libpython '%s' loads", ls.needed,
			 shown);
		return -ENOENT;
	}
	fd = open(lib, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open '%s', the libpython '%s' loads: %s", lib, shown,
			 strerror(-ret));
		return ret;
	}
	ret = inspect_file(fd, lib, bin, err, errlen, depth + 1);
	close(fd);
	return ret;
}

static int inspect_file(int fd, const char *shown, struct tt_py_binary *bin, char *err,
			size_t errlen, int depth)
{
	struct pyelf pe;
	GElf_Sym runtime;
	int ret;

	snprintf(bin->path, sizeof(bin->path), "%s", shown);
	if (pyelf__open(&pe, fd) != 0) {
		snprintf(err, errlen, "cannot read '%s': not an ELF file", shown);
		return -ENOEXEC;
	}
	if (pyelf__symbol(&pe, "_PyRuntime", &runtime) == 0)
		ret = inspect_runtime(&pe, &runtime, shown, bin, err, errlen);
	else
		ret = inspect_libpython(&pe, shown, bin, err, errlen, depth);
	elf_end(pe.elf);
	return ret;
}

int tt_py__inspect_fd(int fd, const char *shown, struct tt_py_binary *bin, char *err, size_t errlen)
{
	memset(bin, 0, sizeof(*bin));
	if (elf_version(EV_CURRENT) == EV_NONE) {
		snprintf(err, errlen, "cannot read '%s': libelf is too old", shown);
		return -ENOEXEC;
	}
	return inspect_file(fd, shown, bin, err, errlen, 0);
}

int tt_py__inspect_as(const char *path, const char *shown, struct tt_py_binary *bin, char *err,
		      size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0) {
		ret = -errno;
		memset(bin, 0, sizeof(*bin));
		snprintf(err, errlen, "cannot open '%s': %s", shown, strerror(-ret));
		return ret;
	}
	ret = tt_py__inspect_fd(fd, shown, bin, err, errlen);
	close(fd);
	/* the file itself holds _PyRuntime: by the path this process opens, not as shown */
	if (strcmp(bin->path, shown) == 0)
		snprintf(bin->path, sizeof(bin->path), "%s", path);
	return ret;
}

int tt_py__inspect(const char *path, struct tt_py_binary *bin, char *err, size_t errlen)
{
	return tt_py__inspect_as(path, path, bin, err, errlen);
}
