/* SPDX-License-Identifier: MIT
 * seg_writer: builds a whole segment image in memory, then writes it
 * atomically (tmp file, fsync, rename, fsync of the directory).
 *
 * The byte layout is in docs/FORMAT.md. In short: a 32-byte header, then for
 * each block its six columns (time, labels, meta, ids, message, fields),
 * each one zstd frame per stream, then the footer (a zstd frame holding the
 * block directory and the label dictionaries, followed by the uncompressed,
 * bucketed trace index), then a fixed 56-byte tail that locates the footer.
 *
 * Work per call: one pass assigns label dictionary ids (hash table per
 * label, with a one-entry cache since neighbouring records mostly share
 * labels), then each block's columns are encoded into reused buffers (ids
 * through a move-to-front list of triples, message and fields through the
 * template codec of common/seg_text.c) and compressed with one ZSTD_CCtx
 * straight into the file image. Trace ids are hashed into 64-bit sort keys
 * (top 40 hash bits | block number) that a radix sort orders for the index. */
#include "collector/seg_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#define XXH_INLINE_ALL /* short keys (labels, ids): inlined XXH3 is several times faster */
#include <xxhash.h>
#include <zstd_errors.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/rec_codec.h"
#include "common/rec_copy.h"
#include "common/seg_text.h"

/* Defaults, measured on ~310-byte loghub-based records (bench/storage):
 * the template codec leaves zstd short streams, so level 3 costs about what
 * level 1 does and saves ~4 % (level 5: another 3 % for ~25 % more sealing
 * CPU; level 7: 5 % for ~45 %). 16384 records / 4 MiB per block keeps the
 * column templates shared by enough records (8192 costs 10 % more bytes)
 * and a trace lookup's block read near a millisecond. */
#define DEFAULT_BLOCK_RECORDS 16384u
#define DEFAULT_BLOCK_BYTES   (4u << 20)
#define DEFAULT_ZSTD_LEVEL    3

#define PTR_CACHE 64u /* label address cache entries (a power of two) */

#define TRACE_BUCKET_TARGET 64u /* (id, block) pairs per bucket, on average    */
#define TRACE_FP_EXTRA      10u /* fingerprint bits beyond log2(bucket size)    */
#define TRACE_KEY_BITS      40u /* hash bits kept in a sort key                 */
#define TRACE_BLOCK_MASK    ((1ull << 24) - 1)

struct dict {
    struct clew_str *vals; /* provisional id -> value (first appearance) */
    uint32_t n;
    uint32_t cap;
    uint32_t *slots; /* open addressing: provisional id + 1, 0 = empty */
    uint32_t nslots; /* a power of two, at least 2 * cap              */
    uint32_t *rank;  /* provisional id -> sorted (stored) id           */
    uint32_t *seen;  /* stored id -> 1 + last block that used it       */
};

/* The distinct non-empty ids of one block, in order of first use, so that a
 * repeated id is stored as a short back-reference. */
struct idtab {
    struct clew_str *strs;
    uint32_t n;
    uint32_t *slots; /* index + 1, 0 = empty */
    uint32_t mask;
};

/* One block's distinct id triples (trace, span, parent) and their
 * move-to-front list. */
struct trips {
    uint32_t *slots; /* triple + 1, 0 = empty           */
    uint32_t mask;
    uint32_t *rec; /* triple -> a record that has it  */
    uint32_t n;
    uint32_t mtf[CLEW_SEG_IDS_MTF];
    uint32_t nmtf;
};

struct wr {
    const char *path;
    const struct clew_record *recs;
    size_t n;
    const struct clew_seg_opts *opts;
    ZSTD_CCtx *cctx;
    struct clew_buf file;                /* the whole file image          */
    struct clew_buf col[CLEW_SEG_NCOLS]; /* raw columns of one block      */
    struct clew_buf scratch;             /* id payloads of one block      */
    struct clew_buf dir;                 /* footer: block directory       */
    struct dict dict[CLEW_LABEL_COUNT];
    uint32_t *ids;     /* n * CLEW_LABEL_COUNT provisional label ids   */
    uint32_t *sid;     /* n stream ids                                 */
    uint32_t *streams; /* stream -> CLEW_LABEL_COUNT stored label ids  */
    uint32_t nstreams;
    uint32_t scap;
    uint32_t *sslots; /* stream hash table: stream + 1, 0 = empty     */
    uint32_t nsslots;
    uint32_t *sseen; /* stream -> 1 + last block that used it        */
    uint64_t *keys;  /* trace index sort keys                        */
    size_t nkeys;
    size_t bmax;                      /* most records a block can hold                */
    uint32_t *sets[CLEW_LABEL_COUNT]; /* one block's label sets        */
    size_t nset[CLEW_LABEL_COUNT];
    uint32_t *perm;    /* one block: column position -> record         */
    uint32_t *svc_cnt; /* scratch per service id, kept zeroed          */
    struct idtab idt;
    struct trips trips;
    struct clew_seg_text_enc text[2]; /* message, fields */
    size_t nblocks;
    struct clew_seg_info info;
    char *err;
};

void clew_seg_opts_default(struct clew_seg_opts *opts)
{
    opts->zstd_level = DEFAULT_ZSTD_LEVEL;
    opts->block_records = DEFAULT_BLOCK_RECORDS;
    opts->block_bytes = DEFAULT_BLOCK_BYTES;
}

static int fail(struct wr *w, int rc, const char *what)
{
    snprintf(w->err, CLEW_ERR_LEN, "%s: %s: %s", w->path, what, clew_strerror(rc));
    return rc;
}

