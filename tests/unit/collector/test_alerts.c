/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "clew/error.h"
#include "collector/alerts.h"
#include "common/alloc.h"
#include "common/json_out.h"
#include "common/timeutil.h"

#define S  CLEW_NS_PER_SEC
#define T0 1795897778000000000LL /* 2026-11-28T20:29:38Z */

/* A fake clock and the events it saw. */
struct fixture {
    int64_t now;
    struct clew_alerts *a;
    int nevents;
    char bodies[16][8192];
    char lines[16][256];
    int status[16];
};

static int64_t fake_clock(void *ud)
{
    return ((struct fixture *)ud)->now;
}

static void on_event(void *ud, const struct clew_alert_event *ev)
{
    struct fixture *f = ud;
    assert_true(f->nevents < 16);
    snprintf(f->bodies[f->nevents], sizeof(f->bodies[0]), "%.*s", (int)ev->body.len, ev->body.ptr);
    snprintf(f->lines[f->nevents], sizeof(f->lines[0]), "%.*s", (int)ev->line.len, ev->line.ptr);
    f->status[f->nevents] = ev->status;
    f->nevents++;
}

static struct clew_rules *rules_of(const char *yaml)
{
    struct clew_rules *rs;
    char err[CLEW_ERR_LEN];
    if (clew_rules_parse(yaml, strlen(yaml), &rs, err) != 0) {
        fail_msg("rules: %s", err);
    }
    return rs;
}

static void setup_rules(struct fixture *f, const char *yaml)
{
    memset(f, 0, sizeof(*f));
    f->now = T0;
    struct clew_alerts_opts o = { on_event, f, fake_clock, f, 0 };
    assert_int_equal(clew_alerts_new(&o, &f->a), 0);
    size_t kept = 99;
    assert_int_equal(clew_alerts_set_rules(f->a, rules_of(yaml), &kept), 0);
    assert_int_equal(kept, 0);
}

static struct clew_record rec(const char *service, const char *host, const char *msg)
{
    struct clew_record r;
    memset(&r, 0, sizeof(r));
    r.ts = T0;
    r.level = 3;
    r.input = CLEW_INPUT_SYSLOG;
    r.labels[CLEW_LABEL_SERVICE] = (struct clew_str){ service, strlen(service) };
    r.labels[CLEW_LABEL_HOST] = (struct clew_str){ host, strlen(host) };
    r.message = (struct clew_str){ msg, strlen(msg) };
    return r;
}

/* Evaluates a "payment failed" record from host at the fake time t. */
static void hit_at(struct fixture *f, int64_t t, const char *host)
{
    f->now = t;
    struct clew_record r = rec("payments", host, "payment failed: card 4242");
    r.ts = t;
    clew_alerts_eval(f->a, &r);
}

static void tick_at(struct fixture *f, int64_t t)
{
    f->now = t;
    clew_alerts_tick(f->a);
}

#define RULE3                                                                                      \
    "rules:\n  - name: pay\n    match: 'payment (declined|failed)'\n"                              \
    "    threshold: 3\n    window: 10s\n    actions: [ { log: {} } ]\n"

static void test_threshold_edges(void **state)
{
    (void)state;
    struct fixture f;
    /* N-1 matches in the window: nothing. */
    setup_rules(&f, RULE3);
    hit_at(&f, T0, "h");
    hit_at(&f, T0 + 5 * S, "h");
    assert_int_equal(f.nevents, 0);
    /* The Nth, 1 ns before the first leaves the window: fires. */
    hit_at(&f, T0 + 10 * S - 1, "h");
    assert_int_equal(f.nevents, 1);
    assert_int_equal(f.status[0], CLEW_ALERT_FIRING);
    assert_string_equal(f.lines[0], "[firing] pay: 3 matches in 10s");
    /* Firing: more matches do not fire again. */
    hit_at(&f, T0 + 11 * S, "h");
    assert_int_equal(f.nevents, 1);
    clew_alerts_free(f.a);

    /* The Nth exactly one window after the first: the first is out. */
    setup_rules(&f, RULE3);
    hit_at(&f, T0, "h");
    hit_at(&f, T0 + 5 * S, "h");
    hit_at(&f, T0 + 10 * S, "h");
    assert_int_equal(f.nevents, 0);
    hit_at(&f, T0 + 14 * S, "h"); /* 5s, 10s, 14s: three within 10 s */
    assert_int_equal(f.nevents, 1);
    struct clew_alerts_stats st;
    clew_alerts_get_stats(f.a, &st);
    assert_int_equal(st.evaluations, 4);
    assert_int_equal(st.matches, 4);
    assert_int_equal(st.fired, 1);
    assert_int_equal(st.rules, 1);
    assert_int_equal(st.groups, 1);
    clew_alerts_free(f.a);
}

