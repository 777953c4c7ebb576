/* SPDX-License-Identifier: MIT
 * The rules file (see docs/RULES.md for the user's view):
 *
 *   rules:                         # the only top-level key; a list
 *     - name: NAME                 # required, unique, [A-Za-z0-9_.-], <= 128
 *       match: PCRE2               # required; on the message, byte mode
 *       where: { service: S, host: H, container: C, level: L }   # optional
 *       threshold: N               # 1..100000, default 1
 *       window: DURATION           # sliding, default 1m, 1s..7d
 *       group_by: [service, host, container, trace_id]           # optional
 *       cooldown: DURATION         # default 0
 *       labels: { k: template }    # optional
 *       annotations: { k: template }                             # optional
 *       actions:                   # required, at least one
 *         - webhook: { url: U, timeout: 5s, retries: 3 }
 *         - exec: { command: [argv...], timeout: 10s }
 *         - log: {}
 *
 * Parsing loads the YAML document (libyaml) and walks it; every mapping
 * checks its keys against a table, so a typo is an error, not a silently
 * ignored setting. Strings are copied into one arena owned by the result. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "common/rules.h"

#include <errno.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "clew/record.h"
#include "common/alloc.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/timeutil.h"

#define NAME_MAX_LEN 128
#define WINDOW_MAX   (7 * 86400 * CLEW_NS_PER_SEC)

struct parse {
    yaml_document_t *doc;
    struct clew_arena *arena;
    char *err;
    const char *rule; /* name of the rule being parsed, NULL before it is known */
    size_t rule_no;   /* 1-based */
};

static const char *const key_names[CLEW_RULE_KEY_COUNT] = { "service", "host", "container",
                                                            "trace_id" };

static const char *const template_vars[] = { "rule",      "status",       "service", "host",
                                             "container", "trace_id",     "count",   "threshold",
                                             "window",    "first_message" };

const char *clew_rule_key_name(enum clew_rule_key k)
{
    return (unsigned)k < CLEW_RULE_KEY_COUNT ? key_names[k] : "unknown";
}

