/* SPDX-License-Identifier: MIT
 * Tests of trace assembly (query/trace.c) and of the lookup (cmd_trace.c):
 * hand-built trees (order, parents, counts, pseudo-spans, missing parents,
 * cycles, deep chains), the JSON and text renderings, link ids, allocation
 * failures; then a generated corpus written through the real store, where
 * every looked-up trace must equal the generator's truth record for record
 * and edge for edge, and links and bounds through the store. */
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
#include <xxhash.h>

#include "bench/lib/corpus_gen.h"
#include "collector/store.h"
#include "common/alloc.h"
#include "common/timeutil.h"
#include "query/trace.h"

#define T0  (1795897778LL * CLEW_NS_PER_SEC) /* 2026-11-28T20:29:38Z */
#define MS  1000000LL
#define TID "4bf92f3577b34da6a3ce929d0e0e4736"

static struct clew_str str_of(const char *s)
{
    return (struct clew_str){ s ? s : "", s ? strlen(s) : 0 };
}

struct trec {
    int64_t off_ms;
    const char *svc, *span, *parent;
    int level;
    const char *msg, *fields;
};

static struct clew_record mk(const struct trec *t, const char *trace)
{
    struct clew_record r;
    memset(&r, 0, sizeof(r));
    r.ts = T0 + t->off_ms * MS;
    r.level = (uint8_t)t->level;
    r.input = CLEW_INPUT_GELF;
    r.labels[CLEW_LABEL_HOST] = str_of("h1");
    r.labels[CLEW_LABEL_SERVICE] = str_of(t->svc);
    r.message = str_of(t->msg);
    r.trace_id = str_of(trace);
    r.span_id = str_of(t->span);
    r.parent_span_id = str_of(t->parent);
    r.fields = str_of(t->fields);
    return r;
}

static struct clew_trace *assemble(const struct trec *tr, size_t n)
{
    struct clew_record *recs = calloc(n ? n : 1, sizeof(*recs));
    for (size_t i = 0; i < n; i++) {
        recs[i] = mk(&tr[i], TID);
    }
    struct clew_trace *t = NULL;
    assert_int_equal(clew_trace_assemble(TID, strlen(TID), recs, n, &t), 0);
    free(recs);
    return t;
}

static void assert_str(struct clew_str s, const char *want)
{
    if (s.len != strlen(want) || memcmp(s.ptr, want, s.len) != 0) {
        fail_msg("got '%.*s', want '%s'", (int)s.len, s.ptr, want);
    }
}

/* The tree of the first tests, given out of order: gateway r (root) ->
 * orders b (-> payments g) and auth a; orders has one sidecar record. */
static const struct trec tree[] = {
    { 60, "orders", "b000000000000002", "r000000000000001", 3, "ord fail", NULL },
    { 0, "gateway", "r000000000000001", NULL, 6, "gw start", NULL },
    { 100, "gateway", "r000000000000001", NULL, 3, "gw end", NULL },
    { 30, "payments", "g000000000000003", "b000000000000002", 6, "pay", NULL },
    { 10, "orders", "b000000000000002", "r000000000000001", 6, "ord start", NULL },
    { 70, "orders", "b000000000000002", "r000000000000001", 4, "ord end", NULL },
    { 20, "auth", "a000000000000004", "r000000000000001", 6, "auth", NULL },
    { 65, "orders-sidecar", "b000000000000002", "r000000000000001", 6, "sidecar", NULL },
    { 40, "payments", "g000000000000003", "b000000000000002", 2, "pay err", NULL },
};
#define NTREE (sizeof(tree) / sizeof(tree[0]))

struct want_span {
    const char *id, *parent_id, *svc;
    int32_t parent;
    uint32_t depth;
    uint64_t records, errors;
    int64_t start_ms, end_ms;
};

static void check_spans(const struct clew_trace *t, const struct want_span *w, size_t n)
{
    assert_int_equal(t->nspans, n);
    for (size_t i = 0; i < n; i++) {
        const struct clew_trace_span *s = &t->spans[i];
        assert_str(s->span_id, w[i].id);
        assert_str(s->parent_span_id, w[i].parent_id);
        assert_str(s->service, w[i].svc);
        assert_int_equal(s->parent, w[i].parent);
        assert_int_equal(s->depth, w[i].depth);
        assert_int_equal(s->records, w[i].records);
        assert_int_equal(s->errors, w[i].errors);
        assert_int_equal(s->start, T0 + w[i].start_ms * MS);
        assert_int_equal(s->end, T0 + w[i].end_ms * MS);
    }
}

static const struct want_span tree_spans[] = {
    { "r000000000000001", "", "gateway", -1, 0, 2, 1, 0, 100 },
    { "b000000000000002", "r000000000000001", "orders", 0, 1, 4, 1, 10, 70 },
    { "g000000000000003", "b000000000000002", "payments", 1, 2, 2, 1, 30, 40 },
    { "a000000000000004", "r000000000000001", "auth", 0, 1, 1, 0, 20, 20 },
};