static void test_resolved_and_cooldown(void **state)
{
    (void)state;
    struct fixture f;
    setup_rules(&f, "rules:\n  - name: c\n    match: payment\n    window: 5s\n"
                    "    cooldown: 10s\n    actions: [ { log: {} } ]\n");
    hit_at(&f, T0, "h");
    assert_int_equal(f.nevents, 1);
    tick_at(&f, T0 + 5 * S - 1); /* still in the window */
    assert_int_equal(f.nevents, 1);
    tick_at(&f, T0 + 5 * S);
    assert_int_equal(f.nevents, 2);
    assert_int_equal(f.status[1], CLEW_ALERT_RESOLVED);
    json_error_t je;
    json_t *b = json_loads(f.bodies[1], 0, &je);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(b, "status")), "resolved");
    assert_int_equal(json_integer_value(json_object_get(b, "count")), 0);
    json_decref(b);
    /* In the cooldown: a match does not fire ... */
    hit_at(&f, T0 + 6 * S, "h");
    assert_int_equal(f.nevents, 2);
    tick_at(&f, T0 + 10 * S - 1);
    assert_int_equal(f.nevents, 2);
    /* ... but when the cooldown ends with the threshold still met, it does. */
    tick_at(&f, T0 + 10 * S);
    assert_int_equal(f.nevents, 3);
    assert_int_equal(f.status[2], CLEW_ALERT_FIRING);
    /* Resolved and idle past the cooldown: the group is freed. */
    tick_at(&f, T0 + 30 * S);
    assert_int_equal(f.nevents, 4);
    tick_at(&f, T0 + 31 * S);
    struct clew_alerts_stats st;
    clew_alerts_get_stats(f.a, &st);
    assert_int_equal(st.groups, 0);
    assert_int_equal(st.fired, 2);
    assert_int_equal(st.resolved, 2);
    clew_alerts_free(f.a);
}

static void test_group_by(void **state)
{
    (void)state;
    struct fixture f;
    setup_rules(&f, "rules:\n  - name: g\n    match: payment\n    threshold: 3\n"
                    "    group_by: [host]\n    annotations: { summary: '{{count}} on {{host}}' }\n"
                    "    actions: [ { log: {} } ]\n");
    hit_at(&f, T0, "a");
    hit_at(&f, T0 + 1, "b");
    hit_at(&f, T0 + 2, "a");
    hit_at(&f, T0 + 3, "b");
    assert_int_equal(f.nevents, 0);
    hit_at(&f, T0 + 4, "b");
    assert_int_equal(f.nevents, 1);
    assert_string_equal(f.lines[0], "[firing] g: 3 on b");
    json_error_t je;
    json_t *b = json_loads(f.bodies[0], 0, &je);
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "group"), "host")),
                        "b");
    json_decref(b);
    hit_at(&f, T0 + 5, "a");
    assert_int_equal(f.nevents, 2);
    assert_string_equal(f.lines[1], "[firing] g: 3 on a");
    struct clew_alerts_stats st;
    clew_alerts_get_stats(f.a, &st);
    assert_int_equal(st.groups, 2);
    clew_alerts_free(f.a);
}

