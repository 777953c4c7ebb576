/* SPDX-License-Identifier: MIT
 * memtable: records in fixed chunks of CHUNK_RECS structs (so a record never
 * moves and the array never reallocates), their strings packed one record
 * after the other in large string chunks. A memtable fills tens of MiB of
 * fresh memory once per seal; the chunks are large and asked to be backed
 * by transparent huge pages, which turns ~16k page faults per 64 MiB into
 * a few dozen (faults dominated the writer's memtable cost). */
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include "collector/memtable.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "common/alloc.h"
#include "common/timeutil.h"

#define CHUNK_RECS_LOG 14 /* records per chunk: 16384 (2.75 MiB)     */
#define CHUNK_RECS     (1u << CHUNK_RECS_LOG)
#define STR_CHUNK      (8u << 20) /* bytes per string chunk           */
#define HUGE_PAGE      (2u << 20)

struct str_chunk {
    struct str_chunk *next;
    size_t size, used;
    _Alignas(8) char data[];
};

/* Distinct label tuples: records of one stream share one copy of their
 * labels (less memory, and the segment writer then sees equal pointers). */
struct labels_tab {
    uint32_t *slots; /* tuple + 1, 0 = empty */
    uint32_t mask;
    struct clew_str (*tup)[CLEW_LABEL_COUNT];
    uint32_t n, cap;
};

struct clew_memtable {
    uint64_t gen;
    struct labels_tab lt;
    struct clew_record **chunks; /* chunk k holds records k * CHUNK_RECS ... */
    size_t nchunks, chunks_cap;
    size_t n;
    size_t raw_bytes;
    size_t str_bytes; /* memory of the string chunks */
    int64_t first_mono;
    int frozen;
    struct str_chunk *strs; /* newest first */
};

/* Asks for huge pages on the 2 MiB-aligned part of p[0..n) (a hint: it may
 * be ignored, and it changes nothing else). */
static void hint_huge(void *p, size_t n)
{
#if defined(MADV_HUGEPAGE)
    uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)(HUGE_PAGE - 1);
    if (e > a) {
        (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
    }
#else
    (void)p;
    (void)n;
#endif
}

static void *big_alloc(size_t n)
{
    void *p = clew_malloc(n);
    if (p != NULL && n >= 2 * HUGE_PAGE) {
        hint_huge(p, n);
    }
    return p;
}

struct clew_memtable *clew_memtable_new(uint64_t gen)
{
    struct clew_memtable *m = clew_calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    m->gen = gen;
    return m;
}

void clew_memtable_free(struct clew_memtable *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t k = 0; k < m->nchunks; k++) {
        clew_free(m->chunks[k]);
    }
    clew_free(m->chunks);
    for (struct str_chunk *c = m->strs, *next; c != NULL; c = next) {
        next = c->next;
        clew_free(c);
    }
    clew_free(m->lt.slots);
    clew_free(m->lt.tup);
    clew_free(m);
}

/* Room for n string bytes. */
static char *str_alloc(struct clew_memtable *m, size_t n)
{
    struct str_chunk *c = m->strs;
    if (c == NULL || c->size - c->used < n) {
        size_t size = n > STR_CHUNK ? n : STR_CHUNK;
        if (size > SIZE_MAX - sizeof(*c)) {
            return NULL;
        }
        c = big_alloc(sizeof(*c) + size);
        if (c == NULL) {
            return NULL;
        }
        c->size = size;
        c->used = 0;
        c->next = m->strs;
        m->strs = c;
        m->str_bytes += size;
    }
    char *p = c->data + c->used;
    c->used += n;
    return p;
}

/* The slot of record n, adding a chunk when needed; NULL on OOM. */
static struct clew_record *slot(struct clew_memtable *m)
{
    size_t k = m->n >> CHUNK_RECS_LOG;
    if (k == m->nchunks) {
        if (m->nchunks == m->chunks_cap) {
            size_t cap = m->chunks_cap ? m->chunks_cap * 2 : 16;
            struct clew_record **a = clew_realloc(m->chunks, cap * sizeof(*a));
            if (a == NULL) {
                return NULL;
            }
            m->chunks = a;
            m->chunks_cap = cap;
        }
        struct clew_record *c = big_alloc(CHUNK_RECS * sizeof(*c));
        if (c == NULL) {
            return NULL;
        }
        m->chunks[m->nchunks++] = c;
    }
    return &m->chunks[k][m->n & (CHUNK_RECS - 1)];
}

static uint64_t labels_hash(const struct clew_str *l)
{
    uint64_t h = 0;
    for (int i = 0; i < CLEW_LABEL_COUNT; i++) {
        h = XXH3_64bits_withSeed(l[i].ptr, l[i].len, h);
    }
    return h;
}

static int labels_eq(const struct clew_str *a, const struct clew_str *b)
{
    for (int i = 0; i < CLEW_LABEL_COUNT; i++) {
        if (a[i].len != b[i].len || (a[i].len > 0 && memcmp(a[i].ptr, b[i].ptr, a[i].len) != 0)) {
            return 0;
        }
    }
    return 1;
}