int clew_rule_template_var(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(template_vars) / sizeof(template_vars[0]); i++) {
        if (strlen(template_vars[i]) == len && memcmp(template_vars[i], name, len) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ messages */

__attribute__((format(printf, 3, 4))) static int fail(struct parse *p, const yaml_node_t *n,
                                                      const char *fmt, ...)
{
    char msg[CLEW_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int line = n != NULL ? (int)n->start_mark.line + 1 : 1;
    if (p->rule != NULL) {
        snprintf(p->err, CLEW_ERR_LEN, "line %d: rule '%s': %s", line, p->rule, msg);
    } else if (p->rule_no > 0) {
        snprintf(p->err, CLEW_ERR_LEN, "line %d: rule #%zu: %s", line, p->rule_no, msg);
    } else {
        snprintf(p->err, CLEW_ERR_LEN, "line %d: %s", line, msg);
    }
    return CLEW_EFORMAT;
}

static int oom(struct parse *p)
{
    snprintf(p->err, CLEW_ERR_LEN, "out of memory");
    return -ENOMEM;
}

static yaml_node_t *node(struct parse *p, int index)
{
    return yaml_document_get_node(p->doc, index);
}

/* The index of key in names[0..n), or -1. */
static int key_index(const yaml_node_t *k, const char *const *names, size_t n)
{
    if (k->type != YAML_SCALAR_NODE) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (strlen(names[i]) == k->data.scalar.length &&
            memcmp(names[i], k->data.scalar.value, k->data.scalar.length) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Checks a mapping's keys against names; sets idx[i] to the value node of
 * names[i] (0 when absent). what names the mapping in messages. */
static int map_keys(struct parse *p, const yaml_node_t *n, const char *what,
                    const char *const *names, size_t count, int *idx)
{
    if (n->type != YAML_MAPPING_NODE) {
        return fail(p, n, "%s%swant a mapping", what, what[0] ? ": " : "");
    }
    memset(idx, 0, count * sizeof(int));
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = node(p, pr->key);
        int i = key_index(k, names, count);
        if (i < 0) {
            char list[160] = "";
            for (size_t j = 0; j < count; j++) {
                size_t l = strlen(list);
                snprintf(list + l, sizeof(list) - l, "%s%s", j ? ", " : "", names[j]);
            }
            return fail(p, k, "%s%sunknown key '%.40s' (keys: %s)", what, what[0] ? ": " : "",
                        k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?",
                        list);
        }
        if (idx[i] != 0) {
            return fail(p, k, "%s%sduplicate key '%s'", what, what[0] ? ": " : "", names[i]);
        }
        idx[i] = pr->value;
    }
    return 0;
}

/* A scalar copied into the arena as a C string. */
static int scalar(struct parse *p, const yaml_node_t *n, const char *what, const char **out)
{
    if (n->type != YAML_SCALAR_NODE) {
        return fail(p, n, "%s: want a single value", what);
    }
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (memchr(v, '\0', len) != NULL) {
        return fail(p, n, "%s: NUL byte in the value", what);
    }
    if ((*out = clew_arena_dup(p->arena, v, len)) == NULL) {
        return oom(p);
    }
    return 0;
}

static int duration(struct parse *p, const yaml_node_t *n, const char *what, int64_t min,
                    int64_t *out)
{
    const char *s;
    int rc = scalar(p, n, what, &s);
    if (rc < 0) {
        return rc;
    }
    if (clew_duration_parse(s, out) < 0 || *out < min || *out > WINDOW_MAX) {
        return fail(p, n, "%s: want a duration such as 30s, 1m or 1h (%s to 7d), not '%.40s'", what,
                    min > 0 ? "1s" : "0s", s);
    }
    return 0;
}

static int integer(struct parse *p, const yaml_node_t *n, const char *what, long min, long max,
                   long *out)
{
    const char *s;
    int rc = scalar(p, n, what, &s);
    if (rc < 0) {
        return rc;
    }
    char *end;
    errno = 0;
    *out = strtol(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || *out < min || *out > max) {
        return fail(p, n, "%s: want an integer %ld-%ld, not '%.40s'", what, min, max, s);
    }
    return 0;
}

/* ----------------------------------------------------------- templates */

static int check_template(struct parse *p, const yaml_node_t *n, const char *what, const char *t)
{
    for (const char *s = strstr(t, "{{"); s != NULL; s = strstr(s, "{{")) {
        const char *e = strstr(s + 2, "}}");
        if (e == NULL) {
            return fail(p, n, "%s: '{{' without '}}'", what);
        }
        const char *a = s + 2, *b = e;
        while (a < b && *a == ' ') {
            a++;
        }
        while (b > a && b[-1] == ' ') {
            b--;
        }
        if (!clew_rule_template_var(a, (size_t)(b - a))) {
            return fail(p, n,
                        "%s: unknown template variable '%.*s' (known: rule, status, service, "
                        "host, container, trace_id, count, threshold, window, first_message)",
                        what, (int)(b - a < 40 ? b - a : 40), a);
        }
        s = e + 2;
    }
    return 0;
}

/* labels / annotations: a mapping of names to templates. */
static int kv_map(struct parse *p, const yaml_node_t *n, const char *what,
                  const struct clew_rule_kv **out, size_t *nout)
{
    if (n->type != YAML_MAPPING_NODE) {
        return fail(p, n, "%s: want a mapping of names to texts", what);
    }
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    struct clew_rule_kv *kv = clew_arena_alloc(p->arena, (cnt ? cnt : 1) * sizeof(*kv));
    if (kv == NULL) {
        return oom(p);
    }
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_pair_t *pr = &n->data.mapping.pairs.start[i];
        char sub[64];
        int rc = scalar(p, node(p, pr->key), what, &kv[i].key);
        if (rc < 0) {
            return rc;
        }
        snprintf(sub, sizeof(sub), "%s.%.40s", what, kv[i].key);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(kv[j].key, kv[i].key) == 0) {
                return fail(p, node(p, pr->key), "%s: duplicate key '%s'", what, kv[i].key);
            }
        }
        if ((rc = scalar(p, node(p, pr->value), sub, &kv[i].value)) < 0 ||
            (rc = check_template(p, node(p, pr->value), sub, kv[i].value)) < 0) {
            return rc;
        }
    }
    *out = kv;
    *nout = cnt;
    return 0;
}

/* ---------------------------------------------------------------- where */

static int parse_where(struct parse *p, const yaml_node_t *n, struct clew_rule *r)
{
    static const char *const names[] = { "service", "host", "container", "level" };
    int idx[4];
    int rc = map_keys(p, n, "where", names, 4, idx);
    for (int i = 0; rc == 0 && i < 3; i++) {
        char what[32];
        snprintf(what, sizeof(what), "where.%s", names[i]);
        if (idx[i] != 0) {
            rc = scalar(p, node(p, idx[i]), what, &r->where[i]);
        }
    }
    if (rc == 0 && idx[3] != 0) {
        const char *lv;
        if ((rc = scalar(p, node(p, idx[3]), "where.level", &lv)) < 0) {
            return rc;
        }
        if ((r->where_level = clew_level_parse(lv, strlen(lv))) < 0) {
            return fail(p, node(p, idx[3]),
                        "where.level: want a level name (emerg ... debug) or 0-7, not '%.40s'", lv);
        }
    }
    return rc;
}

static int parse_group_by(struct parse *p, const yaml_node_t *n, struct clew_rule *r)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        return fail(p, n, "group_by: want a list such as [service, host]");
    }
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *v = node(p, *it);
        int k = key_index(v, key_names, CLEW_RULE_KEY_COUNT);
        if (k < 0) {
            return fail(p, v,
                        "group_by: unknown key '%.40s' (keys: service, host, container, "
                        "trace_id)",
                        v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "?");
        }
        for (size_t j = 0; j < r->ngroup_by; j++) {
            if (r->group_by[j] == (enum clew_rule_key)k) {
                return fail(p, v, "group_by: '%s' listed twice", key_names[k]);
            }
        }
        r->group_by[r->ngroup_by++] = (enum clew_rule_key)k;
    }
    return 0;
}

