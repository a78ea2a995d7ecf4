// SPDX-License-Identifier: MIT
/*
 * The direct writers (otlp_write.c) against the reference, protobuf-c
 * (otlp_encode.c): on a table of spans with every field, empty and maximal
 * values, strings that are not ASCII or not UTF-8, with and without the SDK
 * limits, both outputs are decoded with the protobuf-c generated types and
 * compared field by field, every field of every message (walked through the
 * descriptors, so a field added to the .proto is compared too), then byte by
 * byte; the OTLP/JSON writer against tt_otlp__traces_json() of the reference.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "export/otlp_encode.h"
#include "export/export.h"
#include "export/jsonw.h"
#include "export/otlp_write.h"
#include "export/sdk_env.h"
#include "trace_service.pb-c.h"

#define NSPANS 16

static struct tt_probe probes[TT_ROLE__COUNT];
static struct tt_hook hook = {.function = "Wörker::run_täsk"};
static struct tt_resource res[3];
static struct tt_xspan xs[NSPANS];

static void fill_max(char *dst, size_t size, const char *pattern)
{
	size_t n = strlen(pattern);

	for (size_t i = 0; i + 1 < size; i++)
		dst[i] = pattern[i % n];
	dst[size - 1] = '\0';
}

static void make_probes(void)
{
	for (int r = 0; r < TT_ROLE__COUNT; r++) {
		struct tt_probe *p = &probes[r];

		p->id = (uint32_t)r + 1;
		p->role = (enum tt_role)r;
		p->symbol = "run_task";
		p->key.index = -1;
		p->attempt.index = -1;
		p->message_id.index = -1;
		p->attrs[0] = (struct tt_attr){.name = "task.name", .literal = "CreateZip"};
		p->attrs[0].cap.index = -1;
		p->attrs[1] = (struct tt_attr){.name = "ünïcode.attr", .literal = "日本語 ✓ 🎉"};
		p->attrs[1].cap.index = -1;
		p->attrs[2] = (struct tt_attr){.name = "empty", .literal = ""};
		p->attrs[2].cap.index = -1;
		p->nattrs = 3;
	}
	probes[TT_ROLE_SPAN].nattrs = 0;
}

static void make_resources(void)
{
	res[0].pid = 100;
	res[0].at[0] = (struct tt_res_attr){.key = "service.name", .str = "svc-a"};
	res[0].at[1] = (struct tt_res_attr){.key = "process.pid", .i = 100};
	res[0].n = 2;
	res[1].pid = 200;
	res[1].at[0] = (struct tt_res_attr){.key = "service.name", .str = "sérvice \"b\"\n\x01"};
	res[1].at[1] = (struct tt_res_attr){.key = "process.pid", .i = INT64_MIN};
	res[1].at[2] = (struct tt_res_attr){.key = "bad.utf8", .str = "\xff\xc3("};
	res[1].at[3] = (struct tt_res_attr){.key = "", .str = ""};
	res[1].n = 4;
	res[2].pid = 300; /* no attributes */
}

static void base(struct tt_xspan *x, int i, enum tt_role role, const struct tt_resource *r)
{
	struct tt_span *s = &x->span;

	memset(x, 0, sizeof(*x));
	memset(s->trace_id, 0xa0 + i, 16);
	memset(s->span_id, 0x10 + i, 8);
	memset(s->parent_id, 0x11, 8);
	s->start_ns = 1000 + (uint64_t)i;
	s->end_ns = 5000 + (uint64_t)i;
	s->probe = &probes[role];
	s->pid = r ? r->pid : 0;
	s->tid = 77;
	s->kind = TT_KIND_INTERNAL;
	snprintf(s->name, sizeof(s->name), "span-%d", i);
	x->res = r;
}

static void late(struct tt_span *s, const char *name, const char *str, size_t len, bool is_int,
		 int64_t v)
{
	struct tt_late_attr *l = &s->late[s->nlate++];

	snprintf(l->name, sizeof(l->name), "%s", name);
	l->is_int = is_int;
	l->i = v;
	l->len = (uint16_t)len;
	memcpy(l->str, str, len);
}

