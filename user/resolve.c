// SPDX-License-Identifier: MIT
/*
 * Resolution: a spec's targets and probes become a plan of places to attach.
 * Libraries are found as the dynamic loader finds them by resolve_lib.c.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "discover.h"
#include "helpers.h"
#include "libscan.h"
#include "proc.h"
#include "python/offsets.h"
#include "resolve.h"
#include "usdt.h"

/* Where the probes of one target go. */
struct place {
	char path[PATH_MAX];
	char shown[PATH_MAX];
	pid_t pid;
};

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

static int is_file(const char *mapped, void *path)
{
	return same_file(mapped, path);
}

/* Whether process `pid` maps the file at `path` (seen through its root). */
static bool maps_file(pid_t pid, const char *path)
{
	return tt_proc__for_each_mapping(pid, false, is_file, (void *)path) != 0;
}

static int place_of_pid(const struct tt_spec *spec, const struct tt_target *t, pid_t pid,
			struct place *pl, char *err, size_t errlen)
{
	int ret = tt_proc__exe(pid, pl->path, sizeof(pl->path), pl->shown, sizeof(pl->shown));

	if (ret == -ESRCH)
		snprintf(err, errlen, "no process with pid %d (%s:%d:%d)", pid, spec->path,
			 t->pos.line, t->pos.col);
	else if (ret)
		snprintf(err, errlen, "cannot read the executable of pid %d: %s", pid,
			 strerror(-ret));
	pl->pid = pid;
	return ret;
}

static bool is_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/*
 * The file a binary:, pid: or library: target names, as this process sees
 * it. Returns 0, 1 for a target found only as processes start (comm:, a
 * binary: glob), or -errno.
 */
static int target_file(const struct tt_spec *spec, const struct tt_target *t, struct place *pl,
		       char *err, size_t errlen)
{
	switch (t->kind) {
	case TT_TARGET_PID:
		return place_of_pid(spec, t, t->pid, pl, err, errlen);
	case TT_TARGET_LIBRARY:
		if (tt_find_library(t->path, pl->path, sizeof(pl->path))) {
			char lib[TT_SHORT_MAX];

			snprintf(err, errlen,
				 "%s:%d:%d: library '%s' not found (searched LD_LIBRARY_PATH, the "
				 "loader's cache and the system library directories; give its "
				 "absolute path)",
				 spec->path, t->pos.line, t->pos.col, tt_shorten(t->path, lib));
			return -ENOENT;
		}
		snprintf(pl->shown, sizeof(pl->shown), "%s", pl->path);
		pl->pid = -1;
		return 0;
	case TT_TARGET_BINARY:
		if (is_glob(t->path))
			return 1; /* a glob: found as processes start (discover.h) */
		if (tt_target__only_in_containers(t))
			return 1; /* found as processes start */
		snprintf(pl->path, sizeof(pl->path), "%s", t->path);
		snprintf(pl->shown, sizeof(pl->shown), "%s", t->path);
		pl->pid = -1;
		return 0;
	case TT_TARGET_COMM:
		return 1; /* found as processes start (discover.h) */
	}
	return -EINVAL;
}

/* Whether process pid's command line (arguments joined by spaces) matches `glob`. */
static bool argv_matches(const char *glob, pid_t pid)
{
	char line[4096];

	if (tt_proc__cmdline(pid, line, sizeof(line)) < 0)
		return false;
	return fnmatch(glob, line, 0) == 0;
}

bool tt_target__narrowing_holds(const struct tt_target *t, const struct tt_proc_info *pi,
				const char *binary)
{
	struct tt_narrow want = {.comm = t->comm, .exe = t->exe, .cgroup = t->cgroup};
	char cgroup[TT_CGROUP_PATH_MAX];
	struct stat st;

	if (binary && (stat(binary, &st) || st.st_dev != pi->dev || st.st_ino != pi->ino))
		return false;
	if (t->cgroup && tt_proc__cgroup(pi->pid, cgroup, sizeof(cgroup)))
		return false;
	if (t->argv && !argv_matches(t->argv, pi->pid))
		return false;
	return tt_narrow__holds(&want, pi->comm, pi->exe, t->cgroup ? cgroup : NULL);
}