/* Writes a varint at p (room for 10 bytes); returns the bytes written. */
static inline size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static inline uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int str_eq(struct clew_str a, struct clew_str b)
{
    return a.len == b.len && (a.ptr == b.ptr || a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int str_cmp(struct clew_str a, struct clew_str b)
{
    size_t m = a.len < b.len ? a.len : b.len;
    int c = m ? memcmp(a.ptr, b.ptr, m) : 0;
    if (c != 0) {
        return c;
    }
    return a.len < b.len ? -1 : a.len > b.len;
}

/* ---- label dictionaries ---- */

static void dict_free(struct dict *d)
{
    clew_free(d->vals);
    clew_free(d->slots);
    clew_free(d->rank);
    clew_free(d->seen);
    memset(d, 0, sizeof(*d));
}

static int dict_grow(struct dict *d)
{
    uint32_t cap = d->cap ? d->cap * 2 : 64;
    struct clew_str *v = clew_realloc(d->vals, (size_t)cap * sizeof(*v));
    if (v == NULL) {
        return -ENOMEM;
    }
    d->vals = v;
    uint32_t *slots = clew_calloc((size_t)cap * 2, sizeof(*slots));
    if (slots == NULL) {
        return -ENOMEM;
    }
    for (uint32_t id = 0; id < d->n; id++) {
        uint32_t h = (uint32_t)XXH3_64bits(v[id].ptr, v[id].len) & (cap * 2 - 1);
        while (slots[h] != 0) {
            h = (h + 1) & (cap * 2 - 1);
        }
        slots[h] = id + 1;
    }
    clew_free(d->slots);
    d->slots = slots;
    d->nslots = cap * 2;
    d->cap = cap;
    return 0;
}

/* Finds or adds s; *id receives its provisional id. */
static int dict_id(struct dict *d, struct clew_str s, uint32_t *id)
{
    if (d->n == d->cap) {
        int rc = dict_grow(d);
        if (rc < 0) {
            return rc;
        }
    }
    uint32_t mask = d->nslots - 1;
    uint32_t h = (uint32_t)XXH3_64bits(s.ptr, s.len) & mask;
    while (d->slots[h] != 0) {
        if (str_eq(d->vals[d->slots[h] - 1], s)) {
            *id = d->slots[h] - 1;
            return 0;
        }
        h = (h + 1) & mask;
    }
    d->vals[d->n] = s;
    d->slots[h] = ++d->n;
    *id = d->n - 1;
    return 0;
}

struct sort_ent {
    struct clew_str s;
    uint32_t id;
};

static int sort_ent_cmp(const void *a, const void *b)
{
    return str_cmp(((const struct sort_ent *)a)->s, ((const struct sort_ent *)b)->s);
}

/* Sorts the dictionary: vals becomes stored order, rank maps old ids. */
static int dict_sort(struct dict *d)
{
    struct sort_ent *e = clew_malloc((size_t)d->n * sizeof(*e) + 1);
    d->rank = clew_malloc((size_t)d->n * sizeof(uint32_t) + 1);
    d->seen = clew_calloc((size_t)d->n + 1, sizeof(uint32_t));
    if (e == NULL || d->rank == NULL || d->seen == NULL) {
        clew_free(e);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < d->n; i++) {
        e[i].s = d->vals[i];
        e[i].id = i;
    }
    qsort(e, d->n, sizeof(*e), sort_ent_cmp);
    for (uint32_t i = 0; i < d->n; i++) {
        d->rank[e[i].id] = i;
    }
    /* seen stays indexed by provisional id; vals is now in stored order. */
    for (uint32_t i = 0; i < d->n; i++) {
        d->vals[i] = e[i].s;
    }
    clew_free(e);
    return 0;
}

/* A label's provisional id by the address of its bytes: the memtable gives
 * the records of one stream the same label copies, so most lookups end here
 * without hashing or comparing the text. Same address and length, same
 * text (the records are not modified during the call). */
struct ptr_cache {
    const char *ptr[PTR_CACHE];
    size_t len[PTR_CACHE];
    uint32_t id[PTR_CACHE];
};

static inline unsigned ptr_slot(const char *p)
{
    uint64_t v = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ull;
    return (unsigned)(v >> 58) & (PTR_CACHE - 1);
}

/* Provisional label ids of record j; last/last_id cache the previous
 * record's labels, which neighbours mostly share. */
static int label_ids(struct wr *w, size_t j, struct clew_str *last, uint32_t *last_id,
                     struct ptr_cache *pc)
{
    for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
        struct clew_str s = w->recs[j].labels[l];
        if (last_id[l] == UINT32_MAX || !str_eq(s, last[l])) {
            unsigned k = ptr_slot(s.ptr);
            if (s.len > 0 && pc[l].ptr[k] == s.ptr && pc[l].len[k] == s.len) {
                last_id[l] = pc[l].id[k];
            } else {
                int rc = dict_id(&w->dict[l], s, &last_id[l]);
                if (rc < 0) {
                    return rc;
                }
                pc[l].ptr[k] = s.ptr;
                pc[l].len[k] = s.len;
                pc[l].id[k] = last_id[l];
            }
            last[l] = s;
        }
        w->ids[j * CLEW_LABEL_COUNT + (size_t)l] = last_id[l];
    }
    return 0;
}

static int build_dicts(struct wr *w)
{
    w->ids = clew_malloc(w->n * CLEW_LABEL_COUNT * sizeof(uint32_t));
    if (w->ids == NULL) {
        return fail(w, -ENOMEM, "label ids");
    }
    struct clew_str last[CLEW_LABEL_COUNT];
    uint32_t last_id[CLEW_LABEL_COUNT];
    struct ptr_cache *pc = clew_calloc(CLEW_LABEL_COUNT, sizeof(*pc));
    if (pc == NULL) {
        return fail(w, -ENOMEM, "label ids");
    }
    for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
        last_id[l] = UINT32_MAX;
    }
    for (size_t j = 0; j < w->n; j++) {
        if (label_ids(w, j, last, last_id, pc) < 0) {
            clew_free(pc);
            return fail(w, -ENOMEM, "label dictionary");
        }
    }
    clew_free(pc);
    for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
        if (dict_sort(&w->dict[l]) < 0) {
            return fail(w, -ENOMEM, "label dictionary");
        }
    }
    return 0;
}

/* ---- streams: distinct label tuples ---- */

static uint32_t tuple_hash(const uint32_t *t)
{
    return (uint32_t)XXH3_64bits(t, CLEW_LABEL_COUNT * sizeof(*t));
}

static int stream_grow(struct wr *w)
{
    uint32_t cap = w->scap ? w->scap * 2 : 64;
    uint32_t *st = clew_realloc(w->streams, (size_t)cap * CLEW_LABEL_COUNT * sizeof(*st));
    if (st == NULL) {
        return -ENOMEM;
    }
    w->streams = st;
    uint32_t *slots = clew_calloc((size_t)cap * 2, sizeof(*slots));
    if (slots == NULL) {
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < w->nstreams; i++) {
        uint32_t h = tuple_hash(st + (size_t)i * CLEW_LABEL_COUNT) & (cap * 2 - 1);
        while (slots[h] != 0) {
            h = (h + 1) & (cap * 2 - 1);
        }
        slots[h] = i + 1;
    }
    clew_free(w->sslots);
    w->sslots = slots;
    w->nsslots = cap * 2;
    w->scap = cap;
    return 0;
}

