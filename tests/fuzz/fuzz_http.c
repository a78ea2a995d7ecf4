// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: the agent's HTTP server (user/export/httpd.c) on
 * arbitrary requests: routes, query strings, headers (Host), methods. One
 * server on a loopback port for the whole run, with providers that give
 * it something to write; each input is sent on a new connection, the
 * write side closed, and the server run until it has answered and closed
 * (or nothing moved for some rounds). Connections end with a reset, so that a
 * long run does not exhaust the ports in TIME_WAIT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "export/httpd.h"

static struct tt_httpd *server;

static int metrics(FILE *out, bool openmetrics, void *ctx)
{
	fputs("# TYPE tasktap_up gauge\ntasktap_up 1\n", out);
	return 0;
}

static void health(struct tt_health *h, void *ctx)
{
	h->probes_attached = 3;
	h->exporter = "ok";
	h->spans_dropped = 1;
}

static void tasks(tt_task_emit_fn emit, void *emit_ctx, void *ctx)
{
	struct tt_task_info t = {.name = "resize\"\n",
				 .name_len = 8,
				 .id = "t-1",
				 .id_len = 3,
				 .pid = 42,
				 .age_seconds = 1.5,
				 .step = "fetch",
				 .step_len = 5};

	for (int i = 0; i < 3; i++)
		emit(&t, emit_ctx);
}

/*
 * A connection to the server, or -1: after ~100k connections in a few
 * seconds the loopback's ports can run short for a moment; that input is
 * skipped (said on stderr), not counted as the server's failure.
 */
static int connect_to(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int tries = 0; tries < 3; tries++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			abort();
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		fprintf(stderr, "fuzz_http: cannot connect: %s\n", strerror(errno));
		close(fd);
		tt_httpd__run(server);
		usleep(1000);
	}
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[65536];
	size_t sent = 0;
	int fd;

	if (!server) {
		struct tt_httpd_opts o = {
			.addr = "127.0.0.1:0",
			.providers = {.metrics = metrics, .health = health, .tasks = tasks},
		};
		char err[256];

		server = tt_httpd__new(&o, err, sizeof(err));
		if (!server) {
			fprintf(stderr, "fuzz_http: %s\n", err);
			abort();
		}
	}
	fd = connect_to(tt_httpd__port(server));
	if (fd < 0)
		return 0;
	if (!size)
		shutdown(fd, SHUT_WR);
	/* until the server closes, or nothing moved for a few rounds (it waits for more) */
	for (int round = 0, idle = 0; round < 10000 && idle < 20; round++) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		idle++;
		if (sent < size) {
			n = send(fd, data + sent, size - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0) {
				sent += (size_t)n;
				idle = 0;
			}
			if (sent == size)
				shutdown(fd, SHUT_WR);
		}
		tt_httpd__run(server);
		if (poll(&pfd, 1, 0) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && sent == size))
			break;
		if (n > 0)
			idle = 0;
	}
	close(fd);
	tt_httpd__run(server);
	return 0;
}