static void test_body_exact(void **state)
{
    (void)state;
    struct fixture f;
    setup_rules(&f, "rules:\n  - name: payment-failures\n    match: 'payment (declined|failed)'\n"
                    "    where: { service: payments, level: error }\n    threshold: 2\n"
                    "    window: 1m\n    group_by: [host]\n"
                    "    annotations:\n      summary: \"{{count}} payment failures on {{host}}\"\n"
                    "      detail: \"{{rule}} {{status}} {{service}} {{threshold}}/{{window}}: "
                    "{{ first_message }}\"\n"
                    "    labels: { team: payments }\n    actions: [ { log: {} } ]\n");
    struct clew_record r1 = rec("payments", "web-1", "payment declined: card 1");
    r1.trace_id = CLEW_STR_LIT("4bf92f3577b34da6a3ce929d0e0e4736");
    struct clew_record r2 = rec("payments", "web-1", "payment failed: card 2");
    r2.ts = T0 + 1500000000;
    r2.trace_id = CLEW_STR_LIT("00f067aa0ba902b7aaaaaaaaaaaaaaaa");
    struct clew_record info = rec("payments", "web-1", "payment failed but fine");
    info.level = 6; /* not <= error: where excludes it */
    struct clew_record other = rec("orders", "web-1", "payment failed elsewhere");
    clew_alerts_eval(f.a, &r1);
    clew_alerts_eval(f.a, &info);
    clew_alerts_eval(f.a, &other);
    assert_int_equal(f.nevents, 0);
    f.now += S;
    clew_alerts_eval(f.a, &r2);
    assert_int_equal(f.nevents, 1);
    struct clew_buf s1, s2;
    clew_buf_init(&s1);
    clew_buf_init(&s2);
    clew_json_put_record(&s1, &r1);
    clew_json_put_record(&s2, &r2);
    char want[8192];
    snprintf(want, sizeof(want),
             "{\"rule\":\"payment-failures\",\"status\":\"firing\",\"count\":2,\"window_s\":60,"
             "\"group\":{\"host\":\"web-1\"},\"first_ts\":\"2026-11-28T20:29:38.000000000Z\","
             "\"last_ts\":\"2026-11-28T20:29:39.500000000Z\",\"samples\":[%.*s,%.*s],"
             "\"annotations\":{\"summary\":\"2 payment failures on web-1\",\"detail\":"
             "\"payment-failures firing payments 2/1m: payment declined: card 1\"},"
             "\"labels\":{\"team\":\"payments\"},\"trace_ids\":["
             "\"4bf92f3577b34da6a3ce929d0e0e4736\",\"00f067aa0ba902b7aaaaaaaaaaaaaaaa\"]}",
             (int)s1.len, (const char *)s1.data, (int)s2.len, (const char *)s2.data);
    assert_string_equal(f.bodies[0], want);
    json_error_t je;
    json_t *b = json_loads(f.bodies[0], 0, &je);
    assert_non_null(b);
    json_decref(b);
    clew_buf_close(&s1);
    clew_buf_close(&s2);
    clew_alerts_free(f.a);
}

static void test_samples_and_trace_ids_capped(void **state)
{
    (void)state;
    struct fixture f;
    setup_rules(&f, "rules:\n  - name: many\n    match: payment\n    threshold: 30\n"
                    "    actions: [ { log: {} } ]\n");
    char ids[30][33], msgs[30][32];
    for (int i = 0; i < 30; i++) {
        snprintf(ids[i], sizeof(ids[i]), "%032d", i % 25); /* 25 distinct ids */
        snprintf(msgs[i], sizeof(msgs[i]), "payment %d", i);
        struct clew_record r = rec("s", "h", msgs[i]);
        r.trace_id = (struct clew_str){ ids[i], 32 };
        clew_alerts_eval(f.a, &r);
    }
    assert_int_equal(f.nevents, 1);
    json_error_t je;
    json_t *b = json_loads(f.bodies[0], 0, &je);
    json_t *samples = json_object_get(b, "samples"), *tids = json_object_get(b, "trace_ids");
    assert_int_equal(json_array_size(samples), CLEW_ALERTS_SAMPLES);
    assert_string_equal(json_string_value(json_object_get(json_array_get(samples, 0), "message")),
                        "payment 25"); /* the last five */
    assert_string_equal(json_string_value(json_object_get(json_array_get(samples, 4), "message")),
                        "payment 29");
    assert_int_equal(json_array_size(tids), CLEW_ALERTS_TRACE_IDS);
    assert_string_equal(json_string_value(json_array_get(tids, 19)), ids[19]);
    assert_int_equal(json_object_size(json_object_get(b, "group")), 0);
    json_decref(b);
    clew_alerts_free(f.a);
}

