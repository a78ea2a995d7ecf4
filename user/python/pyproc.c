/* SPDX-License-Identifier: MIT */
/* A running CPython read through /proc/PID/mem (see pyproc.h). */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"
#include "python/pyproc.h"

#define MAX_THREADS	 256   /* thread states walked */
#define MAX_FRAMES	 512   /* frames walked on one thread's stack */
#define MAX_DICT_ENTRIES 65536 /* entries of one dict read */
#define MAX_CLASS_DEPTH	 4     /* classes nested in classes */
#define NAME_MAX_LEN	 512   /* bytes of a str read */
#define TYPE_CACHE	 128

#define TPFLAGS_TYPE_SUBCLASS (1UL << 31)

struct type_name {
	uint64_t type;
	char name[32];
};

struct found {
	char *key; /* "module:qualname"; owned */
	char *filename;
	int line;
	int on_stack;
};

struct tt_py_proc {
	pid_t pid;
	int mem;
	struct tt_py_binary bin;
	const struct tt_py_offsets *o;
	uint64_t runtime;
	uint64_t interp;
	struct type_name types[TYPE_CACHE];
	size_t ntypes;
	/* objects already walked (classes, functions): an open-addressing set */
	uint64_t *seen;
	size_t seen_cap, seen_n;
	struct found *found;
	size_t nfound, cap_found;
};

/* ---- reading the process --------------------------------------------------- */

static int rd(const struct tt_py_proc *p, uint64_t addr, void *buf, size_t len)
{
	if (!addr || pread(p->mem, buf, len, (off_t)addr) != (ssize_t)len)
		return -EFAULT;
	return 0;
}

static uint64_t rd_ptr(const struct tt_py_proc *p, uint64_t addr)
{
	uint64_t v = 0;

	return rd(p, addr, &v, sizeof(v)) ? 0 : v;
}

static int64_t rd_i32(const struct tt_py_proc *p, uint64_t addr)
{
	int32_t v = 0;

	return rd(p, addr, &v, sizeof(v)) ? 0 : v;
}

/* The name of the type of object obj ("function", "dict"), or "" when unreadable. */
static const char *type_name(struct tt_py_proc *p, uint64_t obj)
{
	uint64_t type = rd_ptr(p, obj + (uint64_t)p->o->obj_type);
	struct type_name *t;
	uint64_t name;

	if (!type)
		return "";
	for (size_t i = 0; i < p->ntypes; i++) {
		if (p->types[i].type == type)
			return p->types[i].name;
	}
	t = &p->types[p->ntypes < TYPE_CACHE ? p->ntypes++ : TYPE_CACHE - 1];
	t->type = type;
	t->name[0] = '\0';
	name = rd_ptr(p, type + (uint64_t)p->o->type_name);
	if (name && rd(p, name, t->name, sizeof(t->name) - 1) != 0)
		t->name[0] = '\0';
	t->name[sizeof(t->name) - 1] = '\0';
	return t->name;
}

static bool is_a(struct tt_py_proc *p, uint64_t obj, const char *name)
{
	return obj && strcmp(type_name(p, obj), name) == 0;
}

