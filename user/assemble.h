/* SPDX-License-Identifier: MIT */
/*
 * The assembler: events in, spans out (DESIGN §4-5). Pure: no I/O, no
 * BPF, no clocks; everything it needs arrives in the events or the
 * options, so that it is tested on synthetic event streams.
 *
 * Events must arrive in timestamp order per thread (the loader merges the
 * per-CPU rings); an event the assembler cannot place (a return without
 * an entry, an exit of an unknown thread) is counted, never fatal.
 */
#ifndef TASKTAP_ASSEMBLE_H
#define TASKTAP_ASSEMBLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>
#include "tasktap/event.h"
#include "spec.h"

#define TT_SPAN_NAME_MAX  128
#define TT_STATUS_MSG_MAX 128
#define TT_KEY_MAX	  TT_MAX_STR

/* OTLP span kinds and status codes, by their wire values. */
enum tt_span_kind {
	TT_KIND_INTERNAL = 1,
	TT_KIND_PRODUCER = 4,
	TT_KIND_CONSUMER = 5,
};

enum tt_status {
	TT_STATUS_UNSET = 0,
	TT_STATUS_OK = 1,
	TT_STATUS_ERROR = 2,
};

/* Why the agent, not the target, ended a span. */
enum tt_cut {
	TT_CUT_NONE = 0,
	TT_CUT_EXIT,	 /* the thread or process exited */
	TT_CUT_EVICTED,	 /* max_open_spans was reached */
	TT_CUT_SHUTDOWN, /* the agent stopped with the span open */
	TT_CUT_UNWOUND,	 /* an outer function returned first (lost events) */
	TT_CUT_EXPIRED,	 /* a begin/end span saw no end within its TTL */
	TT_CUT_REMOVED,	 /* a reload of the spec removed or changed its probe */
	TT_CUT_LOST,	 /* its end was lost (a full ring) before its process exited */
};

/* Attributes an annotate probe gave a span (late binding), copied. */
#define TT_LATE_ATTRS	 4
#define TT_LATE_NAME_MAX 48

struct tt_late_attr {
	char name[TT_LATE_NAME_MAX];
	bool is_int;
	int64_t i;
	uint16_t len;
	char str[TT_MAX_STR]; /* not NUL-terminated; a redacted value's hash */
};

/*
 * A span. Open spans live in the assembler's slab; a finished span is
 * handed to the sink and is valid only during that call.
 */
struct tt_span {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_id[8];	   /* all zero for a root span */
	uint8_t link_trace_id[16]; /* a span link (all zero: none): the span that */
	uint8_t link_span_id[8];   /* made this publish, in another trace */
	uint64_t start_ns;	   /* CLOCK_MONOTONIC */
	uint64_t end_ns;
	const struct tt_probe *probe;
	const struct tt_hook *hook; /* the hook that started the span */
	uint32_t pid;
	uint32_t tid;
	uint32_t attempt; /* steps: 1, 2, ...; 0 for other roles */
	uint8_t kind;	  /* enum tt_span_kind */
	uint8_t status;	  /* enum tt_status */
	uint8_t cut;	  /* enum tt_cut */
	bool has_ret;
	int64_t ret;
	char name[TT_SPAN_NAME_MAX];
	char status_msg[TT_STATUS_MSG_MAX];
	char error_type[32]; /* an error's class (error.type): what the error predicate read */
	char unreadable[64]; /* attributes whose capture failed, comma-separated */
	bool marked;	     /* the annotate probe its error_unless names fired */
	uint8_t nlate;	     /* of late[], which a new span does not clear */
	uint16_t key_len;    /* 0: no key */
	uint16_t payload_len;
	uint16_t end_len;
	uint8_t key[TT_KEY_MAX];
	uint8_t payload[TT_MAX_PAYLOAD];	 /* capture records of the start */
	uint8_t end_payload[TT_MAX_PAYLOAD];	 /* capture records of the return or end */
	char redacted[TT_MAX_ATTRS + 1][24];	 /* hashes of redacted values; the last: task.id */
	struct tt_late_attr late[TT_LATE_ATTRS]; /* from annotate probes: late[0..nlate) */
};

/* An attribute of a finished span, pointing into the span. */
enum tt_kv_type {
	TT_KV_STR = 0,
	TT_KV_INT,
};

struct tt_kv {
	const char *key;
	enum tt_kv_type type;
	const char *str; /* TT_KV_STR: not NUL-terminated */
	size_t len;
	int64_t i;
};

#define TT_SPAN_MAX_KV (TT_MAX_ATTRS + TT_LATE_ATTRS + 12)

