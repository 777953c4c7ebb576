/* SPDX-License-Identifier: MIT
 * alloc: every heap allocation in clew goes through these wrappers so tests
 * can make the Nth one fail (clew_alloc_fail_after). They behave as the libc
 * functions they wrap; clew_free(NULL) is a no-op. Any thread. */
#ifndef CLEW_ALLOC_H
#define CLEW_ALLOC_H

#include <stddef.h>

void *clew_malloc(size_t n);
void *clew_calloc(size_t count, size_t size);
void *clew_realloc(void *p, size_t n);
void clew_free(void *p);
/* Duplicates n bytes and appends a NUL; NULL on OOM. */
char *clew_strndup(const char *s, size_t n);
char *clew_strdup(const char *s);

/* Small fixed-size allocations whose failure we do not handle: abort on OOM. */
void *clew_xmalloc(size_t n);
void *clew_xcalloc(size_t count, size_t size);

/* Test hook: after n more successful allocations, every allocation fails
 * until clew_alloc_fail_after(-1) is called. Not for production code. */
void clew_alloc_fail_after(long n);

#endif
