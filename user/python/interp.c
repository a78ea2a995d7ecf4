// SPDX-License-Identifier: MIT
/* interp.c: where a CPython interpreter's functions start and end, and a hook's settings. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elf.h"
#include "python/interp.h"
#include "python/offsets.h"

#define OPCODES 256

/*
 * The opcodes a function's first instruction has, by minor version
 * (Include/opcode.h, 3.13: Include/opcode_ids.h): RESUME, what it is
 * specialized into once the code is quickened, and the instrumented form
 * sys.monitoring (or a tracer) puts in its place; 0 for none.
 */
static const struct {
	unsigned int minor;
	int op[TT_PY_ENTRY_SITES];
} resume_ops[] = {
	{0x030b0000, {151, 150, 0}},   /* RESUME, RESUME_QUICK */
	{0x030c0000, {151, 240, 0}},   /* RESUME, INSTRUMENTED_RESUME */
	{0x030d0000, {149, 207, 236}}, /* RESUME, RESUME_CHECK, INSTRUMENTED_RESUME */
};

struct interp_elf {
	Elf *e;
	int fd;
	GElf_Sym eval; /* _PyEval_EvalFrameDefault */
	GElf_Sym runtime;
	GElf_Sym pop; /* _PyThreadState_PopFrame */
	bool have_eval, have_runtime, have_pop;
	uint64_t text_lo, text_hi; /* the executable segment's addresses */
};

/* The file offset of address `addr` in a PT_LOAD segment, or 0. */
static uint64_t file_offset(Elf *e, uint64_t addr)
{
	size_t n = 0;

	if (elf_getphdrnum(e, &n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (addr >= ph.p_vaddr && addr < ph.p_vaddr + ph.p_filesz)
			return addr - ph.p_vaddr + ph.p_offset;
	}
	return 0;
}

static void find_symbols(struct interp_elf *ie)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(ie->e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB))
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && sh.sh_entsize && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(d, (int)i, &sym) || !sym.st_value)
				continue;
			name = elf_strptr(ie->e, sh.sh_link, sym.st_name);
			if (!name)
				continue;
			if (!strcmp(name, "_PyEval_EvalFrameDefault")) {
				ie->eval = sym;
				ie->have_eval = true;
			} else if (!strcmp(name, "_PyRuntime")) {
				ie->runtime = sym;
				ie->have_runtime = true;
			} else if (!strcmp(name, "_PyThreadState_PopFrame") &&
				   GELF_ST_TYPE(sym.st_info) == STT_FUNC) {
				ie->pop = sym;
				ie->have_pop = true;
			}
		}
	}
}

static void find_text(struct interp_elf *ie)
{
	size_t n = 0;

	if (elf_getphdrnum(ie->e, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(ie->e, (int)i, &ph) && ph.p_type == PT_LOAD &&
		    (ph.p_flags & PF_X)) {
			ie->text_lo = ph.p_vaddr;
			ie->text_hi = ph.p_vaddr + ph.p_memsz;
		}
	}
}

/*
 * Whether the 256 words at `w` are the interpreter's computed-goto table
 * (opcode_targets): each a code address, most of them inside
 * _PyEval_EvalFrameDefault (the others in its cold part).
 */
static bool is_goto_table(const struct interp_elf *ie, const uint64_t *w)
{
	uint64_t lo = ie->eval.st_value, hi = lo + ie->eval.st_size;
	int inside = 0;

	for (int k = 0; k < OPCODES; k++) {
		if (w[k] < ie->text_lo || w[k] >= ie->text_hi)
			return false;
		inside += w[k] >= lo && w[k] < hi;
	}
	return inside >= OPCODES / 2;
}

