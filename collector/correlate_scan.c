/* SPDX-License-Identifier: MIT
 * correlate_scan: where the ids of a record are found (see correlate_scan.h;
 * the state and the choice of ids live in correlate.c).
 *
 * - `fields` and a message that is a JSON object: one pass of a small JSON
 *   walker (no jansson, no allocation) that classifies every key at any
 *   depth by its normalised name (lower case, '_' and '-' dropped, so
 *   trace_id, traceId, TraceId and traceID are one name; "trace":{"id":..}
 *   is trace.id) and keeps the best candidate of each kind. Escaped strings
 *   are decoded into the caller's per-record scratch area;
 * - other messages: a text scan that visits each '=' and ':' (memchr), reads
 *   the key before it and the value after it, and each '[' for the Sleuth
 *   `[app,trace,span]`, Spring Boot `[trace-span] ` and Rails `[uuid] `
 *   forms. A bare traceparent without a key in text is not looked for.
 * Only the first CLEW_CORR_SCAN_MAX bytes are scanned. Candidates are kept
 * as views (into the record or the scratch area) and validated when found;
 * the caller normalises the chosen ones (clew_corr_scan_norm_id). */
#include "collector/correlate_scan.h"

#include <string.h>

#include "collector/corr_bytes.h"

#define MAX_DEPTH 32 /* JSON nesting the walker follows */
#define KEY_MAX   48 /* longest normalised key compared */

/* ------------------------------------------------------ key definitions */

/* Key classes. */
enum {
    KC_NONE = 0,
    KC_TRACE,
    KC_DD_TRACE,
    KC_SPAN,
    KC_DD_SPAN,
    KC_PARENT,
    KC_B3_TRACE,
    KC_B3_SPAN,
    KC_B3_PARENT,
    KC_TP,
    KC_B3,
    KC_REQ,
};

struct kdef {
    const char *name; /* normalised */
    uint8_t len;
    uint8_t cls;
    uint8_t rank;
};

/* clang-format off */
#define KD(s, c, r) { s, sizeof(s) - 1, c, r }
/* clang-format on */
static const struct kdef key_defs[] = {
    KD("traceid", KC_TRACE, 0),
    KD("trace.id", KC_TRACE, 1),
    KD("dd.traceid", KC_DD_TRACE, 2),
    KD("oteltraceid", KC_TRACE, 3),
    KD("spanid", KC_SPAN, 0),
    KD("span.id", KC_SPAN, 1),
    KD("dd.spanid", KC_DD_SPAN, 2),
    KD("otelspanid", KC_SPAN, 3),
    KD("parentspanid", KC_PARENT, 0),
    KD("parentid", KC_PARENT, 1),
    KD("xb3traceid", KC_B3_TRACE, 0),
    KD("xb3spanid", KC_B3_SPAN, 0),
    KD("xb3parentspanid", KC_B3_PARENT, 0),
    KD("traceparent", KC_TP, 0),
    KD("b3", KC_B3, 0),
    KD("requestid", KC_REQ, 0),
    KD("xrequestid", KC_REQ, 1),
    KD("correlationid", KC_REQ, 2),
    KD("xcorrelationid", KC_REQ, 3),
    KD("reqid", KC_REQ, 4),
};
#define N_KEYS (sizeof(key_defs) / sizeof(key_defs[0]))

/* ------------------------------------------------------ search and numbers */

const char *clew_corr_scan_find(const char *h, size_t n, const char *lit, size_t m)
{
    const char *end = h + n;
    while (m > 0 && (size_t)(end - h) >= m) {
        const char *p = memchr(h, lit[0], (size_t)(end - h) - m + 1);
        if (p == NULL) {
            return NULL;
        }
        if (memcmp(p, lit, m) == 0) {
            return p;
        }
        h = p + 1;
    }
    return NULL;
}

