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
#include "common/rec_copy.h"
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
    uint32_t last; /* tuple + 1 of the previous record, 0 = none */
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

static inline uint64_t ld8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t ld4(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* A hash of a label: labels are short, so up to 16 bytes it is two
 * overlapping loads and a multiply; longer ones (container ids) go to XXH3. */
static inline uint64_t str_hash(struct clew_str s)
{
    const char *p = s.ptr;
    size_t n = s.len;
    uint64_t lo = 0, hi = 0;
    if (n > 16) {
        return XXH3_64bits(p, n);
    } else if (n >= 8) {
        lo = ld8(p);
        hi = ld8(p + n - 8);
    } else if (n >= 4) {
        lo = ld4(p);
        hi = ld4(p + n - 4);
    } else if (n > 0) {
        lo = (uint64_t)(uint8_t)p[0] | (uint64_t)(uint8_t)p[n / 2] << 8 |
             (uint64_t)(uint8_t)p[n - 1] << 16;
    }
    return (lo * 0x9E3779B97F4A7C15ULL) ^ ((hi ^ n) * 0xC2B2AE3D27D4EB4FULL);
}

static uint64_t labels_hash(const struct clew_str *l)
{
    uint64_t h = 0;
    for (int i = 0; i < CLEW_LABEL_COUNT; i++) {
        h = (h ^ str_hash(l[i])) * 0x165667B19E3779F9ULL;
        h ^= h >> 32;
    }
    h *= 0x9E3779B97F4A7C15ULL; /* the table uses the low bits */
    return h ^ (h >> 29);
}

/* memcmp(a, b, n) == 0, inline for the short strings labels are. */
static inline int bytes_eq(const char *a, const char *b, size_t n)
{
    if (n >= 8 && n <= 16) {
        return ((ld8(a) ^ ld8(b)) | (ld8(a + n - 8) ^ ld8(b + n - 8))) == 0;
    }
    if (n >= 4 && n < 8) {
        return ((ld4(a) ^ ld4(b)) | (ld4(a + n - 4) ^ ld4(b + n - 4))) == 0;
    }
    return n == 0 || memcmp(a, b, n) == 0;
}

static int labels_eq(const struct clew_str *a, const struct clew_str *b)
{
    for (int i = 0; i < CLEW_LABEL_COUNT; i++) {
        if (a[i].len != b[i].len || !bytes_eq(a[i].ptr, b[i].ptr, a[i].len)) {
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

/* Adds c's labels as a new tuple in slot h, copying their bytes. */
static int new_tuple(struct clew_memtable *m, struct clew_record *c, uint32_t h)
{
    struct labels_tab *t = &m->lt;
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
        clew_rec_memcpy(d, c->labels[i].ptr, n);
        c->labels[i].ptr = n > 0 ? d : "";
        d = n > 0 ? d + n : d;
    }
    memcpy(t->tup[t->n], c->labels, sizeof(c->labels));
    t->slots[h] = ++t->n;
    t->last = t->n;
    return 0;
}

/* Points c's labels at the memtable's copy of that tuple, made when new. */
static int intern_labels(struct clew_memtable *m, struct clew_record *c)
{
    struct labels_tab *t = &m->lt;
    /* Records come in runs of one stream (a Forward message, a TCP peer's
     * read): try the previous record's tuple before hashing. */
    if (t->last != 0 && labels_eq(t->tup[t->last - 1], c->labels)) {
        memcpy(c->labels, t->tup[t->last - 1], sizeof(c->labels));
        return 0;
    }
    if (t->n == t->cap && labels_grow(t) < 0) {
        return -ENOMEM;
    }
    uint32_t h = (uint32_t)labels_hash(c->labels) & t->mask;
    while (t->slots[h] != 0) {
        const struct clew_str *have = t->tup[t->slots[h] - 1];
        if (labels_eq(have, c->labels)) {
            memcpy(c->labels, have, sizeof(c->labels));
            t->last = t->slots[h];
            return 0;
        }
        h = (h + 1) & t->mask;
    }
    return new_tuple(m, c, h);
}

/* Copies one of c's strings to d; returns the end of the copy. */
static char *copy_str(struct clew_str *s, char *d)
{
    size_t n = s->len;
    if (n == 0) {
        s->ptr = "";
        return d;
    }
    clew_rec_memcpy(d, s->ptr, n);
    s->ptr = d;
    return d + n;
}

int clew_memtable_add(struct clew_memtable *m, const struct clew_record *r)
{
    assert(!m->frozen);
    struct clew_record *c = slot(m);
    if (c == NULL) {
        return -ENOMEM;
    }
    *c = *r;
    size_t lab = 0;
    for (int i = 0; i < CLEW_LABEL_COUNT; i++) {
        lab += c->labels[i].len;
    }
    size_t body =
        c->message.len + c->trace_id.len + c->span_id.len + c->parent_span_id.len + c->fields.len;
    if (intern_labels(m, c) < 0) {
        return -ENOMEM; /* the record is not added */
    }
    /* The other strings in one allocation (this is the writer's hot path). */
    char *d = body > 0 ? str_alloc(m, body) : NULL;
    if (body > 0 && d == NULL) {
        return -ENOMEM;
    }
    d = copy_str(&c->message, d);
    d = copy_str(&c->trace_id, d);
    d = copy_str(&c->span_id, d);
    d = copy_str(&c->parent_span_id, d);
    copy_str(&c->fields, d);
    if (m->n == 0) {
        m->first_mono = clew_time_mono_ns();
    }
    m->n++;
    m->raw_bytes += lab + body;
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

/* A record's sort key: its time and arrival index. */
struct sort_key {
    int64_t ts;
    size_t i;
};

/* Merge sort of the keys on ts: stable, O(n log n) worst case, and fast on
 * the nearly sorted input that log streams are. The keys are 16 bytes, not
 * the records' 176: each level of the merge moves a tenth of the memory. */
static void merge_sort(struct sort_key *a, struct sort_key *tmp, size_t n)
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
    memcpy(a, tmp, (size_t)k * sizeof(*a)); /* a[j..n) is in place already */
}

void clew_memtable_freeze(struct clew_memtable *m)
{
    m->frozen = 1;
}

/* Copies the records, in arrival order, to out. */
static void copy_all(const struct clew_memtable *m, struct clew_record *out)
{
    for (size_t k = 0; k < m->nchunks; k++) {
        size_t base = k << CHUNK_RECS_LOG,
               cnt = m->n - base < CHUNK_RECS ? m->n - base : CHUNK_RECS;
        memcpy(out + base, m->chunks[k], cnt * sizeof(*out));
    }
}

/* Sorts the keys of the records, then copies each record once, in order. */
static int sort_into(const struct clew_memtable *m, struct clew_record *out)
{
    struct sort_key *keys = big_alloc(2 * m->n * sizeof(*keys));
    if (keys == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->n; i++) {
        keys[i] = (struct sort_key){ clew_memtable_get(m, i)->ts, i };
    }
    merge_sort(keys, keys + m->n, m->n);
    for (size_t i = 0; i < m->n; i++) {
        out[i] = *clew_memtable_get(m, keys[i].i);
    }
    clew_free(keys);
    return 0;
}

struct clew_record *clew_memtable_sorted(const struct clew_memtable *m)
{
    struct clew_record *out = big_alloc((m->n ? m->n : 1) * sizeof(*out));
    if (out == NULL) {
        return NULL;
    }
    int sorted = 1;
    for (size_t i = 1; sorted && i < m->n; i++) {
        sorted = clew_memtable_get(m, i - 1)->ts <= clew_memtable_get(m, i)->ts;
    }
    if (sorted) {
        copy_all(m, out); /* arrived in order: no sort, no scratch */
        return out;
    }
    if (sort_into(m, out) < 0) {
        clew_free(out);
        return NULL;
    }
    return out;
}
