/* SPDX-License-Identifier: MIT
 * correlate: the cost of the correlation stage. On a corpus from the
 * deterministic generator (bench/lib/corpus_gen, raw ids: ids only in the
 * messages and fields, as services print them) it prints, side by side:
 * - the extraction cost per record (ns, median and p90) for each source the
 *   correlator reported, with the record counts;
 * - ingest throughput with correlation off and on, over two paths: the store
 *   path alone (clew_rec_encode into a WAL batch + LZ4 per batch +
 *   clew_memtable_add) and GELF decode + store path (payloads built from the
 *   same records); the target is on <= 1.10 x off;
 * - injected id generation (10M ids, ns/id, checked strictly increasing).
 * Batch timings use the thread's CPU time (robust on a shared machine),
 * best of 5 rounds; per-record timings use CLOCK_MONOTONIC minus the
 * clock's own median cost.
 *
 * usage: correlate [records (200000)] [seed (1)] [loop]
 * ("loop": only run the correlator over the corpus 10 times, for a profiler) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lz4.h>

#include "bench/lib/corpus_gen.h"
#include "collector/correlate.h"
#include "collector/gelf_parse.h"
#include "collector/memtable.h"
#include "collector/trace_id.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/json_out.h"
#include "common/rec_codec.h"

#define BATCH 512

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static struct clew_str dup_str(struct clew_arena *a, struct clew_str s)
{
    char *p = clew_arena_dup(a, s.ptr != NULL ? s.ptr : "", s.len);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return (struct clew_str){ p, s.len };
}

/* Generates n raw-id records, copied into a (the generator reuses its
 * buffers). */
static struct clew_record *make_corpus(size_t n, uint64_t seed, struct clew_arena *a, size_t *got)
{
    struct clew_gen_opts go;
    clew_gen_opts_default(&go);
    go.records = n;
    go.seed = seed;
    struct clew_gen *g;
    char err[CLEW_ERR_LEN];
    struct clew_record *recs = calloc(n, sizeof(*recs));
    if (recs == NULL || clew_gen_new(&go, &g, err) != 0) {
        fprintf(stderr, "generator: %s\n", err);
        exit(2);
    }
    size_t k = 0;
    struct clew_record r;
    while (k < n && clew_gen_next(g, &r) == 1) {
        recs[k] = r;
        for (int i = 0; i < CLEW_LABEL_COUNT; i++) {
            recs[k].labels[i] = dup_str(a, r.labels[i]);
        }
        recs[k].message = dup_str(a, r.message);
        recs[k].fields = dup_str(a, r.fields);
        k++;
    }
    clew_gen_free(g);
    *got = k;
    return recs;
}

static struct clew_correlator *new_corr(void)
{
    struct clew_correlate_opts o;
    struct clew_correlator *c;
    char err[CLEW_ERR_LEN];
    clew_correlate_opts_default(&o);
    if (clew_correlator_new(&o, &c, err) != 0) {
        fprintf(stderr, "correlator: %s\n", err);
        exit(2);
    }
    return c;
}

/* ------------------------------------------------------ per-source cost */

static void per_source(const struct clew_record *recs, size_t n)
{
    int64_t *ns[CLEW_CORR_SOURCE_COUNT_];
    size_t cnt[CLEW_CORR_SOURCE_COUNT_] = { 0 };
    for (int s = 0; s < CLEW_CORR_SOURCE_COUNT_; s++) {
        ns[s] = malloc(n * sizeof(int64_t));
    }
    int64_t over[1001];
    for (int i = 0; i < 1001; i++) {
        int64_t t0 = mono_ns();
        over[i] = mono_ns() - t0;
    }
    qsort(over, 1001, sizeof(over[0]), cmp_i64);
    struct clew_correlator *c = new_corr();
    struct clew_arena a;
    clew_arena_init(&a, 1 << 20);
    for (int pass = 0; pass < 2; pass++) { /* the first pass warms caches and streams */
        for (size_t i = 0; i < n; i++) {
            struct clew_record r = recs[i];
            struct clew_correlation out;
            int64_t t0 = mono_ns();
            clew_correlate(c, &r, &a, &out);
            int64_t d = mono_ns() - t0 - over[500];
            if (pass == 1) {
                ns[out.source][cnt[out.source]++] = d > 0 ? d : 0;
            }
            if ((i & 1023) == 0) {
                clew_arena_reset(&a);
            }
        }
    }
    printf("extraction cost per record by source (ns; clock overhead %lld ns subtracted)\n",
           (long long)over[500]);
    printf("  %-13s %9s %7s %8s %8s\n", "source", "records", "share", "median", "p90");
    for (int s = 0; s < CLEW_CORR_SOURCE_COUNT_; s++) {
        if (cnt[s] == 0) {
            free(ns[s]);
            continue;
        }
        qsort(ns[s], cnt[s], sizeof(int64_t), cmp_i64);
        printf("  %-13s %9zu %6.1f%% %8lld %8lld\n", clew_corr_source_name((unsigned)s), cnt[s],
               100.0 * (double)cnt[s] / (double)n, (long long)ns[s][cnt[s] / 2],
               (long long)ns[s][cnt[s] * 9 / 10]);
        free(ns[s]);
    }
    clew_arena_close(&a);
    clew_correlator_free(c);
}

