/* reaper: closes file descriptors on a thread of its own, for closes that can block. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "reaper.h"

struct tt_reaper {
	pthread_mutex_t lock;
	pthread_cond_t more;
	int *fds; /* a queue: fds[head..n) wait to be closed */
	size_t head, n, cap;
	bool started, stopping;
	pthread_t thread;
};

struct tt_reaper *tt_reaper__new(void)
{
	struct tt_reaper *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->more, NULL);
	return r;
}

static void *reap(void *arg)
{
	struct tt_reaper *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (r->head == r->n && !r->stopping)
			pthread_cond_wait(&r->more, &r->lock);
		if (r->head == r->n)
			break; /* stopping, and nothing left */
		int fd = r->fds[r->head];

		pthread_mutex_unlock(&r->lock);
		close(fd); /* the slow part, with the lock released */
		pthread_mutex_lock(&r->lock);
		r->head++; /* counted as pending until closed */
		if (r->head == r->n)
			r->head = r->n = 0;
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
	if (!r->started && !r->stopping)
		r->started = pthread_create(&r->thread, NULL, reap, r) == 0;
	if (r->started && !r->stopping && push(r, fd) == 0) {
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
	n = r->n - r->head;
	pthread_mutex_unlock(&r->lock);
	return n;
}

void tt_reaper__free(struct tt_reaper *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_signal(&r->more);
	pthread_mutex_unlock(&r->lock);
	if (r->started)
		pthread_join(r->thread, NULL); /* it closes what is left first */
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->more);
	free(r->fds);
	free(r);
}
