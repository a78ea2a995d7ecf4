/* SPDX-License-Identifier: GPL-2.0 */
/*
 * procs.bpf.h: the programs about processes rather than hooks, part of
 * tasktap.bpf.c (included at its end, one BPF object): the exec watch
 * (process names, name prefixes, directories, cgroups the agent wants
 * execs of), holds (a process stopped at exec, or a followed process's
 * child at fork, until the agent has attached, with a deadline that
 * continues it), process exits, and followed forks. Events go out through
 * tasktap.bpf.c's rings: fill_header(), submit(), this_cpu_ring(),
 * stat_inc().
 */

/* Process names whose execs the agent wants to hear of (comm: targets). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, char[TT_COMM_LEN]);
	__type(value, __u32);
} watch_comms SEC(".maps");

/* Name prefixes whose execs the agent wants to hear of (binary: globs). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TT_MAX_WATCH_PREFIXES);
	__type(key, __u32);
	__type(value, struct tt_watch_prefix);
} watch_prefixes SEC(".maps");

/* Directories whose execs the agent wants to hear of (binary: globs such as /opt/w/ *). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TT_MAX_WATCH_DIRS);
	__type(key, __u32);
	__type(value, struct tt_watch_dir);
} watch_dirs SEC(".maps");

/* cgroups whose processes' execs the agent wants to hear of (library: narrowed by cgroup:). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TT_MAX_WATCH_CGROUPS);
	__type(key, __u32);
	__type(value, struct tt_watch_cgroup);
} watch_cgroups SEC(".maps");

/* Report every exec (binary: globs are matched by the agent on the path). */
volatile __u32 watch_all_execs = 0;

/*
 * Processes stopped at exec until the agent attaches, by tgid (struct
 * tt_hold): the kernel continues each after `hold_ns` whatever became of the
 * agent. Timers die with the map's last user reference, so the agent pins
 * the map before it sets `hold_ns`.
 */
struct hold {
	struct bpf_timer timer;
	__u64 start_boottime;
	__u64 exec_ns;
};

_Static_assert(sizeof(struct hold) == sizeof(struct tt_hold), "hold differs from tt_hold");

_Static_assert(__builtin_offsetof(struct hold, start_boottime) ==
			       __builtin_offsetof(struct tt_hold, start_boottime) &&
		       __builtin_offsetof(struct hold, exec_ns) ==
			       __builtin_offsetof(struct tt_hold, exec_ns),
	       "hold differs from tt_hold");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TT_MAX_HOLDS);
	__type(key, __u32);
	__type(value, struct hold);
} holds SEC(".maps");

/*
 * The agent that set the holds, in the initial pid namespace, and its start
 * time in clock ticks (/proc/PID/stat's starttime) of `tick_ns`: while it
 * lives and is not stopped, a hold lasts up to TT_HOLD_MAX_NS, for the
 * agent is attaching; else TT_HOLD_NS.
 */
volatile __u32 agent_tgid = 0;

volatile __u64 agent_start_ticks = 0;

volatile __u64 tick_ns = 0;

/*
 * The agent's hold watchdog (user/hold.c), known the same way: while it
 * lives and is not stopped, a deadline is its to keep (from a process,
 * where a signal always goes), and the timer waits up to TT_HOLD_MAX_NS.
 */
volatile __u32 watchdog_tgid = 0;

volatile __u64 watchdog_start_ticks = 0;

/* How long a process may stay stopped at exec with no agent at work (TT_HOLD_NS); 0: none is. */
volatile __u64 hold_ns = 0;

/*
 * Holds that reached their deadline, how often a deadline's signal was tried
 * again, and holds whose deadline was left to the watchdog (hold_arm()).
 */
struct {
	__u64 expired;
	__u64 retries;
	__u64 untimed;
} hold_stats = {};

/* A deadline whose signal could not be sent tries again after this. */
#define HOLD_RETRY_NS (1000 * 1000)

/* How long past a deadline the timer waits for a watchdog at work to keep it. */
#define HOLD_WATCHDOG_GRACE_NS (50 * 1000 * 1000ULL)

#define SIGCONT		 18
#define SIGSTOP		 19
#define PF_EXITING	 0x4
#define TASK_STOPPED_BIT 0x4 /* __TASK_STOPPED */
#define TASK_TRACED_BIT	 0x8 /* __TASK_TRACED */
#define CLOCK_MONOTONIC	 1
#define ENOMEM		 12