/*
 * Whether target t is left to exec discovery: a library: target narrowed
 * to processes, or, with --binary PATH, any library: target (then only
 * in the processes running PATH).
 */
static bool found_as_processes_start(const struct tt_target *t, pid_t pid, const char *binary)
{
	return !pid && t->kind == TT_TARGET_LIBRARY && (binary || tt_target__narrowed(t));
}

/* With --pid N, whether N is outside what library target t is narrowed to. */
static bool pid_narrowed_out(const struct tt_target *t, pid_t pid)
{
	struct tt_proc_info pi;

	if (!pid || !tt_target__narrowed(t))
		return false;
	return tt_proc__info(NULL, pid, &pi) || !tt_target__narrowing_holds(t, &pi, NULL);
}

/*
 * Where target t's probes go. With --pid N, a target applies when its file
 * is N's executable or a library N maps (and then only in N); with
 * --binary PATH, when its file is PATH. Returns 0, 1 when the target does
 * not apply, or -errno.
 */
static int place_of(const struct tt_spec *spec, const struct tt_target *t, pid_t pid,
		    const char *binary, struct place *pl, char *err, size_t errlen)
{
	char exe[64], shown[PATH_MAX];
	int ret;

	if (!pid && !binary)
		return target_file(spec, t, pl, err, errlen);
	if (t->kind == TT_TARGET_COMM)
		return 1;
	ret = target_file(spec, t, pl, err, errlen);
	if (ret == 1)
		return 1;
	if (ret == -ENOENT || ret == -ESRCH)
		return 1; /* not on this machine, or gone: not the one asked for */
	if (ret)
		return ret;
	if (binary) {
		if (!same_file(pl->path, binary))
			return 1;
		snprintf(pl->path, sizeof(pl->path), "%s", binary);
		snprintf(pl->shown, sizeof(pl->shown), "%s", binary);
		pl->pid = -1;
		return 0;
	}
	if (t->kind == TT_TARGET_LIBRARY) {
		if (!maps_file(pid, pl->path))
			return 1;
		pl->pid = pid;
		return 0;
	}
	if (tt_proc__exe(pid, exe, sizeof(exe), shown, sizeof(shown)) || !same_file(pl->path, exe))
		return 1;
	return place_of_pid(spec, t, pid, pl, err, errlen);
}

/* Counts the spec's binary: and pid: targets. */
static int program_targets(const struct tt_spec *spec, const struct tt_target **only)
{
	int n = 0;

	for (int i = 0; i < spec->ntargets; i++) {
		if (spec->targets[i].kind == TT_TARGET_BINARY ||
		    spec->targets[i].kind == TT_TARGET_PID) {
			*only = &spec->targets[i];
			n++;
		}
	}
	return n;
}

static int open_elf(const struct tt_spec *spec, const struct tt_target *t, const struct place *pl,
		    struct tt_elf **elf, char *err, size_t errlen)
{
	char file[TT_SHORT_MAX];
	int ret;

	*elf = tt_elf__open(pl->path);
	if (*elf)
		return 0;
	ret = errno ? -errno : -EINVAL;
	if (ret == -ENOEXEC)
		snprintf(err, errlen, "'%s' is not an ELF file (%s:%d:%d)",
			 tt_shorten(pl->shown, file), spec->path, t->pos.line, t->pos.col);
	else
		snprintf(err, errlen, "cannot open binary '%s' (%s:%d:%d): %s",
			 tt_shorten(pl->shown, file), spec->path, t->pos.line, t->pos.col,
			 strerror(-ret));
	return ret;
}

static struct tt_attachment *plan_add(struct tt_plan *plan, const struct tt_hook *hook,
				      const struct place *pl)
{
	struct tt_attachment *at;

	if (plan->n == plan->cap) {
		size_t cap = plan->cap ? plan->cap * 2 : 16;
		struct tt_attachment *more = realloc(plan->at, cap * sizeof(*more));

		if (!more)
			return NULL;
		plan->at = more;
		plan->cap = cap;
	}
	at = &plan->at[plan->n++];
	memset(at, 0, sizeof(*at));
	at->hook = hook;
	at->probe = hook->probe;
	at->pid = pl->pid;
	snprintf(at->path, sizeof(at->path), "%s", pl->path);
	snprintf(at->shown, sizeof(at->shown), "%s", pl->shown);
	return at;
}

