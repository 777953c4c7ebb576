/* SPDX-License-Identifier: MIT
 * Tests of the query engine and its matcher: the required-literal parser
 * and the SIMD literal search against naive references; then whole queries
 * over a real store (two sealed generations overlapping in time, a third
 * still in the WAL) checked record by record against PCRE2 run directly on
 * every record: patterns with -i, -v, -F and anchors, time, label, level
 * and trace filters, order (and --reverse) across segments and the WAL,
 * -m early stop, -c, damaged blocks, bad patterns, the match and time
 * limits, cancelling. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <fcntl.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector/seg_writer.h"
#include "collector/store.h"
#include "common/datadir.h"
#include "common/timeutil.h"
#include "query/engine.h"
#include "query/matcher.h"
#include "query/seg_reader.h"

#define T0    (1795896000LL * CLEW_NS_PER_SEC) /* 2026-11-28T20:00:00Z, an hour start */
#define NREC  3000
#define NGEN1 1200
#define NGEN2 1200
#define SEC   CLEW_NS_PER_SEC

static char tmpdir[256];
static struct clew_store *store;

/* ---- the record set ---- */

struct rec {
    struct clew_record r;
    char msg[96], trace[40];
};

static struct rec recs[NREC];
static const char *services[] = { "gateway", "orders", "payments", "auth" };
static const char *hosts[] = { "web-1", "web-2", "db-1" };

static int64_t ts_of(int i)
{
    if (i < NGEN1) {
        return T0 + (int64_t)i * SEC; /* gen 1: first 20 min of hour 0 */
    }
    if (i < NGEN1 + NGEN2) { /* gen 2: between gen 1's records, into hour 1 */
        return T0 + (int64_t)(i - NGEN1) * 4 * SEC + SEC / 2;
    }
    return T0 + 3500 * SEC + (int64_t)(i - NGEN1 - NGEN2) * SEC + SEC / 4; /* gen 3: WAL */
}

static void make_msg(char *m, size_t len, int i)
{
    unsigned v = (unsigned)i * 2654435761u;
    switch (i % 9) {
    case 0:
        snprintf(m, len, "r%04d GET /api/orders/%u status=%u duration_ms=%u", i, v % 1000,
                 (v >> 8) % 2 ? 200 : 500 + (v >> 12) % 100, (v >> 4) % 900);
        break;
    case 1:
        snprintf(m, len, "r%04d user u%u logged in", i, v % 97);
        break;
    case 2:
        snprintf(m, len, "r%04d %s waiting for db", i, (v >> 3) % 2 ? "Timeout" : "TIMEOUT");
        break;
    case 3:
        snprintf(m, len, "r%04d ERROR: disk %s on /dev/sd%c", i, v % 3 ? "full" : "empty",
                 'a' + (int)(v % 4));
        break;
    case 4:
        snprintf(m, len, "r%04d payment id=%08x OK", i, v);
        break;
    case 5:
        snprintf(m, len, "r%04d caf\xc3\xa9 \xff\xfe bytes abc a.c", i);
        break;
    case 6:
        snprintf(m, len, "r%04d aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", i);
        break;
    case 7:
        snprintf(m, len, "r%04d", i); /* short */
        break;
    default:
        snprintf(m, len, "r%04d timeout=%us retry error", i, v % 60);
        break;
    }
}

static void make_rec(struct rec *x, int i)
{
    memset(x, 0, sizeof(*x));
    make_msg(x->msg, sizeof(x->msg), i);
    snprintf(x->trace, sizeof(x->trace), "%032x", (unsigned)(i % 50 + 1));
    x->r.ts = ts_of(i);
    x->r.level = (uint8_t)(i % 8);
    x->r.input = CLEW_INPUT_SYSLOG;
    x->r.labels[CLEW_LABEL_HOST] = (struct clew_str){ hosts[i % 3], strlen(hosts[i % 3]) };
    const char *svc = services[(i / 7) % 4];
    x->r.labels[CLEW_LABEL_SERVICE] = (struct clew_str){ svc, strlen(svc) };
    x->r.message = (struct clew_str){ x->msg, strlen(x->msg) };
    x->r.trace_id = (struct clew_str){ x->trace, 32 };
}