#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym) (!!(sym))
#endif

struct task_struct *bpf_task_from_pid(s32 pid) __ksym __weak;

void bpf_task_release(struct task_struct *p) __ksym __weak;

int bpf_send_signal_task(struct task_struct *task, int sig, enum pid_type type,
			 u64 value) __ksym __weak;

struct exec_event {
	struct tt_event h;
	char comm[TT_COMM_LEN];
};

/* The TT_WATCH_* flags of the first prefix in `watch_prefixes` that `comm` starts with. */
static __always_inline __u32 prefix_watch(const char *comm)
{
	__u64 c[2];

	__builtin_memcpy(c, comm, sizeof(c));
#pragma unroll
	for (__u32 i = 0; i < TT_MAX_WATCH_PREFIXES; i++) {
		__u32 key = i;
		struct tt_watch_prefix *p = bpf_map_lookup_elem(&watch_prefixes, &key);
		__u64 w[2];

		if (!p || p->len == 0)
			continue;
		__builtin_memcpy(w, p->comm, sizeof(w));
		if ((((c[0] ^ w[0]) & p->mask[0]) | ((c[1] ^ w[1]) & p->mask[1])) == 0)
			return p->flags;
	}
	return 0;
}

/*
 * The TT_WATCH_* flags of the first entry of `watch_dirs` that the exec'ed
 * file name starts with. Each word is compared under the entry's mask,
 * without a branch: with each word's mask worked out here from the length
 * (three ways a word), the verifier walked ~10,000 of tt_exec's 13,358
 * instructions at every start (~8 ms of the load's ~30).
 */
static __always_inline __u32 dir_watch(struct linux_binprm *bprm)
{
	__u64 name[TT_WATCH_DIR_LEN / 8] = {};
	const char *filename = BPF_CORE_READ(bprm, filename);

	if (bpf_probe_read_kernel_str(name, sizeof(name), filename) <= 0)
		return 0;
	for (__u32 i = 0; i < TT_MAX_WATCH_DIRS; i++) {
		__u32 key = i;
		struct tt_watch_dir *d = bpf_map_lookup_elem(&watch_dirs, &key);
		__u64 diff = 0;

		if (!d || d->len == 0)
			continue;
#pragma unroll
		for (__u32 k = 0; k < TT_WATCH_DIR_LEN / 8; k++) {
			__u64 w;

			__builtin_memcpy(&w, d->path + 8 * k, sizeof(w));
			diff |= (name[k] ^ w) & d->mask[k];
		}
		if (!diff)
			return d->flags;
	}
	return 0;
}

/*
 * The TT_WATCH_* flags of the first entry of `watch_cgroups` that is the
 * current process's cgroup (v2) or one of its ancestors. The entries are
 * read once, then compared at each level: a look-up per entry and level
 * (128) made the verifier walk ~3,200 of tt_exec's instructions at every
 * start, ~1,400 now.
 */
static __always_inline __u32 cgroup_watch(void)
{
	struct tt_watch_cgroup w[TT_MAX_WATCH_CGROUPS] = {};

	for (__u32 i = 0; i < TT_MAX_WATCH_CGROUPS; i++) {
		__u32 key = i;
		struct tt_watch_cgroup *c = bpf_map_lookup_elem(&watch_cgroups, &key);

		if (c)
			w[i] = *c;
	}
	for (int level = 1; level <= TT_MAX_CGROUP_DEPTH; level++) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);

		if (!id)
			return 0; /* below the process's own cgroup */
#pragma unroll
		for (__u32 i = 0; i < TT_MAX_WATCH_CGROUPS; i++) {
			if (w[i].id == id)
				return w[i].flags;
		}
	}
	return 0;
}

/* Whether process `tgid`, started at `start_ticks`, lives and is not stopped (SIGSTOP, a debugger).
 */
static bool at_work(__u32 tgid, __u64 start_ticks)
{
	struct task_struct *task;
	bool ok;

	if (!tgid)
		return false;
	task = bpf_task_from_pid(tgid);
	if (!task)
		return false;
	ok = tick_ns && task->start_boottime / tick_ns == start_ticks &&
	     !(task->__state & (TASK_STOPPED_BIT | TASK_TRACED_BIT)) && !(task->flags & PF_EXITING);
	bpf_task_release(task);
	return ok;
}

