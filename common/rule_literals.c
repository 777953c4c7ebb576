/* SPDX-License-Identifier: MIT
 * The prefilter literals of a rule's pattern (clew_rule_find_literals in
 * common/rules.h): a small scanner of PCRE2 syntax that follows
 * concatenation, escapes, classes, groups and quantifiers, and gives up
 * (no literal) on what it does not follow. Wrong answers would lose
 * alerts, so it errs towards shorter literals or none; tests/fuzz/
 * fuzz_rules checks that every match contains a reported literal. */
#include <stdlib.h>
#include <string.h>

#include "common/rules.h"

/* The scan of one top-level alternative: the current run of literal bytes
 * and the longest run so far. A run ends at anything that is not a plain
 * byte; a quantifier that allows zero takes the byte before it back. */
struct lits {
    const char *p, *end;
    char run[CLEW_RULE_LITERAL_MAX], best[CLEW_RULE_LITERAL_MAX];
    size_t runlen, bestlen;
    int last_in_run; /* the previous atom is the run's last byte */
    int bad;         /* a construct this scanner does not follow: no literal */
};

static void run_end(struct lits *s)
{
    if (s->runlen > s->bestlen) {
        memcpy(s->best, s->run, s->runlen);
        s->bestlen = s->runlen;
    }
    s->runlen = 0;
    s->last_in_run = 0;
}

static void run_add(struct lits *s, char c)
{
    if (c >= 'A' && c <= 'Z') {
        c = (char)(c - 'A' + 'a');
    }
    /* A run longer than the buffer keeps its first bytes: still required. */
    s->last_in_run = s->runlen < CLEW_RULE_LITERAL_MAX;
    if (s->last_in_run) {
        s->run[s->runlen++] = c;
    }
}

/* Skips a bracketed payload ({...}, <...>, '...') if one starts at p. */
/* Skips a bracketed escape argument at s->p when it opens with one of
 * `opens` ("{", "{<'"). An argument that does not close means the scan
 * has lost track of the pattern: no literal then. */
static void skip_bracketed(struct lits *s, const char *opens)
{
    char open = s->p < s->end ? *s->p : 0;
    if (open == 0 || strchr(opens, open) == NULL) {
        return;
    }
    char close = open == '{' ? '}' : open == '<' ? '>' : '\'';
    const char *e = memchr(s->p + 1, close, (size_t)(s->end - s->p - 1));
    s->bad |= e == NULL;
    s->p = e != NULL ? e + 1 : s->end;
}