/* Appends code point c as UTF-8. */
static size_t put_utf8(char *out, size_t used, size_t len, uint32_t c)
{
	char b[4];
	size_t n;

	if (c < 0x80) {
		b[0] = (char)c;
		n = 1;
	} else if (c < 0x800) {
		b[0] = (char)(0xc0 | c >> 6);
		b[1] = (char)(0x80 | (c & 0x3f));
		n = 2;
	} else if (c < 0x10000) {
		b[0] = (char)(0xe0 | c >> 12);
		b[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		b[2] = (char)(0x80 | (c & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | c >> 18);
		b[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((c >> 6) & 0x3f));
		b[3] = (char)(0x80 | (c & 0x3f));
		n = 4;
	}
	if (used + n >= len)
		return used;
	memcpy(out + used, b, n);
	return used + n;
}

/*
 * Reads the str object at obj into out as UTF-8 (len bytes, NUL-terminated).
 * 0, or -EFAULT when it is not a compact str or cannot be read.
 */
static int rd_str(struct tt_py_proc *p, uint64_t obj, char *out, size_t len)
{
	const struct tt_py_offsets *o = p->o;
	unsigned char raw[NAME_MAX_LEN * 4];
	int64_t length = 0;
	uint32_t state = 0;
	unsigned int kind;
	size_t used = 0;

	out[0] = '\0';
	if (!is_a(p, obj, "str") || rd(p, obj + (uint64_t)o->unicode_length, &length, 8) ||
	    rd(p, obj + (uint64_t)o->unicode_state, &state, 4))
		return -EFAULT;
	kind = (state >> TT_PY_STATE_KIND_SHIFT) & TT_PY_STATE_KIND_MASK;
	if (!(state & TT_PY_STATE_COMPACT) || length < 0 || (kind != 1 && kind != 2 && kind != 4))
		return -EFAULT;
	if (length > NAME_MAX_LEN)
		length = NAME_MAX_LEN;
	uint64_t data = obj + (uint64_t)((state & TT_PY_STATE_ASCII) ? o->unicode_ascii_data
								     : o->unicode_compact_data);
	if (rd(p, data, raw, (size_t)length * kind))
		return -EFAULT;
	for (int64_t i = 0; i < length; i++) {
		uint32_t c = kind == 1	 ? raw[i]
			     : kind == 2 ? (uint32_t)raw[2 * i] | (uint32_t)raw[2 * i + 1] << 8
					 : (uint32_t)raw[4 * i] | (uint32_t)raw[4 * i + 1] << 8 |
						   (uint32_t)raw[4 * i + 2] << 16 |
						   (uint32_t)raw[4 * i + 3] << 24;
		used = put_utf8(out, used, len, c);
	}
	out[used] = '\0';
	return 0;
}

/*
 * Calls cb(key, value) for each entry of the dict at obj (general, unicode
 * or split keys). Stops at cb's first non-zero value and returns it.
 */
static int dict_each(struct tt_py_proc *p, uint64_t dict,
		     int (*cb)(struct tt_py_proc *p, uint64_t key, uint64_t value, void *ctx),
		     void *ctx)
{
	const struct tt_py_offsets *o = p->o;
	uint64_t keys = rd_ptr(p, dict + (uint64_t)o->dict_keys);
	uint64_t values = rd_ptr(p, dict + (uint64_t)o->dict_values);
	uint8_t log2_index_bytes = 0, kind = 0;
	int64_t nentries = 0;
	size_t esize;
	uint64_t *buf = NULL, *vals = NULL;
	int ret = 0;

	if (!keys || rd(p, keys + (uint64_t)o->keys_log2_index_bytes, &log2_index_bytes, 1) ||
	    rd(p, keys + (uint64_t)o->keys_kind, &kind, 1) ||
	    rd(p, keys + (uint64_t)o->keys_nentries, &nentries, 8))
		return 0;
	if (nentries <= 0 || nentries > MAX_DICT_ENTRIES || log2_index_bytes > 40)
		return 0;
	esize = kind == TT_PY_DICT_KEYS_GENERAL ? TT_PY_DICT_ENTRY_GENERAL_SIZE
						: TT_PY_DICT_ENTRY_UNICODE_SIZE;
	buf = malloc((size_t)nentries * esize);
	vals = values ? malloc((size_t)nentries * 8) : NULL;
	if (!buf || (values && !vals)) {
		ret = -ENOMEM;
		goto out;
	}
	if (rd(p, keys + (uint64_t)o->keys_indices + (1ULL << log2_index_bytes), buf,
	       (size_t)nentries * esize))
		goto out;
	if (values && rd(p, values + (uint64_t)o->dictvalues_values, vals, (size_t)nentries * 8))
		goto out;
	for (int64_t i = 0; i < nentries && !ret; i++) {
		const uint64_t *e = (const uint64_t *)((const char *)buf + (size_t)i * esize);
		uint64_t key = kind == TT_PY_DICT_KEYS_GENERAL ? e[1] : e[0];
		uint64_t value = values ? vals[i] : kind == TT_PY_DICT_KEYS_GENERAL ? e[2] : e[1];

		if (key && value)
			ret = cb(p, key, value, ctx);
	}
out:
	free(buf);
	free(vals);
	return ret;
}

/* ---- what was found -------------------------------------------------------- */

/* Adds obj to the set of objects walked; false when it was there already. */
static bool seen_add(struct tt_py_proc *p, uint64_t obj)
{
	if (p->seen_n * 2 >= p->seen_cap) {
		size_t cap = p->seen_cap ? p->seen_cap * 2 : 4096;
		uint64_t *seen = calloc(cap, sizeof(*seen));

		if (!seen)
			return false;
		for (size_t i = 0; i < p->seen_cap; i++) {
			uint64_t v = p->seen[i];
			size_t h = (size_t)(v * 0x9e3779b97f4a7c15ULL) & (cap - 1);

			while (v && seen[h])
				h = (h + 1) & (cap - 1);
			if (v)
				seen[h] = v;
		}
		free(p->seen);
		p->seen = seen;
		p->seen_cap = cap;
	}
	size_t h = (size_t)(obj * 0x9e3779b97f4a7c15ULL) & (p->seen_cap - 1);
	while (p->seen[h]) {
		if (p->seen[h] == obj)
			return false;
		h = (h + 1) & (p->seen_cap - 1);
	}
	p->seen[h] = obj;
	p->seen_n++;
	return true;
}

static int found_add(struct tt_py_proc *p, const char *module, const char *qualname, uint64_t code,
		     bool on_stack)
{
	struct found *f;
	char key[2 * NAME_MAX_LEN + 2], file[NAME_MAX_LEN * 2];

	snprintf(key, sizeof(key), "%s:%s", module, qualname);
	if (p->nfound == p->cap_found) {
		size_t cap = p->cap_found ? p->cap_found * 2 : 1024;
		struct found *n = realloc(p->found, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->found = n;
		p->cap_found = cap;
	}
	if (rd_str(p, rd_ptr(p, code + (uint64_t)p->o->code_filename), file, sizeof(file)))
		file[0] = '\0';
	f = &p->found[p->nfound];
	f->key = strdup(key);
	f->filename = strdup(file);
	f->line = (int)rd_i32(p, code + (uint64_t)p->o->code_firstlineno);
	f->on_stack = on_stack;
	if (!f->key || !f->filename) {
		free(f->key);
		free(f->filename);
		return -ENOMEM;
	}
	p->nfound++;
	return 0;
}

/* Adds the function object func, when it was defined in module `module` (or any, when NULL). */
static int add_function(struct tt_py_proc *p, uint64_t func, const char *module)
{
	const struct tt_py_offsets *o = p->o;
	char mod[NAME_MAX_LEN], qual[NAME_MAX_LEN];

	if (!is_a(p, func, "function"))
		return 0;
	/* a function is listed under the module defining it, not those importing it */
	if (rd_str(p, rd_ptr(p, func + (uint64_t)o->func_module), mod, sizeof(mod)) ||
	    (module && strcmp(mod, module) != 0) || !seen_add(p, func))
		return 0;
	if (rd_str(p, rd_ptr(p, func + (uint64_t)o->func_qualname), qual, sizeof(qual)))
		return 0;
	return found_add(p, mod, qual, rd_ptr(p, func + (uint64_t)o->func_code), false);
}

struct lookup {
	const char *name;
	uint64_t value;
};

static int lookup_str_key(struct tt_py_proc *p, uint64_t key, uint64_t value, void *ctx)
{
	struct lookup *l = ctx;
	char k[64];

	if (rd_str(p, key, k, sizeof(k)) == 0 && strcmp(k, l->name) == 0) {
		l->value = value;
		return 1;
	}
	return 0;
}

struct walk {
	const char *module;
	int depth;
};

static int walk_value(struct tt_py_proc *p, uint64_t key, uint64_t value, void *ctx);

/* Walks the class at cls: its functions, and the classes nested in it. */
static int walk_class(struct tt_py_proc *p, uint64_t cls, struct walk *w)
{
	struct walk inner = {.module = w->module, .depth = w->depth + 1};
	uint64_t dict;

	struct lookup l = {.name = "__module__"};
	char module[NAME_MAX_LEN];

	dict = rd_ptr(p, cls + (uint64_t)p->o->type_dict);
	if (w->depth >= MAX_CLASS_DEPTH || !is_a(p, dict, "dict"))
		return 0;
	/* walked from the module defining it, not from those importing it */
	dict_each(p, dict, lookup_str_key, &l);
	if (rd_str(p, l.value, module, sizeof(module)) || strcmp(module, w->module) != 0 ||
	    !seen_add(p, cls))
		return 0;
	return dict_each(p, dict, walk_value, &inner);
}

static bool is_class(struct tt_py_proc *p, uint64_t obj)
{
	uint64_t meta = rd_ptr(p, obj + (uint64_t)p->o->obj_type);
	uint64_t flags = 0, own = 0;

	if (!meta || rd(p, meta + (uint64_t)p->o->type_flags, &flags, 8) ||
	    !(flags & TPFLAGS_TYPE_SUBCLASS))
		return false;
	/* only classes written in Python: a heap type */
	return rd(p, obj + (uint64_t)p->o->type_flags, &own, 8) == 0 &&
	       (own & TT_PY_TPFLAGS_HEAPTYPE);
}

/* A module's or class's dict entry: a function, a wrapped one, or a class. */
static int walk_value(struct tt_py_proc *p, uint64_t key, uint64_t value, void *ctx)
{
	struct walk *w = ctx;
	const char *t = type_name(p, value);

	(void)key;
	if (strcmp(t, "function") == 0)
		return add_function(p, value, w->module);
	if (strcmp(t, "classmethod") == 0 || strcmp(t, "staticmethod") == 0 ||
	    strcmp(t, "property") == 0)
		return add_function(p, rd_ptr(p, value + (uint64_t)p->o->wrapped_callable),
				    w->module);
	if (is_class(p, value))
		return walk_class(p, value, w);
	return 0;
}

static int walk_module(struct tt_py_proc *p, uint64_t key, uint64_t module, void *ctx)
{
	char name[NAME_MAX_LEN];
	struct walk w = {.module = name};
	uint64_t dict;

	(void)ctx;
	if (!is_a(p, module, "module") || rd_str(p, key, name, sizeof(name)))
		return 0;
	dict = rd_ptr(p, module + (uint64_t)p->o->module_dict);
	return dict ? dict_each(p, dict, walk_value, &w) : 0;
}

/* The first thread state, or 0. */
static uint64_t first_tstate(const struct tt_py_proc *p)
{
	return rd_ptr(p, p->interp + (uint64_t)p->o->interp_threads_head);
}

static uint64_t current_frame(const struct tt_py_proc *p, uint64_t tstate)
{
	const struct tt_py_offsets *o = p->o;

	if (o->tstate_current_frame != TT_PY_ABSENT)
		return rd_ptr(p, tstate + (uint64_t)o->tstate_current_frame);
	uint64_t cframe = rd_ptr(p, tstate + (uint64_t)o->tstate_cframe);
	return cframe ? rd_ptr(p, cframe + (uint64_t)o->cframe_current_frame) : 0;
}

/* The module a frame runs in: its function's __module__, else its globals' __name__. */
static void frame_module(struct tt_py_proc *p, uint64_t frame, char *out, size_t len)
{
	uint64_t func = rd_ptr(p, frame + (uint64_t)p->o->frame_func);
	struct lookup l = {.name = "__name__"};

	if (is_a(p, func, "function") &&
	    rd_str(p, rd_ptr(p, func + (uint64_t)p->o->func_module), out, len) == 0)
		return;
	uint64_t globals = rd_ptr(p, frame + (uint64_t)p->o->frame_globals);
	if (is_a(p, globals, "dict"))
		dict_each(p, globals, lookup_str_key, &l);
	if (!l.value || rd_str(p, l.value, out, len) != 0)
		snprintf(out, len, "?");
}

/* Adds the functions of the frames on thread tstate's stack. */
static int walk_stack(struct tt_py_proc *p, uint64_t tstate)
{
	const struct tt_py_offsets *o = p->o;
	uint64_t frame = current_frame(p, tstate);

	for (int n = 0; frame && n < MAX_FRAMES; n++) {
		char owner = 0, mod[NAME_MAX_LEN] = "?", qual[NAME_MAX_LEN];
		uint64_t code = rd_ptr(p, frame + (uint64_t)o->frame_code);

		if (rd(p, frame + (uint64_t)o->frame_owner, &owner, 1) == 0 &&
		    owner != TT_PY_FRAME_OWNED_BY_CSTACK && is_a(p, code, "code") &&
		    rd_str(p, rd_ptr(p, code + (uint64_t)o->code_qualname), qual, sizeof(qual)) ==
			    0) {
			frame_module(p, frame, mod, sizeof(mod));
			int ret = found_add(p, mod, qual, code, true);
			if (ret)
				return ret;
		}
		frame = rd_ptr(p, frame + (uint64_t)o->frame_previous);
	}
	return 0;
}

static int found_cmp(const void *a, const void *b)
{
	const struct found *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	/* of a function's copies, the one from a stack first: it carries the count */
	return c ? c : y->on_stack - x->on_stack;
}

static void found_release(struct tt_py_proc *p)
{
	for (size_t i = 0; i < p->nfound; i++) {
		free(p->found[i].key);
		free(p->found[i].filename);
	}
	free(p->found);
	p->found = NULL;
	p->nfound = p->cap_found = 0;
	free(p->seen);
	p->seen = NULL;
	p->seen_n = p->seen_cap = 0;
}

int tt_py_proc__for_each_function(struct tt_py_proc *p,
				  int (*cb)(const struct tt_py_func *f, void *ctx), void *ctx)
{
	uint64_t modules = rd_ptr(p, p->interp + (uint64_t)p->o->interp_modules);
	uint64_t tstate = first_tstate(p);
	int ret = modules ? dict_each(p, modules, walk_module, NULL) : 0;

	for (int n = 0; !ret && tstate && n < MAX_THREADS; n++) {
		ret = walk_stack(p, tstate);
		tstate = rd_ptr(p, tstate + (uint64_t)p->o->tstate_next);
	}
	if (!ret)
		qsort(p->found, p->nfound, sizeof(*p->found), found_cmp);
	for (size_t i = 0; !ret && i < p->nfound;) {
		struct found *f = &p->found[i];
		struct tt_py_func out = {.filename = f->filename, .line = f->line};
		char *colon = strrchr(f->key, ':');
		size_t j = i;

		for (; j < p->nfound && strcmp(p->found[j].key, f->key) == 0; j++)
			out.on_stack += p->found[j].on_stack;
		*colon = '\0';
		out.module = f->key;
		out.qualname = colon + 1;
		ret = cb(&out, ctx);
		*colon = ':';
		i = j;
	}
	found_release(p);
	return ret;
}

/* ---- opening ---------------------------------------------------------------- */

struct find_runtime {
	struct tt_py_proc *p;
	char root[64]; /* "/proc/PID/root": left out of the paths messages show */
	char last[PATH_MAX + 64];
	uint64_t first_start, first_offset; /* the current file's first mapping */
	char *err;
	size_t errlen;
	int ret;
};

/* tt_py__inspect() of a file the process maps, named in messages as the process sees it. */
static int inspect_mapped(const struct find_runtime *f, const char *path, struct tt_py_binary *bin,
			  char *why, size_t len)
{
	size_t n = strlen(f->root);
	const char *shown = strncmp(path, f->root, n) == 0 && path[n] == '/' ? path + n : path;

	return tt_py__inspect_as(path, shown, bin, why, len);
}

/* Inspects each file mapped whose name says python; stops at the one holding _PyRuntime. */
static int find_runtime(const struct tt_proc_range *r, void *ctx)
{
	struct find_runtime *f = ctx;
	const char *base = strrchr(r->path, '/');
	struct tt_py_binary bin;
	char why[512];
	int ret;

	if (strcmp(r->path, f->last) == 0)
		return 0;
	snprintf(f->last, sizeof(f->last), "%s", r->path);
	base = base ? base + 1 : r->path;
	if (fnmatch("python*", base, 0) != 0 && fnmatch("libpython*", base, 0) != 0)
		return 0;
	ret = inspect_mapped(f, r->path, &bin, why, sizeof(why));
	if (ret == -ENOTSUP || ret == -EPROTO) {
		/* a python tasktap does not know: said unless a known one comes later */
		snprintf(f->err, f->errlen, "%s", why);
		f->ret = ret;
		return 0;
	}
	if (ret || strcmp(bin.path, r->path) != 0)
		return 0; /* not the file holding the interpreter: its libpython comes later */
	f->p->bin = bin;
	f->p->runtime = bin.runtime_addr + (bin.pie ? r->start - r->offset : 0);
	f->ret = 0;
	return 1;
}

/* Checks the table against the process; 0, or -EPROTO with what does not fit. */
static int check_layout(struct tt_py_proc *p, char *err, size_t errlen)
{
	const struct tt_py_offsets *o = p->o;
	uint64_t tstate, modules;
	bool main_thread = false;
	int n = 0;

	p->interp = rd_ptr(p, p->runtime + (uint64_t)o->runtime_interpreters_head);
	if (!p->interp) {
		snprintf(err, errlen, "no interpreter in _PyRuntime");
		return -EPROTO;
	}
	for (tstate = first_tstate(p); tstate && n < MAX_THREADS; n++) {
		if (rd_ptr(p, tstate + (uint64_t)o->tstate_interp) != p->interp) {
			snprintf(err, errlen,
				 "thread state 0x%llx does not point at its interpreter",
				 (unsigned long long)tstate);
			return -EPROTO;
		}
		if (rd_i32(p, tstate + (uint64_t)o->tstate_native_thread_id) == p->pid)
			main_thread = true;
		tstate = rd_ptr(p, tstate + (uint64_t)o->tstate_next);
	}
	if (!n || !main_thread) {
		snprintf(err, errlen, "no thread state of its main thread (%d)", (int)p->pid);
		return -EPROTO;
	}
	modules = rd_ptr(p, p->interp + (uint64_t)o->interp_modules);
	if (!is_a(p, modules, "dict")) {
		snprintf(err, errlen, "sys.modules is not a dict");
		return -EPROTO;
	}
	return 0;
}

struct tt_py_proc *tt_py_proc__open(pid_t pid, char *err, size_t errlen)
{
	struct tt_py_proc *p = calloc(1, sizeof(*p));
	struct find_runtime f = {.p = p, .err = err, .errlen = errlen, .ret = -ESRCH};
	char why[256];
	int ret;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->pid = pid;
	p->mem = -1;
	tt_proc__root(pid, f.root, sizeof(f.root));
	ret = tt_proc__for_each_range(pid, find_runtime, &f);
	if (ret < 0) {
		snprintf(err, errlen, "cannot read the mappings of process %d: %s", (int)pid,
			 strerror(-ret));
		goto fail;
	}
	ret = f.ret;
	if (ret == -ESRCH)
		snprintf(err, errlen,
			 "process %d runs no python tasktap can read: no _PyRuntime "
			 "in the files it maps",
			 (int)pid);
	if (ret)
		goto fail;
	p->o = p->bin.offsets;
	p->mem = tt_proc__open_mem(pid);
	if (p->mem < 0) {
		ret = p->mem;
		snprintf(err, errlen, "cannot read the memory of process %d: %s", (int)pid,
			 strerror(-ret));
		goto fail;
	}
	ret = check_layout(p, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen,
			 "the offsets of python %s do not fit process %d (%s): a build "
			 "tasktap does not know",
			 p->bin.version, (int)pid, why);
		goto fail;
	}
	return p;
fail:
	tt_py_proc__free(p);
	errno = -ret;
	return NULL;
}

void tt_py_proc__free(struct tt_py_proc *p)
{
	if (!p)
		return;
	if (p->mem >= 0)
		close(p->mem);
	found_release(p);
	free(p);
}

const struct tt_py_binary *tt_py_proc__binary(const struct tt_py_proc *p)
{
	return &p->bin;
}

uint64_t tt_py_proc__runtime(const struct tt_py_proc *p)
{
	return p->runtime;
}
