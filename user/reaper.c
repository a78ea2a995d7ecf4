/* reaper: closes file descriptors on threads of its own, for closes that can block. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "reaper.h"

/*
 * Up to this many closes at once: each waits for grace periods, and
 * closes waiting together share them (100 probes closed one after the
 * other took ~12 s on a busy machine).
 */
#define REAPER_THREADS 64

struct tt_reaper {
	pthread_mutex_t lock;
	pthread_cond_t more; /* a descriptor queued, or stopping */
	pthread_cond_t done; /* a descriptor closed */
	int *fds;	     /* a queue: fds[head..n) wait to be closed */
	size_t head, n, cap;
	size_t closing; /* taken by a thread and not closed yet */
	int nthreads, idle;
	bool stopping;
	pthread_t threads[REAPER_THREADS];
	int (*close_fd)(int fd); /* close(), or a test's stand-in */
};

struct tt_reaper *tt_reaper__new(void)
{
	struct tt_reaper *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->more, NULL);
	pthread_cond_init(&r->done, NULL);
	r->close_fd = close;
	return r;
}

void tt_reaper__set_close(struct tt_reaper *r, int (*close_fd)(int fd))
{
	r->close_fd = close_fd;
}

static void *reap(void *arg)
{
	struct tt_reaper *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (r->head == r->n && !r->stopping) {
			r->idle++;
			pthread_cond_wait(&r->more, &r->lock);
			r->idle--;
		}
		if (r->head == r->n)
			break; /* stopping, and nothing left */
		int fd = r->fds[r->head++];

		if (r->head == r->n)
			r->head = r->n = 0;
		r->closing++; /* counted as pending until closed */
		pthread_mutex_unlock(&r->lock);
		r->close_fd(fd); /* the slow part, with the lock released */
		pthread_mutex_lock(&r->lock);
		r->closing--;
		pthread_cond_broadcast(&r->done);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* Appends fd to the queue; the caller holds the lock. Returns 0 or -ENOMEM. */
static int push(struct tt_reaper *r, int fd)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		int *fds = realloc(r->fds, cap * sizeof(*fds));

		if (!fds)
			return -ENOMEM;
		r->fds = fds;
		r->cap = cap;
	}
	r->fds[r->n++] = fd;
	return 0;
}

/* One more thread when none waits for work and there is room; the caller holds the lock. */
static void add_thread(struct tt_reaper *r)
{
	if (r->idle > 0 || r->nthreads == REAPER_THREADS || r->stopping)
		return;
	if (pthread_create(&r->threads[r->nthreads], NULL, reap, r) == 0)
		r->nthreads++;
}

void tt_reaper__close(struct tt_reaper *r, int fd)
{
	bool queued = false;

	if (fd < 0)
		return;
	if (!r) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&r->lock);
	add_thread(r);
	if (r->nthreads > 0 && !r->stopping && push(r, fd) == 0) {
		queued = true;
		pthread_cond_signal(&r->more);
	}
	pthread_mutex_unlock(&r->lock);
	if (!queued)
		close(fd);
}

unsigned long tt_reaper__pending(struct tt_reaper *r)
{
	unsigned long n;

	if (!r)
		return 0;
	pthread_mutex_lock(&r->lock);
	n = r->n - r->head + r->closing;
	pthread_mutex_unlock(&r->lock);
	return n;
}

void tt_reaper__flush(struct tt_reaper *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	while (r->n - r->head + r->closing > 0)
		pthread_cond_wait(&r->done, &r->lock);
	pthread_mutex_unlock(&r->lock);
}

void tt_reaper__free(struct tt_reaper *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_broadcast(&r->more);
	pthread_mutex_unlock(&r->lock);
	for (int i = 0; i < r->nthreads; i++)
		pthread_join(r->threads[i], NULL); /* they close what is left first */
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->more);
	pthread_cond_destroy(&r->done);
	free(r->fds);
	free(r);
}
