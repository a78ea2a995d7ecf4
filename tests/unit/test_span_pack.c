// SPDX-License-Identifier: MIT
/*
 * Spans packed for the export queue and unpacked: the OTLP writers give the
 * same bytes for a span and for its packed copy (protobuf and JSON), on
 * spans with captures at the start and the end, redacted values, annotate
 * attributes, full buffers and odd bytes; what is packed is what the span
 * holds, not its struct; and bytes that do not add up are refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "export/otlp_write.h"
#include "export/span_pack.h"

#define NSPANS 5

static struct tt_probe probe;
static struct tt_resource res = {.pid = 42};
static struct tt_span spans[NSPANS];

/* Appends a capture record (tt_cap_rec, padded to 4) to a payload. */
static uint16_t rec(uint8_t *p, uint16_t off, uint8_t type, const void *v, uint16_t len)
{
	struct tt_cap_rec r = {.len = len, .type = type};

	memcpy(p + off, &r, sizeof(r));
	memcpy(p + off + sizeof(r), v, len);
	return (uint16_t)((off + sizeof(r) + len + 3) & ~3u);
}

static void make_probe(void)
{
	probe.id = 7;
	probe.role = TT_ROLE_TASK;
	probe.symbol = "run_task";
	probe.key.index = -1;
	probe.attempt.index = -1;
	probe.message_id.index = -1;
	probe.attrs[0] = (struct tt_attr){
		.name = "job", .cap = {.text = "str(arg1)", .index = 0, .type = TT_CAP_STR}};
	probe.attrs[1] = (struct tt_attr){.name = "n",
					  .cap = {.text = "arg2", .index = 1, .type = TT_CAP_INT}};
	probe.attrs[2] = (struct tt_attr){
		.name = "secret", .redact = true, .cap = {.text = "str(arg3)", .index = 2}};
	probe.attrs[3] = (struct tt_attr){
		.name = "result",
		.cap = {.text = "ret", .index = 0, .type = TT_CAP_INT, .site = TT_SITE_END}};
	probe.nattrs = 4;
}

static void fill(char *dst, size_t size, char c)
{
	memset(dst, c, size); /* no NUL: readers bound it by the array */
}

static void make_spans(void)
{
	int64_t n = -12345, r = 7;
	struct tt_span *s;

	for (int i = 0; i < NSPANS; i++) {
		s = &spans[i];
		memset(s, 0, sizeof(*s));
		memset(s->trace_id, 0x30 + i, 16);
		memset(s->span_id, 0x40 + i, 8);
		s->start_ns = 100 + (uint64_t)i;
		s->end_ns = 900 + (uint64_t)i;
		s->probe = &probe;
		s->pid = 42;
		s->tid = 43;
		snprintf(s->name, sizeof(s->name), "task-%d", i);
	}
	/* 1: captures at the start and the end, a redacted value, a key, an error */
	s = &spans[1];
	s->payload_len = rec(s->payload, 0, TT_CAP_STR, "resize-images", 13);
	s->payload_len = rec(s->payload, s->payload_len, TT_CAP_INT, &n, 8);
	s->payload_len = rec(s->payload, s->payload_len, TT_CAP_STR, "hunter2", 7);
	s->end_len = rec(s->end_payload, 0, TT_CAP_INT, &r, 8);
	snprintf(s->redacted[2], sizeof(s->redacted[2]), "xxh3:0123456789abcdef");
	memcpy(s->key, "job-1001", 8);
	s->key_len = 8;
	s->status = TT_STATUS_ERROR;
	s->has_ret = true;
	s->ret = -1;
	snprintf(s->status_msg, sizeof(s->status_msg), "returned -1");
	snprintf(s->error_type, sizeof(s->error_type), "-1");
	s->attempt = 2;
	/* 2: annotate attributes, a link, unreadable captures */
	s = &spans[2];
	s->nlate = 2;
	snprintf(s->late[0].name, sizeof(s->late[0].name), "queue");
	s->late[0].len = 5;
	memcpy(s->late[0].str, "a\0b\xff!", 5);
	snprintf(s->late[1].name, sizeof(s->late[1].name), "count");
	s->late[1].is_int = true;
	s->late[1].i = INT64_MIN;
	memset(s->link_trace_id, 0xcc, 16);
	memset(s->link_span_id, 0xdd, 8);
	snprintf(s->unreadable, sizeof(s->unreadable), "job,n");
	/* 3: every buffer full, none NUL-terminated */
	s = &spans[3];
	fill(s->name, sizeof(s->name), 'N');
	fill(s->status_msg, sizeof(s->status_msg), 'M');
	fill(s->error_type, sizeof(s->error_type), 'E');
	fill(s->unreadable, sizeof(s->unreadable), 'U');
	s->status = TT_STATUS_ERROR;
	memset(s->key, 'k', sizeof(s->key));
	s->key_len = sizeof(s->key);
	for (int k = 0; k < TT_LATE_ATTRS; k++) {
		fill(s->late[k].name, sizeof(s->late[k].name) - 1, (char)('a' + k));
		s->late[k].len = sizeof(s->late[k].str);
		memset(s->late[k].str, 'v', sizeof(s->late[k].str));
	}
	s->nlate = TT_LATE_ATTRS;
	/* 4: lengths past the arrays are read as far as the arrays go */
	s = &spans[4];
	s->key_len = UINT16_MAX;
	memset(s->key, 'q', sizeof(s->key));
}

