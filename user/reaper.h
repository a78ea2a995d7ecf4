/* reaper: closes file descriptors on threads of its own, for closes that can block. */
#ifndef TT_REAPER_H
#define TT_REAPER_H

/*
 * Closing the descriptor of a uprobe (a perf event or a BPF link) makes the
 * kernel unregister it, and that waits for RCU grace periods: 0.1-0.5 s a
 * probe on a busy machine. A process that exits takes its probes with it,
 * and the agent's event loop must not stall that long for each one (new
 * workers wait at exec meanwhile). A reaper takes such descriptors and
 * closes them on up to 64 threads of its own, several at once: closes that
 * wait together share their grace periods. The agent's stop closes all its
 * probes so too, and waits for them (tt_reaper__flush()).
 *
 * Only descriptors whose probes can no longer fire in a way that matters may
 * go through it (their process is gone), or those the caller waits for with
 * tt_reaper__flush(): until the reaper closes one, its probe is still
 * installed.
 */
struct tt_reaper;

/* Returns a reaper (its thread starts with the first descriptor), or NULL with errno set. */
struct tt_reaper *tt_reaper__new(void);

/*
 * Hands fd over to be closed. Never blocks on the close; when the thread
 * cannot be started or memory runs out, closes fd itself, here. fd < 0 is
 * ignored.
 */
void tt_reaper__close(struct tt_reaper *r, int fd);

/* Waits until every descriptor handed over is closed. Accepts NULL. */
void tt_reaper__flush(struct tt_reaper *r);

/* Descriptors handed over and not yet closed. */
unsigned long tt_reaper__pending(struct tt_reaper *r);

/* Tests: what closes a descriptor instead of close(2). Before any tt_reaper__close(). */
void tt_reaper__set_close(struct tt_reaper *r, int (*close_fd)(int fd));

/* Closes what is left, stops the threads and frees r. Accepts NULL. */
void tt_reaper__free(struct tt_reaper *r);

#endif
