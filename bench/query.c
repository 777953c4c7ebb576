/* SPDX-License-Identifier: MIT
 * bench/query: the query engine against grep tools, on the generated
 * corpus. For each size (default 1M and 10M records) it builds a store and
 * the same records as raw text lines (bench/storage's format), then prints
 * side by side the scan speed in MB/s of raw text (raw file bytes / wall
 * time; median of --runs) for three patterns: a literal id, a
 * case-insensitive word and `status=5[0-9]{2}`, as `clew grep -c` (in
 * process and as a command) beside `zstd -dc raw.zst | grep -E -c`,
 * `grep -E -c` and `rg -c` on the uncompressed file (all with LC_ALL=C);
 * and the trace lookup latency (median of 100 ids, through the trace
 * index) beside a full scan.
 *
 *   query [--records N[,N...]] [--seed S] [--dir TMP] [--loghub DIR]
 *         [--clew PATH] [--runs R] [--keep]
 *
 * It also makes stores for tests: --make-store DIR [--records N] [--seed S]
 * [--loghub DIR] [--messages FILE] [--seal-records K] [--wal-tail K]
 * [--rate R] writes N records (R a simulated second) to a store at DIR
 * (sealed every K records), leaves the last K
 * records only in the WAL (as a running collector would), and writes every
 * message as one line of FILE. Not a test: it prints figures. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/lib/corpus_gen.h"
#include "collector/store.h"
#include "bench/lib/raw_line.h"
#include "common/alloc.h"
#include "common/rec_copy.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/json_out.h"
#include "common/timeutil.h"
#include "query/engine.h"
#include "query/matcher.h"

#define CHUNK   100000
#define BATCH   1000
#define LOOKUPS 100

struct opts {
    uint64_t sizes[8];
    int nsizes;
    uint64_t seed;
    const char *dir, *loghub, *clew;
    int runs, keep;
    const char *make_store, *messages;
    uint64_t seal_records, wal_tail;
    uint32_t rate;
};

struct made {
    uint64_t records, raw_bytes, newline_msgs;
    char ids[LOOKUPS][33]; /* trace ids that also appear in their message */
    size_t nids;
};

static double now_s(void)
{
    return (double)clew_time_mono_ns() / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n > 0 ? v[n / 2] : 0;
}



/* Reservoir sample of trace ids that also appear in the message text. */
static void sample_id(struct made *m, uint64_t *seen, uint64_t *rng, const struct clew_record *r)
{
    if (r->trace_id.len != 32 || clew_matcher_find(r->message.ptr, r->message.len, r->trace_id.ptr,
                                                   r->trace_id.len, 0) < 0) {
        return;
    }
    *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t k = (*seen)++ < LOOKUPS ? *seen - 1 : (*rng >> 11) % *seen;
    if (k < LOOKUPS) {
        memcpy(m->ids[k], r->trace_id.ptr, 32);
        m->ids[k][32] = '\0';
    }
}

struct sinks {
    FILE *raw, *msgs;
    struct clew_buf line;
};

static void sink_record(struct sinks *k, struct made *m, const struct clew_record *r)
{
    m->raw_bytes += r->message.len;
    if (k->raw != NULL) {
        clew_bench_write_raw(k->raw, &k->line, r);
    }
    if (k->msgs != NULL) {
        m->newline_msgs += memchr(r->message.ptr, '\n', r->message.len) != NULL;
        fwrite(r->message.ptr, 1, r->message.len, k->msgs);
        fputc('\n', k->msgs);
    }
}

