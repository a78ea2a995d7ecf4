// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "helpers.h"
#include "hold.h"
#include "log.h"
#include "tasktap/event.h"

#define BPF_FS_MAGIC 0xcafe4a11

int tt_hold__start_ticks(pid_t pid, unsigned long long *ticks)
{
	char path[64], buf[1024];
	const char *p;
	FILE *f;
	int ret = -ESRCH;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -ESRCH;
	/* the fields follow the last ')' (the command name may hold one): state is field 3 */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
	    sscanf(p + 1,
		   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
		   "%*d %llu",
		   ticks) == 1)
		ret = 0;
	fclose(f);
	return ret;
}

/* Whether `pid` is the process BPF held, which started at `start_boottime` (ns). */
static bool same_process(pid_t pid, unsigned long long start_boottime)
{
	long hz = sysconf(_SC_CLK_TCK);
	unsigned long long ticks;

	if (hz <= 0 || tt_hold__start_ticks(pid, &ticks))
		return false;
	return ticks == start_boottime / (1000000000ULL / (unsigned long long)hz);
}

/* Makes TT_HOLD_DIR, on bpffs (mounted at /sys/fs/bpf when it is not). */
static int make_dir(char *err, size_t errlen)
{
	struct statfs fs;
	int ret;

	if (statfs("/sys/fs/bpf", &fs) || fs.f_type != BPF_FS_MAGIC) {
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
			ret = -errno;
			snprintf(err, errlen, "cannot mount bpffs at /sys/fs/bpf: %s",
				 strerror(-ret));
			return ret;
		}
	}
	if (mkdir(TT_HOLD_DIR, 0700) && errno != EEXIST) {
		ret = -errno;
		snprintf(err, errlen, "cannot create '%s': %s", TT_HOLD_DIR, strerror(-ret));
		return ret;
	}
	return 0;
}

int tt_hold__pin(int map_fd, char *path, size_t len, char *err, size_t errlen)
{
	unsigned long long ticks = 0;
	int ret = make_dir(err, errlen);

	if (ret)
		return ret;
	tt_hold__start_ticks(getpid(), &ticks);
	snprintf(path, len, "%s/agent-%d-%llu", TT_HOLD_DIR, (int)getpid(), ticks);
	unlink(path); /* a pid and start time of a past boot */
	if (bpf_obj_pin(map_fd, path)) {
		ret = -errno;
		snprintf(err, errlen, "cannot pin '%s': %s", path, strerror(-ret));
		return ret;
	}
	return 0;
}

int tt_hold__release(int map_fd, pid_t pid)
{
	__u32 key = (__u32)pid;

	if (bpf_map_delete_elem(map_fd, &key))
		return -errno;
	if (kill(pid, SIGCONT))
		return -errno;
	return 0;
}

bool tt_hold__held(int map_fd, pid_t pid)
{
	__u32 key = (__u32)pid;
	struct tt_hold h;

	return bpf_map_lookup_elem(map_fd, &key, &h) == 0;
}

int tt_hold__release_all(int map_fd)
{
	static __u32 keys[TT_MAX_HOLDS];
	struct tt_hold h;
	int n = 0, done = 0;
	__u32 key;
	int ret;

	/* the keys first: deleting while walking may restart the walk */
	ret = bpf_map_get_next_key(map_fd, NULL, &key);
	while (ret == 0 && n < TT_MAX_HOLDS) {
		keys[n++] = key;
		ret = bpf_map_get_next_key(map_fd, &keys[n - 1], &key);
	}
	for (int i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(map_fd, &keys[i], &h) ||
		    bpf_map_delete_elem(map_fd, &keys[i]))
			continue; /* its deadline came first */
		if (same_process((pid_t)keys[i], h.start_boottime) &&
		    kill((pid_t)keys[i], SIGCONT) == 0)
			done++;
	}
	return done;
}

/* Whether the agent that pinned `name` ("agent-PID-START") is gone. */
static bool agent_gone(const char *name)
{
	unsigned long long start, ticks;
	int pid;

	if (sscanf(name, "agent-%d-%llu", &pid, &start) != 2)
		return false; /* not ours */
	return tt_hold__start_ticks(pid, &ticks) || ticks != start;
}

/* How often the watchdog reads the hold map: it keeps a deadline within this. */
#define HOLD_WATCH_TICK_NS (20 * 1000 * 1000ULL)

/* Whether process `pid` runs: it is there, and not stopped (SIGSTOP, a debugger) nor dying. */
static bool runs(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] && !strchr("TtZX", p[2]);
}

/* What the watchdog knows of its agent at one look. */
struct watch_look {
	pid_t agent;
	bool alive;		 /* it is the watchdog's parent still */
	unsigned long long gone; /* when it was seen gone; holds made after are a next agent's */
	unsigned long long hold; /* TT_HOLD_NS (or TASKTAP_HOLD_MS) */
	unsigned long long now;
	unsigned long long next; /* the first deadline still to come */
	int runs;		 /* whether the agent runs (not stopped); -1: not read yet */
};

