/* SPDX-License-Identifier: MIT */
/*
 * Ring-buffer events: the only data that crosses from bpf/ to user/.
 *
 * Every event starts with struct tt_event. Entry events carry the probe's
 * capture records after the header (see capture.h); return and exit
 * events carry none. `size` is the whole event, header included.
 */
#ifndef TASKTAP_EVENT_H
#define TASKTAP_EVENT_H

#include "limits.h"

enum tt_event_kind {
	TT_EV_ENTRY = 1,  /* a probed function was entered */
	TT_EV_RETURN = 2, /* a probed function returned; ret is valid */
	TT_EV_EXIT = 3,	  /* a thread exited; ret is the exit code */
	TT_EV_EXEC = 4,	  /* a watched process called exec; followed by its comm */
	TT_EV_FORK = 5,	  /* a followed process forked: pid the child, ret the parent */
	TT_EV_CALL = 6,	  /* a whole synchronous call, paired in BPF (struct tt_call_tail) */
};

/* TT_EV_FORK flags */
#define TT_FORKF_STOPPED 0x1 /* the child was stopped (SIGSTOP) until the agent attaches */

/* TT_EV_EXEC flags */
#define TT_EXECF_STOPPED 0x1 /* the process was stopped (SIGSTOP) until the agent attaches */

/* Bytes of a process name (TASK_COMM_LEN). */
#define TT_COMM_LEN 16

/* Values of the BPF hash `watch_comms` (key: the comm, NUL-padded). */
#define TT_WATCH_REPORT 0x1 /* report the exec */
#define TT_WATCH_STOP	0x2 /* and stop the process until the agent continues it */

/*
 * Entries of the BPF array `watch_prefixes`: processes whose name starts
 * with `comm[0..len)` (binary: globs, by the literal start of their file
 * name; a len that counts the NUL matches one name exactly). len 0: unused.
 * mask[k] has the bytes of comm's word k that count (0xff each: those
 * before len), set by the agent, so that BPF compares a word without a
 * branch.
 */
#define TT_MAX_WATCH_PREFIXES 16

struct tt_watch_prefix {
	__u32 len;
	__u32 flags; /* TT_WATCH_* */
	char comm[TT_COMM_LEN];
	__u64 mask[TT_COMM_LEN / 8];
};

/*
 * Entries of the BPF array `watch_dirs`: execs whose file name, as given
 * to execve, starts with `path[0..len)` (binary: globs whose file name
 * starts with a glob character, by the literal directory before it:
 * "/opt/workers/" for /opt/workers/ *). len 0: unused. mask[k] has the
 * bytes of path's word k that count (0xff each: those before len), set by
 * the agent, so that BPF compares a word without a branch.
 */
#define TT_MAX_WATCH_DIRS 8
#define TT_WATCH_DIR_LEN  64

/*
 * Entries of the BPF array `watch_cgroups`: execs of processes in cgroup
 * `id` (cgroup v2: its directory's inode) or below it, up to
 * TT_MAX_CGROUP_DEPTH levels from the root (library: targets narrowed by
 * cgroup:). id 0: unused.
 */
#define TT_MAX_WATCH_CGROUPS 8
#define TT_MAX_CGROUP_DEPTH  16

struct tt_watch_cgroup {
	__u64 id;
	__u32 flags; /* TT_WATCH_* */
	__u32 pad;
};

struct tt_watch_dir {
	__u32 len;
	__u32 flags; /* TT_WATCH_* */
	char path[TT_WATCH_DIR_LEN];
	__u64 mask[TT_WATCH_DIR_LEN / 8];
};

/*
 * Entries of the BPF hash `holds` (key: the tgid): a process stopped at
 * exec until the agent attaches. Each arms a timer that continues the
 * process TT_HOLD_NS after its exec when the agent is dead or stopped, or
 * up to TT_HOLD_MAX_NS after while it lives and runs; the agent that
 * attached deletes the entry (which cancels the timer) and continues the
 * process itself.
 * `start_boottime` (ns, the task's) tells a reused pid: /proc/PID/stat's
 * starttime is it in clock ticks.
 */
#define TT_MAX_HOLDS 4096

struct tt_hold {
	__u64 timer[2];	      /* struct bpf_timer: the BPF side's */
	__u64 start_boottime; /* task->start_boottime */
	__u64 exec_ns;	      /* CLOCK_MONOTONIC */
};