/* -------------------------------------------------------------- actions */

static int parse_webhook(struct parse *p, const yaml_node_t *n, const char *what,
                         struct clew_rule_action *a)
{
    static const char *const names[] = { "url", "timeout", "retries" };
    int idx[3];
    char sub[64];
    int rc = map_keys(p, n, what, names, 3, idx);
    if (rc < 0) {
        return rc;
    }
    a->timeout_ns = 5 * CLEW_NS_PER_SEC;
    a->retries = 3;
    if (idx[0] == 0) {
        return fail(p, n, "%s: 'url' is required", what);
    }
    snprintf(sub, sizeof(sub), "%s.url", what);
    if ((rc = scalar(p, node(p, idx[0]), sub, &a->url)) < 0) {
        return rc;
    }
    if (strncmp(a->url, "http://", 7) != 0 && strncmp(a->url, "https://", 8) != 0) {
        return fail(p, node(p, idx[0]), "%s: want an http:// or https:// URL, not '%.60s'", sub,
                    a->url);
    }
    snprintf(sub, sizeof(sub), "%s.timeout", what);
    if (idx[1] != 0 &&
        (rc = duration(p, node(p, idx[1]), sub, CLEW_NS_PER_SEC / 1000, &a->timeout_ns)) < 0) {
        return rc;
    }
    long retries;
    snprintf(sub, sizeof(sub), "%s.retries", what);
    if (idx[2] != 0) {
        if ((rc = integer(p, node(p, idx[2]), sub, 0, CLEW_RULE_RETRIES_MAX, &retries)) < 0) {
            return rc;
        }
        a->retries = (unsigned)retries;
    }
    return 0;
}