/* Finds the goto table in the allocated data sections; copies it into table. Returns how many. */
static int find_goto_table(const struct interp_elf *ie, uint64_t *table)
{
	Elf_Scn *scn = NULL;
	int found = 0;

	while ((scn = elf_nextscn(ie->e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(sh.sh_flags & SHF_ALLOC) || (sh.sh_flags & SHF_EXECINSTR))
			continue;
		d = elf_getdata(scn, NULL);
		if (!d || !d->d_buf || d->d_size < OPCODES * 8)
			continue;
		for (size_t off = 0; off + OPCODES * 8 <= d->d_size; off += 8) {
			const uint64_t *w = (const uint64_t *)((const char *)d->d_buf + off);

			if (!is_goto_table(ie, w))
				continue;
			if (!found)
				memcpy(table, w, OPCODES * 8);
			found++;
			off += OPCODES * 8 - 8;
		}
	}
	return found;
}

/* Bytes of a ModRM operand (ModRM, SIB, displacement) at p, or 0 when it runs past n. */
static size_t modrm_len(const uint8_t *p, size_t n)
{
	uint8_t mod, rm;
	size_t len = 1;

	if (n < 1)
		return 0;
	mod = p[0] >> 6;
	rm = p[0] & 7;
	if (mod != 3 && rm == 4) {
		if (n < 2)
			return 0;
		len++;
		if (mod == 0 && (p[1] & 7) == 5)
			len += 4;
	}
	if (mod == 1)
		len += 1;
	else if (mod == 2 || (mod == 0 && rm == 5))
		len += 4;
	return len <= n ? len : 0;
}

/*
 * Length of the instruction at p when it is one of the plain forms a
 * handler starts with (moves, loads, lea, arithmetic, test, compare: no
 * branch, no call), else 0.
 */
static size_t plain_insn_len(const uint8_t *p, size_t n)
{
	size_t i = 0, m;

	while (i < n && (p[i] == 0x66 || (p[i] & 0xf0) == 0x40))
		i++; /* operand-size prefix, REX */
	if (i >= n)
		return 0;
	switch (p[i]) {
	case 0x30: /* xor, cmp, test of bytes */
	case 0x32:
	case 0x38:
	case 0x3a:
	case 0x84:
	case 0x01:
	case 0x03:
	case 0x09:
	case 0x0b:
	case 0x21:
	case 0x23:
	case 0x29:
	case 0x2b:
	case 0x31:
	case 0x33:
	case 0x39:
	case 0x3b:
	case 0x85:
	case 0x89:
	case 0x8b:
	case 0x8d:
		m = modrm_len(p + i + 1, n - i - 1);
		return m ? i + 1 + m : 0;
	case 0x83:
	case 0xc1:
		m = modrm_len(p + i + 1, n - i - 1);
		return m && i + 2 + m <= n ? i + 2 + m : 0;
	case 0x0f:
		if (i + 1 < n && (p[i + 1] == 0xb6 || p[i + 1] == 0xb7)) {
			m = modrm_len(p + i + 2, n - i - 2);
			return m ? i + 2 + m : 0;
		}
		return 0;
	default:
		return 0;
	}
}

/*
 * Whether p starts a jump, conditional or not (which uprobes emulate rather
 * than single-step): pyenv's 3.11 RESUME_QUICK is three moves and a jmp
 * into RESUME's body.
 */
static bool is_jump(const uint8_t *p, size_t n)
{
	return (n >= 2 && ((p[0] & 0xf0) == 0x70 || p[0] == 0xeb)) || (n >= 5 && p[0] == 0xe9) ||
	       (n >= 6 && p[0] == 0x0f && (p[1] & 0xf0) == 0x80);
}

/*
 * Where in the handler at file offset `at` to put the uprobe: its first
 * jump when only plain instructions come before it (the
 * handler always reaches it, having changed no memory BPF reads; the
 * kernel emulates a jump but single-steps a load, ~10 times slower), else
 * the handler's start.
 */
static uint64_t probe_spot(int fd, uint64_t at, bool *stepped)
{
	uint8_t code[64];
	ssize_t n = pread(fd, code, sizeof(code), (off_t)at);
	size_t i = 0, len;

	while (n > 0 && i < (size_t)n) {
		if (is_jump(code + i, (size_t)n - i))
			return at + i;
		len = plain_insn_len(code + i, (size_t)n - i);
		if (!len)
			break;
		i += len;
	}
	*stepped = true;
	return at;
}

/* The entry opcodes of minor version `hex`, or NULL. */
static const int *entry_ops(unsigned int hex)
{
	for (size_t i = 0; i < sizeof(resume_ops) / sizeof(resume_ops[0]); i++) {
		if (resume_ops[i].minor == (hex & 0xffff0000))
			return resume_ops[i].op;
	}
	return NULL;
}

/* Where functions start: the probes in the handlers of the entry opcodes. */
static int find_entries(struct interp_elf *ie, const char *shown, struct tt_py_interp *out,
			char *err, size_t errlen)
{
	const int *ops = entry_ops(out->version_hex);
	uint64_t table[OPCODES];
	int n = find_goto_table(ie, table);

	if (n != 1 || !ops) {
		snprintf(err, errlen,
			 "cannot find where Python functions start in '%s': %s interpreter "
			 "dispatch tables",
			 shown, n > 1 ? "more than one" : "no");
		return -ENOTSUP;
	}
	for (int i = 0; i < TT_PY_ENTRY_SITES && ops[i]; i++) {
		uint64_t at = file_offset(ie->e, table[ops[i]]);
		uint64_t spot = at ? probe_spot(ie->fd, at, &out->stepped) : 0;

		if (!at) {
			snprintf(err, errlen,
				 "cannot find where Python functions start in '%s': opcode %d's "
				 "handler is outside the file",
				 shown, ops[i]);
			return -ENOTSUP;
		}
		out->entry[i] = spot;
		out->entry_addr[i] = table[ops[i]] + (spot - at);
	}
	return 0;
}

/*
 * Where frames end: the python:function__return USDT site (with the
 * semaphore that makes the interpreter get there), else the start of
 * _PyThreadState_PopFrame(tstate, frame), which pops every frame a thread
 * owns, whichever way it ends.
 */
static int find_return(struct interp_elf *ie, struct tt_elf *elf, const char *shown,
		       struct tt_py_interp *out, char *err, size_t errlen)
{
	const struct tt_usdt_note *ret =
		elf ? tt_elf__usdt(elf, "python", "function__return") : NULL;

	if (ret && ret->pc_offset && ret->sem_offset) {
		out->ret_kind = TT_PY_RET_USDT;
		out->ret_site = ret->pc_offset;
		out->ret_addr = ret->pc;
		out->ret_sem = ret->sem_offset;
		return 0;
	}
	if (ie->have_pop) {
		out->ret_kind = TT_PY_RET_POPFRAME;
		out->ret_site = file_offset(ie->e, ie->pop.st_value);
		out->ret_addr = ie->pop.st_value;
		out->ret_sem = 0;
		if (out->ret_site)
			return 0;
	}
	snprintf(err, errlen,
		 "cannot find where Python functions end in '%s': no USDT probe "
		 "python:function__return with a semaphore (a build without --with-dtrace) "
		 "and no _PyThreadState_PopFrame in its symbols (stripped)",
		 shown);
	return -ENOTSUP;
}

/*
 * Reads which CPython the file at `path` is and where its interpreter is
 * (the file itself, or the libpython it loads), refusing a version the
 * offsets table does not know with the version found (python/offsets.h).
 * 0, or -ENOTSUP or -errno with the reason in err.
 */
static int check_version(const char *path, struct tt_py_interp *out, char *err, size_t errlen)
{
	struct tt_py_binary bin;
	/* by its path, not as shown: a libpython it loads is looked for under that path's root */
	int ret = tt_py__inspect(path, &bin, err, errlen);

	if (ret)
		return ret == -ENOENT || ret == -EACCES ? ret : -ENOTSUP;
	snprintf(out->path, sizeof(out->path), "%s", bin.path);
	snprintf(out->version, sizeof(out->version), "%s", bin.version);
	out->version_hex = bin.version_hex;
	snprintf(out->build_id, sizeof(out->build_id), "%s", bin.build_id);
	out->known_build = bin.known_build;
	return 0;
}

int tt_py_interp__find(struct tt_elf *elf, const char *path, const char *shown,
		       struct tt_py_interp *out, char *err, size_t errlen)
{
	struct interp_elf ie = {.fd = -1};
	bool own = false;
	GElf_Ehdr eh;
	int ret;

	memset(out, 0, sizeof(*out));
	elf_version(EV_CURRENT);
	ret = check_version(path, out, err, errlen);
	if (ret)
		return ret;
	/* a libpython: its own USDT notes, if any */
	own = strcmp(out->path, path) != 0;
	if (own)
		elf = tt_elf__open(out->path);
	ie.fd = open(out->path, O_RDONLY | O_CLOEXEC);
	if (ie.fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open '%s', the interpreter of '%s': %s", out->path,
			 shown, strerror(-ret));
		goto out;
	}
	ie.e = elf_begin(ie.fd, ELF_C_READ, NULL);
	if (!ie.e || !gelf_getehdr(ie.e, &eh)) {
		snprintf(err, errlen, "'%s' is not an ELF file", out->path);
		ret = -ENOEXEC;
		goto out;
	}
	find_symbols(&ie);
	find_text(&ie);
	if (!ie.have_eval || !ie.have_runtime) {
		snprintf(err, errlen,
			 "'%s' is not a CPython interpreter tasktap can read: it has no %s symbol",
			 out->path, ie.have_eval ? "_PyRuntime" : "_PyEval_EvalFrameDefault");
		ret = -ENOTSUP;
		goto out;
	}
	out->runtime = ie.runtime.st_value;
	ret = find_entries(&ie, out->path, out, err, errlen);
	if (!ret)
		ret = find_return(&ie, elf, out->path, out, err, errlen);
out:
	if (ie.e)
		elf_end(ie.e);
	if (ie.fd >= 0)
		close(ie.fd);
	if (own)
		tt_elf__free(elf);
	return ret;
}