/* Finds or adds the stream with stored label ids t. */
static int stream_id(struct wr *w, const uint32_t *t, uint32_t *out)
{
    if (w->nstreams == w->scap && stream_grow(w) < 0) {
        return -ENOMEM;
    }
    const size_t tsize = CLEW_LABEL_COUNT * sizeof(*t);
    uint32_t mask = w->nsslots - 1, h = tuple_hash(t) & mask;
    while (w->sslots[h] != 0) {
        uint32_t id = w->sslots[h] - 1;
        if (memcmp(w->streams + (size_t)id * CLEW_LABEL_COUNT, t, tsize) == 0) {
            *out = id;
            return 0;
        }
        h = (h + 1) & mask;
    }
    memcpy(w->streams + (size_t)w->nstreams * CLEW_LABEL_COUNT, t, tsize);
    w->sslots[h] = ++w->nstreams;
    *out = w->nstreams - 1;
    return 0;
}

static int build_streams(struct wr *w)
{
    w->sid = clew_malloc(w->n * sizeof(*w->sid));
    if (w->sid == NULL) {
        return fail(w, -ENOMEM, "streams");
    }
    const size_t tsize = CLEW_LABEL_COUNT * sizeof(uint32_t);
    uint32_t t[CLEW_LABEL_COUNT], cur = 0;
    for (size_t j = 0; j < w->n; j++) {
        const uint32_t *p = w->ids + j * CLEW_LABEL_COUNT;
        if (j == 0 || memcmp(p, p - CLEW_LABEL_COUNT, tsize) != 0) {
            for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
                t[l] = w->dict[l].rank[p[l]];
            }
            if (stream_id(w, t, &cur) < 0) {
                return fail(w, -ENOMEM, "streams");
            }
        }
        w->sid[j] = cur;
    }
    w->sseen = clew_calloc((size_t)w->nstreams + 1, sizeof(*w->sseen));
    w->svc_cnt = clew_calloc((size_t)w->dict[CLEW_LABEL_SERVICE].n + 1, sizeof(*w->svc_cnt));
    if (w->sseen == NULL || w->svc_cnt == NULL) {
        return fail(w, -ENOMEM, "streams");
    }
    return 0;
}

static unsigned id_width(uint32_t n)
{
    return n <= 256 ? 1 : n <= 65536 ? 2 : 4;
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Adds the label ids of stream st to the block's label sets. */
static void add_stream_labels(struct wr *w, uint32_t st, uint32_t mark)
{
    for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
        uint32_t id = w->streams[(size_t)st * CLEW_LABEL_COUNT + (size_t)l];
        if (w->dict[l].seen[id] != mark) {
            w->dict[l].seen[id] = mark;
            w->sets[l][w->nset[l]++] = id;
        }
    }
}

/* The block's label sets (sorted stored ids per label). */
static void block_sets(struct wr *w, size_t a, size_t b, uint32_t mark)
{
    memset(w->nset, 0, sizeof(w->nset));
    for (size_t j = a; j < b; j++) {
        uint32_t st = w->sid[j];
        if (w->sseen[st] != mark) {
            w->sseen[st] = mark;
            add_stream_labels(w, st, mark);
        }
    }
    for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
        qsort(w->sets[l], w->nset[l], sizeof(uint32_t), u32_cmp);
    }
}

static uint32_t service_of(const struct wr *w, size_t j)
{
    return w->streams[(size_t)w->sid[j] * CLEW_LABEL_COUNT + CLEW_LABEL_SERVICE];
}

/* perm: the block's records grouped by service id, stable (a counting sort
 * over the block's service set), the order of the message and fields
 * columns: records of one service share templates, so zstd finds more. */
static void block_perm(struct wr *w, size_t a, size_t b)
{
    uint32_t *cnt = w->svc_cnt;
    const uint32_t *set = w->sets[CLEW_LABEL_SERVICE];
    size_t k = w->nset[CLEW_LABEL_SERVICE];
    for (size_t j = a; j < b; j++) {
        cnt[service_of(w, j)]++;
    }
    uint32_t pos = 0;
    for (size_t i = 0; i < k; i++) {
        uint32_t c = cnt[set[i]];
        cnt[set[i]] = pos;
        pos += c;
    }
    for (size_t j = a; j < b; j++) {
        w->perm[cnt[service_of(w, j)]++] = (uint32_t)(j - a);
    }
    for (size_t i = 0; i < k; i++) {
        cnt[set[i]] = 0;
    }
}

/* ---- columns ---- */

/* time: the deltas ts[j] - ts[j-1] (ts[-1] = min_ts) as u64, byte-transposed:
 * all low bytes, then all second bytes, ... With sorted input the high
 * planes are zeros and the low ones raw entropy, which zstd codes well. */
static int col_time(struct wr *w, size_t a, size_t b, int64_t min_ts)
{
    struct clew_buf *c = &w->col[0];
    size_t k = b - a;
    c->len = 0;
    if (clew_buf_reserve(c, k * 8) < 0) {
        return -ENOMEM;
    }
    uint8_t *p = c->data;
    uint64_t prev = (uint64_t)min_ts;
    for (size_t j = 0; j < k; j++) {
        uint64_t d = (uint64_t)w->recs[a + j].ts - prev;
        prev += d;
        for (unsigned q = 0; q < 8; q++) {
            p[q * k + j] = (uint8_t)(d >> (8 * q));
        }
    }
    c->len = 8 * k;
    return 0;
}

static int col_labels(struct wr *w, size_t a, size_t b)
{
    struct clew_buf *c = &w->col[1];
    unsigned width = id_width(w->nstreams);
    c->len = 0;
    if (clew_buf_reserve(c, (b - a) * width) < 0) {
        return -ENOMEM;
    }
    uint8_t *p = c->data;
    for (size_t j = a; j < b; j++) {
        uint32_t id = w->sid[j];
        if (width == 1) {
            *p++ = (uint8_t)id;
        } else if (width == 2) {
            clew_store_u16(p, (uint16_t)id);
            p += 2;
        } else {
            clew_store_u32(p, id);
            p += 4;
        }
    }
    c->len = (size_t)(p - c->data);
    return 0;
}