static void skip_while_digits(struct lits *s, int hex, size_t max)
{
    for (size_t i = 0; i < max && s->p < s->end; i++) {
        char c = *s->p;
        int ok =
            (c >= '0' && c <= '9') || (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
        if (!ok) {
            break;
        }
        s->p++;
    }
}

/* After "\Q": to just past the next "\E", or the end. Quoted bytes are
 * plain even inside a class or a group (a quoted ']' or ')' closes
 * nothing). */
static void skip_quoted(struct lits *s)
{
    const char *e = s->p;
    while (e + 1 < s->end && !(e[0] == '\\' && e[1] == 'E')) {
        e++;
    }
    s->p = e + 1 < s->end ? e + 2 : s->end;
}

/* Escapes the scanner follows: a letter without an argument (classes,
 * anchors, control characters). Any other escape with a letter or digit
 * (\\g, \\k, \\p, \\N, \\o, \\c, back references) makes it give up: such
 * patterns run without a prefilter rather than risk a wrong literal. */
static int simple_escape(char c)
{
    return c != 0 && strchr("dDwWsShHvVRXntrfeabBAzZGKE", c) != NULL;
}

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* After the letter of \\Q or \\x (or any other escape letter c). */
static void escape_tail(struct lits *s, char c)
{
    if (c == 'Q') {
        skip_quoted(s);
    } else if (c == 'x' && s->p < s->end && *s->p == '{') {
        skip_bracketed(s, "{");
    } else if (c == 'x') {
        skip_while_digits(s, 1, 2);
    } else if (is_alnum(c) && !simple_escape(c)) {
        s->bad = 1;
    }
}

/* At a backslash inside a class or a skipped group: past the escape. */
static void skip_escape(struct lits *s)
{
    s->p++;
    if (s->p >= s->end) {
        s->bad = 1;
        return;
    }
    escape_tail(s, *s->p++);
}

/* After a backslash at the top level (s->p at the escaped byte): a
 * non-alphanumeric byte is itself, a literal. */
static void scan_escape(struct lits *s)
{
    if (s->p >= s->end) {
        s->bad = 1;
        return;
    }
    char c = *s->p++;
    if (!is_alnum(c)) {
        run_add(s, c);
        return;
    }
    run_end(s);
    escape_tail(s, c);
}

/* At '[' inside a class: the end of a POSIX class ("[:alpha:]") starting
 * there, or NULL when it is a plain '[' (PCRE2's check_posix_syntax: a ']'
 * or another "[:" before the ":]" means it is not one). */
static const char *posix_end(const char *p, const char *end)
{
    if (p + 1 >= end || (p[1] != ':' && p[1] != '.' && p[1] != '=')) {
        return NULL;
    }
    char term = p[1];
    for (p += 2; p < end; p++) {
        if (*p == '\\' && p + 1 < end && (p[1] == ']' || p[1] == '\\')) {
            p++;
        } else if ((*p == '[' && p + 1 < end && p[1] == term) || *p == ']') {
            return NULL;
        } else if (*p == term && p + 1 < end && p[1] == ']') {
            return p + 2;
        }
    }
    return NULL;
}

static void skip_class(struct lits *s)
{
    if (s->p < s->end && *s->p == '^') {
        s->p++;
    }
    if (s->p < s->end && *s->p == ']') {
        s->p++;
    }
    while (s->p < s->end && *s->p != ']') {
        if (*s->p == '\\') {
            skip_escape(s);
        } else if (*s->p == '[' && posix_end(s->p, s->end) != NULL) {
            s->p = posix_end(s->p, s->end); /* [:alpha:], [.x.], [=x=] */
        } else {
            s->p++;
        }
    }
    s->p = s->p < s->end ? s->p + 1 : s->end;
    run_end(s);
}

/* At '(' (consumed). An option setting "(?i)" is zero-width and keeps the
 * run; the x option makes whitespace and # mean something else, so the
 * scan gives up; any other group is skipped whole. */
static void scan_group(struct lits *s)
{
    const char *q = s->p;
    if (q < s->end && *q == '?') {
        const char *f = q + 1;
        while (f < s->end && ((*f >= 'a' && *f <= 'z') || *f == '-' || *f == '^')) {
            s->bad |= *f == 'x';
            f++;
        }
        if (f < s->end && *f == ')' && f > q + 1) {
            s->p = f + 1;
            /* PCRE2 would apply a quantifier here to the item before. */
            s->bad |= s->p < s->end && strchr("*+?{", *s->p) != NULL;
            return;
        }
        if (q + 1 < s->end && q[1] == '#') {
            /* PCRE2 skips a comment entirely, so a quantifier after it
             * applies to the item before ("1(?#)*" is "1*"): give up. */
            s->bad = 1;
            s->p = s->end;
            return;
        }
    }
    int depth = 1;
    while (s->p < s->end && depth > 0) {
        char c = *s->p;
        if (c == '\\') {
            skip_escape(s);
            continue;
        }
        s->p++;
        if (c == '[') {
            skip_class(s);
        } else {
            depth += (c == '(') - (c == ')');
        }
    }
    s->bad |= depth != 0;
    run_end(s);
}

/* A counted quantifier {n}, {n,}, {n,m}, {,m} at s->p ('{' not consumed).
 * Returns 1 and sets *min when it is one (PCRE2 reads other '{' as a
 * literal). */
static int counted(struct lits *s, long *min)
{
    const char *q = s->p + 1;
    const char *d0 = q;
    while (q < s->end && *q >= '0' && *q <= '9') {
        q++;
    }
    int has_min = q > d0;
    *min = has_min ? strtol(d0, NULL, 10) : 0;
    if (q < s->end && *q == ',') {
        q++;
        const char *d1 = q;
        while (q < s->end && *q >= '0' && *q <= '9') {
            q++;
        }
        has_min |= q > d1;
    }
    if (!has_min || q >= s->end || *q != '}') {
        return 0;
    }
    s->p = q + 1;
    return 1;
}

static void quantifier(struct lits *s, long min)
{
    if (min == 0 && s->last_in_run && s->runlen > 0) {
        s->runlen--; /* the byte may be absent */
    }
    run_end(s);
    if (s->p < s->end && (*s->p == '?' || *s->p == '+')) {
        s->p++; /* lazy or possessive */
    }
}

/* Scans one alternative up to a top-level '|' (returns 1) or the end (0). */
static int scan_alt(struct lits *s)
{
    long min;
    while (s->p < s->end && !s->bad) {
        char c = *s->p++;
        switch (c) {
        case '|':
            run_end(s);
            return 1;
        case '\\':
            scan_escape(s);
            break;
        case '[':
            skip_class(s);
            break;
        case '(':
            scan_group(s);
            break;
        case ')':
            s->bad = 1;
            break;
        case '.':
        case '^':
        case '$':
            run_end(s);
            break;
        case '*':
        case '?':
            quantifier(s, 0);
            break;
        case '+':
            quantifier(s, 1);
            break;
        case '{':
            s->p--;
            if (counted(s, &min)) {
                quantifier(s, min);
            } else {
                s->p++;
                run_add(s, c);
            }
            break;
        default:
            run_add(s, c);
            break;
        }
    }
    run_end(s);
    return 0;
}

/* Whether the pattern holds (*ACCEPT) (or (*ACCEPT:NAME)) anywhere: a
 * match may then end there, before the bytes that follow it. */
static int has_accept(const char *p, size_t len)
{
    static const char verb[] = "(*ACCEPT";
    for (size_t i = 0; i + sizeof(verb) - 1 <= len; i++) {
        if (memcmp(p + i, verb, sizeof(verb) - 1) == 0) {
            return 1;
        }
    }
    return 0;
}

size_t clew_rule_find_literals(const char *pattern, size_t len, char lit[][CLEW_RULE_LITERAL_MAX],
                               size_t *lens)
{
    if (has_accept(pattern, len)) {
        return 0;
    }
    struct lits s;
    memset(&s, 0, sizeof(s));
    s.p = pattern;
    s.end = pattern + len;
    size_t n = 0;
    int more;
    do {
        s.runlen = s.bestlen = 0;
        s.last_in_run = 0;
        more = scan_alt(&s);
        /* An alternative without a literal (an empty one too) may match
         * anything: then there is no prefilter at all. */
        if (s.bad || s.bestlen == 0 || n == CLEW_RULE_LITERALS_MAX) {
            return 0;
        }
        memcpy(lit[n], s.best, s.bestlen);
        lens[n++] = s.bestlen;
    } while (more);
    return n;
}