/* Decimal 1-20 digits, 1..2^64-1. Returns 1 and sets *v, or 0. */
static int parse_u64(const char *s, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    if (n == 0 || n > 20) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)((unsigned char)s[i] - '0');
        if (d > 9 || x > (UINT64_MAX - d) / 10) {
            return 0;
        }
        x = x * 10 + d;
    }
    *v = x;
    return x != 0;
}

static void put_hex64(char *out, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[v & 15];
        v >>= 4;
    }
}

/* ------------------------------------------------- candidate validation */

static int placeholder(const char *p, size_t n)
{
    if (n > 9 || strchr("-nNuU", p[0]) == NULL) {
        return 0;
    }
    return ieq(p, n, "-") || ieq(p, n, "null") || ieq(p, n, "none") || ieq(p, n, "nil") ||
           ieq(p, n, "undefined") || ieq(p, n, "n/a");
}

/* What value_class found: every byte printable (0x21-0x7e), hex, lower
 * hex, '0'. */
enum { VC_PRINT = 1, VC_HEX = 2, VC_LHEX = 4, VC_ZERO = 8 };

#define REP(b) (UINT64_C(0x0101010101010101) * (uint8_t)(b))
#define HIGHS  REP(0x80)
/* Per byte of a word whose bytes are all < 0x80: high bit set where the
 * byte is >= lo, resp. > hi (no carry crosses a byte). */
#define GE(w, lo) (((w) + REP(0x80 - (lo))) & HIGHS)
#define GT(w, hi) (((w) + REP(0x7f - (hi))) & HIGHS)

static uint64_t load8(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* The bytes p[0..n), n < 8, as a word padded with '0' (neutral to every
 * class of value_class). */
static uint64_t load_short(const char *p, size_t n)
{
    unsigned char b[8];
    memset(b, '0', 8);
    for (size_t i = 0; i < n; i++) {
        b[i] = (unsigned char)p[i];
    }
    uint64_t w;
    memcpy(&w, b, 8);
    return w;
}

/* Classifies n bytes eight at a time (the last word overlaps the one
 * before it, which these all-bytes tests allow). Returns VC_* flags. */
static unsigned value_class(const char *p, size_t n)
{
    uint64_t print = HIGHS, hex = HIGHS, lhex = HIGHS, high = 0, zero = 1;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = n < 8 ? load_short(p, n) : load8(p + (n - i < 8 ? n - 8 : i));
        uint64_t lw = w | REP(0x20), digit = GE(w, '0') & ~GT(w, '9');
        high |= w & HIGHS;
        print &= GE(w, 0x21) & ~GT(w, 0x7e);
        hex &= digit | (GE(lw, 'a') & ~GT(lw, 'f'));
        lhex &= digit | (GE(w, 'a') & ~GT(w, 'f'));
        zero &= w == REP('0');
    }
    if (high != 0) {
        return 0;
    }
    return (print == HIGHS ? VC_PRINT : 0) | (hex == HIGHS ? VC_HEX : 0) |
           (lhex == HIGHS ? VC_LHEX : 0) | (zero ? VC_ZERO : 0);
}

/* 1 when all eight bytes of w are [0-9A-Za-z-] (hex ids, UUIDs,
 * traceparents: none of them ends a text value). */
static int word_is_alnum_dash(uint64_t w)
{
    uint64_t w7 = w & REP(0x7f), lw = w7 | REP(0x20);
    uint64_t ok = (GE(w7, '0') & ~GT(w7, '9')) | (GE(lw, 'a') & ~GT(lw, 'z')) |
                  (~GE(w7 ^ REP('-'), 1) & HIGHS);
    return (ok & ~(w & HIGHS)) == HIGHS;
}

/* Checks (and for Datadog ids, re-kinds) a trimmed value; returns its
 * VC_* class with VC_PRINT set when usable, else 0. */
