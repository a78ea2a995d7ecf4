// SPDX-License-Identifier: MIT
/* Sending one encoded OTLP request over HTTP or gRPC with libcurl; the retry policy. */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "otlp_encode.h"
#include "otlp_http.h"
#include "otlp_logs.h"
#include "otlp_metrics.h"
#include "rpc_status.pb-c.h"

#define MAX_RESPONSE	   (1u << 20)
#define CONNECT_TIMEOUT_MS 5000

struct tt_otlp_client {
	const struct tt_otlp_config *cfg;
	CURL *curl;
	struct curl_slist *headers;
	bool fresh;    /* the last answer was a failure: do not reuse its connection */
	bool no_reuse; /* libcurl cannot reuse this connection: one per request */
	const uint64_t *deadline_ns; /* CLOCK_MONOTONIC; 0: none; NULL: never */
	char url[2048];
};

/* What one response gave: the body and the headers (and trailers) that matter. */
struct response {
	uint8_t *body;
	size_t len;
	bool too_big;
	int grpc_status;
	char grpc_message[256];
	char retry_after[128];
	char details[1024];
	bool json;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct response *resp = ctx;
	size_t n = size * nmemb;
	uint8_t *grown;

	if (resp->len + n > MAX_RESPONSE) {
		resp->too_big = true;
		return n; /* keep reading, keep what fits */
	}
	grown = realloc(resp->body, resp->len + n + 1);
	if (!grown)
		return 0;
	resp->body = grown;
	memcpy(resp->body + resp->len, data, n);
	resp->len += n;
	resp->body[resp->len] = '\0';
	return n;
}

/* Copies the header's value (trimmed) into `out` when its name is `name`. */
static bool header_value(const char *line, size_t n, const char *name, char *out, size_t len)
{
	size_t k = strlen(name), v;

	if (n <= k || strncasecmp(line, name, k) || line[k] != ':')
		return false;
	line += k + 1;
	n -= k + 1;
	while (n && isspace((unsigned char)*line)) {
		line++;
		n--;
	}
	while (n && isspace((unsigned char)line[n - 1]))
		n--;
	v = n < len - 1 ? n : len - 1;
	memcpy(out, line, v);
	out[v] = '\0';
	return true;
}

/* A small non-negative decimal integer, or -1. */
static int small_int(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 1000000)
		return -1;
	return (int)v;
}

/* Headers and, with HTTP/2, trailers: libcurl passes both through here. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct response *resp = ctx;
	size_t n = size * nmemb;
	char val[64];

	if (header_value(data, n, "grpc-status", val, sizeof(val)))
		resp->grpc_status = small_int(val);
	header_value(data, n, "grpc-message", resp->grpc_message, sizeof(resp->grpc_message));
	header_value(data, n, "retry-after", resp->retry_after, sizeof(resp->retry_after));
	header_value(data, n, "grpc-status-details-bin", resp->details, sizeof(resp->details));
	if (header_value(data, n, "content-type", val, sizeof(val)))
		resp->json = strstr(val, "json") != NULL;
	return n;
}

/*
 * libcurl 7.88.0 and 7.88.1 (Debian 12) break every reused HTTP/2 connection
 * made with prior knowledge (gRPC over http://): on reuse they stack a
 * second HTTP/2 layer on the connection, so the next request fails with
 * "Error in the HTTP2 framing layer" before the server sees it (curl issue
 * 10634, fixed in 8.0.0). There, each request gets a connection of its own.
 */
bool tt_otlp__h2c_reuse_broken(unsigned curl_version_num)
{
	return curl_version_num >= 0x075800 && curl_version_num < 0x080000;
}

struct tt_otlp_client *tt_otlp_client__new(const struct tt_otlp_config *cfg, char *err, size_t len)
{
	struct tt_otlp_client *cl;
	static bool global_done;
	char line[1024];
	int ret;

