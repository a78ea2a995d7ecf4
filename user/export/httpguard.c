// SPDX-License-Identifier: MIT
/* The HTTP server's guard: request deadlines, a slot for every new client, lingering closes, Host.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "export/httpguard.h"

#define MS 1000000ULL

/*
 * A connection. While it waits for a request it is on the guard's waiting
 * list, which is in deadline order because every deadline is the same
 * time after the moment it joins the list's end.
 */
struct tt_http_conn {
	struct tt_http_conn *prev, *next;
	int fd;
	bool waiting;
	bool dropped;
	uint64_t since_ns;
};

struct lingering {
	int fd;
	uint64_t until_ns;
	size_t drained;
};

struct tt_http_guard {
	int epfd;
	int inner_fd;
	struct tt_http_conn *oldest, *newest; /* the waiting list */
	size_t open;
	struct lingering linger[TT_HTTP_MAX_LINGERING];
	size_t nlinger;
};

struct tt_http_guard *tt_http_guard__new(int inner_fd)
{
	struct tt_http_guard *g = calloc(1, sizeof(*g));
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = inner_fd};
	int err;

	if (!g)
		return NULL;
	g->inner_fd = inner_fd;
	g->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (g->epfd < 0 || epoll_ctl(g->epfd, EPOLL_CTL_ADD, inner_fd, &ev)) {
		err = errno;
		if (g->epfd >= 0)
			close(g->epfd);
		free(g);
		errno = err;
		return NULL;
	}
	return g;
}

void tt_http_guard__free(struct tt_http_guard *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nlinger; i++)
		close(g->linger[i].fd);
	close(g->epfd);
	free(g);
}

int tt_http_guard__fd(const struct tt_http_guard *g)
{
	return g->epfd;
}

static void unwait(struct tt_http_guard *g, struct tt_http_conn *c)
{
	if (!c->waiting)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		g->oldest = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		g->newest = c->prev;
	c->prev = c->next = NULL;
	c->waiting = false;
}

static void wait_from(struct tt_http_guard *g, struct tt_http_conn *c, uint64_t now_ns)
{
	unwait(g, c);
	if (c->dropped)
		return;
	c->since_ns = now_ns;
	c->prev = g->newest;
	if (g->newest)
		g->newest->next = c;
	else
		g->oldest = c;
	g->newest = c;
	c->waiting = true;
}

/* Ends the connection from our side; the server sees its end and closes it. */
static void drop(struct tt_http_guard *g, struct tt_http_conn *c)
{
	unwait(g, c);
	c->dropped = true;
	shutdown(c->fd, SHUT_RDWR);
}

struct tt_http_conn *tt_http_guard__started(struct tt_http_guard *g, int fd, uint64_t now_ns)
{
	struct tt_http_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	g->open++;
	wait_from(g, c, now_ns);
	if (g->open > TT_HTTP_SOFT_CONNECTIONS && g->oldest != c)
		drop(g, g->oldest);
	return c;
}

void tt_http_guard__request(struct tt_http_guard *g, struct tt_http_conn *c)
{
	if (c)
		unwait(g, c);
}

void tt_http_guard__answered(struct tt_http_guard *g, struct tt_http_conn *c, uint64_t now_ns)
{
	if (c)
		wait_from(g, c, now_ns);
}

/* Keeps a duplicate of `fd`, its writing side shut, to drain what the client still sends. */
static void linger_on(struct tt_http_guard *g, int fd, uint64_t now_ns)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int unread = 0, dup;

	if (g->nlinger == TT_HTTP_MAX_LINGERING || ioctl(fd, FIONREAD, &unread) || unread <= 0)
		return;
	dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup < 0)
		return;
	/* the answer is in the socket before the FIN; the server's close is no longer the last */
	shutdown(dup, SHUT_WR);
	ev.data.fd = dup;
	if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, dup, &ev)) {
		close(dup);
		return;
	}
	g->linger[g->nlinger++] = (struct lingering){
		.fd = dup,
		.until_ns = now_ns + TT_HTTP_LINGER_MS * MS,
	};
}

void tt_http_guard__closed(struct tt_http_guard *g, struct tt_http_conn *c, bool linger,
			   uint64_t now_ns)
{
	if (!c)
		return;
	unwait(g, c);
	if (linger && !c->dropped)
		linger_on(g, c->fd, now_ns);
	g->open--;
	free(c);
}

/* Reads what is there; returns whether the socket is done (end, error, or enough). */
static bool drain(struct lingering *l, uint64_t now_ns)
{
	char buf[16384];
	ssize_t n;

	while ((n = recv(l->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		l->drained += (size_t)n;
		if (l->drained >= TT_HTTP_LINGER_BYTES)
			return true;
	}
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		return true;
	return now_ns >= l->until_ns;
}

int tt_http_guard__run(struct tt_http_guard *g, uint64_t now_ns)
{
	const uint64_t timeout = TT_HTTP_HEADER_TIMEOUT_MS * MS;
	int dropped = 0;

	for (size_t i = 0; i < g->nlinger;) {
		if (!drain(&g->linger[i], now_ns)) {
			i++;
			continue;
		}
		close(g->linger[i].fd); /* leaves the epoll set with it */
		g->linger[i] = g->linger[--g->nlinger];
	}
	while (g->oldest && now_ns - g->oldest->since_ns >= timeout) {
		drop(g, g->oldest);
		dropped++;
	}
	return dropped;
}

int tt_http_guard__timeout_ms(const struct tt_http_guard *g, uint64_t now_ns)
{
	uint64_t next = UINT64_MAX;

	if (g->oldest)
		next = g->oldest->since_ns + TT_HTTP_HEADER_TIMEOUT_MS * MS;
	for (size_t i = 0; i < g->nlinger; i++) {
		if (g->linger[i].until_ns < next)
			next = g->linger[i].until_ns;
	}
	if (next == UINT64_MAX)
		return -1;
	if (next <= now_ns)
		return 0;
	return (int)((next - now_ns + MS - 1) / MS);
}

size_t tt_http_guard__open(const struct tt_http_guard *g)
{
	return g->open;
}

size_t tt_http_guard__lingering(const struct tt_http_guard *g)
{
	return g->nlinger;
}

/* ---- Host ---------------------------------------------------------------- */

/* Splits a Host value into its host part (hostlen bytes, brackets removed). */
static bool host_part(const char *value, char *host, size_t hostlen)
{
	const char *end, *colon;
	size_t n;

	if (value[0] == '[') {
		end = strchr(value, ']');
		if (!end || (end[1] && end[1] != ':'))
			return false;
		value++;
	} else {
		colon = strchr(value, ':');
		end = colon ? colon : value + strlen(value);
		if (colon && strchr(colon + 1, ':'))
			return false; /* a bare IPv6 address is not a Host */
	}
	n = (size_t)(end - value);
	if (n == 0 || n >= hostlen)
		return false;
	memcpy(host, value, n);
	host[n] = '\0';
	return true;
}

static bool is_loopback_host(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

bool tt_http__host_allowed(const char *host, const char *bind_host, bool allow_remote)
{
	char name[256];

	if (allow_remote || !host)
		return true;
	if (!host_part(host, name, sizeof(name)))
		return false;
	if (is_loopback_host(name))
		return true;
	return bind_host && bind_host[0] && strcasecmp(name, bind_host) == 0;
}