static void test_prefilter(void **state)
{
    (void)state;
    char yaml[65536] = "rules:\n";
    for (int i = 0; i < 100; i++) {
        size_t l = strlen(yaml);
        snprintf(yaml + l, sizeof(yaml) - l,
                 "  - name: r%d\n    match: 'code E%03d\\b'\n    actions: [ { log: {} } ]\n", i, i);
    }
    size_t l = strlen(yaml);
    snprintf(yaml + l, sizeof(yaml) - l,
             "  - name: caseless\n    match: '(?i)timeout'\n    actions: [ { log: {} } ]\n"
             "  - name: noliteral\n    match: '\\d{5}'\n    actions: [ { log: {} } ]\n");
    struct fixture f;
    setup_rules(&f, yaml);
    struct clew_record r = rec("s", "h", "request failed with code E057 after retry");
    clew_alerts_eval(f.a, &r);
    struct clew_alerts_stats st;
    clew_alerts_get_stats(f.a, &st);
    /* PCRE2 ran for r57 and the rule without a literal only. */
    assert_int_equal(st.candidates, 2);
    assert_int_equal(st.matches, 1);
    assert_int_equal(f.nevents, 1);
    assert_string_equal(f.lines[0], "[firing] r57: 1 matches in 1m");
    r = rec("s", "h", "upstream TIMEOUT, code E0571 and 12345");
    clew_alerts_eval(f.a, &r);
    clew_alerts_get_stats(f.a, &st);
    assert_int_equal(st.candidates, 5); /* + r57 (no match: \b), caseless, noliteral */
    assert_int_equal(st.matches, 3);
    assert_int_equal(f.nevents, 3);
    /* Alert records are never evaluated. */
    r = rec(CLEW_ALERTS_SERVICE, "h", "code E001");
    clew_alerts_eval(f.a, &r);
    clew_alerts_get_stats(f.a, &st);
    assert_int_equal(st.candidates, 5);
    clew_alerts_free(f.a);
}

/* The prefilter never loses a match: random messages holding the rules'
 * literals at every offset and in mixed case, checked against PCRE2 run
 * for every rule. */
static void test_prefilter_no_false_negatives(void **state)
{
    (void)state;
    static const char *const pats[] = {
        "ab",
        "xyz",
        "(?i)Timeout after",
        "disk (full|quota)",
        "a+bcd",
        "\\d+ errors",
        "conn(ection)? reset",
        "E[0-9]{3} failed",
        "foo|barbaz",
        "(?i)OOM",
        "q.w",
        "^start",
    };
    char yaml[8192] = "rules:\n";
    size_t np = sizeof(pats) / sizeof(pats[0]);
    for (size_t i = 0; i < np; i++) {
        size_t l = strlen(yaml);
        snprintf(yaml + l, sizeof(yaml) - l,
                 "  - name: p%zu\n    match: '%s'\n    threshold: 100000\n"
                 "    actions: [ { log: {} } ]\n",
                 i, pats[i]);
    }
    struct fixture f;
    setup_rules(&f, yaml);
    static const char *const bits[] = { "ab",
                                        "XYZ",
                                        "timeout AFTER",
                                        "disk full",
                                        "aaBCD",
                                        "12 errors",
                                        "connection reset",
                                        "E042 failed",
                                        "foo",
                                        "BARBAZ",
                                        "oom",
                                        "q-w",
                                        "start",
                                        " ",
                                        "zz",
                                        "\x80" };
    uint64_t seed = 42, want = 0;
    char msg[256];
    for (int n = 0; n < 3000; n++) {
        size_t len = 0;
        while (len < 120) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            const char *b = bits[(seed >> 33) % (sizeof(bits) / sizeof(bits[0]))];
            size_t bl = strlen(b);
            memcpy(msg + len, b, bl);
            len += bl;
            if ((seed >> 20) % 3 == 0) {
                msg[len++] = (char)('a' + (seed >> 40) % 26);
            }
        }
        msg[len] = '\0';
        struct clew_record r = rec("s", "h", msg);
        clew_alerts_eval(f.a, &r);
        const struct clew_rules *rs = clew_alerts_rules(f.a);
        for (size_t i = 0; i < rs->n; i++) {
            pcre2_match_data *md = pcre2_match_data_create(1, NULL);
            want += pcre2_match(rs->rules[i].re, (PCRE2_SPTR)msg, len, 0, 0, md, NULL) >= 0;
            pcre2_match_data_free(md);
        }
    }
    struct clew_alerts_stats st;
    clew_alerts_get_stats(f.a, &st);
    assert_true(want > 1000);
    assert_int_equal(st.matches, want);
    assert_true(st.candidates < st.evaluations * np); /* it did filter */
    clew_alerts_free(f.a);
}

