// SPDX-License-Identifier: MIT
/* loader_progs.c: what each hook runs: its program compiled by bpfgen, or the interpreter. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfgen.h"
#include "log.h"
#include "loader.h"
#include "loader_internal.h"

int tt_loader__set_hook(struct tt_loader *l, uint32_t id, const struct tt_hook_prog *prog)
{
	if (id == 0 || id > TT_MAX_PROBES)
		return -ERANGE;
	if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.probes), &id, prog, BPF_ANY))
		return -errno;
	if (!l->hooks[id])
		l->hooks[id] = malloc(sizeof(*l->hooks[id]));
	if (!l->hooks[id])
		return -ENOMEM;
	if (memcmp(l->hooks[id], prog, sizeof(*prog)))
		loader__free_progs(l, id, false); /* programs compiled from what it ran before */
	memcpy(l->hooks[id], prog, sizeof(*prog));
	return 0;
}

/* The maps compiled programs use, by fd. */
struct tt_bpfgen_maps loader__gen_maps(const struct tt_loader *l)
{
	return (struct tt_bpfgen_maps){
		.threads = bpf_map__fd(l->skel->maps.threads),
		.saved = bpf_map__fd(l->skel->maps.saved),
		.scratch = bpf_map__fd(l->skel->maps.scratch),
		.stats = bpf_map__fd(l->skel->maps.stats),
		.rings = bpf_map__fd(l->skel->maps.rings),
		.hook_lost = l->hook_lost_fd,
		.calls = bpf_map__fd(l->skel->maps.calls),
		.frames = bpf_map__fd(l->skel->maps.frames),
		.retired = bpf_map__fd(l->skel->maps.retired),
	};
}

/*
 * The program of another hook with the same instructions (the same
 * captures and filter: the hook id comes from the attach cookie), as a
 * new fd; or -1.
 */
static int same_prog(const struct tt_loader *l, enum tt_bpfgen_kind kind, const struct tt_bpfgen *g)
{
	for (const struct gen_prog *q = l->progs; q; q = q->next) {
		if (q->fd >= 0 && q->kind == kind && q->insns && q->n == g->n &&
		    !memcmp(q->insns, g->insns, g->n * sizeof(g->insns[0])))
			return fcntl(q->fd, F_DUPFD_CLOEXEC, 0);
	}
	return -1;
}

/*
 * Emits and loads hook id's program of `kind` (keeping its instructions in
 * p, to share it), or shares the one another hook loaded with the same
 * instructions. Returns its fd, or -errno with the reason in why.
 */
static int load_gen(struct tt_loader *l, struct gen_prog *p, uint32_t id, enum tt_bpfgen_kind kind,
		    const struct tt_usdt_site *site, char *why, size_t whylen)
{
	static struct tt_bpfgen g; /* 32 KB; the loader runs on one thread */
	static char log[64 * 1024];
	struct tt_bpfgen_in in = {
		.kind = kind,
		.hook = id,
		.hook_from_cookie = true,
		.prog = l->hooks[id],
		.site = site,
		.maps = loader__gen_maps(l),
		.wakeup_watermark = l->wakeup_watermark,
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = loader__uprobe_attach_type());
	if (kind == TT_BPFGEN_SESSION || kind == TT_BPFGEN_PAIR) {
		in.kfuncs = *loader__session_kfuncs();
		opts.expected_attach_type = (enum bpf_attach_type)TT_BPF_TRACE_UPROBE_SESSION;
	}
	char name[16];
	int fd, ret;

	ret = tt_bpfgen__emit(&in, &g, why, whylen);
	if (ret)
		return ret;
	fd = same_prog(l, kind, &g);
	if (fd >= 0)
		return fd;
	p->insns = malloc(g.n * sizeof(g.insns[0])); /* NULL: not shared, no harm */
	if (p->insns) {
		memcpy(p->insns, g.insns, g.n * sizeof(g.insns[0]));
		p->n = g.n;
	}
	tt_bpfgen__name(kind, id, name, sizeof(name));
	fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, name, "GPL", g.insns, g.n, &opts);
	if (fd >= 0)
		return fd;
	ret = -errno;
	/* again, for the verifier's reason: its last line */
	opts.log_buf = log;
	opts.log_size = sizeof(log);
	opts.log_level = 1;
	log[0] = 0;
	fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, name, "GPL", g.insns, g.n, &opts);
	if (fd >= 0)
		return fd;
	{
		size_t n = strlen(log);
		char *last;

		while (n && log[n - 1] == '\n')
			log[--n] = 0;
		last = strrchr(log, '\n');
		snprintf(why, whylen, "the verifier refused it: %s (%s)", strerror(-ret),
			 last ? last + 1 : log);
	}
	return ret;
}