static int parse_exec(struct parse *p, const yaml_node_t *n, const char *what,
                      struct clew_rule_action *a)
{
    static const char *const names[] = { "command", "timeout" };
    int idx[2];
    char sub[64];
    int rc = map_keys(p, n, what, names, 2, idx);
    if (rc < 0) {
        return rc;
    }
    a->timeout_ns = 10 * CLEW_NS_PER_SEC;
    snprintf(sub, sizeof(sub), "%s.command", what);
    const yaml_node_t *c = idx[0] ? node(p, idx[0]) : NULL;
    if (c == NULL || c->type != YAML_SEQUENCE_NODE ||
        c->data.sequence.items.top == c->data.sequence.items.start) {
        return fail(p, c ? c : n, "%s: want a non-empty list: [program, args...]", sub);
    }
    size_t argc = (size_t)(c->data.sequence.items.top - c->data.sequence.items.start);
    const char **argv = clew_arena_alloc(p->arena, (argc + 1) * sizeof(*argv));
    if (argv == NULL) {
        return oom(p);
    }
    for (size_t i = 0; i < argc; i++) {
        if ((rc = scalar(p, node(p, c->data.sequence.items.start[i]), sub, &argv[i])) < 0) {
            return rc;
        }
    }
    if (argv[0][0] == '\0') {
        return fail(p, c, "%s: the program is empty", sub);
    }
    argv[argc] = NULL;
    a->argv = argv;
    a->argc = argc;
    snprintf(sub, sizeof(sub), "%s.timeout", what);
    if (idx[1] != 0 &&
        (rc = duration(p, node(p, idx[1]), sub, CLEW_NS_PER_SEC / 1000, &a->timeout_ns)) < 0) {
        return rc;
    }
    return 0;
}

static int parse_action(struct parse *p, const yaml_node_t *n, size_t i, struct clew_rule_action *a)
{
    static const char *const names[] = { "webhook", "exec", "log" };
    char what[48];
    snprintf(what, sizeof(what), "actions[%zu]", i);
    if (n->type != YAML_MAPPING_NODE ||
        n->data.mapping.pairs.top - n->data.mapping.pairs.start != 1) {
        return fail(p, n, "%s: want one of webhook, exec or log (one per list item)", what);
    }
    yaml_node_pair_t *pr = n->data.mapping.pairs.start;
    int t = key_index(node(p, pr->key), names, 3);
    if (t < 0) {
        return fail(p, node(p, pr->key), "%s: unknown action (want webhook, exec or log)", what);
    }
    a->type = (enum clew_action_type)t;
    snprintf(what, sizeof(what), "actions[%zu].%s", i, names[t]);
    yaml_node_t *v = node(p, pr->value);
    if (t == CLEW_ACTION_WEBHOOK) {
        return parse_webhook(p, v, what, a);
    }
    if (t == CLEW_ACTION_EXEC) {
        return parse_exec(p, v, what, a);
    }
    int empty = (v->type == YAML_MAPPING_NODE &&
                 v->data.mapping.pairs.top == v->data.mapping.pairs.start) ||
                (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0);
    return empty ? 0 : fail(p, v, "%s: takes no settings (write log: {})", what);
}

static int parse_actions(struct parse *p, const yaml_node_t *n, struct clew_rule *r)
{
    if (n->type != YAML_SEQUENCE_NODE ||
        n->data.sequence.items.top == n->data.sequence.items.start) {
        return fail(p, n, "actions: want a non-empty list of webhook, exec or log");
    }
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    struct clew_rule_action *a = clew_arena_alloc(p->arena, cnt * sizeof(*a));
    if (a == NULL) {
        return oom(p);
    }
    memset(a, 0, cnt * sizeof(*a));
    for (size_t i = 0; i < cnt; i++) {
        int rc = parse_action(p, node(p, n->data.sequence.items.start[i]), i, &a[i]);
        if (rc < 0) {
            return rc;
        }
    }
    r->actions = a;
    r->nactions = cnt;
    return 0;
}

/* ------------------------------------------------------------ the rule */

enum {
    K_NAME,
    K_MATCH,
    K_WHERE,
    K_THRESHOLD,
    K_WINDOW,
    K_GROUP_BY,
    K_COOLDOWN,
    K_LABELS,
    K_ANNOTATIONS,
    K_ACTIONS,
    K_COUNT_
};

static const char *const rule_keys[K_COUNT_] = { "name",        "match",    "where",    "threshold",
                                                 "window",      "group_by", "cooldown", "labels",
                                                 "annotations", "actions" };

static int parse_name(struct parse *p, const yaml_node_t *n, struct clew_rule *r)
{
    int rc = scalar(p, n, "name", &r->name);
    if (rc < 0) {
        return rc;
    }
    size_t len = strlen(r->name);
    int ok = len > 0 && len <= NAME_MAX_LEN;
    for (size_t i = 0; ok && i < len; i++) {
        char c = r->name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_' || c == '.';
    }
    if (!ok) {
        return fail(p, n, "name: want 1-%d letters, digits, '-', '_' or '.', not '%.60s'",
                    NAME_MAX_LEN, r->name);
    }
    p->rule = r->name;
    return 0;
}

