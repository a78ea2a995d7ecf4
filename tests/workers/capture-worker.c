/* SPDX-License-Identifier: MIT */
/*
 * Target of the capture and filter tests (tests/e2e/test_captures.py,
 * test_filters.py): plain C, no tracing code. Its functions take what real
 * workers take — structs by pointer, pointers to structs inside them,
 * strings, (len, ptr) pairs by value, more than six arguments, out-
 * parameters filled by the callee — and return negative ints, pointers and
 * size_t. It prints, as one JSON object on stdout, what it passed and got,
 * so that the test checks every captured attribute against it.
 *
 *	capture-worker captures         every capture function, once or twice
 *	capture-worker filters N        N calls of the filter targets
 *	capture-worker cold             a string on a page never touched, then touched
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define noinline __attribute__((noinline, noclone))

struct customer {
	uint32_t level;	   /* 0 */
	char tag[8];	   /* 4 */
	const char *email; /* 16 */
};

struct order {
	uint64_t id;		/* 0 */
	int32_t qty;		/* 8 */
	int16_t delta;		/* 12 */
	int8_t flag;		/* 14 */
	uint8_t code;		/* 15 */
	const char *name;	/* 16 */
	struct customer *cust;	/* 24 */
};

/* amqp_bytes_t: 16 bytes passed by value in two argument slots */
struct bytes {
	size_t len;
	const void *ptr;
};

struct props {
	uint64_t flags;		    /* 0 */
	const char *message_id;	    /* 8 */
	const char *correlation_id; /* 16 */
};

struct job {
	uint64_t id;	   /* 0 */
	int32_t priority;  /* 8 */
	uint32_t status;   /* 12 */
	const char *owner; /* 16 */
};

static volatile long sink;

/*
 * Makes the memory at p visible to "someone": the compiler must complete
 * every store to it first. Without this, -O1 (ipa-modref) drops stores to
 * fields that the callee itself never reads, but the probe does.
 */
static inline void escape(const void *p)
{
	asm volatile("" : : "r"(p) : "memory");
}

noinline int run_step(uint64_t task, const char *step, int attempt)
{
	asm volatile("");
	sink = (long)task + attempt + step[0];
	return 0;
}

/* A task: the order by pointer, and a pointer into it. */
noinline int process_order(const struct order *o, const int32_t *qty)
{
	asm volatile("");
	sink = o->qty + *qty;
	return run_step(o->id, "upload", 3);
}

/* A span reading through the order to its customer (which may be a bad pointer). */
noinline int check_customer(const struct order *o)
{
	asm volatile("");
	/* reads the pointer, so that the compiler keeps the caller's store to it */
	sink = (long)o->id + (long)o->cust;
	return 0;
}

/* librabbitmq's signature: the last five slots are on the stack. */
noinline int amqp_basic_publish(void *state, int channel, struct bytes exchange,
				struct bytes routing_key, long mandatory, long immediate,
				const struct props *properties, struct bytes body)
{
	asm volatile("");
	sink = (long)state + channel + (long)exchange.len + (long)routing_key.len + mandatory +
	       immediate + (long)properties->flags + (long)body.len;
	return 0;
}

static const char *const owners[] = {"alice", "bob"};

/* Fills its out-parameters: *out, the name buffer, *len. */
noinline int fetch_job(uint64_t id, struct job *out, char *name_out, size_t *len_out)
{
	asm volatile("");
	out->id = id;
	out->priority = -5 - (int32_t)(id % 2);
	out->status = id % 2 ? 3 : 0;
	out->owner = owners[id % 2];
	*len_out = (size_t)snprintf(name_out, 32, "resize-%" PRIu64, id);
	return 0;
}

noinline int check_stock(int sku)
{
	asm volatile("");
	return sku == 1 ? -2 : sku * 7;
}

noinline struct job *alloc_job(size_t n)
{
	struct job *j;

	asm volatile("");
	if (n == 0)
		return NULL;
	j = calloc(n, sizeof(*j));
	if (j)
		j->id = n * 3;
	return j;
}

/* Upper-cases src into dst; (size_t)-1 when it does not fit. */
noinline size_t encode(const char *src, char *dst, size_t cap)
{
	size_t n = strlen(src);

	asm volatile("");
	if (n + 1 > cap)
		return (size_t)-1;
	for (size_t i = 0; i <= n; i++)
		dst[i] = (char)(src[i] >= 'a' && src[i] <= 'z' ? src[i] - 32 : src[i]);
	return n;
}

/* Filter targets: the same calls, each probe with its own `when:`. */
noinline int filter_int(int prio, const char *name)
{
	asm volatile("");
	sink = name[0];
	return prio * 10;
}

noinline int filter_eq(int prio, const char *name)
{
	asm volatile("");
	return prio + (int)strlen(name);
}

noinline int filter_prefix(int prio, const char *name)
{
	asm volatile("");
	return prio + (int)strlen(name);
}

noinline int filter_ne(int prio, const char *name)
{
	asm volatile("");
	return prio + (int)strlen(name);
}

