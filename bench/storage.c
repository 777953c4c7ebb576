/* SPDX-License-Identifier: MIT
 * bench/storage: the storage engine against the reference compressors, on
 * the generated corpus. For each size (default 1M and 10M records) it
 * prints, side by side: stored bytes (segments, index included) vs `zstd -3`
 * and `zstd -19` of the same records as raw text lines; write throughput
 * (records/s and MB/s of raw text, wall clock and per CPU second); trace
 * lookup latency (median of 100 random ids, in-process and as a whole
 * `clew grep --trace` command) vs a full scan of the same data.
 *
 * usage: storage [--records N[,N...]] [--seed S] [--dir TMP] [--loghub DIR]
 *                [--clew PATH] [--ref-max N] [--columns] [--codec N]
 * --columns adds the stored and raw bytes per record of each column (and
 * of the footers and index) summed over the segments.
 * --codec N instead times the segment codec alone on the records held in
 * memory: sealing them as one segment (clew_seg_write, best of N runs, CPU
 * time) and reading every block back with the columns of a `clew grep -c`
 * (time and message) and with all columns; it prints records per CPU
 * second, ns per record and the stored bytes per record.
 * References (zstd -3/-19 of the raw text) are computed for sizes up to
 * --ref-max records (default 2000000: zstd -19 of 10M records takes ~30
 * minutes here); above that the ratio is taken from the largest measured
 * size. Not a test: it prints figures. */
#include <errno.h>
#include <inttypes.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/lib/corpus_gen.h"
#include "bench/lib/raw_line.h"
#include "collector/seg_writer.h"
#include "collector/store.h"
#include "common/alloc.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/datadir.h"
#include "common/json_out.h"
#include "common/rec_codec.h"
#include "common/rec_copy.h"
#include "common/timeutil.h"
#include "query/reader.h"
#include "query/seg_reader.h"

#define CHUNK   100000
#define BATCH   1000
#define LOOKUPS 100

struct opts {
    uint64_t sizes[8];
    int nsizes;
    uint64_t seed;
    const char *dir;
    const char *loghub;
    const char *clew;
    uint64_t ref_max;
    int columns; /* print stored bytes per column */
    int codec;   /* runs of the codec-only timing (0: the store benchmark) */
};

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static double now_s(void)
{
    return (double)clew_time_mono_ns() / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t dir_bytes(const char *cmd_dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "du -sb --exclude=wal '%s' | cut -f1", cmd_dir);
    FILE *p = popen(cmd, "r");
    unsigned long long v = 0;
    if (p != NULL) {
        if (fscanf(p, "%llu", &v) != 1) {
            v = 0;
        }
        pclose(p);
    }
    return v;
}

static uint64_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* Runs `zstd -LEVEL` on the raw file; returns the compressed size and the
 * wall time it took. */
static uint64_t zstd_size(const char *raw, int level, double *secs)
{
    char cmd[4200], out[4200];
    snprintf(out, sizeof(out), "%s.zst%d", raw, level);
    snprintf(cmd, sizeof(cmd), "zstd -q -f -%d -T1 '%s' -o '%s'", level, raw, out);
    double t0 = now_s();
    int rc = system(cmd);
    *secs = now_s() - t0;
    uint64_t n = rc == 0 ? file_size(out) : 0;
    unlink(out);
    return n;
}

struct write_result {
    uint64_t records, raw_bytes;
    double wall, cpu;
    char (*ids)[40]; /* LOOKUPS sampled trace ids */
    size_t nids;
};