/*
 * Fills `kv` (room for TT_SPAN_MAX_KV) with the span's attributes: the
 * probe's captured and constant attributes, those annotate probes gave it
 * (replacing a probe attribute of the same name), then task.id,
 * messaging.message.id, task.attempt or step.attempt,
 * messaging.operation.name and .type (publish, consume), code.function.name,
 * tasktap.thread.tid, error.type (errors), tasktap.unreadable, tasktap.cut.
 * An attribute whose capture could not be read is left out and named in
 * `tasktap.unreadable`; a redacted one is replaced by "xxh3:<16 hex digits>"
 * of its value. Returns the count. The names are the semantic conventions'
 * where one exists (README, "Attributes").
 */
int tt_span__attrs(const struct tt_span *span, struct tt_kv *kv);

/*
 * The class of a span's error (its error.type and exception.type), or NULL
 * when its status is not ERROR: the value the error predicate read (a
 * return value, "-1"; a captured field), why the span was cut ("exit",
 * "evicted", ...), else "_OTHER".
 */
const char *tt_span__error_type(const struct tt_span *span);

/* Receives every finished span, in the order spans finish. */
typedef void (*tt_span_fn)(const struct tt_span *span, void *ctx);

struct tt_asm_opts {
	const struct tt_spec *spec; /* probes by id; must outlive the assembler */
	const char *salt;	    /* for derived ids; NULL: the spec's salt, else the default */
	uint64_t seed;		    /* for random span ids */
	uint32_t max_open_spans;    /* 0: the default */
	uint64_t retry_window_ns;   /* 0: the default */
	uint32_t max_tries;	    /* (key, step) pairs remembered; 0: TT_MAX_TRIES */
	uint64_t async_ttl_ns;	    /* begin/end spans without an end; 0: the default */
	bool no_traceparent;	    /* OTEL_PROPAGATORS=none: captured traceparents are ignored */
	tt_span_fn on_span;
	void *ctx;
};

struct tt_asm_stats {
	uint64_t events; /* entry and return events */
	uint64_t exits;	 /* thread exit events (of every process on the machine) */
	uint64_t spans_started;
	uint64_t spans_finished;
	uint64_t open_spans;
	uint64_t orphan_returns; /* a function's return with no open entry: a lost span */
	uint64_t unpaired_ends;	 /* an end of a begin/end probe with no open begin: its */
				 /* function also runs outside the span (or a begin was lost) */
	uint64_t unknown_probes; /* events naming a hook the spec lacks */
	uint64_t evictions;
	uint64_t cut_by_exit;
	uint64_t cut_by_loss;	      /* open at their process's exit after events were lost */
	uint64_t malformed;	      /* events whose size or records do not add up */
	uint64_t tries_forgotten;     /* times the attempts table was full and cleared */
	uint64_t tries;		      /* (key, step) pairs remembered now */
	uint64_t expired;	      /* begin/end spans ended by their TTL */
	uint64_t annotated;	      /* annotate probes that completed an open span */
	uint64_t unannotated;	      /* annotate probes that found no open span (per hook: */
				      /* tt_asm__unannotated()) */
	uint64_t late_keys;	      /* spans that learnt their key from an annotate probe */
	uint64_t late_keys_kept;      /* of those, spans whose children were already exported: */
				      /* they keep their first trace and link to the keyed one */
	uint64_t publishes_forgotten; /* times the table of publishes was full and cleared */
	/* memory: open spans' slots (all allocated) and blocks (in use); */
	uint64_t span_bytes;
	uint64_t index_bytes; /* the indexes of open spans (threads, keys, begin/end) */
	uint64_t tries_bytes; /* the attempts and publishes tables (spans seen, open or not) */
};

struct tt_asm;

/* Returns a new assembler, or NULL with errno set. */
struct tt_asm *tt_asm__new(const struct tt_asm_opts *opts);

/* Releases the assembler without ending open spans. Accepts NULL. */
void tt_asm__free(struct tt_asm *a);

/* Feeds one event of `size` bytes. Returns 0, or -EINVAL for a malformed event. */
int tt_asm__push(struct tt_asm *a, const struct tt_event *ev, size_t size);

/*
 * Says that events were lost (the ring was full) at some time up to
 * `until_ns` and after the previous such call: a span open then that its
 * process's exit ends is ended TT_CUT_LOST, not as a failure of the
 * process, for its end may be what was lost.
 */
void tt_asm__note_loss(struct tt_asm *a, uint64_t until_ns);

/*
 * Ends every span of process `pid` still open, as if it had exited with
 * `status` (wait(2) encoding); a status < 0 says its exit was not seen (its
 * exit event was lost), and its spans are ended TT_CUT_LOST.
 */