static unsigned value_ok(const char *p, size_t n, uint8_t *kind)
{
    uint64_t d;
    if ((*kind == CLEW_CORR_K_DD_TRACE || *kind == CLEW_CORR_K_DD_SPAN) && !parse_u64(p, n, &d)) {
        *kind = *kind == CLEW_CORR_K_DD_TRACE ? CLEW_CORR_K_TRACE : CLEW_CORR_K_SPAN;
    }
    if (*kind == CLEW_CORR_K_DD_TRACE || *kind == CLEW_CORR_K_DD_SPAN) {
        return VC_PRINT;
    }
    size_t max = *kind == CLEW_CORR_K_SPAN ? CLEW_CORR_MAX_SPAN : CLEW_CORR_MAX_ID;
    if (n == 0 || n > max || placeholder(p, n)) {
        return 0;
    }
    unsigned vc = value_class(p, n);
    /* All-zero hex ids ("0" from OTel Python without a span) mean "none". */
    if (!(vc & VC_PRINT) || (*kind != CLEW_CORR_K_REQ && (vc & VC_ZERO))) {
        return 0;
    }
    return vc;
}

void clew_corr_scan_set_id(struct clew_corr_id *v, const char *p, size_t n, uint8_t kind,
                           uint8_t rank)
{
    trim(&p, &n);
    if (v->len != 0 && rank >= v->rank) {
        return;
    }
    unsigned vc = value_ok(p, n, &kind);
    if (vc == 0) {
        return;
    }
    v->p = p;
    v->len = (uint16_t)n;
    v->kind = kind;
    v->rank = rank;
    v->hex = (uint8_t)(vc & (VC_HEX | VC_LHEX));
}

/* Normalises v into out (room for CLEW_CORR_MAX_ID bytes). Returns the length. */
size_t clew_corr_scan_norm_id(const struct clew_corr_id *v, char *out)
{
    uint64_t d;
    if (v->kind == CLEW_CORR_K_DD_TRACE && parse_u64(v->p, v->len, &d)) {
        memset(out, '0', 16);
        put_hex64(out + 16, d);
        return 32;
    }
    if (v->kind == CLEW_CORR_K_DD_SPAN && parse_u64(v->p, v->len, &d)) {
        put_hex64(out, d);
        return 16;
    }
    size_t n = v->len;
    if (v->kind == CLEW_CORR_K_REQ || !(v->hex & VC_HEX)) {
        memcpy(out, v->p, n);
        return n;
    }
    size_t pad =
        n == 16 && (v->kind == CLEW_CORR_K_TRACE || v->kind == CLEW_CORR_K_DD_TRACE) ? 16 : 0;
    memset(out, '0', pad);
    memcpy(out + pad, v->p, n);
    if (!(v->hex & VC_LHEX)) {
        for (size_t i = 0; i < n; i++) {
            out[pad + i] |= 0x20; /* hex only: A-F -> a-f, digits stay */
        }
    }
    return pad + n;
}

/* ------------------------------------------------------ key classification */

/* Normalises a key (lower case, '_' and '-' dropped) into out[KEY_MAX].
 * Returns the length, or 0 when it is longer. */
static size_t norm_key(const char *k, size_t n, char *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (c == '_' || c == '-') {
            continue;
        }
        if (m == KEY_MAX) {
            return 0;
        }
        out[m++] = (char)lower((unsigned char)c);
    }
    return m;
}

/* 0 when raw key k cannot name an id: every known name ends in 'd', 't'
 * or '3' once '_' and '-' are dropped (see key_defs). */
static int key_may_match(const char *k, size_t n)
{
    while (n > 0 && (k[n - 1] == '_' || k[n - 1] == '-')) {
        n--;
    }
    char last = n > 0 ? (char)(k[n - 1] | 0x20) : 0;
    return last == 'd' || last == 't' || last == '3';
}

static const struct kdef *lookup_key(const char *k, size_t n)
{
    if (n < 2) {
        return NULL;
    }
    char last = k[n - 1];
    if (last != 'd' && last != 't' && last != '3') {
        return NULL;
    }
    for (size_t i = 0; i < N_KEYS; i++) {
        if (key_defs[i].len == n && memcmp(key_defs[i].name, k, n) == 0) {
            return &key_defs[i];
        }
    }
    return NULL;
}