struct glob_ctx {
	const char *pattern;
	struct tt_sym *found;
	size_t n;
	size_t cap;
};

static int collect_match(const struct tt_sym *sym, void *ctx)
{
	struct glob_ctx *g = ctx;

	if (!tt_elf__glob_matches(g->pattern, sym->name, NULL))
		return 0;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 8;
		struct tt_sym *more = realloc(g->found, cap * sizeof(*more));

		if (!more)
			return -ENOMEM;
		g->found = more;
		g->cap = cap;
	}
	g->found[g->n++] = *sym;
	return 0;
}

/* The name a person knows function `name` by: demangled when it is mangled. Caller frees. */
static char *shown_name(const char *name)
{
	char *d = tt_demangle(name);

	return d ? d : strdup(name);
}

static int symbol_missing(const struct tt_spec *spec, const struct tt_hook *hook,
			  struct tt_elf *elf, const struct place *pl, char *err, size_t errlen)
{
	char close[512] = "", sym[TT_SHORT_MAX], file[TT_SHORT_MAX];

	tt_elf__closest(elf, hook->symbol, 5, close, sizeof(close));
	/* a long name or path is shortened: what is wrong stays at the end, uncut */
	snprintf(err, errlen, "%s:%d:%d: symbol '%s' not found in '%s'%s%s", spec->path,
		 hook->pos.line, hook->pos.col, tt_shorten(hook->symbol, sym),
		 tt_shorten(pl->shown, file), close[0] ? "; closest: " : "", close);
	return -ENOENT;
}

/* Whether an earlier match has the same code: an alias (C++ C1/C2 constructors). */
static bool is_alias(const struct glob_ctx *g, size_t i)
{
	for (size_t k = 0; k < i; k++) {
		if (g->found[k].offset == g->found[i].offset)
			return true;
	}
	return false;
}

/*
 * Attaches a function hook: at the function of that exact name, else at
 * every function whose name or demangled name the symbol (a glob, or a
 * demangled name such as "Worker::run") matches, each further one with a
 * hook of its own. A hook's `function` is the name a person knows it by.
 */
static int add_function(struct tt_plan *plan, struct tt_spec *spec, struct tt_hook *hook,
			struct tt_elf *elf, const struct place *pl, char *err, size_t errlen)
{
	const struct tt_probe *p = hook->probe;
	bool ret_too =
		(hook->kind == TT_HOOK_START && p->pairing == TT_PAIR_CALL) || hook->at_return;
	struct glob_ctx g = {.pattern = hook->symbol};
	char sym[TT_SHORT_MAX], file[TT_SHORT_MAX];
	struct tt_attachment *at;
	int ret = 0;

	if (!is_glob(hook->symbol)) {
		uint64_t off;
		enum tt_insn_cost cost;

		ret = tt_elf__func_offset(elf, hook->symbol, &off, &cost);
		if (ret && ret != -ENOENT) {
			snprintf(err, errlen, "cannot read symbols of '%s': %s", pl->shown,
				 strerror(-ret));
			return ret;
		}
		if (!ret) {
			at = plan_add(plan, hook, pl);
			if (!at)
				return -ENOMEM;
			at->offset = off;
			at->cost = cost;
			at->retprobe = ret_too;
			free(hook->function);
			hook->function = tt_demangle(hook->symbol);
			return 0;
		}
		/* not a symbol's own name: maybe a demangled one */
	}
	ret = tt_elf__for_each_func(elf, collect_match, &g);
	if (!ret && g.n == 0) {
		free(g.found);
		if (!is_glob(hook->symbol))
			return symbol_missing(spec, hook, elf, pl, err, errlen);
		snprintf(err, errlen, "%s:%d:%d: no function in '%s' matches '%s'", spec->path,
			 hook->pos.line, hook->pos.col, tt_shorten(pl->shown, file),
			 tt_shorten(hook->symbol, sym));
		return -ENOENT;
	}
	for (size_t i = 0; !ret && i < g.n; i++) {
		struct tt_hook *h;
		char *name;

		if (is_alias(&g, i))
			continue;
		name = shown_name(g.found[i].name);
		if (!name) {
			ret = -ENOMEM;
			break;
		}
		/* each function its own hook, the same one in every file that has it */
		errno = 0;
		h = tt_spec__hook_at(spec, hook, name);
		free(name);
		if (!h) {
			snprintf(err, errlen,
				 "%s:%d:%d: '%s' matches more functions than tasktap "
				 "can attach (TT_MAX_PROBES)",
				 spec->path, hook->pos.line, hook->pos.col,
				 tt_shorten(hook->symbol, sym));
			ret = errno ? -errno : -ENOMEM;
			break;
		}
		at = plan_add(plan, h, pl);
		if (!at) {
			ret = -ENOMEM;
			break;
		}
		ret = tt_elf__func_offset(elf, g.found[i].name, &at->offset, &at->cost);
		at->retprobe = ret_too;
	}
	free(g.found);
	return ret;
}

