/* SPDX-License-Identifier: MIT
 * rules: the cost of the alert rules at ingest. On a corpus from the
 * deterministic generator (bench/lib/corpus_gen) it times the ingest stage
 * clewd runs on the loop thread and the writer (GELF decode, correlation,
 * WAL record encoding + LZ4 per batch, memtable copy) with the alert
 * evaluator (collector/alerts.h, as the pipeline tap calls it) given 0, 10
 * and 100 rules, and prints records/s for each and the cost relative to 0
 * rules (the target: 100 rules <= 25 % slower). It also prints the
 * evaluator alone (ns/record), the share of records PCRE2 ran on, and the
 * matches and alerts. Thread CPU time, best of 7 rounds, the rule counts
 * interleaved.
 *
 * The 100 rules are the kind a shop writes: 90 specific patterns with a
 * literal (a few hit the corpus), 9 with alternations, where filters and
 * case folding, and 1 without any literal (it runs on every record).
 *
 * usage: rules [records (100000)] [seed (1)] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lz4.h>

#include "bench/lib/corpus_gen.h"
#include "collector/alerts.h"
#include "collector/correlate.h"
#include "collector/gelf_parse.h"
#include "collector/memtable.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/json_out.h"
#include "common/rec_codec.h"
#include "common/rules.h"

#define BATCH  512
#define ROUNDS 7

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "rules bench: %s: %s\n", what, err);
    exit(2);
}

static struct clew_str dup_str(struct clew_arena *a, struct clew_str s)
{
    char *p = clew_arena_dup(a, s.ptr != NULL ? s.ptr : "", s.len);
    if (p == NULL) {
        die("corpus", "out of memory");
    }
    return (struct clew_str){ p, s.len };
}

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
        die("generator", err);
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

/* A GELF payload for r (as bench/correlate.c builds them). */
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
    clew_buf_append(b, ",\"_service\":", 12);
    clew_json_put_str(b, r->labels[CLEW_LABEL_SERVICE].ptr, r->labels[CLEW_LABEL_SERVICE].len);
    clew_buf_append(b, "}", 1);
}

/* ---------------------------------------------------------------- rules */

/* Specific rules: prefix, the rule's number, suffix. */
static const char *const specific[][2] = {
    { "payment (declined|failed) code=E", "" },
    { "disk quota exceeded on vol-", "" },
    { "OutOfMemoryError in worker-", "" },
    { "circuit breaker open for upstream-", "" },
    { "deadlock detected in txn ", "" },
    { "certificate for shard-", " expires" },
    { "replica lag of ", " seconds" },
    { "kafka partition ", " rebalanced" },
    { "segfault at 0x", "" },
    { "queue backlog-", " over limit" },
};

/* Rules 0-8 are the varied ones and 99 has no literal; the 10-rule set is
 * those ten. */
static void add_rule(struct clew_buf *y, int i)
{
    char pat[160], extra[160] = "";
    static const char *const varied[] = {
        "(?i)connection reset by peer",
        "took [0-9]{4,} ms",
        "Received disconnect from [0-9.]+: 11: Bye Bye",
        "status=(500|502|503|504)",
        "(?i)exception|traceback",
        "Order [0-9]+ created for customer",
        "BLOCK\\* NameSystem\\.allocateBlock",
        "failed password for (invalid user )?\\w+",
        "cache miss key=user:[0-9]+",
    };
    if (i < 9) {
        snprintf(pat, sizeof(pat), "%s", varied[i]);
        if (i % 3 == 1) {
            snprintf(extra, sizeof(extra), "    where: { level: warning }\n");
        }
    } else if (i == 99) {
        snprintf(pat, sizeof(pat), "^[A-Z][a-z]+ [0-9]{2,} [A-Z]{3,}"); /* no literal */
    } else {
        snprintf(pat, sizeof(pat), "%s%03d%s", specific[i % 10][0], i, specific[i % 10][1]);
    }
    char rule[640];
    int n = snprintf(rule, sizeof(rule),
                     "  - name: r%d\n    match: '%s'\n%s    threshold: 100\n    window: 1m\n"
                     "    group_by: [service]\n    actions: [ { log: {} } ]\n",
                     i, pat, extra);
    clew_buf_append(y, rule, (size_t)n);
}

static struct clew_rules *make_rules(int n)
{
    struct clew_buf y;
    clew_buf_init(&y);
    clew_buf_append(&y, "rules:\n", 7);
    for (int i = 0; i < n; i++) {
        add_rule(&y, n == 10 ? (i < 9 ? i : 99) : i);
    }
    struct clew_rules *rs;
    char err[CLEW_ERR_LEN];
    if (clew_rules_parse((const char *)y.data, y.len, &rs, err) != 0) {
        die("rules", err);
    }
    clew_buf_close(&y);
    return rs;
}

/* --------------------------------------------------------------- ingest */

static uint64_t events;

static void on_event(void *ud, const struct clew_alert_event *ev)
{
    (void)ud;
    (void)ev;
    events++;
}