/* Checks one side of module:qualname: a name, a prefix ending in '*', or '*'. */
static int check_part(const char *s, size_t len, const char *what, const char *function, char *err,
		      size_t errlen)
{
	if (len == 0) {
		snprintf(err, errlen, "empty %s in python function '%s' (expected module:qualname)",
			 what, function);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if ((s[i] == '*' && i != len - 1) || s[i] == '?' || s[i] == '[') {
			snprintf(err, errlen,
				 "unsupported glob in python function '%s': only a final '*' "
				 "(a prefix) is matched",
				 function);
			return -EINVAL;
		}
	}
	if (len >= TT_PY_NAME_MAX) {
		snprintf(err, errlen, "%s of python function '%s' is longer than %d characters",
			 what, function, TT_PY_NAME_MAX - 1);
		return -EINVAL;
	}
	return 0;
}

int tt_py_function__check(const char *function, char *err, size_t errlen)
{
	const char *colon = strchr(function, ':');
	int ret;

	if (!colon || strchr(colon + 1, ':')) {
		snprintf(err, errlen,
			 "expected module:qualname for a python function, found '%s' (as "
			 "'rq.worker:Worker.perform_job')",
			 function);
		return -EINVAL;
	}
	ret = check_part(function, (size_t)(colon - function), "module", function, err, errlen);
	if (!ret)
		ret = check_part(colon + 1, strlen(colon + 1), "qualname", function, err, errlen);
	return ret;
}