static void test_tree(void **state)
{
    (void)state;
    struct clew_trace *t = assemble(tree, NTREE);
    assert_str(t->trace_id, TID);
    assert_int_equal(t->nrecords, NTREE);
    static const char *const order[] = { "gw start", "ord start", "auth",    "pay",   "pay err",
                                         "ord fail", "sidecar",   "ord end", "gw end" };
    static const uint32_t span_of[] = { 0, 1, 3, 2, 2, 1, 1, 1, 0 };
    for (size_t i = 0; i < NTREE; i++) {
        assert_str(t->records[i].message, order[i]);
        assert_str(t->records[i].trace_id, TID);
        assert_int_equal(t->rec_span[i], span_of[i]);
    }
    check_spans(t, tree_spans, 4);
    assert_int_equal(t->start, T0);
    assert_int_equal(t->end, T0 + 100 * MS);
    clew_trace_free(t);
}

static void test_service_vote(void **state)
{
    (void)state;
    /* A tie (one record each) goes to the first record's service; a
     * majority wins even when it shows up later. */
    const struct trec tr[] = {
        { 5, "late", "s1", NULL, 6, "m2", NULL },   { 1, "early", "s1", NULL, 6, "m1", NULL },
        { 10, "minor", "s2", NULL, 6, "m3", NULL }, { 11, "major", "s2", NULL, 6, "m4", NULL },
        { 12, "major", "s2", NULL, 6, "m5", NULL },
    };
    struct clew_trace *t = assemble(tr, 5);
    assert_int_equal(t->nspans, 2);
    assert_str(t->spans[0].service, "early");
    assert_str(t->spans[1].service, "major");
    clew_trace_free(t);
}

static void test_pseudo_spans(void **state)
{
    (void)state;
    const struct trec tr[] = {
        { 50, "cron", NULL, NULL, 6, "c2", NULL },    { 0, "cron", NULL, NULL, 3, "c1", NULL },
        { 10, "web", NULL, NULL, 6, "w-noid", NULL }, { 20, "web", "w1", NULL, 6, "w-span", NULL },
        { 30, "cron", NULL, NULL, 6, "c3", NULL },
    };
    struct clew_trace *t = assemble(tr, 5);
    static const struct want_span w[] = {
        { "", "", "cron", -1, 0, 3, 1, 0, 50 },
        { "", "", "web", -1, 0, 1, 0, 10, 10 },
        { "w1", "", "web", -1, 0, 1, 0, 20, 20 },
    };
    check_spans(t, w, 3);
    static const uint32_t span_of[] = { 0, 1, 2, 0, 0 };
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(t->rec_span[i], span_of[i]);
    }
    clew_trace_free(t);
}

static void test_missing_parent(void **state)
{
    (void)state;
    const struct trec tr[] = {
        { 0, "a", "x", "gone", 6, "x1", NULL },
        { 5, "b", "y", NULL, 6, "y1", NULL },
        { 7, "c", "z", "x", 6, "z1", NULL },
        { 2, "d", "q", "x", 6, "q1", NULL },
    };
    struct clew_trace *t = assemble(tr, 4);
    static const struct want_span w[] = {
        { "x", "gone", "a", -1, 0, 1, 0, 0, 0 },
        { "q", "x", "d", 0, 1, 1, 0, 2, 2 },
        { "z", "x", "c", 0, 1, 1, 0, 7, 7 },
        { "y", "", "b", -1, 0, 1, 0, 5, 5 },
    };
    check_spans(t, w, 4);
    clew_trace_free(t);
}

/* Pre-order: a parent comes before its children, depths follow parents,
 * and each subtree is contiguous. */
static void assert_preorder(const struct clew_trace *t)
{
    for (size_t i = 0; i < t->nspans; i++) {
        int32_t p = t->spans[i].parent;
        if (p < 0) {
            assert_int_equal(t->spans[i].depth, 0);
            continue;
        }
        assert_true((size_t)p < i);
        assert_int_equal(t->spans[i].depth, t->spans[p].depth + 1);
        for (size_t k = (size_t)p + 1; k < i; k++) { /* in p's subtree */
            assert_true(t->spans[k].depth > t->spans[p].depth);
        }
    }
}

static const struct clew_trace_span *find_span(const struct clew_trace *t, const char *id)
{
    for (size_t i = 0; i < t->nspans; i++) {
        if (t->spans[i].span_id.len == strlen(id) &&
            memcmp(t->spans[i].span_id.ptr, id, strlen(id)) == 0) {
            return &t->spans[i];
        }
    }
    fail_msg("span %s missing", id);
    return NULL;
}