struct list_ctx {
	char *buf;
	size_t len;
	size_t off;
};

static int list_usdt(const struct tt_usdt_note *n, void *ctx)
{
	struct list_ctx *l = ctx;
	int w = snprintf(l->buf + l->off, l->len - l->off, "%s%s:%s", l->off ? ", " : "",
			 n->provider, n->name);

	if (w < 0 || (size_t)w >= l->len - l->off)
		return 1;
	l->off += (size_t)w;
	return 0;
}

struct usdt_check {
	const struct tt_hook *hook;
	char *why;
	size_t whylen;
};

/* Stops at a site of the hook's USDT probe whose arguments tasktap cannot read. */
static int check_usdt_args(const struct tt_usdt_note *n, void *ctx)
{
	struct usdt_check *c = ctx;
	struct tt_usdt_site site;

	if (strcmp(n->provider, c->hook->provider) || strcmp(n->name, c->hook->usdt))
		return 0;
	return tt_usdt__parse_args(n->provider, n->name, n->args, &site, c->why, c->whylen) ? 1 : 0;
}

/* Refuses a python: USDT probe known to crash (or never fire in) the interpreter at pl. */
static int check_python_usdt(const struct tt_spec *spec, const struct tt_hook *hook,
			     const struct place *pl, char *err, size_t errlen)
{
	char name[TT_SHORT_MAX], file[TT_SHORT_MAX], why[512];
	struct tt_py_binary bin;
	const char *refused;

	if (strcmp(hook->provider, "python") != 0)
		return 0;
	if (tt_py__inspect(pl->path, &bin, why, sizeof(why)) != 0 && !bin.version_hex)
		return 0; /* not a CPython tasktap can date: nothing known against it */
	refused = tt_py__usdt_refused(bin.version_hex, hook->usdt);
	if (!refused)
		return 0;
	snprintf(err, errlen,
		 "%s:%d:%d: USDT probe 'python:%s' of python %s in '%s' is refused: %s", spec->path,
		 hook->pos.line, hook->pos.col, tt_shorten(hook->usdt, name), bin.version,
		 tt_shorten(pl->shown, file), refused);
	return -EINVAL;
}

static int add_usdt(struct tt_plan *plan, const struct tt_spec *spec, const struct tt_hook *hook,
		    struct tt_elf *elf, const struct place *pl, char *err, size_t errlen)
{
	const struct tt_usdt_note *note = tt_elf__usdt(elf, hook->provider, hook->usdt);
	char why[512] = "";
	char prov[TT_SHORT_MAX], name[TT_SHORT_MAX], file[TT_SHORT_MAX];
	struct usdt_check c = {.hook = hook, .why = why, .whylen = sizeof(why)};
	struct tt_attachment *at;
	int ret;