static void set_pattern(struct tt_py_pattern *p, const char *s, size_t len)
{
	memset(p, 0, sizeof(*p));
	p->kind = TT_PY_MATCH_EXACT;
	if (len && s[len - 1] == '*') {
		p->kind = TT_PY_MATCH_PREFIX;
		len--;
	}
	memcpy(p->text, s, len);
	p->len = (__u32)len;
}

/* Offsets as BPF takes them: 16 bits, TT_PY_NONE for one the version lacks. */
static __u16 off16(short v)
{
	return v == TT_PY_ABSENT ? TT_PY_NONE : (__u16)v;
}

/* The hook's offsets, from the version's row. */
static void set_offsets(struct tt_py_hook *ph, const struct tt_py_offsets *o)
{
	ph->long_layout = o->long_layout;
	ph->dict_layout = o->dict_layout;
	ph->exc_is_type = o->tstate_curexc_type != TT_PY_ABSENT;
	ph->runtime_interpreters_head = off16(o->runtime_interpreters_head);
	ph->interp_threads_head = off16(o->interp_threads_head);
	ph->tstate_next = off16(o->tstate_next);
	ph->tstate_native_thread_id = off16(o->tstate_native_thread_id);
	ph->tstate_cframe = off16(o->tstate_cframe);
	ph->cframe_current_frame = off16(o->cframe_current_frame);
	ph->tstate_current_frame = off16(o->tstate_current_frame);
	ph->tstate_exc =
		off16(ph->exc_is_type ? o->tstate_curexc_type : o->tstate_current_exception);
	ph->frame_code = off16(o->frame_code);
	ph->frame_func = off16(o->frame_func);
	ph->frame_owner = off16(o->frame_owner);
	ph->frame_localsplus = off16(o->frame_localsplus);
	ph->func_module = off16(o->func_module);
	ph->code_filename = off16(o->code_filename);
	ph->code_qualname = off16(o->code_qualname);
	ph->code_localsplusnames = off16(o->code_localsplusnames);
	ph->unicode_state = off16(o->unicode_state);
	ph->unicode_length = off16(o->unicode_length);
	ph->unicode_ascii_data = off16(o->unicode_ascii_data);
	ph->unicode_compact_utf8 = off16(o->unicode_compact_utf8);
	ph->obj_type = off16(o->obj_type);
	ph->type_name = off16(o->type_name);
	ph->type_flags = off16(o->type_flags);
	ph->type_basicsize = off16(o->type_basicsize);
	ph->heaptype_cached_keys = off16(o->heaptype_cached_keys);
	ph->obj_managed_dict = off16(o->obj_managed_dict);
	ph->obj_managed_values = off16(o->obj_managed_values);
	ph->var_size = off16(o->var_size);
	ph->tuple_items = off16(o->tuple_items);
	ph->long_tag = off16(o->long_tag);
	ph->long_digits = off16(o->long_digits);
	ph->bytes_size = off16(o->bytes_size);
	ph->bytes_data = off16(o->bytes_data);
	ph->dict_keys = off16(o->dict_keys);
	ph->dict_values = off16(o->dict_values);
	ph->keys_log2_index_bytes = off16(o->keys_log2_index_bytes);
	ph->keys_kind = off16(o->keys_kind);
	ph->keys_nentries = off16(o->keys_nentries);
	ph->keys_indices = off16(o->keys_indices);
	ph->dictvalues_values = off16(o->dictvalues_values);
	ph->dictvalues_valid = off16(o->dictvalues_valid);
	ph->frame_instr = off16(o->frame_prev_instr);
	ph->code_nlocalsplus = off16(o->code_nlocalsplus);
	ph->code_consts = off16(o->code_consts);
	ph->op_return_value = o->op_return_value;
	ph->op_return_const = o->op_return_const;
	ph->op_pop_top = o->op_pop_top;
	ph->op_yield_value = o->op_yield_value;
}

