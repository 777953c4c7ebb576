/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/alert_actions.h"
#include "common/rules.h"
#include "common/timeutil.h"

static struct clew_rules *rules_of(const char *yaml)
{
    struct clew_rules *rs;
    char err[CLEW_ERR_LEN];
    if (clew_rules_parse(yaml, strlen(yaml), &rs, err) != 0) {
        fail_msg("rules: %s", err);
    }
    return rs;
}

static struct clew_alert_event event_of(const struct clew_rule *r, const char *body)
{
    struct clew_alert_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.rule = r;
    ev.status = CLEW_ALERT_FIRING;
    ev.count = 1;
    ev.at = 1795897778000000000LL;
    ev.body = (struct clew_str){ body, strlen(body) };
    ev.line = CLEW_STR_LIT("[firing] r: 1 matches in 1m");
    ev.host = CLEW_STR_LIT("web-1");
    return ev;
}

struct logged {
    int n;
    char service[32], message[64], fields[64], host[16];
    int level;
};

static int on_log(void *ud, const struct clew_record *r)
{
    struct logged *l = ud;
    l->n++;
    l->level = r->level;
    snprintf(l->service, sizeof(l->service), "%.*s", (int)r->labels[CLEW_LABEL_SERVICE].len,
             r->labels[CLEW_LABEL_SERVICE].ptr);
    snprintf(l->host, sizeof(l->host), "%.*s", (int)r->labels[CLEW_LABEL_HOST].len,
             r->labels[CLEW_LABEL_HOST].ptr);
    snprintf(l->message, sizeof(l->message), "%.*s", (int)r->message.len, r->message.ptr);
    snprintf(l->fields, sizeof(l->fields), "%.*s", (int)r->fields.len, r->fields.ptr);
    return 0;
}

static void test_log_and_exec(void **state)
{
    (void)state;
    char dir[] = "/tmp/clew-actions-XXXXXX", yaml[1024], out[256];
    assert_non_null(mkdtemp(dir));
    snprintf(out, sizeof(out), "%s/stdin", dir);
    snprintf(yaml, sizeof(yaml),
             "rules:\n  - name: r\n    match: x\n    actions:\n      - log: {}\n"
             "      - exec: { command: [/bin/sh, -c, 'cat > %s'] }\n"
             "      - exec: { command: [/bin/sh, -c, 'exit 3'] }\n"
             "      - exec: { command: [/nonexistent/prog] }\n",
             out);
    struct clew_rules *rs = rules_of(yaml);
    struct logged l = { 0 };
    struct clew_actions_opts o = { 0, 0, on_log, &l };
    struct clew_actions *act;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_actions_new(&o, &act, err), 0);
    struct clew_alert_event ev = event_of(&rs->rules[0], "{\"rule\":\"r\"}");
    clew_actions_submit(act, &ev);
    /* log ran at once, on this thread */
    assert_int_equal(l.n, 1);
    assert_string_equal(l.service, "clew-alerts");
    assert_string_equal(l.host, "web-1");
    assert_string_equal(l.message, "[firing] r: 1 matches in 1m");
    assert_string_equal(l.fields, "{\"rule\":\"r\"}");
    assert_int_equal(l.level, 4);
    assert_int_equal(clew_actions_drain(act, 10 * CLEW_NS_PER_SEC), 1);
    struct clew_actions_stats st;
    clew_actions_get_stats(act, &st);
    assert_int_equal(st.ok[CLEW_ACTION_LOG], 1);
    assert_int_equal(st.ok[CLEW_ACTION_EXEC], 1);
    assert_int_equal(st.failed[CLEW_ACTION_EXEC], 2); /* exit 3; no such program */
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char got[64] = "";
    assert_non_null(fgets(got, sizeof(got), f));
    fclose(f);
    assert_string_equal(got, "{\"rule\":\"r\"}");
    clew_actions_free(act);
    unlink(out);
    rmdir(dir);
    clew_rules_free(rs);
}

static void test_exec_timeout(void **state)
{
    (void)state;
    struct clew_rules *rs = rules_of("rules:\n  - name: r\n    match: x\n    actions:\n"
                                     "      - exec: { command: [sleep, '10'], timeout: 200ms }\n");
    struct clew_actions_opts o = { 0, 0, NULL, NULL };
    struct clew_actions *act;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_actions_new(&o, &act, err), 0);
    struct clew_alert_event ev = event_of(&rs->rules[0], "{}");
    int64_t t0 = clew_time_mono_ns();
    clew_actions_submit(act, &ev);
    assert_int_equal(clew_actions_drain(act, 5 * CLEW_NS_PER_SEC), 1);
    int64_t took = clew_time_mono_ns() - t0;
    assert_true(took >= 200 * 1000000LL && took < 3 * CLEW_NS_PER_SEC);
    struct clew_actions_stats st;
    clew_actions_get_stats(act, &st);
    assert_int_equal(st.failed[CLEW_ACTION_EXEC], 1);
    clew_actions_free(act);
    clew_rules_free(rs);
}

/* A webhook to a closed port: every attempt fails fast; retries counted
 * with the backoff; a full queue drops and counts. */
static void test_webhook_retries_and_queue(void **state)
{
    (void)state;
    struct clew_rules *rs =
        rules_of("rules:\n  - name: r\n    match: x\n    actions:\n"
                 "      - webhook: { url: 'http://127.0.0.1:1/x', timeout: 1s, retries: 2 }\n");
    struct clew_actions_opts o = { 2, 10 * 1000000LL, NULL, NULL }; /* queue 2, backoff 10 ms */
    struct clew_actions *act;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_actions_new(&o, &act, err), 0);
    struct clew_alert_event ev = event_of(&rs->rules[0], "{}");
    for (int i = 0; i < 6; i++) {
        clew_actions_submit(act, &ev);
    }
    assert_int_equal(clew_actions_drain(act, 10 * CLEW_NS_PER_SEC), 1);
    struct clew_actions_stats st;
    clew_actions_get_stats(act, &st);
    uint64_t ran = st.failed[CLEW_ACTION_WEBHOOK];
    assert_true(ran >= 2 && ran <= 3); /* the worker may have taken one before the queue filled */
    assert_int_equal(ran + st.dropped[CLEW_ACTION_WEBHOOK], 6);
    assert_int_equal(st.retries[CLEW_ACTION_WEBHOOK], 2 * ran);
    assert_int_equal(st.ok[CLEW_ACTION_WEBHOOK], 0);
    struct clew_buf m;
    clew_buf_init(&m);
    clew_actions_write_metrics(act, &m);
    clew_buf_put_u8(&m, 0);
    char line[128];
    snprintf(line, sizeof(line), "clew_alert_action_retries_total{type=\"webhook\"} %llu\n",
             (unsigned long long)(2 * ran));
    assert_non_null(strstr((const char *)m.data, line));
    clew_buf_close(&m);
    clew_actions_free(act);
    clew_rules_free(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_and_exec),
        cmocka_unit_test(test_exec_timeout),
        cmocka_unit_test(test_webhook_retries_and_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
