/* SPDX-License-Identifier: MIT
 * rules: the alert rules file (docs/RULES.md): parses and validates the YAML
 * (libyaml) into a struct clew_rules, compiling each rule's PCRE2 pattern
 * (byte mode, JIT) and finding the literal every match must contain (the
 * evaluator's prefilter). Every key is known: an unknown key, a bad value
 * or a bad pattern is an error naming the line and the rule. A struct
 * clew_rules owns all its strings and compiled patterns; it is immutable
 * once parsed and may be read by any thread. Pure (no libuv, no globals, no
 * logging): it lives in common/ because both clewd and `clew rules check`
 * use it. */
#ifndef CLEW_RULES_H
#define CLEW_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"

#define CLEW_RULES_MAX          1000      /* rules in one file                      */
#define CLEW_RULES_FILE_MAX     (4 << 20) /* bytes of a rules file                   */
#define CLEW_RULE_THRESHOLD_MAX 100000    /* largest threshold                      */
#define CLEW_RULE_RETRIES_MAX   10        /* largest webhook retries                */
#define CLEW_RULE_LITERALS_MAX  8         /* prefilter literals of one rule (a|b|c) */
#define CLEW_RULE_LITERAL_MAX   32        /* bytes kept of one prefilter literal    */

/* What a rule can group by (group_by), in the order they may be listed. */
enum clew_rule_key {
    CLEW_RULE_KEY_SERVICE = 0,
    CLEW_RULE_KEY_HOST = 1,
    CLEW_RULE_KEY_CONTAINER = 2, /* container_name, else container_id */
    CLEW_RULE_KEY_TRACE_ID = 3,
    CLEW_RULE_KEY_COUNT = 4
};

enum clew_action_type { CLEW_ACTION_WEBHOOK = 0, CLEW_ACTION_EXEC = 1, CLEW_ACTION_LOG = 2 };

struct clew_rule_action {
    enum clew_action_type type;
    const char *url;         /* webhook: http:// or https://               */
    int64_t timeout_ns;      /* webhook (default 5s), exec (default 10s)   */
    unsigned retries;        /* webhook: extra attempts (default 3)        */
    const char *const *argv; /* exec: NULL-terminated, argc >= 1           */
    size_t argc;
};

/* A name and a template ("{{count}} failures on {{host}}"). */
struct clew_rule_kv {
    const char *key;
    const char *value;
};

/* One literal of the prefilter: lowercase ASCII (the evaluator folds case,
 * so it is a candidate test only; the pattern decides). */
struct clew_rule_literal {
    const char *text;
    size_t len;
};

struct clew_rule {
    const char *name;
    const char *match; /* the PCRE2 pattern text                                  */
    void *re;          /* pcre2_code * (byte mode, JIT-compiled when possible)    */
    const char *where[CLEW_RULE_KEY_TRACE_ID]; /* service, host, container; NULL: any   */
    int where_level;     /* records with level <= this match; -1: any               */
    uint32_t threshold;  /* matches ...                                             */
    int64_t window_ns;   /* ... within this sliding window (default 1m)             */
    int64_t cooldown_ns; /* no new firing of a group this long after one (0)        */
    enum clew_rule_key group_by[CLEW_RULE_KEY_COUNT];
    size_t ngroup_by;
    const struct clew_rule_kv *labels;
    size_t nlabels;
    const struct clew_rule_kv *annotations;
    size_t nannotations;
    const struct clew_rule_action *actions;
    size_t nactions;
    /* Prefilter: a match contains at least one of these (0: no literal
     * found, run the pattern on every record that passes where). */
    const struct clew_rule_literal *literals;
    size_t nliterals;
    int line;          /* line of the rule in the file                            */
    const char *canon; /* every setting as text: equal rules have equal canon     */
};

struct clew_rules {
    struct clew_rule *rules;
    size_t n;
    void *mem_; /* private: the arena holding every string */
};

/* Parses a rules file's text. Returns 0 with *out set (free with
 * clew_rules_free), or CLEW_EFORMAT / CLEW_EBADARG / CLEW_ETOOBIG with err
 * set to "line N: rule 'NAME': what is wrong" (no rule part for file-level
 * errors), or -ENOMEM. *out is NULL on error. */
int clew_rules_parse(const char *text, size_t len, struct clew_rules **out, char err[CLEW_ERR_LEN]);

/* Reads path and parses it; err is prefixed with "PATH: ". Returns as
 * clew_rules_parse, or -errno when the file cannot be read. */
int clew_rules_load(const char *path, struct clew_rules **out, char err[CLEW_ERR_LEN]);

/* NULL-safe. Frees every pattern and string. */
void clew_rules_free(struct clew_rules *rs);

/* 1 when a and b have the same name and every setting equal. */
int clew_rule_equal(const struct clew_rule *a, const struct clew_rule *b);

/* The literals (at most CLEW_RULE_LITERALS_MAX, each cut to
 * CLEW_RULE_LITERAL_MAX bytes, lowercased) one of which every match of the
 * PCRE2 pattern contains: the longest literal run of each top-level
 * alternative. Returns how many were written to lit/lens (0: none known,
 * e.g. an alternative without a literal, or the x option). lit holds
 * CLEW_RULE_LITERALS_MAX slots of CLEW_RULE_LITERAL_MAX bytes. Pure. */
size_t clew_rule_find_literals(const char *pattern, size_t len, char lit[][CLEW_RULE_LITERAL_MAX],
                               size_t *lens);

/* The name of a group_by / where key ("service", ...). */
const char *clew_rule_key_name(enum clew_rule_key k);

/* Whether name is a template variable annotations and labels may use
 * ({{rule}}, {{status}}, {{service}}, {{host}}, {{container}},
 * {{trace_id}}, {{count}}, {{threshold}}, {{window}}, {{first_message}}). */
int clew_rule_template_var(const char *name, size_t len);

#endif