static int compile_match(struct parse *p, const yaml_node_t *n, struct clew_rule *r)
{
    int rc = scalar(p, n, "match", &r->match);
    if (rc < 0) {
        return rc;
    }
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)r->match, strlen(r->match), 0, &code, &off, NULL);
    if (re == NULL) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof(msg));
        return fail(p, n, "bad match pattern at offset %zu: %s", (size_t)off, (char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* the interpreter remains if JIT fails */
    r->re = re;
    char lit[CLEW_RULE_LITERALS_MAX][CLEW_RULE_LITERAL_MAX];
    size_t lens[CLEW_RULE_LITERALS_MAX];
    size_t nl = clew_rule_find_literals(r->match, strlen(r->match), lit, lens);
    struct clew_rule_literal *l = clew_arena_alloc(p->arena, (nl ? nl : 1) * sizeof(*l));
    if (l == NULL) {
        return oom(p);
    }
    for (size_t i = 0; i < nl; i++) {
        if ((l[i].text = clew_arena_dup(p->arena, lit[i], lens[i])) == NULL) {
            return oom(p);
        }
        l[i].len = lens[i];
    }
    r->literals = l;
    r->nliterals = nl;
    return 0;
}

static int canon_str(struct clew_buf *b, const char *s)
{
    char num[24];
    size_t len = s != NULL ? strlen(s) : 0;
    int n = snprintf(num, sizeof(num), s != NULL ? "%zu:" : "-:", len);
    int rc = clew_buf_append(b, num, (size_t)n);
    return rc ? rc : clew_buf_append(b, s != NULL ? s : "", len);
}

static int canon_num(struct clew_buf *b, long long v)
{
    char num[32];
    int n = snprintf(num, sizeof(num), "#%lld", v);
    return clew_buf_append(b, num, (size_t)n);
}

static int canon_actions(struct clew_buf *b, const struct clew_rule *r)
{
    int rc = canon_num(b, (long long)r->nactions);
    for (size_t i = 0; rc == 0 && i < r->nactions; i++) {
        const struct clew_rule_action *a = &r->actions[i];
        rc = canon_num(b, a->type);
        rc = rc ? rc : canon_str(b, a->url);
        rc = rc ? rc : canon_num(b, a->timeout_ns);
        rc = rc ? rc : canon_num(b, a->retries);
        rc = rc ? rc : canon_num(b, (long long)a->argc);
        for (size_t j = 0; rc == 0 && j < a->argc; j++) {
            rc = canon_str(b, a->argv[j]);
        }
    }
    return rc;
}

/* Every setting of r as one unambiguous text (length-prefixed strings). */
static int make_canon(struct parse *p, struct clew_rule *r)
{
    struct clew_buf b;
    clew_buf_init(&b);
    int rc = canon_str(&b, r->name);
    rc = rc ? rc : canon_str(&b, r->match);
    for (int i = 0; rc == 0 && i < CLEW_RULE_KEY_TRACE_ID; i++) {
        rc = canon_str(&b, r->where[i]);
    }
    rc = rc ? rc : canon_num(&b, r->where_level);
    rc = rc ? rc : canon_num(&b, r->threshold);
    rc = rc ? rc : canon_num(&b, r->window_ns);
    rc = rc ? rc : canon_num(&b, r->cooldown_ns);
    rc = rc ? rc : canon_num(&b, (long long)r->ngroup_by);
    for (size_t i = 0; rc == 0 && i < r->ngroup_by; i++) {
        rc = canon_num(&b, r->group_by[i]);
    }
    const struct clew_rule_kv *kvs[2] = { r->labels, r->annotations };
    size_t nkv[2] = { r->nlabels, r->nannotations };
    for (int k = 0; rc == 0 && k < 2; k++) {
        rc = canon_num(&b, (long long)nkv[k]);
        for (size_t i = 0; rc == 0 && i < nkv[k]; i++) {
            rc = canon_str(&b, kvs[k][i].key);
            rc = rc ? rc : canon_str(&b, kvs[k][i].value);
        }
    }
    rc = rc ? rc : canon_actions(&b, r);
    if (rc == 0 && (r->canon = clew_arena_dup(p->arena, b.data, b.len)) == NULL) {
        rc = -ENOMEM;
    }
    clew_buf_close(&b);
    return rc < 0 ? oom(p) : 0;
}

/* The settings other than name and match, each with its parser. */
static int parse_settings(struct parse *p, const int *idx, struct clew_rule *r)
{
    int rc = 0;
    long v;
    if (idx[K_WHERE] != 0) {
        rc = parse_where(p, node(p, idx[K_WHERE]), r);
    }
    if (rc == 0 && idx[K_THRESHOLD] != 0) {
        rc = integer(p, node(p, idx[K_THRESHOLD]), "threshold", 1, CLEW_RULE_THRESHOLD_MAX, &v);
        r->threshold = rc == 0 ? (uint32_t)v : 1;
    }
    if (rc == 0 && idx[K_WINDOW] != 0) {
        rc = duration(p, node(p, idx[K_WINDOW]), "window", CLEW_NS_PER_SEC, &r->window_ns);
    }
    if (rc == 0 && idx[K_GROUP_BY] != 0) {
        rc = parse_group_by(p, node(p, idx[K_GROUP_BY]), r);
    }
    if (rc == 0 && idx[K_COOLDOWN] != 0) {
        rc = duration(p, node(p, idx[K_COOLDOWN]), "cooldown", 0, &r->cooldown_ns);
    }
    if (rc == 0 && idx[K_LABELS] != 0) {
        rc = kv_map(p, node(p, idx[K_LABELS]), "labels", &r->labels, &r->nlabels);
    }
    if (rc == 0 && idx[K_ANNOTATIONS] != 0) {
        rc = kv_map(p, node(p, idx[K_ANNOTATIONS]), "annotations", &r->annotations,
                    &r->nannotations);
    }
    return rc;
}

static int parse_rule(struct parse *p, const yaml_node_t *n, struct clew_rule *r)
{
    int idx[K_COUNT_];
    memset(r, 0, sizeof(*r));
    r->where_level = -1;
    r->threshold = 1;
    r->window_ns = 60 * CLEW_NS_PER_SEC;
    r->line = (int)n->start_mark.line + 1;
    if (n->type != YAML_MAPPING_NODE) {
        return fail(p, n, "want a mapping of name, match, threshold, window, actions, ...");
    }
    /* The name first, so every later message can say which rule it is. */
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        if (key_index(node(p, pr->key), rule_keys, 1) == 0) {
            int rc = parse_name(p, node(p, pr->value), r);
            if (rc < 0) {
                return rc;
            }
            break;
        }
    }
    int rc = map_keys(p, n, "", rule_keys, K_COUNT_, idx);
    if (rc < 0) {
        return rc;
    }
    if (idx[K_NAME] == 0) {
        return fail(p, n, "'name' is required");
    }
    if (idx[K_MATCH] == 0) {
        return fail(p, n, "'match' is required (a PCRE2 pattern on the message)");
    }
    if (idx[K_ACTIONS] == 0) {
        return fail(p, n, "'actions' is required (at least one of webhook, exec, log)");
    }
    if ((rc = compile_match(p, node(p, idx[K_MATCH]), r)) < 0 ||
        (rc = parse_settings(p, idx, r)) < 0 ||
        (rc = parse_actions(p, node(p, idx[K_ACTIONS]), r)) < 0) {
        return rc;
    }
    return make_canon(p, r);
}