/* Classifies a normalised key, given the normalised key of the enclosing
 * object (ECS {"trace":{"id":..}}, {"dd":{"trace_id":..}}). */
static const struct kdef *classify(const char *k, size_t n, const char *parent, size_t pn)
{
    if (pn > 0 && pn + 1 + n <= KEY_MAX &&
        (ieq(parent, pn, "trace") || ieq(parent, pn, "span") || ieq(parent, pn, "dd"))) {
        char both[KEY_MAX];
        memcpy(both, parent, pn);
        both[pn] = '.';
        memcpy(both + pn + 1, k, n);
        const struct kdef *d = lookup_key(both, pn + 1 + n);
        if (d != NULL) {
            return d;
        }
    }
    const struct kdef *d = lookup_key(k, n);
    if (d == NULL && n > 0) {
        const char *dot = memchr(k, '.', n);
        while (dot != NULL && d == NULL) {
            size_t off = (size_t)(dot - k) + 1;
            d = lookup_key(k + off, n - off);
            dot = memchr(k + off, '.', n - off);
        }
    }
    return d;
}

static void put_tp(struct clew_corr_doc *d, const char *p, size_t n)
{
    trim(&p, &n);
    d->tp_seen++;
    if (clew_corr_traceparent_parse(p, n, NULL) == 0) {
        clew_corr_scan_set_id(&d->g[CLEW_CORR_GR_TP].trace, p + 3, 32, CLEW_CORR_K_TRACE, 0);
        clew_corr_scan_set_id(&d->g[CLEW_CORR_GR_TP].span, p + 36, 16, CLEW_CORR_K_SPAN, 0);
    }
}

static void put_b3(struct clew_corr_doc *d, const char *p, size_t n)
{
    struct clew_corr_b3_view v;
    if (clew_corr_b3_split(p, n, &v) != 0 || v.trace == NULL) {
        return;
    }
    struct clew_corr_cand *c = &d->g[CLEW_CORR_GR_B3S];
    clew_corr_scan_set_id(&c->trace, v.trace, v.tlen, CLEW_CORR_K_TRACE, 0);
    clew_corr_scan_set_id(&c->span, v.span, 16, CLEW_CORR_K_SPAN, 0);
    if (v.parent != NULL) {
        clew_corr_scan_set_id(&c->parent, v.parent, 16, CLEW_CORR_K_SPAN, 0);
    }
}

/* Records value p[0..n) of a key of class d. */
static void put_value(struct clew_corr_doc *doc, const struct kdef *d, const char *p, size_t n)
{
    struct clew_corr_cand *nm = &doc->g[CLEW_CORR_GR_NAMED], *b3 = &doc->g[CLEW_CORR_GR_B3M];
    switch (d->cls) {
    case KC_TRACE:
    case KC_DD_TRACE:
        clew_corr_scan_set_id(&nm->trace, p, n,
                              d->cls == KC_TRACE ? CLEW_CORR_K_TRACE : CLEW_CORR_K_DD_TRACE,
                              d->rank);
        break;
    case KC_SPAN:
    case KC_DD_SPAN:
        clew_corr_scan_set_id(&nm->span, p, n,
                              d->cls == KC_SPAN ? CLEW_CORR_K_SPAN : CLEW_CORR_K_DD_SPAN, d->rank);
        break;
    case KC_PARENT:
        clew_corr_scan_set_id(&nm->parent, p, n, CLEW_CORR_K_SPAN, d->rank);
        break;
    case KC_B3_TRACE: /* several values of one X-B3 header: the first wins */
        clew_corr_scan_set_id(&b3->trace, p, n, CLEW_CORR_K_TRACE, 0);
        break;
    case KC_B3_SPAN:
        clew_corr_scan_set_id(&b3->span, p, n, CLEW_CORR_K_SPAN, 0);
        break;
    case KC_B3_PARENT:
        clew_corr_scan_set_id(&b3->parent, p, n, CLEW_CORR_K_SPAN, 0);
        break;
    case KC_TP:
        put_tp(doc, p, n);
        break;
    case KC_B3:
        put_b3(doc, p, n);
        break;
    default:
        clew_corr_scan_set_id(&doc->req, p, n, CLEW_CORR_K_REQ, d->rank);
        break;
    }
}

