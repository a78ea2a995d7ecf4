/* SPDX-License-Identifier: MIT */
/* loader_internal.h: the loader's state and the helpers loader*.c share; private. */
#ifndef TASKTAP_LOADER_INTERNAL_H
#define TASKTAP_LOADER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <bpf/libbpf.h>

#include "bpfgen.h"
#include "loader.h"
#include "tasktap/usdt.h"
#include "tasktap.skel.h"

#define BPF_FS_MAGIC 0xcafe4a11

/*
 * One uprobe: a BPF link (a perf-event link, or for kernels without them
 * the perf event itself, which cannot be pinned) and where it is pinned.
 */
struct ulink {
	int fd;	   /* -1: none */
	char *pin; /* owned; NULL: not pinned */
};

/* The uprobes at one probed place: its entry, and its return when it has one. */
struct probe_pair {
	struct ulink entry;
	struct ulink ret; /* fd -1 without a return probe */
};

/* A program bpfgen compiled for a hook (and a USDT site), loaded; kept while the hook stays. */
struct gen_prog {
	uint32_t id;
	enum tt_bpfgen_kind kind;
	struct tt_usdt_site site; /* TT_BPFGEN_USDT */
	int fd;			  /* -1: it could not be built: the interpreter runs the hook */
	struct bpf_insn *insns;	  /* its instructions (n), to share it; owned, or NULL */
	size_t n;
	struct gen_prog *next;
};

/*
 * One attachment: a function's entry (and return) probe, or a USDT probe's
 * uprobes, one per site (place in the file that fires it).
 */
struct shared_site;

struct tt_link {
	struct probe_pair *sites; /* nsites; owned */
	struct shared_site *
		*shared; /* USDT: the shared site each site joined, or NULL; owned array */
	__u64 *cookies;	 /* USDT: the usdt_sites key of each site (0: none yet); else NULL */
	size_t nsites;
	bool adopted;	     /* every site was adopted from a pin */
	bool session;	     /* a session link: its program runs at entry and return */
	struct py_group *py; /* Python: the group it is member `py_hook` of (its sites); or NULL */
	uint32_t py_hook;
	/* a function's: the shared sites of its entry and its return (NULL: none), as hook fn_id */
	struct shared_site *fn_site[2];
	uint32_t fn_id;
	struct tt_link *prev, *next;
};

/*
 * A site that the compiled hooks of a loader share (a USDT site, a
 * function's entry, or its return): one uprobe, whose program (a
 * dispatcher) tail-calls entry `slot` of the loader's prog array, where
 * the program bpfgen made of every member's program is; a member coming
 * or going replaces that entry at once (user/bpfgen.c
 * tt_bpfgen__emit_site()).
 */
struct shared_site {
	enum tt_bpfgen_kind kind; /* TT_BPFGEN_USDT, _ENTRY or _RETURN (a uretprobe) */
	dev_t dev;
	ino_t ino;
	uint64_t offset;
	pid_t pid;
	uint32_t slot;
	struct ulink link;
	int disp_fd;  /* the dispatcher */
	int prog_fd;  /* the members' program, in the slot */
	bool adopted; /* the uprobe was pinned by an earlier agent */
	/*
	 * Adopted, and the earlier agent's program left in the slot until
	 * every hook of this agent has joined (tt_loader__prune_pins()).
	 */
	bool pending;
	uint32_t *ids;		   /* n member hook ids; owned */
	struct tt_usdt_site *args; /* USDT: each one's argument locations (the same site); owned */
	size_t n;
	struct shared_site *next;
};

/*
 * The two halves of a start without a pin directory that run beside the
 * hooks' attachment (loader_start.c): the rings installed in their array,
 * and the object loaded with its tracepoints attached.
 */
struct bg_step {
	pthread_t thread;
	bool running; /* started and not yet joined */
	int err;      /* 0, or -errno with msg */
	char msg[512];
};