/* ------------------------------------------------------------ the file */

static int parse_doc(struct parse *p, struct clew_rules *rs)
{
    yaml_node_t *root = yaml_document_get_root_node(p->doc);
    if (root == NULL) {
        return 0; /* an empty file: no rules */
    }
    static const char *const top[] = { "rules" };
    int idx[1];
    if (root->type != YAML_MAPPING_NODE) {
        return fail(p, root, "want a mapping with a 'rules' list at the top");
    }
    int rc = map_keys(p, root, "", top, 1, idx);
    if (rc < 0 || idx[0] == 0) {
        return rc;
    }
    yaml_node_t *list = node(p, idx[0]);
    if (list->type == YAML_SCALAR_NODE && list->data.scalar.length == 0) {
        return 0; /* "rules:" with nothing */
    }
    if (list->type != YAML_SEQUENCE_NODE) {
        return fail(p, list, "'rules' must be a list of rules");
    }
    size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    if (n > CLEW_RULES_MAX) {
        fail(p, list, "%zu rules; at most %d", n, CLEW_RULES_MAX);
        return CLEW_ETOOBIG;
    }
    if ((rs->rules = clew_calloc(n ? n : 1, sizeof(*rs->rules))) == NULL) {
        return oom(p);
    }
    for (size_t i = 0; i < n; i++) {
        p->rule = NULL;
        p->rule_no = i + 1;
        rc = parse_rule(p, node(p, list->data.sequence.items.start[i]), &rs->rules[i]);
        rs->n = i + 1; /* so the patterns compiled so far are freed on error */
        if (rc < 0) {
            return rc;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(rs->rules[j].name, rs->rules[i].name) == 0) {
                return fail(p, node(p, list->data.sequence.items.start[i]),
                            "duplicate name (first at line %d)", rs->rules[j].line);
            }
        }
    }
    return 0;
}

