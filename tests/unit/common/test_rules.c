/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clew/error.h"
#include "common/alloc.h"
#include "common/rules.h"
#include "common/timeutil.h"

static const char issue_example[] =
    "rules:\n"
    "  - name: payment-failures\n"
    "    match: 'payment (declined|failed)'          # PCRE2 on the message\n"
    "    where: { service: payments, level: error }  # optional\n"
    "    threshold: 5\n"
    "    window: 1m\n"
    "    group_by: [host]\n"
    "    cooldown: 10m\n"
    "    annotations:\n"
    "      summary: \"{{count}} payment failures on {{host}}\"\n"
    "    actions:\n"
    "      - webhook: { url: \"http://127.0.0.1:9099/hook\", timeout: 5s, retries: 3 }\n"
    "      - exec: { command: [\"/usr/local/bin/page-oncall\", \"--team\", \"payments\"] }\n"
    "      - log: {}\n";

static struct clew_rules *parse_ok(const char *text)
{
    struct clew_rules *rs = NULL;
    char err[CLEW_ERR_LEN] = "";
    int rc = clew_rules_parse(text, strlen(text), &rs, err);
    if (rc != 0) {
        fail_msg("parse failed (%d): %s", rc, err);
    }
    return rs;
}

/* Parses text that must fail; checks the exact message. */
static void parse_bad(const char *text, const char *want)
{
    struct clew_rules *rs = (struct clew_rules *)1;
    char err[CLEW_ERR_LEN] = "";
    int rc = clew_rules_parse(text, strlen(text), &rs, err);
    assert_true(rc < 0);
    assert_null(rs);
    assert_string_equal(err, want);
}

static void test_issue_example(void **state)
{
    (void)state;
    struct clew_rules *rs = parse_ok(issue_example);
    assert_int_equal(rs->n, 1);
    const struct clew_rule *r = &rs->rules[0];
    assert_string_equal(r->name, "payment-failures");
    assert_string_equal(r->match, "payment (declined|failed)");
    assert_non_null(r->re);
    assert_string_equal(r->where[CLEW_RULE_KEY_SERVICE], "payments");
    assert_null(r->where[CLEW_RULE_KEY_HOST]);
    assert_null(r->where[CLEW_RULE_KEY_CONTAINER]);
    assert_int_equal(r->where_level, 3);
    assert_int_equal(r->threshold, 5);
    assert_true(r->window_ns == 60 * CLEW_NS_PER_SEC);
    assert_true(r->cooldown_ns == 600 * CLEW_NS_PER_SEC);
    assert_int_equal(r->ngroup_by, 1);
    assert_int_equal(r->group_by[0], CLEW_RULE_KEY_HOST);
    assert_int_equal(r->nannotations, 1);
    assert_string_equal(r->annotations[0].key, "summary");
    assert_string_equal(r->annotations[0].value, "{{count}} payment failures on {{host}}");
    assert_int_equal(r->nlabels, 0);
    assert_int_equal(r->nactions, 3);
    assert_int_equal(r->actions[0].type, CLEW_ACTION_WEBHOOK);
    assert_string_equal(r->actions[0].url, "http://127.0.0.1:9099/hook");
    assert_true(r->actions[0].timeout_ns == 5 * CLEW_NS_PER_SEC);
    assert_int_equal(r->actions[0].retries, 3);
    assert_int_equal(r->actions[1].type, CLEW_ACTION_EXEC);
    assert_int_equal(r->actions[1].argc, 3);
    assert_string_equal(r->actions[1].argv[0], "/usr/local/bin/page-oncall");
    assert_string_equal(r->actions[1].argv[2], "payments");
    assert_null(r->actions[1].argv[3]);
    assert_true(r->actions[1].timeout_ns == 10 * CLEW_NS_PER_SEC);
    assert_int_equal(r->actions[2].type, CLEW_ACTION_LOG);
    assert_int_equal(r->line, 2);
    assert_int_equal(r->nliterals, 1);
    assert_int_equal(r->literals[0].len, 8);
    assert_memory_equal(r->literals[0].text, "payment ", 8);
    clew_rules_free(rs);
}

static void test_defaults_and_empty(void **state)
{
    (void)state;
    struct clew_rules *rs =
        parse_ok("rules:\n  - name: a\n    match: x\n    actions: [ { log: {} } ]\n");
    const struct clew_rule *r = &rs->rules[0];
    assert_int_equal(r->threshold, 1);
    assert_true(r->window_ns == 60 * CLEW_NS_PER_SEC);
    assert_true(r->cooldown_ns == 0);
    assert_int_equal(r->where_level, -1);
    assert_int_equal(r->ngroup_by, 0);
    clew_rules_free(rs);
    rs = parse_ok("");
    assert_int_equal(rs->n, 0);
    clew_rules_free(rs);
    rs = parse_ok("rules:\n");
    assert_int_equal(rs->n, 0);
    clew_rules_free(rs);
    rs = parse_ok("rules: []\n");
    assert_int_equal(rs->n, 0);
    clew_rules_free(rs);
}