/* The generic program that interprets hooks of `kind`, in `skel`. */
static struct bpf_program *generic_of(struct tasktap_bpf *skel, enum tt_bpfgen_kind kind)
{
	if (kind == TT_BPFGEN_RETURN)
		return skel->progs.tt_return;
	if (kind == TT_BPFGEN_USDT)
		return skel->progs.tt_usdt_site;
	return skel->progs.tt_entry;
}

/*
 * A second instance of the BPF object that loads only the Python programs
 * (`python`) or only the generic interpreter's, sharing every map of the
 * agent's (the same object: its maps in the same order). They are not
 * loaded at start: their verification takes 0.1-1 s, and most specs need
 * neither. Returns the instance, or NULL with errno set.
 */
static struct tasktap_bpf *load_instance(struct tt_loader *l, bool python)
{
	struct bpf_map *m, *mine = NULL;
	struct bpf_program *p;
	struct tasktap_bpf *o;
	int ret = loader__ready(l);

	if (ret) {
		errno = -ret;
		return NULL;
	}
	o = tasktap_bpf__open();
	if (!o)
		return NULL;
	bpf_object__for_each_program(p, o->obj)
	{
		bool py = p == o->progs.tt_py_entry || p == o->progs.tt_py_return;
		bool interp = p == o->progs.tt_entry || p == o->progs.tt_return ||
			      p == o->progs.tt_usdt_site;

		bpf_program__set_autoload(p, python ? py : interp);
	}
	o->rodata->wakeup_watermark = l->wakeup_watermark;
	bpf_object__for_each_map(m, o->obj)
	{
		mine = bpf_object__next_map(l->skel->obj, mine);
		ret = mine ? bpf_map__reuse_fd(m, bpf_map__fd(mine)) : -EINVAL;
		if (ret)
			goto fail;
	}
	ret = tasktap_bpf__load(o);
	if (ret)
		goto fail;
	return o;
fail:
	tasktap_bpf__destroy(o);
	errno = -ret;
	return NULL;
}

int loader__load_interpreter(struct tt_loader *l)
{
	if (!l->interp)
		l->interp = load_instance(l, false);
	return l->interp ? 0 : -errno;
}

int loader__load_python(struct tt_loader *l)
{
	if (!l->py)
		l->py = load_instance(l, true);
	return l->py ? 0 : -errno;
}

/* The generic program for `kind`: its fd, or -errno with a message (once). */
static int generic_prog(struct tt_loader *l, enum tt_bpfgen_kind kind)
{
	int ret;

	if (l->interpret) {
		ret = loader__ready(l);
		return ret ? ret : bpf_program__fd(generic_of(l->skel, kind));
	}
	ret = loader__load_interpreter(l);
	if (ret) {
		tt_warn("cannot load the generic capture interpreter: %s (set "
			"TASKTAP_DEBUG_LIBBPF=1 for the verifier log)",
			strerror(-ret));
		return ret;
	}
	return bpf_program__fd(generic_of(l->interp, kind));
}

/*
 * The interpreter for hook `id`, unless its program needs what only a
 * compiled program runs (tt_bpfgen__compiled_only()): then -EOPNOTSUPP,
 * said once with `why` the compiled program could not be had.
 */
static int interpreter_for(struct tt_loader *l, uint32_t id, enum tt_bpfgen_kind kind,
			   const char *why)
{
	const char *needs = id && id <= TT_MAX_PROBES && l->hooks[id]
				    ? tt_bpfgen__compiled_only(l->hooks[id])
				    : NULL;

	if (!needs)
		return generic_prog(l, kind);
	if (why && why[0])
		tt_warn("hook %u: not attached: it uses %s, which only a compiled program runs, "
			"and its program could not be compiled: %s",
			id, needs, why);
	else
		tt_warn("hook %u: not attached: it uses %s, which only a compiled program runs, "
			"and the interpreter was asked for",
			id, needs);
	return -EOPNOTSUPP;
}