	if (!global_done) {
		/* first call is made before the exporter thread starts */
		curl_global_init(CURL_GLOBAL_DEFAULT);
		global_done = true;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	cl->cfg = cfg;
	ret = tt_otlp_config__url(cfg, cl->url, sizeof(cl->url));
	if (ret) {
		snprintf(err, len, "no OTLP endpoint: %s", strerror(-ret));
		free(cl);
		errno = -ret;
		return NULL;
	}
	cl->curl = curl_easy_init();
	if (!cl->curl) {
		snprintf(err, len, "cannot create a libcurl handle");
		free(cl);
		errno = ENOMEM;
		return NULL;
	}
	if (cfg->protocol == TT_OTLP_GRPC) {
		cl->no_reuse =
			strncmp(cl->url, "https://", 8) &&
			tt_otlp__h2c_reuse_broken(curl_version_info(CURLVERSION_NOW)->version_num);
		cl->headers = curl_slist_append(cl->headers, "Content-Type: application/grpc");
		cl->headers = curl_slist_append(cl->headers, "TE: trailers");
		if (cfg->gzip)
			cl->headers = curl_slist_append(cl->headers, "grpc-encoding: gzip");
	} else {
		cl->headers = curl_slist_append(cl->headers,
						cfg->protocol == TT_OTLP_HTTP_JSON
							? "Content-Type: application/json"
							: "Content-Type: application/x-protobuf");
		if (cfg->gzip)
			cl->headers = curl_slist_append(cl->headers, "Content-Encoding: gzip");
		/* no 100-continue round trip before each body */
		cl->headers = curl_slist_append(cl->headers, "Expect:");
	}
	for (size_t i = 0; i < cfg->headers.n; i++) {
		snprintf(line, sizeof(line), "%s: %s", cfg->headers.at[i].name,
			 cfg->headers.at[i].value);
		cl->headers = curl_slist_append(cl->headers, line);
	}
	if (!cl->headers) {
		snprintf(err, len, "out of memory");
		tt_otlp_client__free(cl);
		errno = ENOMEM;
		return NULL;
	}
	return cl;
}

void tt_otlp_client__set_deadline(struct tt_otlp_client *cl, const uint64_t *deadline_ns)
{
	cl->deadline_ns = deadline_ns;
}

void tt_otlp_client__free(struct tt_otlp_client *cl)
{
	if (!cl)
		return;
	curl_slist_free_all(cl->headers);
	if (cl->curl)
		curl_easy_cleanup(cl->curl);
	free(cl);
}

/*
 * The request body for the configured protocol, malloc'ed into *out: `pb`
 * converted (http/json) unless it is `ready` in that form, then compressed
 * and framed.
 */
static int make_body(const struct tt_otlp_config *cfg, const uint8_t *pb, size_t len, bool ready,
		     uint8_t **out, size_t *out_len)
{
	uint8_t *body = NULL, *z = NULL;
	size_t body_len = 0, z_len = 0;
	int ret;

	if (cfg->protocol == TT_OTLP_HTTP_JSON && !ready) {
		if (cfg->signal == TT_SIGNAL_METRICS)
			ret = tt_otlp__metrics_json(pb, len, (char **)&body, &body_len);
		else if (cfg->signal == TT_SIGNAL_LOGS)
			ret = tt_otlp__logs_json(pb, len, (char **)&body, &body_len);
		else
			ret = tt_otlp__traces_json(pb, len, (char **)&body, &body_len);
		if (ret)
			return ret;
	} else {
		body = malloc(len ? len : 1);
		if (!body)
			return -ENOMEM;
		memcpy(body, pb, len);
		body_len = len;
	}
	if (cfg->gzip) {
		ret = tt_gzip(body, body_len, &z, &z_len);
		free(body);
		if (ret)
			return ret;
		body = z;
		body_len = z_len;
	}
	if (cfg->protocol == TT_OTLP_GRPC) {
		ret = tt_grpc__frame(body, body_len, cfg->gzip, &z, &z_len);
		free(body);
		if (ret)
			return ret;
		body = z;
		body_len = z_len;
	}
	*out = body;
	*out_len = body_len;
	return 0;
}

/* The gRPC status a non-200 HTTP answer stands for (gRPC's HTTP-to-gRPC mapping). */
static int grpc_from_http(long http)
{
	switch (http) {
	case 400:
		return 13; /* INTERNAL */
	case 401:
		return 16; /* UNAUTHENTICATED */
	case 403:
		return 7; /* PERMISSION_DENIED */
	case 404:
		return 12; /* UNIMPLEMENTED */
	case 429:
	case 502:
	case 503:
	case 504:
		return 14; /* UNAVAILABLE */
	default:
		return 2; /* UNKNOWN */
	}
}

/* A printable excerpt of an error body, for the message. */
static void excerpt(const struct response *resp, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < resp->len && o + 1 < len && o < 160; i++) {
		uint8_t c = resp->body[i];

		out[o++] = c >= 0x20 && c < 0x7f ? (char)c : ' ';
	}
	out[o] = '\0';
}

static void read_answer(const struct tt_otlp_client *cl, struct response *resp,
			struct tt_send_result *r)
{
	bool grpc = cl->cfg->protocol == TT_OTLP_GRPC;
	char text[200];

