/* SPDX-License-Identifier: MIT */
/* The agent's private types, and the calls between its rooms (user/agent/). */
/*
 * `tasktap run` is one data flow, and each file of user/agent/ is one hop
 * of it:
 *
 *   cmd_run.c   the command line -> struct run_args
 *   run.c       the straight line: checks, loader, specs, sinks, event loop, shut down
 *   events.c    ring -> reorder -> hook-id routing -> assembler -> span fan-out
 *   places.c    the attach registry: global hook ids, places, attach/detach/move
 *   watch.c     exec discovery: BPF watch tables, the /proc scan, exits
 *   slots.c     spec files: load, reload in place, retire
 *   health.c    the /health, /tasks and /metrics providers and their server
 *   sinks.c     console or JSON lines, OTLP settings, exporter start and stop
 *   handover.c  the --pin hand-off of open spans to the next agent
 *   config.c    --print-config: the export settings and where each came from
 *
 * The event loop stays in run.c rather than in a room of its own: it is
 * the line's last step and only dispatches (timer, signals, rings, HTTP,
 * --spec-dir changes) to the rooms above.
 *
 * Every room works on one struct agent, owned by agent__run(). BPF is
 * reached through r->bpf (struct agent_bpf, the loader's functions), so
 * that the unit tests of places, slots and health run without it; the
 * attach registry (struct places) is opaque. docs/architecture.md says
 * why the layout is so.
 */
#ifndef TASKTAP_AGENT_H
#define TASKTAP_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "assemble.h"
#include "ledger.h"
#include "export/export.h"
#include "export/otlp_config.h"
#include "export/sdk_env.h"
#include "loader.h"
#include "reorder.h"
#include "resolve.h"
#include "spec.h"

#define DRAIN_INTERVAL_NS   1000000ULL	  /* 1 ms */
#define DRAIN_NICE	    (-10)	  /* the event loop's nice: see events__prioritize() */
#define REORDER_SLACK_NS    10000000ULL	  /* 10 ms */
#define RING_BUSY_BOUND_NS  1000000000ULL /* a record reserved longer: not waited for */
#define HOUSEKEEPING_NS	    1000000000ULL /* 1 s */
#define RELOAD_SETTLE_NS    200000000ULL  /* a change in --spec-dir: reload 200 ms later */
#define DEFAULT_STUCK_AFTER 600.0	  /* seconds */
#define MAX_SPEC_ARGS	    64
#define MAX_OTLP_ARGS	    64

struct agent;
struct tt_exporter;
struct tt_metrics;
struct tt_httpd;
struct tt_httpd_providers;
struct tt_jsonw;
struct tt_traces;
struct tt_view;
struct tt_proc_info;

/* What `tasktap run` was asked to do (cmd_run.c), read by every room. */
struct run_args {
	const char *specs[MAX_SPEC_ARGS]; /* the positional SPEC and each --spec */
	size_t nspecs;
	const char *spec_dir; /* --spec-dir */
	const char *pin_dir;  /* --pin */
	/* OTLP settings from the command line, applied over the environment in order */
	struct {
		const char *key;
		const char *value;
	} otlp[MAX_OTLP_ARGS];
	int notlp;
	pid_t pid;
	const char *binary;
	bool json;
	bool color;
	bool log_steps;
	bool logs; /* --logs: OTLP logs (with an endpoint) */
	double duration;
	size_t ring_bytes;
	const char *http_addr; /* NULL: TT_HTTPD_DEFAULT_ADDR */
	bool no_http;
	bool http_allow_remote;
	bool print_config;	/* --print-config: print the settings and their sources, and exit */
	double stuck_after;	/* seconds */
	uint32_t recent_traces; /* the task view's ring; 0: TT_TRACES_DEFAULT_CAPACITY */
};

/*
 * One spec file and what it became: its spec, its assembler, and the
 * global hook ids of its hooks. Hook ids are the BPF attach cookies and
 * index the BPF `probes` array, which every spec shares, so each spec's
 * own ids (1..nhooks) map to global ids no other spec uses; events are
 * handed to the spec's assembler with its own ids back. A broken file
 * keeps a slot with its error and no spec.
 */
