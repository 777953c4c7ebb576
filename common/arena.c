/* SPDX-License-Identifier: MIT */
#include "common/arena.h"

#include <stdint.h>
#include <string.h>

#include "common/alloc.h"

struct clew_arena_chunk {
    struct clew_arena_chunk *next;
    size_t size;
    size_t used;
    _Alignas(8) unsigned char data[];
};

void clew_arena_init(struct clew_arena *a, size_t chunk_size)
{
    a->head = NULL;
    a->chunk_size = chunk_size ? chunk_size : 16384;
    a->used = 0;
}

void clew_arena_close(struct clew_arena *a)
{
    struct clew_arena_chunk *c = a->head;
    while (c != NULL) {
        struct clew_arena_chunk *next = c->next;
        clew_free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
}

void clew_arena_reset(struct clew_arena *a)
{
    /* Keep the oldest chunk (the last in the list): it has the default size. */
    struct clew_arena_chunk *c = a->head, *keep = NULL;
    while (c != NULL) {
        struct clew_arena_chunk *next = c->next;
        if (next == NULL) {
            keep = c;
        } else {
            clew_free(c);
        }
        c = next;
    }
    if (keep != NULL) {
        keep->used = 0;
        keep->next = NULL;
    }
    a->head = keep;
    a->used = 0;
}

void *clew_arena_alloc(struct clew_arena *a, size_t n)
{
    size_t need = (n + 7) & ~(size_t)7;
    if (need < n) {
        return NULL;
    }
    struct clew_arena_chunk *c = a->head;
    if (c == NULL || c->size - c->used < need) {
        size_t size = need > a->chunk_size ? need : a->chunk_size;
        if (size > SIZE_MAX - sizeof(*c)) {
            return NULL;
        }
        c = clew_malloc(sizeof(*c) + size);
        if (c == NULL) {
            return NULL;
        }
        c->size = size;
        c->used = 0;
        if (a->head != NULL && need > a->chunk_size) {
            /* An oversized chunk goes behind the current one, which may
             * still have room for small allocations. */
            c->next = a->head->next;
            a->head->next = c;
            c->used = need;
            a->used += need;
            return c->data;
        }
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += need;
    a->used += need;
    return p;
}

char *clew_arena_dup(struct clew_arena *a, const void *p, size_t n)
{
    char *d = clew_arena_alloc(a, n + 1);
    if (d == NULL) {
        return NULL;
    }
    if (n) {
        memcpy(d, p, n);
    }
    d[n] = '\0';
    return d;
}