#define HEAD "rules:\n  - name: r1\n    match: 'x'\n"
#define LOG  "    actions: [ { log: {} } ]\n"

static void test_errors(void **state)
{
    (void)state;
    parse_bad("rules:\n  - name: r1\n    match: 'payment (declined'\n" LOG,
              "line 3: rule 'r1': bad match pattern at offset 17: missing closing parenthesis");
    parse_bad(HEAD "    treshold: 5\n" LOG,
              "line 4: rule 'r1': unknown key 'treshold' (keys: name, match, where, threshold, "
              "window, group_by, cooldown, labels, annotations, actions)");
    /* The name is known even when it comes after the bad key. */
    parse_bad("rules:\n  - match: '('\n    name: late\n" LOG,
              "line 2: rule 'late': bad match pattern at offset 1: missing closing parenthesis");
    parse_bad("rules:\n  - match: x\n" LOG, "line 2: rule #1: 'name' is required");
    parse_bad("rules:\n  - name: r1\n" LOG,
              "line 2: rule 'r1': 'match' is required (a PCRE2 pattern on the message)");
    parse_bad(HEAD, "line 2: rule 'r1': 'actions' is required (at least one of webhook, exec, "
                    "log)");
    parse_bad(HEAD "    window: 5x\n" LOG,
              "line 4: rule 'r1': window: want a duration such as 30s, 1m or 1h (1s to 7d), not "
              "'5x'");
    parse_bad(HEAD "    window: 500ms\n" LOG,
              "line 4: rule 'r1': window: want a duration such as 30s, 1m or 1h (1s to 7d), not "
              "'500ms'");
    parse_bad(HEAD "    threshold: 0\n" LOG,
              "line 4: rule 'r1': threshold: want an integer 1-100000, not '0'");
    parse_bad(HEAD "    where: { level: loud }\n" LOG,
              "line 4: rule 'r1': where.level: want a level name (emerg ... debug) or 0-7, not "
              "'loud'");
    parse_bad(HEAD "    where: { pod: x }\n" LOG,
              "line 4: rule 'r1': where: unknown key 'pod' (keys: service, host, container, "
              "level)");
    parse_bad(HEAD "    group_by: [host, pod]\n" LOG,
              "line 4: rule 'r1': group_by: unknown key 'pod' (keys: service, host, container, "
              "trace_id)");
    parse_bad(HEAD "    group_by: [host, host]\n" LOG,
              "line 4: rule 'r1': group_by: 'host' listed twice");
    parse_bad(HEAD "    annotations: { s: '{{hots}}' }\n" LOG,
              "line 4: rule 'r1': annotations.s: unknown template variable 'hots' (known: rule, "
              "status, service, host, container, trace_id, count, threshold, window, "
              "first_message)");
    parse_bad(HEAD "    labels: { s: '{{count' }\n" LOG,
              "line 4: rule 'r1': labels.s: '{{' without '}}'");
    parse_bad(HEAD "    actions: [ { webhook: { url: 'ftp://x' } } ]\n",
              "line 4: rule 'r1': actions[0].webhook.url: want an http:// or https:// URL, not "
              "'ftp://x'");
    parse_bad(HEAD "    actions: [ { webhook: { url: 'http://x', retries: 11 } } ]\n",
              "line 4: rule 'r1': actions[0].webhook.retries: want an integer 0-10, not '11'");
    parse_bad(HEAD "    actions: [ { log: {} }, { exec: { command: [] } } ]\n",
              "line 4: rule 'r1': actions[1].exec.command: want a non-empty list: [program, "
              "args...]");
    parse_bad(HEAD "    actions: [ { page: {} } ]\n",
              "line 4: rule 'r1': actions[0]: unknown action (want webhook, exec or log)");
    parse_bad(HEAD "    actions: [ { log: { level: x } } ]\n",
              "line 4: rule 'r1': actions[0].log: takes no settings (write log: {})");
    parse_bad(HEAD "    actions: [ { webhook: { url: 'http://x', tls: no } } ]\n",
              "line 4: rule 'r1': actions[0].webhook: unknown key 'tls' (keys: url, timeout, "
              "retries)");
    parse_bad(HEAD LOG "  - name: r1\n    match: y\n" LOG,
              "line 5: rule 'r1': duplicate name (first at line 2)");
    parse_bad("rules:\n  - name: 'a b'\n    match: x\n" LOG,
              "line 2: rule #1: name: want 1-128 letters, digits, '-', '_' or '.', not 'a b'");
    parse_bad("rulez: []\n", "line 1: unknown key 'rulez' (keys: rules)");
    parse_bad("- a\n", "line 1: want a mapping with a 'rules' list at the top");
    parse_bad("rules: {}\n", "line 1: 'rules' must be a list of rules");
    parse_bad("rules: [\n", "line 2: YAML: did not find expected node content while parsing a "
                            "flow node");
    parse_bad(HEAD "    match: y\n" LOG, "line 4: rule 'r1': duplicate key 'match'");
}