/* The deadline of a hold made at `exec_ns`, by the agent's state (read once a look). */
static unsigned long long deadline(struct watch_look *w, unsigned long long exec_ns,
				   const char **why)
{
	if (!w->alive) {
		*why = "its agent is gone";
		return exec_ns + w->hold;
	}
	if (w->runs < 0)
		w->runs = runs(w->agent);
	*why = w->runs ? "its agent is late" : "its agent is stopped";
	/* while it runs, it is attaching: as BPF, wait for it up to the longest hold */
	if (w->runs && w->hold < TT_HOLD_MAX_NS)
		return exec_ns + TT_HOLD_MAX_NS;
	return exec_ns + w->hold;
}

/*
 * One look at the hold map `fd`: continues each process whose deadline
 * came, of those held before the agent was gone. Returns how many it still
 * waits for, and lowers w->next to the first of their deadlines.
 */
static int keep_deadlines(int fd, struct watch_look *w)
{
	static __u32 keys[TT_MAX_HOLDS];
	unsigned long long due;
	struct tt_hold h;
	int n = 0, left = 0;
	const char *why;
	__u32 key;
	int ret = bpf_map_get_next_key(fd, NULL, &key);

	while (ret == 0 && n < TT_MAX_HOLDS) {
		keys[n++] = key;
		ret = bpf_map_get_next_key(fd, &keys[n - 1], &key);
	}
	for (int i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(fd, &keys[i], &h) || h.exec_ns > w->gone)
			continue;
		due = deadline(w, h.exec_ns, &why);
		if (w->now < due) {
			left++;
			w->next = due < w->next ? due : w->next;
			continue;
		}
		if (bpf_map_delete_elem(fd, &keys[i]))
			continue; /* the agent or BPF continued it meanwhile */
		if (same_process((pid_t)keys[i], h.start_boottime) &&
		    kill((pid_t)keys[i], SIGCONT) == 0)
			tt_info("hold watchdog: continued process %u, held %.3f s at exec (%s)",
				keys[i], (double)(w->now - h.exec_ns) / 1e9, why);
	}
	return left;
}

/* The watchdog's life: a look at the hold map each tick, until its agent and its holds are gone. */
static void watchdog_main(pid_t agent, const char *path, unsigned long long hold)
{
	struct watch_look w = {.agent = agent, .gone = ~0ULL, .hold = hold};
	struct timespec ts;
	int fd = -1, left;

	for (;;) {
		w.now = tt_now_ns(CLOCK_MONOTONIC);
		w.next = w.now + HOLD_WATCH_TICK_NS;
		w.runs = -1;
		w.alive = getppid() == agent; /* else it was reparented: the agent is gone */
		if (!w.alive && w.gone == ~0ULL)
			w.gone = w.now;
		if (fd < 0)
			fd = bpf_obj_get(path); /* pinned once the agent has loaded */
		left = fd >= 0 ? keep_deadlines(fd, &w) : 0;
		if (!w.alive && left == 0)
			return;
		ts.tv_sec = (time_t)(w.next / 1000000000ULL);
		ts.tv_nsec = (long)(w.next % 1000000000ULL);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
	}
}

pid_t tt_hold__watchdog(const char *pin_dir)
{
	unsigned long long ticks = 0, hold;
	pid_t agent = getpid(), pid;
	char path[PATH_MAX];
	bool bad = false;
	sigset_t none;

	hold = tt_hold__ns(&bad);
	if (pin_dir) {
		snprintf(path, sizeof(path), "%s/map-holds", pin_dir);
	} else {
		tt_hold__start_ticks(agent, &ticks);
		snprintf(path, sizeof(path), "%s/agent-%d-%llu", TT_HOLD_DIR, (int)agent, ticks);
	}
	pid = fork();
	if (pid != 0)
		return pid < 0 ? -errno : pid;
	/* nothing of the agent's but stdin, stdout and stderr: not its sockets, nor its links */
	close_range(3, ~0U, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Ctrl-C and a hang-up stop the agent, which continues what it holds, then this */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_NAME, "tasktap-holds");
	if (getppid() == agent)
		watchdog_main(agent, path, hold);
	_exit(0);
}

unsigned long long tt_hold__ns(bool *bad)
{
	const char *env = getenv("TASKTAP_HOLD_MS");
	unsigned long ms;
	char *end;

	if (!env || !*env)
		return TT_HOLD_NS;
	errno = 0;
	ms = strtoul(env, &end, 10);
	if (errno || *end || ms < 1 || ms > 60000) {
		*bad = true;
		return TT_HOLD_NS;
	}
	return (unsigned long long)ms * 1000000;
}

int tt_hold__sweep(void)
{
	char path[PATH_MAX];
	struct dirent *de;
	int n = 0, fd;
	DIR *d = opendir(TT_HOLD_DIR);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (!agent_gone(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", TT_HOLD_DIR, de->d_name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		n += tt_hold__release_all(fd);
		close(fd);
		unlink(path);
	}
	closedir(d);
	return n;
}