static int generate_and_store(const struct opts *o, uint64_t n, const char *data,
                              const char *raw_path, struct write_result *res)
{
    struct clew_gen_opts go;
    clew_gen_opts_default(&go);
    go.seed = o->seed;
    go.records = n;
    go.resolved_ids = 1;
    go.loghub_dir = o->loghub;
    struct clew_gen *g;
    char err[CLEW_ERR_LEN];
    if (clew_gen_new(&go, &g, err) < 0) {
        fprintf(stderr, "storage: generator: %s\n", err);
        return -1;
    }
    struct clew_store_config sc;
    clew_store_config_default(&sc);
    sc.data_dir = data;
    sc.fsync = CLEW_FSYNC_NEVER;
    struct clew_store *s;
    if (clew_store_open(&sc, NULL, NULL, &s, err) < 0) {
        fprintf(stderr, "storage: %s\n", err);
        clew_gen_free(g);
        return -1;
    }
    FILE *raw = raw_path ? fopen(raw_path, "w") : NULL;
    struct clew_buf line;
    clew_buf_init(&line);
    struct clew_record *recs = clew_xmalloc(CHUNK * sizeof(*recs));
    struct clew_arena arena;
    clew_arena_init(&arena, 16u << 20);
    uint64_t seen_ids = 0;
    memset(res, 0, sizeof(*res));
    res->ids = clew_xcalloc(LOOKUPS, sizeof(*res->ids));
    uint64_t rng = o->seed * 2654435761u + 1;
    for (uint64_t done = 0; done < n;) {
        size_t m = 0;
        clew_arena_reset(&arena);
        while (m < CHUNK && done + m < n && clew_gen_next(g, &recs[m]) == 1) {
            clew_rec_copy(&recs[m], &recs[m], &arena);
            res->raw_bytes += clew_rec_raw_size(&recs[m]);
            if (raw != NULL) {
                clew_bench_write_raw(raw, &line, &recs[m]);
            }
            if (recs[m].trace_id.len == 32) { /* reservoir sample of ids */
                rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
                uint64_t k = seen_ids++ < LOOKUPS ? seen_ids - 1 : (rng >> 11) % seen_ids;
                if (k < LOOKUPS) {
                    memcpy(res->ids[k], recs[m].trace_id.ptr, 32);
                }
            }
            m++;
        }
        if (m == 0) {
            break;
        }
        double t0 = now_s(), c0 = cpu_seconds();
        for (size_t i = 0; i < m; i += BATCH) {
            size_t b = m - i < BATCH ? m - i : BATCH;
            if (clew_store_append(s, recs + i, b, NULL) < 0) {
                fprintf(stderr, "storage: append failed\n");
                break;
            }
        }
        res->wall += now_s() - t0;
        res->cpu += cpu_seconds() - c0;
        done += m;
        res->records = done;
    }
    double t0 = now_s(), c0 = cpu_seconds();
    int rc = clew_store_close(s); /* the last seal */
    res->wall += now_s() - t0;
    res->cpu += cpu_seconds() - c0;
    res->nids = seen_ids < LOOKUPS ? seen_ids : LOOKUPS;
    if (raw != NULL) {
        fclose(raw);
    }
    clew_buf_close(&line);
    clew_arena_close(&arena);
    clew_free(recs);
    clew_gen_free(g);
    return rc;
}

static int count_cb(void *ud, const struct clew_record *r)
{
    (void)r;
    (*(uint64_t *)ud)++;
    return 0;
}

/* Median in-process trace lookup (ms), and the median whole command (ms). */
static void lookups(const struct opts *o, const char *data, const struct write_result *w,
                    double *inproc_ms, double *cmd_ms, double *hits)
{
    double t[LOOKUPS], c[LOOKUPS];
    uint64_t total = 0;
    for (size_t i = 0; i < w->nids; i++) {
        struct clew_filter f;
        clew_filter_init(&f);
        f.trace_id = (struct clew_str){ w->ids[i], 32 };
        uint64_t n = 0;
        double t0 = now_s();
        clew_reader_scan(data, &f, count_cb, NULL, &n, NULL);
        t[i] = (now_s() - t0) * 1e3;
        total += n;
        char cmd[4400];
        snprintf(cmd, sizeof(cmd), "'%s' grep --json --data '%s' --trace %s '' >/dev/null", o->clew,
                 data, w->ids[i]);
        t0 = now_s();
        if (system(cmd) < 0) {
            c[i] = 0;
        }
        c[i] = (now_s() - t0) * 1e3;
    }
    qsort(t, w->nids, sizeof(double), cmp_double);
    qsort(c, w->nids, sizeof(double), cmp_double);
    *inproc_ms = w->nids ? t[w->nids / 2] : 0;
    *cmd_ms = w->nids ? c[w->nids / 2] : 0;
    *hits = w->nids ? (double)total / (double)w->nids : 0;
}

static double full_scan(const char *data, uint64_t *n)
{
    struct clew_filter f;
    clew_filter_init(&f);
    *n = 0;
    double t0 = now_s();
    clew_reader_scan(data, &f, count_cb, NULL, n, NULL);
    return (now_s() - t0) * 1e3;
}

struct col_sizes {
    uint64_t clen[CLEW_SEG_NCOLS], rlen[CLEW_SEG_NCOLS];
    uint64_t files, file_bytes, segments, blocks;
};