struct slot {
	struct agent *agent;
	char *file;	 /* owned */
	const char *dir; /* the --spec-dir it was found in (not owned), or NULL */
	uint64_t digest; /* of the file's bytes: a reload keeps an unchanged file */
	struct tt_spec *spec;
	struct tt_asm *assembler;
	uint16_t gid[TT_MAX_PROBES + 1]; /* own hook id -> global id; 0: none yet */
	char error[512];		 /* why the file is not in use */
	bool keep;			 /* during a reload: the file is still there */
	bool rescan;			 /* during a reload: look for its processes */
	bool discovers;			 /* finds processes on exec */
};

/* One hook attached at one place, for `tasktap status`. */
struct hooked {
	struct tt_link *link;
	uint16_t gid;
	const struct tt_hook *hook;
	uint64_t offset;
	bool going; /* a reload's hook that went: detached at its switch */
};

/*
 * One place a target's probes are attached: a file (by identity) in every
 * process, or one process. A place found by discovery remembers the
 * processes it was found in and goes when the last one exits; a place
 * named by the spec itself (`fixed`) stays until its spec goes.
 */
struct place {
	struct slot *slot;
	const struct tt_target *target;
	dev_t dev;
	ino_t ino;
	pid_t pid; /* the one process the probes fire in, or -1 */
	bool fixed;
	bool stale;	   /* its spec was reloaded: attach the hooks it gained */
	uint64_t since_ns; /* exit events older than this are of an earlier process */
	char *shown;	   /* owned */
	pid_t *pids;	   /* owned; processes running the file (discovered places) */
	size_t npids;
	struct hooked *hooks; /* owned */
	size_t nhooks;
	struct place *next;
};

/*
 * The BPF side the rooms drive, as function pointers with the loader's
 * signatures: agent_bpf_loader (the loader itself) in the agent, fakes in
 * the unit tests, which pass a NULL loader.
 */
struct agent_bpf {
	int (*set_hook)(struct tt_loader *l, uint32_t id, const struct tt_hook_prog *prog);
	int (*attach)(struct tt_loader *l, uint32_t id, const char *path, uint64_t offset,
		      bool retprobe, pid_t pid, const char *pin_name, struct tt_link **out,
		      char *err, size_t errlen);
	int (*attach_usdt)(struct tt_loader *l, uint32_t id, const char *path, const char *provider,
			   const char *name, pid_t pid, const char *pin_name, struct tt_link **out,
			   char *err, size_t errlen);
	int (*attach_python)(struct tt_loader *l, uint32_t id, const char *path,
			     const struct tt_py_interp *pi, const struct tt_py_hook *ph, pid_t pid,
			     struct tt_link **out, char *err, size_t errlen);
	void (*detach_link)(struct tt_loader *l, struct tt_link *link);
	void (*detach_exited)(struct tt_loader *l, struct tt_link *link); /* its process is gone */
	bool (*link_adopted)(const struct tt_link *link);
	int (*drain)(struct tt_loader *l);
	/* NULL: the rings' positions are not known, and only the slack orders */
	int (*ring_pos)(const struct tt_loader *l, int ring, uint64_t *cons, uint64_t *prod);
	uint64_t (*stat)(const struct tt_loader *l, enum tt_stat which);
	uint64_t (*hook_lost)(const struct tt_loader *l, uint32_t id); /* NULL: not counted */
	/* calls session programs hold (tt_loader__take_calls()); NULL: none */
	int (*take_calls)(struct tt_loader *l, uint32_t pid, bool keep, tt_event_fn fn, void *ctx);
	/* a reload's session link kept for its calls' returns (tt_loader__retire()); NULL: none */
	int (*retire)(struct tt_loader *l, struct tt_link *link, uint32_t gid);
	void (*unretire)(struct tt_loader *l, uint32_t gid);
	int (*attached)(const struct tt_loader *l);
	bool (*adopted)(const struct tt_loader *l);
	int (*prune_pins)(struct tt_loader *l);
	int (*watch_comm)(struct tt_loader *l, const char *comm, bool stop);
	void (*unwatch_comm)(struct tt_loader *l, const char *comm);
	int (*watch_prefix)(struct tt_loader *l, uint32_t slot, const char *comm, uint32_t len,
			    uint32_t flags);
	int (*watch_dir)(struct tt_loader *l, uint32_t slot, const char *path, uint32_t len,
			 uint32_t flags);
	int (*watch_cgroup)(struct tt_loader *l, uint32_t slot, uint64_t id, uint32_t flags);
	void (*watch_all_execs)(struct tt_loader *l, bool on);
	int (*continue_held)(struct tt_loader *l, pid_t pid);
	int (*continue_all_held)(struct tt_loader *l);
	bool (*held)(struct tt_loader *l, pid_t pid);  /* NULL: nothing is held */
	int (*follow)(struct tt_loader *l, pid_t pid); /* NULL: forks are not followed */
	/* waits for what loads while the first hooks attach; NULL: nothing does */
	int (*ready)(struct tt_loader *l, char *err, size_t errlen);
};

