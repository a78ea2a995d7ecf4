/* SPDX-License-Identifier: MIT */
/*
 * Sending one encoded request to the collector (libcurl): http/protobuf
 * and http/json over HTTP/1.1, grpc over HTTP/2 (prior knowledge on
 * http://, ALPN h2 on https://) with gRPC's length-prefixed framing and
 * grpc-status read from the trailers. And the retry policy, a pure
 * function of what the collector answered.
 */
#ifndef TASKTAP_OTLP_HTTP_H
#define TASKTAP_OTLP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "otlp_config.h"

/* What one attempt to send gave. */
struct tt_send_result {
	int transport_error;	/* 0, or a CURLcode: nothing usable came back */
	long http_status;	/* 0 when none */
	int grpc_status;	/* -1 when the answer had none (or not grpc) */
	int64_t retry_after_ms; /* Retry-After or gRPC RetryInfo; -1: none */
	int64_t rejected;	/* partial success: spans the collector rejected */
	char message[256];	/* the error, grpc-message or partial success message */
};

/*
 * Sends `len` bytes of an encoded Export<Signal>ServiceRequest. A seam: the
 * exporter is given one of these, the libcurl client below or a test's.
 * Always fills `r`; returns 0 when the call could be made at all, or
 * -errno (out of memory).
 */
typedef int (*tt_send_fn)(void *ctx, const uint8_t *pb, size_t len, uint32_t timeout_ms,
			  struct tt_send_result *r);

struct tt_otlp_client;

/*
 * Returns a client for the configured signal's endpoint and protocol, or NULL with
 * errno and the reason in `err`. The config must outlive the client.
 */
/*
 * Whether a libcurl of this version (curl_version_info()->version_num) fails
 * on reused prior-knowledge HTTP/2 connections: 7.88.x. The client then opens
 * one connection per gRPC request over http://.
 */
bool tt_otlp__h2c_reuse_broken(unsigned curl_version_num);

struct tt_otlp_client *tt_otlp_client__new(const struct tt_otlp_config *cfg, char *err, size_t len);

/*
 * A request in flight ends (a transport error) once CLOCK_MONOTONIC passes
 * *deadline_ns, when that is not 0: the owner's shutdown. The pointee is read
 * atomically and must outlive the client.
 */
void tt_otlp_client__set_deadline(struct tt_otlp_client *cl, const uint64_t *deadline_ns);

/* Accepts NULL. */
void tt_otlp_client__free(struct tt_otlp_client *cl);

/*
 * The tt_send_fn of the libcurl client; ctx is the struct tt_otlp_client.
 * Connecting and sending the body must end within the config's timeout_ms
 * (OTEL_EXPORTER_OTLP_TIMEOUT) and the whole request within `timeout_ms`:
 * an answer may come later than the first bound, so a slow collector is
 * not sent the same batch twice.
 */
int tt_otlp_client__send(void *ctx, const uint8_t *pb, size_t len, uint32_t timeout_ms,
			 struct tt_send_result *r);

/*
 * As tt_otlp_client__send(), with the request already in the protocol's
 * form: OTLP/JSON for http/json (written straight from the spans), protobuf
 * otherwise. It is still compressed and framed as configured.
 */
int tt_otlp_client__send_ready(void *ctx, const uint8_t *body, size_t len, uint32_t timeout_ms,
			       struct tt_send_result *r);

/* What to do with a batch after an attempt. */
enum tt_verdict {
	TT_VERDICT_DONE = 0, /* accepted (perhaps partly: see r->rejected) */
	TT_VERDICT_RETRY,    /* try again after *delay_ms */
	TT_VERDICT_DROP,     /* rejected for good (a 4xx other than 429, bad request) */
};

#define TT_BACKOFF_INITIAL_MS 500
#define TT_BACKOFF_MAX_MS     5000
#define TT_RETRY_AFTER_MAX_MS (5 * 60 * 1000)

/*
 * The retry policy. Retryable: a transport error (refused, reset, timed
 * out), HTTP 429, 502, 503, 504, and gRPC UNAVAILABLE (14),
 * RESOURCE_EXHAUSTED (8), CANCELLED (1), DEADLINE_EXCEEDED (4), ABORTED
 * (10), OUT_OF_RANGE (11), DATA_LOSS (15). Anything else that is not a
 * success is dropped. The delay is the server's (Retry-After, RetryInfo;
 * at most TT_RETRY_AFTER_MAX_MS) when given, else exponential backoff
 * from TT_BACKOFF_INITIAL_MS doubling up to TT_BACKOFF_MAX_MS for
 * `attempt` (1 for the first retry), with jitter: a value in [d/2, d]
 * chosen by `rnd`.
 */
enum tt_verdict tt_retry__decide(const struct tt_send_result *r, unsigned attempt, uint64_t rnd,
				 uint64_t *delay_ms);

/*
 * A Retry-After value: delay-seconds, or an HTTP date (relative to `now`).
 * Returns milliseconds (0 for a date in the past), or -1 when invalid or
 * more than a year ahead.
 */
int64_t tt_retry__parse_after(const char *value, time_t now);

/*
 * gRPC message framing: 1 byte compressed flag, 4 bytes big-endian length,
 * the message. Frame writes 5 + len bytes into a malloc'ed *out. Returns 0
 * or -ENOMEM.
 */
int tt_grpc__frame(const uint8_t *msg, size_t len, bool compressed, uint8_t **out, size_t *out_len);

/*
 * Finds the first message in a gRPC response body. Returns 0 with *msg and
 * *msg_len pointing into `body` (*compressed set from the flag), -ENODATA
 * for an empty body, or -EBADMSG for a truncated one.
 */
int tt_grpc__unframe(const uint8_t *body, size_t len, const uint8_t **msg, size_t *msg_len,
		     bool *compressed);

/*
 * Reads a grpc-status-details-bin value (base64 of a google.rpc.Status):
 * the delay of a google.rpc.RetryInfo among its details in milliseconds,
 * or -1 when there is none.
 */
int64_t tt_grpc__retry_info_ms(const char *b64);

/* gzip (RFC 1952) of `len` bytes into a malloc'ed *out. Returns 0, -ENOMEM or -EIO. */
int tt_gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len);

/* Decompresses gzip into a malloc'ed *out. Returns 0, -ENOMEM or -EBADMSG. */
int tt_gunzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len);

#endif /* TASKTAP_OTLP_HTTP_H */