/* Sums the stored and raw sizes of every column of every segment. */
static void column_sizes(const char *data, struct col_sizes *cs)
{
    memset(cs, 0, sizeof(*cs));
    int64_t *hours;
    size_t nh;
    if (clew_dd_list_hours(data, INT64_MIN, INT64_MAX, &hours, &nh) < 0) {
        return;
    }
    for (size_t h = 0; h < nh; h++) {
        struct clew_dd_segment *segs;
        size_t ns;
        if (clew_dd_list_segments(data, hours[h], &segs, &ns) < 0) {
            continue;
        }
        for (size_t i = 0; i < ns; i++) {
            char err[CLEW_ERR_LEN];
            struct clew_seg *seg;
            if (clew_seg_open(segs[i].path, &seg, err) < 0) {
                continue;
            }
            cs->segments++;
            cs->file_bytes += clew_seg_get_info(seg)->file_bytes;
            for (size_t b = 0; b < clew_seg_nblocks(seg); b++, cs->blocks++) {
                for (unsigned c = 0; c < CLEW_SEG_NCOLS; c++) {
                    uint64_t off, clen, rlen;
                    if (clew_seg_block_column(seg, b, c, &off, &clen, &rlen) == 0) {
                        cs->clen[c] += clen;
                        cs->rlen[c] += rlen;
                    }
                }
            }
            clew_seg_free(seg);
        }
        clew_free(segs);
    }
    clew_free(hours);
}

static void print_columns(const char *data, double rec)
{
    struct col_sizes cs;
    column_sizes(data, &cs);
    uint64_t cols = 0;
    printf("columns (%" PRIu64 " segments, %" PRIu64 " blocks): %-8s %10s %10s\n", cs.segments,
           cs.blocks, "", "B/record", "raw B/rec");
    for (unsigned c = 0; c < CLEW_SEG_NCOLS; c++) {
        cols += cs.clen[c];
        printf("  %-8s %10.2f %10.2f\n", clew_seg_col_name(c), cs.clen[c] / rec, cs.rlen[c] / rec);
    }
    printf("  %-8s %10.2f\n", "footer", (cs.file_bytes - cols) / rec);
}