/*
 * When hold `h` ends: hold_ns after its exec, up to TT_HOLD_MAX_NS while the
 * agent that set it is at work (attaching); and while its watchdog is at
 * work, HOLD_WATCHDOG_GRACE_NS later, the deadline being the watchdog's to
 * keep (from a process, where the signal always goes).
 */
static __u64 hold_end(const struct hold *h)
{
	__u64 end = h->exec_ns + hold_ns;

	if (at_work(agent_tgid, agent_start_ticks) && end < h->exec_ns + TT_HOLD_MAX_NS)
		end = h->exec_ns + TT_HOLD_MAX_NS;
	if (at_work(watchdog_tgid, watchdog_start_ticks))
		end += HOLD_WATCHDOG_GRACE_NS;
	return end;
}

/*
 * A hold's deadline: continue its process, unless the pid now names another
 * or it is gone. On x86 a signal is refused (-EPERM) from a timer that
 * interrupted a CPU without a user address space loaded (idle, a kernel
 * thread), and -EBUSY when the CPU's signal work is taken: the deadline
 * tries again every HOLD_RETRY_NS, until the timer interrupts a process.
 */
static int hold_expired(void *map, __u32 *tgid, struct hold *h)
{
	struct task_struct *task = bpf_task_from_pid(*tgid);
	__u64 end;
	int err;

	if (!task) {
		bpf_map_delete_elem(map, tgid);
		return 0;
	}
	/* another process with a reused pid, or one exiting (which needs no continuing) */
	if (task->start_boottime != h->start_boottime || (task->flags & PF_EXITING)) {
		bpf_task_release(task);
		bpf_map_delete_elem(map, tgid);
		return 0;
	}
	/* the agent is at work, or the watchdog is: wait for them */
	end = hold_end(h);
	if (bpf_ktime_get_ns() < end && bpf_timer_start(&h->timer, end, BPF_F_TIMER_ABS) == 0) {
		bpf_task_release(task);
		return 0;
	}
	err = bpf_send_signal_task(task, SIGCONT, PIDTYPE_TGID, 0);
	bpf_task_release(task);
	if (err == 0) {
		__sync_fetch_and_add(&hold_stats.expired, 1);
		bpf_map_delete_elem(map, tgid);
		return 0;
	}
	__sync_fetch_and_add(&hold_stats.retries, 1);
	if (bpf_timer_start(&h->timer, HOLD_RETRY_NS, 0))
		bpf_map_delete_elem(map, tgid);
	return 0;
}

/*
 * Arms hold `h`'s deadline: its timer, or the watchdog alone while it is at
 * work (it reads the pinned map, continues the process at the same deadline
 * from process context, and outlives its agent until the holds are gone).
 * The kernel allocates a timer without waiting (kmalloc_nolock() since
 * 6.18): on a loaded machine that fails with -ENOMEM now and then (3 fork
 * holds in about 400 here, once 8 tries in a row), and a forked child ran
 * its first task before its probes were in. 0, or the error that leaves `h` unarmed.
 */
static __always_inline int hold_arm(struct hold *h)
{
	int err = bpf_timer_init(&h->timer, &holds, CLOCK_MONOTONIC);

	if (err == -ENOMEM && at_work(watchdog_tgid, watchdog_start_ticks)) {
		__sync_fetch_and_add(&hold_stats.untimed, 1);
		return 0;
	}
	if (err)
		return err;
	err = bpf_timer_set_callback(&h->timer, hold_expired);
	return err ? err : bpf_timer_start(&h->timer, hold_ns, 0);
}

/*
 * Stops `task` with a deadline that continues it: the current process,
 * which just called exec (`current`), or a child just forked and not yet
 * run. Returns whether it did: not when holds are off, this kernel cannot
 * signal from a timer, or the deadline could not be armed (hold_arm()).
 */
static __always_inline bool hold_task(struct task_struct *task, bool current)
{
	struct hold init = {}, *h;
	__u32 tgid = task->tgid;

	if (!hold_ns || !bpf_ksym_exists(bpf_send_signal_task) ||
	    !bpf_ksym_exists(bpf_task_from_pid) || !bpf_ksym_exists(bpf_task_release))
		return false;
	init.start_boottime = task->start_boottime;
	init.exec_ns = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&holds, &tgid, &init, BPF_ANY))
		return false;
	h = bpf_map_lookup_elem(&holds, &tgid);
	if (!h)
		return false;
	if (hold_arm(h) || (current ? bpf_send_signal(SIGSTOP)
				    : bpf_send_signal_task(task, SIGSTOP, PIDTYPE_TGID, 0))) {
		bpf_map_delete_elem(&holds, &tgid);
		return false;
	}
	return true;
}