/* ------------------------------------------------------------ JSON walker */

struct jw {
    const char *p, *e;
    struct clew_corr_scratch *sc;
    struct clew_corr_doc *d;
};

static void jws(struct jw *w)
{
    while (w->p < w->e && (*w->p == ' ' || *w->p == '\t' || *w->p == '\n' || *w->p == '\r')) {
        w->p++;
    }
}

/* Reads the string at w->p ('"'): its raw content, and (when esc is not
 * NULL) whether it has escapes. Returns 0, or -1 when it does not end. */
static int jstr(struct jw *w, const char **s, size_t *n, int *esc)
{
    const char *start = w->p + 1, *q = start;
    for (;;) {
        const char *z = memchr(q, '"', (size_t)(w->e - q));
        if (z == NULL) {
            return -1;
        }
        const char *b = z;
        while (b > start && b[-1] == '\\') {
            b--;
        }
        if (((z - b) & 1) == 0) {
            *s = start;
            *n = (size_t)(z - start);
            if (esc != NULL) {
                *esc = memchr(start, '\\', *n) != NULL;
            }
            w->p = z + 1;
            return 0;
        }
        q = z + 1;
    }
}

/* Decodes an escaped JSON string into the scratch area. Ids are printable
 * ASCII, so \u escapes above 0x7e make the value unusable (NULL). */
static const char *junescape(struct clew_corr_scratch *c, const char *s, size_t n, size_t *out)
{
    if (n > CLEW_CORR_SCRATCH_SIZE - c->used) {
        return NULL;
    }
    char *o = c->buf + c->used;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            o[m++] = s[i];
            continue;
        }
        if (++i == n) {
            return NULL;
        }
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *f = memchr(from, s[i], 8);
        if (f != NULL) {
            o[m++] = to[f - from];
            continue;
        }
        unsigned u = 0;
        if (s[i] != 'u' || n - i < 5 || !all_hex(s + i + 1, 4)) {
            return NULL;
        }
        for (int k = 1; k <= 4; k++) {
            u = u << 4 | hexval((unsigned char)s[i + k]);
        }
        if (u > 0x7e) {
            return NULL;
        }
        o[m++] = (char)u;
        i += 4;
    }
    c->used += m;
    *out = m;
    return o;
}

static int jvalue(struct jw *w, int depth, const struct kdef *d, const char *key, size_t kn);

/* After a member or element: 1 when a ',' leads to the next one, 0 at the
 * closing bracket, -1 on anything else. */
static inline int jnext(struct jw *w, char close)
{
    jws(w);
    if (w->p < w->e && *w->p == ',') {
        w->p++;
        jws(w);
        return 1;
    }
    if (w->p < w->e && *w->p == close) {
        w->p++;
        return 0;
    }
    return -1;
}

static int jobject(struct jw *w, int depth, const char *parent, size_t pn)
{
    w->p++; /* '{' */
    jws(w);
    if (w->p < w->e && *w->p == '}') {
        w->p++;
        return 0;
    }
    for (;;) {
        const char *k;
        size_t kn, nk = 0;
        int esc;
        char kbuf[KEY_MAX];
        if (w->p >= w->e || *w->p != '"' || jstr(w, &k, &kn, &esc) != 0) {
            return -1;
        }
        /* Keys with escapes are not ids' names: classify them as none.
         * Most keys are rejected by their last letter; only those and
         * the keys of nested values (the parent of their members) are
         * normalised. */
        int maybe = !esc && key_may_match(k, kn);
        nk = maybe ? norm_key(k, kn, kbuf) : 0;
        const struct kdef *d = nk > 0 ? classify(kbuf, nk, parent, pn) : NULL;
        jws(w);
        if (w->p >= w->e || *w->p != ':') {
            return -1;
        }
        w->p++;
        jws(w);
        if (!esc && !maybe && w->p < w->e && (*w->p == '{' || *w->p == '[')) {
            nk = norm_key(k, kn, kbuf);
        }
        if (jvalue(w, depth, d, kbuf, nk) != 0) {
            return -1;
        }
        int more = jnext(w, '}');
        if (more <= 0) {
            return more;
        }
    }
}