static void loop(const struct clew_record *recs, size_t n)
{
    struct clew_correlator *c = new_corr();
    struct clew_arena a;
    clew_arena_init(&a, 1 << 20);
    double t0 = cpu_s();
    for (int pass = 0; pass < 10; pass++) {
        for (size_t i = 0; i < n; i++) {
            struct clew_record r = recs[i];
            struct clew_correlation out;
            clew_correlate(c, &r, &a, &out);
            if ((i & 1023) == 0) {
                clew_arena_reset(&a);
            }
        }
    }
    printf("%.1f ns/record\n", (cpu_s() - t0) * 1e9 / (double)n / 10);
    clew_arena_close(&a);
    clew_correlator_free(c);
}

/* --------------------------------------------------------------- ingest */

/* A GELF payload for r: its fields become additional fields. */
static void put_gelf(struct clew_buf *b, const struct clew_record *r)
{
    char num[64];
    clew_buf_append(b, "{\"version\":\"1.1\",\"host\":", 24);
    clew_json_put_str(b, r->labels[CLEW_LABEL_HOST].ptr, r->labels[CLEW_LABEL_HOST].len);
    clew_buf_append(b, ",\"short_message\":", 17);
    clew_json_put_str(b, r->message.ptr, r->message.len);
    int n =
        snprintf(num, sizeof(num), ",\"timestamp\":%lld.%06lld,\"level\":%u",
                 (long long)(r->ts / 1000000000), (long long)(r->ts % 1000000000 / 1000), r->level);
    clew_buf_append(b, num, (size_t)n);
    static const char *const keys[] = { ",\"_service\":", ",\"_container_id\":",
                                        ",\"_container_name\":", ",\"_stream\":" };
    static const int labels[] = { CLEW_LABEL_SERVICE, CLEW_LABEL_CONTAINER_ID,
                                  CLEW_LABEL_CONTAINER_NAME, CLEW_LABEL_STREAM };
    for (int i = 0; i < 4; i++) {
        clew_buf_append(b, keys[i], strlen(keys[i]));
        clew_json_put_str(b, r->labels[labels[i]].ptr, r->labels[labels[i]].len);
    }
    /* {"k":v,...} -> ,"_k":v,... (the generator's keys need no escaping) */
    const char *f = r->fields.ptr, *e = f + r->fields.len;
    if (r->fields.len > 2) {
        clew_buf_append(b, ",\"_", 3);
        for (const char *p = f + 2; p < e - 1; p++) {
            clew_buf_append(b, p, 1);
            if (p[0] == ',' && p[1] == '"') {
                clew_buf_append(b, "\"_", 2);
                p++;
            }
        }
    }
    clew_buf_append(b, "}", 1);
}

struct ingest {
    struct clew_buf wal, lz;
    struct clew_memtable *mt;
    struct clew_arena arena;
    size_t in_batch;
};

/* The store path: WAL encoding, LZ4 per batch, memtable copy. */
static void store(struct ingest *g, const struct clew_record *r)
{
    clew_rec_encode(&g->wal, r);
    clew_memtable_add(g->mt, r);
    if (++g->in_batch == BATCH) {
        int bound = LZ4_compressBound((int)g->wal.len);
        clew_buf_reserve(&g->lz, (size_t)bound);
        LZ4_compress_default((const char *)g->wal.data, (char *)g->lz.data, (int)g->wal.len, bound);
        clew_buf_reset(&g->wal);
        clew_arena_reset(&g->arena);
        g->in_batch = 0;
    }
}