	ret = check_python_usdt(spec, hook, pl, err, errlen);
	if (ret)
		return ret;
	if (!note) {
		char have[512] = "";
		struct list_ctx l = {.buf = have, .len = sizeof(have)};

		tt_elf__for_each_usdt(elf, list_usdt, &l);
		snprintf(err, errlen, "%s:%d:%d: USDT probe '%s:%s' not found in '%s'; %s%s",
			 spec->path, hook->pos.line, hook->pos.col,
			 tt_shorten(hook->provider, prov), tt_shorten(hook->usdt, name),
			 tt_shorten(pl->shown, file),
			 have[0] ? "it has: " : "it has no USDT probes", have);
		return -ENOENT;
	}
	ret = tt_elf__for_each_usdt(elf, check_usdt_args, &c);
	if (ret) {
		snprintf(err, errlen, "%s:%d:%d: in '%s': %s", spec->path, hook->pos.line,
			 hook->pos.col, tt_shorten(pl->shown, file), why);
		return -EINVAL;
	}
	at = plan_add(plan, hook, pl);
	if (!at)
		return -ENOMEM;
	at->usdt = true;
	at->semaphore = note->semaphore;
	at->cost = TT_INSN_NOP5;
	return 0;
}

/* Refuses a probe pinned to another build of the file. */
static int check_build_id(const struct tt_spec *spec, const struct tt_probe *p, struct tt_elf *elf,
			  const struct place *pl, char *err, size_t errlen)
{
	const char *have = tt_elf__build_id(elf);

	if (!p->build_id)
		return 0;
	if (have && strncmp(have, p->build_id, strlen(p->build_id)) == 0)
		return 0;
	snprintf(err, errlen,
		 "%s:%d:%d: build-id mismatch: the probe is pinned to build %s, but '%s' is %s%s "
		 "(its expressions may read private structs of that build only)",
		 spec->path, p->build_id_pos.line, p->build_id_pos.col, p->build_id, pl->shown,
		 have ? "build " : "a file without a build-id", have ? have : "");
	return -EINVAL;
}

/* A Python function: attached where the interpreter at pl starts and ends its functions. */
static int add_python(struct tt_plan *plan, const struct tt_spec *spec, const struct tt_hook *hook,
		      struct tt_elf *elf, const struct place *pl, char *err, size_t errlen)
{
	struct tt_attachment *at;
	struct tt_py_interp py;
	char why[512];
	int ret = tt_py_interp__find(elf, pl->path, pl->shown, &py, why, sizeof(why));

	if (ret) {
		snprintf(err, errlen, "%s:%d:%d: %s", spec->path, hook->pos.line, hook->pos.col,
			 why);
		return ret;
	}
	at = plan_add(plan, hook, pl);
	if (!at)
		return -ENOMEM;
	at->python = true;
	at->py = py;
	/* a jump, when tt_py_interp__find() found one at the start of each handler */
	at->cost = py.stepped ? TT_INSN_STEPPED : TT_INSN_EMULATED;
	return 0;
}

static int add_probe(struct tt_plan *plan, struct tt_spec *spec, const struct tt_probe *p,
		     struct tt_elf *elf, const struct place *pl, char *err, size_t errlen)
{
	int ids[2] = {p->start_hook, p->end_hook};
	int ret = check_build_id(spec, p, elf, pl, err, errlen);

	for (int i = 0; !ret && i < 2; i++) {
		struct tt_hook *h;

		if (!ids[i])
			continue;
		h = (struct tt_hook *)tt_spec__hook(spec, ids[i]);
		if (h->python)
			ret = add_python(plan, spec, h, elf, pl, err, errlen);
		else if (h->usdt)
			ret = add_usdt(plan, spec, h, elf, pl, err, errlen);
		else
			ret = add_function(plan, spec, h, elf, pl, err, errlen);
	}
	return ret;
}

/* Adds the probes of target t at place pl. */
static int add_target(struct tt_plan *plan, struct tt_spec *spec, const struct tt_target *t,
		      const struct place *pl, char *err, size_t errlen)
{
	struct tt_elf *elf = NULL;
	int ret = open_elf(spec, t, pl, &elf, err, errlen);

	for (int k = 0; !ret && k < t->nprobes; k++)
		ret = add_probe(plan, spec, &t->probes[k], elf, pl, err, errlen);
	tt_elf__free(elf);
	return ret;
}

/*
 * Whether hook h decides at the function's entry whether its call counts
 * (a `when:` filter that does not wait for the return): its verdict is
 * what the per-thread state keeps until the return. A filter on a begin
 * `at: return` runs at the return, on the arguments saved at entry, and
 * its entry is kept whatever comes.
 */
static bool filters_at_entry(const struct tt_hook *h)
{
	return h->probe->filtered && h->kind == TT_HOOK_START && !h->at_return;
}