static void test_cycles(void **state)
{
    (void)state;
    const struct trec tr[] = {
        { 1, "s", "a", "b", 6, "a", NULL }, { 0, "s", "b", "a", 6, "b", NULL }, /* 2-cycle */
        { 2, "s", "c", "c", 6, "c", NULL },                                     /* self   */
        { 5, "s", "d", "f", 6, "d", NULL }, { 4, "s", "e", "d", 6, "e", NULL }, /* 3-cycle */
        { 6, "s", "f", "e", 6, "f", NULL }, { 3, "s", "g", "d", 6, "g", NULL }, /* + tail  */
    };
    struct clew_trace *t = assemble(tr, 7);
    assert_int_equal(t->nspans, 7);
    assert_int_equal(t->nrecords, 7);
    assert_preorder(t);
    /* Each cycle is cut at its earliest span. */
    assert_int_equal(find_span(t, "b")->parent, -1);
    assert_int_equal(find_span(t, "a")->depth, 1);
    assert_int_equal(find_span(t, "c")->parent, -1);
    assert_int_equal(find_span(t, "e")->parent, -1);
    assert_int_equal(find_span(t, "f")->depth, 1);
    assert_int_equal(find_span(t, "d")->depth, 2);
    assert_int_equal(find_span(t, "g")->depth, 3);
    int roots = 0;
    for (size_t i = 0; i < t->nspans; i++) {
        roots += t->spans[i].parent < 0;
    }
    assert_int_equal(roots, 3);
    clew_trace_free(t);
}

static void test_deep_chain(void **state)
{
    (void)state;
    enum { N = 50000 };
    struct clew_record *recs = calloc(N, sizeof(*recs));
    char(*ids)[16] = calloc(N + 1, sizeof(*ids));
    for (int i = 0; i <= N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "sp%07d", i);
    }
    for (int i = 0; i < N; i++) {
        struct trec tr = { N - i, "svc", ids[i + 1], i ? ids[i] : NULL, 6, "m", NULL };
        recs[i] = mk(&tr, TID); /* children start earlier than their parents */
    }
    struct clew_trace *t = NULL;
    assert_int_equal(clew_trace_assemble(TID, strlen(TID), recs, N, &t), 0);
    assert_int_equal(t->nspans, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(t->spans[i].depth, i);
        assert_int_equal(t->spans[i].parent, i - 1);
    }
    assert_str(t->spans[N - 1].span_id, ids[N]);
    assert_int_equal(t->rec_span[0], N - 1); /* the earliest record is the deepest span's */
    clew_trace_free(t);
    free(recs);
    free(ids);
}

static void test_ties_keep_arrival(void **state)
{
    (void)state;
    const struct trec tr[] = {
        { 5, "s", "x", NULL, 6, "third", NULL },
        { 1, "s", "x", NULL, 6, "first", NULL },
        { 5, "s", "x", NULL, 6, "fourth", NULL },
        { 1, "s", "x", NULL, 6, "second", NULL },
    };
    struct clew_trace *t = assemble(tr, 4);
    assert_str(t->records[0].message, "first");
    assert_str(t->records[1].message, "second");
    assert_str(t->records[2].message, "third");
    assert_str(t->records[3].message, "fourth");
    clew_trace_free(t);
}

static void test_empty_and_closed(void **state)
{
    (void)state;
    struct clew_trace *t = assemble(NULL, 0);
    assert_int_equal(t->nrecords, 0);
    assert_int_equal(t->nspans, 0);
    struct clew_buf b;
    clew_buf_init(&b);
    assert_int_equal(clew_trace_render_json(t, &b), 0);
    const char want[] = "{\"trace_id\":\"" TID "\",\"records\":[],\"spans\":[]}";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    struct clew_record r = mk(&tree[0], TID);
    assert_int_equal(clew_trace_add(t, &r), CLEW_ECLOSED);
    clew_buf_close(&b);
    clew_trace_free(t);
    clew_trace_free(NULL);
}

/* ---- JSON ---- */

static void assert_keys(json_t *o, const char *const *keys, size_t n)
{
    assert_true(json_is_object(o));
    assert_int_equal(json_object_size(o), n);
    const char *k;
    json_t *v;
    size_t i = 0;
    json_object_foreach(o, k, v)
    {
        (void)v;
        assert_string_equal(k, keys[i]); /* jansson keeps the order of the text */
        i++;
    }
}