static int append_all(struct clew_store *s, const struct clew_record *recs, size_t n)
{
    for (size_t i = 0; i < n; i += BATCH) {
        if (clew_store_append(s, recs + i, n - i < BATCH ? n - i : BATCH, NULL) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Generates n records into a store at data (and the sinks). With wal_tail,
 * the last records are appended after the last seal and the store is left
 * open: the caller exits without closing it. */
static int make(const struct opts *o, uint64_t n, const char *data, struct sinks *k, struct made *m,
                struct clew_store **left_open)
{
    struct clew_gen_opts go;
    clew_gen_opts_default(&go);
    go.seed = o->seed;
    go.records = n;
    go.resolved_ids = 1;
    go.loghub_dir = o->loghub;
    go.rate = o->rate > 0 ? o->rate : go.rate;
    struct clew_gen *g;
    struct clew_store *s;
    char err[CLEW_ERR_LEN];
    if (clew_gen_new(&go, &g, err) < 0) {
        fprintf(stderr, "query: generator: %s\n", err);
        return -1;
    }
    struct clew_store_config sc;
    clew_store_config_default(&sc);
    sc.data_dir = data;
    sc.fsync = CLEW_FSYNC_NEVER;
    sc.seal_age_ns = INT64_MAX / 4;
    if (clew_store_open(&sc, NULL, NULL, &s, err) < 0) {
        fprintf(stderr, "query: %s\n", err);
        clew_gen_free(g);
        return -1;
    }
    struct clew_record *recs = clew_xmalloc(CHUNK * sizeof(*recs));
    struct clew_arena arena;
    clew_arena_init(&arena, 16u << 20);
    uint64_t seen = 0, rng = o->seed * 2654435761u + 1, done = 0, since_seal = 0;
    uint64_t sealed_part = o->wal_tail < n ? n - o->wal_tail : 0;
    int rc = 0;
    memset(m, 0, sizeof(*m));
    while (rc == 0 && done < n) {
        size_t c = 0;
        clew_arena_reset(&arena);
        uint64_t stop = done < sealed_part ? sealed_part : n; /* a chunk never crosses it */
        while (c < CHUNK && done + c < stop && clew_gen_next(g, &recs[c]) == 1) {
            clew_rec_copy(&recs[c], &recs[c], &arena);
            sink_record(k, m, &recs[c]);
            sample_id(m, &seen, &rng, &recs[c]);
            c++;
        }
        if (c == 0) {
            break;
        }
        for (size_t i = 0; rc == 0 && i < c;) { /* seal every seal_records */
            size_t part = c - i;
            if (o->seal_records > 0 && part > o->seal_records - since_seal) {
                part = o->seal_records - since_seal;
            }
            rc = append_all(s, recs + i, part);
            i += part;
            since_seal += part;
            if (rc == 0 && o->seal_records > 0 && since_seal == o->seal_records) {
                rc = clew_store_seal(s);
                since_seal = 0;
            }
        }
        done += c;
        if (rc == 0 && done == sealed_part && o->wal_tail > 0) {
            rc = clew_store_seal(s);
        }
    }
    m->records = done;
    m->nids = seen < LOOKUPS ? seen : LOOKUPS;
    clew_arena_close(&arena);
    clew_free(recs);
    clew_gen_free(g);
    if (o->wal_tail > 0 && rc == 0) {
        *left_open = s;
        return 0;
    }
    int crc = clew_store_close(s);
    return rc < 0 ? rc : crc;
}

static int make_store_main(const struct opts *o)
{
    struct sinks k = { NULL, NULL, { 0 } };
    struct made m;
    struct clew_store *open_store = NULL;
    if (o->messages != NULL && (k.msgs = fopen(o->messages, "w")) == NULL) {
        fprintf(stderr, "query: %s: %s\n", o->messages, strerror(errno));
        return 2;
    }
    clew_buf_init(&k.line);
    int rc = make(o, o->sizes[0], o->make_store, &k, &m, &open_store);
    if (k.msgs != NULL && fclose(k.msgs) != 0) {
        rc = -EIO;
    }
    clew_buf_close(&k.line);
    printf("records %" PRIu64 " newline_messages %" PRIu64 " id %s\n", m.records, m.newline_msgs,
           m.nids > 0 ? m.ids[0] : "-");
    fflush(stdout);
    if (open_store != NULL) {
        _exit(0); /* as a running collector: the tail stays in the WAL */
    }
    return rc < 0 ? 2 : 0;
}

/* ---- measuring ---- */

static uint64_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* Runs cmd (its stdout: one count), returns the wall time; *count gets it. */
static double time_cmd(const char *cmd, long long *count)
{
    double t0 = now_s();
    FILE *p = popen(cmd, "r");
    long long v = -1;
    if (p != NULL) {
        if (fscanf(p, "%lld", &v) != 1) {
            v = -1;
        }
        pclose(p);
    }
    *count = v;
    return now_s() - t0;
}

static int null_emit(void *ud, const struct clew_record *r)
{
    (void)r;
    (*(uint64_t *)ud)++;
    return 0;
}

/* One in-process query; returns seconds (negative on error). */
static double time_query(const char *data, const struct clew_query_spec *sp, uint64_t *matched,
                         struct clew_query_stats *st)
{
    struct clew_query *q;
    char err[CLEW_ERR_LEN];
    uint64_t n = 0;
    if (clew_query_new(sp, &q, err) < 0) {
        fprintf(stderr, "query: %s\n", err);
        return -1;
    }
    double t0 = now_s();
    int rc = clew_query_run(q, data, null_emit, NULL, &n, st, err);
    double t = now_s() - t0;
    clew_query_free(q);
    if (rc < 0) {
        fprintf(stderr, "query: %s\n", err);
        return -1;
    }
    *matched = sp->count_only ? st->matched : n;
    return t;
}

struct pattern {
    const char *name, *pat;
    int icase;
};

struct row {
    uint64_t clew_n;
    long long n[4];
    double t[5]; /* clew in-process, clew command, zstd|grep, grep, rg */
};

static void measure(const struct opts *o, const char *data, const char *raw,
                    const struct pattern *p, struct row *row)
{
    double t[5][16];
    char cmd[5][8800];
    const char *i = p->icase ? "-i " : "";
    snprintf(cmd[1], sizeof(cmd[1]), "'%s' grep -c %s--data '%s' '%s'", o->clew, i, data, p->pat);
    snprintf(cmd[2], sizeof(cmd[2]), "zstd -dc '%s.zst' | LC_ALL=C grep -E -c %s'%s'", raw, i,
             p->pat);
    snprintf(cmd[3], sizeof(cmd[3]), "LC_ALL=C grep -E -c %s'%s' '%s'", i, p->pat, raw);
    snprintf(cmd[4], sizeof(cmd[4]), "LC_ALL=C rg -c %s'%s' '%s'", i, p->pat, raw);
    struct clew_query_spec sp;
    clew_query_spec_init(&sp);
    sp.pattern = p->pat;
    sp.icase = p->icase;
    sp.count_only = 1;
    int runs = o->runs < 16 ? o->runs : 16;
    for (int r = 0; r < runs; r++) {
        struct clew_query_stats st;
        t[0][r] = time_query(data, &sp, &row->clew_n, &st);
        for (int c = 1; c < 5; c++) {
            t[c][r] = time_cmd(cmd[c], &row->n[c - 1]);
        }
    }
    for (int c = 0; c < 5; c++) {
        row->t[c] = median(t[c], runs);
    }
}

static void print_row(const struct pattern *p, const struct row *r, double mb)
{
    printf("%-26s %9" PRIu64 " %9lld", p->name, r->clew_n, r->n[3]);
    for (int c = 0; c < 5; c++) {
        printf(" %8.0f", r->t[c] > 0 ? mb / r->t[c] : 0);
    }
    printf("   %5.2fx %5.2fx\n", r->t[0] > 0 ? r->t[2] / r->t[0] : 0,
           r->t[0] > 0 ? r->t[4] / r->t[0] : 0);
}

/* Median trace lookup (in-process and command) vs a full scan, in ms. */
static void lookups(const struct opts *o, const char *data, const struct made *m)
{
    double in[LOOKUPS], cmd[LOOKUPS], hits = 0;
    for (size_t i = 0; i < m->nids; i++) {
        struct clew_query_spec sp;
        clew_query_spec_init(&sp);
        sp.filter.trace_id = (struct clew_str){ m->ids[i], 32 };
        struct clew_query_stats st;
        uint64_t got = 0;
        in[i] = time_query(data, &sp, &got, &st) * 1e3;
        hits += (double)got;
        char c[8800];
        long long dummy;
        snprintf(c, sizeof(c), "'%s' grep --json --data '%s' --trace %s '' >/dev/null; echo 0",
                 o->clew, data, m->ids[i]);
        cmd[i] = time_cmd(c, &dummy) * 1e3;
    }
    struct clew_query_spec sp; /* the same id as text: every message is read */
    clew_query_spec_init(&sp);
    sp.pattern = m->ids[0];
    sp.count_only = 1;
    struct clew_query_stats st;
    uint64_t all = 0;
    double scan = time_query(data, &sp, &all, &st) * 1e3;
    int k = (int)m->nids;
    double med_in = median(in, k), med_cmd = median(cmd, k);
    printf("trace lookup (median of %d ids, %.1f records each): in-process %.2f ms, "
           "`clew grep --trace` command %.2f ms; the id as a pattern (a full scan of %" PRIu64
           " records' messages, %" PRIu64 " found): %.0f ms, %.0fx the lookup\n",
           k, k ? hits / k : 0, med_in, med_cmd, st.records_scanned, all, scan,
           med_in > 0 ? scan / med_in : 0);
}

static void run_size(const struct opts *o, uint64_t n)
{
    char data[4096], raw[4096], cmd[8400];
    snprintf(data, sizeof(data), "%s/clew-bench-query-%" PRIu64, o->dir, n);
    snprintf(raw, sizeof(raw), "%s/clew-bench-query-%" PRIu64 ".log", o->dir, n);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s' '%s.zst'", data, raw, raw);
    if (system(cmd) != 0) {
        return;
    }
    struct sinks k = { fopen(raw, "w"), NULL, { 0 } };
    struct made m;
    struct clew_store *unused = NULL;
    clew_buf_init(&k.line);
    int rc = k.raw != NULL ? make(o, n, data, &k, &m, &unused) : -1;
    if (k.raw != NULL) {
        fclose(k.raw);
    }
    clew_buf_close(&k.line);
    snprintf(cmd, sizeof(cmd), "zstd -q -f -3 -T0 '%s' -o '%s.zst'", raw, raw);
    if (rc < 0 || m.nids == 0 || system(cmd) != 0) {
        fprintf(stderr, "query: could not build the %" PRIu64 "-record corpus\n", n);
        return;
    }
    double mb = (double)file_size(raw) / 1e6;
    printf("\n== %" PRIu64 " records (seed %" PRIu64 "): raw text %.1f MB, raw.zst %.1f MB, "
           "messages %.1f MB ==\n",
           m.records, o->seed, mb, (double)file_size(strcat(strcpy(cmd, raw), ".zst")) / 1e6,
           (double)m.raw_bytes / 1e6);
    printf("MB/s of raw text (median of %d runs; LC_ALL=C; counts: clew counts messages, the "
           "others lines)\n",
           o->runs);
    printf("%-26s %9s %9s %8s %8s %8s %8s %8s   %6s %6s\n", "pattern", "clew", "rg", "clew",
           "clew cmd", "zstd|grep", "grep", "rg", "vs z|g", "vs rg");
    char lit[64];
    snprintf(lit, sizeof(lit), "%s", m.ids[0]);
    const struct pattern pats[] = { { "literal id", lit, 0 },
                                    { "-i timeout", "timeout", 1 },
                                    { "status=5[0-9]{2}", "status=5[0-9]{2}", 0 } };
    for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
        struct row r;
        measure(o, data, raw, &pats[i], &r);
        print_row(&pats[i], &r, mb);
        fflush(stdout);
    }
    lookups(o, data, &m);
    fflush(stdout);
    if (!o->keep) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s' '%s.zst'", data, raw, raw);
        if (system(cmd) != 0) {
            fprintf(stderr, "query: cleanup failed\n");
        }
    }
}

static int parse_sizes(struct opts *o, char *p)
{
    o->nsizes = 0;
    while (*p && o->nsizes < 8) {
        o->sizes[o->nsizes++] = strtoull(p, &p, 10);
        if (*p != ',') {
            break;
        }
        p++;
    }
    return o->nsizes > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof(o));
    o.sizes[0] = 1000000;
    o.sizes[1] = 10000000;
    o.nsizes = 2;
    o.seed = 42;
    o.dir = "/tmp";
    o.loghub = "../shared/corpus/loghub";
    o.clew = "./build/clew";
    o.runs = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int used = 1;
        if (strcmp(a, "--keep") == 0) {
            o.keep = 1;
            used = 0;
        } else if (v == NULL) {
            used = -1;
        } else if (strcmp(a, "--records") == 0) {
            used = parse_sizes(&o, argv[i + 1]) == 0 ? 1 : -1;
        } else if (strcmp(a, "--seed") == 0) {
            o.seed = strtoull(v, NULL, 10);
        } else if (strcmp(a, "--dir") == 0) {
            o.dir = v;
        } else if (strcmp(a, "--loghub") == 0) {
            o.loghub = strcmp(v, "none") == 0 ? NULL : v;
        } else if (strcmp(a, "--clew") == 0) {
            o.clew = v;
        } else if (strcmp(a, "--runs") == 0) {
            o.runs = atoi(v) > 0 ? atoi(v) : 1;
        } else if (strcmp(a, "--make-store") == 0) {
            o.make_store = v;
        } else if (strcmp(a, "--messages") == 0) {
            o.messages = v;
        } else if (strcmp(a, "--seal-records") == 0) {
            o.seal_records = strtoull(v, NULL, 10);
        } else if (strcmp(a, "--rate") == 0) {
            o.rate = (uint32_t)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--wal-tail") == 0) {
            o.wal_tail = strtoull(v, NULL, 10);
        } else {
            used = -1;
        }
        if (used < 0) {
            fprintf(stderr, "usage: query [--records N[,N]] [--seed S] [--dir TMP] [--loghub DIR] "
                            "[--clew PATH] [--runs R] [--keep]\n"
                            "       query --make-store DIR [--records N] [--messages FILE] "
                            "[--seal-records K] [--wal-tail K] [--rate R]\n");
            return 2;
        }
        i += used;
    }
    if (o.make_store != NULL) {
        return make_store_main(&o);
    }
    for (int i = 0; i < o.nsizes; i++) {
        run_size(&o, o.sizes[i]);
    }
    return 0;
}