	curl_easy_getinfo(cl->curl, CURLINFO_RESPONSE_CODE, &r->http_status);
	if (resp->retry_after[0])
		r->retry_after_ms = tt_retry__parse_after(resp->retry_after, time(NULL));
	if (!grpc) {
		if (r->http_status >= 200 && r->http_status < 300) {
			tt_otlp__parse_response(
				resp->body ? resp->body : (const uint8_t *)"", resp->len,
				resp->json || cl->cfg->protocol == TT_OTLP_HTTP_JSON, &r->rejected,
				r->message, sizeof(r->message));
		} else {
			excerpt(resp, text, sizeof(text));
			snprintf(r->message, sizeof(r->message), "HTTP %ld%s%s", r->http_status,
				 text[0] ? ": " : "", text);
		}
		return;
	}
	r->grpc_status = resp->grpc_status;
	if (r->grpc_status < 0)
		r->grpc_status = r->http_status == 200 ? 2 : grpc_from_http(r->http_status);
	if (resp->details[0] && r->retry_after_ms < 0)
		r->retry_after_ms = tt_grpc__retry_info_ms(resp->details);
	if (r->grpc_status != 0) {
		snprintf(r->message, sizeof(r->message), "gRPC status %d%s%s", r->grpc_status,
			 resp->grpc_message[0] ? ": " : "", resp->grpc_message);
		return;
	}
	if (resp->len) {
		const uint8_t *msg;
		size_t msg_len;
		bool compressed;
		uint8_t *plain = NULL;
		size_t plain_len = 0;

		if (tt_grpc__unframe(resp->body, resp->len, &msg, &msg_len, &compressed))
			return;
		if (compressed && tt_gunzip(msg, msg_len, &plain, &plain_len) == 0) {
			msg = plain;
			msg_len = plain_len;
		}
		tt_otlp__parse_response(msg, msg_len, false, &r->rejected, r->message,
					sizeof(r->message));
		free(plain);
	}
}

/* The sending phase of a request: connect and upload within upload_ms. */
struct progress {
	struct timespec start;
	long upload_ms;
	const uint64_t *deadline_ns; /* the owner's deadline (a shutdown), or NULL */
	bool late;		     /* aborted: the body was not sent in time */
	bool cut;		     /* aborted: the owner's deadline passed */
};

static long elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/*
 * Aborts a request whose body is not sent within upload_ms. Once it is sent,
 * the answer may take up to the whole timeout: a retry then could be a
 * duplicate, if the collector keeps the first.
 */
static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct progress *p = ctx;
	uint64_t deadline = p->deadline_ns ? __atomic_load_n(p->deadline_ns, __ATOMIC_RELAXED) : 0;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (deadline && (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec >= deadline) {
		p->cut = true;
		return 1;
	}
	if (ultotal > 0 && ulnow >= ultotal)
		return 0;
	if (elapsed_ms(&p->start) < p->upload_ms)
		return 0;
	p->late = true;
	return 1;
}

static int send_body(void *ctx, const uint8_t *pb, size_t len, bool ready, uint32_t timeout_ms,
		     struct tt_send_result *r)
{
	struct tt_otlp_client *cl = ctx;
	const struct tt_otlp_config *cfg = cl->cfg;
	struct response resp = {.grpc_status = -1};
	struct progress prog = {.upload_ms = cfg->timeout_ms < timeout_ms ? cfg->timeout_ms
									  : timeout_ms};
	uint8_t *body;
	size_t body_len;
	CURL *c = cl->curl;
	CURLcode rc;
	int ret;