static const char *jstr(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static json_int_t jint(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static void test_json(void **state)
{
    (void)state;
    struct trec tr[NTREE];
    memcpy(tr, tree, sizeof(tr));
    tr[1].fields = "{\"user\":\"alice\",\"n\":3}";
    tr[2].msg = "gw \"end\"\n\x01";
    struct clew_trace *t = assemble(tr, NTREE);
    struct clew_buf b;
    clew_buf_init(&b);
    assert_int_equal(clew_trace_render_json(t, &b), 0);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)b.data, b.len, JSON_PRESERVE_ORDER, &jerr);
    if (root == NULL) {
        fail_msg("JSON does not parse: %s: %.*s", jerr.text, (int)b.len, (const char *)b.data);
    }
    static const char *const top[] = { "trace_id", "records", "spans" };
    assert_keys(root, top, 3);
    assert_string_equal(jstr(root, "trace_id"), TID);

    const json_t *recs = json_object_get(root, "records");
    assert_int_equal(json_array_size(recs), NTREE);
    static const char *const rkeys[] = {
        "ts",      "host",     "service", "container_id",   "container_name", "stream", "level",
        "message", "trace_id", "span_id", "parent_span_id", "input",          "fields"
    };
    static const char *const msgs[] = { "gw start", "ord start", "auth",
                                        "pay",      "pay err",   "ord fail",
                                        "sidecar",  "ord end",   "gw \"end\"\n\x01" };
    for (size_t i = 0; i < NTREE; i++) {
        json_t *r = json_array_get(recs, i);
        assert_keys(r, rkeys, 13);
        char ts[40];
        clew_time_format(t->records[i].ts, 9, ts, sizeof(ts));
        assert_string_equal(jstr(r, "ts"), ts);
        assert_string_equal(jstr(r, "trace_id"), TID);
        assert_int_equal(jint(r, "level"), t->records[i].level);
        assert_string_equal(jstr(r, "message"), msgs[i]);
    }
    const json_t *f0 = json_object_get(json_array_get(recs, 0), "fields");
    assert_string_equal(jstr(f0, "user"), "alice");
    assert_int_equal(jint(f0, "n"), 3);

    const json_t *spans = json_object_get(root, "spans");
    assert_int_equal(json_array_size(spans), 4);
    static const char *const skeys[] = { "span_id", "parent_span_id", "service",     "start", "end",
                                         "records", "errors",         "duration_ms", "depth" };
    for (size_t i = 0; i < 4; i++) {
        json_t *s = json_array_get(spans, i);
        const struct want_span *w = &tree_spans[i];
        char start[40], end[40];
        clew_time_format(T0 + w->start_ms * MS, 9, start, sizeof(start));
        clew_time_format(T0 + w->end_ms * MS, 9, end, sizeof(end));
        assert_keys(s, skeys, 9);
        assert_string_equal(jstr(s, "span_id"), w->id);
        assert_string_equal(jstr(s, "parent_span_id"), w->parent_id);
        assert_string_equal(jstr(s, "service"), w->svc);
        assert_string_equal(jstr(s, "start"), start);
        assert_string_equal(jstr(s, "end"), end);
        assert_int_equal(jint(s, "records"), w->records);
        assert_int_equal(jint(s, "errors"), w->errors);
        assert_int_equal(jint(s, "depth"), w->depth);
        const json_t *d = json_object_get(s, "duration_ms");
        assert_true(json_is_number(d));
        assert_true(json_number_value(d) == (double)(w->end_ms - w->start_ms));
    }
    assert_string_equal(jstr(json_array_get(spans, 0), "start"), "2026-11-28T20:29:38.000000000Z");
    assert_string_equal(jstr(json_array_get(spans, 0), "end"), "2026-11-28T20:29:38.100000000Z");
    json_decref(root);
    clew_buf_close(&b);
    clew_trace_free(t);
}

/* ---- text ---- */

static void test_text(void **state)
{
    (void)state;
    struct clew_trace *t = assemble(tree, NTREE);
    struct clew_buf b;
    clew_buf_init(&b);
    struct clew_trace_text_opts o = { 100, 0 };
    assert_int_equal(clew_trace_render_text(t, &o, &b), 0);
    assert_int_equal(clew_buf_put_u8(&b, 0), 0);
    const char *txt = (const char *)b.data;
    /* Name column 12 wide (payments at depth 2), span ids 16, bar 22 cells. */
    static const char *const lines[] = {
        "trace " TID ": 9 records, 4 spans, 3 errors, 100.000ms\n",
        "gateway      r000000000000001 +0.000ms       100.000ms      2 rec    1 err "
        "|######################|\n",
        "  orders     b000000000000002 +10.000ms       60.000ms      4 rec    1 err "
        "|  ##############      |\n",
        "    payments g000000000000003 +30.000ms       10.000ms      2 rec    1 err "
        "|      ###             |\n",
        "  auth       a000000000000004 +20.000ms        0.000ms      1 rec    0 err "
        "|    #                 |\n",
        "\n",
        "2026-11-28T20:29:38.000000Z  gateway info gw start\n",
        "2026-11-28T20:29:38.010000Z    orders info ord start\n",
        "2026-11-28T20:29:38.020000Z    auth info auth\n",
        "2026-11-28T20:29:38.030000Z      payments info pay\n",
        "2026-11-28T20:29:38.040000Z      payments crit pay err\n",
        "2026-11-28T20:29:38.060000Z    orders err ord fail\n",
        "2026-11-28T20:29:38.065000Z    orders-sidecar info sidecar\n",
        "2026-11-28T20:29:38.070000Z    orders warning ord end\n",
        "2026-11-28T20:29:38.100000Z  gateway err gw end\n",
    };
    const char *p = txt;
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (strncmp(p, lines[i], strlen(lines[i])) != 0) {
            fail_msg("line %zu: got\n%.*s\nwant\n%s", i, (int)strcspn(p, "\n") + 1, p, lines[i]);
        }
        p += strlen(lines[i]);
    }
    assert_int_equal(*p, '\0');
    /* --spans-only stops after the waterfall. */
    clew_buf_reset(&b);
    o.spans_only = 1;
    assert_int_equal(clew_trace_render_text(t, &o, &b), 0);
    size_t want = 0;
    for (size_t i = 0; i < 5; i++) {
        want += strlen(lines[i]);
    }
    assert_int_equal(b.len, want);
    clew_buf_close(&b);
    clew_trace_free(t);
}

