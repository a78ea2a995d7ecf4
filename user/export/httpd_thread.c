// SPDX-License-Identifier: MIT
/*
 * The HTTP server's own thread (tt_httpd_opts.own_thread). It runs MHD and
 * the guard, and answers /health/live itself. A request that needs the
 * providers is copied into a `struct pending`, its connection suspended,
 * and the loop woken (requests_fd). The loop renders it in
 * tt_httpd__answer() and marks it done; the server's thread resumes the
 * connection, and MHD, calling on_request() again, sends the answer.
 * h->lock guards the pending list and each entry's state; the loop touches
 * an entry only while it is TAKEN, the server's thread never then.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>

#include "helpers.h"
#include "log.h"
#include "export/httpd_internal.h"
#include "export/httpguard.h"
#include "export/jsonw.h"

enum pending_state {
	WAITING, /* for the loop */
	TAKEN,	 /* the loop writes its answer */
	DONE,	 /* answered: the server's thread resumes its connection */
};

/* A request waiting for the loop, its copy, and its answer. */
struct pending {
	struct pending *next; /* in h->pending */
	struct MHD_Connection *c;
	enum pending_state state; /* under h->lock */
	bool resumed;		  /* under h->lock */
	uint64_t since_ns;
	struct request rq; /* its strings in pool */
	struct reply r;	   /* written while TAKEN (or by the server's thread), sent once DONE */
	char pool[];
};

static const char *pool_copy(char **at, const char *str)
{
	size_t n = strlen(str) + 1;
	char *copy = *at;

	memcpy(copy, str, n);
	*at += n;
	return copy;
}

/* Copies rq into a new entry for connection c (one allocation). NULL: out of memory. */
static struct pending *pending_new(struct MHD_Connection *c, const struct request *rq, uint64_t now)
{
	size_t need = strlen(rq->q.path) + 1 + (rq->accept ? strlen(rq->accept) + 1 : 0);
	struct pending *p;
	char *at;

	for (size_t i = 0; i < rq->q.nargs; i++) {
		need += strlen(rq->q.args[i].key) + 1;
		need += rq->q.args[i].value ? strlen(rq->q.args[i].value) + 1 : 0;
	}
	p = calloc(1, sizeof(*p) + need);
	if (!p)
		return NULL;
	p->c = c;
	p->since_ns = now;
	at = p->pool;
	p->rq.q.path = pool_copy(&at, rq->q.path);
	p->rq.q.nargs = rq->q.nargs;
	p->rq.q.too_many_args = rq->q.too_many_args;
	for (size_t i = 0; i < rq->q.nargs; i++) {
		p->rq.q.args[i].key = pool_copy(&at, rq->q.args[i].key);
		p->rq.q.args[i].value =
			rq->q.args[i].value ? pool_copy(&at, rq->q.args[i].value) : NULL;
	}
	p->rq.accept = rq->accept ? pool_copy(&at, rq->accept) : NULL;
	return p;
}

struct reply *httpd__pending_reply(void *req)
{
	return &((struct pending *)req)->r;
}

void httpd__pending_free(struct tt_httpd *h, void *req)
{
	struct pending *p = req;

	pthread_mutex_lock(&h->lock);
	for (struct pending **at = &h->pending; *at; at = &(*at)->next) {
		if (*at == p) {
			*at = p->next;
			break;
		}
	}
	pthread_mutex_unlock(&h->lock);
	httpd__reply_release(&p->r);
	free(p);
}

enum MHD_Result httpd__defer(struct tt_httpd *h, struct MHD_Connection *c, const struct request *rq,
			     void **req)
{
	struct pending *p = pending_new(c, rq, tt_now_ns(CLOCK_MONOTONIC));

	if (!p)
		return MHD_NO;
	*req = p;
	MHD_suspend_connection(c);
	pthread_mutex_lock(&h->lock);
	p->next = h->pending;
	h->pending = p;
	pthread_mutex_unlock(&h->lock);
	eventfd_write(h->requests_fd, 1);
	return MHD_YES;
}

/*
 * The server's thread answers 503 for the loop: `why`, or that the loop has
 * made no progress; /health in JSON, as unhealthy.
 */
static void answer_unavailable(struct tt_httpd *h, struct pending *p, uint64_t now, const char *why)
{
	uint64_t at = atomic_load(&h->progress_ns);
	char reason[128];
	struct tt_jsonw w;

	if (httpd__reply_open(&p->r))
		return;
	if (!why) {
		snprintf(reason, sizeof(reason),
			 "the event loop has made no progress for %.1f s (blocked in the kernel, "
			 "or stuck)",
			 now > at ? (double)(now - at) / 1e9 : 0.0);
		why = reason;
	}
	p->r.status = MHD_HTTP_SERVICE_UNAVAILABLE;
	if (strcmp(p->rq.q.path, "/health") != 0) {
		fprintf(p->r.out, "unavailable: %s; try again\n", why);
		return;
	}
	tt_jsonw__init(&w, p->r.out);
	tt_jsonw__start_object(&w);
	tt_jsonw__string_field(&w, "status", "unhealthy");
	tt_jsonw__name(&w, "reasons");
	tt_jsonw__start_array(&w);
	tt_jsonw__string(&w, why);
	tt_jsonw__end_array(&w);
	httpd__loop_fields(h, &w, now);
	tt_jsonw__end_object(&w);
	fputc('\n', p->r.out);
	p->r.type = TYPE_JSON;
}

