/* SPDX-License-Identifier: MIT
 * The syslog decoders against the captured client fixtures
 * (shared/fixtures/README.md): every syslog capture is framed (datagrams by
 * their length prefix; TCP streams through the framer, fed whole, in random
 * pieces and one byte at a time), parsed, and compared with its
 * NAME.expected.jsonl line by line.
 *
 * Comparison rules:
 *  - host, service, level, message (byte-exact) and input are compared
 *    exactly.
 *  - ts: RFC 5424 and RFC 3339 times compare as nanoseconds. RFC 3164 times
 *    carry no year and no zone; the parser takes the year nearest the
 *    receive time and UTC by default, so only month, day and time of day
 *    are compared there. A null ts must come back as the receive time.
 *  - fields: every leaf value of the expected fields must be found in ours
 *    under a key named k, _k or ending in .k (the README's lenient rule);
 *    ours must load as strict JSON.
 *  - trace_id, span_id, parent_span_id are compared where they come from
 *    SD-PARAMs of those names. Ids the reference decoder took from a W3C
 *    `traceparent` SD-PARAM are skipped: traceparent parsing belongs to the
 *    correlation stage, so the parser must leave those ids empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/syslog_frame.h"
#include "collector/syslog_parse.h"
#include "common/arena.h"
#include "common/timeutil.h"

#define FIXTURES CLEW_SHARED_DIR "/fixtures/"

struct fixture {
    const char *name;
    int udp;     /* 4-byte BE length + datagram, else a TCP stream */
    int no_year; /* RFC 3164 timestamps: compare month, day and time only */
};

static const struct fixture fixtures[] = {
    { "logger-udp-rfc5424", 1, 0 },         { "logger-tcp-rfc5424", 0, 0 },
    { "logger-tcp-rfc5424-octet", 0, 0 },   { "logger-udp-rfc3164", 1, 1 },
    { "logger-tcp-rfc3164", 0, 1 },         { "logger-tcp-rfc3164-octet", 0, 1 },
    { "rsyslog-tcp-rfc5424-octet", 0, 0 },  { "rsyslog-tcp-rfc5424-lf", 0, 0 },
    { "syslogng-tcp-rfc5424-octet", 0, 0 }, { "python-udp-syslog", 1, 0 },
    { "python-tcp-syslog-nul", 0, 0 },
};
#define N_FIXTURES (sizeof(fixtures) / sizeof(fixtures[0]))

/* The framed messages of one fixture (copies). */
struct msgs {
    size_t n, cap;
    char **p;
    size_t *len;
};

static void msgs_add(struct msgs *m, const char *p, size_t len)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 16;
        m->p = realloc(m->p, m->cap * sizeof(*m->p));
        m->len = realloc(m->len, m->cap * sizeof(*m->len));
        assert_true(m->p != NULL && m->len != NULL);
    }
    m->p[m->n] = malloc(len + 1);
    assert_non_null(m->p[m->n]);
    memcpy(m->p[m->n], p, len);
    m->len[m->n++] = len;
}

static void msgs_free(struct msgs *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->p[i]);
    }
    free(m->p);
    free(m->len);
    memset(m, 0, sizeof(*m));
}

static void on_msg(void *ud, const char *msg, size_t len, unsigned flags)
{
    assert_int_equal(flags & CLEW_SYSLOG_FRAME_TRUNCATED, 0);
    msgs_add(ud, msg, len);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        fail_msg("cannot open %s", path);
    }
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long n = ftell(fp);
    assert_true(n >= 0);
    rewind(fp);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static void split_datagrams(const unsigned char *p, size_t n, struct msgs *out)
{
    size_t off = 0;
    while (off < n) {
        assert_true(n - off >= 4);
        size_t len =
            (size_t)p[off] << 24 | (size_t)p[off + 1] << 16 | (size_t)p[off + 2] << 8 | p[off + 3];
        off += 4;
        assert_true(len <= n - off);
        /* As the UDP input does: drop an octet-count prefix if a sender
         * put one on the datagram (none of these captures has one). */
        size_t skip = clew_syslog_datagram_offset((const char *)p + off, len);
        assert_int_equal(skip, 0);
        msgs_add(out, (const char *)p + off + skip, len - skip);
        off += len;
    }
}

