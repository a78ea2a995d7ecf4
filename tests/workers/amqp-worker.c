// SPDX-License-Identifier: MIT
/*
 * amqp-worker: a RabbitMQ consumer on librabbitmq (Debian 12's 0.11), with
 * no tracing code, for recipes/rabbitmq.yaml's end-to-end test.
 *
 *   amqp-worker consume PORT QUEUE N [--wait-signal]
 *   amqp-worker declare PORT QUEUE
 *   amqp-worker publish PORT QUEUE ID BODY [ID BODY...] [--wait-signal]
 *
 * Declares QUEUE (auto-deleted when its last consumer goes), binds it to
 * the exchange amq.direct with the routing key QUEUE, takes one
 * message at a time (prefetch 1) and settles each as its body says:
 *   ack                 basic.ack
 *   nack | reject       basic.nack / basic.reject, not requeued (dropped)
 *   nack-requeue        basic.nack with requeue on the first delivery, and
 *   reject-requeue      basic.reject alike; basic.ack on the redelivery
 *   none                nothing: the message stays unacked
 * For each delivery it prints "ID ACTION REDELIVERED" (ID: the message's
 * first header's value, as amqp-publish -H "message-id: ID" sets it) and
 * ends after N deliveries. It prints "ready" once it consumes; with
 * --wait-signal it waits for SIGUSR1 before its first amqp_consume_message
 * (so that an agent can attach first). Exits 0 when every call succeeded.
 * `declare` only declares QUEUE (kept when unused) and binds it alike, for
 * a consumer such as amqp-consume to consume from. `publish` sends each
 * BODY to amq.direct with the routing key QUEUE and the header
 * "message-id: ID" (after SIGUSR1 with --wait-signal).
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

static int reply_ok(amqp_rpc_reply_t r, const char *what)
{
	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return 0;
	fprintf(stderr, "amqp-worker: %s failed (reply type %d)\n", what, r.reply_type);
	return -1;
}

static int open_channel(amqp_connection_state_t conn, int port)
{
	amqp_socket_t *sock = amqp_tcp_socket_new(conn);

	if (!sock || amqp_socket_open(sock, "127.0.0.1", port) != AMQP_STATUS_OK) {
		fprintf(stderr, "amqp-worker: cannot connect to 127.0.0.1:%d\n", port);
		return -1;
	}
	if (reply_ok(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest",
				"guest"),
		     "login"))
		return -1;
	amqp_channel_open(conn, 1);
	return reply_ok(amqp_get_rpc_reply(conn), "channel.open");
}

/* Publishes BODY to amq.direct with routing key QUEUE and the header "message-id: ID". */
static int publish(amqp_connection_state_t conn, const char *queue, const char *id,
		   const char *body)
{
	amqp_table_entry_t header = {.key = amqp_cstring_bytes("message-id"),
				     .value = {.kind = AMQP_FIELD_KIND_UTF8,
					       .value.bytes = amqp_cstring_bytes(id)}};
	amqp_basic_properties_t props = {._flags = AMQP_BASIC_HEADERS_FLAG,
					 .headers = {.num_entries = 1, .entries = &header}};

	return amqp_basic_publish(conn, 1, amqp_cstring_bytes("amq.direct"),
				  amqp_cstring_bytes(queue), 0, 0, &props,
				  amqp_cstring_bytes(body)) == AMQP_STATUS_OK
		       ? 0
		       : -1;
}

static int declare(amqp_connection_state_t conn, const char *queue, int auto_delete)
{
	amqp_bytes_t q = amqp_cstring_bytes(queue);

	amqp_queue_declare(conn, 1, q, 0, 0, 0, auto_delete, amqp_empty_table);
	if (reply_ok(amqp_get_rpc_reply(conn), "queue.declare"))
		return -1;
	amqp_queue_bind(conn, 1, q, amqp_cstring_bytes("amq.direct"), q, amqp_empty_table);
	return reply_ok(amqp_get_rpc_reply(conn), "queue.bind");
}