static int col_meta(struct wr *w, size_t a, size_t b)
{
    struct clew_buf *c = &w->col[2];
    size_t k = b - a;
    c->len = 0;
    if (clew_buf_reserve(c, k * 4) < 0) {
        return -ENOMEM;
    }
    for (size_t j = 0; j < k; j++) {
        const struct clew_record *r = &w->recs[a + j];
        c->data[j] = r->level;
        c->data[k + j] = r->input;
        clew_store_u16(c->data + 2 * k + 2 * j, r->flags);
    }
    c->len = 4 * k;
    return 0;
}

/* Nibble value of a lowercase hex digit; 255 for any other byte. */
static const uint8_t hexval[256] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0,   1,   2,   3,   4,   5,   6,   7,   8,
    9,   255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 10,  11,  12,  13,  14,  15,  255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255
};

static int idtab_init(struct idtab *t, size_t max)
{
    size_t slots = 64;
    while (slots < 2 * max) {
        slots *= 2;
    }
    t->strs = clew_malloc(max * sizeof(*t->strs) + 1);
    t->slots = clew_calloc(slots, sizeof(*t->slots));
    t->mask = (uint32_t)(slots - 1);
    t->n = 0;
    return t->strs == NULL || t->slots == NULL ? -ENOMEM : 0;
}

static int trips_init(struct trips *t, size_t max)
{
    size_t slots = 64;
    while (slots < 2 * max) {
        slots *= 2;
    }
    t->rec = clew_malloc(max * sizeof(*t->rec) + 1);
    t->slots = clew_calloc(slots, sizeof(*t->slots));
    t->mask = (uint32_t)(slots - 1);
    return t->rec == NULL || t->slots == NULL ? -ENOMEM : 0;
}

static void idtab_reset(struct idtab *t)
{
    memset(t->slots, 0, ((size_t)t->mask + 1) * sizeof(*t->slots));
    t->n = 0;
}

/* Index of s among the block's distinct ids; UINT32_MAX (and s is added)
 * when it is new. */
static uint32_t idtab_find_add(struct idtab *t, struct clew_str s)
{
    uint32_t h = (uint32_t)XXH3_64bits(s.ptr, s.len) & t->mask;
    while (t->slots[h] != 0) {
        uint32_t i = t->slots[h] - 1;
        if (str_eq(t->strs[i], s)) {
            return i;
        }
        h = (h + 1) & t->mask;
    }
    t->strs[t->n] = s;
    t->slots[h] = ++t->n;
    return UINT32_MAX;
}

/* One id: its header varint at hdr, its payload at pay (room for s.len
 * bytes). A repeat of one of the block's earlier ids is a back-reference;
 * valid lowercase hex of even length is stored as binary; anything else
 * verbatim. Returns the header's size. */
static size_t put_id(struct idtab *t, uint8_t *hdr, uint8_t *pay, struct clew_str s, size_t *paylen)
{
    *paylen = 0;
    if (s.len == 0) {
        return put_varint(hdr, CLEW_SEG_ID_VERBATIM);
    }
    if (s.len <= CLEW_SEG_MAX_REF_ID) {
        uint32_t i = idtab_find_add(t, s);
        if (i != UINT32_MAX) {
            return put_varint(hdr, (uint64_t)(t->n - i) << 2 | CLEW_SEG_ID_REF);
        }
    }
    if (!(s.len & 1)) {
        const uint8_t *p = (const uint8_t *)s.ptr;
        size_t n = s.len / 2;
        unsigned acc = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned hi = hexval[p[2 * i]], lo = hexval[p[2 * i + 1]];
            acc |= hi | lo;
            pay[i] = (uint8_t)(hi << 4 | lo);
        }
        if (acc < 16) {
            *paylen = n;
            return put_varint(hdr, (uint64_t)n << 2 | CLEW_SEG_ID_HEX);
        }
    }
    memcpy(pay, s.ptr, s.len);
    *paylen = s.len;
    return put_varint(hdr, (uint64_t)s.len << 2 | CLEW_SEG_ID_VERBATIM);
}

static uint64_t trip_hash(const struct clew_record *r)
{
    uint64_t h = XXH3_64bits(r->trace_id.ptr, r->trace_id.len);
    h = XXH3_64bits_withSeed(r->span_id.ptr, r->span_id.len, h);
    return XXH3_64bits_withSeed(r->parent_span_id.ptr, r->parent_span_id.len, h);
}

static int trip_eq(const struct clew_record *x, const struct clew_record *y)
{
    return str_eq(x->trace_id, y->trace_id) && str_eq(x->span_id, y->span_id) &&
           str_eq(x->parent_span_id, y->parent_span_id);
}

/* The block's number of the id triple of record j (added when new); *fresh
 * says whether it was. */
static uint32_t trip_find_add(struct wr *w, size_t j, int *fresh)
{
    struct trips *t = &w->trips;
    uint32_t h = (uint32_t)trip_hash(&w->recs[j]) & t->mask;
    while (t->slots[h] != 0) {
        uint32_t i = t->slots[h] - 1;
        if (trip_eq(&w->recs[t->rec[i]], &w->recs[j])) {
            *fresh = 0;
            return i;
        }
        h = (h + 1) & t->mask;
    }
    t->rec[t->n] = (uint32_t)j;
    t->slots[h] = ++t->n;
    *fresh = 1;
    return t->n - 1;
}

/* Whether fields f[0..n) may hold "link_id": the pair "k_" is rare in
 * fields, so a 16-byte scan for it spares clew_rec_link_id's walk over
 * every quote of nearly every record. */
static int may_link(const char *f, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i k = _mm_set1_epi8('k'), u = _mm_set1_epi8('_');
    for (; i + 17 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(f + i));
        __m128i y = _mm_loadu_si128((const __m128i *)(const void *)(f + i + 1));
        if (_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(x, k), _mm_cmpeq_epi8(y, u))) != 0) {
            return 1;
        }
    }
#endif
    for (; i + 1 < n; i++) {
        if (f[i] == 'k' && f[i + 1] == '_') {
            return 1;
        }
    }
    return 0;
}

