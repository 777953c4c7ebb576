/* SPDX-License-Identifier: MIT
 * json_scan: the tokenizer works on raw bytes with a cursor. Strings are
 * scanned eight bytes at a time while they hold plain ASCII; escapes, raw
 * control bytes and non-ASCII sequences take the slow path, which also
 * counts the decoded length so callers can size buffers exactly. Containers
 * skipped whole are walked iteratively: one bit per open level says object
 * or array. Numbers follow jansson: integers must fit int64, reals must not
 * overflow a double (checked from the decimal exponent; only values near
 * 1e308 are converted to find out). */
#include "common/json_scan.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clew/error.h"

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SWAR 1
#endif

#define ONES    0x0101010101010101ull
#define HIGHS   0x8080808080808080ull
#define SIG_MAX 800 /* significant digits kept before strtod (a double needs <= 767) */

static inline bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static inline const uint8_t *skip_ws(const uint8_t *p, const uint8_t *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {
        p++;
    }
    return p;
}

static inline bool plain(uint8_t c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* The first byte at or after p that is not plain string text (a quote, a
 * backslash, a control byte or a non-ASCII byte), or end. Sixteen bytes at a
 * time with SSE2 (a signed compare below 0x20 catches both control and
 * non-ASCII bytes), else eight with SWAR, then byte by byte. */
static const uint8_t *skip_plain(const uint8_t *p, const uint8_t *end)
{
#if defined(__SSE2__) && defined(__GNUC__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                                 _mm_cmplt_epi8(x, space));
        int bits = _mm_movemask_epi8(m);
        if (bits != 0) {
            return p + __builtin_ctz((unsigned)bits);
        }
        p += 16;
    }
#elif defined(SWAR)
    while (end - p >= 8) {
        uint64_t w, q, b;
        memcpy(&w, p, 8);
        q = w ^ (ONES * '"');
        b = w ^ (ONES * '\\');
        /* Per byte: < 0x20, == '"', == '\\', >= 0x80. The lowest flagged
         * byte is exact (borrows only run upwards from a flagged byte). */
        uint64_t m = (((w - ONES * 0x20) & ~w) | ((q - ONES) & ~q) | ((b - ONES) & ~b) | w) & HIGHS;
        if (m != 0) {
            return p + (__builtin_ctzll(m) >> 3);
        }
        p += 8;
    }
#endif
    while (p < end && plain(*p)) {
        p++;
    }
    return p;
}