/*
 * Refuses two hooks that end at the same function's return in the same
 * processes when either has a `when:` filter that runs at entry. The
 * kernel runs the return handlers of one probed instruction in the order
 * it ran their entry handlers, not nested: the per-thread state in BPF is
 * a stack, so each return handler pops the other's entry. The saved
 * arguments are the same call's either way, but a filter's verdict would
 * be the other hook's; filters that run at the return keep no verdict.
 * Without such filters the assembler pairs those returns by hook, out of
 * order (assemble_pairing.c, finish_on_stack()).
 */
static int check_shared_returns(const struct tt_spec *spec, const struct tt_plan *plan, char *err,
				size_t errlen)
{
	char sym[TT_SHORT_MAX], file[TT_SHORT_MAX];

	for (size_t i = 0; i < plan->n; i++) {
		const struct tt_attachment *a = &plan->at[i];

		for (size_t k = 0; a->retprobe && k < i; k++) {
			const struct tt_attachment *b = &plan->at[k];
			const char *fn = a->hook->function ? a->hook->function : a->hook->symbol;

			if (!b->retprobe || b->offset != a->offset || b->pid != a->pid ||
			    strcmp(b->path, a->path) != 0)
				continue;
			if (!filters_at_entry(a->hook) && !filters_at_entry(b->hook))
				continue;
			snprintf(err, errlen,
				 "%s:%d:%d: '%s' in '%s' is already probed at line %d: probes "
				 "that end at one function's return may not have 'when:' "
				 "filters that run at its entry (the kernel runs their return "
				 "handlers in entry order, not nested, so each would read the "
				 "other's verdict); a begin 'at: return' may filter",
				 spec->path, a->hook->pos.line, a->hook->pos.col,
				 tt_shorten(fn, sym), tt_shorten(a->shown, file),
				 b->hook->pos.line);
			return -EINVAL;
		}
	}
	return 0;
}

int tt_plan__add_target(struct tt_plan *plan, struct tt_spec *spec, const struct tt_target *t,
			const char *path, const char *shown, pid_t pid, char *err, size_t errlen)
{
	struct place *pl = calloc(1, sizeof(*pl));
	int ret;

	if (!pl)
		return -ENOMEM;
	snprintf(pl->path, sizeof(pl->path), "%s", path);
	snprintf(pl->shown, sizeof(pl->shown), "%s", shown);
	pl->pid = pid;
	ret = add_target(plan, spec, t, pl, err, errlen);
	free(pl);
	return ret;
}

bool tt_target__only_in_containers(const struct tt_target *t)
{
	return t->kind == TT_TARGET_BINARY && t->path[0] == '/' && !is_glob(t->path) &&
	       access(t->path, F_OK) && errno == ENOENT;
}

/* The functions target t probes, when every hook is a plain function (no glob, no USDT). */
static int plain_symbols(const struct tt_spec *spec, const struct tt_target *t, const char **out,
			 int max)
{
	int n = 0;

	for (int k = 0; k < t->nprobes; k++) {
		int ids[2] = {t->probes[k].start_hook, t->probes[k].end_hook};

		for (int j = 0; j < 2; j++) {
			const struct tt_hook *h = ids[j] ? tt_spec__hook(spec, ids[j]) : NULL;

			if (!h)
				continue;
			if (!h->symbol || is_glob(h->symbol) || n == max)
				return 0;
			out[n++] = h->symbol;
		}
	}
	return n;
}

struct copies {
	struct tt_plan *plan;
	struct tt_spec *spec;
	const struct tt_target *t;
	pid_t pid;
	char *err;
	size_t errlen;
};

static int add_copy(const char *path, void *ctx)
{
	struct copies *c = ctx;
	const char *inside = strstr(path, "/root/");
	char shown[PATH_MAX + 64];

	/* as the process sees it: /proc/PID/root/opt/app/bin/worker is /opt/app/bin/worker */
	snprintf(shown, sizeof(shown), "%s (code of %s)", inside ? inside + 5 : path, c->t->path);
	return tt_plan__add_target(c->plan, c->spec, c->t, path, shown, c->pid > 0 ? c->pid : -1,
				   c->err, c->errlen);
}

