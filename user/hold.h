/* SPDX-License-Identifier: MIT */
/*
 * Processes held at exec: BPF stops a process that a comm: target or a
 * binary: glob may match (so that its probes are in before its first
 * instruction) and records it in the hash map `holds` with a timer that
 * continues it TT_HOLD_NS later, whatever became of the agent. The agent
 * that attached continues it sooner (tt_hold__release()).
 *
 * A timer lives as long as its map has a user: an fd or a pin. So the map
 * stays pinned: in the --pin directory, else as TT_HOLD_DIR/agent-PID-START
 * (this agent's pid and start time), which the next agent sweeps once the
 * agent that made it is gone (tt_hold__sweep()).
 */
#ifndef TASKTAP_HOLD_H
#define TASKTAP_HOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TT_HOLD_DIR "/sys/fs/bpf/tasktap-holds"

/*
 * Pins the hold map `map_fd` of this agent in TT_HOLD_DIR (mounting bpffs
 * at /sys/fs/bpf when it is not) and writes the pin's path into `path`.
 * Returns 0, or -errno with a message in err.
 */
int tt_hold__pin(int map_fd, char *path, size_t len, char *err, size_t errlen);

/*
 * Continues process `pid`, stopped at exec, if `map_fd` still holds it:
 * ends its hold (which cancels its deadline), then sends SIGCONT. Returns
 * 0, -ENOENT when its deadline continued it already, or -errno.
 */
int tt_hold__release(int map_fd, pid_t pid);

/* Whether `map_fd` holds process `pid` (stopped at exec, its deadline not come). */
bool tt_hold__held(int map_fd, pid_t pid);

/*
 * Continues every process `map_fd` holds that is still the one held (by
 * its start time: a pid may have been reused). Returns how many.
 */
int tt_hold__release_all(int map_fd);

/*
 * The start time of process `pid` in clock ticks after boot (field 22 of
 * /proc/PID/stat). Returns 0, or -ESRCH when there is no such process.
 */
int tt_hold__start_ticks(pid_t pid, unsigned long long *ticks);

/*
 * Continues the processes held by agents that are gone and removes their
 * pins from TT_HOLD_DIR. Returns how many processes it continued.
 */
int tt_hold__sweep(void);

/*
 * How long a process may stay held with no agent at work: TT_HOLD_NS, or
 * TASKTAP_HOLD_MS (1 to 60000) for tests that need an agent to be too
 * late; *bad is set when TASKTAP_HOLD_MS is there and not such a number.
 */
unsigned long long tt_hold__ns(bool *bad);

/*
 * The hold watchdog. BPF continues a held process from a timer, and on
 * x86 the kernel refuses a signal from a timer that interrupted an idle
 * CPU (bpf/procs.bpf.h, hold_expired()): the timer tries again, and on an
 * idle machine the deadline slips. So the agent forks, before it loads
 * anything, a small process ("tasktap-holds") that keeps the same
 * deadlines from process context, where SIGCONT always goes: it reads
 * the hold map (pinned: PIN_DIR/map-holds with --pin, else
 * TT_HOLD_DIR/agent-PID-START) every HOLD_WATCH_TICK_NS, and continues
 * each held process TT_HOLD_NS after its exec when the agent is gone or
 * stopped, TT_HOLD_MAX_NS after while it runs. BPF's timers leave the
 * deadlines to it while it is at work and keep them when it is not (up
 * to TT_HOLD_MAX_NS). When the agent is gone, it continues what that
 * agent held and exits. Returns its pid, or -errno (the agent goes on
 * without: BPF's timers keep the deadlines).
 */
pid_t tt_hold__watchdog(const char *pin_dir);

#endif /* TASKTAP_HOLD_H */