/* Length of the valid UTF-8 sequence at p (jansson's rules: no overlongs,
 * no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const uint8_t *p, size_t left)
{
    uint8_t c = p[0];
    size_t n = c < 0x80 ? 1 : c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
    if (n <= 1 || n > left) {
        return n > left ? 0 : n;
    }
    uint32_t cp = c & (0x3f >> (n - 1));
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (p[i] & 0x3f);
    }
    bool overlong = (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
    if (overlong || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return n;
}

/* Four hex digits at p (the caller checked they are there), or -1. */
static int hex4(const uint8_t *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) {
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

/* A low surrogate escape at p (6 bytes available), or -1. */
static int low_surrogate(const uint8_t *p, const uint8_t *end)
{
    if (end - p < 6 || p[0] != '\\' || p[1] != 'u') {
        return -1;
    }
    int lo = hex4(p + 2);
    return lo >= 0xdc00 && lo <= 0xdfff ? lo : -1;
}

/* ---- strings ---- */

static bool simple_escape(uint8_t c)
{
    return c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
           c == 't';
}

/* The escape at *pp (a backslash): validated and stepped over; *delta gets
 * the decoded length minus the raw one. */
static int scan_escape(const struct clew_json_scan *s, const uint8_t **pp, struct clew_json_val *v,
                       ptrdiff_t *delta)
{
    const uint8_t *p = *pp;
    v->flags |= CLEW_JSON_F_ESC;
    if (s->end - p >= 2 && simple_escape(p[1])) {
        *pp = p + 2;
        *delta -= 1;
        return 0;
    }
    int cp = s->end - p >= 6 && p[1] == 'u' ? hex4(p + 2) : -1;
    if (cp < 0) {
        return CLEW_JSON_ESYNTAX;
    }
    if (cp >= 0xd800 && cp <= 0xdbff && low_surrogate(p + 6, s->end) >= 0) {
        *pp = p + 12;
        *delta -= 8; /* 12 bytes give one 4-byte sequence */
        return 0;
    }
    if (cp >= 0xd800 && cp <= 0xdfff) {
        if (!(s->opts & CLEW_JSON_REPAIR)) {
            return CLEW_JSON_ESTRING;
        }
        v->flags |= CLEW_JSON_F_FIX; /* a lone surrogate: U+FFFD */
        cp = 0xfffd;
    }
    v->flags |= cp == 0 ? CLEW_JSON_F_NUL : 0;
    *pp = p + 6;
    *delta -= 6 - (cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3);
    return 0;
}

/* A byte at *pp that is neither plain, a quote nor a backslash. */
static int scan_odd_byte(const struct clew_json_scan *s, const uint8_t **pp,
                         struct clew_json_val *v, ptrdiff_t *delta)
{
    const uint8_t *p = *pp;
    size_t n = *p < 0x20 ? 0 : utf8_len(p, (size_t)(s->end - p));
    if (n != 0) {
        *pp = p + n;
        return 0;
    }
    if (!(s->opts & CLEW_JSON_REPAIR)) {
        return CLEW_JSON_ESTRING;
    }
    v->flags |= CLEW_JSON_F_FIX;
    if (*p < 0x20) {
        v->flags |= *p == 0 ? CLEW_JSON_F_NUL : 0; /* a control byte is kept */
    } else {
        *delta += 2; /* one bad byte becomes the 3 bytes of U+FFFD */
    }
    *pp = p + 1;
    return 0;
}

/* The string whose opening quote is at *pp. */
static int scan_string(struct clew_json_scan *s, const uint8_t **pp, struct clew_json_val *v)
{
    const uint8_t *start = *pp, *p = start + 1;
    ptrdiff_t delta = 0;
    int rc = 0;
    v->kind = CLEW_JSON_STRING;
    v->flags = 0;
    for (;;) {
        p = skip_plain(p, s->end);
        if (p == s->end) {
            rc = CLEW_JSON_ESYNTAX;
        } else if (*p == '"') {
            break;
        } else if (*p == '\\') {
            rc = scan_escape(s, &p, v, &delta);
        } else {
            rc = scan_odd_byte(s, &p, v, &delta);
        }
        if (rc != 0) {
            *pp = p;
            return rc;
        }
    }
    p++;
    v->ptr = (const char *)start;
    v->len = (size_t)(p - start);
    v->dlen = (size_t)((ptrdiff_t)v->len - 2 + delta);
    s->fixes += (v->flags & CLEW_JSON_F_FIX) ? 1 : 0;
    *pp = p;
    return 0;
}

/* ---- numbers ---- */

/* jansson's lexer drops one NUL byte that follows a number or a literal (its
 * look-ahead byte is pushed back and then mistaken for an empty buffer). */
static const uint8_t *quirk_nul(const struct clew_json_scan *s, const uint8_t *p)
{
    return (s->opts & CLEW_JSON_NUL_AFTER) && p < s->end && *p == 0 ? p + 1 : p;
}

/* A number's value as D x 10^e10, D being its significant digits. */
struct decimal {
    const char *sig; /* first significant digit (a '.' may follow later)   */
    const char *end; /* end of the mantissa text                           */
    uint64_t m;      /* the first 19 significant digits as an integer      */
    int64_t nsig;    /* significant digits (trailing zeros included)        */
    int64_t e10;     /* exponent of the last digit                          */
    bool neg;
};

static int64_t read_exponent(const char *p, const char *end)
{
    bool neg = false;
    int64_t e = 0;
    if (p < end && (*p == '+' || *p == '-')) {
        neg = *p++ == '-';
    }
    for (; p < end; p++) {
        e = e < 1000000000000LL ? e * 10 + (*p - '0') : e; /* saturates */
    }
    return neg ? -e : e;
}

/* Splits a validated number (text p..end) into a struct decimal. */
static void decimal_of(const char *p, const char *end, struct decimal *d)
{
    int64_t frac = -1; /* digits after the point, once it is seen */
    memset(d, 0, sizeof(*d));
    d->neg = *p == '-';
    p += d->neg ? 1 : 0;
    for (; p < end && *p != 'e' && *p != 'E'; p++) {
        if (*p == '.') {
            frac = 0;
            continue;
        }
        frac += frac >= 0 ? 1 : 0;
        if (d->nsig == 0 && *p == '0') {
            continue;
        }
        if (d->nsig == 0) {
            d->sig = p;
        }
        d->m = d->nsig < 19 ? d->m * 10 + (uint64_t)(*p - '0') : d->m;
        d->nsig++;
    }
    d->end = p;
    int64_t e = p < end ? read_exponent(p + 1, end) : 0;
    d->e10 = e - (frac > 0 ? frac : 0);
}

/* The value by strtod on a rewritten text: at most SIG_MAX significant
 * digits plus a sticky 1 for any non-zero digit cut off, which rounds the
 * same (every midpoint between doubles has fewer digits), and no '.', so the
 * locale's decimal point does not matter. */
static double decimal_slow(const struct decimal *d)
{
    char buf[SIG_MAX + 40];
    size_t n = 0;
    int64_t kept = 0;
    bool sticky = false;
    buf[n++] = d->neg ? '-' : '+';
    for (const char *p = d->sig; p < d->end; p++) {
        if (*p == '.') {
            continue;
        }
        if (kept < SIG_MAX) {
            buf[n++] = *p;
            kept++;
        } else if (*p != '0') {
            sticky = true;
            break;
        }
    }
    int64_t e = d->e10 + (d->nsig - kept);
    if (sticky) {
        buf[n++] = '1';
        e--;
    }
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "e%lld", (long long)e);
    return strtod(buf, NULL);
}