static void append(int from, int to)
{
    struct clew_record batch[16];
    for (int i = from; i < to;) {
        size_t n = 0;
        for (; n < 16 && i < to; n++, i++) {
            batch[n] = recs[i].r;
        }
        assert_int_equal(clew_store_append(store, batch, n, NULL), 0);
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/clew-test-engine-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        return -1;
    }
    for (int i = 0; i < NREC; i++) {
        make_rec(&recs[i], i);
    }
    struct clew_store_config cfg;
    char err[CLEW_ERR_LEN];
    clew_store_config_default(&cfg);
    cfg.data_dir = tmpdir;
    cfg.fsync = CLEW_FSYNC_NEVER;
    cfg.seal_age_ns = INT64_MAX / 4;
    cfg.seg.block_records = 64; /* many blocks */
    if (clew_store_open(&cfg, NULL, NULL, &store, err) < 0) {
        fprintf(stderr, "store: %s\n", err);
        return -1;
    }
    append(0, NGEN1);
    if (clew_store_seal(store) < 0) {
        return -1;
    }
    append(NGEN1, NGEN1 + NGEN2);
    if (clew_store_seal(store) < 0) {
        return -1;
    }
    append(NGEN1 + NGEN2, NREC); /* stays in the WAL and memtable */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    clew_store_close(store);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd);
}

/* ---- running queries ---- */

struct got {
    int ids[NREC + 1];
    int64_t ts[NREC + 1];
    size_t n;
    int damaged;
    char why[200];
};

/* Checks happen here but fail after the query returned (a failed assertion
 * must not jump out of the engine while its threads run). */
static int collect(void *ud, const struct clew_record *r)
{
    struct got *g = ud;
    int id = 0;
    for (size_t k = 1; k < 5 && k < r->message.len; k++) {
        id = id * 10 + (r->message.ptr[k] - '0');
    }
    if (r->message.len < 5 || r->message.ptr[0] != 'r' || id < 0 || id >= NREC || g->n >= NREC) {
        snprintf(g->why, sizeof(g->why), "unexpected record '%.*s'", (int)r->message.len,
                 r->message.ptr);
        return -1;
    }
    const struct clew_record *w = &recs[id].r;
    if (r->ts != w->ts || r->level != w->level || r->message.len != w->message.len ||
        memcmp(r->message.ptr, w->message.ptr, w->message.len) != 0 || r->trace_id.len != 32 ||
        memcmp(r->trace_id.ptr, recs[id].trace, 32) != 0 ||
        r->labels[CLEW_LABEL_SERVICE].len != w->labels[CLEW_LABEL_SERVICE].len) {
        snprintf(g->why, sizeof(g->why), "record r%04d does not come back whole", id);
        return -1;
    }
    g->ids[g->n] = id;
    g->ts[g->n++] = r->ts;
    return 0;
}

static void on_damage(void *ud, const char *msg)
{
    (void)msg;
    ((struct got *)ud)->damaged++;
}

static int run_spec(const struct clew_query_spec *sp, const char *dir, struct got *g,
                    struct clew_query_stats *st)
{
    struct clew_query *q;
    char err[CLEW_ERR_LEN];
    int rc = clew_query_new(sp, &q, err);
    if (rc < 0) {
        fail_msg("query_new(%s): %s", sp->pattern, err);
    }
    memset(g, 0, sizeof(*g));
    rc = clew_query_run(q, dir, collect, on_damage, g, st, err);
    clew_query_free(q);
    if (g->why[0] != '\0') {
        fail_msg("pattern '%s': %s", sp->pattern, g->why);
    }
    return rc;
}

/* PCRE2 on each record: the reference (re NULL: the empty pattern). */
static int ref_match(const struct clew_query_spec *sp, pcre2_code *re, pcre2_match_data *md, int i)
{
    const struct clew_record *r = &recs[i].r;
    if (!clew_filter_match(&sp->filter, r) || (sp->level_max >= 0 && r->level > sp->level_max)) {
        return 0;
    }
    int m = re == NULL ||
            pcre2_match(re, (PCRE2_SPTR)r->message.ptr, r->message.len, 0, 0, md, NULL) >= 0;
    return m != sp->invert;
}

