// SPDX-License-Identifier: MIT
/*
 * The HTTP server's guard (user/export/httpguard.c) on socket pairs, with
 * the times given by the test: request deadlines, the slot a new client
 * gets, lingering closes; and which Host headers name this server.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "export/httpguard.h"

#define MS 1000000ULL
#define T0 (1000 * MS)

struct pair {
	int server, client;
};

static struct pair new_pair(void)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	return (struct pair){.server = sv[0], .client = sv[1]};
}

/* Whether the client's side sees the server's side shut (end of file). */
static bool client_sees_end(const struct pair *p)
{
	char c;

	return recv(p->client, &c, 1, MSG_DONTWAIT) == 0;
}

static struct tt_http_guard *new_guard(void)
{
	int inner = epoll_create1(EPOLL_CLOEXEC);
	struct tt_http_guard *g;

	assert_true(inner >= 0);
	g = tt_http_guard__new(inner);
	assert_non_null(g);
	return g;
}

static void test_a_request_must_arrive_within_the_timeout(void **state)
{
	struct tt_http_guard *g = new_guard();
	struct pair slow = new_pair(), quick = new_pair();
	struct tt_http_conn *cs = tt_http_guard__started(g, slow.server, T0);
	struct tt_http_conn *cq = tt_http_guard__started(g, quick.server, T0 + 100 * MS);

	assert_int_equal(tt_http_guard__timeout_ms(g, T0), TT_HTTP_HEADER_TIMEOUT_MS);
	/* the quick one's request arrived: it is answered, however long that takes */
	tt_http_guard__request(g, cq);
	assert_int_equal(tt_http_guard__run(g, T0 + TT_HTTP_HEADER_TIMEOUT_MS * MS - 1), 0);
	assert_false(client_sees_end(&slow));
	/* activity does not matter: the slow one is dropped at its deadline */
	assert_int_equal(send(slow.client, "X: 1\r\n", 6, 0), 6);
	assert_int_equal(tt_http_guard__run(g, T0 + TT_HTTP_HEADER_TIMEOUT_MS * MS), 1);
	assert_true(client_sees_end(&slow));
	assert_false(client_sees_end(&quick));
	assert_int_equal(tt_http_guard__timeout_ms(g, T0 + 9000 * MS), -1);
	/* answered: the next request has its own deadline, from the answer */
	tt_http_guard__answered(g, cq, T0 + 9000 * MS);
	assert_int_equal(tt_http_guard__timeout_ms(g, T0 + 9000 * MS), TT_HTTP_HEADER_TIMEOUT_MS);
	assert_int_equal(tt_http_guard__run(g, T0 + 13000 * MS), 0);
	assert_int_equal(tt_http_guard__run(g, T0 + 14000 * MS), 1);
	assert_true(client_sees_end(&quick));
	assert_int_equal(tt_http_guard__open(g), 2);
	tt_http_guard__closed(g, cs, true, T0 + 14000 * MS);
	tt_http_guard__closed(g, cq, true, T0 + 14000 * MS);
	assert_int_equal(tt_http_guard__open(g), 0);
	assert_int_equal(tt_http_guard__lingering(g), 0); /* dropped ones do not linger */
	tt_http_guard__free(g);
	close(slow.client);
	close(slow.server);
	close(quick.client);
	close(quick.server);
}

static void test_a_new_client_drops_the_oldest_waiting_one(void **state)
{
	struct tt_http_guard *g = new_guard();
	struct pair p[TT_HTTP_SOFT_CONNECTIONS + 2];
	struct tt_http_conn *c[TT_HTTP_SOFT_CONNECTIONS + 2];
	const int n = TT_HTTP_SOFT_CONNECTIONS + 2;

	for (int i = 0; i < n; i++) {
		p[i] = new_pair();
		c[i] = tt_http_guard__started(g, p[i].server, T0 + (uint64_t)i * MS);
		assert_non_null(c[i]);
		if (i == 0)
			tt_http_guard__request(g, c[0]); /* being answered: not a candidate */
	}
	/* two past the limit: the two oldest waiting (1 and 2) were dropped, not 0 */
	assert_false(client_sees_end(&p[0]));
	assert_true(client_sees_end(&p[1]));
	assert_true(client_sees_end(&p[2]));
	for (int i = 3; i < n; i++)
		assert_false(client_sees_end(&p[i]));
	for (int i = 0; i < n; i++) {
		tt_http_guard__closed(g, c[i], false, T0);
		close(p[i].client);
		close(p[i].server);
	}
	assert_int_equal(tt_http_guard__open(g), 0);
	tt_http_guard__free(g);
}