/* mode 0: whole; 1: random pieces of 1-300 bytes; 2: one byte at a time. */
static void frame_stream(const char *p, size_t n, int mode, struct msgs *out)
{
    struct clew_syslog_framer f;
    clew_syslog_framer_init(&f, 0);
    size_t off = 0;
    srand(42);
    while (off < n) {
        size_t k = mode == 0 ? n - off : mode == 2 ? 1 : 1 + (size_t)rand() % 300;
        k = k < n - off ? k : n - off;
        assert_int_equal(clew_syslog_framer_feed(&f, p + off, k, on_msg, out), 0);
        off += k;
    }
    clew_syslog_framer_finish(&f, on_msg, out);
    assert_int_equal(f.stats.oversize + f.stats.partial + f.stats.truncated, 0);
    clew_syslog_framer_close(&f);
}

static void load_messages(const struct fixture *fx, struct msgs *out)
{
    char path[512];
    size_t n;
    snprintf(path, sizeof(path), FIXTURES "%s.bin", fx->name);
    char *data = read_file(path, &n);
    if (fx->udp) {
        split_datagrams((const unsigned char *)data, n, out);
        free(data);
        return;
    }
    frame_stream(data, n, 0, out);
    for (int mode = 1; mode <= 2; mode++) {
        struct msgs other = { 0 };
        frame_stream(data, n, mode, &other);
        assert_int_equal(other.n, out->n);
        for (size_t i = 0; i < other.n; i++) {
            assert_int_equal(other.len[i], out->len[i]);
            assert_memory_equal(other.p[i], out->p[i], other.len[i]);
        }
        msgs_free(&other);
    }
    free(data);
}

static void expect_str(const char *what, struct clew_str got, json_t *want)
{
    assert_true(json_is_string(want));
    size_t n = json_string_length(want);
    if (got.len != n || (n > 0 && memcmp(got.ptr, json_string_value(want), n) != 0)) {
        fail_msg("%s: got \"%.*s\", want \"%s\"", what, (int)got.len, got.len ? got.ptr : "",
                 json_string_value(want));
    }
}

static int key_matches(const char *have, const char *k)
{
    size_t hl = strlen(have), kl = strlen(k);
    return strcmp(have, k) == 0 || (have[0] == '_' && strcmp(have + 1, k) == 0) ||
           (hl > kl && have[hl - kl - 1] == '.' && strcmp(have + hl - kl, k) == 0);
}

static int values_equal(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        return json_number_value(a) == json_number_value(b);
    }
    return json_equal(a, b);
}

/* Some key anywhere in obj (nested or flat) matches k and holds want. */
static int find_value(json_t *obj, const char *k, json_t *want)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (key_matches(key, k) && values_equal(v, want)) {
            return 1;
        }
        if (json_is_object(v) && find_value(v, k, want)) {
            return 1;
        }
    }
    return 0;
}

static int has_key(json_t *obj, const char *k)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (strcmp(key, k) == 0 || (json_is_object(v) && has_key(v, k))) {
            return 1;
        }
    }
    return 0;
}

static void check_leaves(json_t *ours, json_t *want, const char *raw)
{
    const char *key;
    json_t *v;
    json_object_foreach(want, key, v)
    {
        if (json_is_object(v)) {
            check_leaves(ours, v, raw);
        } else if (!find_value(ours, key, v)) {
            fail_msg("fields: %s not found in %s", key, raw);
        }
    }
}

static void check_fields(const struct clew_record *r, json_t *want)
{
    char raw[4096];
    snprintf(raw, sizeof(raw), "%.*s", (int)r->fields.len, r->fields.ptr);
    json_error_t err;
    json_t *ours = json_loadb(r->fields.ptr, r->fields.len, JSON_REJECT_DUPLICATES, &err);
    if (ours == NULL) {
        fail_msg("fields not JSON (%s): %s", err.text, raw);
    }
    if (json_is_object(want)) {
        check_leaves(ours, want, raw);
    }
    /* Ids: only those carried by SD-PARAMs of their own name. */
    static const char *const ids[] = { "trace_id", "span_id", "parent_span_id" };
    const struct clew_str got[] = { r->trace_id, r->span_id, r->parent_span_id };
    for (int k = 0; k < 3; k++) {
        if (json_is_object(want) && has_key(want, ids[k])) {
            continue; /* compared by the caller against the record's column */
        }
        assert_int_equal(got[k].len, 0);
    }
    json_decref(ours);
}

