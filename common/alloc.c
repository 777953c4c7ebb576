/* SPDX-License-Identifier: MIT */
#include "common/alloc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_countdown = -1;

static int should_fail(void)
{
    long n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (n < 0) {
        return 0;
    }
    if (n == 0) {
        return 1;
    }
    atomic_fetch_sub_explicit(&fail_countdown, 1, memory_order_relaxed);
    return 0;
}

void clew_alloc_fail_after(long n)
{
    atomic_store(&fail_countdown, n);
}

void *clew_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n ? n : 1);
}

void *clew_calloc(size_t count, size_t size)
{
    return should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *clew_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n ? n : 1);
}

void clew_free(void *p)
{
    free(p);
}

char *clew_strndup(const char *s, size_t n)
{
    char *d = clew_malloc(n + 1);
    if (d == NULL) {
        return NULL;
    }
    if (n) {
        memcpy(d, s, n);
    }
    d[n] = '\0';
    return d;
}

char *clew_strdup(const char *s)
{
    return clew_strndup(s, strlen(s));
}

static void *oom(size_t n)
{
    fprintf(stderr, "clew: out of memory allocating %zu bytes\n", n);
    abort();
}

void *clew_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    return p ? p : oom(n);
}

void *clew_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    return p ? p : oom(count * size);
}