static int by_ts(const void *a, const void *b)
{
    int64_t x = recs[*(const int *)a].r.ts, y = recs[*(const int *)b].r.ts;
    return (x > y) - (x < y);
}

/* The expected ids in order (ts are distinct). */
static size_t expected(const struct clew_query_spec *sp, int *ids)
{
    size_t n = 0;
    pcre2_code *re = NULL;
    pcre2_match_data *md = NULL;
    if (sp->pattern[0] != '\0') {
        int code;
        PCRE2_SIZE off;
        uint32_t fl = (sp->icase ? PCRE2_CASELESS : 0) | (sp->fixed ? PCRE2_LITERAL : 0);
        re = pcre2_compile((PCRE2_SPTR)sp->pattern, PCRE2_ZERO_TERMINATED, fl, &code, &off, NULL);
        assert_non_null(re);
        md = pcre2_match_data_create_from_pattern(re, NULL);
    }
    for (int i = 0; i < NREC; i++) {
        if (ref_match(sp, re, md, i)) {
            ids[n++] = i;
        }
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    qsort(ids, n, sizeof(*ids), by_ts);
    if (sp->reverse) {
        for (size_t k = 0; k < n / 2; k++) {
            int t = ids[k];
            ids[k] = ids[n - 1 - k];
            ids[n - 1 - k] = t;
        }
    }
    return n;
}

static void check_spec(const struct clew_query_spec *sp)
{
    static int want[NREC];
    static struct got g;
    struct clew_query_stats st;
    size_t n = expected(sp, want);
    assert_int_equal(run_spec(sp, tmpdir, &g, &st), 0);
    if (g.n != n) {
        fail_msg("pattern '%s' i%d v%d F%d rev%d: %zu matches, want %zu", sp->pattern, sp->icase,
                 sp->invert, sp->fixed, sp->reverse, g.n, n);
    }
    for (size_t k = 0; k < n; k++) {
        if (g.ids[k] != want[k]) {
            fail_msg("pattern '%s': match %zu is r%04d, want r%04d", sp->pattern, k, g.ids[k],
                     want[k]);
        }
    }
    assert_int_equal(st.matched, n);
    /* -c gives the same count */
    struct clew_query_spec c = *sp;
    c.count_only = 1;
    assert_int_equal(run_spec(&c, tmpdir, &g, &st), 0);
    assert_int_equal(g.n, 0);
    assert_int_equal(st.matched, n);
}

/* ---- matcher unit tests ---- */

static void test_required_literal(void **state)
{
    (void)state;
    static const struct {
        const char *pat, *lit;
        int pure;
    } cases[] = {
        { "hello", "hello", 1 },
        { "status=5[0-9]{2}", "status=5", 0 },
        { "ab*c", "a", 0 },
        { "abc?de", "ab", 0 },
        { "abc+de", "abc", 0 },
        { "x{0,3}yz", "yz", 0 },
        { "(foo|bar)bazz", "bazz", 0 },
        { "foo|barbaz", "", 0 },
        { "^ERROR: disk", "ERROR: disk", 0 },
        { "a\\.b\\.c", "a.b.c", 0 },
        { "\\d+ ms$", " ms", 0 },
        { "(?i)abc", "", 0 },
        { "[a-z]+=\\w+ retry", " retry", 0 },
        { "id=[0-9a-f]{8} OK", "id=", 0 },
        { "a{,3}b", "", 0 },
        { "q{2}", "q", 0 },
        { "caf\xc3\xa9", "caf\xc3\xa9", 1 },
        { "\\x41BC", "", 0 },
        { "{\"msg\"", "{\"msg\"", 1 },
        { "a[]b]c", "a", 0 },
        { "ab[]b]cd", "ab", 0 },
        { "(?:ab)+cd", "cd", 0 },
        { "", "", 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char lit[CLEW_MATCHER_LIT_MAX + 1];
        int pure;
        size_t n = clew_matcher_required_literal(cases[i].pat, strlen(cases[i].pat), lit, &pure);
        lit[n] = '\0';
        if (strcmp(lit, cases[i].lit) != 0 || pure != cases[i].pure) {
            fail_msg("'%s': literal '%s' pure %d, want '%s' pure %d", cases[i].pat, lit, pure,
                     cases[i].lit, cases[i].pure);
        }
    }
}

static long naive_find(const char *h, size_t len, const char *n, size_t nlen, int icase)
{
    for (size_t i = 0; i + nlen <= len; i++) {
        size_t k = 0;
        while (k < nlen) {
            unsigned char a = (unsigned char)h[i + k], b = (unsigned char)n[k];
            if (icase && a >= 'A' && a <= 'Z') {
                a = (unsigned char)(a + 32);
            }
            if (a != b) {
                break;
            }
            k++;
        }
        if (k == nlen) {
            return (long)i;
        }
    }
    return -1;
}

static void test_find(void **state)
{
    (void)state;
    static char hay[600];
    uint64_t x = 88172645463325252ull;
    for (int round = 0; round < 4000; round++) {
        size_t len = (size_t)(round % 300) + (size_t)(round % 7) * 40;
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            hay[i] = "abAB =1x"[x % 8];
        }
        char needle[12];
        size_t nlen = 1 + (size_t)(x >> 20) % 6;
        int icase = round % 2;
        for (size_t i = 0; i < nlen; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            needle[i] = icase ? "ab =1x"[x % 6] : "abAB =1x"[x % 8];
        }
        long want = naive_find(hay, len, needle, nlen, icase);
        long got = clew_matcher_find(hay, len, needle, nlen, icase);
        if (got != want) {
            fail_msg("round %d: find '%.*s' in %zu bytes (icase %d): %ld, want %ld", round,
                     (int)nlen, needle, len, icase, got, want);
        }
    }
    /* at the very end of the buffer, past every 16-byte step */
    memset(hay, 'z', 100);
    memcpy(hay + 96, "QxYw", 4);
    assert_int_equal(clew_matcher_find(hay, 100, "QxYw", 4, 0), 96);
    assert_int_equal(clew_matcher_find(hay, 100, "qxyw", 4, 1), 96);
    assert_int_equal(clew_matcher_find(hay, 99, "QxYw", 4, 0), -1);
}

static void test_candidates(void **state)
{
    (void)state;
    struct clew_matcher *m;
    char err[CLEW_ERR_LEN];
    struct clew_matcher_opts o = { "lo wo", 0, 1, 0 };
    assert_int_equal(clew_matcher_new(&o, &m, err), 0);
    /* "hel|lo w|orld|" "lo wo" spans records 1-2 only: no candidate */
    const char data[] = "hello wolo wo..lo world";
    const uint32_t off[] = { 0, 3, 8, 12, 15, 23 };
    uint8_t cand[5];
    /* records: "hel", "lo wo", "lo w", "o..", "lo world" */
    assert_int_equal(clew_matcher_candidates(m, data, off, 5, cand), 2);
    assert_int_equal(cand[0], CLEW_MATCH_NO);
    assert_int_equal(cand[1], CLEW_MATCH_YES);
    assert_int_equal(cand[2], CLEW_MATCH_NO);
    assert_int_equal(cand[3], CLEW_MATCH_NO);
    assert_int_equal(cand[4], CLEW_MATCH_YES);
    clew_matcher_free(m);
}

static void test_bad_pattern(void **state)
{
    (void)state;
    struct clew_query_spec sp;
    clew_query_spec_init(&sp);
    sp.pattern = "abc(def";
    struct clew_query *q;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_query_new(&sp, &q, err), CLEW_EBADARG);
    assert_null(q);
    assert_non_null(strstr(err, "bad pattern at offset 7"));
    assert_non_null(strstr(err, "missing closing parenthesis"));
    sp.pattern = "x";
    sp.level_max = 9;
    assert_int_equal(clew_query_new(&sp, &q, err), CLEW_EBADARG);
}

