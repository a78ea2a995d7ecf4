/* SPDX-License-Identifier: MIT */
/*
 * The loader: loads the BPF programs, creates one ring buffer per CPU,
 * stores capture programs, attaches and detaches probes, and drains the
 * rings. It knows nothing of spans or export.
 */
#ifndef TASKTAP_LOADER_H
#define TASKTAP_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>
#include "tasktap/capture.h"
#include "tasktap/event.h"

struct tt_loader;

/* One attachment: a hook's entry (and return) probe, or its USDT probe's sites. */
struct tt_link;

/* Receives each drained event; the memory is valid only during the call. */
typedef int (*tt_event_fn)(const struct tt_event *ev, size_t size, void *ctx);

struct tt_loader_opts {
	size_t ring_bytes; /* per CPU, a power of two; 0: the default */
	/*
	 * A directory on bpffs, or NULL. The maps, the rings, the exit
	 * tracepoint and the uprobe links (of USDT probes too) are pinned
	 * there and stay in the kernel when the agent stops; a loader given
	 * the same directory adopts them, and drains what the rings recorded
	 * meanwhile.
	 */
	const char *pin_dir;
	/* The hold watchdog (tt_hold__watchdog()), which BPF leaves deadlines to while it lives; 0:
	 * none */
	pid_t watchdog;
	/*
	 * Run every hook in the generic capture interpreter (bpf/tasktap.bpf.c)
	 * instead of its own program compiled by bpfgen: for comparing the two.
	 */
	bool interpret;
	tt_event_fn on_event;
	void *ctx;
};

#define TT_DEFAULT_RING_BYTES (8u << 20)
/* The largest ring --ring-size takes: a map's size is 32 bits in bpf(2). */
#define TT_MAX_RING_BYTES (1u << 30)

/*
 * Loads the BPF object and attaches the exit tracepoint. Returns a loader
 * the caller releases with tt_loader__free(), or NULL with errno set and a
 * message in err.
 */
struct tt_loader *tt_loader__new(const struct tt_loader_opts *opts, char *err, size_t errlen);

/*
 * Waits until the BPF object is loaded and its exec and exit programs are
 * attached: without a pin directory tt_loader__new() returns while they
 * load, so that the hooks attach meanwhile. The agent waits before it
 * watches execs and says "attached". 0, or -errno with a message in err
 * (the loader is then of no use but to free).
 */
int tt_loader__ready(struct tt_loader *l, char *err, size_t errlen);

/* Detaches every probe and releases everything. Accepts NULL. */
void tt_loader__free(struct tt_loader *l);

/*
 * Stores what hook `id` runs: in the interpreter's map, and as the source
 * of its compiled programs (user/bpfgen.c), which the attachments made
 * from now on run. 0 or -errno.
 */
int tt_loader__set_hook(struct tt_loader *l, uint32_t id, const struct tt_hook_prog *prog);

/*
 * Why the hooks that could (TT_HOOKF_SESSION, tt_bpfgen__session_refusal())
 * keep separate entry and return events here, or NULL when they run as
 * uprobe session programs, one event per call (the default): turned off
 * (TASKTAP_SESSION=0 in the environment), or the kernel lacks uprobe
 * session links (a feature probe, once; not a version check). Where it is
 * not taken, the two-event path pairs calls in the assembler as before
 * (docs/architecture.md "One event per call").
 */
const char *tt_loader__session_refusal(void);

/*
 * Why a two-event hook keeps a uprobe and a uretprobe rather than one
 * session program writing its two events (TT_BPFGEN_PAIR), or NULL when it
 * takes one: not asked for (TASKTAP_PAIR=1), or the kernel lacks session
 * links. docs/architecture.md "Hooks on one function".
 */
const char *tt_loader__pair_refusal(void);

/*
 * Takes out of BPF the calls of process `pid` (of every process when 0)
 * that session programs hold between their entry and their return, and
 * hands each to fn as the entry event the two-event path would have
 * written, oldest first: for a process that died in them, or an agent that
 * stops, so that their spans end as any open span does (its exit, the
 * shutdown) instead of vanishing. A return that runs after finds its call
 * gone and writes nothing. With `keep` (an agent handing its open spans
 * over, --pin) they stay: their returns write their whole calls for the
 * next agent, which ends the spans it was handed with them; an agent reads
 * the calls in flight so too (events__peek_calls()). Each entry has
 * TT_ENTRYF_HELD set. Returns how many.
 */
int tt_loader__take_calls(struct tt_loader *l, uint32_t pid, bool keep, tt_event_fn fn, void *ctx);