static void json_str(const char *key, const char *v, int last)
{
	printf("\"%s\": \"%s\"%s", key, v, last ? "" : ", ");
}

static void json_int(const char *key, int64_t v, int last)
{
	printf("\"%s\": %" PRId64 "%s", key, v, last ? "" : ", ");
}

/*
 * Reads a string, as a worker reads the data it passes on: a probe cannot
 * read a page the process never touched (see run_cold).
 */
static void touch(const char *s)
{
	sink += (long)strlen(s);
}

static void run_captures(void)
{
	static struct customer gold = {.level = 7, .tag = "goldvip", .email = "ann@example.com"};
	struct order o = {.id = 0xfedcba9876543210ULL,
			  .qty = -70000,
			  .delta = -1234,
			  .flag = -3,
			  .code = 200,
			  .name = "order-7",
			  .cust = &gold};
	struct order bad = o;
	/* not NUL-terminated where the length ends: bytes() must use the length */
	static const char rk[] = "jobs.resizeXXXX";
	static const char body[] = "hello, world";
	struct props props = {.flags = 1, .message_id = "msg-0001", .correlation_id = "corr-42"};
	struct job job = {0};
	char name[32] = "unset";
	size_t len = 0;
	char dst[32];
	struct job *j;

	touch(gold.email);
	touch(gold.tag);
	touch(o.name);
	touch(rk);
	touch(body);
	touch(props.message_id);
	touch(props.correlation_id);
	touch("amq.direct");
	escape(&gold);
	escape(&o);
	process_order(&o, &o.qty);
	check_customer(&o);
	bad.cust = (struct customer *)0x10; /* a bad pointer */
	escape(&bad);
	check_customer(&bad);
	escape(&props);
	amqp_basic_publish((void *)0x1000, 2, (struct bytes){10, "amq.direct"},
			   (struct bytes){11, rk}, 1, 5, &props,
			   (struct bytes){sizeof(body) - 1, body});
	escape(name);
	fetch_job(42, &job, name, &len);
	snprintf(name, sizeof(name), "unset");
	escape(name);
	fetch_job(43, &job, name, &len);
	sink = check_stock(1) + check_stock(2);
	j = alloc_job(4);
	sink = (long)alloc_job(0);
	sink = (long)encode("hello world", dst, sizeof(dst));
	sink = (long)encode("hello world", dst, 4);

	printf("{");
	json_int("pid", (int64_t)getpid(), 0);
	json_str("order_id", "18364758544493064720", 0);
	json_int("qty", o.qty, 0);
	json_int("qty_u", (int64_t)(uint32_t)o.qty, 0);
	json_int("id_signed", (int64_t)o.id, 0);
	json_int("delta", o.delta, 0);
	json_int("delta_u", (uint16_t)o.delta, 0);
	json_int("flag", o.flag, 0);
	json_int("flag_u", (uint8_t)o.flag, 0);
	json_int("code", o.code, 0);
	json_str("order_name", o.name, 0);
	json_int("level", gold.level, 0);
	json_str("email", gold.email, 0);
	json_int("alloc_addr", (int64_t)(uintptr_t)j, 0);
	json_int("alloc_first", (int64_t)(j ? j->id : 0), 1);
	printf("}\n");
	free(j);
}

/*
 * Pages of their own that nothing reads until the second call below: 64 KiB
 * aligned, since a fault on a neighbouring page maps up to 64 KiB around it
 * (the kernel's fault-around).
 */
static const char cold_name[65536] __attribute__((aligned(65536))) = "cold-name";

noinline int cold_task(uint64_t id, const char *name)
{
	asm volatile("");
	return (int)id + (name != NULL);
}

static void run_cold(void)
{
	volatile char first;

	sink = cold_task(1, cold_name); /* the page is not in the process's page tables yet */
	first = *(const volatile char *)cold_name; /* now it is */
	sink = cold_task(2, cold_name);
	printf("{\"name\": \"%s\", \"first\": %d}\n", cold_name, first);
}

static const char *const filter_names[] = {"perf-a", "perfect", "per", "exact",
					   "exactly", "other", "", "pe"};

static void run_filters(long n)
{
	long i;

	for (i = 0; i < n; i++) {
		int prio = (int)(i % 10);
		const char *name = filter_names[i % 8];

		sink = filter_int(prio, name) + filter_eq(prio, name) + filter_prefix(prio, name) +
		       filter_ne(prio, name);
	}
	printf("{\"calls\": %ld, \"names\": [", n);
	for (i = 0; i < 8; i++)
		printf("\"%s\"%s", filter_names[i], i < 7 ? ", " : "");
	printf("]}\n");
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "captures") == 0) {
		run_captures();
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "cold") == 0) {
		run_cold();
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "filters") == 0) {
		run_filters(strtol(argv[2], NULL, 10));
		return 0;
	}
	fprintf(stderr, "usage: %s captures | filters N | cold\n", argv[0]);
	return 2;
}