	memset(r, 0, sizeof(*r));
	r->grpc_status = -1;
	r->retry_after_ms = -1;
	ret = make_body(cfg, pb, len, ready, &body, &body_len);
	if (ret) {
		snprintf(r->message, sizeof(r->message), "cannot encode the request: %s",
			 strerror(-ret));
		return ret;
	}
	/* no curl_easy_reset(): it breaks reuse of an HTTP/2 connection in libcurl 7.88 */
	curl_easy_setopt(c, CURLOPT_URL, cl->url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, cl->headers);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "tasktap/" TASKTAP_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(timeout_ms < CONNECT_TIMEOUT_MS ? timeout_ms : CONNECT_TIMEOUT_MS));
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	clock_gettime(CLOCK_MONOTONIC, &prog.start);
	prog.deadline_ns = cl->deadline_ns;
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &prog);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	/*
	 * After a failed call (an error status, a reset) the connection's state
	 * is unknown: start afresh. Where libcurl cannot reuse an HTTP/2
	 * connection (tt_otlp__h2c_reuse_broken), never reuse one.
	 */
	curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, cl->fresh || cl->no_reuse ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, cl->no_reuse ? 1L : 0L);
	if (cfg->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_file);
	if (cfg->client_cert)
		curl_easy_setopt(c, CURLOPT_SSLCERT, cfg->client_cert);
	if (cfg->client_key)
		curl_easy_setopt(c, CURLOPT_SSLKEY, cfg->client_key);
	if (cfg->protocol == TT_OTLP_GRPC) {
		curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
				 strncmp(cl->url, "https://", 8)
					 ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
					 : CURL_HTTP_VERSION_2TLS);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
		curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	}
	rc = curl_easy_perform(c);
	free(body);
	if (rc != CURLE_OK) {
		r->transport_error = (int)rc;
		if (prog.cut)
			snprintf(r->message, sizeof(r->message), "stopping: no time left to wait");
		else if (prog.late)
			snprintf(r->message, sizeof(r->message),
				 "the request was not sent within %ld ms", prog.upload_ms);
		else
			snprintf(r->message, sizeof(r->message), "%s", curl_easy_strerror(rc));
	} else {
		read_answer(cl, &resp, r);
	}
	cl->fresh = rc != CURLE_OK || r->grpc_status > 0 || r->http_status >= 400;
	free(resp.body);
	return 0;
}

int tt_otlp_client__send(void *ctx, const uint8_t *pb, size_t len, uint32_t timeout_ms,
			 struct tt_send_result *r)
{
	return send_body(ctx, pb, len, false, timeout_ms, r);
}

int tt_otlp_client__send_ready(void *ctx, const uint8_t *body, size_t len, uint32_t timeout_ms,
			       struct tt_send_result *r)
{
	return send_body(ctx, body, len, true, timeout_ms, r);
}

static bool grpc_retryable(int code)
{
	switch (code) {
	case 1:	 /* CANCELLED */
	case 4:	 /* DEADLINE_EXCEEDED */
	case 8:	 /* RESOURCE_EXHAUSTED */
	case 10: /* ABORTED */
	case 11: /* OUT_OF_RANGE */
	case 14: /* UNAVAILABLE */
	case 15: /* DATA_LOSS */
		return true;
	default:
		return false;
	}
}

enum tt_verdict tt_retry__decide(const struct tt_send_result *r, unsigned attempt, uint64_t rnd,
				 uint64_t *delay_ms)
{
	uint64_t d = TT_BACKOFF_INITIAL_MS;
	bool retry;

	*delay_ms = 0;
	if (r->transport_error)
		retry = true;
	else if (r->grpc_status >= 0)
		retry = grpc_retryable(r->grpc_status);
	else
		retry = r->http_status == 429 || r->http_status == 502 || r->http_status == 503 ||
			r->http_status == 504;
	if (!r->transport_error &&
	    (r->grpc_status == 0 ||
	     (r->grpc_status < 0 && r->http_status >= 200 && r->http_status < 300)))
		return TT_VERDICT_DONE;
	if (!retry)
		return TT_VERDICT_DROP;
	if (r->retry_after_ms >= 0) {
		*delay_ms = r->retry_after_ms < TT_RETRY_AFTER_MAX_MS ? (uint64_t)r->retry_after_ms
								      : TT_RETRY_AFTER_MAX_MS;
		return TT_VERDICT_RETRY;
	}
	for (unsigned i = 1; i < attempt && d < TT_BACKOFF_MAX_MS; i++)
		d *= 2;
	if (d > TT_BACKOFF_MAX_MS)
		d = TT_BACKOFF_MAX_MS;
	*delay_ms = d / 2 + rnd % (d / 2 + 1);
	return TT_VERDICT_RETRY;
}

int64_t tt_retry__parse_after(const char *value, time_t now)
{
	const uint64_t max_s = 86400ULL * 365; /* further off: not a retry, a mistake */
	const char *p = value;
	time_t when;

	while (*p == ' ')
		p++;
	if (isdigit((unsigned char)*p)) {
		char *end;
		unsigned long long s;

		errno = 0;
		s = strtoull(p, &end, 10);
		while (*end == ' ')
			end++;
		if (errno || *end || s > max_s)
			return -1;
		return (int64_t)s * 1000;
	}
	when = curl_getdate(p, NULL);
	if (when == -1)
		return -1;
	if (when <= now)
		return 0;
	/* a date millions of years ahead must not overflow into a past one */
	if ((uint64_t)when - (uint64_t)now > max_s)
		return -1;
	return (int64_t)(when - now) * 1000;
}