void tt_asm__end_process(struct tt_asm *a, uint32_t pid, uint64_t now_ns, int64_t status);

/*
 * Ends, as tt_asm__end_process() with an unseen exit, the spans open on a
 * thread of a process that `alive` says is gone: its exit event was lost.
 */
void tt_asm__end_gone(struct tt_asm *a, uint64_t now_ns, bool (*alive)(uint32_t pid));

/*
 * Ends begin/end spans (paired by key across threads) open longer than
 * their TTL at `now_ns`, with cut = TT_CUT_EXPIRED. Call it now and then.
 */
void tt_asm__expire(struct tt_asm *a, uint64_t now_ns);

/*
 * Moves the assembler to `spec`, a reload of its spec file (the caller
 * matched the two with tt_spec__match()): map[h] is the id in `spec` of
 * hook h of the old spec, 0 for one that did not stay (nmap: the old
 * spec's hook count). Open spans of hooks that stayed go on under their
 * new hooks, so that their ends still pair; the others end at `now_ns`
 * with cut = TT_CUT_REMOVED. Spans already finished may still point at
 * the old spec: the caller keeps it while its sinks hold them.
 */
void tt_asm__respec(struct tt_asm *a, const struct tt_spec *spec, const int *map, int nmap,
		    uint64_t now_ns);

/*
 * Calls fn for each open span, oldest first: what an agent hands over to
 * the next one (tt_asm__restore()) instead of ending them at a restart.
 */
void tt_asm__for_each_open(const struct tt_asm *a, tt_span_fn fn, void *ctx);

/*
 * Opens again a span an earlier assembler had open (a copy of what
 * tt_asm__for_each_open() gave; its probe and hook pointers are ignored),
 * as a span of `hook` of this assembler's spec, with its ids, start,
 * captures and attempt as they were, so that its end pairs with it and
 * its children keep their parent. Restore oldest first. Returns 0, or
 * -EINVAL for a span that does not fit, -ENOMEM.
 */
int tt_asm__restore(struct tt_asm *a, const struct tt_span *saved, const struct tt_hook *hook);

/* Ends every open span at `now_ns` with cut = TT_CUT_SHUTDOWN. */
void tt_asm__end_all(struct tt_asm *a, uint64_t now_ns);

void tt_asm__stats(const struct tt_asm *a, struct tt_asm_stats *stats);

/* How many times annotate hook `hook_id` fired with no open span to complete. */
uint64_t tt_asm__unannotated(const struct tt_asm *a, int hook_id);

/*
 * Calls fn for each open task span, oldest first, with the newest open
 * step (or compensation) under it, or NULL. Stops after `max` tasks (0:
 * no limit). The spans are valid only during the call.
 */
typedef void (*tt_task_fn)(const struct tt_span *task, const struct tt_span *step, void *ctx);
void tt_asm__for_each_task(const struct tt_asm *a, size_t max, tt_task_fn fn, void *ctx);

/*
 * Derived ids (DESIGN §5). trace_id = XXH3_128 over the length-prefixed
 * fields (salt, "T", keyspace, key): each field is its length as a 4-byte
 * little-endian integer followed by its bytes.
 */
void tt_ids__trace(const char *salt, const char *keyspace, const void *key, size_t key_len,
		   uint8_t out[16]);

/*
 * The value of `ret` as the spec sees it, from the raw rax. A function
 * returning a C int leaves the upper half of rax zero, so a value whose
 * upper half is zero is read as a signed 32-bit int (0xffffffff is -1);
 * any other value is the signed 64-bit register (pointers, long, ssize_t).
 */
int64_t tt_ret__value(uint64_t rax);

#define TT_DEFAULT_SALT		   "tasktap"
#define TT_DEFAULT_MAX_OPEN_SPANS  65536
#define TT_MAX_TRIES		   (1u << 18) /* (key, step) pairs remembered for attempts */
#define TT_DEFAULT_RETRY_WINDOW_NS (3600ULL * 1000000000ULL)
#define TT_DEFAULT_ASYNC_TTL_NS	   (24ULL * 3600ULL * 1000000000ULL)

/*
 * The span id of the producer of message (keyspace, key, message_id):
 * XXH3_64 over the length-prefixed fields (salt, "P", keyspace, key,
 * message_id), as for trace ids. A consumer on any node derives the same id
 * as its parent.
 */
void tt_ids__producer(const char *salt, const char *keyspace, const void *key, size_t key_len,
		      const void *message_id, size_t message_id_len, uint8_t out[8]);

#endif /* TASKTAP_ASSEMBLE_H */