static const double pow10_exact[] = { 1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };

/* The double nearest the decimal; 0 or CLEW_JSON_ERANGE (infinite). */
static int decimal_value(const struct decimal *d, double *out)
{
    int64_t lead = d->nsig + d->e10 - 1; /* power of ten of the first digit */
    double v;
    if (d->nsig == 0 || lead < -400) {
        v = 0.0;
    } else if (lead > 308) {
        return CLEW_JSON_ERANGE;
    } else if (d->nsig <= 15 && d->e10 >= -22 && d->e10 <= 22) {
        /* Both operands exact, one rounding: the correctly rounded result. */
        v = d->e10 >= 0 ? (double)d->m * pow10_exact[d->e10] : (double)d->m / pow10_exact[-d->e10];
    } else {
        v = fabs(decimal_slow(d));
    }
    if (isinf(v)) {
        return CLEW_JSON_ERANGE;
    }
    *out = d->neg ? -v : v;
    return 0;
}

/* jansson refuses a real that overflows; only values near 1e308 are
 * converted to find out. */
static bool real_overflows(const char *p, const char *end)
{
    struct decimal d;
    double v;
    decimal_of(p, end, &d);
    int64_t lead = d.nsig + d.e10 - 1;
    if (d.nsig == 0 || lead < 308) {
        return false;
    }
    return lead > 308 || decimal_value(&d, &v) != 0;
}

static const uint8_t *skip_digits(const uint8_t *p, const uint8_t *end)
{
    while (p < end && is_digit(*p)) {
        p++;
    }
    return p;
}