/* Adds the trace index key of hash h in the current block: the top hash
 * bits | the block number. Keys are sorted and deduplicated at the end, so
 * their order and repeats do not matter. */
static inline void add_key(struct wr *w, uint64_t h)
{
    w->keys[w->nkeys++] = (h & ~TRACE_BLOCK_MASK) | (uint32_t)w->nblocks;
}

/* A record that links its trace to another id is found by that id too,
 * under the link hash (rare: about one record a request). */
static void link_key(struct wr *w, const struct clew_record *r)
{
    struct clew_str link;
    if (r->fields.len > 0 && may_link(r->fields.ptr, r->fields.len) && clew_rec_link_id(r, &link)) {
        add_key(w, clew_seg_link_hash(link.ptr, link.len));
    }
}

/* Moves triple i to the front of the move-to-front list; returns its rank
 * before the move, or CLEW_SEG_IDS_MTF when it was not in the list. */
/* Position of i in the move-to-front list, or t->nmtf when absent. The
 * list is long and ranks are high: 8 entries at a time. */
static uint32_t mtf_find(const struct trips *t, uint32_t i)
{
    uint32_t k = 0;
#if defined(__SSE2__)
    const __m128i v = _mm_set1_epi32((int)i);
    for (; k + 8 <= t->nmtf; k += 8) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(t->mtf + k));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(t->mtf + k + 4));
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_packs_epi32(_mm_cmpeq_epi32(a, v), _mm_cmpeq_epi32(b, v)));
        if (m != 0) {
            return k + (unsigned)__builtin_ctz(m) / 2;
        }
    }
#endif
    while (k < t->nmtf && t->mtf[k] != i) {
        k++;
    }
    return k;
}

static uint32_t mtf_use(struct trips *t, uint32_t i)
{
    uint32_t k = mtf_find(t, i);
    uint32_t rank = k < t->nmtf ? k : CLEW_SEG_IDS_MTF;
    if (k == t->nmtf && t->nmtf < CLEW_SEG_IDS_MTF) {
        t->nmtf++;
    }
    k = k < CLEW_SEG_IDS_MTF ? k : CLEW_SEG_IDS_MTF - 1;
    memmove(t->mtf + 1, t->mtf, k * sizeof(*t->mtf));
    t->mtf[0] = i;
    return rank;
}

/* ids: per record one header: 0 no ids; 2k+1 the triple of rank k in the
 * move-to-front list of the block's triples; 2 a new triple whose three
 * ids follow (verbatim, packed hex, or a reference to an earlier id).
 * Headers in stream 0 (w->col[3]), id payloads in stream 1 (w->scratch). */
static int col_ids(struct wr *w, size_t a, size_t b)
{
    struct clew_buf *c = &w->col[3], *sc = &w->scratch;
    size_t pay = 0;
    c->len = 0;
    sc->len = 0;
    for (size_t j = a; j < b; j++) {
        pay += w->recs[j].trace_id.len + w->recs[j].span_id.len + w->recs[j].parent_span_id.len;
    }
    if (clew_buf_reserve(c, (b - a) * 35) < 0 || clew_buf_reserve(sc, pay) < 0) {
        return -ENOMEM;
    }
    idtab_reset(&w->idt);
    memset(w->trips.slots, 0, ((size_t)w->trips.mask + 1) * sizeof(uint32_t));
    w->trips.n = w->trips.nmtf = 0;
    uint8_t *p = c->data, *q = sc->data;
    for (size_t j = a; j < b; j++) {
        const struct clew_record *r = &w->recs[j];
        if ((r->trace_id.len | r->span_id.len | r->parent_span_id.len) == 0) {
            *p++ = 0;
            continue;
        }
        int fresh;
        uint32_t rank = mtf_use(&w->trips, trip_find_add(w, j, &fresh));
        if (!fresh && rank < CLEW_SEG_IDS_MTF) {
            p += put_varint(p, 2 * (uint64_t)rank + 1);
            continue;
        }
        *p++ = 2;
        if (fresh && r->trace_id.len > 0) { /* the block's trace ids, while they are in cache */
            add_key(w, clew_seg_trace_hash(r->trace_id.ptr, r->trace_id.len));
        }
        const struct clew_str ids[3] = { r->trace_id, r->span_id, r->parent_span_id };
        for (int k = 0; k < 3; k++) {
            size_t n;
            p += put_id(&w->idt, p, q, ids[k], &n);
            q += n;
        }
    }
    c->len = (size_t)(p - c->data);
    sc->len = (size_t)(q - sc->data);
    /* Readers expand hex payloads to twice their size, within the column limit. */
    return sc->len > CLEW_SEG_MAX_COLUMN / 2 ? CLEW_ETOOBIG : 0;
}

/* message and fields, in perm order, through the template codec
 * (common/seg_text.h): one pass feeds both columns. */
static int col_strings(struct wr *w, size_t a, size_t b)
{
    clew_seg_text_enc_reset(&w->text[0]);
    clew_seg_text_enc_reset(&w->text[1]);
    for (size_t i = 0; i < b - a; i++) {
        /* perm order jumps around memory: fetch records and strings early */
        if (i + 16 < b - a) {
            __builtin_prefetch(&w->recs[a + w->perm[i + 16]]);
            __builtin_prefetch((const char *)&w->recs[a + w->perm[i + 16]] + 64);
            __builtin_prefetch((const char *)&w->recs[a + w->perm[i + 16]] + 128);
        }
        if (i + 8 < b - a) {
            const struct clew_record *f = &w->recs[a + w->perm[i + 8]];
            __builtin_prefetch(f->message.ptr);
            if (f->message.len > 64) {
                __builtin_prefetch(f->message.ptr + 64);
            }
            __builtin_prefetch(f->fields.ptr);
        }
        const struct clew_record *r = &w->recs[a + w->perm[i]];
        const struct clew_str ids[3] = { r->trace_id, r->span_id, r->parent_span_id };
        if (clew_seg_text_enc_add(&w->text[0], r->message.ptr, r->message.len, ids) < 0 ||
            clew_seg_text_enc_add(&w->text[1], r->fields.ptr, r->fields.len, ids) < 0) {
            return -ENOMEM;
        }
        link_key(w, r);
    }
    for (int k = 0; k < CLEW_SEG_TEXT_NSTREAMS; k++) {
        if (w->text[0].s[k].len > CLEW_SEG_MAX_COLUMN ||
            w->text[1].s[k].len > CLEW_SEG_MAX_COLUMN) {
            return CLEW_ETOOBIG;
        }
    }
    return 0;
}