/*
 * Retires session link `link` of hook `gid` (its attach cookie): it stays
 * attached, and its program, at entry, takes no new call of any link of
 * that id; the calls it opened still return through it, whole. Unpinned:
 * a next agent does not adopt it. Returns 0, or -EOPNOTSUPP when it is no
 * session link (detach it instead), or -errno.
 */
int tt_loader__retire(struct tt_loader *l, struct tt_link *link, uint32_t gid);
/* Hook id `gid` takes calls again: its retired links are detached. */
void tt_loader__unretire(struct tt_loader *l, uint32_t gid);

/*
 * Attaches hook `id` at `offset` in the file at `path` (and at the
 * function's return when `retprobe`), in process `pid` only, or in every
 * process when pid is -1. With a pin directory and a `pin_name`, the links
 * are pinned under that name, and links already pinned under it (by an
 * earlier agent) are adopted instead of attaching again, when they run the
 * same programs (same instructions) as this agent would. Returns 0 and the
 * attachment in *out (owned by the loader; may be NULL), or -errno with a
 * message in err.
 */
int tt_loader__attach(struct tt_loader *l, uint32_t id, const char *path, uint64_t offset,
		      bool retprobe, pid_t pid, const char *pin_name, struct tt_link **out,
		      char *err, size_t errlen);

/*
 * Attaches hook `id` to the USDT probe provider:name of the file at `path`,
 * in process `pid` or in every process (-1): one plain uprobe per site of
 * the probe (each note of that name), with the probe's semaphore as its
 * reference counter, so the semaphore is set while any is attached. When
 * the hook's program is compiled, the hooks on one site share its uprobe
 * and one program (pinned as "site_DEV_INO_OFFSET_PID-sSLOT" and adopted
 * by the next agent); else (the interpreter) each has its own. The
 * sites' argument specs are decoded first (user/usdt.c); a form tasktap
 * cannot read refuses the whole probe, with the probe, the argument and
 * its spec named in err. With a pin directory and a `pin_name`, each
 * interpreted site's link is pinned, or adopted, as tt_loader__attach() does, under
 * `pin_name` + "_" + the site's file offset in hex; its attach cookie
 * (tasktap/usdt.h) is the same in the next agent, so an adopted link still
 * finds its site's argument specs. Counts as one hook. Returns 0 and the
 * attachment in *out (may be NULL), or -errno with a message in err.
 */
int tt_loader__attach_usdt(struct tt_loader *l, uint32_t id, const char *path, const char *provider,
			   const char *name, pid_t pid, const char *pin_name, struct tt_link **out,
			   char *err, size_t errlen);

struct tt_py_interp;
struct tt_py_hook;

/*
 * Attaches Python hook `id` (include/tasktap/pyhook.h) to the interpreter
 * at `path`, found there as `pi`, with `ph` as its settings: where
 * functions start and where frames end (its USDT semaphore set while it
 * is attached), in process `pid` only, or in every process when pid is
 * -1. Not pinned. Returns 0 and the attachment in *out (owned by the
 * loader; may be NULL), or -errno with a message in err.
 */
int tt_loader__attach_python(struct tt_loader *l, uint32_t id, const char *path,
			     const struct tt_py_interp *pi, const struct tt_py_hook *ph, pid_t pid,
			     struct tt_link **out, char *err, size_t errlen);

/* Detaches one attachment, unpins it, and frees it. Accepts NULL. */
void tt_loader__detach_link(struct tt_loader *l, struct tt_link *link);

/*
 * The same for an attachment whose process has exited: its uprobes are
 * closed on the loader's reaper thread (closing one waits for the kernel's
 * unregistering, 0.1-0.5 s), so the caller never waits. Accepts NULL.
 */
void tt_loader__detach_exited(struct tt_loader *l, struct tt_link *link);

/*
 * Whether the attachment (for a USDT probe: every one of its sites) was
 * adopted from a pin left by an earlier agent.
 */
bool tt_link__adopted(const struct tt_link *link);

/*
 * Whether the maps and rings were adopted from the pin directory (an
 * earlier agent left them). Hook ids in what the rings hold were given by
 * that agent.
 */
bool tt_loader__adopted(const struct tt_loader *l);

/*
 * Removes pinned links that no attachment of this loader adopted or made:
 * what an earlier agent attached and this one does not want, and the USDT
 * sites' argument specs no attachment uses. Returns how many links were
 * removed.
 */
int tt_loader__prune_pins(struct tt_loader *l);

/* The fd to poll for a ring that filled past its watermark. */
int tt_loader__epoll_fd(const struct tt_loader *l);

/* Consumes every ring. Returns events consumed, or -errno. */
int tt_loader__drain(struct tt_loader *l);