/* The table: each span exercises other fields and values. */
static void make_spans(void)
{
	struct tt_span *s;

	/* 0: a root, the plainest */
	base(&xs[0], 0, TT_ROLE_TASK, &res[0]);
	memset(xs[0].span.parent_id, 0, 8);
	/* 1: an error with a message, a key, an attempt, the hook's function */
	base(&xs[1], 1, TT_ROLE_STEP, &res[0]);
	s = &xs[1].span;
	s->status = TT_STATUS_ERROR;
	snprintf(s->status_msg, sizeof(s->status_msg), "returned -1: «échec»");
	snprintf(s->error_type, sizeof(s->error_type), "-1");
	memcpy(s->key, "1001", 4);
	s->key_len = 4;
	s->attempt = 3;
	s->hook = &hook;
	/* 2: a compensation that failed, cut at exit: two events */
	base(&xs[2], 2, TT_ROLE_COMPENSATION, &res[1]);
	s = &xs[2].span;
	s->status = TT_STATUS_ERROR;
	s->cut = TT_CUT_EXIT;
	snprintf(s->unreadable, sizeof(s->unreadable), "a,b");
	/* 3: a publish with a link, producer kind, status OK */
	base(&xs[3], 3, TT_ROLE_PUBLISH, &res[1]);
	s = &xs[3].span;
	s->kind = TT_KIND_PRODUCER;
	s->status = TT_STATUS_OK;
	memset(s->link_trace_id, 0xcc, 16);
	memset(s->link_span_id, 0xdd, 8);
	/* 4: a consume, consumer kind, late attributes: ints at their extremes */
	base(&xs[4], 4, TT_ROLE_CONSUME, &res[0]);
	s = &xs[4].span;
	s->kind = TT_KIND_CONSUMER;
	s->attempt = 1;
	late(s, "big", "", 0, true, INT64_MAX);
	late(s, "small", "", 0, true, INT64_MIN);
	late(s, "minus.one", "", 0, true, -1);
	late(s, "zero", "", 0, true, 0);
	/* 5: empty values: no name, no message, zero times, no attributes of its own */
	base(&xs[5], 5, TT_ROLE_SPAN, &res[2]);
	s = &xs[5].span;
	s->name[0] = '\0';
	s->start_ns = 0;
	s->end_ns = 0;
	s->kind = 0;
	s->tid = 0;
	/* 6: maximal values: every buffer full, every late attribute a full string */
	base(&xs[6], 6, TT_ROLE_STEP, &res[1]);
	s = &xs[6].span;
	memcpy(s->name, "é", 2);
	fill_max(s->name + 2, sizeof(s->name) - 2, "ñame-");
	s->name[sizeof(s->name) - 1] = 'Z'; /* not NUL-terminated: strnlen() bounds it */
	fill_max(s->status_msg, sizeof(s->status_msg), "mèssage ");
	s->status = TT_STATUS_ERROR;
	fill_max(s->error_type, sizeof(s->error_type), "ty");
	fill_max(s->unreadable, sizeof(s->unreadable), "u,");
	memset(s->key, 'k', TT_KEY_MAX);
	s->key_len = TT_KEY_MAX;
	s->attempt = UINT32_MAX;
	s->start_ns = UINT64_MAX - 10;
	s->end_ns = UINT64_MAX - 1;
	for (int i = 0; i < TT_LATE_ATTRS; i++) {
		char name[TT_LATE_NAME_MAX], str[TT_MAX_STR];

		fill_max(name, sizeof(name), "late-ñame.");
		name[0] = (char)('a' + i);
		memset(str, 'x' + i % 2, sizeof(str));
		late(s, name, str, sizeof(str), false, 0);
	}
	/* 7: strings that are not UTF-8, NULs, control characters, quotes */
	base(&xs[7], 7, TT_ROLE_TASK, &res[2]);
	s = &xs[7].span;
	static const char odd[] = "a\0b\xff\xc3\x28\"\\\t\n\x7f\x1f\xed\xa0\x80\xf4\x90\x80\x80z";

	memcpy(s->name, odd, sizeof(odd));
	memcpy(s->key, "k\0\xe2\x82", 4);
	s->key_len = 4;
	s->status = TT_STATUS_ERROR;
	snprintf(s->status_msg, sizeof(s->status_msg), "bad \xc0\xaf and \xe2\x82\xac ok");
	late(s, "bin", "\x00\x01\x80\xfe", 4, false, 0);
	late(s, "", "", 0, false, 0);
	/* past the eight-byte ASCII runs: a NUL, a stray byte, a sequence across a word */
	late(s, "words", "abcdefghi\0jk\xffmnopqrst\xe2\x82\xacuvwxyz0123456789", 37, false, 0);
	/* 8..15: the same resources interleaved, for the grouping */
	for (int i = 8; i < NSPANS; i++) {
		base(&xs[i], i, (enum tt_role)(i % TT_ROLE_ANNOTATE), &res[i % 3]);
		xs[i].span.status = (uint8_t)(i % 3);
	}
	xs[9].res = NULL; /* a span without a resource: its own group, an empty resource */
}