static void test_literals(void **state)
{
    (void)state;
    static const struct {
        const char *pattern;
        const char *want; /* literals joined with '|'; "" none */
    } cases[] = {
        { "payment (declined|failed)", "payment " },
        { "Timeout", "timeout" },
        { "connection refused|reset by peer", "connection refused|reset by peer" },
        { "ab*cd", "cd" },
        { "abc?de", "ab" },
        { "abc+de", "abc" },
        { "x{0,3}yz", "yz" },
        { "ab{2}cd", "ab" },
        { "a{,2}bc", "bc" },
        { "foo\\.bar", "foo.bar" },
        { "\\d+ errors", " errors" },
        { "\\x41bcdef", "bcdef" },
        { "[abc]+xyz", "xyz" },
        { "(?i)out of memory", "out of memory" },
        { "(?x) a b c", "" },
        { "a|", "" },
        { "a|.*", "" },
        { "", "" },
        { "^\\s*at [a-z.]+\\(", "at " },
        { "\\bERROR\\b", "error" },
        { "\\p{L}ab", "" }, /* escapes with arguments: no prefilter */
        { "err(or)?!", "err" },
        { "a\\|b", "a|b" }, /* one literal "a|b", reported as such */
        { "{json}", "{json}" },
        { "\\Qa.b\\Ecd", "cd" },
        { "[\\Q]\\E]abc", "abc" }, /* a quoted ']' does not close the class */
        { "(\\Q)\\E)xyz", "xyz" }, /* nor a quoted ')' the group           */
        { "[\\Q]x|y\\E]+", "" },
        { "[[:alpha:]]+ok", "ok" },
        { "\\N<ab|cd", "" },
        { "(?<name>a)\\k<name>xy", "" },
        { "a(*ACCEPT)bcdef", "" }, /* a match may end before bcdef */
        { "[\\c\\]ab|cd", "" },    /* \\c: no prefilter */
        { "[a[:b]c|dd", "c|dd" },  /* "[:" with no ":]" before a "]": a plain "[" */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char lit[CLEW_RULE_LITERALS_MAX][CLEW_RULE_LITERAL_MAX];
        size_t lens[CLEW_RULE_LITERALS_MAX];
        size_t n = clew_rule_find_literals(cases[i].pattern, strlen(cases[i].pattern), lit, lens);
        char got[256] = "";
        for (size_t k = 0; k < n; k++) {
            size_t l = strlen(got);
            snprintf(got + l, sizeof(got) - l, "%s%.*s", k ? "|" : "", (int)lens[k], lit[k]);
        }
        if (strcmp(got, cases[i].want) != 0) {
            fail_msg("pattern '%s': literals '%s', want '%s'", cases[i].pattern, got,
                     cases[i].want);
        }
    }
    /* A long run keeps its first CLEW_RULE_LITERAL_MAX bytes. */
    char lit[CLEW_RULE_LITERALS_MAX][CLEW_RULE_LITERAL_MAX];
    size_t lens[CLEW_RULE_LITERALS_MAX];
    const char *longp = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF*";
    assert_int_equal(clew_rule_find_literals(longp, strlen(longp), lit, lens), 1);
    assert_int_equal(lens[0], CLEW_RULE_LITERAL_MAX);
    assert_memory_equal(lit[0], "abcdefghijklmnopqrstuvwxyz012345", CLEW_RULE_LITERAL_MAX);
}

static void test_equal(void **state)
{
    (void)state;
    struct clew_rules *a = parse_ok(issue_example);
    struct clew_rules *b = parse_ok(issue_example);
    assert_true(clew_rule_equal(&a->rules[0], &b->rules[0]));
    clew_rules_free(b);
    char changed[sizeof(issue_example) + 8];
    snprintf(changed, sizeof(changed), "%s", issue_example);
    char *p = strstr(changed, "threshold: 5");
    p[11] = '6';
    b = parse_ok(changed);
    assert_false(clew_rule_equal(&a->rules[0], &b->rules[0]));
    clew_rules_free(b);
    clew_rules_free(a);
}

static void test_load_and_oom(void **state)
{
    (void)state;
    char path[] = "/tmp/clew-rules-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("rules:\n  - name: x\n    match: '('\n" LOG, f);
    fclose(f);
    struct clew_rules *rs;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_rules_load(path, &rs, err), CLEW_EFORMAT);
    char want[CLEW_ERR_LEN];
    snprintf(want, sizeof(want),
             "%s: line 3: rule 'x': bad match pattern at offset 1: missing closing parenthesis",
             path);
    assert_string_equal(err, want);
    unlink(path);
    assert_int_equal(clew_rules_load(path, &rs, err), -ENOENT);
    /* Every allocation failure is an error, never a crash or a leak. */
    for (long n = 0; n < 200; n++) {
        clew_alloc_fail_after(n);
        int rc = clew_rules_parse(issue_example, strlen(issue_example), &rs, err);
        clew_alloc_fail_after(-1);
        if (rc == 0) {
            assert_int_equal(rs->n, 1);
            clew_rules_free(rs);
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_null(rs);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issue_example), cmocka_unit_test(test_defaults_and_empty),
        cmocka_unit_test(test_errors),        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_equal),         cmocka_unit_test(test_load_and_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