static void run_size(const struct opts *o, uint64_t n, double *ref19_per_rec)
{
    char data[4096], raw[4096];
    snprintf(data, sizeof(data), "%s/clew-bench-storage-%" PRIu64, o->dir, n);
    snprintf(raw, sizeof(raw), "%s/clew-bench-storage-%" PRIu64 ".log", o->dir, n);
    char cmd[8300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", data, raw);
    if (system(cmd) != 0) {
        return;
    }
    int refs = n <= o->ref_max;
    struct write_result w;
    if (generate_and_store(o, n, data, refs ? raw : NULL, &w) < 0) {
        return;
    }
    uint64_t stored = dir_bytes(data);
    double z3s = 0, z19s = 0;
    uint64_t raw_file = refs ? file_size(raw) : 0;
    uint64_t z3 = refs ? zstd_size(raw, 3, &z3s) : 0;
    uint64_t z19 = refs ? zstd_size(raw, 19, &z19s) : 0;
    if (refs && w.records > 0) {
        *ref19_per_rec = (double)z19 / (double)w.records;
    }
    double in_ms, cmd_ms, hits;
    lookups(o, data, &w, &in_ms, &cmd_ms, &hits);
    uint64_t scanned;
    double scan_ms = full_scan(data, &scanned);

    double rec = (double)w.records;
    printf("\n== %" PRIu64 " records (seed %" PRIu64 ") ==\n", w.records, o->seed);
    printf("%-34s %14s %12s %10s\n", "", "bytes", "B/record", "vs clew");
    printf("%-34s %14" PRIu64 " %12.1f\n", "raw record text (clew's view)", w.raw_bytes,
           w.raw_bytes / rec);
    if (refs) {
        printf("%-34s %14" PRIu64 " %12.1f\n", "raw lines (.log file)", raw_file, raw_file / rec);
        printf("%-34s %14" PRIu64 " %12.1f %9.2fx\n", "zstd -3 of the lines", z3, z3 / rec,
               (double)z3 / (double)stored);
        printf("%-34s %14" PRIu64 " %12.1f %9.2fx\n", "zstd -19 of the lines", z19, z19 / rec,
               (double)z19 / (double)stored);
    } else if (*ref19_per_rec > 0) {
        printf("%-34s %14s %12.1f %9.2fx  (per record, from the smaller run)\n",
               "zstd -19 of the lines", "-", *ref19_per_rec, *ref19_per_rec * rec / (double)stored);
    }
    printf("%-34s %14" PRIu64 " %12.1f %9.2fx\n", "clew segments (index included)", stored,
           stored / rec, 1.0);
    printf("write: %.0f records/s wall, %.0f records/s per CPU second, %.0f MB/s raw wall "
           "(%.2f s wall, %.2f s CPU)\n",
           rec / w.wall, rec / w.cpu, w.raw_bytes / w.wall / 1e6, w.wall, w.cpu);
    if (refs) {
        printf("reference: zstd -3 took %.1f s, zstd -19 took %.1f s on one thread\n", z3s, z19s);
    }
    printf("trace lookup (median of %zu ids, %.1f records each): in-process %.2f ms, "
           "whole `clew grep --trace` command %.2f ms\n",
           w.nids, hits, in_ms, cmd_ms);
    printf("full scan of all %" PRIu64
           " records (all columns): %.0f ms -> lookup is %.0fx faster\n",
           scanned, scan_ms, in_ms > 0 ? scan_ms / in_ms : 0);
    if (o->columns) {
        print_columns(data, rec);
    }
    fflush(stdout);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", data, raw);
    if (system(cmd) != 0) {
        fprintf(stderr, "storage: cleanup failed\n");
    }
    clew_free(w.ids);
}

/* ---- --codec: the segment codec alone ---- */

/* Points r's labels at the first record's copy of the same tuple, as the
 * memtable does (the writer then sees equal pointers). tab has cap slots
 * (a power of two) of record pointers. */
static void share_labels(struct clew_record *r, const struct clew_record **tab, size_t cap)
{
    uint64_t h = 1469598103934665603ull;
    for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
        for (size_t i = 0; i < r->labels[l].len; i++) {
            h = (h ^ (uint8_t)r->labels[l].ptr[i]) * 1099511628211ull;
        }
        h = (h ^ 0xff) * 1099511628211ull;
    }
    for (size_t k = h & (cap - 1);; k = (k + 1) & (cap - 1)) {
        const struct clew_record *q = tab[k];
        if (q == NULL) {
            tab[k] = r;
            return;
        }
        int eq = 1;
        for (int l = 0; l < CLEW_LABEL_COUNT && eq; l++) {
            eq = q->labels[l].len == r->labels[l].len &&
                 memcmp(q->labels[l].ptr, r->labels[l].ptr, r->labels[l].len) == 0;
        }
        if (eq) {
            memcpy(r->labels, q->labels, sizeof(r->labels));
            return;
        }
    }
}

/* Generates n records into recs (strings in arena). */
static size_t gen_records(const struct opts *o, uint64_t n, struct clew_record *recs,
                          struct clew_arena *arena, uint64_t *raw)
{
    struct clew_gen_opts go;
    clew_gen_opts_default(&go);
    go.seed = o->seed;
    go.records = n;
    go.resolved_ids = 1;
    go.loghub_dir = o->loghub;
    struct clew_gen *g;
    char err[CLEW_ERR_LEN];
    if (clew_gen_new(&go, &g, err) < 0) {
        fprintf(stderr, "storage: generator: %s\n", err);
        return 0;
    }
    size_t m = 0, cap = 1u << 16;
    const struct clew_record **tab = clew_xcalloc(cap, sizeof(*tab));
    *raw = 0;
    while (m < n && clew_gen_next(g, &recs[m]) == 1) {
        clew_rec_copy(&recs[m], &recs[m], arena);
        share_labels(&recs[m], tab, cap);
        *raw += clew_rec_raw_size(&recs[m]);
        m++;
    }
    clew_free(tab);
    clew_gen_free(g);
    return m;
}

/* Reads every block of the segment at path with cols; CPU seconds, and the
 * message bytes seen in *bytes. */
