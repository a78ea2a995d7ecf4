/* SPDX-License-Identifier: MIT */
/* assemble_internal.h: the assembler's state and helpers, shared by user/assemble*.c; private. */
#ifndef TASKTAP_ASSEMBLE_INTERNAL_H
#define TASKTAP_ASSEMBLE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "assemble.h"
#include "table.h"

#define CHUNK_SLOTS 1024

#define NIL (-1)

/*
 * An open span, compact (assemble_open.c): the fields every open span
 * needs, by the names struct tt_span gives them; its captures, key and what
 * only some spans have in `data`, a block of the span store. asm__open_load()
 * gives the whole struct tt_span, asm__open_save() keeps one.
 */
struct open_span {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_id[8];
	uint64_t start_ns;
	const struct tt_probe *probe;
	const struct tt_hook *hook;
	uint8_t *data; /* payload | key | kept name | link | extra; NULL when all are empty */
	uint32_t pid;
	uint32_t tid;
	uint32_t attempt;
	uint16_t payload_len;
	uint8_t key_len;
	uint8_t name_len; /* a kept name (steps'), else 0: built again when loaded */
	uint8_t status;
	uint8_t block_class;
	bool marked;
	bool has_link;
	bool has_extra;
};

struct slot {
	struct open_span span;
	uint64_t async;	     /* begin/end spans: their (probe, key) hash; 0 otherwise */
	uint64_t khash;	     /* on the tasks or consumes index: its key's hash; 0 otherwise */
	int32_t same_key;    /* begin/end spans: the next older open one with that hash */
	int32_t cur_step;    /* tasks: the newest open step under it, or NIL */
	int32_t parent_task; /* steps: the slot of their task, or NIL */
	int32_t parent_slot; /* the open span that is its parent, or NIL */
	int32_t below;	     /* next span down this thread's stack */
	int32_t older;	     /* age list */
	int32_t newer;
	int32_t next_free;   /* free list, while unused */
	uint64_t gen_frame;  /* a Python generator's or coroutine's span: its frame; 0 otherwise */
	bool on_stack;	     /* on its thread's stack (function and USDT pairs) */
	bool has_children;   /* some span started with it as its parent */
	bool child_exported; /* one of them finished: its trace can no longer move */
	bool used;
};

/* The span store's size classes: 16-byte steps to 256 B, then 128-byte steps to 2 KB. */
#define OPEN_CLASSES 30

struct open_store {
	void *free[OPEN_CLASSES];    /* a free list per class, linked through the blocks */
	uint8_t *next[OPEN_CLASSES]; /* where the class's next new block is carved */
	size_t left[OPEN_CLASSES];   /* bytes left in that chunk */
	void **chunks;		     /* every chunk, freed with the assembler */
	size_t nchunks, chunks_cap;
	size_t bytes; /* of the blocks in use */
};

/* An index of open spans: hash -> slot, the hash read from the slot (assemble_index.c). */
enum slot_table_by {
	BY_THREAD, /* asm__thread_key(pid, tid): the innermost open span paired per thread */
	BY_ASYNC,  /* slot->async: the newest open begin/end span of (probe, key) */
	BY_KEY,	   /* slot->khash: the newest open task (or consume) with that key */
};

struct slot_table {
	int32_t *e; /* slot numbers, NIL where empty */
	uint32_t cap, len;
	enum slot_table_by by;
};

/*
 * One entry of the attempts table (assemble_tries.c): 20 bytes, 4-byte
 * aligned so an array of them has no padding.
 */
struct asm_try {
	uint64_t key;  /* hash(key, step); 0: empty */
	uint64_t at;   /* when the newest of them began */
	uint32_t seen; /* spans seen so far (the attempt the newest was) */
} __attribute__((packed, aligned(4)));

struct asm_tries {
	struct asm_try *e;
	uint32_t mask; /* slots - 1, a power of two less one */
	uint32_t len;
};

/* Windows of lost events remembered: older losses count as one from the oldest's start. */
#define TT_LOSS_WINDOWS 8

struct tt_asm {
	struct tt_asm_opts opts;
	const char *salt;
	uint64_t rng;

	struct slot **chunks;
	uint32_t nchunks;
	uint32_t nslots;
	int32_t free_head;
	int32_t oldest;
	int32_t newest;

	struct slot_table threads;
	struct slot_table tasks;
	struct asm_tries tries;
	struct slot_table async;
	struct slot_table consumes; /* hash(key) -> the newest open consume span with that key */
	struct tt_table pubs;	    /* hash(key, message id) -> (publishes seen, newest span id) */
	uint64_t unannotated[TT_MAX_PROBES + 1]; /* by hook id */
	bool has_publish; /* the spec declares a publish probe: consumers derive parents */

	/* the last TT_LOSS_WINDOWS times events were lost in: [from, to], newest last */
	struct {
		uint64_t from, to;
	} losses[TT_LOSS_WINDOWS];
	uint32_t nlosses;
	uint64_t loss_noted_ns; /* `until` of the last tt_asm__note_loss() */
	/* while a whole call (TT_EV_CALL) starts: its start; spans begun later are not its parents
	 */
	uint64_t asof_ns;