/*
 * A library's code may run from another file: a copy under another name,
 * or linked into an executable. Attaches to every file a process maps
 * executable that defines all the functions the target probes.
 */
static int add_library_copies(struct tt_plan *plan, struct tt_spec *spec, const struct tt_target *t,
			      const struct place *pl, pid_t pid, char *err, size_t errlen)
{
	const char *symbols[2 * 64];
	struct copies c = {plan, spec, t, pid, err, errlen};
	int n = plain_symbols(spec, t, symbols, 2 * 64);

	return n ? tt_libscan__find(symbols, n, pl->path, pid, add_copy, &c) : 0;
}

/*
 * Resolves library target t (left to exec discovery) as it would be
 * attached, into a plan thrown away: a library not found or a symbol
 * missing is refused now, not in each process later.
 */
static int check_discovered_library(struct tt_spec *spec, const struct tt_target *t,
				    struct place *pl, char *err, size_t errlen)
{
	struct tt_plan scratch = {0};
	int ret;

	ret = target_file(spec, t, pl, err, errlen);
	if (!ret)
		ret = add_target(&scratch, spec, t, pl, err, errlen);
	tt_plan__release(&scratch);
	return ret;
}

int tt_plan__build(struct tt_spec *spec, pid_t pid, const char *binary, struct tt_plan *plan,
		   char *err, size_t errlen)
{
	const struct tt_target *only = NULL;
	struct place *pl = calloc(1, sizeof(*pl));
	int applied = 0;
	int ret = 0;

	memset(plan, 0, sizeof(*plan));
	if (!pl)
		return -ENOMEM;
	for (int i = 0; i < spec->ntargets && ret >= 0; i++) {
		const struct tt_target *t = &spec->targets[i];

		if (found_as_processes_start(t, pid, binary)) {
			ret = check_discovered_library(spec, t, pl, err, errlen);
			applied += ret == 0 && binary; /* --binary: its library targets apply */
			continue;
		}
		if (pid_narrowed_out(t, pid)) {
			ret = 1;
			continue;
		}
		ret = place_of(spec, &spec->targets[i], pid, binary, pl, err, errlen);
		if (ret == 0) {
			ret = add_target(plan, spec, &spec->targets[i], pl, err, errlen);
			applied++;
		}
		/* with --pid, a process may map only a copy of the library */
		if ((ret == 0 || (ret == 1 && pid)) && spec->targets[i].kind == TT_TARGET_LIBRARY &&
		    !binary) {
			size_t before = plan->n;
			int found = add_library_copies(plan, spec, &spec->targets[i], pl, pid, err,
						       errlen);

			if (found < 0)
				ret = found;
			else if (plan->n > before && ret == 1)
				ret = 0, applied++;
		}
	}
	if (ret > 0)
		ret = 0;
	/* a spec for one program applies to the process or file asked for, wherever it is */
	if (!ret && !applied && (pid || binary) && program_targets(spec, &only) == 1) {
		if (pid)
			ret = place_of_pid(spec, only, pid, pl, err, errlen);
		else {
			snprintf(pl->path, sizeof(pl->path), "%s", binary);
			snprintf(pl->shown, sizeof(pl->shown), "%s", binary);
			pl->pid = -1;
		}
		if (!ret)
			ret = add_target(plan, spec, only, pl, err, errlen);
		applied++;
	}
	if (!ret && !applied && pid) {
		char shown[PATH_MAX] = "?";

		ret = tt_proc__exe(pid, pl->path, sizeof(pl->path), shown, sizeof(shown));
		if (ret == -ESRCH)
			snprintf(err, errlen, "no process with pid %d", pid);
		else
			snprintf(err, errlen, "no target of %s runs in process %d (%s)", spec->path,
				 pid, shown);
		ret = ret ? ret : -ENOENT;
	} else if (!ret && !applied && binary) {
		snprintf(err, errlen, "no target of %s is '%s'", spec->path, binary);
		ret = -ENOENT;
	}
	free(pl);
	if (!ret)
		ret = check_shared_returns(spec, plan, err, errlen);
	if (ret)
		tt_plan__release(plan);
	return ret;
}

void tt_plan__release(struct tt_plan *plan)
{
	free(plan->at);
	memset(plan, 0, sizeof(*plan));
}