struct tt_loader {
	/*
	 * Without a pin directory, the skeleton's programs, its .bss and the
	 * `holds` map exist only once loader__ready() returned 0, the rings
	 * (ring_fds, rb, ring_pages) once loader__rings_ready() did; its other
	 * maps (made by loader_start.c) from tt_loader__new() on.
	 */
	struct tasktap_bpf *skel;
	pid_t watchdog; /* the hold watchdog, or 0 */
	struct bg_step rings_step, load_step;
	size_t ring_bytes;	    /* each ring's size */
	__u64 wakeup_watermark;	    /* bytes in a ring that wake the agent (the rodata's value) */
	struct tasktap_bpf *interp; /* the generic interpreter, loaded on first need; or NULL */
	struct tasktap_bpf *py;	    /* the Python programs, loaded on first need; or NULL */
	struct ring_buffer *rb;
	struct bpf_link *exit_link;
	struct bpf_link *exec_link;
	struct bpf_link *fork_link; /* NULL until a process is followed (tt_loader__follow()) */
	struct tt_link *links;	    /* every attachment, a doubly linked list */
	struct py_group *py_groups; /* the Python hooks' shared uprobes (loader_python.c); owned */
	int nattached;		    /* hooks attached */
	size_t nsites;		    /* distinct USDT sites (cookies) the attachments use */
	int ncpus;
	int *ring_fds;
	/* each ring's consumer and producer pages, mapped read-only: where its reader stopped */
	const volatile uint64_t **ring_pages;
	char *pin_dir;	/* owned; NULL: nothing pinned */
	char *hold_pin; /* owned: where the hold map is pinned without pin_dir; else NULL */
	bool adopted;	/* the maps were pinned by an earlier agent */
	bool interpret; /* no compiled programs: the interpreter everywhere */
	bool sessions;	/* a session program was attached: `calls` may hold calls */
	struct tt_hook_prog *hooks[TT_MAX_PROBES + 1]; /* what each hook runs; owned */
	struct gen_prog *progs;			       /* compiled programs; owned */
	int hook_lost_fd;  /* per-CPU array: lost events per hook (compiled programs count them) */
	int site_progs_fd; /* prog array of the shared sites' programs; -1 until needed */
	struct shared_site *shared; /* owned list */
	struct tt_reaper *reaper;   /* closes the probes of exited processes; owned, or NULL */
	bool slot_used[TT_MAX_USDT_SITES];
	tt_event_fn on_event;
	void *ctx;
};

/* What loader__attach_site() attaches: a uprobe at `offset` of `path`, a uretprobe if asked. */
struct site_opts {
	int entry_prog; /* fds */
	int ret_prog;	/* with retprobe */
	bool session;	/* entry_prog is a session program: one link, entry and return */
	const char *path;
	uint64_t offset;
	uint64_t ref_ctr; /* file offset of a USDT semaphore, or 0 */
	uint64_t cookie;
	bool retprobe;
	pid_t pid;
	const char *pin_name; /* NULL: not pinned */
};

/* loader.c: the loader made and freed */
void loader__free_progs(struct tt_loader *l, uint32_t id, bool all);

/* loader_attach.c: uprobes attached and detached */
/* uprobe_multi and session links (kernel 6.6, 6.13), which Debian's uapi headers predate */
#define TT_BPF_TRACE_UPROBE_MULTI    48
#define TT_BPF_TRACE_UPROBE_SESSION  57
#define TT_BPF_F_UPROBE_MULTI_RETURN 1U
bool loader__has_uprobe_links(__u32 attach_type);
enum bpf_attach_type loader__uprobe_attach_type(void);
int loader__uprobe_multi_link(int prog, __u32 attach_type, const char *path, __u64 offset,
			      __u64 ref_ctr, __u64 cookie, bool ret, pid_t pid);
int loader__attach_one(struct tt_loader *l, const struct site_opts *o, bool retprobe,
		       const char *pin, struct ulink *out);
int loader__attach_site(struct tt_loader *l, const struct site_opts *o, struct probe_pair *pp,
			bool *adopted);
bool loader__cookie_in_use(const struct tt_loader *l, const struct tt_link *except, __u64 cookie);
struct tt_link *loader__new_link(struct tt_loader *l, size_t nsites, bool usdt);
void loader__ulink_close(struct ulink *u, bool keep);
/* Closes the links of t (unpinning them unless `keep_pins`) and frees it. */
void loader__free_link(struct tt_loader *l, struct tt_link *t, bool keep_pins);