static bool int_fits(const uint8_t *digits, size_t n, bool neg)
{
    return n < 19 || (n == 19 &&
                      memcmp(digits, neg ? "9223372036854775808" : "9223372036854775807", 19) <= 0);
}

static int scan_number(const struct clew_json_scan *s, const uint8_t **pp, struct clew_json_val *v)
{
    const uint8_t *start = *pp, *p = start, *end = s->end, *ip;
    bool real = false;
    p += *p == '-' ? 1 : 0;
    ip = p;
    if (p == end || !is_digit(*p) || (*p == '0' && p + 1 < end && is_digit(p[1]))) {
        *pp = p;
        return CLEW_JSON_ESYNTAX; /* no digit, or a leading zero */
    }
    p = skip_digits(p, end);
    size_t idig = (size_t)(p - ip);
    if (p < end && *p == '.') {
        real = true;
        p++;
        if (p == end || !is_digit(*p)) {
            *pp = p;
            return CLEW_JSON_ESYNTAX;
        }
        p = skip_digits(p, end);
    }
    bool has_exp = p < end && (*p == 'e' || *p == 'E');
    if (has_exp) {
        real = true;
        p += p + 1 < end && (p[1] == '+' || p[1] == '-') ? 2 : 1;
        if (p >= end || !is_digit(*p)) {
            *pp = p < end ? p : end;
            return CLEW_JSON_ESYNTAX;
        }
        p = skip_digits(p, end);
    }
    v->ptr = (const char *)start;
    v->len = (size_t)(p - start);
    v->dlen = 0;
    v->kind = CLEW_JSON_NUMBER;
    v->flags = real ? CLEW_JSON_F_REAL : 0;
    bool range = real ? !((has_exp || idig > 308) && real_overflows(v->ptr, v->ptr + v->len))
                      : int_fits(ip, idig, *start == '-');
    if (!range) {
        *pp = start;
        return CLEW_JSON_ERANGE;
    }
    *pp = quirk_nul(s, p);
    return 0;
}

/* ---- scalars and containers ---- */

static int scan_literal(const struct clew_json_scan *s, const uint8_t **pp, struct clew_json_val *v)
{
    static const char *const words[3] = { "true", "false", "null" };
    const uint8_t *p = *pp;
    int i = *p == 't' ? 0 : *p == 'f' ? 1 : 2;
    size_t n = strlen(words[i]);
    if ((size_t)(s->end - p) < n || memcmp(p, words[i], n) != 0) {
        return CLEW_JSON_ESYNTAX;
    }
    v->ptr = (const char *)p;
    v->len = n;
    v->dlen = 0;
    v->kind = (uint8_t)(CLEW_JSON_TRUE + i);
    v->flags = 0;
    *pp = quirk_nul(s, p + n);
    return 0;
}

/* The scalar at *pp (not at the end of the text). */
static int scan_scalar(struct clew_json_scan *s, const uint8_t **pp, struct clew_json_val *v)
{
    uint8_t c = **pp;
    if (c == '"') {
        return scan_string(s, pp, v);
    }
    if (c == 't' || c == 'f' || c == 'n') {
        return scan_literal(s, pp, v);
    }
    if (c == '-' || is_digit(c)) {
        return scan_number(s, pp, v);
    }
    return CLEW_JSON_ESYNTAX;
}

/* A key, its ':' and the whitespace before the value. */
static int scan_key(struct clew_json_scan *s, const uint8_t **pp, struct clew_json_val *k)
{
    const uint8_t *p = *pp;
    int rc = p < s->end && *p == '"' ? scan_string(s, &p, k) : CLEW_JSON_ESYNTAX;
    if (rc == 0 && (s->opts & CLEW_JSON_NO_NUL_KEY) && (k->flags & CLEW_JSON_F_NUL)) {
        p = *pp;
        rc = CLEW_JSON_ENULKEY;
    }
    if (rc == 0) {
        p = skip_ws(p, s->end);
        rc = p < s->end && *p == ':' ? 0 : CLEW_JSON_ESYNTAX;
        p = rc == 0 ? skip_ws(p + 1, s->end) : p;
    }
    *pp = p;
    return rc;
}