/* Stops the current process, which just called exec (see hold_task()). */
static __always_inline bool hold(struct task_struct *task)
{
	return hold_task(task, true);
}

/* Ends a hold at once: the agent will not hear of the process. */
static __always_inline void unhold(struct task_struct *task)
{
	__u32 tgid = task->tgid;

	bpf_map_delete_elem(&holds, &tgid);
	bpf_send_signal(SIGCONT);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tt_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct exec_event ev = {};
	__u32 *watch;

	void *ring;
	__u32 flags;

	bpf_get_current_comm(ev.comm, sizeof(ev.comm));
	watch = bpf_map_lookup_elem(&watch_comms, ev.comm);
	flags = watch ? *watch : prefix_watch(ev.comm);
	if (!flags && watch_all_execs)
		flags = dir_watch(bprm);
	if (!flags && watch_all_execs)
		flags = cgroup_watch();
	if (!flags && !watch_all_execs)
		return 0;
	fill_header(&ev.h, 0, TT_EV_EXEC);
	ev.h.size = sizeof(ev);
	if ((flags & TT_WATCH_STOP) && hold(task))
		ev.h.flags |= TT_EXECF_STOPPED;
	if (!(ev.h.flags & TT_EXECF_STOPPED)) {
		submit(&ev, sizeof(ev), TT_STAT_LOST_EXITS, true);
		return 0;
	}
	/* a stopped process waits for the agent: wake it now */
	ring = this_cpu_ring();
	if (!ring || bpf_ringbuf_output(ring, &ev, sizeof(ev), BPF_RB_FORCE_WAKEUP)) {
		stat_inc(TT_STAT_LOST_EXITS);
		unhold(task); /* nobody would continue it before the deadline */
	}
	return 0;
}

/*
 * Processes whose children are followed, by tgid: --pid N and, as they
 * fork, its descendants. A child is added at fork, and goes at its exit.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TT_MAX_FOLLOWED);
	__type(key, __u32);
	__type(value, __u8);
} follow SEC(".maps");

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tt_exit, struct task_struct *task, bool group_dead)
{
	struct tt_event ev;

	frames_to_calls(task); /* before the exit event, which has the agent take them */
	fill_header(&ev, 0, TT_EV_EXIT);
	ev.pid = BPF_CORE_READ(task, tgid);
	ev.tid = BPF_CORE_READ(task, pid);
	ev.ret = BPF_CORE_READ(task, exit_code);
	if (group_dead) {
		ev.flags |= TT_EXITF_GROUP_DEAD;
		bpf_map_delete_elem(&follow, &ev.pid);
	}
	submit(&ev, sizeof(ev), TT_STAT_LOST_EXITS, true);
	return 0;
}

/* Stops `child`, just forked and not yet run, as hold() stops an exec. */
static __always_inline bool hold_child(struct task_struct *child)
{
	return hold_task(child, false);
}

/*
 * A followed process forked: its child is followed too, stopped before it
 * first runs until the agent has attached there what it attached in the
 * parent, and reported (pid: the child, ret: the parent). A new thread is
 * not a new process.
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(tt_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	__u8 one = 1;
	struct tt_event ev;
	void *ring;

	if (ptgid == ctgid || !bpf_map_lookup_elem(&follow, &ptgid))
		return 0;
	bpf_map_update_elem(&follow, &ctgid, &one, BPF_ANY);
	fill_header(&ev, 0, TT_EV_FORK);
	ev.pid = ctgid;
	ev.tid = child->pid;
	ev.ret = ptgid;
	if (!hold_child(child)) {
		submit(&ev, sizeof(ev), TT_STAT_LOST_EXITS, true);
		return 0;
	}
	ev.flags |= TT_FORKF_STOPPED;
	ring = this_cpu_ring();
	if (!ring || bpf_ringbuf_output(ring, &ev, sizeof(ev), BPF_RB_FORCE_WAKEUP)) {
		stat_inc(TT_STAT_LOST_EXITS);
		bpf_map_delete_elem(&holds, &ctgid);
		bpf_send_signal_task(child, SIGCONT, PIDTYPE_TGID, 0);
	}
	return 0;
}