/* ---- whole queries ---- */

static void test_patterns(void **state)
{
    (void)state;
    static const char *pats[] = {
        "status=5[0-9]{2}",
        "timeout",
        "^r00[0-9]7 ",
        "OK$",
        "disk (full|empty)",
        "a.c",
        "payment id=[0-9a-f]+ OK",
        "caf\xc3\xa9",
        "\\d{4} user",
        "x*",
        "",
        "GET|logged",
        "(?i)error",
        "[[:upper:]]{5}",
        "\xff\xfe",
        "^r\\d+$",
        "r0[12]\\d\\d ERROR",
    };
    for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
        for (int flags = 0; flags < 4; flags++) {
            struct clew_query_spec sp;
            clew_query_spec_init(&sp);
            sp.pattern = pats[i];
            sp.icase = flags & 1;
            sp.invert = (flags >> 1) & 1;
            check_spec(&sp);
        }
    }
}

static void test_fixed(void **state)
{
    (void)state;
    static const char *pats[] = { "a.c", "TIMEOUT", "id=0", "(", "r0001 ", "ms$" };
    for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
        for (int flags = 0; flags < 4; flags++) {
            struct clew_query_spec sp;
            clew_query_spec_init(&sp);
            sp.pattern = pats[i];
            sp.fixed = 1;
            sp.icase = flags & 1;
            sp.invert = (flags >> 1) & 1;
            check_spec(&sp);
        }
    }
}