/* The loader's own functions (run.c). */
extern const struct agent_bpf agent_bpf_loader;

/* The agent: everything `tasktap run` holds while it runs. */
struct agent {
	struct slot **slots; /* owned */
	size_t nslots;
	/*
	 * Specs of slots a reload removed. Their last spans may still wait in
	 * the exporter's queue, pointing at their probes, so they are freed
	 * only once the exporter has stopped. Owned.
	 */
	struct tt_spec **retired;
	size_t nretired;
	struct places *places; /* owned: the attach registry and the global hook ids */
	const struct run_args *args;
	const struct agent_bpf *bpf; /* &agent_bpf_loader, or a test's */
	struct tt_loader *loader;
	struct tt_console *console; /* the waterfall, unless --json or spans go to OTLP */
	struct tt_resource
		*resource; /* /metrics' target_info: the agent's; made at the first scrape */
	struct tt_jsonl jsonl;
	struct tt_steplines steplines;
	struct tt_otlp_config otlp[TT_SIGNAL__COUNT];
	struct tt_sdk_config sdk; /* OTEL_*_EXPORTER, OTEL_PROPAGATORS, limits, ... */
	struct tt_exporter *exporter;
	struct tt_metrics *metrics;
	struct tt_httpd *httpd;
	struct tt_traces *traces; /* the task view's recent traces; NULL with --no-http */
	struct tt_view *view;
	struct tt_reorder reorder;
	struct tt_ring_hold *ring_holds; /* per ring: the records pending after a drain */
	int nring_holds;
	uint64_t drained_ns;  /* when the last drain pass began */
	uint64_t horizon_ns;  /* events up to this time have left the reorder buffer */
	uint64_t rings_stuck; /* records left reserved past RING_BUSY_BOUND_NS */
	uint64_t lost_reported;
	uint64_t lost_exits_reported;
	bool py_gen_warned; /* the first run of a generator a Python probe names, said */
	uint64_t hook_lost_reported[TT_MAX_PROBES + 1]; /* by global hook id */
	uint64_t stuck_after_ns;
	uint64_t stuck;		 /* tasks open longer than stuck_after, at the last count */
	uint64_t unknown_hooks;	 /* events of a hook id no spec has */
	uint64_t events_dropped; /* events the reorder buffer had no memory for */
	uint64_t ends_unread;	 /* TT_EV_RETURN events in the reorder buffer (the span ledger) */
	uint64_t execs;		 /* exec events handled */
	uint64_t discovered;	 /* processes attached to as they started or by the scan */
	uint64_t rate_events;	 /* events at the last rate sample */
	uint64_t rate_at_ns;
	double events_per_s;
	uint64_t started_ns;
	uint64_t reloads;
	uint64_t reload_at_ns; /* a reload is due then; 0: none */
	bool reload_now;
	bool json;
	bool log_steps;
	bool discovery; /* comm: targets and binary: globs are followed */
	bool stopping;
	uint64_t untraced;	    /* processes that ran before their probes were in */
	uint64_t lost_noted;	    /* events lost (TT_STAT_LOST) the assemblers were told of */
	const char *pin_dir;	    /* --pin */
	struct tt_ledger *ledger;   /* --pin: the span ledger, for the next agent */
	struct tt_ledger_prev prev; /* what the agent before left in the ledger */
	const char *args_spec_dir;  /* --spec-dir: the agent waits for specs */
	int spec_dir_fd;	    /* its inotify watch (load_specs()); the loop takes it */
	char watched[TT_MAX_PROBES][TT_COMM_LEN]; /* comm: names watched in BPF */
	int nwatched;
};