/* Closed with input unread: drained until the client is done, or the linger time. */
static void test_a_close_with_unread_input_lingers(void **state)
{
	struct tt_http_guard *g = new_guard();
	struct pair a = new_pair(), b = new_pair(), idle = new_pair();
	struct tt_http_conn *ca = tt_http_guard__started(g, a.server, T0);
	struct tt_http_conn *cb = tt_http_guard__started(g, b.server, T0);
	struct tt_http_conn *ci = tt_http_guard__started(g, idle.server, T0);
	char buf[64];

	assert_int_equal(send(a.client, "GET /aaaa", 9, 0), 9);
	assert_int_equal(send(b.client, "GET /bbbb", 9, 0), 9);
	assert_int_equal(send(a.server, "HTTP/1.1 414", 12, 0), 12);
	tt_http_guard__closed(g, ca, true, T0);
	tt_http_guard__closed(g, cb, true, T0);
	tt_http_guard__closed(g, ci, true, T0); /* nothing unread: closed at once */
	close(a.server);			/* what the server does next */
	close(b.server);
	close(idle.server);
	assert_int_equal(tt_http_guard__lingering(g), 2);
	/* the client can still send, and reads the answer, then the end */
	assert_int_equal(send(a.client, "aaaa", 4, MSG_NOSIGNAL), 4);
	assert_int_equal(recv(a.client, buf, sizeof(buf), 0), 12);
	assert_int_equal(recv(a.client, buf, sizeof(buf), 0), 0);
	assert_int_equal(tt_http_guard__timeout_ms(g, T0), TT_HTTP_LINGER_MS);
	/* a ends its side: closed; b keeps quiet: closed at the linger time */
	shutdown(a.client, SHUT_WR);
	assert_int_equal(tt_http_guard__run(g, T0 + MS), 0);
	assert_int_equal(tt_http_guard__lingering(g), 1);
	assert_int_equal(tt_http_guard__run(g, T0 + TT_HTTP_LINGER_MS * MS), 0);
	assert_int_equal(tt_http_guard__lingering(g), 0);
	assert_int_equal(recv(b.client, buf, sizeof(buf), 0), 0);
	tt_http_guard__free(g);
	close(a.client);
	close(b.client);
	close(idle.client);
}

static void test_host(void **state)
{
	static const char *const loopback[] = {
		"localhost", "LOCALHOST",      "localhost:9464",
		"127.0.0.1", "127.0.0.1:9464", "127.8.9.10:1",
		"[::1]",     "[::1]:9464",     "[::ffff:127.0.0.1]:80",
	};
	static const char *const others[] = {
		"",
		"evil.example",
		"evil.example:9464",
		"localhost.evil.example",
		"127.0.0.1.evil.example",
		"10.0.0.1:9464",
		"[::2]",
		"::1",
		"[::1",
		"[::1]x",
		"localhost:9464:1",
		":9464",
		"0.0.0.0:9464",
	};

	for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++) {
		if (!tt_http__host_allowed(loopback[i], "127.0.0.1", false))
			fail_msg("refused '%s'", loopback[i]);
	}
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		if (tt_http__host_allowed(others[i], "127.0.0.1", false))
			fail_msg("allowed '%s'", others[i]);
		assert_true(tt_http__host_allowed(others[i], "127.0.0.1", true));
	}
	/* no Host at all (HTTP/1.0): not a browser */
	assert_true(tt_http__host_allowed(NULL, "127.0.0.1", false));
	/* the address it was told to serve on */
	assert_true(tt_http__host_allowed("10.0.0.1:9464", "10.0.0.1", false));
	assert_true(tt_http__host_allowed("[fd00::1]:9464", "fd00::1", false));
	assert_false(tt_http__host_allowed("10.0.0.2:9464", "10.0.0.1", false));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_request_must_arrive_within_the_timeout),
		cmocka_unit_test(test_a_new_client_drops_the_oldest_waiting_one),
		cmocka_unit_test(test_a_close_with_unread_input_lingers),
		cmocka_unit_test(test_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