static void test_order_and_reverse(void **state)
{
    (void)state;
    struct clew_query_spec sp;
    clew_query_spec_init(&sp);
    static struct got g;
    struct clew_query_stats st;
    assert_int_equal(run_spec(&sp, tmpdir, &g, &st), 0);
    assert_int_equal(g.n, NREC);
    for (size_t k = 1; k < g.n; k++) {
        assert_true(g.ts[k - 1] < g.ts[k]); /* gens 1 and 2 interleave, gen 3 is WAL */
    }
    assert_int_equal(st.wal_records, NREC - NGEN1 - NGEN2);
    assert_true(st.segments >= 3); /* gen 1 in hour 0, gen 2 in hours 0 and 1 */
    sp.reverse = 1;
    check_spec(&sp);
    sp.pattern = "error";
    check_spec(&sp);
    sp.reverse = 0;
    check_spec(&sp);
    sp.threads = 1; /* the same with one worker, and with many */
    check_spec(&sp);
    sp.threads = 7;
    sp.reverse = 1;
    check_spec(&sp);
}

static void test_filters(void **state)
{
    (void)state;
    struct clew_query_spec sp;
    clew_query_spec_init(&sp);
    sp.pattern = "r";
    sp.filter.since = ts_of(100);
    sp.filter.until = ts_of(NGEN1 + NGEN2 + 50); /* inclusive, in the WAL */
    check_spec(&sp);
    sp.reverse = 1;
    check_spec(&sp);
    clew_query_spec_init(&sp);
    sp.filter.labels[CLEW_LABEL_SERVICE] = (struct clew_str){ "orders", 6 };
    sp.filter.label_mask = 1u << CLEW_LABEL_SERVICE;
    check_spec(&sp);
    sp.filter.labels[CLEW_LABEL_HOST] = (struct clew_str){ "db-1", 4 };
    sp.filter.label_mask |= 1u << CLEW_LABEL_HOST;
    sp.pattern = "timeout";
    sp.icase = 1;
    check_spec(&sp);
    clew_query_spec_init(&sp);
    sp.level_max = 3;
    sp.pattern = "ERROR";
    check_spec(&sp);
    sp.filter.labels[CLEW_LABEL_SERVICE] = (struct clew_str){ "nosuch", 6 };
    sp.filter.label_mask = 1u << CLEW_LABEL_SERVICE;
    check_spec(&sp);
    clew_query_spec_init(&sp);
    sp.filter.trace_id = (struct clew_str){ recs[17].trace, 32 };
    check_spec(&sp); /* 60 records: i % 50 == 16 */
    sp.pattern = "r0";
    sp.reverse = 1;
    check_spec(&sp);
}

static void test_max_count(void **state)
{
    (void)state;
    static int want[NREC];
    static struct got g;
    struct clew_query_stats st;
    struct clew_query_spec sp;
    clew_query_spec_init(&sp);
    sp.pattern = "logged";
    sp.max_count = 5;
    sp.threads = 2;
    size_t n = expected(&sp, want);
    assert_true(n > 5);
    assert_int_equal(run_spec(&sp, tmpdir, &g, &st), 0);
    assert_int_equal(g.n, 5);
    assert_memory_equal(g.ids, want, 5 * sizeof(int));
    assert_int_equal(st.matched, 5);
    /* early stop: the first blocks held the matches; the rest was not read */
    assert_true(st.blocks_read < 12);
    assert_true(st.records_scanned < NREC / 3);
    sp.reverse = 1;
    n = expected(&sp, want);
    assert_int_equal(run_spec(&sp, tmpdir, &g, &st), 0);
    assert_int_equal(g.n, 5);
    assert_memory_equal(g.ids, want, 5 * sizeof(int));
    sp.count_only = 1;
    assert_int_equal(run_spec(&sp, tmpdir, &g, &st), 0);
    assert_int_equal(st.matched, 5);
    sp.max_count = 0;
    sp.count_only = 0;
    assert_int_equal(run_spec(&sp, tmpdir, &g, &st), 0);
    assert_int_equal(g.n, 0);
}