/* The streams of column c (clew_seg_col_frames(c) of them). */
static size_t col_streams(struct wr *w, unsigned c, const struct clew_buf *out[4])
{
    if (c == 3) {
        out[0] = &w->col[3];
        out[1] = &w->scratch;
    } else if (c >= 4) {
        for (int k = 0; k < CLEW_SEG_TEXT_NSTREAMS; k++) {
            out[k] = &w->text[c - 4].s[k];
        }
    } else {
        out[0] = &w->col[c];
    }
    return clew_seg_col_frames(c);
}

/* Compresses column c (one zstd frame per stream) into the file image and
 * describes it in the directory. */
static int put_column(struct wr *w, unsigned c)
{
    const struct clew_buf *src[4];
    size_t ns = col_streams(w, c, src), start = w->file.len, rlen = 0;
    for (size_t k = 0; k < ns; k++) {
        rlen += src[k]->len;
        size_t bound = ZSTD_compressBound(src[k]->len);
        if (rlen > CLEW_SEG_MAX_COLUMN) {
            return fail(w, CLEW_ETOOBIG, clew_seg_col_name(c));
        }
        if (clew_buf_reserve(&w->file, bound) < 0) {
            return fail(w, -ENOMEM, "file image");
        }
        uint8_t *dst = w->file.data + w->file.len;
        size_t n =
            ZSTD_compress2(w->cctx, dst, bound, src[k]->data ? src[k]->data : dst, src[k]->len);
        if (ZSTD_isError(n)) {
            int rc = ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? -ENOMEM : -EIO;
            return fail(w, rc, ZSTD_getErrorName(n));
        }
        w->file.len += n;
    }
    uint8_t t[24];
    size_t k = put_varint(t, w->file.len - start);
    k += put_varint(t + k, rlen);
    clew_store_u32(t + k, clew_seg_checksum(w->file.data + start, w->file.len - start));
    if (clew_buf_append(&w->dir, t, k + 4) < 0) {
        return fail(w, -ENOMEM, "directory");
    }
    return 0;
}

/* The block's label sets into the directory: count, then id deltas. */
static int put_label_sets(struct wr *w)
{
    for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
        const uint32_t *set = w->sets[l];
        if (clew_buf_put_varint(&w->dir, w->nset[l]) < 0) {
            return -ENOMEM;
        }
        for (size_t i = 0; i < w->nset[l]; i++) {
            if (clew_buf_put_varint(&w->dir, set[i] - (i ? set[i - 1] : 0)) < 0) {
                return -ENOMEM;
            }
        }
    }
    return 0;
}

static int write_block(struct wr *w, size_t a, size_t b, uint64_t raw)
{
    int64_t min_ts = w->recs[a].ts, max_ts = min_ts;
    for (size_t j = a + 1; j < b; j++) {
        int64_t ts = w->recs[j].ts;
        min_ts = ts < min_ts ? ts : min_ts;
        max_ts = ts > max_ts ? ts : max_ts;
    }
    block_sets(w, a, b, (uint32_t)w->nblocks + 1);
    block_perm(w, a, b);
    int rc;
    if ((rc = col_time(w, a, b, min_ts)) < 0 || (rc = col_labels(w, a, b)) < 0 ||
        (rc = col_meta(w, a, b)) < 0 || (rc = col_ids(w, a, b)) < 0 ||
        (rc = col_strings(w, a, b)) < 0) {
        return fail(w, rc, "block columns");
    }
    uint8_t t[60];
    size_t k = put_varint(t, w->file.len);
    k += put_varint(t + k, b - a);
    k += put_varint(t + k, zigzag(min_ts));
    k += put_varint(t + k, (uint64_t)max_ts - (uint64_t)min_ts);
    k += put_varint(t + k, raw);
    if (clew_buf_append(&w->dir, t, k) < 0) {
        return fail(w, -ENOMEM, "directory");
    }
    for (unsigned c = 0; c < CLEW_SEG_NCOLS; c++) {
        if ((rc = put_column(w, c)) < 0) {
            return rc;
        }
    }
    if (put_label_sets(w) < 0) {
        return fail(w, -ENOMEM, "label sets");
    }
    if (w->nblocks == 0 || min_ts < w->info.min_ts) {
        w->info.min_ts = min_ts;
    }
    if (w->nblocks == 0 || max_ts > w->info.max_ts) {
        w->info.max_ts = max_ts;
    }
    w->info.raw_bytes += raw;
    w->nblocks++;
    return 0;
}

static int rec_too_big(const struct clew_record *r)
{
    size_t m =
        r->message.len | r->trace_id.len | r->span_id.len | r->parent_span_id.len | r->fields.len;
    for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
        m |= r->labels[l].len;
    }
    return m > CLEW_REC_MAX_FIELD;
}

static int write_blocks(struct wr *w)
{
    const struct clew_seg_opts *o = w->opts;
    size_t a = 0;
    while (a < w->n) {
        size_t b = a;
        uint64_t raw = 0;
        while (b < w->n && b - a < o->block_records && raw < o->block_bytes) {
            if (rec_too_big(&w->recs[b])) {
                return fail(w, CLEW_ETOOBIG, "record string");
            }
            raw += clew_rec_raw_size(&w->recs[b]);
            b++;
        }
        if (w->nblocks == CLEW_SEG_MAX_BLOCKS) {
            return fail(w, CLEW_ETOOBIG, "blocks");
        }
        int rc = write_block(w, a, b, raw);
        if (rc < 0) {
            return rc;
        }
        a = b;
    }
    return 0;
}

/* ---- trace index ---- */

