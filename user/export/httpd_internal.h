/* SPDX-License-Identifier: MIT */
/*
 * What httpd.c (the server, its routes, MHD's callbacks) and httpd_thread.c
 * (the server's own thread and the requests it hands to the event loop)
 * share. Private to them.
 */
#ifndef TASKTAP_HTTPD_INTERNAL_H
#define TASKTAP_HTTPD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <microhttpd.h>

#include "export/httpd.h"

struct tt_jsonw;

/* descriptors at most; past TT_HTTP_SOFT_CONNECTIONS the guard drops waiting ones */
#define CONNECTION_LIMIT   64
#define CONNECTION_TIMEOUT 10 /* seconds an idle connection is kept */
#define LISTEN_BACKLOG	   64
#define RUN_ROUNDS	   16	/* MHD runs at most per tt_httpd__run() */
#define READ_INCREMENT	   8192 /* bytes a request's read buffer grows by */
#define LOG_PER_MINUTE	   10	/* server messages shown; the others are counted */
#define THREAD_TICK_MS	   100	/* the server's thread looks at waiting requests this often */

#define TYPE_TEXT "text/plain; charset=utf-8"
#define TYPE_JSON "application/json"

struct pending;

struct tt_httpd {
	struct MHD_Daemon *daemon;
	struct tt_http_guard *guard; /* deadlines, slots, lingering closes (httpguard.h) */
	char bind_host[256];	     /* the host part of the address served, for Host */
	bool allow_remote;
	bool stopping;
	/* the server's messages in the current minute, shown and not (a client can cause many) */
	uint64_t log_since;
	unsigned int logged, unlogged;
	struct tt_httpd_providers p;
	uint16_t port;
	uint64_t window_ns;
	/* when the drop and loss totals were last seen to grow, for /health */
	uint64_t dropped, dropped_at;
	uint64_t lost, lost_at;
	/* with own_thread (httpd_thread.c) */
	bool threaded;
	bool thread_started;
	pthread_t thread;
	atomic_bool stop;
	int requests_fd; /* eventfd: the loop has requests to answer */
	int wake_fd;	 /* eventfd: the server's thread has answers to send, or must stop */
	int thread_epfd; /* the server's thread waits on the guard's fd and wake_fd */
	uint64_t loop_wait_ns;
	pthread_mutex_t lock;
	struct pending *pending; /* under lock */
	/* the loop's progress, written by the loop, read by the server's thread */
	_Atomic uint64_t progress_ns;
	_Atomic uint64_t longest_stall_ns;
	bool looping; /* the loop's: it has called tt_httpd__progress() */
};

/* A request as the routes see it; its strings live as long as it does. */
struct request {
	struct tt_http_request q; /* the path and the query's arguments */
	const char *accept;	  /* the Accept header, or NULL */
};

/* A response body being written, and what to answer with it. */
struct reply {
	FILE *out; /* a memstream over buf */
	char *buf;
	size_t len;
	unsigned int status;
	const char *type;
	const char *csp; /* a page's Content-Security-Policy, or NULL */
};

/* Opens r's body, an answer 200 in plain text until told otherwise. 0 or -ENOMEM. */
int httpd__reply_open(struct reply *r);
/* Frees r's body, unless sent. */
void httpd__reply_release(struct reply *r);
/* Writes the answer to rq into r (open): a route of httpd.c, the providers' route, or 404. */
void httpd__render(struct tt_httpd *h, const struct request *rq, struct reply *r);
/* The loop's progress as /health shows it (own_thread only). */
void httpd__loop_fields(struct tt_httpd *h, struct tt_jsonw *w, uint64_t now);

/* ---- httpd_thread.c ---------------------------------------------------------- */

/*
 * Suspends connection c until the loop has answered rq (tt_httpd__answer());
 * *req holds the waiting request, freed by httpd__pending_free().
 */
enum MHD_Result httpd__defer(struct tt_httpd *h, struct MHD_Connection *c, const struct request *rq,
			     void **req);
/* The answer of a waiting request (req as httpd__defer() set it), once resumed. */
struct reply *httpd__pending_reply(void *req);
/* Forgets a waiting request and frees it with its answer. */
void httpd__pending_free(struct tt_httpd *h, void *req);
/* Starts the server's thread. 0 or -errno. */
int httpd__start_thread(struct tt_httpd *h, const struct tt_httpd_opts *opts);
/* Stops it, and answers 503 what still waits, so that MHD may stop. */
void httpd__stop_thread(struct tt_httpd *h);

#endif /* TASKTAP_HTTPD_INTERNAL_H */