/* ---- ids ---- */

static void test_record_ids(void **state)
{
    (void)state;
    struct trec tr = { 0, "s", NULL, NULL, 6, "m", NULL };
    struct clew_record r = mk(&tr, "X1");
    struct clew_trace_ids ids;
    assert_int_equal(clew_trace_record_ids(&r, &ids), 1);
    assert_str(ids.ids[0], "X1");
    r.fields = str_of("{\"a\":1,\"link_id\":\"Y2\"}");
    assert_int_equal(clew_trace_record_ids(&r, &ids), 2);
    assert_str(ids.ids[1], "Y2");
    r.fields = str_of("{\"link_id\":[\"Y2\",\"X1\",\"Z3\",7,\"\",\"Y2\",\"W4\",\"V5\"]}");
    assert_int_equal(clew_trace_record_ids(&r, &ids), 4); /* distinct, capped */
    assert_str(ids.ids[1], "Y2");
    assert_str(ids.ids[2], "Z3");
    assert_str(ids.ids[3], "W4");
    r.fields = str_of("{\"nested\":{\"link_id\":\"N\"}}"); /* top level only */
    assert_int_equal(clew_trace_record_ids(&r, &ids), 1);
    r.fields = str_of("{\"link_id\":\"broken"); /* not JSON */
    assert_int_equal(clew_trace_record_ids(&r, &ids), 1);
    char big[CLEW_TRACE_ID_MAX + 40];
    memset(big, 'a', sizeof(big));
    memcpy(big, "{\"link_id\":\"", 12);
    memcpy(big + sizeof(big) - 3, "\"}", 3);
    r.fields = str_of(big); /* an id longer than CLEW_TRACE_ID_MAX */
    assert_int_equal(clew_trace_record_ids(&r, &ids), 1);
    r.trace_id = str_of(NULL);
    r.fields = str_of("{\"link_id\":\"L\"}");
    assert_int_equal(clew_trace_record_ids(&r, &ids), 1);
    assert_str(ids.ids[0], "L");
}

/* ---- allocation failures ---- */

static void test_alloc_failures(void **state)
{
    (void)state;
    struct clew_record recs[NTREE];
    for (size_t i = 0; i < NTREE; i++) {
        recs[i] = mk(&tree[i], TID);
    }
    int ok = 0;
    for (long n = 0; n < 200 && !ok; n++) {
        struct clew_trace *t = NULL;
        clew_alloc_fail_after(n);
        int rc = clew_trace_assemble(TID, strlen(TID), recs, NTREE, &t);
        struct clew_buf b;
        clew_buf_init(&b);
        int rj = rc == 0 ? clew_trace_render_json(t, &b) : 0;
        clew_alloc_fail_after(-1);
        if (rc == 0 && rj == 0) {
            check_spans(t, tree_spans, 4);
            ok = 1;
        } else {
            assert_true(rc == -ENOMEM || rj == -ENOMEM);
            assert_true(rc == 0 || t == NULL);
        }
        clew_buf_close(&b);
        clew_trace_free(t);
    }
    assert_true(ok);
}

/* ---- through the store ---- */

static char tmpdir[256];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/clew-test-trace-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd);
}

static struct clew_store *open_store(void)
{
    struct clew_store_config cfg;
    struct clew_store *s;
    char err[CLEW_ERR_LEN];
    clew_store_config_default(&cfg);
    cfg.data_dir = tmpdir;
    cfg.fsync = CLEW_FSYNC_NEVER;
    cfg.seg.block_records = 500; /* many blocks: the trace index matters */
    if (clew_store_open(&cfg, NULL, NULL, &s, err) != 0) {
        fail_msg("store open: %s", err);
    }
    return s;
}