static struct clew_alerts *make_alerts(int nrules)
{
    struct clew_alerts *a;
    struct clew_alerts_opts o = { on_event, NULL, NULL, NULL, 0 };
    if (clew_alerts_new(&o, &a) != 0 || clew_alerts_set_rules(a, make_rules(nrules), NULL) != 0) {
        die("alerts", "out of memory");
    }
    return a;
}

struct ingest {
    struct clew_buf wal, lz;
    struct clew_memtable *mt;
    struct clew_arena arena;
    size_t in_batch;
};

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

/* One timed round of the ingest stage; a: the evaluator (NULL: no tap). */
static double ingest_round(const struct clew_buf *gelf, const size_t *off, size_t n,
                           const struct clew_record *recs, struct clew_alerts *a)
{
    struct ingest g;
    memset(&g, 0, sizeof(g));
    clew_buf_init(&g.wal);
    clew_buf_init(&g.lz);
    clew_arena_init(&g.arena, 1 << 20);
    g.mt = clew_memtable_new(1);
    struct clew_correlate_opts co;
    struct clew_correlator *c;
    char err[CLEW_ERR_LEN];
    clew_correlate_opts_default(&co);
    if (clew_correlator_new(&co, &c, err) != 0) {
        die("correlator", err);
    }
    double t0 = cpu_s();
    for (size_t i = 0; i < n; i++) {
        struct clew_record r;
        if (clew_gelf_parse(gelf->data + off[i], off[i + 1] - off[i], recs[i].ts, NULL, &r,
                            &g.arena) != 0) {
            continue;
        }
        struct clew_correlation out;
        clew_correlate(c, &r, &g.arena, &out);
        if (a != NULL) {
            clew_alerts_eval(a, &r);
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

static double eval_round(const struct clew_record *recs, size_t n, struct clew_alerts *a)
{
    double t0 = cpu_s();
    for (size_t i = 0; i < n; i++) {
        clew_alerts_eval(a, &recs[i]);
    }
    return cpu_s() - t0;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    struct clew_arena arena;
    clew_arena_init(&arena, 1 << 22);
    size_t got;
    struct clew_record *recs = make_corpus(n, seed, &arena, &got);
    struct clew_buf gelf;
    size_t *off = malloc((got + 1) * sizeof(size_t));
    clew_buf_init(&gelf);
    for (size_t i = 0; i < got; i++) {
        off[i] = gelf.len;
        put_gelf(&gelf, &recs[i]);
    }
    off[got] = gelf.len;
    static const int counts[] = { 0, 10, 100 };
    double ingest[3], eval[3];
    struct clew_alerts_stats st[3];
    struct clew_alerts *a[3];
    for (int k = 0; k < 3; k++) {
        a[k] = counts[k] ? make_alerts(counts[k]) : NULL;
        ingest[k] = eval[k] = 1e30;
    }
    /* Rounds interleave the rule counts, so a busy neighbour hits all alike. */
    for (int round = 0; round < ROUNDS; round++) {
        for (int k = 0; k < 3; k++) {
            double t = ingest_round(&gelf, off, got, recs, a[k]);
            ingest[k] = t < ingest[k] ? t : ingest[k];
            t = a[k] != NULL ? eval_round(recs, got, a[k]) : 0;
            eval[k] = t < eval[k] ? t : eval[k];
        }
    }
    for (int k = 0; k < 3; k++) {
        memset(&st[k], 0, sizeof(st[k]));
        if (a[k] != NULL) {
            clew_alerts_get_stats(a[k], &st[k]);
        }
        clew_alerts_free(a[k]);
    }
    size_t msg = 0;
    for (size_t i = 0; i < got; i++) {
        msg += recs[i].message.len;
    }
    printf("alert rules at ingest: %zu records (messages of %.0f bytes on average), best of %d\n",
           got, (double)msg / (double)got, ROUNDS);
    printf("  %-6s %14s %10s %12s %12s %10s %9s\n", "rules", "ingest rec/s", "ns/rec", "vs 0 rules",
           "eval ns/rec*", "pcre2 %", "matches");
    for (int k = 0; k < 3; k++) {
        double per = ingest[k] * 1e9 / (double)got;
        double ev = st[k].evaluations ? (double)st[k].candidates / (double)st[k].evaluations : 0;
        printf("  %-6d %14.0f %10.0f %+11.1f%% %12.1f %9.2f%% %9llu\n", counts[k],
               (double)got / ingest[k], per, (ingest[k] / ingest[0] - 1) * 100,
               eval[k] * 1e9 / (double)got, ev * 100, (unsigned long long)st[k].matches);
    }
    printf("  (*: the evaluator alone over the corpus, messages cold in cache; pcre2 %%: pattern\n"
           "  runs per record; alerts fired: %llu)\n",
           (unsigned long long)events);
    printf("target: 100 rules <= 25%% slower than 0: %s\n",
           ingest[2] <= ingest[0] * 1.25 ? "met" : "NOT met");
    clew_buf_close(&gelf);
    free(off);
    free(recs);
    clew_arena_close(&arena);
    return 0;
}
