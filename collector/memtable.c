/* SPDX-License-Identifier: MIT */
#include "collector/memtable.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "common/arena.h"
#include "common/rec_codec.h"
#include "common/timeutil.h"

struct clew_memtable {
    uint64_t gen;
    struct clew_record *recs;
    size_t n, cap;
    size_t raw_bytes;
    int64_t first_mono;
    int frozen;
    struct clew_arena arena;
};

struct clew_memtable *clew_memtable_new(uint64_t gen)
{
    struct clew_memtable *m = clew_calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    m->gen = gen;
    clew_arena_init(&m->arena, 1u << 20);
    return m;
}

void clew_memtable_free(struct clew_memtable *m)
{
    if (m == NULL) {
        return;
    }
    clew_arena_close(&m->arena);
    clew_free(m->recs);
    clew_free(m);
}

/* Copies one string into the arena; an empty string needs no memory. */
static int copy_str(struct clew_arena *a, struct clew_str *s)
{
    if (s->len == 0) {
        s->ptr = "";
        return 0;
    }
    char *d = clew_arena_dup(a, s->ptr, s->len);
    if (d == NULL) {
        return -ENOMEM;
    }
    s->ptr = d;
    return 0;
}

int clew_memtable_add(struct clew_memtable *m, const struct clew_record *r)
{
    assert(!m->frozen);
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        struct clew_record *recs = clew_realloc(m->recs, cap * sizeof(*recs));
        if (recs == NULL) {
            return -ENOMEM;
        }
        m->recs = recs;
        m->cap = cap;
    }
    struct clew_record c = *r;
    struct clew_str *strs[] = { &c.labels[0], &c.labels[1], &c.labels[2], &c.labels[3],
                                &c.labels[4], &c.message,   &c.trace_id,  &c.span_id,
                                &c.parent_span_id, &c.fields };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        /* On OOM the arena keeps what was copied; it is freed with the
         * memtable, and the record is not added. */
        if (copy_str(&m->arena, strs[i]) < 0) {
            return -ENOMEM;
        }
    }
    if (m->n == 0) {
        m->first_mono = clew_time_mono_ns();
    }
    m->recs[m->n++] = c;
    m->raw_bytes += clew_rec_raw_size(&c);
    return 0;
}

uint64_t clew_memtable_gen(const struct clew_memtable *m)
{
    return m->gen;
}

size_t clew_memtable_count(const struct clew_memtable *m)
{
    return m->n;
}

size_t clew_memtable_raw_bytes(const struct clew_memtable *m)
{
    return m->raw_bytes;
}

size_t clew_memtable_mem_bytes(const struct clew_memtable *m)
{
    return m->arena.used + m->cap * sizeof(struct clew_record);
}

int64_t clew_memtable_first_mono(const struct clew_memtable *m)
{
    return m->first_mono;
}

const struct clew_record *clew_memtable_get(const struct clew_memtable *m, size_t i)
{
    assert(i < m->n);
    return &m->recs[i];
}

/* Merge sort on ts: stable, O(n log n) worst case, and fast on the nearly
 * sorted input that log streams are. */
static void merge_sort(struct clew_record *a, struct clew_record *tmp, size_t n)
{
    if (n < 2) {
        return;
    }
    size_t h = n / 2;
    merge_sort(a, tmp, h);
    merge_sort(a + h, tmp, n - h);
    if (a[h - 1].ts <= a[h].ts) {
        return; /* already in order: the common case */
    }
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        tmp[k++] = a[j].ts < a[i].ts ? a[j++] : a[i++];
    }
    while (i < h) {
        tmp[k++] = a[i++];
    }
    while (j < n) {
        tmp[k++] = a[j++];
    }
    for (size_t x = 0; x < k; x++) {
        a[x] = tmp[x];
    }
}

void clew_memtable_freeze(struct clew_memtable *m)
{
    m->frozen = 1;
}

struct clew_record *clew_memtable_sorted(const struct clew_memtable *m)
{
    struct clew_record *out = clew_malloc((m->n ? m->n : 1) * sizeof(*out));
    struct clew_record *tmp = clew_malloc((m->n ? m->n : 1) * sizeof(*tmp));
    if (out == NULL || tmp == NULL) {
        clew_free(out);
        clew_free(tmp);
        return NULL;
    }
    for (size_t i = 0; i < m->n; i++) {
        out[i] = m->recs[i];
    }
    merge_sort(out, tmp, m->n);
    clew_free(tmp);
    return out;
}