	struct open_store store;
	/* whole spans, loaded from or saved to slots: */
	struct tt_span *work; /* the span being started */
	struct tt_span *done; /* the span being ended, handed to the sink */
	struct tt_span *peek; /* another open span: a task's name, an annotate probe's target */

	struct tt_asm_stats stats;
};

static inline struct slot *slot_at(const struct tt_asm *a, int32_t i)
{
	return &a->chunks[i / CHUNK_SLOTS][i % CHUNK_SLOTS];
}

/* The slot index of an open span. */
static inline int32_t slot_index(const struct tt_asm *a, const struct open_span *s)
{
	for (uint32_t c = 0; c < a->nchunks; c++) {
		const struct slot *base = a->chunks[c];

		if ((const void *)s >= (const void *)base &&
		    (const void *)s < (const void *)(base + CHUNK_SLOTS))
			return (int32_t)(c * CHUNK_SLOTS + ((const struct slot *)s - base));
	}
	return NIL;
}

/* A hash as a table key: 0 marks an empty table entry. */
static inline uint64_t table_key(uint64_t h)
{
	return h ? h : 1;
}

static inline const uint8_t *open_key(const struct open_span *o)
{
	return o->data ? o->data + o->payload_len : (const uint8_t *)""; /* "": never NULL */
}

static inline enum tt_span_kind span_kind(enum tt_role role)
{
	return role == TT_ROLE_PUBLISH	 ? TT_KIND_PRODUCER
	       : role == TT_ROLE_CONSUME ? TT_KIND_CONSUMER
					 : TT_KIND_INTERNAL;
}

static inline const char *record_data(const struct tt_cap_rec *r)
{
	return (const char *)(r + 1);
}

/* A record that holds a value (it exists and its read did not fault); NULL if none. */
const struct tt_cap_rec *asm__value_of(const struct tt_span *s, const struct tt_capture *cap);
/* The probe's attribute named by the len bytes of name, or NULL. */
const struct tt_attr *asm__find_attr(const struct tt_probe *p, const char *name, size_t len);
/* A value of capture `cap` recorded at its start, in open span o; NULL if none. */
const struct tt_cap_rec *asm__open_value_of(const struct open_span *o,
					    const struct tt_capture *cap);
/* The function a span's hook is on: the glob's match, else the spec's symbol. */
const char *asm__span_function(const struct tt_span *s);
static inline const char *hook_function(const struct tt_hook *h, const struct tt_probe *p)
{
	return h && h->function ? h->function : p->symbol;
}

/* assemble.c: slots, records, indexes; a span started and ended */
uint64_t asm__key_hash(const uint8_t *key, size_t len);
struct slot_table *asm__key_index(struct tt_asm *a, enum tt_role role);
void asm__note_redactions(struct tt_span *s);
struct open_span *asm__open_on_thread(struct tt_asm *a, uint32_t pid, uint32_t tid, int role);
struct open_span *asm__open_with_key(struct tt_asm *a, struct slot_table *index,
				     const struct tt_span *s);
/* Writes a captured value as text: integers in decimal, strings and bytes as they are. */
size_t asm__record_text(const struct tt_cap_rec *r, uint8_t *out, size_t room);
/* Sets the span's key from capture `cap`, as text; no key when it holds no value. */
void asm__set_key(struct tt_span *s, const struct tt_capture *cap);

uint64_t asm__async_hash(const struct tt_probe *p, const uint8_t *key, size_t len);
void asm__async_remove(struct tt_asm *a, int32_t i);
void asm__end_span(struct tt_asm *a, int32_t i, uint64_t ts, enum tt_cut cut, const char *why);
/* asm__end_span() of open span i, already loaded whole into s (a->done) */
void asm__end_loaded(struct tt_asm *a, int32_t i, struct tt_span *s, uint64_t ts, enum tt_cut cut,
		     const char *why);
int asm__index_span(struct tt_asm *a, int32_t i);
/* Puts open span i on the async table under hash h, before the spans it already holds
 * there; 0, or -ENOMEM after freeing the slot. */
int asm__async_index(struct tt_asm *a, int32_t i, uint64_t h);
/* Puts generator span i (slot gen_frame set) on the async table by (probe, pid, frame); 0 or
 * -ENOMEM. */
int asm__gen_index(struct tt_asm *a, int32_t i);
int32_t asm__slot_get(struct tt_asm *a);
/* Frees slot i and its block. */
void asm__slot_put(struct tt_asm *a, int32_t i);
void asm__slot_open(struct slot *sl);
uint64_t asm__thread_key(uint32_t pid, uint32_t tid);