/* run.c: runs the agent with settings `a`. Returns the exit status. */
int agent__run(const struct run_args *a);

/* ---- places.c: the attach registry --------------------------------------- */

/*
 * The places where probes are attached and the global hook ids, one
 * registry per agent. Opaque: places__*() change it; the places it holds
 * are read (places__first(), then p->next) but never changed outside.
 */
struct places;

/*
 * Returns an empty registry that attaches and detaches through `bpf` and
 * `l`, or NULL (errno ENOMEM). Free it with places__free().
 */
struct places *places__new(const struct agent_bpf *bpf, struct tt_loader *l);
/* Detaches every place and frees the registry. Accepts NULL. */
void places__free(struct places *pl);
/* Forgets every place without detaching it: the loader let go of them all. Accepts NULL. */
void places__clear(struct places *pl);
/* The first place (the others follow through ->next), or NULL. */
const struct place *places__first(const struct places *pl);

/*
 * The global id of hook `local` of slot s, given on first use (the first
 * free id, so that the same specs get the same ids in the next agent)
 * and stored in BPF. Returns 0 when every id is taken or BPF refuses.
 */
uint16_t places__hook_id(struct places *pl, struct slot *s, int local);
/* Frees every global id of slot s. */
void places__release_ids(struct places *pl, struct slot *s);
/*
 * Gives slot s's global ids to spec `now` by `map` (tt_spec__match()),
 * after places__switch(): a hook that stayed keeps its id, the ids of
 * hooks that went are retired. `old`: s->gid before the reload.
 */
void places__move_ids(struct places *pl, struct slot *s, const struct tt_spec *now, const int *map,
		      int nold, const uint16_t *old);
/* The slot whose hook global id `gid` is, and its own id in *local; NULL when none. */
struct slot *places__owner(const struct places *pl, uint32_t gid, int *local);
/*
 * The same for an event of time `ts`: NULL also when the id counts only
 * before or after ts (a reload's switch), *known then saying the event
 * is to be dropped rather than counted as of an unknown hook. A hook
 * retired by a reload whose session links wait for their calls' returns
 * counts for its successor before the switch (a TT_EV_CALL goes by its
 * call's start).
 */
struct slot *places__owner_at(const struct places *pl, uint32_t gid, uint64_t ts, int *local,
			      bool *known);
/* The places in process `pid` go when it exits or calls exec (a followed child's). */
void places__unfix_pid(struct places *pl, pid_t pid);
/*
 * Whether a probe in process `pid` alone was adopted from an earlier
 * agent's pins (--pin): it was traced while no agent ran.
 */
bool places__pid_adopted(const struct places *pl, pid_t pid);

/*
 * Attaches target t of slot s at `path` in process `pid` (-1: every
 * process) as one place, or adds to the one there. Returns it or NULL
 * after saying why.
 */
struct place *places__attach(struct places *pl, struct slot *s, const struct tt_target *t,
			     const char *path, const char *shown, pid_t pid, bool fixed);
/* A binary: or library: target at one file in every process, remembering `pid`. */
bool places__attach_file(struct places *pl, struct slot *s, const struct tt_target *t,
			 const char *path, const char *shown, pid_t pid);
/* Attaches a plan of slot s's spec as places. 0 or -errno with a message in err. */
int places__attach_plan(struct places *pl, struct slot *s, const struct tt_plan *plan, char *err,
			size_t errlen);
/*
 * Moves the places of slot s to spec `now` by `map`; the hooks that went
 * stay attached until places__switch().
 */
void places__move(struct places *pl, struct slot *s, const struct tt_spec *now, const int *map);
/*
 * A reload's switch at `ts`: the hooks that went count before ts, the new
 * ones from ts on; then the hooks that went are detached, but a session
 * link of a hook with a successor (`succ`, tt_spec__successors()), which
 * is retired: it takes no new call, the returns of the calls it opened
 * write them whole, and they count for the successor (places__owner_at()).
 * places__end_retired() detaches it once they have.
 */
void places__switch(struct places *pl, struct slot *s, const uint16_t *old, const int *map,
		    const int *succ, int nold, uint64_t ts);
/* Whether session links retired by a reload wait for their calls' returns. */
bool places__retiring(const struct places *pl);
/*
 * Detaches the retired session links whose hook id has no call open any
 * more (`open[gid]` false), retired before `now` less a grace (an entry
 * running at the switch), and frees their ids.
 */