static int setup(void **state)
{
	(void)state;
	make_probe();
	make_spans();
	return 0;
}

/* Packs span i and unpacks it into x, over garbage: nothing is read past a length. */
static void round_trip(int i, struct tt_xspan *x, size_t *packed)
{
	size_t len = tt_span_pack__size(&spans[i]);
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	assert_true(len <= tt_span_pack__max());
	tt_span_pack__write(buf, &spans[i], &res);
	memset(x, 0xab, sizeof(*x));
	assert_int_equal(tt_span_pack__read(x, buf, len), 0);
	assert_ptr_equal(x->res, &res);
	free(buf);
	*packed = len;
}

static void test_writers_give_the_same_bytes(void **state)
{
	static struct tt_xspan orig[NSPANS], back[NSPANS];
	const struct tt_xspan *a[NSPANS], *b[NSPANS];
	struct tt_wbuf wa = {0}, wb = {0};
	size_t len;

	(void)state;
	/* not the last: its key_len is past its array, which the writers would read */
	for (int i = 0; i < NSPANS - 1; i++) {
		orig[i].span = spans[i];
		orig[i].res = &res;
		round_trip(i, &back[i], &len);
		a[i] = &orig[i];
		b[i] = &back[i];
	}
	assert_int_equal(tt_otlp__write_traces(&wa, a, NSPANS - 1, 1000), 0);
	assert_int_equal(tt_otlp__write_traces(&wb, b, NSPANS - 1, 1000), 0);
	assert_int_equal(wa.len, wb.len);
	assert_memory_equal(wa.data, wb.data, wa.len);
	assert_int_equal(tt_otlp__write_traces_json(&wa, a, NSPANS - 1, 1000), 0);
	assert_int_equal(tt_otlp__write_traces_json(&wb, b, NSPANS - 1, 1000), 0);
	assert_int_equal(wa.len, wb.len);
	assert_memory_equal(wa.data, wb.data, wa.len);
	/* the redacted value and the end's capture made it (not only equal: present) */
	assert_non_null(memmem(wb.data, wb.len, "xxh3:0123456789abcdef", 21));
	assert_non_null(memmem(wb.data, wb.len, "resize-images", 13));
	tt_wbuf__release(&wa);
	tt_wbuf__release(&wb);
}

static void test_packed_is_what_the_span_holds(void **state)
{
	struct tt_xspan *x = malloc(sizeof(*x));
	size_t plain, full;

	(void)state;
	assert_non_null(x);
	round_trip(0, x, &plain);
	round_trip(3, x, &full);
	/* a plain span: its fixed fields and short texts, a tenth of the struct */
	assert_true(plain < sizeof(struct tt_span) / 8);
	assert_true(plain < full);
	assert_true(full <= tt_span_pack__max());
	/* a length past its array is packed as far as the array goes */
	round_trip(4, x, &plain);
	assert_int_equal(x->span.key_len, sizeof(x->span.key));
	free(x);
}

static void test_bytes_that_do_not_add_up_are_refused(void **state)
{
	size_t len = tt_span_pack__size(&spans[1]);
	uint8_t *buf = malloc(len + 1);
	struct tt_xspan *x = malloc(sizeof(*x));

	(void)state;
	assert_non_null(buf);
	assert_non_null(x);
	tt_span_pack__write(buf, &spans[1], &res);
	for (size_t cut = 0; cut < len; cut += 7)
		assert_int_equal(tt_span_pack__read(x, buf, cut), -EBADMSG);
	buf[len] = 0;
	assert_int_equal(tt_span_pack__read(x, buf, len + 1), -EBADMSG);
	assert_int_equal(tt_span_pack__read(x, buf, len), 0);
	free(buf);
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writers_give_the_same_bytes),
		cmocka_unit_test(test_packed_is_what_the_span_holds),
		cmocka_unit_test(test_bytes_that_do_not_add_up_are_refused),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