/*
 * Generators and coroutines are followed where the frame end's site also
 * sees their yields, the generator's state telling one from the other:
 * 3.11's function__return (it fires at YIELD_VALUE too). Elsewhere (3.11's
 * _PyFrame_Clear, 3.12's _PyEvalFrameClearAndPop) BPF only counts them.
 */
bool tt_py_interp__follows_generators(const struct tt_py_interp *pi)
{
	return (pi->version_hex & 0xffff0000) == 0x030b0000 && pi->ret_kind == TT_PY_RET_USDT;
}

int tt_py_hook__init(struct tt_py_hook *ph, const struct tt_py_interp *pi, const char *function,
		     char *err, size_t errlen)
{
	const struct tt_py_offsets *o;
	const char *colon;
	int ret = tt_py_function__check(function, err, errlen);

	if (ret)
		return ret;
	o = tt_py__offsets_for(pi->version_hex);
	/* BPF reads co_filename, co_name and co_qualname at once */
	if (!o || o->code_qualname != o->code_filename + 16) {
		snprintf(err, errlen, "no offsets of python %s tasktap's Python probes can use",
			 pi->version);
		return -ENOTSUP;
	}
	colon = strchr(function, ':');
	memset(ph, 0, sizeof(*ph));
	ph->version = o->version_hex;
	ph->runtime = pi->runtime;
	for (int i = 0; i < TT_PY_ENTRY_SITES; i++)
		ph->site[TT_PY_SITE_ENTRY0 + i] = pi->entry_addr[i];
	ph->site[TT_PY_SITE_RETURN] = pi->ret_addr;
	ph->ret_kind = (__u8)pi->ret_kind;
	set_offsets(ph, o);
	ph->gen_frame_state =
		tt_py_interp__follows_generators(pi) ? off16(o->gen_frame_state) : TT_PY_NONE;
	set_pattern(&ph->module, function, (size_t)(colon - function));
	set_pattern(&ph->qualname, colon + 1, strlen(colon + 1));
	return 0;
}