void places__end_retired(struct places *pl, const bool *open, uint64_t now);
/* Detaches and forgets every place for which `drop(p, ctx)` holds. */
void places__drop(struct places *pl, bool (*drop)(struct place *p, void *ctx), void *ctx);
/*
 * The same for places whose processes have exited (place__forget_pid,
 * place__gone): their probes are closed on the loader's reaper thread, so a
 * burst of exits never stalls the event loop (and the workers held at exec).
 */
void places__drop_exited(struct places *pl, bool (*drop)(struct place *p, void *ctx), void *ctx);
/* Whether there are places, each a single process, and all of them are gone. */
bool places__all_pids_gone(const struct places *pl);

/* places__drop() predicates. */
struct forget {
	pid_t pid;
	uint64_t ts;
};
bool place__forget_pid(struct place *p, void *ctx); /* ctx: struct forget */
bool place__gone(struct place *p, void *ctx);	    /* its processes are all gone */
bool place__of_slot(struct place *p, void *ctx);    /* ctx: the slot */

/* ---- watch.c: exec discovery ----------------------------------------------- */

/* A process called exec: attach what applies to it, then let it run on. */
void watch__on_exec(struct agent *r, const struct tt_event *ev);
/* A followed process forked: attach in the child what --pid attached, continue it. */
void watch__on_fork(struct agent *r, const struct tt_event *ev);
/* --pid N: follow N's forks, and attach in its descendants already running. */
void watch__follow(struct agent *r, pid_t pid);
/* Processes already running, for every slot or only `only`. */
void watch__scan_processes(struct agent *r, struct slot *only);
/* Tells BPF which execs to report and stop (none once the agent is stopping). */
void watch__set(struct agent *r);

/* ---- events.c: from the rings to the sinks --------------------------------- */

/* The loader's ring callback: execs at once, the rest into the reorder buffer. */
int events__on_ring(const struct tt_event *ev, size_t size, void *ctx);
/* Reads the rings and hands every event older than `horizon` on, in order. */
void events__drain(struct agent *r, uint64_t horizon);
/*
 * Raises the calling thread (the event loop, which drains the rings) to
 * DRAIN_NICE, so that a target spinning on every core does not starve the
 * drain until its rings overflow. Threads it starts later inherit it.
 */
void events__prioritize(void);
/*
 * Hands the assemblers, as entry events, the calls of process `pid` (of
 * every process when 0) that session programs hold (tt_loader__take_calls();
 * `keep`: left there too, for the next agent).
 */
void events__take_calls(struct agent *r, uint32_t pid, bool keep);
/*
 * Opens in the assemblers the spans of the calls in flight in session
 * programs (their entries read, left in BPF for their returns), so that
 * /tasks, task.in_flight and the stuck count see them as they see a call
 * whose entry event came. Only calls begun before the reorder horizon:
 * every event before them has reached the assemblers.
 */
void events__peek_calls(struct agent *r);
/*
 * Detaches the session links a reload retired (places__switch()) once no
 * call they opened is open any more (read as events__peek_calls() does).
 */
void events__end_retired(struct agent *r, uint64_t now);
/* Says how many events the rings lost since the last time. */
void events__report_lost(struct agent *r);
void events__report_py_gen(struct agent *r, bool final);
/* The assemblers' span sink (ctx: the slot): metrics, step lines, console or JSON, OTLP. */
void events__on_span(const struct tt_span *span, void *ctx);
/* Sums the assemblers' counters. */
void events__asm_stats(const struct agent *r, struct tt_asm_stats *sum);

/*
 * Calls fn for each annotate hook that fired with no open span to complete,
 * with its slot, hook and count (a total since the start).
 */
typedef void (*events_unannotated_fn)(const struct slot *s, const struct tt_hook *h, uint64_t count,
				      void *ctx);
void events__for_each_unannotated(const struct agent *r, events_unannotated_fn fn, void *ctx);

/* Says, for people, which annotate hooks found no open span (the summary at the end). */
void events__report_unannotated(const struct agent *r);

/* Why BPF lost an event of a hook: the only way it loses one, its ring was full. */
#define EVENTS_LOST_RING_FULL "ring_full"