/* Stable LSD radix sort on the hash bits (24..63) of the keys. */
static void radix_sort(uint64_t *a, uint64_t *tmp, size_t n)
{
    uint64_t *src = a, *dst = tmp;
    for (unsigned shift = 24; shift < 64; shift += 8) {
        size_t cnt[256] = { 0 };
        for (size_t i = 0; i < n; i++) {
            cnt[(src[i] >> shift) & 255]++;
        }
        if (cnt[(src[0] >> shift) & 255] == n) {
            continue;
        }
        size_t sum = 0;
        for (int d = 0; d < 256; d++) {
            size_t c = cnt[d];
            cnt[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            dst[cnt[(src[i] >> shift) & 255]++] = src[i];
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) {
        memcpy(a, src, n * sizeof(*a));
    }
}

static unsigned ceil_log2(uint64_t x)
{
    unsigned k = 0;
    while (k < 63 && (1ull << k) < x) {
        k++;
    }
    return k;
}

/* Appends the trace section: 4 parameter bytes, the bucket offset table,
 * then per bucket the varints ((fingerprint delta << block bits) | block). */
static int encode_trace(struct wr *w, size_t np, struct clew_buf *out)
{
    unsigned b = 0;
    while ((np >> b) > TRACE_BUCKET_TARGET && b < 20) {
        b++;
    }
    unsigned r = ceil_log2((np >> b) + 1) + TRACE_FP_EXTRA;
    r = b + r > TRACE_KEY_BITS ? TRACE_KEY_BITS - b : r;
    unsigned bb = ceil_log2(w->nblocks);
    size_t nb = (size_t)1 << b;
    if (clew_buf_reserve(out, 4 + (nb + 1) * 4 + np * 10) < 0) {
        return -ENOMEM;
    }
    uint8_t *tab = out->data + out->len + 4, *data = tab + (nb + 1) * 4, *p = data;
    tab[-4] = (uint8_t)b;
    tab[-3] = (uint8_t)r;
    tab[-2] = (uint8_t)bb;
    tab[-1] = 0;
    size_t bucket = 0;
    uint64_t prev = 0;
    clew_store_u32(tab, 0);
    for (size_t i = 0; i < np; i++) {
        uint64_t key = w->keys[i];
        size_t bk = b ? (size_t)(key >> (64 - b)) : 0;
        while (bucket < bk) {
            clew_store_u32(tab + 4 * ++bucket, (uint32_t)(p - data));
            prev = 0;
        }
        uint64_t fp = (key << b) >> (64 - r);
        p += put_varint(p, (fp - prev) << bb | (key & TRACE_BLOCK_MASK));
        prev = fp;
    }
    while (bucket < nb) {
        clew_store_u32(tab + 4 * ++bucket, (uint32_t)(p - data));
    }
    out->len = (size_t)(p - out->data);
    return 0;
}

static int build_trace(struct wr *w, struct clew_buf *out)
{
    size_t n = w->nkeys;
    if (n > 0) {
        uint64_t *tmp = clew_malloc(n * sizeof(*tmp));
        if (tmp == NULL) {
            return fail(w, -ENOMEM, "trace index");
        }
        radix_sort(w->keys, tmp, n);
        clew_free(tmp);
    }
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        if (np == 0 || w->keys[np - 1] != w->keys[i]) {
            w->keys[np++] = w->keys[i];
        }
    }
    if (np > UINT32_MAX / 10 || encode_trace(w, np, out) < 0) {
        return fail(w, np > UINT32_MAX / 10 ? CLEW_ETOOBIG : -ENOMEM, "trace index");
    }
    return 0;
}

/* ---- footer, header, tail ---- */

static int compress_into_file(struct wr *w, const struct clew_buf *src, size_t *clen)
{
    size_t bound = ZSTD_compressBound(src->len);
    if (clew_buf_reserve(&w->file, bound) < 0) {
        return fail(w, -ENOMEM, "file image");
    }
    size_t n = ZSTD_compress2(w->cctx, w->file.data + w->file.len, bound, src->data, src->len);
    if (ZSTD_isError(n)) {
        int rc = ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? -ENOMEM : -EIO;
        return fail(w, rc, ZSTD_getErrorName(n));
    }
    w->file.len += n;
    *clen = n;
    return 0;
}

static int footer_main(struct wr *w, struct clew_buf *f)
{
    if (clew_buf_put_varint(f, w->info.gen) < 0 || clew_buf_put_varint(f, w->nblocks) < 0) {
        return -ENOMEM;
    }
    for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
        const struct dict *d = &w->dict[l];
        if (clew_buf_put_varint(f, d->n) < 0) {
            return -ENOMEM;
        }
        for (uint32_t i = 0; i < d->n; i++) {
            if (clew_buf_put_bytes(f, d->vals[i].ptr, d->vals[i].len) < 0) {
                return -ENOMEM;
            }
        }
    }
    if (clew_buf_put_varint(f, w->nstreams) < 0) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < (size_t)w->nstreams * CLEW_LABEL_COUNT; i++) {
        if (clew_buf_put_varint(f, w->streams[i]) < 0) {
            return -ENOMEM;
        }
    }
    return clew_buf_append(f, w->dir.data, w->dir.len);
}

static int write_footer(struct wr *w)
{
    struct clew_buf f, t;
    clew_buf_init(&f);
    clew_buf_init(&t);
    uint64_t off = w->file.len;
    size_t clen = 0;
    int rc = footer_main(w, &f);
    if (rc < 0 || f.len > CLEW_SEG_MAX_FOOTER) {
        rc = fail(w, rc < 0 ? rc : CLEW_ETOOBIG, "footer");
    }
    if (rc == 0 && (rc = compress_into_file(w, &f, &clen)) == 0 && (rc = build_trace(w, &t)) == 0 &&
        clew_buf_append(&w->file, t.data, t.len) < 0) {
        rc = fail(w, -ENOMEM, "file image");
    }
    if (rc == 0 && clew_buf_reserve(&w->file, CLEW_SEG_TAIL_SIZE) < 0) {
        rc = fail(w, -ENOMEM, "file image");
    }
    if (rc == 0) {
        uint8_t *p = w->file.data + w->file.len;
        clew_store_u64(p, off);
        clew_store_u64(p + 8, clen);
        clew_store_u64(p + 16, f.len);
        clew_store_u64(p + 24, t.len);
        clew_store_u64(p + 32, XXH3_64bits(w->file.data + off, clen + t.len));
        clew_store_u32(p + 40, CLEW_SEG_VERSION);
        clew_store_u32(p + 44, clew_seg_checksum(p, 44));
        memcpy(p + 48, CLEW_SEG_TAIL_MAGIC, CLEW_SEG_MAGIC_LEN);
        w->file.len += CLEW_SEG_TAIL_SIZE;
    }
    clew_buf_close(&f);
    clew_buf_close(&t);
    return rc;
}