static int jarray(struct jw *w, int depth, const char *parent, size_t pn)
{
    w->p++; /* '[' */
    jws(w);
    if (w->p < w->e && *w->p == ']') {
        w->p++;
        return 0;
    }
    for (;;) {
        if (jvalue(w, depth, NULL, parent, pn) != 0) {
            return -1;
        }
        int more = jnext(w, ']');
        if (more <= 0) {
            return more;
        }
    }
}

/* A value; d is the class of its key (NULL: not an id key), key its
 * normalised name (the parent of nested members). */
static int jvalue(struct jw *w, int depth, const struct kdef *d, const char *key, size_t kn)
{
    if (w->p >= w->e || depth >= MAX_DEPTH) {
        return -1;
    }
    char ch = *w->p;
    if (ch == '{') {
        return jobject(w, depth + 1, key, kn);
    }
    if (ch == '[') {
        return jarray(w, depth + 1, key, kn);
    }
    if (ch == '"') {
        const char *s;
        size_t n;
        int esc = 0;
        if (jstr(w, &s, &n, d != NULL ? &esc : NULL) != 0) {
            return -1;
        }
        if (d != NULL && esc) {
            s = junescape(w->sc, s, n, &n);
        }
        if (d != NULL && s != NULL) {
            put_value(w->d, d, s, n);
        }
        return 0;
    }
    /* number, true, false, null: a run of token characters. */
    const char *s = w->p;
    while (w->p < w->e &&
           (((unsigned char)*w->p >= '0' && (unsigned char)*w->p <= '9') || *w->p == '-' ||
            *w->p == '+' || *w->p == '.' || (*w->p >= 'a' && *w->p <= 'z') || *w->p == 'E')) {
        w->p++;
    }
    if (w->p == s) {
        return -1;
    }
    if (d != NULL && ((unsigned)((unsigned char)*s - '0') <= 9u)) {
        put_value(w->d, d, s, (size_t)(w->p - s));
    }
    return 0;
}

/* Walks a JSON object text. Returns 1 when the whole text was one object
 * (only whitespace after it), 0 otherwise (what was found is kept). */
int clew_corr_scan_json(struct clew_corr_scratch *sc, struct clew_corr_doc *d, const char *s,
                        size_t n)
{
    struct jw w = { s, s + (n > CLEW_CORR_SCAN_MAX ? CLEW_CORR_SCAN_MAX : n), sc, d };
    jws(&w);
    if (w.p >= w.e || *w.p != '{') {
        return 0;
    }
    int rc = jobject(&w, 1, "", 0);
    jws(&w);
    return rc == 0 && w.p == w.e && n <= CLEW_CORR_SCAN_MAX;
}

/* ------------------------------------------------------------ text scan */

static int key_char(unsigned char c)
{
    return IS(c, C_KEY);
}

static int value_end(unsigned char c)
{
    return IS(c, C_VEND);
}

/* The key that ends just before separator m[i] ('=' or ':'), then its
 * value. */