static int consume_from(amqp_connection_state_t conn, const char *queue)
{
	amqp_bytes_t q = amqp_cstring_bytes(queue);

	if (declare(conn, queue, 1))
		return -1;
	amqp_basic_qos(conn, 1, 0, 1, 0);
	if (reply_ok(amqp_get_rpc_reply(conn), "basic.qos"))
		return -1;
	amqp_basic_consume(conn, 1, q, amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
	return reply_ok(amqp_get_rpc_reply(conn), "basic.consume");
}

/* Settles one delivery as its body says; returns 0, or -1 when a call failed. */
static int settle(amqp_connection_state_t conn, const amqp_envelope_t *env)
{
	const amqp_bytes_t *body = &env->message.body;
	const amqp_basic_properties_t *p = &env->message.properties;
	char action[32] = "";
	int id_len = 0;
	const char *id = "-";
	int rc = 0;

	if (body->len < sizeof(action))
		memcpy(action, body->bytes, body->len);
	if ((p->_flags & AMQP_BASIC_HEADERS_FLAG) && p->headers.num_entries > 0) {
		id = p->headers.entries[0].value.value.bytes.bytes;
		id_len = (int)p->headers.entries[0].value.value.bytes.len;
	} else {
		id_len = 1;
	}
	if (strcmp(action, "ack") == 0)
		rc = amqp_basic_ack(conn, 1, env->delivery_tag, 0);
	else if (strcmp(action, "nack") == 0)
		rc = amqp_basic_nack(conn, 1, env->delivery_tag, 0, 0);
	else if (strcmp(action, "reject") == 0)
		rc = amqp_basic_reject(conn, 1, env->delivery_tag, 0);
	else if (strcmp(action, "nack-requeue") == 0)
		rc = env->redelivered ? amqp_basic_ack(conn, 1, env->delivery_tag, 0)
				      : amqp_basic_nack(conn, 1, env->delivery_tag, 0, 1);
	else if (strcmp(action, "reject-requeue") == 0)
		rc = env->redelivered ? amqp_basic_ack(conn, 1, env->delivery_tag, 0)
				      : amqp_basic_reject(conn, 1, env->delivery_tag, 1);
	else if (strcmp(action, "none") != 0)
		fprintf(stderr, "amqp-worker: unknown action '%s'\n", action);
	printf("%.*s %s %d\n", id_len, id, action, env->redelivered ? 1 : 0);
	fflush(stdout);
	return rc == AMQP_STATUS_OK ? 0 : -1;
}

int main(int argc, char **argv)
{
	amqp_connection_state_t conn;
	int n, failed = 0;

	bool consume = argc >= 5 && strcmp(argv[1], "consume") == 0;
	bool produce = argc >= 6 && strcmp(argv[1], "publish") == 0;

	if (!consume && !produce && (argc != 4 || strcmp(argv[1], "declare") != 0)) {
		fprintf(stderr, "usage: amqp-worker consume PORT QUEUE N [--wait-signal]\n"
				"       amqp-worker declare PORT QUEUE\n"
				"       amqp-worker publish PORT QUEUE ID BODY [ID BODY...] "
				"[--wait-signal]\n");
		return 2;
	}
	signal(SIGUSR1, on_usr1);
	conn = amqp_new_connection();
	if (!conn || open_channel(conn, (int)strtol(argv[2], NULL, 10)))
		return 1;
	if (produce) {
		int last = argc;

		if (strcmp(argv[argc - 1], "--wait-signal") == 0) {
			last--;
			while (!go)
				usleep(10000);
		}
		for (int i = 4; i + 1 < last; i += 2)
			failed |= publish(conn, argv[3], argv[i], argv[i + 1]);
		amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
		amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
		amqp_destroy_connection(conn);
		return failed ? 1 : 0;
	}
	if (!consume)
		return declare(conn, argv[3], 0) ? 1 : 0;
	n = (int)strtol(argv[4], NULL, 10);
	if (consume_from(conn, argv[3]))
		return 1;
	printf("ready\n");
	fflush(stdout);
	if (argc > 5 && strcmp(argv[5], "--wait-signal") == 0) {
		while (!go)
			usleep(10000);
	}
	for (int i = 0; i < n; i++) {
		amqp_envelope_t env;

		amqp_maybe_release_buffers(conn);
		if (reply_ok(amqp_consume_message(conn, &env, NULL, 0), "consume"))
			return 1;
		failed |= settle(conn, &env);
		amqp_destroy_envelope(&env);
	}
	amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
	amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(conn);
	return failed ? 1 : 0;
}