static struct clew_trace *lookup(const char *id, int64_t window, size_t max_ids, size_t max_records,
                                 struct clew_trace_lookup_stats *st)
{
    struct clew_trace_lookup_opts o = { tmpdir, max_ids, max_records, window, NULL, NULL };
    struct clew_trace *t = NULL;
    char err[CLEW_ERR_LEN];
    int rc = clew_trace_lookup(&o, id, strlen(id), &t, st, err);
    if (rc != 0) {
        fail_msg("lookup %s: %s", id, err);
    }
    return t;
}

/* One generated record, as the truth says. */
struct truth_rec {
    char trace[33], span[17];
    int64_t ts;
    uint64_t hash; /* of the message */
};

struct rec_key {
    int64_t ts;
    uint64_t hash;
    char span[17];
};

static int cmp_rec_key(const void *a, const void *b)
{
    const struct rec_key *x = a, *y = b;
    if (x->ts != y->ts) {
        return x->ts < y->ts ? -1 : 1;
    }
    if (x->hash != y->hash) {
        return x->hash < y->hash ? -1 : 1;
    }
    return strcmp(x->span, y->span);
}

static void copy_id(char *dst, size_t cap, struct clew_str s)
{
    assert_true(s.len < cap);
    if (s.len > 0) {
        memcpy(dst, s.ptr, s.len);
    }
    dst[s.len] = '\0';
}

/* Generates n records into the store (sealing after `sealed` of them,
 * the rest stays in the WAL) and returns the per-record truth. */
static struct truth_rec *generate(struct clew_store *s, size_t n, size_t sealed, FILE *truth)
{
    struct clew_gen_opts go;
    clew_gen_opts_default(&go);
    go.seed = 4242;
    go.records = n;
    go.start_ns = 1795913995LL * CLEW_NS_PER_SEC; /* 2026-11-28T23:59:55Z: two days */
    go.resolved_ids = 1;
    go.error_rate = 0.1;
    go.truth = truth;
    struct clew_gen *g;
    char err[CLEW_ERR_LEN];
    if (clew_gen_new(&go, &g, err) != 0) {
        fail_msg("gen: %s", err);
    }
    struct truth_rec *tr = calloc(n, sizeof(*tr));
    struct clew_record r;
    size_t i = 0;
    while (clew_gen_next(g, &r) == 1) {
        assert_true(i < n);
        struct clew_gen_truth t;
        clew_gen_record_truth(g, &t);
        copy_id(tr[i].trace, sizeof(tr[i].trace), t.trace_id);
        copy_id(tr[i].span, sizeof(tr[i].span), t.span_id);
        tr[i].ts = r.ts;
        tr[i].hash = XXH3_64bits(r.message.ptr, r.message.len);
        assert_int_equal(clew_store_append(s, &r, 1, NULL), 0);
        if (++i == sealed) {
            assert_int_equal(clew_store_seal(s), 0);
        }
    }
    assert_int_equal(i, n);
    clew_gen_free(g);
    return tr;
}

/* The trace of request line `req` (the generator's truth) equals what the
 * lookup assembled: the same records, spans and edges. */
static void check_request(const json_t *req, const struct truth_rec *tr, size_t n)
{
    const char *id = jstr(req, "trace_id");
    struct clew_trace *t = lookup(id, 5 * CLEW_NS_PER_SEC, 0, 0, NULL);
    size_t nwant = 0;
    struct rec_key *want = calloc(n, sizeof(*want)), *got = calloc(t->nrecords + 1, sizeof(*got));
    for (size_t i = 0; i < n; i++) {
        if (strcmp(tr[i].trace, id) == 0) {
            want[nwant].ts = tr[i].ts;
            want[nwant].hash = tr[i].hash;
            memcpy(want[nwant++].span, tr[i].span, 17);
        }
    }
    assert_int_equal(nwant, jint(req, "records"));
    assert_int_equal(t->nrecords, nwant);
    for (size_t i = 0; i < t->nrecords; i++) {
        const struct clew_record *r = &t->records[i];
        assert_true(i == 0 || r->ts >= t->records[i - 1].ts);
        got[i].ts = r->ts;
        got[i].hash = XXH3_64bits(r->message.ptr, r->message.len);
        copy_id(got[i].span, sizeof(got[i].span), r->span_id);
    }
    qsort(want, nwant, sizeof(*want), cmp_rec_key);
    qsort(got, t->nrecords, sizeof(*got), cmp_rec_key);
    for (size_t i = 0; i < nwant; i++) {
        assert_int_equal(cmp_rec_key(&want[i], &got[i]), 0);
    }
    /* Spans: every truth span with records, its parent edge, counts, times. */
    const json_t *spans = json_object_get(req, "spans");
    size_t with_records = 0;
    for (size_t k = 0; k < json_array_size(spans); k++) {
        const json_t *ws = json_array_get(spans, k);
        if (jint(ws, "records") == 0) {
            continue;
        }
        with_records++;
        const struct clew_trace_span *s = find_span(t, jstr(ws, "span_id"));
        const char *parent = jstr(ws, "parent_span_id");
        assert_str(s->parent_span_id, parent);
        assert_str(s->service, jstr(ws, "service"));
        assert_int_equal(s->records, jint(ws, "records"));
        assert_int_equal(s->errors, jint(ws, "errors"));
        char start[40], end[40];
        clew_time_format(s->start, 9, start, sizeof(start));
        clew_time_format(s->end, 9, end, sizeof(end));
        assert_string_equal(start, jstr(ws, "start"));
        assert_string_equal(end, jstr(ws, "end"));
        int parent_present = 0;
        for (size_t j = 0; j < json_array_size(spans); j++) {
            const json_t *p = json_array_get(spans, j);
            parent_present |= strcmp(jstr(p, "span_id"), parent) == 0 && jint(p, "records") > 0;
        }
        if (parent_present) {
            assert_true(s->parent >= 0);
            assert_str(t->spans[s->parent].span_id, parent);
        } else {
            assert_int_equal(s->parent, -1);
        }
    }
    assert_int_equal(t->nspans, with_records);
    assert_preorder(t);
    free(want);
    free(got);
    clew_trace_free(t);
}