static void test_limits(void **state)
{
    (void)state;
    static struct got g;
    struct clew_query_stats st;
    struct clew_query_spec sp;
    clew_query_spec_init(&sp);
    sp.pattern = "(a+)+$";
    sp.match_limit = 10000;
    struct clew_query *q;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_query_new(&sp, &q, err), 0);
    assert_int_equal(clew_query_run(q, tmpdir, collect, NULL, &g, &st, err), CLEW_ETOOBIG);
    assert_non_null(strstr(err, "pattern too complex"));
    clew_query_free(q);
    clew_query_spec_init(&sp);
    sp.pattern = "r";
    sp.time_limit_ns = 1;
    assert_int_equal(clew_query_new(&sp, &q, err), 0);
    nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
    assert_int_equal(clew_query_run(q, tmpdir, collect, NULL, &g, &st, err), -ETIMEDOUT);
    assert_non_null(strstr(err, "time limit"));
    assert_int_equal(st.timed_out, 1);
    clew_query_free(q);
}

static int stop_at_3(void *ud, const struct clew_record *r)
{
    (void)r;
    return ++*(int *)ud == 3 ? 42 : 0;
}

static void test_emit_stops(void **state)
{
    (void)state;
    struct clew_query_spec sp;
    clew_query_spec_init(&sp);
    struct clew_query *q;
    char err[CLEW_ERR_LEN];
    int n = 0;
    assert_int_equal(clew_query_new(&sp, &q, err), 0);
    assert_int_equal(clew_query_run(q, tmpdir, stop_at_3, NULL, &n, NULL, err), 42);
    assert_int_equal(n, 3);
    clew_query_free(q);
}

/* clew_query_cancel from emit, from progress and before the run. */
struct canceller {
    struct clew_query *q;
    int n, at; /* records emitted; cancel at the at-th */
};

static int cancel_in_emit(void *ud, const struct clew_record *r)
{
    struct canceller *c = ud;
    (void)r;
    if (++c->n == c->at) {
        clew_query_cancel(c->q);
    }
    return 0;
}

static void cancel_in_progress(void *ud, const struct clew_query_stats *st, double done)
{
    (void)st;
    (void)done;
    clew_query_cancel(((struct canceller *)ud)->q);
}

static void test_cancel(void **state)
{
    (void)state;
    struct clew_query_spec sp;
    clew_query_spec_init(&sp);
    struct clew_query_stats st;
    char err[CLEW_ERR_LEN];
    struct canceller c = { NULL, 0, 3 };
    /* from emit: no record after the cancel */
    assert_int_equal(clew_query_new(&sp, &c.q, err), 0);
    assert_int_equal(clew_query_run(c.q, tmpdir, cancel_in_emit, NULL, &c, &st, err), -ECANCELED);
    assert_int_equal(c.n, 3);
    assert_int_equal(st.matched, 3);
    assert_non_null(strstr(err, "query cancelled"));
    /* it stays: a later run stops at once */
    c.n = 0;
    err[0] = '\0';
    assert_int_equal(clew_query_run(c.q, tmpdir, cancel_in_emit, NULL, &c, &st, err), -ECANCELED);
    assert_int_equal(c.n, 0);
    assert_int_equal(st.blocks_read, 0);
    assert_non_null(strstr(err, "query cancelled"));
    clew_query_free(c.q);
    /* a scan that finds nothing (nothing to emit) stops taking blocks */
    sp.pattern = "no such text anywhere";
    sp.count_only = 1;
    sp.progress_ns = 1;
    assert_int_equal(clew_query_new(&sp, &c.q, err), 0);
    assert_int_equal(clew_query_run(c.q, tmpdir, cancel_in_emit, NULL, &c, &st, err), 0);
    uint64_t all = st.blocks_read;
    clew_query_free(c.q);
    assert_true(all > 30);
    sp.progress = cancel_in_progress;
    assert_int_equal(clew_query_new(&sp, &c.q, err), 0);
    assert_int_equal(clew_query_run(c.q, tmpdir, cancel_in_emit, NULL, &c, &st, err), -ECANCELED);
    assert_true(st.blocks_read < all / 2);
    clew_query_free(c.q);
}