/* assemble_identity.c: ids, parents, attempts, names */
int asm__tries_init(struct asm_tries *t, uint32_t cap);
void asm__tries_release(struct asm_tries *t);
uint32_t asm__tries_cap(const struct asm_tries *t);
struct asm_try *asm__tries_get(const struct asm_tries *t, uint64_t key);
int asm__tries_put(struct asm_tries *t, uint64_t key, uint32_t seen, uint64_t at);
/* The entry of key, added (zeroed, *created) if it was not there; NULL: no memory. */
struct asm_try *asm__tries_upsert(struct asm_tries *t, uint64_t key, bool *created);
int asm__tries_del(struct asm_tries *t, uint64_t key);
/* Forgets entries older than window before now; returns how many. May shrink the table. */
uint32_t asm__tries_expire(struct asm_tries *t, uint64_t now, uint64_t window);
/* Forgets every entry (and shrinks the table). */
void asm__tries_clear(struct asm_tries *t);
/* Halves the table while it stays at most half full, once it is under 1/8 full. */
void asm__tries_shrink(struct asm_tries *t);

void asm__random_id(struct tt_asm *a, uint8_t *out, size_t len);
/* The text of the attribute `name` of a span so far (an annotate probe's first); NULL if none. */
const char *asm__span_str_attr(const struct tt_span *s, const char *name, size_t name_len,
			       size_t *len);
uint32_t asm__next_attempt(struct tt_asm *a, const struct tt_span *s, const char *step,
			   size_t step_len);
void asm__name_from_template(struct tt_span *s);
/* An error span's error.type from the spec's error.type (else exception.type) attribute, if any. */
void asm__given_error_type(struct tt_span *s);
/* Names a span: its template, else by role (a step's name starts with its task's name). */
void asm__name_span(struct tt_span *s, const char *task_name);
void asm__publish_id(struct tt_asm *a, struct tt_span *s);
void asm__consume_parent(struct tt_asm *a, struct tt_span *s);
/* Sets trace, parent and (a publish's) span id; returns the open span made the parent, or NULL. */
const struct open_span *asm__set_identity(struct tt_asm *a, struct tt_span *s,
					  const struct tt_event *ev);
/* Derives again the ids that depend on a key captured at return. */
void asm__rekey(struct tt_asm *a, struct tt_span *s);

/* assemble_pairing.c: an end paired to its start, the span finished */
void asm__finish(struct tt_asm *a, int32_t i, const struct tt_event *ev, const uint8_t *end,
		 size_t end_len);
void asm__on_return_event(struct tt_asm *a, const struct tt_event *ev, const struct tt_hook *hook,
			  const uint8_t *end, size_t end_len);
/*
 * A whole call's return (ev a TT_EV_RETURN) that finishes the span its
 * entry began, when that entry is open on the thread (the entry of a call
 * an agent handed over with --pin, or read in flight from its frame,
 * started by the same time): true; false when none is.
 */
bool asm__finish_call(struct tt_asm *a, const struct tt_event *ev, const struct tt_hook *hook,
		      uint64_t start_ns, const uint8_t *end, size_t end_len);
/* Whether hook's span of the call begun at start_ns is open on thread (pid, tid). */
bool asm__call_open(struct tt_asm *a, uint32_t pid, uint32_t tid, const struct tt_hook *hook,
		    uint64_t start_ns);
void asm__on_end_event(struct tt_asm *a, const struct tt_event *ev, const struct tt_hook *hook,
		       const uint8_t *end, size_t end_len);

/* assemble_ends.c: spans ended by exits, losses, expiry, a reload or shutdown */
void asm__describe_exit(char *buf, size_t len, int64_t status);
void asm__end_thread(struct tt_asm *a, uint32_t pid, uint32_t tid, uint64_t ts, const char *why);
void asm__on_exit_event(struct tt_asm *a, const struct tt_event *ev);

/* assemble_index.c: the indexes of open spans */
int asm__slot_table_init(struct slot_table *t, enum slot_table_by by, uint32_t cap);
void asm__slot_table_release(struct slot_table *t);
/* The entry of hash h (its slot number, which may be changed to a slot of the same hash), or NULL.
 */
int32_t *asm__slot_table_get(const struct tt_asm *a, const struct slot_table *t, uint64_t h);
/* Puts slot v under hash h (which v's slot must hold already), replacing another. 0 or -ENOMEM. */
int asm__slot_table_put(const struct tt_asm *a, struct slot_table *t, uint64_t h, int32_t v);
bool asm__slot_table_del(const struct tt_asm *a, struct slot_table *t, uint64_t h);

/* assemble_open.c: open spans kept compact, loaded whole when needed */
/* Keeps span s in slot i, its block replaced; keep_name: its name too. 0, or -ENOMEM. */
int asm__open_save(struct tt_asm *a, int32_t i, const struct tt_span *s, bool keep_name);
/* Loads open span i whole into s, its name and redactions built as at its start. */
void asm__open_load(const struct tt_asm *a, int32_t i, struct tt_span *s);
/* Gives slot i's block back to the store. */
void asm__open_drop(struct tt_asm *a, int32_t i);
void asm__open_store_release(struct open_store *st);

/* assemble_annotate.c: binds an annotate probe's span to the open span it completes */
void asm__annotate(struct tt_asm *a, struct tt_span *ann);

#endif /* TASKTAP_ASSEMBLE_INTERNAL_H */