static void test_corpus_through_store(void **state)
{
    (void)state;
    enum { N = 20000 };
    FILE *truth = tmpfile();
    struct clew_store *s = open_store();
    struct truth_rec *tr = generate(s, N, 15000, truth);
    rewind(truth);
    json_t *reqs = json_array();
    char line[65536];
    while (fgets(line, sizeof(line), truth) != NULL) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        json_array_append_new(reqs, j);
    }
    size_t nreq = json_array_size(reqs);
    assert_true(nreq > 100);
    for (int pass = 0; pass < 2; pass++) { /* WAL + segments, then all sealed */
        uint64_t x = 88172645463325252ULL;
        for (int k = 0; k < 20; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            check_request(json_array_get(reqs, x % nreq), tr, N);
        }
        if (pass == 0) {
            /* The last request is partly in the WAL. */
            check_request(json_array_get(reqs, nreq - 1), tr, N);
            assert_int_equal(clew_store_close(s), 0);
        }
    }
    json_decref(reqs);
    free(tr);
    fclose(truth);
}

/* A record to store: id, link fields, ts offset in seconds. */
static void put(struct clew_store *s, const char *trace, const char *fields, int64_t sec,
                const char *msg)
{
    struct trec t = { sec * 1000, "svc", NULL, NULL, 6, msg, fields };
    struct clew_record r = mk(&t, trace);
    assert_int_equal(clew_store_append(s, &r, 1, NULL), 0);
}

static void assert_messages(const struct clew_trace *t, const char *want)
{
    char got[512] = "";
    for (size_t i = 0; i < t->nrecords; i++) {
        strncat(got, i ? "|" : "", sizeof(got) - strlen(got) - 1);
        strncat(got, t->records[i].message.ptr, t->records[i].message.len);
    }
    assert_string_equal(got, want);
}