/*
 * Calls fn for each hook that lost events, with its global id, its name as
 * people read it ("tick", "python:function__return") and its count (a
 * total since the start; the reason is EVENTS_LOST_RING_FULL). Reads no
 * per-hook count when the rings lost nothing.
 */
typedef void (*events_hook_lost_fn)(uint32_t gid, const char *name, uint64_t count, void *ctx);
void events__for_each_hook_lost(const struct agent *r, events_hook_lost_fn fn, void *ctx);

/* ---- health.c: /health, /tasks, /metrics ------------------------------------ */

/* Refreshes task.in_flight and the stuck count from the open tasks. */
void health__count_tasks(struct agent *r);
/* Hands the loader's, the assembler's and the exporter's counters to the metrics. */
void health__update_metrics(struct agent *r);
/* Samples the rate of events, for /health and `tasktap status`. */
void health__sample_rate(struct agent *r, uint64_t now);
/*
 * The members /health adds for `tasktap status` (specs, attachments, rates,
 * discovery), written into the object w is in.
 */
void health__write(struct tt_jsonw *w, const struct agent *r);
/* The providers of /metrics, /health and /tasks (and the task view's routes), for r. */
void health__providers(struct agent *r, struct tt_httpd_providers *p);
/* Listens for /metrics, /health and /tasks. 0, -EINVAL (a bad address), or -errno. */
int health__serve(struct agent *r, const struct run_args *a);

/* ---- sinks.c: OTLP and the service name ------------------------------------- */

/* Reads the OTLP settings and starts the exporter when one is configured. 0 or -errno. */
/*
 * The SDK variables besides the OTLP exporters' (sdk_env.h), read before
 * anything starts. Returns 0, or -EINVAL after naming what is refused.
 */
int sinks__read_sdk(struct agent *r);

/*
 * The three signals' OTLP settings: the environment, the command line over
 * it, then what sinks__read_sdk() read. Returns 0, or -errno after saying why.
 */
int sinks__read_otlp(struct agent *r, const struct run_args *a);

int sinks__start_otlp(struct agent *r, const struct run_args *a);
/* The console, JSON lines and step lines. 0 or -ENOMEM. */
int sinks__start_output(struct agent *r, const struct run_args *a);
/* Flushes the exporter and reports its totals. */
void sinks__stop(struct agent *r);
/* The service.name for spans without a spec service. */
const char *sinks__service_name(const struct agent *r);

/* ---- handover.c: open spans across a restart (--pin) ------------------------ */

/* Hands the open spans to the next agent. Returns whether they were (else end them). */
bool handover__give(struct agent *r);
/* Continues the spans the agent before this one left open. */
void handover__take(struct agent *r);
/*
 * Opens the span ledger (ledger.h) in --pin, and says what the agent
 * before lost if it was killed: the spans it had finished and not sent,
 * and those it had counted lost.
 */
void handover__open_ledger(struct agent *r);
/* Keeps this agent's count of spans lost in the ledger, for the next agent. */
void handover__note_lost(struct agent *r);
/* Says again, in the summary, what the agent before lost when it was killed. */
void handover__report_ledger(const struct agent *r);

/* ---- slots.c: spec files ---------------------------------------------------- */

/*
 * Loads every spec file. Returns how many loaded without a problem, or
 * -errno: -EIO when the BPF object failed to load (said).
 */
int slots__load_all(struct agent *r);
/* Reads the spec files again: unchanged kept, changed reloaded in place, new loaded. */
void slots__reload(struct agent *r);
/* Ends a slot: probes detached, open spans ended, ids free. Accepts NULL. */
void slot__free(struct agent *r, struct slot *s);
/*
 * Whether one of the specs given by name parses (true with --spec-dir):
 * checked before BPF is loaded. When none does, says why for each.
 */
bool slots__some_parse(const struct run_args *a);
/* Watches --spec-dir for changes. Returns an inotify fd or -1. */
int slots__watch_dir(const char *dir);

/*
 * --print-config: the export settings in effect, each with where it came
 * from (a flag, a variable, the default), on stdout; nothing is started.
 * Returns the exit status: 0, or 2 when a setting is refused.
 */
int agent__print_config(const struct run_args *a);

#endif /* TASKTAP_AGENT_H */