/* The open containers of a value being skipped: one bit per level. */
struct nest {
    uint64_t objs[CLEW_JSON_MAX_DEPTH / 64];
    unsigned open;
    uint8_t flags;
};

static bool nest_top_is_obj(const struct nest *n)
{
    unsigned i = n->open - 1;
    return (n->objs[i / 64] >> (i % 64)) & 1u;
}

/* The value at *pp inside a skip: a scalar or an empty container gives 0; a
 * container with contents gives 1 with *pp at its first value. */
static int nest_value(struct clew_json_scan *s, struct nest *n, const uint8_t **pp)
{
    const uint8_t *p = *pp;
    struct clew_json_val v;
    if (p == s->end) {
        return CLEW_JSON_ESYNTAX;
    }
    if (s->depth + n->open + 1 > s->max_depth) {
        return CLEW_JSON_EDEPTH;
    }
    if (*p != '{' && *p != '[') {
        int rc = scan_scalar(s, pp, &v);
        n->flags |= rc == 0 ? v.flags : 0;
        return rc;
    }
    bool obj = *p == '{';
    uint64_t bit = 1ull << (n->open % 64);
    n->objs[n->open / 64] = obj ? n->objs[n->open / 64] | bit : n->objs[n->open / 64] & ~bit;
    n->open++;
    p = skip_ws(p + 1, s->end);
    if (p < s->end && *p == (obj ? '}' : ']')) {
        n->open--;
        *pp = p + 1;
        return 0;
    }
    struct clew_json_val k;
    int rc = obj ? scan_key(s, &p, &k) : 0;
    n->flags |= rc == 0 && obj ? k.flags : 0;
    *pp = p;
    return rc < 0 ? rc : 1;
}

/* After a value inside a skip: closes finished containers; 1 when the
 * outermost one closed, 0 with *pp at the next value, or an error. */
static int nest_next(struct clew_json_scan *s, struct nest *n, const uint8_t **pp)
{
    const uint8_t *p = *pp;
    int rc = 1;
    while (n->open > 0) {
        p = skip_ws(p, s->end);
        bool obj = nest_top_is_obj(n);
        if (p < s->end && *p == (obj ? '}' : ']')) {
            p++;
            n->open--;
            continue;
        }
        if (p == s->end || *p != ',') {
            rc = CLEW_JSON_ESYNTAX;
            break;
        }
        p = skip_ws(p + 1, s->end);
        struct clew_json_val k;
        rc = obj ? scan_key(s, &p, &k) : 0;
        n->flags |= rc == 0 && obj ? k.flags : 0;
        break;
    }
    *pp = p;
    return rc;
}

/* Validates the container whose bracket is at *pp, without recursion. */
static int skip_container(struct clew_json_scan *s, const uint8_t **pp, uint8_t *flags)
{
    struct nest n;
    int rc;
    n.open = 0;
    n.flags = 0;
    for (;;) {
        rc = nest_value(s, &n, pp);
        if (rc < 0) {
            break;
        }
        if (rc == 0 && (rc = nest_next(s, &n, pp)) != 0) {
            break;
        }
    }
    *flags = n.flags;
    return rc < 0 ? rc : 0;
}

/* ---- API ---- */

void clew_json_scan_init(struct clew_json_scan *s, const void *text, size_t len, unsigned opts,
                         unsigned max_depth)
{
    s->p = text;
    s->end = s->p + len;
    s->base = s->p;
    s->opts = opts;
    s->max_depth =
        max_depth == 0 || max_depth > CLEW_JSON_MAX_DEPTH ? CLEW_JSON_MAX_DEPTH : max_depth;
    s->depth = 0;
    s->first = 0;
    s->fixes = 0;
}