static void test_links_through_store(void **state)
{
    (void)state;
    struct clew_store *s = open_store();
    put(s, "X", NULL, 0, "A");
    put(s, "Y", "{\"link_id\":\"X\"}", 1, "B");
    put(s, "Y", NULL, 2, "C");
    put(s, "Z", "{\"link_id\":[\"Y\",\"X\"]}", 600, "D"); /* ten minutes later */
    put(s, "W", "{\"link_id\":\"Z\"}", 601, "E");
    put(s, "Q", NULL, 1, "other");
    put(s, "long", NULL, 0, "L1"); /* a chain over an hour: no reverse scan */
    put(s, "M", "{\"link_id\":\"long\"}", 1, "M1");
    put(s, "long", NULL, 3600, "L2");
    for (int pass = 0; pass < 2; pass++) { /* WAL, then sealed */
        struct clew_trace_lookup_stats st;
        struct clew_trace *t = lookup("X", 5 * CLEW_NS_PER_SEC, 0, 0, &st);
        assert_messages(t, "A|B|C");
        assert_int_equal(st.ids, 2);
        assert_int_equal(st.truncated, 0);
        clew_trace_free(t);
        t = lookup("Y", 5 * CLEW_NS_PER_SEC, 0, 0, NULL);
        assert_messages(t, "A|B|C");
        clew_trace_free(t);
        t = lookup("X", -1, 0, 0, NULL); /* no scan: B links X through the link index */
        assert_messages(t, "A|B|C");
        clew_trace_free(t);
        t = lookup("X", 20 * 60 * CLEW_NS_PER_SEC, 0, 0, &st); /* reaches D, then E */
        assert_messages(t, "A|B|C|D|E");
        /* X; then one reverse scan finds Y (B), Z (D links X too) and W (E
         * links Z, known by then); a second finds nothing new. */
        assert_int_equal(st.ids, 4);
        assert_int_equal(st.link_scans, 2);
        assert_int_equal(st.link_scan_skipped, 0);
        clew_trace_free(t);
        t = lookup("long", 5 * CLEW_NS_PER_SEC, 0, 0, &st);
        assert_messages(t, "L1|M1|L2"); /* M1 through the link index, not a scan */
        assert_int_equal(st.link_scan_skipped, 1);
        assert_int_equal(st.link_scans, 0);
        clew_trace_free(t);
        t = lookup("M", 5 * CLEW_NS_PER_SEC, 0, 0, NULL); /* forward: M -> long */
        assert_messages(t, "L1|M1|L2");
        clew_trace_free(t);
        t = lookup("W", -1, 0, 0, NULL); /* forward links only: W -> Z -> Y, X */
        assert_messages(t, "A|B|C|D|E");
        clew_trace_free(t);
        t = lookup("nothing", 5 * CLEW_NS_PER_SEC, 0, 0, &st);
        assert_int_equal(t->nrecords, 0);
        assert_int_equal(st.link_scans, 0);
        clew_trace_free(t);
        if (pass == 0) {
            assert_int_equal(clew_store_close(s), 0);
        }
    }
}

static void test_bounds_through_store(void **state)
{
    (void)state;
    struct clew_store *s = open_store();
    char id[32], fields[64], msg[32];
    for (int i = 0; i < 40; i++) { /* chain-i links to chain-(i+1) */
        snprintf(id, sizeof(id), "chain-%02d", i);
        snprintf(fields, sizeof(fields), "{\"link_id\":\"chain-%02d\"}", i + 1);
        snprintf(msg, sizeof(msg), "m%02d", i);
        put(s, id, fields, i, msg);
        put(s, id, NULL, i, msg);
    }
    assert_int_equal(clew_store_close(s), 0);
    struct clew_trace_lookup_stats st;
    struct clew_trace *t = lookup("chain-00", -1, 0, 0, &st);
    assert_int_equal(st.ids, CLEW_TRACE_MAX_IDS);
    assert_int_equal(t->nrecords, 2 * CLEW_TRACE_MAX_IDS);
    assert_int_equal(st.truncated, 1);
    clew_trace_free(t);
    t = lookup("chain-00", -1, 5, 0, &st);
    assert_int_equal(st.ids, 5);
    assert_int_equal(t->nrecords, 10);
    assert_int_equal(st.truncated, 1);
    clew_trace_free(t);
    t = lookup("chain-00", -1, 0, 7, &st);
    assert_int_equal(t->nrecords, 7);
    assert_int_equal(st.truncated, 1);
    clew_trace_free(t);
    /* chain-39 links to chain-40 (no record); the link index leads back
     * through chain-38, -37, ... until the id bound. */
    t = lookup("chain-39", -1, 0, 0, &st);
    assert_int_equal(st.ids, CLEW_TRACE_MAX_IDS);
    assert_int_equal(t->nrecords, 2 * (CLEW_TRACE_MAX_IDS - 1));
    assert_int_equal(st.truncated, 1);
    clew_trace_free(t);
}

static void test_lookup_errors(void **state)
{
    (void)state;
    struct clew_trace_lookup_opts o = { tmpdir, 0, 0, 0, NULL, NULL };
    struct clew_trace *t = (struct clew_trace *)1;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_trace_lookup(&o, "", 0, &t, NULL, err), CLEW_EBADARG);
    assert_null(t);
    char big[CLEW_TRACE_ID_MAX + 2];
    memset(big, 'a', sizeof(big));
    assert_int_equal(clew_trace_lookup(&o, big, sizeof(big), &t, NULL, err), CLEW_EBADARG);
    /* An empty directory: no records, no error. */
    assert_int_equal(clew_trace_lookup(&o, "x", 1, &t, NULL, err), 0);
    assert_int_equal(t->nrecords, 0);
    clew_trace_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree),
        cmocka_unit_test(test_service_vote),
        cmocka_unit_test(test_pseudo_spans),
        cmocka_unit_test(test_missing_parent),
        cmocka_unit_test(test_cycles),
        cmocka_unit_test(test_deep_chain),
        cmocka_unit_test(test_ties_keep_arrival),
        cmocka_unit_test(test_empty_and_closed),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_record_ids),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test_setup_teardown(test_corpus_through_store, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_links_through_store, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_bounds_through_store, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_lookup_errors, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