static int setup(void **state)
{
	(void)state;
	make_probes();
	make_resources();
	make_spans();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tt_otlp__set_limits(NULL);
	return 0;
}

/* ---- field by field, through the descriptors --------------------------------------------- */

static void compare_msg(const ProtobufCMessage *a, const ProtobufCMessage *b, const char *path);

static size_t scalar_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	default:
		return 8;
	}
}

static size_t elem_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return scalar_size(f->type);
	}
}

static void compare_value(const ProtobufCFieldDescriptor *f, const void *a, const void *b,
			  const char *path)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *sa = *(const char *const *)a, *sb = *(const char *const *)b;

		if (!sa || !sb) {
			if (sa != sb)
				fail_msg("%s: one string is NULL", path);
			return;
		}
		if (strcmp(sa, sb))
			fail_msg("%s: \"%s\" != \"%s\"", path, sa, sb);
		return;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *ba = a, *bb = b;

		if (ba->len != bb->len || (ba->len && memcmp(ba->data, bb->data, ba->len)))
			fail_msg("%s: bytes differ", path);
		return;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *ma = *(ProtobufCMessage *const *)a;
		const ProtobufCMessage *mb = *(ProtobufCMessage *const *)b;

		if (!ma || !mb) {
			if (ma != mb)
				fail_msg("%s: one message is absent", path);
			return;
		}
		compare_msg(ma, mb, path);
		return;
	}
	default:
		if (memcmp(a, b, scalar_size(f->type)))
			fail_msg("%s: values differ", path);
	}
}

static void compare_msg(const ProtobufCMessage *a, const ProtobufCMessage *b, const char *path)
{
	const ProtobufCMessageDescriptor *d = a->descriptor;
	char sub[512];

	assert_ptr_equal(a->descriptor, b->descriptor);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *pa = (const char *)a + f->offset, *pb = (const char *)b + f->offset;

		snprintf(sub, sizeof(sub), "%s.%s", path, f->name);
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t na = *(const size_t *)((const char *)a + f->quantifier_offset);
			size_t nb = *(const size_t *)((const char *)b + f->quantifier_offset);
			const char *ea = *(const char *const *)pa, *eb = *(const char *const *)pb;

			if (na != nb)
				fail_msg("%s: %zu elements != %zu", sub, na, nb);
			for (size_t k = 0; k < na; k++) {
				snprintf(sub, sizeof(sub), "%s.%s[%zu]", path, f->name, k);
				compare_value(f, ea + k * elem_size(f), eb + k * elem_size(f), sub);
			}
			continue;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t ca = *(const uint32_t *)((const char *)a + f->quantifier_offset);
			uint32_t cb = *(const uint32_t *)((const char *)b + f->quantifier_offset);

			if (ca != cb)
				fail_msg("%s: oneof case %u != %u", sub, ca, cb);
			if (ca != f->id)
				continue;
		}
		compare_value(f, pa, pb, sub);
	}
}

/* Encodes `n` spans both ways and compares them: decoded field by field, bytes, JSON text. */
static void compare(const struct tt_xspan *const *in, size_t n, int64_t off, struct tt_wbuf *b)
{
	const ProtobufCMessageDescriptor *d =
		&opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor;
	uint8_t *ref;
	size_t ref_len, json_len;
	char *json;
	ProtobufCMessage *ma, *mb;

	assert_int_equal(tt_otlp__encode_traces(in, n, off, &ref, &ref_len), 0);
	assert_int_equal(tt_otlp__write_traces(b, in, n, off), 0);
	ma = protobuf_c_message_unpack(d, NULL, ref_len, ref);
	mb = protobuf_c_message_unpack(d, NULL, b->len, b->data);
	assert_non_null(ma);
	assert_non_null(mb);
	compare_msg(ma, mb, "request");
	protobuf_c_message_free_unpacked(ma, NULL);
	protobuf_c_message_free_unpacked(mb, NULL);
	assert_int_equal(b->len, ref_len);
	if (ref_len)
		assert_memory_equal(b->data, ref, ref_len);

	assert_int_equal(tt_otlp__traces_json(ref, ref_len, &json, &json_len), 0);
	assert_int_equal(tt_otlp__write_traces_json(b, in, n, off), 0);
	assert_int_equal(b->data[b->len], '\0');
	assert_string_equal((const char *)b->data, json);
	assert_int_equal(b->len, json_len);
	free(json);
	free(ref);
}