static void check_ts(const struct fixture *fx, int64_t got, int64_t recv, json_t *want)
{
    if (json_is_null(want)) {
        assert_true(got == recv);
        return;
    }
    const char *s = json_string_value(want);
    assert_non_null(s);
    if (fx->no_year) {
        char buf[40];
        assert_true(clew_time_format(got, 6, buf, sizeof(buf)) > 0);
        if (strncmp(buf + 5, s + 5, 14) != 0) { /* "MM-DDThh:mm:ss" */
            fail_msg("ts: got %s, want %s (month/day/time)", buf, s);
        }
        return;
    }
    int64_t t;
    assert_int_equal(clew_time_parse_rfc3339(s, strlen(s), &t), 0);
    assert_true(got == t);
}

static void check_record(const struct fixture *fx, const char *msg, size_t len, json_t *want,
                         struct clew_arena *arena)
{
    struct clew_record r;
    int64_t recv = clew_time_now_ns();
    assert_int_equal(clew_syslog_parse(msg, len, recv, NULL, &r, arena), 0);
    expect_str("host", r.labels[CLEW_LABEL_HOST], json_object_get(want, "host"));
    expect_str("service", r.labels[CLEW_LABEL_SERVICE], json_object_get(want, "service"));
    expect_str("message", r.message, json_object_get(want, "message"));
    assert_int_equal(r.level, json_integer_value(json_object_get(want, "level")));
    assert_string_equal(clew_input_name(r.input),
                        json_string_value(json_object_get(want, "input")));
    check_ts(fx, r.ts, recv, json_object_get(want, "ts"));
    json_t *wf = json_object_get(want, "fields");
    check_fields(&r, wf);
    static const char *const ids[] = { "trace_id", "span_id", "parent_span_id" };
    const struct clew_str got[] = { r.trace_id, r.span_id, r.parent_span_id };
    for (int k = 0; k < 3; k++) {
        if (json_is_object(wf) && has_key(wf, ids[k])) {
            expect_str(ids[k], got[k], json_object_get(want, ids[k]));
        }
    }
}

static void run_fixture(const struct fixture *fx)
{
    struct msgs m = { 0 };
    load_messages(fx, &m);
    char path[512];
    snprintf(path, sizeof(path), FIXTURES "%s.expected.jsonl", fx->name);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    struct clew_arena arena;
    clew_arena_init(&arena, 0);
    char line[65536];
    size_t i = 0;
    while (fgets(line, sizeof(line), fp) != NULL) {
        json_error_t err;
        json_t *want = json_loads(line, 0, &err);
        if (want == NULL) {
            fail_msg("%s line %zu: %s", path, i + 1, err.text);
        }
        assert_true(i < m.n);
        check_record(fx, m.p[i], m.len[i], want, &arena);
        json_decref(want);
        clew_arena_reset(&arena);
        i++;
    }
    fclose(fp);
    assert_int_equal(i, m.n); /* as many records as expected lines */
    assert_true(i > 0);
    clew_arena_close(&arena);
    msgs_free(&m);
}

static void test_fixture(void **state)
{
    run_fixture(&fixtures[(uintptr_t)*state]);
}

/* Every syslog capture in the directory is in the table above. */
static void test_all_syslog_fixtures_listed(void **state)
{
    (void)state;
    static const char *const prefixes[] = { "logger-", "rsyslog-", "syslogng-tcp-rfc5424",
                                            "python-" };
    DIR *d = opendir(FIXTURES);
    assert_non_null(d);
    struct dirent *e;
    size_t seen = 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".bin") != 0) {
            continue;
        }
        int syslog = 0;
        for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
            syslog |= strncmp(e->d_name, prefixes[p], strlen(prefixes[p])) == 0;
        }
        if (!syslog) {
            continue;
        }
        int listed = 0;
        for (size_t i = 0; i < N_FIXTURES; i++) {
            listed |= strlen(fixtures[i].name) == n - 4 &&
                      strncmp(fixtures[i].name, e->d_name, n - 4) == 0;
        }
        if (!listed) {
            fail_msg("fixture %s is not in the table", e->d_name);
        }
        seen++;
    }
    closedir(d);
    assert_int_equal(seen, N_FIXTURES);
}

int main(void)
{
    struct CMUnitTest tests[N_FIXTURES + 1];
    for (size_t i = 0; i < N_FIXTURES; i++) {
        tests[i] =
            (struct CMUnitTest){ fixtures[i].name, test_fixture, NULL, NULL, (void *)(uintptr_t)i };
    }
    tests[N_FIXTURES] = (struct CMUnitTest)cmocka_unit_test(test_all_syslog_fixtures_listed);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