/*
 * Hook id's session program of `kind` (TT_BPFGEN_SESSION or _PAIR), loaded
 * on first use: its fd, or -errno, said once, when it could not be built
 * (the caller attaches the hook's entry and return programs instead).
 * Never the interpreter, which has none.
 */
static int session_prog(struct tt_loader *l, uint32_t id, enum tt_bpfgen_kind kind)
{
	struct gen_prog *p;
	char why[512] = "";

	if (l->interpret || id == 0 || id > TT_MAX_PROBES || !l->hooks[id])
		return -EOPNOTSUPP;
	for (p = l->progs; p; p = p->next) {
		if (p->id == id && p->kind == kind)
			return p->fd >= 0 ? p->fd : -EOPNOTSUPP;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->id = id;
	p->kind = kind;
	p->fd = load_gen(l, p, id, kind, NULL, why, sizeof(why));
	p->next = l->progs;
	l->progs = p;
	if (p->fd < 0)
		tt_warn("hook %u: %s: its session program could not be built: %s", id,
			kind == TT_BPFGEN_PAIR ? "a uprobe and a uretprobe"
					       : "separate entry and return events",
			why);
	return p->fd;
}

/* Only with TASKTAP_PAIR=1 for now (bench part 1's variant (g): docs/performance.md). */
const char *tt_loader__pair_refusal(void)
{
	static int has = -1;
	const char *on = getenv("TASKTAP_PAIR");

	if (!on || strcmp(on, "1"))
		return "not asked for (TASKTAP_PAIR=1)";
	if (has < 0)
		has = loader__has_uprobe_links(TT_BPF_TRACE_UPROBE_SESSION) &&
		      loader__session_kfuncs()->session_is_return > 0;
	return has ? NULL : "this kernel has no uprobe session links";
}

int loader__pair_for(struct tt_loader *l, uint32_t id)
{
	if (tt_loader__pair_refusal() || id == 0 || id > TT_MAX_PROBES || !l->hooks[id] ||
	    tt_bpfgen__pair_refusal(l->hooks[id]) || !loader__uprobe_attach_type())
		return -EOPNOTSUPP;
	return session_prog(l, id, TT_BPFGEN_PAIR);
}

/*
 * Whether hook `id` runs as one session program: the kernel has them, the
 * hook may (tt_bpfgen__session_refusal()) and its program loaded.
 */
int loader__session_for(struct tt_loader *l, uint32_t id)
{
	if (tt_loader__session_refusal() || id == 0 || id > TT_MAX_PROBES || !l->hooks[id] ||
	    tt_bpfgen__session_refusal(l->hooks[id]) || !loader__uprobe_attach_type())
		return -EOPNOTSUPP;
	return session_prog(l, id, TT_BPFGEN_SESSION);
}

/*
 * The program to attach for hook `id` of `kind` (at USDT `site`): its
 * compiled program, loaded on first use; or the generic interpreter where
 * none can be built: a hook the loader was not given, an opcode or
 * argument form bpfgen cannot emit, or a program the verifier of this
 * kernel refuses. Each hook says once why it runs interpreted. Returns an
 * fd, or -errno.
 */
int loader__prog_for(struct tt_loader *l, uint32_t id, enum tt_bpfgen_kind kind,
		     const struct tt_usdt_site *site)
{
	struct gen_prog *p;
	char why[512] = "";

	if (kind == TT_BPFGEN_SESSION || kind == TT_BPFGEN_PAIR)
		return session_prog(l, id, kind);
	if (l->interpret || id == 0 || id > TT_MAX_PROBES || !l->hooks[id])
		return interpreter_for(l, id, kind, "");
	for (p = l->progs; p; p = p->next) {
		if (p->id == id && p->kind == kind &&
		    (!site || !memcmp(&p->site, site, sizeof(*site))))
			return p->fd >= 0 ? p->fd : interpreter_for(l, id, kind, "");
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->id = id;
	p->kind = kind;
	if (site)
		p->site = *site;
	p->fd = load_gen(l, p, id, kind, site, why, sizeof(why));
	p->next = l->progs;
	l->progs = p;
	if (p->fd >= 0)
		return p->fd;
	if (tt_bpfgen__compiled_only(l->hooks[id]))
		return interpreter_for(l, id, kind, why);
	tt_warn("hook %u: its captures run in the generic interpreter: cannot compile them to BPF: "
		"%s",
		id, why);
	return generic_prog(l, kind);
}