static void test_each_span_alone(void **state)
{
	struct tt_wbuf b = {0};

	(void)state;
	for (int i = 0; i < NSPANS; i++) {
		const struct tt_xspan *in[1] = {&xs[i]};

		compare(in, 1, 0, &b);
		compare(in, 1, 1700000000000000000LL, &b);
	}
	tt_wbuf__release(&b);
}

static void test_all_spans_grouped_by_resource(void **state)
{
	const struct tt_xspan *in[NSPANS];
	struct tt_wbuf b = {0};

	(void)state;
	for (int i = 0; i < NSPANS; i++)
		in[i] = &xs[i];
	compare(in, NSPANS, 12345, &b);
	compare(in, 0, 0, &b); /* an empty request; the buffer reused */
	compare(in, NSPANS, -1000, &b);
	tt_wbuf__release(&b);
}

/* Groups past 16 KB and 2 MB: the reserved length prefixes grow and the bodies move. */
static void test_large_batch(void **state)
{
	size_t n = 12000;
	const struct tt_xspan **in = calloc(n, sizeof(*in));
	struct tt_wbuf b = {0};

	(void)state;
	assert_non_null(in);
	for (size_t i = 0; i < n; i++)
		in[i] = &xs[i % 7 == 3 ? 0 : 6];
	compare(in, n, 0, &b);
	compare(in, 60, 0, &b);
	free(in);
	tt_wbuf__release(&b);
}

static void test_with_limits(void **state)
{
	const struct tt_xspan *in[NSPANS];
	struct tt_sdk_config c;
	struct tt_wbuf b = {0};
	static const struct {
		uint32_t count, value_length, events, links;
	} table[] = {
		{3, 5, 1, 0}, {0, 0, 0, 0}, {128, 2, 2, 1}, {1, 1, 1, 1}, {100, 0, 0, 128},
	};

	(void)state;
	for (int i = 0; i < NSPANS; i++)
		in[i] = &xs[i];
	for (size_t t = 0; t < sizeof(table) / sizeof(table[0]); t++) {
		tt_sdk_config__init(&c);
		c.span.count = table[t].count;
		c.span.value_length = table[t].value_length;
		c.span_events = table[t].events;
		c.span_links = table[t].links;
		tt_otlp__set_limits(&c);
		compare(in, NSPANS, 7, &b);
	}
	tt_otlp__set_limits(NULL);
	tt_wbuf__release(&b);
}

/* ---- JSON lines ------------------------------------------------------------ */

/*
 * The reference for tt_jsonl__span(): the writer as it was, through stdio a
 * piece at a time (tt_json__str(), fprintf). The direct writer must give
 * the same bytes.
 */
static const uint8_t zero_id[8];
static const uint8_t zero_trace[16];

static void ref_attr(FILE *out, const struct tt_kv *kv)
{
	fputs("{\"key\":", out);
	tt_json__str(out, kv->key, strlen(kv->key));
	if (kv->type == TT_KV_INT) {
		fprintf(out, ",\"value\":{\"intValue\":\"%" PRId64 "\"}}", kv->i);
	} else {
		fputs(",\"value\":{\"stringValue\":", out);
		tt_json__str(out, kv->str, kv->len);
		fputs("}}", out);
	}
}

static void ref_events_and_links(FILE *out, const struct tt_span *s, int64_t off)
{
	bool comp = s->probe->role == TT_ROLE_COMPENSATION;
	bool err = s->status == TT_STATUS_ERROR;

	if (comp || err) {
		fputs(",\"events\":[", out);
		if (comp)
			fprintf(out, "{\"timeUnixNano\":\"%" PRIu64 "\",\"name\":\"Compensating\"}",
				s->start_ns + off);
		if (err) {
			const char *type = tt_span__error_type(s);

			fprintf(out,
				"%s{\"timeUnixNano\":\"%" PRIu64 "\",\"name\":\"exception\","
				"\"attributes\":[{\"key\":\"exception.message\",\"value\":"
				"{\"stringValue\":",
				comp ? "," : "", s->end_ns + off);
			tt_json__str(out, s->status_msg, strlen(s->status_msg));
			fputs("}},{\"key\":\"exception.type\",\"value\":{\"stringValue\":", out);
			tt_json__str(out, type, strlen(type));
			fputs("}}]}", out);
		}
		fputc(']', out);
	}
	if (memcmp(s->link_trace_id, zero_trace, sizeof(zero_trace)) != 0) {
		fputs(",\"links\":[{\"traceId\":", out);
		tt_json__hex(out, s->link_trace_id, 16);
		fputs(",\"spanId\":", out);
		tt_json__hex(out, s->link_span_id, 8);
		fputs("}]", out);
	}
}