int clew_json_scan_peek(struct clew_json_scan *s)
{
    s->p = skip_ws(s->p, s->end);
    if (s->p == s->end) {
        return CLEW_JSON_ESYNTAX;
    }
    switch (*s->p) {
    case '{':
        return CLEW_JSON_OBJECT;
    case '[':
        return CLEW_JSON_ARRAY;
    case '"':
        return CLEW_JSON_STRING;
    case 't':
        return CLEW_JSON_TRUE;
    case 'f':
        return CLEW_JSON_FALSE;
    case 'n':
        return CLEW_JSON_NULL;
    default:
        return *s->p == '-' || is_digit(*s->p) ? CLEW_JSON_NUMBER : CLEW_JSON_ESYNTAX;
    }
}

int clew_json_scan_value(struct clew_json_scan *s, struct clew_json_val *v)
{
    int kind = clew_json_scan_peek(s);
    if (kind < 0) {
        return kind;
    }
    if (s->depth + 1 > s->max_depth) {
        return CLEW_JSON_EDEPTH;
    }
    const uint8_t *p = s->p;
    int rc;
    if (kind == CLEW_JSON_OBJECT || kind == CLEW_JSON_ARRAY) {
        uint8_t flags = 0;
        rc = skip_container(s, &p, &flags);
        v->ptr = (const char *)s->p;
        v->len = (size_t)(p - s->p);
        v->dlen = 0;
        v->kind = (uint8_t)kind;
        v->flags = flags;
    } else {
        rc = scan_scalar(s, &p, v);
    }
    s->p = p;
    return rc;
}

int clew_json_scan_enter(struct clew_json_scan *s)
{
    int kind = clew_json_scan_peek(s);
    if (kind < 0) {
        return kind;
    }
    if (kind != CLEW_JSON_OBJECT && kind != CLEW_JSON_ARRAY) {
        return CLEW_JSON_EKIND;
    }
    if (s->depth + 1 > s->max_depth) {
        return CLEW_JSON_EDEPTH;
    }
    s->p++;
    s->depth++;
    s->first = 1;
    return kind;
}

/* The closing bracket c at the cursor ends the innermost container. */
static int close_container(struct clew_json_scan *s)
{
    if (s->depth == 0) {
        return CLEW_JSON_ESYNTAX;
    }
    s->p++;
    s->depth--;
    s->first = 0;
    return 0;
}

int clew_json_scan_key(struct clew_json_scan *s, struct clew_json_val *key)
{
    const uint8_t *p = skip_ws(s->p, s->end);
    s->p = p;
    if (p == s->end) {
        return CLEW_JSON_ESYNTAX;
    }
    if (*p == '}') {
        return close_container(s);
    }
    if (!s->first) {
        if (*p != ',') {
            return CLEW_JSON_ESYNTAX;
        }
        p = skip_ws(p + 1, s->end);
    }
    int rc = scan_key(s, &p, key);
    s->p = p;
    if (rc != 0) {
        return rc;
    }
    s->first = 0;
    return 1;
}

int clew_json_scan_member(struct clew_json_scan *s, struct clew_json_val *key,
                          struct clew_json_val *val)
{
    int rc = clew_json_scan_key(s, key);
    if (rc != 1) {
        return rc;
    }
    rc = clew_json_scan_value(s, val);
    return rc < 0 ? rc : 1;
}

int clew_json_scan_item(struct clew_json_scan *s)
{
    const uint8_t *p = skip_ws(s->p, s->end);
    s->p = p;
    if (p == s->end) {
        return CLEW_JSON_ESYNTAX;
    }
    if (*p == ']') {
        return close_container(s);
    }
    if (!s->first) {
        if (*p != ',') {
            return CLEW_JSON_ESYNTAX;
        }
        s->p = skip_ws(p + 1, s->end);
    }
    s->first = 0;
    return 1;
}

int clew_json_scan_end(struct clew_json_scan *s)
{
    s->p = skip_ws(s->p, s->end);
    return s->p == s->end && s->depth == 0 ? 0 : CLEW_JSON_ESYNTAX;
}

