/* SPDX-License-Identifier: MIT
 * clew rules check FILE: validates an alert rules file the way clewd will
 * load it and prints what each rule does; --help documents every key. */
#include <stdio.h>
#include <string.h>

#include "clew/record.h"
#include "common/rules.h"
#include "common/timeutil.h"
#include "query/cli.h"
#include "query/cmd_alerts.h"

static const char rules_help[] =
    "usage: clew rules check FILE\n"
    "Validates an alert rules file (as clewd --rules FILE loads it) and prints a\n"
    "summary of each rule. Exit status: 0 valid, 2 invalid (the message names the\n"
    "line and the rule).\n"
    "\n"
    "The file (YAML; unknown keys are errors):\n"
    "  rules:                      a list of rules\n"
    "    - name: NAME              required; unique; letters, digits, - _ .\n"
    "      match: PATTERN          required; PCRE2 on the message (bytes, no UTF)\n"
    "      where:                  optional; all given must hold\n"
    "        service: S            exact service\n"
    "        host: H               exact host\n"
    "        container: C          exact container name or id\n"
    "        level: L              a level name or 0-7; that severity or worse\n"
    "                              (error = 0-3)\n"
    "      threshold: N            matches (1-100000, default 1) ...\n"
    "      window: D               ... within this sliding window (default 1m, 1s-7d)\n"
    "      group_by: [K, ...]      one alert state per value of service, host,\n"
    "                              container, trace_id (default: one for the rule)\n"
    "      cooldown: D             no new firing of a group this long after one (0)\n"
    "      labels: {k: T}          added to the alert (templates)\n"
    "      annotations: {k: T}     added to the alert (templates); 'summary' is the\n"
    "                              alert's one-line text\n"
    "      actions:                required; one or more of\n"
    "        - webhook: {url: U, timeout: 5s, retries: 3}   POST the alert JSON;\n"
    "                              retries (0-10) back off 0.5s, 1s, 2s, ...\n"
    "        - exec: {command: [PROGRAM, ARG...], timeout: 10s}   the alert JSON on\n"
    "                              stdin; killed at the timeout\n"
    "        - log: {}             store the alert as a record of service\n"
    "                              clew-alerts (see clew alerts)\n"
    "Durations: an integer and ms, s, m, h, d or w (30s, 1m, 2h).\n"
    "Templates: {{rule}} {{status}} {{service}} {{host}} {{container}} {{trace_id}}\n"
    "{{count}} {{threshold}} {{window}} {{first_message}}.\n"
    "An alert fires when a group holds threshold matches within the window, and\n"
    "resolves when it holds fewer; both events run the actions.\n";

static void put_duration(int64_t d)
{
    char buf[32];
    clew_duration_format(d, buf, sizeof(buf));
    fputs(buf, stdout);
}

static void put_where(const struct clew_rule *r)
{
    static const char *const names[] = { "service", "host", "container" };
    int any = 0;
    for (int i = 0; i < 3; i++) {
        if (r->where[i] != NULL) {
            printf("%s%s=%s", any++ ? ", " : "      where ", names[i], r->where[i]);
        }
    }
    if (r->where_level >= 0) {
        printf("%slevel<=%s", any++ ? ", " : "      where ",
               clew_level_name((unsigned)r->where_level));
    }
    if (any) {
        printf("\n");
    }
}

static void put_action(const struct clew_rule_action *a)
{
    if (a->type == CLEW_ACTION_WEBHOOK) {
        printf("webhook %s (timeout ", a->url);
        put_duration(a->timeout_ns);
        printf(", retries %u)", a->retries);
    } else if (a->type == CLEW_ACTION_EXEC) {
        printf("exec");
        for (size_t i = 0; i < a->argc; i++) {
            printf(" %s", a->argv[i]);
        }
        printf(" (timeout ");
        put_duration(a->timeout_ns);
        printf(")");
    } else {
        printf("log (service clew-alerts)");
    }
}

static void put_rule(const struct clew_rule *r)
{
    printf("  %s (line %d)\n      match '%s'\n", r->name, r->line, r->match);
    put_where(r);
    printf("      %u match%s within ", r->threshold, r->threshold == 1 ? "" : "es");
    put_duration(r->window_ns);
    for (size_t i = 0; i < r->ngroup_by; i++) {
        printf("%s%s", i ? ", " : ", per ", clew_rule_key_name(r->group_by[i]));
    }
    if (r->cooldown_ns > 0) {
        printf(", cooldown ");
        put_duration(r->cooldown_ns);
    }
    printf("\n      prefilter ");
    for (size_t i = 0; i < r->nliterals; i++) {
        printf("%s\"%.*s\"", i ? " or " : "", (int)r->literals[i].len, r->literals[i].text);
    }
    printf("%s\n", r->nliterals ? "" : "none: the pattern runs on every record");
    for (size_t i = 0; i < r->nactions; i++) {
        printf("      %s", i ? "        " : "actions ");
        put_action(&r->actions[i]);
        printf("\n");
    }
}

int clew_cmd_rules(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(rules_help, stdout);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "check") != 0) {
        fprintf(stderr, "usage: clew rules check FILE (clew rules --help documents the file)\n");
        return CLEW_EXIT_ERROR;
    }
    if (argc == 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        fputs(rules_help, stdout);
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: clew rules check FILE\n");
        return CLEW_EXIT_ERROR;
    }
    struct clew_rules *rs;
    char err[CLEW_ERR_LEN];
    if (clew_rules_load(argv[2], &rs, err) < 0) {
        fprintf(stderr, "clew rules: %s\n", err);
        return CLEW_EXIT_ERROR;
    }
    printf("%s: %zu rule%s OK\n", argv[2], rs->n, rs->n == 1 ? "" : "s");
    for (size_t i = 0; i < rs->n; i++) {
        put_rule(&rs->rules[i]);
    }
    clew_rules_free(rs);
    return 0;
}
