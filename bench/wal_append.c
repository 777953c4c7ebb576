/* SPDX-License-Identifier: MIT
 * wal_append: the cost of the write-ahead log. Builds realistic records
 * (messages are the lines of the *.log files of a directory, e.g. the
 * Loghub samples in shared/corpus/loghub, or built-in templates; labels,
 * trace and span ids, JSON fields on a third of them), appends them in
 * batches to a WAL in a temporary directory with no fsync, then replays the
 * file. Prints ns/record (thread CPU time) and MB/s (of raw text,
 * clew_rec_raw_size) for both, and the on-disk size.
 *
 * usage: wal_append [records (200000)] [batch (1000)] [dir of *.log]
 *        [tmp dir (/tmp)] [seal MB (8)] */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lz4.h>

#include "clew/error.h"
#include "collector/store.h"
#include "collector/wal.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/rec_codec.h"
#include "common/wal_format.h"

/* The calling thread's CPU time: on a shared machine it is distorted far
 * less by other processes than the wall clock (the two agree on an idle
 * one, as an append with fsync never does not block). */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The process's CPU time (all threads): the seal runs on the flusher. */
static double proc_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Minor page faults of the calling thread so far. */
static long thread_faults(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_minflt : 0;
}

/* A deterministic PRNG (xorshift64*), so runs are comparable. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* Appends the lines of every *.log file in dir to lines (NUL-separated). */
static size_t load_lines(const char *dir, struct clew_buf *lines)
{
    DIR *d = dir ? opendir(dir) : NULL;
    size_t n = 0;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        char path[1024], line[4096];
        if (l < 4 || strcmp(e->d_name + l - 4, ".log") != 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            line[strcspn(line, "\r\n")] = '\0';
            if (line[0] != '\0' && clew_buf_append(lines, line, strlen(line) + 1) == 0) {
                n++;
            }
        }
        if (f != NULL) {
            fclose(f);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

/* A log line from built-in templates (when no *.log directory is given). */
static int builtin_line(char *text, size_t cap, uint64_t x)
{
    unsigned a = (unsigned)(x >> 8) % 100000, b = (unsigned)(x >> 24) % 1000;
    unsigned c = (unsigned)(x >> 50) % 256;
    switch ((x >> 40) % 5) {
    case 0:
        return snprintf(text, cap,
                        "GET /api/v1/orders/%u?include=items HTTP/1.1 200 %u ms "
                        "upstream=orders-%u",
                        a, b, c);
    case 1:
        return snprintf(text, cap, "payment authorised: order=%u amount=%u.99 EUR card=****%u", a,
                        b, c);
    case 2:
        return snprintf(text, cap,
                        "connection from 10.2.%u.%u closed after %u requests (keep-alive timeout)",
                        c, b % 256, a);
    case 3:
        return snprintf(
            text, cap, "WARN slow query took %u ms: SELECT * FROM items WHERE owner_id = %u", b, a);
    default:
        return snprintf(text, cap,
                        "user u%u logged in from 192.168.%u.%u via oauth (session ttl 3600s)", a, c,
                        b % 256);
    }
}

/* Requests in flight: records of one request share its trace id (and a
 * span per service hop), as they do in real traffic. */
#define ACTIVE 64
struct gen_state {
    uint64_t rs;
    char trace[ACTIVE][33];
    char span[ACTIVE][17];
};

static void new_request(struct gen_state *g, int slot)
{
    snprintf(g->trace[slot], sizeof(g->trace[slot]), "%016llx%016llx",
             (unsigned long long)rng_next(&g->rs), (unsigned long long)rng_next(&g->rs));
    snprintf(g->span[slot], sizeof(g->span[slot]), "%016llx", (unsigned long long)rng_next(&g->rs));
}

/* Fills r with one realistic record; text holds its strings. */
static void make_record(struct clew_record *r, char *text, size_t cap, const char *line,
                        struct gen_state *g)
{
    static const char *const hosts[] = { "web-01", "web-02", "api-7f9c", "db-primary" };
    static const char *const svcs[] = { "gateway", "orders", "payments", "auth", "search" };
    static const char *const cids[] = { "4f2a9c0d1e3b", "9b1c77e0a2d4", "c3d5e6f70812",
                                        "0a1b2c3d4e5f", "77aa88bb99cc" };
    uint64_t x = rng_next(&g->rs);
    memset(r, 0, sizeof(*r));
    r->ts = 1795897778000000000LL + (int64_t)(x % 1000000000);
    r->level = (uint8_t)(x % 8 < 5 ? 6 : x % 8);
    r->input = CLEW_INPUT_FORWARD;
    r->labels[CLEW_LABEL_HOST] = (struct clew_str){ hosts[x % 4], strlen(hosts[x % 4]) };
    r->labels[CLEW_LABEL_SERVICE] = (struct clew_str){ svcs[x % 5], strlen(svcs[x % 5]) };
    r->labels[CLEW_LABEL_CONTAINER_ID] = (struct clew_str){ cids[x % 5], 12 };
    r->labels[CLEW_LABEL_CONTAINER_NAME] = (struct clew_str){ svcs[x % 5], strlen(svcs[x % 5]) };
    r->labels[CLEW_LABEL_STREAM] = x & 1 ? CLEW_STR_LIT("stdout") : CLEW_STR_LIT("stderr");
    int n = 0;
    if (line == NULL) {
        n = builtin_line(text, cap, x);
    } else {
        n = snprintf(text, cap, "%s", line);
    }
    r->message = (struct clew_str){ text, (size_t)n };
    int slot = (int)((x >> 32) % ACTIVE);
    if ((x >> 40) % 8 == 0) {
        new_request(g, slot); /* a request ended, another began */
    }
    if ((x >> 44) % 5 != 0) { /* a fifth of the records carry no ids */
        r->trace_id = (struct clew_str){ g->trace[slot], 32 };
        r->span_id = (struct clew_str){ g->span[slot], 16 };
    }
    if (x % 3 == 0) {
        int f = snprintf(text + n, cap - (size_t)n, "{\"user\":\"u%u\",\"attempt\":%u}",
                         (unsigned)(x >> 20) % 5000, (unsigned)(x >> 33) % 4);
        r->fields = (struct clew_str){ text + n, (size_t)f };
    }
}

/* Generates n records; they borrow *store, which the caller closes. */
static struct clew_record *generate(size_t n, const char *loghub, struct clew_buf *store,
                                    size_t *raw_bytes)
{
    struct clew_buf lines;
    clew_buf_init(&lines);
    size_t nl = load_lines(loghub, &lines);
    const char **lp = calloc(nl ? nl : 1, sizeof(*lp));
    for (size_t i = 0, off = 0; lp != NULL && i < nl; i++) {
        lp[i] = (const char *)lines.data + off;
        off += strlen(lp[i]) + 1;
    }
    struct gen_state g = { .rs = 0x9E3779B97F4A7C15ULL };
    for (int i = 0; i < ACTIVE; i++) {
        new_request(&g, i);
    }
    char text[4096 + 256];
    *raw_bytes = 0;
    for (size_t i = 0; lp != NULL && i < n; i++) {
        struct clew_record r;
        make_record(&r, text, sizeof(text), nl ? lp[i % nl] : NULL, &g);
        /* Keep an encoded copy; the records below are views into it. */
        if (clew_rec_encode(store, &r) < 0) {
            break;
        }
        *raw_bytes += clew_rec_raw_size(&r);
    }
    free(lp);
    clew_buf_close(&lines);
    struct clew_record *recs = calloc(n, sizeof(*recs));
    struct clew_rd rd;
    clew_rd_init(&rd, store->data, store->len);
    for (size_t i = 0; i < n; i++) {
        if (recs == NULL || clew_rec_decode(&rd, &recs[i]) < 0) {
            free(recs);
            return NULL;
        }
    }
    return recs;
}

static int count_cb(void *ud, uint64_t gen, const struct clew_record *rec)
{
    (void)gen;
    *(size_t *)ud += rec->message.len;
    return 0;
}

/* The encoding alone, then LZ4 alone (the WAL's acceleration) over the
 * same batches. Prints ns/record for each. */
static void breakdown(const struct clew_record *recs, size_t n, size_t batch)
{
    struct clew_buf raw;
    clew_buf_init(&raw);
    char *dst = NULL;
    double te = 0, tc = 0;
    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;
        double t0 = now_s();
        clew_buf_reset(&raw);
        for (size_t j = 0; j < k; j++) {
            clew_rec_encode(&raw, &recs[i + j]);
        }
        double t1 = now_s();
        int bound = LZ4_compressBound((int)raw.len);
        char *d = realloc(dst, (size_t)bound);
        if (d == NULL) {
            break;
        }
        dst = d;
        LZ4_compress_fast((const char *)raw.data, dst, (int)raw.len, bound, CLEW_WALF_LZ4_ACCEL);
        te += t1 - t0;
        tc += now_s() - t1;
    }
    printf("  of which: rec_encode %.0f ns/record, LZ4_compress_fast(%d) %.0f ns/record\n",
           te * 1e9 / (double)n, CLEW_WALF_LZ4_ACCEL, tc * 1e9 / (double)n);
    free(dst);
    clew_buf_close(&raw);
}

/* Appends every record to a new WAL of generation gen with the given LZ4
 * acceleration (0: stored); prints the cost and size. Returns 0 or 1. */
static int append_pass(const struct clew_record *recs, size_t n, size_t batch, size_t raw_bytes,
                       const char *dir, uint64_t gen, int accel)
{
    struct clew_wal *w;
    char err[CLEW_ERR_LEN], path[512];
    if (clew_wal_open(dir, gen, 1, &w, err) < 0) {
        fprintf(stderr, "wal_append: %s\n", err);
        return 1;
    }
    clew_wal_set_lz4(w, accel);
    double t0 = now_s();
    for (size_t i = 0; i < n; i += batch) {
        uint64_t seq;
        size_t k = n - i < batch ? n - i : batch;
        int rc = clew_wal_append(w, recs + i, k, &seq);
        if (rc < 0) {
            fprintf(stderr, "wal_append: append: %s\n", clew_strerror(rc));
            clew_wal_free(w);
            return 1;
        }
    }
    double ta = now_s() - t0;
    clew_wal_free(w);
    clew_wal_path(dir, gen, path, sizeof(path));
    struct stat sb;
    stat(path, &sb);
    char mode[32];
    snprintf(mode, sizeof(mode), accel > 0 ? "lz4 accel %d" : "stored", accel);
    printf("append %-13s %4.0f ns/record, %4.0f MB/s raw, file %5.1f MB (%5.1f B/record)\n", mode,
           ta * 1e9 / (double)n, (double)raw_bytes / 1e6 / ta, (double)sb.st_size / 1e6,
           (double)sb.st_size / (double)n);
    return 0;
}

static int replay_pass(size_t n, size_t raw_bytes, const char *dir, uint64_t gen)
{
    char err[CLEW_ERR_LEN], path[512];
    clew_wal_path(dir, gen, path, sizeof(path));
    struct clew_wal_replay_stats st;
    size_t sum = 0;
    double t0 = now_s();
    int rc = clew_wal_replay(path, 0, count_cb, &sum, &st, err);
    double tr = now_s() - t0;
    if (rc < 0 || st.records != n) {
        fprintf(stderr, "wal_append: replay: %s (%s)\n", clew_strerror(rc), err);
        return 1;
    }
    printf("replay of generation %" PRIu64 ": %.0f ns/record, %.0f MB/s raw\n", gen,
           tr * 1e9 / (double)n, (double)raw_bytes / 1e6 / tr);
    return 0;
}

/* The writer thread's whole cost: clew_store_append (WAL + memtable) with
 * the store's defaults but --fsync never and a seal every seal_bytes of raw
 * text (on the flusher, concurrently: the steady state, where memtables come
 * and go); then the close's last seal, in process CPU time. */
static int store_pass(const struct clew_record *recs, size_t n, size_t batch, const char *root,
                      size_t seal_bytes)
{
    char err[CLEW_ERR_LEN], data[600];
    snprintf(data, sizeof(data), "%s/data", root);
    struct clew_store_config sc;
    clew_store_config_default(&sc);
    sc.data_dir = data;
    sc.fsync = CLEW_FSYNC_NEVER;
    sc.seal_bytes = seal_bytes;
    struct clew_store *s;
    if (clew_store_open(&sc, NULL, NULL, &s, err) < 0) {
        fprintf(stderr, "wal_append: %s\n", err);
        return 1;
    }
    double t0 = now_s();
    long f0 = thread_faults();
    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;
        if (clew_store_append(s, recs + i, k, NULL) < 0) {
            fprintf(stderr, "wal_append: store append failed\n");
            break;
        }
    }
    double ta = now_s() - t0, c0 = proc_s();
    long faults = thread_faults() - f0;
    int rc = clew_store_seal(s);
    struct clew_store_stats st;
    clew_store_get_stats(s, &st);
    double tc = proc_s() - c0;
    printf("store append (WAL %s + memtable, seal every %zu MB): %.0f ns/record on the writer "
           "(%.3f page faults/record); %" PRIu64 " seals; last seal at close %.0f ns/record\n",
           sc.wal_lz4_accel > 0 ? "lz4" : "stored", seal_bytes >> 20, ta * 1e9 / (double)n,
           (double)faults / (double)n, st.seals, tc * 1e9 / (double)n);
    rc = rc < 0 ? rc : clew_store_close(s);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data);
    return rc < 0 || system(cmd) != 0;
}