static void ref_jsonl_span(const struct tt_span *s, void *ctx)
{
	struct tt_jsonl *j = ctx;
	struct tt_kv kv[TT_SPAN_MAX_KV];
	int n = tt_span__attrs(s, kv);
	FILE *out = j->out;

	fputs("{\"traceId\":", out);
	tt_json__hex(out, s->trace_id, sizeof(s->trace_id));
	fputs(",\"spanId\":", out);
	tt_json__hex(out, s->span_id, sizeof(s->span_id));
	if (memcmp(s->parent_id, zero_id, sizeof(zero_id)) != 0) {
		fputs(",\"parentSpanId\":", out);
		tt_json__hex(out, s->parent_id, sizeof(s->parent_id));
	}
	fputs(",\"name\":", out);
	tt_json__str(out, s->name, strlen(s->name));
	fprintf(out,
		",\"kind\":%d,\"startTimeUnixNano\":\"%" PRIu64 "\",\"endTimeUnixNano\":\"%" PRIu64
		"\"",
		s->kind, s->start_ns + j->mono_to_unix_ns, s->end_ns + j->mono_to_unix_ns);
	fputs(",\"attributes\":[", out);
	for (int i = 0; i < n; i++) {
		if (i)
			fputc(',', out);
		ref_attr(out, &kv[i]);
	}
	fputc(']', out);
	ref_events_and_links(out, s, j->mono_to_unix_ns);
	fprintf(out, ",\"status\":{\"code\":%d", s->status);
	if (s->status_msg[0]) {
		fputs(",\"message\":", out);
		tt_json__str(out, s->status_msg, strlen(s->status_msg));
	}
	fputs("},\"resource\":{\"service.name\":", out);
	tt_json__str(out, j->service, strlen(j->service));
	fprintf(out, ",\"process.pid\":%u}}\n", s->pid);
}

/* Both writers' line for span `s`, compared byte for byte. */
static void compare_jsonl(const struct tt_span *s, const char *service, int64_t off)
{
	struct tt_jsonl j = {.mono_to_unix_ns = off, .service = service};
	char *got = NULL, *want = NULL;
	size_t got_len = 0, want_len = 0;

	j.out = open_memstream(&got, &got_len);
	assert_non_null(j.out);
	tt_jsonl__span(s, &j);
	fclose(j.out);
	j.out = open_memstream(&want, &want_len);
	assert_non_null(j.out);
	ref_jsonl_span(s, &j);
	fclose(j.out);
	assert_int_equal(got_len, want_len);
	assert_string_equal(got, want);
	free(got);
	free(want);
}

/*
 * Every span of the table, under services plain and not, and a span whose
 * line passes the writer's 8 KB buffer (escapes of six bytes each).
 */
static void test_json_lines_match_the_stdio_writer(void **state)
{
	static const char *const services[] = {"svc", "sérvice \"b\"\n\x01\x7f\xff", ""};
	static char long_attr[12001];
	struct tt_probe bigp;
	struct tt_xspan big;

	(void)state;
	for (int i = 0; i < NSPANS; i++) {
		for (size_t k = 0; k < sizeof(services) / sizeof(services[0]); k++) {
			compare_jsonl(&xs[i].span, services[k], 0);
			compare_jsonl(&xs[i].span, services[k], 1700000000000000000LL);
			compare_jsonl(&xs[i].span, services[k], -1000);
		}
	}
	big = xs[1];
	fill_max(big.span.name, sizeof(big.span.name), "\x01\"\\\t\n");
	fill_max(big.span.status_msg, sizeof(big.span.status_msg), "\x02\xc3(\xe6\x97\xa5");
	big.span.nlate = 0;
	for (int k = 0; k < TT_LATE_ATTRS; k++) {
		char str[TT_MAX_STR];

		memset(str, k % 2 ? 0x1f : 0x7f, sizeof(str));
		late(&big.span, k % 2 ? "ctl" : "del", str, sizeof(str), false, 0);
	}
	compare_jsonl(&big.span, services[1], 5);
	/* an attribute of 12 KB, 18 KB escaped: the buffer fills within a string, twice */
	bigp = *big.span.probe;
	memset(long_attr, 0x01, sizeof(long_attr) - 1);
	memset(long_attr + 2000, 'x', 9000);
	bigp.attrs[0].literal = long_attr;
	big.span.probe = &bigp;
	compare_jsonl(&big.span, services[0], 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_span_alone),
		cmocka_unit_test(test_all_spans_grouped_by_resource),
		cmocka_unit_test(test_large_batch),
		cmocka_unit_test(test_with_limits),
		cmocka_unit_test(test_json_lines_match_the_stdio_writer),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