/* loader_pins.c: the pin directory, adoption */
void loader__pin_path(const struct tt_loader *l, const char *name, char *buf, size_t len);
bool loader__runs_prog(int fd, int prog_fd);
struct bpf_map *loader__shared_maps(struct tasktap_bpf *skel, int i);
/* Creates the pin directory, on bpffs (mounted at /sys/fs/bpf when it is not). */
int loader__make_pin_dir(const char *dir, char *err, size_t errlen);
/* Asks libbpf to reuse the maps pinned in the pin directory, or to pin new ones there. */
int loader__pin_maps(struct tt_loader *l);
/* The pin paths of an attachment named `name`: "-e" for the entry, "-r" for the return. */
void loader__link_pins(const struct tt_loader *l, const char *name, char *entry, char *ret,
		       size_t len);
/* Adopts the links pinned as o->pin_name when they run o's programs; both or none. */
bool loader__adopt(struct tt_loader *l, const struct site_opts *o, struct probe_pair *pp);

/* loader.c: the start's steps */
/*
 * Creates one ring of l->ring_bytes per possible CPU (l->ring_fds) and maps
 * them all (l->rb); loader__install_rings() plugs them into the `rings`
 * array. 0 or -errno with a message; tt_loader__free() frees what it made.
 */
int loader__create_rings(struct tt_loader *l, char *err, size_t errlen);
int loader__install_rings(struct tt_loader *l, char *err, size_t errlen);
int loader__finish_object(struct tt_loader *l, char *err, size_t errlen);

/* loader_start.c: the object loaded beside the hooks' attachment */
int loader__start_in_background(struct tt_loader *l, char *err, size_t errlen);
int loader__rings_ready(struct tt_loader *l);
int loader__ready(struct tt_loader *l);

/* loader_progs.c: what each hook runs (compiled, or the interpreter) */
int loader__load_interpreter(struct tt_loader *l);
/* The Python programs (tt_py_entry, tt_py_return), loaded into l->py on first need. 0 or -errno. */
int loader__load_python(struct tt_loader *l);
struct tt_bpfgen_maps loader__gen_maps(const struct tt_loader *l);
int loader__prog_for(struct tt_loader *l, uint32_t id, enum tt_bpfgen_kind kind,
		     const struct tt_usdt_site *site);
/* Hook id's session program (one link: entry and return), or -EOPNOTSUPP/-errno: not here. */
int loader__session_for(struct tt_loader *l, uint32_t id);
/* Hook id's two-event session program (TT_BPFGEN_PAIR), or -EOPNOTSUPP/-errno: not here. */
int loader__pair_for(struct tt_loader *l, uint32_t id);

/* loader_session.c: uprobe session programs' kfuncs (ids < 0: missing) */
const struct tt_bpfgen_kfuncs *loader__session_kfuncs(void);

/* loader_python.c: a Python hook's attachment leaves its group (the last one detaches it) */
void loader__leave_py_group(struct tt_loader *l, struct tt_link *t);

/* loader_usdt.c: USDT sites, shared by the hooks on them; shared sites */
bool loader__is_compiled(const struct tt_loader *l, int fd);
int loader__load_site(struct tt_loader *l, struct shared_site *site, char *why, size_t whylen);
struct stat;
/*
 * Hook `id` joins the shared site of `kind` at o->offset of the file (st)
 * in process o->pid (made, and its uprobe attached, for the first hook;
 * `args`: a USDT site's, else NULL): the site's program is rebuilt with
 * it. 0 and the site in *out, or -errno with why.
 */
int loader__join_site(struct tt_loader *l, enum tt_bpfgen_kind kind, uint32_t id,
		      const struct site_opts *o, const struct stat *st,
		      const struct tt_usdt_site *args, struct shared_site **out, char *why,
		      size_t whylen);
void loader__leave_site(struct tt_loader *l, struct shared_site *site, uint32_t id, bool keep);

#endif /* TASKTAP_LOADER_INTERNAL_H */