int tt_grpc__frame(const uint8_t *msg, size_t len, bool compressed, uint8_t **out, size_t *out_len)
{
	uint8_t *buf;

	if (len > UINT32_MAX)
		return -E2BIG;
	buf = malloc(len + 5);
	if (!buf)
		return -ENOMEM;
	buf[0] = compressed ? 1 : 0;
	buf[1] = (uint8_t)(len >> 24);
	buf[2] = (uint8_t)(len >> 16);
	buf[3] = (uint8_t)(len >> 8);
	buf[4] = (uint8_t)len;
	memcpy(buf + 5, msg, len);
	*out = buf;
	*out_len = len + 5;
	return 0;
}

int tt_grpc__unframe(const uint8_t *body, size_t len, const uint8_t **msg, size_t *msg_len,
		     bool *compressed)
{
	size_t n;

	if (len == 0)
		return -ENODATA;
	if (len < 5)
		return -EBADMSG;
	n = (size_t)body[1] << 24 | (size_t)body[2] << 16 | (size_t)body[3] << 8 | body[4];
	if (n > len - 5)
		return -EBADMSG;
	*compressed = body[0] & 1;
	*msg = body + 5;
	*msg_len = n;
	return 0;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* Base64, padded or not, standard or URL alphabet. Returns the length or -1. */
static ssize_t b64_decode(const char *in, uint8_t *out, size_t len)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	for (; *in && *in != '='; in++) {
		int v = b64_value(*in);

		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == len)
				return -1;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return (ssize_t)o;
}

int64_t tt_grpc__retry_info_ms(const char *b64)
{
	static const char type[] = "type.googleapis.com/google.rpc.RetryInfo";
	uint8_t buf[768];
	ssize_t n = b64_decode(b64, buf, sizeof(buf));
	Tasktap__Rpc__Status *st;
	int64_t ms = -1;

	if (n < 0)
		return -1;
	st = tasktap__rpc__status__unpack(NULL, (size_t)n, buf);
	if (!st)
		return -1;
	for (size_t i = 0; i < st->n_details && ms < 0; i++) {
		Tasktap__Rpc__Any *any = st->details[i];
		Tasktap__Rpc__RetryInfo *ri;

		if (!any->type_url || strcmp(any->type_url, type))
			continue;
		ri = tasktap__rpc__retry_info__unpack(NULL, any->value.len, any->value.data);
		if (!ri)
			continue;
		if (ri->retry_delay && ri->retry_delay->seconds >= 0 && ri->retry_delay->nanos >= 0)
			ms = ri->retry_delay->seconds * 1000 + ri->retry_delay->nanos / 1000000;
		tasktap__rpc__retry_info__free_unpacked(ri, NULL);
	}
	tasktap__rpc__status__free_unpacked(st, NULL);
	return ms;
}

/*
 * zlib's fastest level: at the default (6) deflate took ~2.5 us a span, ten
 * times the protobuf writer, for no gain on spans whose captures are
 * mostly distinct strings (`bench-pipeline encode`: 341.3 B a span at
 * level 6, 341.9 B at level 1, 2.6 times the spans per second).
 */
#define TT_GZIP_LEVEL Z_BEST_SPEED

int tt_gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	z_stream z = {0};
	uLong bound;
	uint8_t *buf;
	int rc;

	if (deflateInit2(&z, TT_GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&z, (uLong)len) + 32;
	buf = malloc(bound);
	if (!buf) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = buf;
	z.avail_out = (uInt)bound;
	rc = deflate(&z, Z_FINISH);
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*out_len = bound - z.avail_out;
	return 0;
}

int tt_gunzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	z_stream z = {0};
	size_t cap = len * 4 + 1024, used = 0;
	uint8_t *buf = malloc(cap), *grown;
	int rc;

	if (!buf || inflateInit2(&z, 15 + 32) != Z_OK) {
		free(buf);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	do {
		if (used == cap) {
			if (cap > (64u << 20))
				break;
			cap *= 2;
			grown = realloc(buf, cap);
			if (!grown)
				break;
			buf = grown;
		}
		z.next_out = buf + used;
		z.avail_out = (uInt)(cap - used);
		rc = inflate(&z, Z_NO_FLUSH);
		used = cap - z.avail_out;
	} while (rc == Z_OK);
	inflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(buf);
		return -EBADMSG;
	}
	*out = buf;
	*out_len = used;
	return 0;
}