/*
 * TT_EV_ENTRY flags. Set by the agent, never in BPF: an entry a session
 * program held in a frame, read from it (its call in flight, or its thread
 * dead in it), whose span the assembler may have opened already.
 */
#define TT_ENTRYF_HELD 0x1

/*
 * TT_EV_ENTRY and TT_EV_RETURN flags set in BPF: the first start, or the
 * final end, of a Python generator or coroutine (not its resumes and
 * yields). Other calls run between its start and its end on the same
 * thread, so it is paired by its frame's address, in `ret` (a return's
 * raised flag rides in TT_EVF_PY_RAISED).
 */
#define TT_EVF_PY_GEN	 0x2
#define TT_EVF_PY_RAISED 0x4

/* TT_EV_EXIT flags */
#define TT_EXITF_GROUP_DEAD 0x1 /* the last thread of the process exited */

struct tt_event {
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u32 pid;   /* thread group id */
	__u32 tid;   /* thread id */
	__u32 probe; /* probe id (attach cookie); 0 for exit events */
	__u16 kind;  /* enum tt_event_kind */
	__u16 flags; /* per kind */
	__s64 ret;   /* return value, or exit status (wait(2) encoding) */
	__u32 size;  /* bytes of the whole event */
	__u32 ncaps; /* capture records after the header */
};

/* Largest entry or return event the BPF side writes. */
#define TT_MAX_EVENT (sizeof(struct tt_event) + TT_MAX_PAYLOAD)

/*
 * A TT_EV_CALL event: one synchronous call whose entry and return a uprobe
 * session program paired in BPF. The header is the return's (ts_ns the
 * return's time, so that the event sorts where it was written; ret the
 * return value; ncaps the entry's and the return's records together); the
 * entry's records follow it, then the return's, then, 8-byte aligned and
 * last in the event, this tail.
 */
struct tt_call_tail {
	__u64 start_ns;	   /* the entry's time (CLOCK_MONOTONIC) */
	__u32 entry_len;   /* bytes of the entry's records, right after the header */
	__u32 entry_ncaps; /* of ncaps, the entry's */
};

/*
 * Largest TT_EV_CALL event. The session programs take only hooks whose
 * largest call fits in 1024 bytes (user/bpfgen.c, tt_bpfgen__session_size()).
 */
#define TT_MAX_CALL_EVENT 1024

/*
 * Values of the BPF hash `calls` (key: struct tt_call_key): a session
 * program's call between its entry and its return. `entry` is the entry
 * event as the two-event path writes it (kind TT_EV_ENTRY, ts_ns the
 * entry's time, `size` bytes), so that the agent can hand a call whose
 * return will never come (its process died, the agent stops) to the
 * assembler as an entry; `regs` are the arguments for the return's
 * captures (rdi, rsi, rdx, rcx, r8, r9, then the stack pointer).
 */
#define TT_MAX_CALLS 16384

struct tt_call_key {
	__u64 pid_tgid; /* bpf_get_current_pid_tgid() */
	__u64 start_ns; /* the entry's time, also the session's cookie */
};

struct tt_call_stash {
	__u8 entry[sizeof(struct tt_event) + TT_MAX_PAYLOAD];
	__u64 regs[7];
};

/*
 * A thread's session calls between entry and return, in BPF task local
 * storage (`frames`): a stack of frames, the session's cookie holding the
 * call's slot. `open` is 1 from the entry until the return or the agent
 * takes the call (a compare-and-swap to 0: whoever makes it owns it). A
 * thread that dies in a call has its open frames moved into `calls` by the
 * exit program (its storage dies with it); at the agent's stop an iterator
 * reads them (user/loader_session.c). Calls nested deeper than
 * TT_CALL_DEPTH are counted lost.
 */
#define TT_CALL_DEPTH 8

struct tt_call_frame {
	__u64 open;
	struct tt_call_stash stash;
};

struct tt_call_frames {
	__u32 depth; /* frames in use: the next entry's slot */
	__u32 pad;
	struct tt_call_frame f[TT_CALL_DEPTH];
};

/* Indexes of the BPF array `stats`. */
enum tt_stat {
	TT_STAT_LOST = 0,   /* events that found the ring buffer full */
	TT_STAT_CAP_FAULTS, /* capture reads that failed */
	TT_STAT_LOST_EXITS, /* exit events that found the ring buffer full */
	TT_STAT_PY_GEN,	    /* runs of generators or coroutines Python probes name: not traced */
	TT_STAT__COUNT,
};

#endif /* TASKTAP_EVENT_H */