static void test_reload_keeps_state(void **state)
{
    (void)state;
    struct fixture f;
    const char *two = "rules:\n  - name: pay\n    match: 'payment (declined|failed)'\n"
                      "    threshold: 3\n    window: 10s\n    actions: [ { log: {} } ]\n"
                      "  - name: other\n    match: other\n    actions: [ { log: {} } ]\n";
    setup_rules(&f, two);
    hit_at(&f, T0, "h");
    hit_at(&f, T0 + S, "h");
    /* Same 'pay', changed 'other', a new rule first: pay's state carries over. */
    const char *changed = "rules:\n  - name: new\n    match: new\n    actions: [ { log: {} } ]\n"
                          "  - name: pay\n    match: 'payment (declined|failed)'\n"
                          "    threshold: 3\n    window: 10s\n    actions: [ { log: {} } ]\n"
                          "  - name: other\n    match: other\n    threshold: 2\n"
                          "    actions: [ { log: {} } ]\n";
    size_t kept;
    assert_int_equal(clew_alerts_set_rules(f.a, rules_of(changed), &kept), 0);
    assert_int_equal(kept, 1);
    hit_at(&f, T0 + 2 * S, "h");
    assert_int_equal(f.nevents, 1);
    assert_string_equal(f.lines[0], "[firing] pay: 3 matches in 10s");
    /* A firing group keeps firing across a reload: no second firing, and
     * it resolves later. */
    assert_int_equal(clew_alerts_set_rules(f.a, rules_of(changed), &kept), 0);
    assert_int_equal(kept, 3);
    hit_at(&f, T0 + 3 * S, "h");
    assert_int_equal(f.nevents, 1);
    tick_at(&f, T0 + 12 * S);
    assert_int_equal(f.nevents, 2);
    assert_int_equal(f.status[1], CLEW_ALERT_RESOLVED);
    /* A changed definition starts afresh. */
    hit_at(&f, T0 + 20 * S, "h");
    hit_at(&f, T0 + 21 * S, "h");
    const char *thr4 = "rules:\n  - name: pay\n    match: 'payment (declined|failed)'\n"
                       "    threshold: 4\n    window: 10s\n    actions: [ { log: {} } ]\n";
    assert_int_equal(clew_alerts_set_rules(f.a, rules_of(thr4), &kept), 0);
    assert_int_equal(kept, 0);
    hit_at(&f, T0 + 22 * S, "h");
    hit_at(&f, T0 + 23 * S, "h");
    hit_at(&f, T0 + 24 * S, "h");
    assert_int_equal(f.nevents, 2);
    hit_at(&f, T0 + 25 * S, "h");
    assert_int_equal(f.nevents, 3);
    /* No rules at all. */
    assert_int_equal(clew_alerts_set_rules(f.a, NULL, &kept), 0);
    hit_at(&f, T0 + 26 * S, "h");
    tick_at(&f, T0 + 27 * S);
    assert_int_equal(f.nevents, 3);
    clew_alerts_free(f.a);
}

static void test_max_groups_and_oom(void **state)
{
    (void)state;
    struct fixture f;
    memset(&f, 0, sizeof(f));
    f.now = T0;
    struct clew_alerts_opts o = { on_event, &f, fake_clock, &f, 2 };
    assert_int_equal(clew_alerts_new(&o, &f.a), 0);
    const char *y = "rules:\n  - name: g\n    match: payment\n    threshold: 2\n"
                    "    group_by: [host, service]\n    actions: [ { log: {} } ]\n";
    assert_int_equal(clew_alerts_set_rules(f.a, rules_of(y), NULL), 0);
    hit_at(&f, T0, "a");
    hit_at(&f, T0, "b");
    hit_at(&f, T0, "c");
    struct clew_alerts_stats st;
    clew_alerts_get_stats(f.a, &st);
    assert_int_equal(st.groups, 2);
    assert_int_equal(st.groups_dropped, 1);
    /* set_rules under allocation failure leaves the old rules working. */
    for (long n = 0; n < 40; n++) {
        struct clew_rules *rs = rules_of(y);
        clew_alloc_fail_after(n);
        int rc = clew_alerts_set_rules(f.a, rs, NULL);
        clew_alloc_fail_after(-1);
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        clew_rules_free(rs);
    }
    hit_at(&f, T0 + 1, "a");
    assert_int_equal(f.nevents, 1);
    clew_alerts_free(f.a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threshold_edges),
        cmocka_unit_test(test_resolved_and_cooldown),
        cmocka_unit_test(test_group_by),
        cmocka_unit_test(test_body_exact),
        cmocka_unit_test(test_samples_and_trace_ids_capped),
        cmocka_unit_test(test_prefilter),
        cmocka_unit_test(test_prefilter_no_false_negatives),
        cmocka_unit_test(test_reload_keeps_state),
        cmocka_unit_test(test_max_groups_and_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