/*
 * Ring `ring`'s consumer position (where the drain stopped: at its end, or
 * at a record reserved but not committed yet) and producer position (the
 * end of what its writers reserved), read from memory. 0, or -ENOENT past
 * the last ring.
 */
int tt_loader__ring_pos(const struct tt_loader *l, int ring, uint64_t *cons, uint64_t *prod);

/* Sum over CPUs of the BPF counter `which` (enum tt_stat). */
uint64_t tt_loader__stat(const struct tt_loader *l, enum tt_stat which);

/*
 * Events of hook `id` that found the ring full, over every CPU (counted by
 * its compiled programs; those of a hook the interpreter runs are in
 * TT_STAT_LOST only).
 */
uint64_t tt_loader__hook_lost(const struct tt_loader *l, uint32_t id);

/*
 * Programs compiled by bpfgen and loaded (*compiled), and those that could
 * not be (*interpreted: their hooks run in the generic interpreter).
 */
void tt_loader__programs(const struct tt_loader *l, int *compiled, int *interpreted);

/*
 * USDT sites whose hooks share one uprobe and one program (every site of a
 * compiled USDT hook is one), and in *members the hooks of all of them
 * together.
 */
int tt_loader__shared_sites(const struct tt_loader *l, int *members);

/* Hooks attached (an entry and return pair counts once). */
int tt_loader__attached(const struct tt_loader *l);

/*
 * Continues process `pid`, which BPF stopped at exec (TT_EXECF_STOPPED).
 * Returns 0, -ENOENT when its deadline continued it already, or -errno.
 */
int tt_loader__continue(struct tt_loader *l, pid_t pid);

/* Whether BPF holds process `pid` at exec (this agent's holds, with --pin an earlier one's). */
bool tt_loader__held(struct tt_loader *l, pid_t pid);

/*
 * Continues every process still held: by this agent's BPF (or, with --pin,
 * an earlier agent's) and by agents that are gone. Returns how many.
 */
int tt_loader__continue_held(struct tt_loader *l);

/*
 * Follows process `pid`'s forks: BPF stops each child of a followed
 * process at fork (TT_EV_FORK), follows it in turn, and forgets it at its
 * exit. Attaches the fork tracepoint on first use. 0 or -errno.
 */
int tt_loader__follow(struct tt_loader *l, pid_t pid);

/*
 * Asks BPF to report execs of processes named `comm` (TT_EXEC events),
 * stopping them with SIGSTOP until the agent continues them when `stop`.
 * Returns 0 or -errno.
 */
int tt_loader__watch_comm(struct tt_loader *l, const char *comm, bool stop);

/* Stops reporting execs of processes named `comm`. */
void tt_loader__unwatch_comm(struct tt_loader *l, const char *comm);

/*
 * Sets prefix slot `slot` (< TT_MAX_WATCH_PREFIXES): execs of processes
 * whose name starts with the first `len` bytes of `comm` are reported
 * with TT_WATCH_* `flags`; len 0 clears the slot. 0 or -errno.
 */
int tt_loader__watch_prefix(struct tt_loader *l, uint32_t slot, const char *comm, uint32_t len,
			    uint32_t flags);

/*
 * Sets directory slot `slot` (< TT_MAX_WATCH_DIRS): while every exec is
 * reported (tt_loader__watch_all_execs()), those whose file name as given
 * to execve starts with the first `len` (<= TT_WATCH_DIR_LEN) bytes of
 * `path` are reported with TT_WATCH_* `flags` (to stop them); len 0
 * clears the slot. 0 or -errno.
 */
int tt_loader__watch_dir(struct tt_loader *l, uint32_t slot, const char *path, uint32_t len,
			 uint32_t flags);

/*
 * Sets cgroup slot `slot` (< TT_MAX_WATCH_CGROUPS): while every exec is
 * reported, those of processes in cgroup `id` (v2; its directory's inode)
 * or below it are reported with TT_WATCH_* `flags` (to stop them); id 0
 * clears the slot. 0 or -errno.
 */
int tt_loader__watch_cgroup(struct tt_loader *l, uint32_t slot, uint64_t id, uint32_t flags);

/* Reports every exec (for binary: globs matched on the path by the agent). */
void tt_loader__watch_all_execs(struct tt_loader *l, bool on);

/*
 * Detaches every probe; the rings stay, so that what they hold can be
 * drained. With `keep_pins`, pinned links stay in the kernel (for the next
 * agent) and only this agent's handles are closed.
 */
void tt_loader__detach(struct tt_loader *l, bool keep_pins);

#endif /* TASKTAP_LOADER_H */
