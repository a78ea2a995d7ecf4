// SPDX-License-Identifier: MIT
/*
 * malloc-count: an LD_PRELOAD library that counts calls to malloc, calloc,
 * realloc, aligned allocations and free, in every thread, to measure what
 * the agent allocates per event. At exit it writes one line to stderr:
 *
 *	malloc-count: allocs N frees N bytes N
 *
 * (allocs counts malloc + calloc + realloc + posix_memalign/aligned_alloc/
 * memalign). A program may call malloc_count__get() to read the counters
 * between phases (declare it weak: it exists only when preloaded).
 *
 * It forwards to glibc's __libc_* entry points, so it needs no dlsym and no
 * bootstrap buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

static uint64_t allocs, frees, bytes;

#define COUNT(var, n) __atomic_fetch_add(&(var), (n), __ATOMIC_RELAXED)

void malloc_count__get(uint64_t out[3])
{
	out[0] = __atomic_load_n(&allocs, __ATOMIC_RELAXED);
	out[1] = __atomic_load_n(&frees, __ATOMIC_RELAXED);
	out[2] = __atomic_load_n(&bytes, __ATOMIC_RELAXED);
}

void *malloc(size_t n)
{
	COUNT(allocs, 1);
	COUNT(bytes, n);
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	COUNT(allocs, 1);
	COUNT(bytes, n * size);
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	COUNT(allocs, 1);
	COUNT(bytes, n);
	return __libc_realloc(p, n);
}

void *memalign(size_t align, size_t n)
{
	COUNT(allocs, 1);
	COUNT(bytes, n);
	return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	return memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	void *p = memalign(align, n);

	if (!p)
		return 12; /* ENOMEM */
	*out = p;
	return 0;
}

void free(void *p)
{
	if (p)
		COUNT(frees, 1);
	__libc_free(p);
}

__attribute__((destructor)) static void report(void)
{
	fprintf(stderr, "malloc-count: allocs %llu frees %llu bytes %llu\n",
		(unsigned long long)allocs, (unsigned long long)frees, (unsigned long long)bytes);
}
