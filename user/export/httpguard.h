/* SPDX-License-Identifier: MIT */
/*
 * What keeps the agent's HTTP server answering whatever its clients do
 * (DESIGN §7: slow or hostile clients cannot starve /health/live):
 *
 * - A request must arrive whole within TT_HTTP_HEADER_TIMEOUT_MS of its
 *   connection (or of the previous answer on a kept-alive one); a client
 *   that sends a header line now and then is dropped at that deadline,
 *   however active it is. (libmicrohttpd's own timeout is an idle one.)
 * - Past TT_HTTP_SOFT_CONNECTIONS, a new connection drops the oldest one
 *   still waiting for its request, so a new client always gets a slot;
 *   the server's hard limit only bounds the descriptors.
 * - A connection closed with input left unread (an answer 414 or 431 to a
 *   request too big to read) is kept half-open for a short while and its
 *   input drained, so that the client, still sending, reads the answer
 *   instead of a reset ("lingering close", as nginx and Apache do).
 * - The Host header must name this server: a loopback name or address, or
 *   the address it was told to bind, unless remote clients are allowed. A
 *   browser page on another site that rebinds its DNS name to 127.0.0.1
 *   sends its own name, and is refused.
 *
 * The guard knows file descriptors and times, not libmicrohttpd: httpd.c
 * tells it when a connection starts, has its request, is answered and
 * ends. Not thread-safe: the thread that runs the server owns it.
 */
#ifndef TASKTAP_HTTPGUARD_H
#define TASKTAP_HTTPGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TT_HTTP_HEADER_TIMEOUT_MS 5000
#define TT_HTTP_SOFT_CONNECTIONS  32
#define TT_HTTP_LINGER_MS	  2000
#define TT_HTTP_LINGER_BYTES	  (4u << 20) /* drained at most, then closed */
#define TT_HTTP_MAX_LINGERING	  32

struct tt_http_guard;
struct tt_http_conn;

/*
 * Returns a guard whose fd (tt_http_guard__fd()) is an epoll set holding
 * `inner_fd` (the server's own epoll fd) and the lingering sockets, or NULL
 * with errno set. The caller frees it with tt_http_guard__free().
 */
struct tt_http_guard *tt_http_guard__new(int inner_fd);

/* Closes every lingering socket. Accepts NULL. */
void tt_http_guard__free(struct tt_http_guard *g);

int tt_http_guard__fd(const struct tt_http_guard *g);

/*
 * A connection on socket `fd` started at `now_ns`. Returns its record
 * (NULL when out of memory: the connection is then not guarded). When more
 * than TT_HTTP_SOFT_CONNECTIONS are open, drops the oldest one waiting for
 * a request (shutdown(2): the server sees it end and closes it).
 */
struct tt_http_conn *tt_http_guard__started(struct tt_http_guard *g, int fd, uint64_t now_ns);

/* The connection's request arrived whole: no deadline while it is answered. */
void tt_http_guard__request(struct tt_http_guard *g, struct tt_http_conn *c);

/* The request was answered: the next one must arrive by now + the timeout. */
void tt_http_guard__answered(struct tt_http_guard *g, struct tt_http_conn *c, uint64_t now_ns);

/*
 * The server closes the connection: frees `c`. When its socket still has
 * input to read (and `linger`), keeps a duplicate of the socket open, its
 * writing side shut, draining input up to TT_HTTP_LINGER_BYTES or
 * TT_HTTP_LINGER_MS. Accepts NULL.
 */
void tt_http_guard__closed(struct tt_http_guard *g, struct tt_http_conn *c, bool linger,
			   uint64_t now_ns);

/*
 * Drops the connections past their deadline, drains and closes lingering
 * sockets. Returns how many connections it dropped.
 */
int tt_http_guard__run(struct tt_http_guard *g, uint64_t now_ns);

/* Milliseconds until tt_http_guard__run() has work regardless of the fd; -1: none. */
int tt_http_guard__timeout_ms(const struct tt_http_guard *g, uint64_t now_ns);

/* Connections open, and lingering sockets. */
size_t tt_http_guard__open(const struct tt_http_guard *g);
size_t tt_http_guard__lingering(const struct tt_http_guard *g);

/*
 * Whether a request whose Host header is `host` (NULL: none, as HTTP/1.0
 * allows) may be served by a server bound to `bind_host` (an address as
 * given to tt_httpd, without its port): any when `allow_remote`; else
 * "localhost", an address in 127.0.0.0/8, ::1, or `bind_host`, each with
 * or without a port. Names compare without regard to case.
 */
bool tt_http__host_allowed(const char *host, const char *bind_host, bool allow_remote);

#endif /* TASKTAP_HTTPGUARD_H */