static int run(struct clew_record *recs, size_t n, size_t batch, size_t raw_bytes, const char *root,
               size_t seal_bytes)
{
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/wal", root);
    printf("records %zu, batch %zu, raw %.1f MB (%.0f B/record)\n", n, batch,
           (double)raw_bytes / 1e6, (double)raw_bytes / (double)n);
    if (append_pass(recs, n, batch, raw_bytes, dir, 1, 0) != 0 ||
        append_pass(recs, n, batch, raw_bytes, dir, 2, CLEW_WALF_LZ4_ACCEL) != 0) {
        return 1;
    }
    breakdown(recs, n, batch);
    int rc = replay_pass(n, raw_bytes, dir, 1) || replay_pass(n, raw_bytes, dir, 2);
    clew_wal_remove(dir, 1);
    clew_wal_remove(dir, 2);
    rmdir(dir);
    return rc || store_pass(recs, n, batch, root, seal_bytes);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
    size_t batch = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000;
    const char *loghub = argc > 3 && argv[3][0] ? argv[3] : NULL;
    const char *tmp = argc > 4 ? argv[4] : "/tmp";
    size_t seal_mb = argc > 5 ? strtoull(argv[5], NULL, 10) : 8;
    if (n == 0 || batch == 0 || seal_mb == 0) {
        fprintf(stderr, "usage: wal_append [records] [batch] [loghub dir] [tmp dir] [seal MB]\n");
        return 2;
    }
    char root[512];
    snprintf(root, sizeof(root), "%s/clew-bench-wal-XXXXXX", tmp);
    if (mkdtemp(root) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    struct clew_buf store;
    clew_buf_init(&store);
    size_t raw_bytes;
    struct clew_record *recs = generate(n, loghub, &store, &raw_bytes);
    int rc = recs == NULL ? 1 : run(recs, n, batch, raw_bytes, root, seal_mb << 20);
    free(recs);
    clew_buf_close(&store);
    rmdir(root);
    return rc;
}