static void flip_byte(const char *path, uint64_t at)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    char c = 0;
    assert_int_equal(pread(fd, &c, 1, (off_t)at), 1);
    c = (char)(c ^ 0x5a);
    assert_int_equal(pwrite(fd, &c, 1, (off_t)at), 1);
    close(fd);
}

/* A segment with a damaged block: reported once, the other blocks read. */
static void test_damaged_block(void **state)
{
    (void)state;
    char dir[300], path[CLEW_PATH_MAX], err[CLEW_ERR_LEN];
    snprintf(dir, sizeof(dir), "%s/damaged", tmpdir);
    assert_int_equal(mkdir(dir, 0755), 0);
    struct clew_record batch[200];
    static char fields[200][48];
    for (int i = 0; i < 200; i++) {
        batch[i] = recs[i].r;
        int n = snprintf(fields[i], sizeof(fields[i]), "{\"order\":%d,\"k\":\"v%x\"}", i,
                         (unsigned)i * 2654435761u);
        batch[i].fields = (struct clew_str){ fields[i], (size_t)n };
    }
    struct clew_seg_opts o;
    clew_seg_opts_default(&o);
    o.block_records = 50;
    assert_true(clew_dd_segment_path(dir, batch[0].ts, 1, path, sizeof(path)) > 0);
    char hourdir[CLEW_PATH_MAX];
    assert_true(clew_dd_hour_dir(dir, batch[0].ts, hourdir, sizeof(hourdir)) > 0);
    assert_int_equal(clew_dd_mkdirs(hourdir), 0);
    assert_int_equal(clew_seg_write(path, 1, batch, 200, &o, NULL, err), 0);
    struct clew_seg *seg;
    assert_int_equal(clew_seg_open(path, &seg, err), 0);
    uint64_t off, clen, rlen;
    assert_int_equal(clew_seg_block_column(seg, 1, 4, &off, &clen, &rlen), 0); /* message */
    clew_seg_free(seg);
    flip_byte(path, off + clen / 2);
    struct clew_query_spec sp;
    clew_query_spec_init(&sp);
    static struct got g;
    struct clew_query_stats st;
    assert_int_equal(run_spec(&sp, dir, &g, &st), 0);
    assert_int_equal(g.damaged, 1);
    assert_int_equal(st.errors, 1);
    assert_int_equal(g.n, 150);
    for (size_t k = 0; k < g.n; k++) { /* blocks 0, 2, 3 in order */
        assert_int_equal(g.ids[k], (int)(k < 50 ? k : k + 50));
    }
    /* block 2's fields too: a selective pattern reads them only for the
     * blocks with a match (clew_seg_block_read_more), and the damage found
     * then skips the block as well */
    assert_int_equal(clew_seg_open(path, &seg, err), 0);
    assert_int_equal(clew_seg_block_column(seg, 2, 5, &off, &clen, &rlen), 0); /* fields */
    clew_seg_free(seg);
    assert_true(clen > 8);
    flip_byte(path, off + clen / 2);
    sp.pattern = "r0";
    assert_int_equal(run_spec(&sp, dir, &g, &st), 0);
    assert_int_equal(g.damaged, 2);
    assert_int_equal(g.n, 100);
    for (size_t k = 0; k < g.n; k++) { /* blocks 0 and 3 */
        assert_int_equal(g.ids[k], (int)(k < 50 ? k : k + 100));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_required_literal),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_candidates),
        cmocka_unit_test(test_bad_pattern),
        cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_fixed),
        cmocka_unit_test(test_order_and_reverse),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_max_count),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_emit_stops),
        cmocka_unit_test(test_damaged_block),
        cmocka_unit_test(test_cancel),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