int clew_rules_parse(const char *text, size_t len, struct clew_rules **out, char err[CLEW_ERR_LEN])
{
    *out = NULL;
    if (len > CLEW_RULES_FILE_MAX) {
        snprintf(err, CLEW_ERR_LEN, "%zu bytes; a rules file may have at most %d", len,
                 CLEW_RULES_FILE_MAX);
        return CLEW_ETOOBIG;
    }
    struct clew_rules *rs = clew_calloc(1, sizeof(*rs));
    struct clew_arena *arena = clew_malloc(sizeof(*arena));
    if (rs == NULL || arena == NULL) {
        clew_free(rs);
        clew_free(arena);
        snprintf(err, CLEW_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    clew_arena_init(arena, 16384);
    rs->mem_ = arena;
    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = 0;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, CLEW_ERR_LEN, "out of memory");
        clew_rules_free(rs);
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, CLEW_ERR_LEN, "line %zu: YAML: %s%s%s", parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "syntax error", parser.context ? " " : "",
                 parser.context ? parser.context : "");
        rc = CLEW_EFORMAT;
    } else {
        struct parse p = { &doc, arena, err, NULL, 0 };
        rc = parse_doc(&p, rs);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    if (rc < 0) {
        clew_rules_free(rs);
        return rc;
    }
    *out = rs;
    return 0;
}

int clew_rules_load(const char *path, struct clew_rules **out, char err[CLEW_ERR_LEN])
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        snprintf(err, CLEW_ERR_LEN, "%s: %s", path, strerror(e));
        return -e;
    }
    struct clew_buf b;
    clew_buf_init(&b);
    char chunk[16384];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = b.len + n > CLEW_RULES_FILE_MAX + 1 ? CLEW_ETOOBIG : clew_buf_append(&b, chunk, n);
    }
    if (rc == 0 && ferror(f)) {
        rc = -EIO;
    }
    fclose(f);
    char inner[CLEW_ERR_LEN];
    if (rc == 0) {
        rc = clew_rules_parse(b.data != NULL ? (const char *)b.data : "", b.len, out, inner);
    } else {
        snprintf(inner, sizeof(inner), "%s",
                 rc == CLEW_ETOOBIG ? "larger than the 4 MiB a rules file may have"
                                    : clew_strerror(rc));
    }
    if (rc < 0) {
        snprintf(err, CLEW_ERR_LEN, "%s: %s", path, inner);
    }
    clew_buf_close(&b);
    return rc;
}

void clew_rules_free(struct clew_rules *rs)
{
    if (rs == NULL) {
        return;
    }
    for (size_t i = 0; i < rs->n; i++) {
        pcre2_code_free(rs->rules[i].re);
    }
    clew_free(rs->rules);
    if (rs->mem_ != NULL) {
        clew_arena_close(rs->mem_);
        clew_free(rs->mem_);
    }
    clew_free(rs);
}

int clew_rule_equal(const struct clew_rule *a, const struct clew_rule *b)
{
    return a->canon != NULL && b->canon != NULL && strcmp(a->canon, b->canon) == 0;
}