/* One timed round; gelf: payloads to decode first (NULL: records as is). */
static double ingest_round(const struct clew_record *recs, size_t n, const struct clew_buf *gelf,
                           const size_t *off, int on)
{
    struct ingest g;
    memset(&g, 0, sizeof(g));
    clew_buf_init(&g.wal);
    clew_buf_init(&g.lz);
    clew_arena_init(&g.arena, 1 << 20);
    g.mt = clew_memtable_new(1);
    struct clew_correlator *c = on ? new_corr() : NULL;
    double t0 = cpu_s();
    for (size_t i = 0; i < n; i++) {
        struct clew_record r = recs[i];
        if (gelf != NULL && clew_gelf_parse(gelf->data + off[i], off[i + 1] - off[i], recs[i].ts,
                                            NULL, &r, &g.arena) != 0) {
            continue;
        }
        if (c != NULL) {
            struct clew_correlation out;
            clew_correlate(c, &r, &g.arena, &out);
        }
        store(&g, &r);
    }
    double t = cpu_s() - t0;
    clew_correlator_free(c);
    clew_memtable_free(g.mt);
    clew_arena_close(&g.arena);
    clew_buf_close(&g.wal);
    clew_buf_close(&g.lz);
    return t;
}

static void ingest(const struct clew_record *recs, size_t n)
{
    struct clew_buf gelf;
    size_t *off = malloc((n + 1) * sizeof(size_t));
    clew_buf_init(&gelf);
    for (size_t i = 0; i < n; i++) {
        off[i] = gelf.len;
        put_gelf(&gelf, &recs[i]);
    }
    off[n] = gelf.len;
    printf("\ningest (ns/record, thread CPU, best of 5)\n");
    printf("  %-22s %8s %8s %8s %8s\n", "path", "off", "on", "on/off", "delta");
    for (int path = 0; path < 2; path++) {
        double best[2] = { 1e30, 1e30 };
        for (int round = 0; round < 5; round++) {
            for (int on = 0; on < 2; on++) {
                double t = ingest_round(recs, n, path ? &gelf : NULL, off, on);
                best[on] = t < best[on] ? t : best[on];
            }
        }
        double a = best[0] * 1e9 / (double)n, b = best[1] * 1e9 / (double)n;
        printf("  %-22s %8.0f %8.0f %8.3f %8.0f\n", path ? "gelf decode + store" : "store", a, b,
               b / a, b - a);
    }
    clew_buf_close(&gelf);
    free(off);
}

/* ------------------------------------------------------------- id gen */

static void id_gen(void)
{
    struct clew_trace_id_gen g;
    char prev[CLEW_TRACE_ID_LEN], cur[CLEW_TRACE_ID_LEN];
    const size_t n = 10000000;
    clew_trace_id_gen_init(&g);
    clew_trace_id_next(&g, clew_trace_id_now_ms(), prev);
    size_t bad = 0;
    double t0 = cpu_s();
    for (size_t i = 1; i < n; i++) {
        clew_trace_id_next(&g, clew_trace_id_now_ms(), cur);
        bad += memcmp(prev, cur, CLEW_TRACE_ID_LEN) >= 0;
        memcpy(prev, cur, sizeof(cur));
    }
    double t = cpu_s() - t0;
    printf("\ninjected ids: %zu in %.2f s, %.1f ns/id (clock read included), %zu out of order\n", n,
           t, t * 1e9 / (double)n, bad);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    if (n == 0) {
        fprintf(stderr, "usage: correlate [records (200000)] [seed (1)]\n");
        return 2;
    }
    struct clew_arena a;
    clew_arena_init(&a, 1 << 20);
    size_t got;
    struct clew_record *recs = make_corpus(n, seed, &a, &got);
    printf("corpus: %zu generated records (raw ids), seed %llu\n\n", got, (unsigned long long)seed);
    if (argc > 3 && strcmp(argv[3], "loop") == 0) {
        loop(recs, got);
        free(recs);
        clew_arena_close(&a);
        return 0;
    }
    per_source(recs, got);
    ingest(recs, got);
    id_gen();
    free(recs);
    clew_arena_close(&a);
    return 0;
}