static int labels_grow(struct labels_tab *t)
{
    uint32_t cap = t->cap ? t->cap * 2 : 64;
    void *tup = clew_realloc(t->tup, (size_t)cap * sizeof(*t->tup));
    uint32_t *slots = tup ? clew_calloc((size_t)cap * 2, sizeof(*slots)) : NULL;
    if (tup != NULL) {
        t->tup = tup;
    }
    if (slots == NULL) {
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < t->n; i++) {
        uint32_t h = (uint32_t)labels_hash(t->tup[i]) & (cap * 2 - 1);
        while (slots[h] != 0) {
            h = (h + 1) & (cap * 2 - 1);
        }
        slots[h] = i + 1;
    }
    clew_free(t->slots);
    t->slots = slots;
    t->mask = cap * 2 - 1;
    t->cap = cap;
    return 0;
}

static char *str_alloc(struct clew_memtable *m, size_t n);

/* Points c's labels at the memtable's copy of that tuple, made when new. */
static int intern_labels(struct clew_memtable *m, struct clew_record *c)
{
    struct labels_tab *t = &m->lt;
    if (t->n == t->cap && labels_grow(t) < 0) {
        return -ENOMEM;
    }
    uint32_t h = (uint32_t)labels_hash(c->labels) & t->mask;
    while (t->slots[h] != 0) {
        const struct clew_str *have = t->tup[t->slots[h] - 1];
        if (labels_eq(have, c->labels)) {
            memcpy(c->labels, have, sizeof(c->labels));
            return 0;
        }
        h = (h + 1) & t->mask;
    }
    size_t raw = 0;
    for (int i = 0; i < CLEW_LABEL_COUNT; i++) {
        raw += c->labels[i].len;
    }
    char *d = raw > 0 ? str_alloc(m, raw) : NULL;
    if (raw > 0 && d == NULL) {
        return -ENOMEM;
    }
    for (int i = 0; i < CLEW_LABEL_COUNT; i++) {
        size_t n = c->labels[i].len;
        if (n > 0) {
            memcpy(d, c->labels[i].ptr, n);
        }
        c->labels[i].ptr = n > 0 ? d : "";
        d = n > 0 ? d + n : d;
    }
    memcpy(t->tup[t->n], c->labels, sizeof(c->labels));
    t->slots[h] = ++t->n;
    return 0;
}

/* The ten strings of a record, in one order. */
static void strings_of(struct clew_record *c, struct clew_str *s[10])
{
    for (int i = 0; i < CLEW_LABEL_COUNT; i++) {
        s[i] = &c->labels[i];
    }
    s[5] = &c->message;
    s[6] = &c->trace_id;
    s[7] = &c->span_id;
    s[8] = &c->parent_span_id;
    s[9] = &c->fields;
}

int clew_memtable_add(struct clew_memtable *m, const struct clew_record *r)
{
    assert(!m->frozen);
    struct clew_record *c = slot(m);
    if (c == NULL) {
        return -ENOMEM;
    }
    *c = *r;
    struct clew_str *s[10];
    strings_of(c, s);
    size_t raw = 0, lab = 0;
    for (int i = 0; i < 10; i++) {
        raw += s[i]->len;
        lab += i < CLEW_LABEL_COUNT ? s[i]->len : 0;
    }
    if (intern_labels(m, c) < 0) {
        return -ENOMEM; /* the record is not added */
    }
    /* The other strings in one allocation (this is the writer's hot path). */
    char *d = raw > lab ? str_alloc(m, raw - lab) : NULL;
    if (raw > lab && d == NULL) {
        return -ENOMEM;
    }
    for (int i = CLEW_LABEL_COUNT; i < 10; i++) {
        size_t n = s[i]->len;
        if (n > 0) {
            memcpy(d, s[i]->ptr, n);
        }
        s[i]->ptr = n > 0 ? d : "";
        d = n > 0 ? d + n : d;
    }
    if (m->n == 0) {
        m->first_mono = clew_time_mono_ns();
    }
    m->n++;
    m->raw_bytes += raw;
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
    return m->str_bytes + m->nchunks * CHUNK_RECS * sizeof(struct clew_record);
}

int64_t clew_memtable_first_mono(const struct clew_memtable *m)
{
    return m->first_mono;
}

const struct clew_record *clew_memtable_get(const struct clew_memtable *m, size_t i)
{
    assert(i < m->n);
    return &m->chunks[i >> CHUNK_RECS_LOG][i & (CHUNK_RECS - 1)];
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
    memcpy(a, tmp, k * sizeof(*a));
}

void clew_memtable_freeze(struct clew_memtable *m)
{
    m->frozen = 1;
}

struct clew_record *clew_memtable_sorted(const struct clew_memtable *m)
{
    struct clew_record *out = big_alloc((m->n ? m->n : 1) * sizeof(*out));
    if (out == NULL) {
        return NULL;
    }
    int sorted = 1;
    for (size_t k = 0; k < m->nchunks; k++) {
        size_t base = k << CHUNK_RECS_LOG,
               cnt = m->n - base < CHUNK_RECS ? m->n - base : CHUNK_RECS;
        memcpy(out + base, m->chunks[k], cnt * sizeof(*out));
    }
    for (size_t i = 1; sorted && i < m->n; i++) {
        sorted = out[i - 1].ts <= out[i].ts;
    }
    if (sorted) {
        return out; /* arrived in order: no sort, no scratch */
    }
    struct clew_record *tmp = big_alloc(m->n * sizeof(*tmp));
    if (tmp == NULL) {
        clew_free(out);
        return NULL;
    }
    merge_sort(out, tmp, m->n);
    clew_free(tmp);
    return out;
}
