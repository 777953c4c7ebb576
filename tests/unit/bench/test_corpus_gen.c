/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/lib/corpus_gen.h"
#include "clew/error.h"
#include "common/alloc.h"
#include "common/timeutil.h"

#define LOGHUB CLEW_SHARED_DIR "/corpus/loghub"

static void opts_for(struct clew_gen_opts *o, uint64_t seed, uint64_t n)
{
    clew_gen_opts_default(o);
    o->seed = seed;
    o->records = n;
    o->loghub_dir = LOGHUB;
}

static struct clew_gen *gen_open(const struct clew_gen_opts *o)
{
    struct clew_gen *g = NULL;
    char err[CLEW_ERR_LEN] = "";
    int rc = clew_gen_new(o, &g, err);
    if (rc != 0) {
        fail_msg("clew_gen_new: %d %s", rc, err);
    }
    return g;
}

static int str_eq(struct clew_str a, struct clew_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int rec_eq(const struct clew_record *a, const struct clew_record *b)
{
    int eq = a->ts == b->ts && a->level == b->level && a->input == b->input &&
             a->flags == b->flags && str_eq(a->message, b->message) &&
             str_eq(a->fields, b->fields) && str_eq(a->trace_id, b->trace_id) &&
             str_eq(a->span_id, b->span_id) && str_eq(a->parent_span_id, b->parent_span_id);
    for (int i = 0; i < CLEW_LABEL_COUNT; i++) {
        eq = eq && str_eq(a->labels[i], b->labels[i]);
    }
    return eq;
}

/* Reads a whole stream (rewound first) into a NUL-terminated heap string. */
static char *slurp(FILE *f, size_t *len)
{
    rewind(f);
    size_t cap = 1 << 16, n = 0, k;
    char *s = malloc(cap);
    while ((k = fread(s + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (cap - n - 1 == 0) {
            cap *= 2;
            s = realloc(s, cap);
        }
    }
    s[n] = '\0';
    *len = n;
    return s;
}

/* The trace id lists of a truth file: trace id -> ids, as a JSON object. */
static json_t *load_truth(FILE *f, json_t **list)
{
    size_t len;
    char *s = slurp(f, &len);
    json_t *ids = json_object();
    *list = json_array();
    for (char *line = strtok(s, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_error_t je;
        json_t *t = json_loads(line, 0, &je);
        if (t == NULL) {
            fail_msg("bad truth line: %s (%s)", line, je.text);
        }
        const char *tid = json_string_value(json_object_get(t, "trace_id"));
        assert_non_null(tid);
        assert_null(json_object_get(ids, tid)); /* one line per request */
        json_object_set(ids, tid, json_object_get(t, "ids"));
        json_array_append_new(*list, t);
    }
    free(s);
    return ids;
}

static int contains(struct clew_str s, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= s.len; i++) {
        if (memcmp(s.ptr + i, needle, n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* A raw record that carries an id holds one of its request's ids; one
 * that carries none holds nothing that looks like an id. */
static void check_raw_ids(const struct clew_record *r, const struct clew_gen_truth *t, json_t *ids)
{
    assert_true(r->trace_id.len == 0 && r->span_id.len == 0 && r->parent_span_id.len == 0);
    if (!t->carries_id) {
        assert_false(contains(r->message, "traceparent") || contains(r->message, "trace_id") ||
                     contains(r->message, "request_id") || contains(r->fields, "trace") ||
                     contains(r->fields, "request_id"));
        return;
    }
    char tid[33];
    memcpy(tid, t->trace_id.ptr, 32);
    tid[32] = '\0';
    json_t *l = json_object_get(ids, tid);
    assert_non_null(l);
    int found = 0;
    size_t i;
    json_t *v;
    json_array_foreach(l, i, v)
    {
        const char *id = json_string_value(v);
        found |= contains(r->message, id) || contains(r->fields, id);
    }
    assert_true(found);
}

static void run_fraction(double target)
{
    struct clew_gen_opts o;
    opts_for(&o, 11, 20000);
    o.no_id_fraction = target;
    o.truth = tmpfile();
    struct clew_gen *g = gen_open(&o);
    struct clew_record r;
    struct clew_gen_truth t;
    /* first pass: count; truth of the requests is complete only at the end */
    uint64_t n = 0, noid = 0;
    while (clew_gen_next(g, &r) == 1) {
        clew_gen_record_truth(g, &t);
        n++;
        noid += !t.carries_id;
    }
    clew_gen_free(g);
    double frac = (double)noid / (double)n;
    if (frac < target - 0.015 || frac > target + 0.015) {
        fail_msg("no-id fraction %.4f, wanted %.2f", frac, target);
    }
    json_t *list, *ids = load_truth(o.truth, &list);
    g = gen_open(&o); /* same again: now check each record against the truth */
    while (clew_gen_next(g, &r) == 1) {
        clew_gen_record_truth(g, &t);
        check_raw_ids(&r, &t, ids);
    }
    clew_gen_free(g);
    json_decref(ids);
    json_decref(list);
    fclose(o.truth);
}

static void test_no_id_fraction(void **state)
{
    (void)state;
    run_fraction(0.2);
    run_fraction(0.35);
}

static void test_time_order(void **state)
{
    (void)state;
    struct clew_gen_opts o;
    opts_for(&o, 3, 30000);
    assert_int_equal(clew_time_parse_rfc3339("2026-11-28T20:59:55Z", 20, &o.start_ns), 0);
    o.rate = 2000;
    struct clew_gen *g = gen_open(&o);
    struct clew_record r;
    int64_t first = 0, prev = INT64_MIN;
    uint64_t n = 0;
    while (clew_gen_next(g, &r) == 1) {
        assert_true(r.ts >= prev);
        first = n++ == 0 ? r.ts : first;
        prev = r.ts;
    }
    assert_true(first == o.start_ns);
    /* about records / rate seconds of simulated time, across 21:00 */
    double secs = (double)(prev - first) / 1e9;
    if (secs < 15.0 * 0.7 || secs > 15.0 * 1.3) {
        fail_msg("corpus spans %.2f s, wanted about 15", secs);
    }
    assert_true(clew_hour_floor(prev) > clew_hour_floor(first));
    clew_gen_free(g);
}

struct rec_info {
    char trace[33], span[17], parent[17], svc[24];
    uint8_t level;
};

static int cmp_info(const void *a, const void *b)
{
    const struct rec_info *x = a, *y = b;
    int c = strcmp(x->trace, y->trace);
    return c ? c : strcmp(x->span, y->span);
}

static void copy_str(char *dst, size_t cap, struct clew_str s)
{
    assert_true(s.len < cap);
    if (s.len > 0) {
        memcpy(dst, s.ptr, s.len);
    }
    dst[s.len] = '\0';
}

static size_t count_span(const struct rec_info *v, size_t n, const char *tid, const char *sid,
                         const char *svc, size_t *errors)
{
    struct rec_info key;
    snprintf(key.trace, sizeof(key.trace), "%s", tid);
    snprintf(key.span, sizeof(key.span), "%s", sid);
    const struct rec_info *p = bsearch(&key, v, n, sizeof(*v), cmp_info);
    if (p == NULL) {
        return 0;
    }
    while (p > v && cmp_info(p - 1, &key) == 0) {
        p--;
    }
    size_t c = 0;
    *errors = 0;
    for (; p < v + n && cmp_info(p, &key) == 0; p++, c++) {
        assert_string_equal(p->svc, svc);
        *errors += p->level <= 3;
    }
    return c;
}

static void check_tree(json_t *t, const struct rec_info *v, size_t n)
{
    const char *tid = json_string_value(json_object_get(t, "trace_id"));
    json_t *spans = json_object_get(t, "spans");
    size_t i, total = 0, roots = 0;
    json_t *s;
    assert_string_equal(json_string_value(json_array_get(json_object_get(t, "ids"), 0)), tid);
    json_array_foreach(spans, i, s)
    {
        const char *parent = json_string_value(json_object_get(s, "parent_span_id"));
        int found = parent[0] == '\0';
        roots += found;
        for (size_t k = 0; k < json_array_size(spans) && !found; k++) {
            json_t *o = json_array_get(spans, k);
            found = k != i && strcmp(json_string_value(json_object_get(o, "span_id")), parent) == 0;
        }
        assert_true(found);
        size_t errs = 0;
        size_t c = count_span(v, n, tid, json_string_value(json_object_get(s, "span_id")),
                              json_string_value(json_object_get(s, "service")), &errs);
        assert_int_equal(c, json_integer_value(json_object_get(s, "records")));
        assert_int_equal(c ? errs : 0, json_integer_value(json_object_get(s, "errors")));
        total += c;
    }
    assert_int_equal(roots, 1);
    assert_int_equal(total, json_integer_value(json_object_get(t, "records")));
}

static void test_truth_consistent(void **state)
{
    (void)state;
    struct clew_gen_opts o;
    opts_for(&o, 5, 30000);
    o.resolved_ids = 1;
    o.error_rate = 0.05;
    o.truth = tmpfile();
    struct clew_gen *g = gen_open(&o);
    struct rec_info *v = calloc(o.records, sizeof(*v));
    struct clew_record r;
    size_t n = 0;
    while (clew_gen_next(g, &r) == 1) {
        if (r.trace_id.len == 0) {
            continue;
        }
        struct clew_gen_truth t;
        clew_gen_record_truth(g, &t);
        assert_true(str_eq(t.trace_id, r.trace_id) && str_eq(t.span_id, r.span_id) &&
                    str_eq(t.parent_span_id, r.parent_span_id));
        copy_str(v[n].trace, 33, r.trace_id);
        copy_str(v[n].span, 17, r.span_id);
        copy_str(v[n].parent, 17, r.parent_span_id);
        copy_str(v[n].svc, 24, r.labels[CLEW_LABEL_SERVICE]);
        v[n++].level = r.level;
    }
    clew_gen_free(g);
    qsort(v, n, sizeof(*v), cmp_info);
    json_t *list, *ids = load_truth(o.truth, &list);
    size_t i, total = 0;
    json_t *t;
    json_array_foreach(list, i, t)
    {
        check_tree(t, v, n);
        total += (size_t)json_integer_value(json_object_get(t, "records"));
    }
    assert_true(json_array_size(list) > 500);
    assert_int_equal(total, n); /* no record belongs to a trace not in the truth */
    json_decref(ids);
    json_decref(list);
    free(v);
    fclose(o.truth);
}

static void test_stack_traces(void **state)
{
    (void)state;
    for (int resolved = 0; resolved < 2; resolved++) {
        struct clew_gen_opts o;
        opts_for(&o, 9, 30000);
        o.error_rate = 0.05;
        o.resolved_ids = resolved;
        struct clew_gen *g = gen_open(&o);
        struct clew_record r;
        struct clew_gen_truth t;
        char prev_cont[80] = "", prev_stream[8] = "", prev_trace[33] = "";
        int64_t prev_ts = 0;
        int prev_in_stack = 0;
        unsigned traces = 0, lines = 0;
        while (clew_gen_next(g, &r) == 1) {
            clew_gen_record_truth(g, &t);
            char cont[80], stream[8], tid[33];
            copy_str(cont, sizeof(cont), r.labels[CLEW_LABEL_CONTAINER_ID]);
            copy_str(stream, sizeof(stream), r.labels[CLEW_LABEL_STREAM]);
            copy_str(tid, sizeof(tid), t.trace_id);
            if (t.continuation) {
                lines++;
                assert_true(prev_in_stack);
                assert_string_equal(cont, prev_cont);
                assert_string_equal(stream, "stderr");
                assert_string_equal(stream, prev_stream);
                assert_string_equal(tid, prev_trace);
                assert_true(r.ts == prev_ts && r.level == 3 && !t.carries_id);
                assert_true(r.message.len > 0 &&
                            (r.message.ptr[0] == '\t' || contains(r.message, "Caused by: ")));
                assert_int_equal(r.trace_id.len, resolved ? 32 : 0);
                assert_int_equal(!!(r.flags & CLEW_REC_INHERITED), resolved);
            }
            int first = contains(r.message, "Exception") && !t.continuation && t.carries_id;
            traces += first;
            prev_in_stack = first || t.continuation;
            assert_true(!first || (strcmp(stream, "stderr") == 0 && r.level == 3));
            memcpy(prev_cont, cont, sizeof(cont));
            memcpy(prev_stream, stream, sizeof(stream));
            memcpy(prev_trace, tid, sizeof(tid));
            prev_ts = r.ts;
        }
        assert_true(traces >= 10);
        assert_true(lines >= traces * 8);
        clew_gen_free(g);
    }
}

/* A Loghub look-alike: each system's file holds three usable lines behind
 * a time stamp prefix of that system's shape (CRLF, no final newline) and
 * one line that mentions a trace and must be dropped. */
static const struct {
    const char *name;
    const char *prefix;
} mini_sys[] = {
    { "Android", "PFXTOK PFXTOK " },
    { "Apache", "[PFXTOK PFXTOK] " },
    { "BGL", "- PFXTOK PFXTOK PFXTOK PFXTOK " },
    { "HDFS", "PFXTOK PFXTOK " },
    { "HPC", "PFXTOK " },
    { "Hadoop", "PFXTOK PFXTOK " },
    { "HealthApp", "PFXTOK-PFXTOK|" },
    { "Linux", "PFXTOK  PFXTOK PFXTOK " },
    { "Mac", "PFXTOK  PFXTOK PFXTOK " },
    { "OpenSSH", "PFXTOK PFXTOK PFXTOK " },
    { "OpenStack", "PFXTOK PFXTOK PFXTOK " },
    { "Proxifier", "[PFXTOK PFXTOK] " },
    { "Spark", "PFXTOK PFXTOK " },
    { "Thunderbird", "- PFXTOK PFXTOK PFXTOK PFXTOK PFXTOK PFXTOK " },
    { "Windows", "PFXTOK PFXTOK, " },
    { "Zookeeper", "PFXTOK PFXTOK " },
};
#define N_MINI (sizeof(mini_sys) / sizeof(mini_sys[0]))

static char mini_dir[64];

static void make_mini_loghub(void)
{
    if (mini_dir[0] != '\0') {
        return;
    }
    snprintf(mini_dir, sizeof(mini_dir), "/tmp/clew-gen-test-XXXXXX");
    assert_non_null(mkdtemp(mini_dir));
    for (size_t i = 0; i < N_MINI; i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s_2k.log", mini_dir, mini_sys[i].name);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        for (int k = 0; k < 3; k++) {
            fprintf(f, "%smini %s line %d count 4821377 state ok\r\n", mini_sys[i].prefix,
                    mini_sys[i].name, k);
        }
        fprintf(f, "%smini %s line with a Trace id to drop", mini_sys[i].prefix, mini_sys[i].name);
        fclose(f);
    }
}

static void remove_mini_loghub(void)
{
    for (size_t i = 0; i < N_MINI && mini_dir[0] != '\0'; i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s_2k.log", mini_dir, mini_sys[i].name);
        remove(path);
    }
    if (mini_dir[0] != '\0') {
        rmdir(mini_dir);
    }
}

/* With noise 0 the lines come back as they were, prefix cut; with noise 1
 * their numbers are redrawn. */
static void test_loghub_lines(void **state)
{
    (void)state;
    make_mini_loghub();
    for (int noise = 0; noise < 2; noise++) {
        struct clew_gen_opts o;
        opts_for(&o, 21, 20000);
        o.services = 12;
        o.loghub_dir = mini_dir;
        o.noise = noise;
        struct clew_gen *g = gen_open(&o);
        struct clew_record r;
        unsigned seen[N_MINI] = { 0 }, mini = 0;
        while (clew_gen_next(g, &r) == 1) {
            assert_false(contains(r.message, "PFXTOK") || contains(r.message, "to drop"));
            for (size_t i = 0; i < N_MINI; i++) {
                char line[128];
                snprintf(line, sizeof(line), "mini %s line 1 count 4821377 state ok",
                         mini_sys[i].name);
                seen[i] += contains(r.message, line);
            }
            mini += contains(r.message, " state ok");
        }
        assert_true(mini > 1000);
        for (size_t i = 0; i < N_MINI; i++) {
            if (noise == 0 && seen[i] == 0) {
                fail_msg("no line of %s", mini_sys[i].name);
            }
            assert_true(noise == 0 || seen[i] == 0);
        }
        clew_gen_free(g);
    }
}

static void test_same_seed_identical(void **state)
{
    (void)state;
    struct clew_gen_opts o;
    opts_for(&o, 7, 20000);
    FILE *t1 = tmpfile(), *t2 = tmpfile();
    o.truth = t1;
    struct clew_gen *a = gen_open(&o);
    o.truth = t2;
    struct clew_gen *b = gen_open(&o);
    struct clew_record ra, rb;
    uint64_t n = 0;
    int rca, rcb;
    while ((rca = clew_gen_next(a, &ra)) == 1) {
        rcb = clew_gen_next(b, &rb);
        assert_int_equal(rcb, 1);
        assert_true(rec_eq(&ra, &rb));
        n++;
    }
    assert_int_equal(rca, 0);
    assert_int_equal(clew_gen_next(b, &rb), 0);
    assert_int_equal(clew_gen_next(a, &ra), 0); /* stays at the end */
    assert_true(n == 20000);
    size_t l1, l2;
    char *s1 = slurp(t1, &l1), *s2 = slurp(t2, &l2);
    assert_true(l1 > 1000);
    assert_true(l1 == l2 && memcmp(s1, s2, l1) == 0);
    free(s1);
    free(s2);
    clew_gen_free(a);
    clew_gen_free(b);
    fclose(t1);
    fclose(t2);
}

static void test_different_seed_differs(void **state)
{
    (void)state;
    struct clew_gen_opts o;
    opts_for(&o, 1, 5000);
    struct clew_gen *a = gen_open(&o);
    o.seed = 2;
    struct clew_gen *b = gen_open(&o);
    struct clew_record ra, rb;
    unsigned same = 0, n = 0;
    while (clew_gen_next(a, &ra) == 1 && clew_gen_next(b, &rb) == 1) {
        same += str_eq(ra.message, rb.message);
        n++;
    }
    assert_int_equal(n, 5000);
    assert_true(same < n / 10);
    clew_gen_free(a);
    clew_gen_free(b);
}

/* Each id scheme prints the ids it should, where it should. */
static void test_id_forms(void **state)
{
    (void)state;
    struct clew_gen_opts o;
    opts_for(&o, 13, 20000);
    o.services = 12;
    struct clew_gen *g = gen_open(&o);
    struct clew_record r;
    struct clew_gen_truth t;
    unsigned seen_json = 0, seen_tp = 0, seen_sleuth = 0, seen_rid = 0;
    while (clew_gen_next(g, &r) == 1) {
        clew_gen_record_truth(g, &t);
        char svc[24], tid[33], sid[17], buf[160];
        copy_str(svc, sizeof(svc), r.labels[CLEW_LABEL_SERVICE]);
        assert_int_equal(r.labels[CLEW_LABEL_CONTAINER_ID].len, 64);
        assert_true(r.labels[CLEW_LABEL_CONTAINER_NAME].ptr[0] == '/');
        assert_true(r.input == CLEW_INPUT_SHIP || r.input == CLEW_INPUT_FORWARD);
        if (r.fields.len > 0) { /* structured lines: a JSON object */
            json_t *j = json_loadb(r.fields.ptr, r.fields.len, 0, NULL);
            assert_non_null(j);
            const char *v = json_string_value(json_object_get(j, "trace_id"));
            v = v ? v : json_string_value(json_object_get(j, "traceId"));
            seen_json += v != NULL;
            assert_true(v == NULL || (t.carries_id && memcmp(v, t.trace_id.ptr, 32) == 0));
            json_decref(j);
        }
        if (!t.carries_id) {
            continue;
        }
        copy_str(tid, sizeof(tid), t.trace_id);
        copy_str(sid, sizeof(sid), t.span_id);
        if (strcmp(svc, "api-gateway") == 0) {
            snprintf(buf, sizeof(buf), "traceparent: 00-%s-%s-01", tid, sid);
            assert_true(contains(r.message, buf));
            seen_tp++;
        } else if (strcmp(svc, "orders") == 0 || strcmp(svc, "cart") == 0) {
            snprintf(buf, sizeof(buf), "[%s,%s,%s]", svc, tid, sid);
            assert_true(contains(r.message, buf));
            seen_sleuth++;
        } else if (strcmp(svc, "inventory") == 0 || strcmp(svc, "notifications") == 0) {
            assert_true(contains(r.message, " request_id="));
            seen_rid++;
        } else if (strcmp(svc, "users") == 0 || strcmp(svc, "catalog") == 0) {
            snprintf(buf, sizeof(buf), "trace_id=%s span_id=%s", tid, sid);
            assert_true(contains(r.message, buf));
        }
    }
    assert_true(seen_json > 100 && seen_tp > 100 && seen_sleuth > 100 && seen_rid > 100);
    clew_gen_free(g);
}

static void test_bad_options(void **state)
{
    (void)state;
    struct clew_gen_opts o;
    struct clew_gen *g = (struct clew_gen *)&o;
    char err[CLEW_ERR_LEN] = "";
    opts_for(&o, 1, 10);
    o.services = 7;
    assert_int_equal(clew_gen_new(&o, &g, err), CLEW_EBADARG);
    assert_null(g);
    assert_true(strlen(err) > 0);
    opts_for(&o, 1, 10);
    o.no_id_fraction = 0.95;
    assert_int_equal(clew_gen_new(&o, &g, err), CLEW_EBADARG);
    opts_for(&o, 1, 10);
    o.rate = 0;
    assert_int_equal(clew_gen_new(&o, &g, err), CLEW_EBADARG);
    opts_for(&o, 1, 10);
    o.loghub_dir = "/nonexistent/loghub";
    assert_int_equal(clew_gen_new(&o, &g, err), -ENOENT);
    assert_null(g);
    assert_non_null(strstr(err, "/nonexistent/loghub"));
    clew_gen_free(NULL);
}

static void test_truth_write_error(void **state)
{
    (void)state;
    struct clew_gen_opts o;
    opts_for(&o, 1, 5000);
    o.loghub_dir = NULL; /* built-in lines only */
    o.truth = fopen("/dev/null", "r");
    assert_non_null(o.truth);
    struct clew_gen *g = gen_open(&o);
    struct clew_record r;
    int rc;
    while ((rc = clew_gen_next(g, &r)) == 1) {
    }
    assert_int_equal(rc, -EIO);
    clew_gen_free(g);
    fclose(o.truth);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    int ok = 0;
    make_mini_loghub();
    for (long k = 0; k < 400 && !ok; k++) {
        struct clew_gen_opts o;
        struct clew_gen *g = NULL;
        char err[CLEW_ERR_LEN];
        opts_for(&o, 1, 3000);
        o.loghub_dir = k % 2 ? mini_dir : NULL;
        clew_alloc_fail_after(k / 2);
        int rc = clew_gen_new(&o, &g, err);
        if (rc != 0) {
            clew_alloc_fail_after(-1);
            assert_int_equal(rc, -ENOMEM);
            assert_null(g);
            continue;
        }
        struct clew_record r;
        while ((rc = clew_gen_next(g, &r)) == 1) {
        }
        clew_alloc_fail_after(-1);
        assert_true(rc == 0 || rc == -ENOMEM);
        ok = rc == 0 && k % 2 == 1;
        clew_gen_free(g);
    }
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_identical),
        cmocka_unit_test(test_different_seed_differs),
        cmocka_unit_test(test_no_id_fraction),
        cmocka_unit_test(test_time_order),
        cmocka_unit_test(test_truth_consistent),
        cmocka_unit_test(test_stack_traces),
        cmocka_unit_test(test_id_forms),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_truth_write_error),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_loghub_lines),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    remove_mini_loghub();
    return rc;
}