static void text_kv(struct clew_corr_doc *d, const char *m, size_t n, size_t i)
{
    size_t e = i;
    while (e > 0 && e + 2 > i && m[e - 1] == ' ') {
        e--;
    }
    if (e > 0 && (m[e - 1] == '"' || m[e - 1] == '\'')) {
        e--;
    }
    /* Every id key ends in "id" (any case), "parent" or "b3": most
     * separators (times, URLs, prose) stop here. */
    char last = e > 0 ? (char)lower((unsigned char)m[e - 1]) : 0;
    if (last != 'd' && last != 't' && last != '3') {
        return;
    }
    size_t b = e;
    while (b > 0 && e - b < 64 && key_char((unsigned char)m[b - 1])) {
        b--;
    }
    char kbuf[KEY_MAX];
    size_t kn = b < e ? norm_key(m + b, e - b, kbuf) : 0;
    const struct kdef *kd = kn > 0 ? classify(kbuf, kn, "", 0) : NULL;
    if (kd == NULL) {
        return;
    }
    size_t v = i + 1;
    while (v < n && v < i + 3 && m[v] == ' ') {
        v++;
    }
    if (v < n && (m[v] == '"' || m[v] == '\'')) {
        const char *q = memchr(m + v + 1, m[v], n - v - 1 < 512 ? n - v - 1 : 512);
        if (q != NULL) {
            put_value(d, kd, m + v + 1, (size_t)(q - (m + v + 1)));
        }
        return;
    }
    size_t ve = v, lim = n - v < 512 ? n : v + 512;
    while (lim - ve >= 8 && word_is_alnum_dash(load8(m + ve))) {
        ve += 8;
    }
    while (ve < lim && !value_end((unsigned char)m[ve])) {
        ve++;
    }
    while (ve > v && (m[ve - 1] == '.' || m[ve - 1] == ':')) {
        ve--;
    }
    put_value(d, kd, m + v, ve - v);
}

static void text_sep(struct clew_corr_doc *d, const char *m, size_t n, char sep)
{
    const char *p = m, *e = m + n;
    while ((p = memchr(p, sep, (size_t)(e - p))) != NULL) {
        text_kv(d, m, n, (size_t)(p - m));
        p++;
    }
}

static size_t hex_run(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && is_lhex((unsigned char)s[i])) {
        i++;
    }
    return i;
}

/* Sleuth [app,trace,span(,exportable)] at s ('['). */
static void bracket_sleuth(struct clew_corr_doc *d, const char *s, size_t n)
{
    size_t i = 1;
    while (i < n && s[i] != ',' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' && i < 128) {
        i++;
    }
    if (i >= n || s[i] != ',') {
        return;
    }
    size_t t = ++i, tl = hex_run(s + t, n - t);
    if (tl < 16 || tl > 32 || t + tl >= n || s[t + tl] != ',') {
        return;
    }
    size_t sp = t + tl + 1, sl = hex_run(s + sp, n - sp);
    size_t x = sp + sl;
    if (sl != 16 || x >= n) {
        return;
    }
    if (s[x] == ',') {
        const char *r = s + x + 1;
        size_t rn = n - x - 1;
        size_t w = has_prefix(r, rn, "true]") ? 4 : has_prefix(r, rn, "false]") ? 5 : 0;
        x = w > 0 ? x + 1 + w : n;
    }
    if (x < n && s[x] == ']') {
        clew_corr_scan_set_id(&d->g[CLEW_CORR_GR_BRK].trace, s + t, tl, CLEW_CORR_K_TRACE, 0);
        clew_corr_scan_set_id(&d->g[CLEW_CORR_GR_BRK].span, s + sp, 16, CLEW_CORR_K_SPAN, 0);
    }
}

static int is_uuid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

/* Spring Boot [trace-span] and, at the line start, Rails [uuid]. */
static void bracket_fixed(struct clew_corr_doc *d, const char *s, size_t n, int line_start)
{
    if (n >= 52 && s[33] == '-' && s[50] == ']' && s[51] == ' ' && all_lhex(s + 1, 32) &&
        all_lhex(s + 34, 16)) {
        clew_corr_scan_set_id(&d->g[CLEW_CORR_GR_BRK].trace, s + 1, 32, CLEW_CORR_K_TRACE, 1);
        clew_corr_scan_set_id(&d->g[CLEW_CORR_GR_BRK].span, s + 34, 16, CLEW_CORR_K_SPAN, 1);
    } else if (line_start && n >= 39 && s[37] == ']' && s[38] == ' ' && is_uuid(s + 1)) {
        clew_corr_scan_set_id(&d->req, s + 1, 36, CLEW_CORR_K_REQ, 9);
    }
}