size_t clew_json_scan_offset(const struct clew_json_scan *s)
{
    return (size_t)(s->p - s->base);
}

/* ---- decoding ---- */

static size_t utf8_put(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* The escape at p (validated by the scan); returns the byte after it. */
static const uint8_t *decode_escape(const uint8_t *p, const uint8_t *end, char **o)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit = end - p >= 2 && p[1] != 0 ? strchr(from, p[1]) : NULL;
    if (hit != NULL) {
        *(*o)++ = to[hit - from];
        return p + 2;
    }
    int cp = end - p >= 6 && p[1] == 'u' ? hex4(p + 2) : -1;
    if (cp < 0) {
        return end; /* cannot happen after a scan */
    }
    int lo = cp >= 0xd800 && cp <= 0xdbff ? low_surrogate(p + 6, end) : -1;
    if (lo >= 0) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        p += 6;
    } else if (cp >= 0xd800 && cp <= 0xdfff) {
        cp = 0xfffd;
    }
    *o += utf8_put(*o, (uint32_t)cp);
    return p + 6;
}

size_t clew_json_str_decode(const struct clew_json_val *v, char *out)
{
    if (v->kind != CLEW_JSON_STRING || v->len < 2) {
        return 0;
    }
    const uint8_t *p = (const uint8_t *)v->ptr + 1, *end = (const uint8_t *)v->ptr + v->len - 1;
    char *o = out;
    while (p < end) {
        const uint8_t *q = skip_plain(p, end);
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        p = q;
        if (p == end) {
            break;
        }
        if (*p == '\\') {
            p = decode_escape(p, end, &o);
            continue;
        }
        size_t n = *p < 0x80 ? 1 : utf8_len(p, (size_t)(end - p));
        if (n == 0) {
            memcpy(o, "\xef\xbf\xbd", 3); /* repair: U+FFFD */
            o += 3;
            p++;
            continue;
        }
        memcpy(o, p, n); /* valid UTF-8, or a raw control byte kept */
        o += n;
        p += n;
    }
    return (size_t)(o - out);
}

int clew_json_num_i64(const struct clew_json_val *v, int64_t *out)
{
    if (v->kind != CLEW_JSON_NUMBER || (v->flags & CLEW_JSON_F_REAL) || v->len == 0) {
        return CLEW_JSON_EKIND;
    }
    const char *p = v->ptr, *end = v->ptr + v->len;
    bool neg = *p == '-';
    p += neg ? 1 : 0;
    if (!int_fits((const uint8_t *)p, (size_t)(end - p), neg)) {
        return CLEW_JSON_ERANGE;
    }
    uint64_t u = 0;
    for (; p < end; p++) {
        u = u * 10 + (uint64_t)(*p - '0');
    }
    *out = neg ? (int64_t)(0 - u) : (int64_t)u;
    return 0;
}

int clew_json_num_f64(const struct clew_json_val *v, double *out)
{
    if (v->kind != CLEW_JSON_NUMBER || v->len == 0) {
        return CLEW_JSON_EKIND;
    }
    struct decimal d;
    decimal_of(v->ptr, v->ptr + v->len, &d);
    return decimal_value(&d, out);
}

const char *clew_json_strerror(int rc)
{
    switch (rc) {
    case CLEW_JSON_ESYNTAX:
        return "JSON: syntax error";
    case CLEW_JSON_EDEPTH:
        return "JSON: nested too deeply";
    case CLEW_JSON_ERANGE:
        return "JSON: number out of range";
    case CLEW_JSON_ESTRING:
        return "JSON: invalid UTF-8, control byte or lone surrogate in a string";
    case CLEW_JSON_ENULKEY:
        return "JSON: NUL in an object key";
    case CLEW_JSON_EKIND:
        return "JSON: value of the wrong kind";
    default:
        return clew_strerror(rc);
    }
}