static double codec_read(const char *path, unsigned cols, uint64_t *bytes)
{
    char err[CLEW_ERR_LEN];
    struct clew_seg *seg;
    double c0 = cpu_seconds();
    if (clew_seg_open(path, &seg, err) < 0) {
        fprintf(stderr, "storage: %s\n", err);
        return 0;
    }
    *bytes = 0;
    for (size_t i = 0; i < clew_seg_nblocks(seg); i++) {
        struct clew_seg_block *b;
        if (clew_seg_block_read(seg, i, cols, &b, err) < 0) {
            fprintf(stderr, "storage: %s\n", err);
            break;
        }
        const uint32_t *off;
        if (clew_seg_block_messages(b, &off) != NULL) {
            *bytes += off[clew_seg_block_count(b)];
        }
        clew_seg_block_free(b);
    }
    clew_seg_free(seg);
    return cpu_seconds() - c0;
}

static void codec_size(const struct opts *o, uint64_t n)
{
    struct clew_record *recs = clew_xmalloc(n * sizeof(*recs));
    struct clew_arena arena;
    clew_arena_init(&arena, 64u << 20);
    uint64_t raw;
    size_t m = gen_records(o, n, recs, &arena, &raw);
    char path[4096], err[CLEW_ERR_LEN];
    snprintf(path, sizeof(path), "%s/clew-bench-codec-%" PRIu64 ".seg", o->dir, n);
    double best[3] = { 0, 0, 0 };
    uint64_t bytes[3] = { 0, 0, 0 };
    struct clew_seg_info info = { 0 };
    const unsigned cols[3] = { 0, CLEW_COL_TS | CLEW_COL_MESSAGE, CLEW_COL_ALL };
    for (int r = 0; r < o->codec && m > 0; r++) {
        for (int k = 0; k < 3; k++) {
            double c0 = cpu_seconds();
            if (k == 0 && clew_seg_write(path, 1, recs, m, NULL, &info, err) < 0) {
                fprintf(stderr, "storage: %s\n", err);
                r = o->codec;
                break;
            }
            double c = k == 0 ? cpu_seconds() - c0 : codec_read(path, cols[k], &bytes[k]);
            best[k] = r == 0 || c < best[k] ? c : best[k];
        }
    }
    double rec = (double)m;
    static const char *const what[3] = { "seal", "read ts+msg", "read all" };
    printf("codec, %zu records (%.1f raw B/record), best of %d; %.2f B/record stored\n", m,
           raw / rec, o->codec, info.file_bytes / rec);
    for (int k = 0; k < 3; k++) {
        printf("  %-12s %10.0f records/CPU s %8.1f ns/record\n", what[k], rec / best[k],
               best[k] * 1e9 / rec);
    }
    fflush(stdout);
    unlink(path);
    clew_arena_close(&arena);
    clew_free(recs);
}

int main(int argc, char **argv)
{
    struct opts o = { { 1000000, 10000000 }, 2,       42, "/tmp", "../shared/corpus/loghub",
                      "./build/clew",        2000000, 0,  0 };
    for (int i = 1; i < argc; i += 2) {
        if (strcmp(argv[i], "--codec") == 0 && i + 1 < argc) {
            o.codec = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--columns") == 0) {
            o.columns = 1;
            i--;
        } else if (i + 1 >= argc) {
            fprintf(stderr, "storage: %s needs a value\n", argv[i]);
            return 2;
        } else if (strcmp(argv[i], "--records") == 0) {
            o.nsizes = 0;
            for (char *p = argv[i + 1]; *p && o.nsizes < 8; p++) {
                o.sizes[o.nsizes++] = strtoull(p, &p, 10);
                if (*p != ',') {
                    break;
                }
            }
        } else if (strcmp(argv[i], "--seed") == 0) {
            o.seed = strtoull(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--dir") == 0) {
            o.dir = argv[i + 1];
        } else if (strcmp(argv[i], "--loghub") == 0) {
            o.loghub = argv[i + 1];
        } else if (strcmp(argv[i], "--clew") == 0) {
            o.clew = argv[i + 1];
        } else if (strcmp(argv[i], "--ref-max") == 0) {
            o.ref_max = strtoull(argv[i + 1], NULL, 10);
        } else {
            fprintf(stderr, "usage: storage [--records N[,N]] [--seed S] [--dir TMP] "
                            "[--loghub DIR] [--clew PATH] [--ref-max N] [--columns] [--codec N]\n");
            return 2;
        }
    }
    double ref19 = 0;
    for (int i = 0; i < o.nsizes; i++) {
        if (o.codec > 0) {
            codec_size(&o, o.sizes[i]);
            continue;
        }
        run_size(&o, o.sizes[i], &ref19);
    }
    return 0;
}