static void text_brackets(struct clew_corr_doc *d, const char *m, size_t n)
{
    const char *p = m, *e = m + n;
    while ((p = memchr(p, '[', (size_t)(e - p))) != NULL) {
        size_t left = (size_t)(e - p);
        bracket_sleuth(d, p, left);
        bracket_fixed(d, p, left, p == m);
        p++;
    }
}

void clew_corr_scan_text(struct clew_corr_doc *d, const char *m, size_t n)
{
    if (n == 0) {
        return;
    }
    if (n > CLEW_CORR_SCAN_MAX) {
        n = CLEW_CORR_SCAN_MAX;
    }
    text_sep(d, m, n, '=');
    text_sep(d, m, n, ':');
    text_brackets(d, m, n);
}
/* ----------------------------------------------------------- continuation */

/* " INFO [app,,] ...": a level right-aligned by a %5p layout, the start
 * of a record rather than an indented line. */
static int padded_level(const char *m, size_t n)
{
    static const char *const levels[] = {
        "INFO ", "WARN ", "DEBUG ", "TRACE ", "ERROR ", "FATAL "
    };
    size_t i = 0;
    while (i < n && i < 4 && m[i] == ' ') {
        i++;
    }
    for (size_t k = 0; k < sizeof(levels) / sizeof(levels[0]); k++) {
        if (has_prefix(m + i, n - i, levels[k])) {
            return 1;
        }
    }
    return 0;
}

int clew_corr_scan_continuation(const char *m, size_t n)
{
    static const char *const prefixes[] = {
        "at ",
        "Caused by:",
        "Suppressed:",
        "Traceback (most recent call last):",
        "During handling of the above exception",
        "The above exception was the direct cause",
    };
    if (n == 0) {
        return 0;
    }
    if (m[0] == ' ' || m[0] == '\t') {
        return !padded_level(m, n);
    }
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        if (has_prefix(m, n, prefixes[i])) {
            return 1;
        }
    }
    /* "... 42 more" */
    return has_prefix(m, n, "... ") && n > 4 && m[4] >= '0' && m[4] <= '9';
}

/* "java.lang.IllegalStateException: boom", "ValueError: x", "panic: ..." */
int clew_corr_scan_exception_header(const char *m, size_t n)
{
    if (has_prefix(m, n, "Exception in thread ") || has_prefix(m, n, "panic: ")) {
        return 1;
    }
    size_t i = 0, seg = 0;
    while (i < n && i < 256 && (key_char((unsigned char)m[i]) || m[i] == '$') && m[i] != '-') {
        seg = m[i] == '.' ? i + 1 : seg;
        i++;
    }
    if (i == 0 || (i < n && m[i] != ':') || i == 256) {
        return 0;
    }
    if (!((m[0] >= 'a' && m[0] <= 'z') || (m[0] >= 'A' && m[0] <= 'Z') || m[0] == '_')) {
        return 0;
    }
    return clew_corr_scan_find(m + seg, i - seg, "Exception", 9) != NULL ||
           clew_corr_scan_find(m + seg, i - seg, "Error", 5) != NULL ||
           clew_corr_scan_find(m + seg, i - seg, "Throwable", 9) != NULL;
}

/* ------------------------------------------------------------ documents */

int clew_corr_scan_has_trace(const struct clew_corr_doc *d)
{
    for (int g = 0; g < CLEW_CORR_GR_COUNT; g++) {
        if (d->g[g].trace.len > 0) {
            return 1;
        }
    }
    return 0;
}

void clew_corr_scan_finish(struct clew_corr_doc *d)
{
    if (d->tp_seen > 1) { /* two traceparents: invalid, ignore both */
        memset(&d->g[CLEW_CORR_GR_TP], 0, sizeof(d->g[CLEW_CORR_GR_TP]));
    }
}