static int write_header(struct wr *w)
{
    uint8_t h[CLEW_SEG_HEADER_SIZE] = { 0 };
    memcpy(h, CLEW_SEG_MAGIC, CLEW_SEG_MAGIC_LEN);
    clew_store_u32(h + 8, CLEW_SEG_VERSION);
    clew_store_u64(h + 16, w->info.gen);
    clew_store_u32(h + 28, clew_seg_checksum(h, 28));
    if (clew_buf_append(&w->file, h, sizeof(h)) < 0) {
        return fail(w, -ENOMEM, "file image");
    }
    return 0;
}

/* ---- the file ---- */

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int fsync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash == NULL ? clew_strdup(".")
                              : clew_strndup(path, slash == path ? 1 : (size_t)(slash - path));
    if (dir == NULL) {
        return -ENOMEM;
    }
    int rc = 0, fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        rc = -errno;
    }
    if (fd >= 0) {
        close(fd);
    }
    clew_free(dir);
    return rc;
}

static int write_file(struct wr *w)
{
    size_t plen = strlen(w->path);
    char *tmp = clew_malloc(plen + 5);
    if (tmp == NULL) {
        return fail(w, -ENOMEM, "tmp path");
    }
    memcpy(tmp, w->path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    const char *what = "create tmp file";
    int rc = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
    } else if ((rc = write_all(fd, w->file.data, w->file.len)) < 0) {
        what = "write";
    } else if (fsync(fd) < 0) {
        rc = -errno;
        what = "fsync";
    }
    if (fd >= 0 && close(fd) < 0 && rc == 0) {
        rc = -errno;
        what = "close";
    }
    if (rc == 0 && rename(tmp, w->path) < 0) {
        rc = -errno;
        what = "rename";
    }
    if (rc < 0) {
        unlink(tmp);
    } else if ((rc = fsync_dir(w->path)) < 0) {
        what = "fsync directory";
        unlink(w->path);
    }
    clew_free(tmp);
    return rc < 0 ? fail(w, rc, what) : 0;
}

static int check_args(struct wr *w, const struct clew_seg_opts *o)
{
    if (w->recs == NULL || w->n == 0) {
        return fail(w, CLEW_EBADARG, "no records");
    }
    if (o->block_records == 0 || o->block_records > CLEW_SEG_MAX_BLOCK_RECORDS ||
        o->block_bytes == 0 || o->zstd_level < ZSTD_minCLevel() ||
        o->zstd_level > ZSTD_maxCLevel()) {
        return fail(w, CLEW_EBADARG, "options");
    }
    return 0;
}

static int build(struct wr *w)
{
    int rc = check_args(w, w->opts);
    if (rc < 0) {
        return rc;
    }
    w->cctx = clew_seg_cctx_new();
    w->keys = clew_malloc(2 * w->n * sizeof(*w->keys)); /* trace + link per record */
    w->bmax = w->n < w->opts->block_records ? w->n : w->opts->block_records;
    w->perm = clew_malloc(w->bmax * sizeof(*w->perm));
    int bad = w->cctx == NULL || w->keys == NULL || w->perm == NULL ||
              idtab_init(&w->idt, 3 * w->bmax) < 0 || trips_init(&w->trips, w->bmax) < 0;
    for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
        bad = bad || (w->sets[l] = clew_malloc(w->bmax * sizeof(uint32_t))) == NULL;
    }
    if (bad) {
        return fail(w, -ENOMEM, "writer state");
    }
    size_t zr = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, w->opts->zstd_level);
    if (ZSTD_isError(zr)) {
        return fail(w, CLEW_EBADARG, ZSTD_getErrorName(zr));
    }
    if ((rc = build_dicts(w)) < 0 || (rc = build_streams(w)) < 0 || (rc = write_header(w)) < 0 ||
        (rc = write_blocks(w)) < 0 || (rc = write_footer(w)) < 0) {
        return rc;
    }
    w->info.version = CLEW_SEG_VERSION;
    w->info.records = w->n;
    w->info.blocks = w->nblocks;
    w->info.file_bytes = w->file.len;
    return 0;
}

int clew_seg_write(const char *path, uint64_t gen, const struct clew_record *recs, size_t n,
                   const struct clew_seg_opts *opts, struct clew_seg_info *info,
                   char err[CLEW_ERR_LEN])
{
    struct clew_seg_opts def;
    if (opts == NULL) {
        clew_seg_opts_default(&def);
        opts = &def;
    }
    struct wr w;
    memset(&w, 0, sizeof(w));
    w.path = path;
    w.recs = recs;
    w.n = n;
    w.opts = opts;
    w.err = err;
    w.info.gen = gen;
    clew_buf_init(&w.file);
    clew_buf_init(&w.scratch);
    clew_buf_init(&w.dir);
    for (int c = 0; c < CLEW_SEG_NCOLS; c++) {
        clew_buf_init(&w.col[c]);
    }
    clew_seg_text_enc_init(&w.text[0]);
    clew_seg_text_enc_init(&w.text[1]);
    int rc = build(&w);
    if (rc == 0) {
        rc = write_file(&w);
    }
    if (rc == 0 && info != NULL) {
        *info = w.info;
    }
    ZSTD_freeCCtx(w.cctx);
    clew_buf_close(&w.file);
    clew_buf_close(&w.scratch);
    clew_buf_close(&w.dir);
    for (int c = 0; c < CLEW_SEG_NCOLS; c++) {
        clew_buf_close(&w.col[c]);
    }
    for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
        dict_free(&w.dict[l]);
    }
    clew_free(w.ids);
    clew_free(w.sid);
    clew_free(w.streams);
    clew_free(w.sslots);
    clew_free(w.sseen);
    clew_free(w.keys);
    clew_free(w.perm);
    clew_free(w.svc_cnt);
    clew_free(w.idt.strs);
    clew_free(w.idt.slots);
    clew_free(w.trips.rec);
    clew_free(w.trips.slots);
    clew_seg_text_enc_close(&w.text[0]);
    clew_seg_text_enc_close(&w.text[1]);
    for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
        clew_free(w.sets[l]);
    }
    return rc;
}