/*
 * On the server's thread: answers what the loop left waiting past
 * loop_wait_ns (all of it when `why`), and resumes the connections answered.
 */
static void resume_answered(struct tt_httpd *h, uint64_t now, const char *why)
{
	pthread_mutex_lock(&h->lock);
	for (struct pending *p = h->pending; p; p = p->next) {
		if (p->state == WAITING && (why || now - p->since_ns >= h->loop_wait_ns)) {
			answer_unavailable(h, p, now, why);
			p->state = DONE;
		}
		if (p->state == DONE && !p->resumed) {
			p->resumed = true;
			MHD_resume_connection(p->c);
		}
	}
	pthread_mutex_unlock(&h->lock);
}

int tt_httpd__requests_fd(const struct tt_httpd *h)
{
	return h->requests_fd;
}

void tt_httpd__answer(struct tt_httpd *h)
{
	struct pending *taken[CONNECTION_LIMIT];
	size_t n = 0;
	eventfd_t count;

	if (!h->threaded)
		return;
	eventfd_read(h->requests_fd, &count); /* non-blocking: resets it */
	pthread_mutex_lock(&h->lock);
	for (struct pending *p = h->pending; p && n < CONNECTION_LIMIT; p = p->next) {
		if (p->state == WAITING) {
			p->state = TAKEN;
			taken[n++] = p;
		}
	}
	pthread_mutex_unlock(&h->lock);
	/* no lock while the providers run: the server's thread goes on serving */
	for (size_t i = 0; i < n; i++) {
		if (httpd__reply_open(&taken[i]->r) == 0)
			httpd__render(h, &taken[i]->rq, &taken[i]->r);
	}
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < n; i++)
		taken[i]->state = DONE;
	pthread_mutex_unlock(&h->lock);
	if (n)
		eventfd_write(h->wake_fd, 1);
}

void tt_httpd__progress(struct tt_httpd *h, uint64_t now_ns)
{
	uint64_t at = atomic_load(&h->progress_ns);

	/* the first call starts the loop: the agent's start is not a stall */
	if (h->looping && now_ns > at && now_ns - at > atomic_load(&h->longest_stall_ns))
		atomic_store(&h->longest_stall_ns, now_ns - at);
	h->looping = true;
	atomic_store(&h->progress_ns, now_ns);
}

/* The server's own thread: MHD and the guard, and the answers the loop hands back. */
static void *serve_main(void *arg)
{
	struct tt_httpd *h = arg;
	struct epoll_event evs[2];
	eventfd_t n;

	while (!atomic_load(&h->stop)) {
		int timeout = tt_httpd__timeout_ms(h);

		/* waiting requests are looked at every tick, for loop_wait_ms */
		if (timeout < 0 || timeout > THREAD_TICK_MS)
			timeout = THREAD_TICK_MS;
		if (epoll_wait(h->thread_epfd, evs, 2, timeout) < 0 && errno != EINTR) {
			tt_warn("http: the server's thread stops: %s", strerror(errno));
			break;
		}
		eventfd_read(h->wake_fd, &n);
		resume_answered(h, tt_now_ns(CLOCK_MONOTONIC), NULL);
		tt_httpd__run(h);
	}
	return NULL;
}

/* Signals blocked in the server's thread: the agent reads them from a signalfd. */
int httpd__start_thread(struct tt_httpd *h, const struct tt_httpd_opts *opts)
{
	struct epoll_event ev = {.events = EPOLLIN};
	sigset_t all, old;
	int ret;

	h->threaded = true;
	h->loop_wait_ns =
		(uint64_t)(opts->loop_wait_ms ? opts->loop_wait_ms : TT_HTTPD_LOOP_WAIT_MS) *
		1000000ULL;
	atomic_store(&h->progress_ns, tt_now_ns(CLOCK_MONOTONIC));
	h->requests_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	h->thread_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->requests_fd < 0 || h->wake_fd < 0 || h->thread_epfd < 0)
		return -errno;
	ev.data.fd = tt_http_guard__fd(h->guard);
	if (epoll_ctl(h->thread_epfd, EPOLL_CTL_ADD, ev.data.fd, &ev))
		return -errno;
	ev.data.fd = h->wake_fd;
	if (epoll_ctl(h->thread_epfd, EPOLL_CTL_ADD, ev.data.fd, &ev))
		return -errno;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&h->thread, NULL, serve_main, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	h->thread_started = ret == 0;
	return -ret;
}

void httpd__stop_thread(struct tt_httpd *h)
{
	atomic_store(&h->stop, true);
	eventfd_write(h->wake_fd, 1);
	pthread_join(h->thread, NULL);
	h->thread_started = false;
	/* MHD aborts when stopped with a connection suspended */
	resume_answered(h, tt_now_ns(CLOCK_MONOTONIC), "the agent is stopping");
	tt_httpd__run(h);
}
