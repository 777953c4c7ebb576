/* SPDX-License-Identifier: MIT
 * Fuzzes the alert rules file (common/rules.h). Input byte 0 picks a mode:
 * even: the rest is a rules file for clew_rules_parse (no crash, no leak;
 * on success every rule's settings are in range); odd: the rest is
 * "PATTERN\nSUBJECT": when PCRE2 compiles the pattern and it matches the
 * subject, the subject must contain one of the literals
 * clew_rule_find_literals reported (ASCII case folded): the prefilter may
 * never drop a match. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fold(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int contains(const uint8_t *s, size_t n, const char *lit, size_t len)
{
    for (size_t i = 0; i + len <= n; i++) {
        size_t k = 0;
        while (k < len && fold(s[i + k]) == (uint8_t)lit[k]) {
            k++;
        }
        if (k == len) {
            return 1;
        }
    }
    return 0;
}

static void check_literals(const uint8_t *p, size_t n)
{
    const uint8_t *nl = memchr(p, '\n', n);
    if (nl == NULL) {
        return;
    }
    size_t plen = (size_t)(nl - p);
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile(p, plen, 0, &code, &off, NULL);
    if (re == NULL) {
        return;
    }
    char lit[CLEW_RULE_LITERALS_MAX][CLEW_RULE_LITERAL_MAX];
    size_t lens[CLEW_RULE_LITERALS_MAX];
    size_t nlit = clew_rule_find_literals((const char *)p, plen, lit, lens);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    pcre2_set_match_limit(mc, 100000);
    const uint8_t *subj = nl + 1;
    size_t slen = n - plen - 1;
    if (nlit > 0 && pcre2_match(re, subj, slen, 0, 0, md, mc) >= 0) {
        int found = 0;
        for (size_t i = 0; i < nlit && !found; i++) {
            found = contains(subj, slen, lit[i], lens[i]);
        }
        if (!found) {
            abort();
        }
    }
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536) {
        return 0;
    }
    if (data[0] & 1) {
        check_literals(data + 1, size - 1);
        return 0;
    }
    struct clew_rules *rs;
    char err[CLEW_ERR_LEN];
    if (clew_rules_parse((const char *)data + 1, size - 1, &rs, err) == 0) {
        for (size_t i = 0; i < rs->n; i++) {
            const struct clew_rule *r = &rs->rules[i];
            if (r->threshold < 1 || r->threshold > CLEW_RULE_THRESHOLD_MAX || r->nactions == 0 ||
                r->window_ns <= 0 || r->name[0] == '\0' || r->re == NULL) {
                abort();
            }
        }
        clew_rules_free(rs);
    }
    return 0;
}
