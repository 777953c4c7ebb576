/* SPDX-License-Identifier: MIT
 * gelf_parse: GELF payload -> record. Steps: sniff the first two bytes,
 * inflate with a hard output cap, load the JSON with jansson (repairing bad
 * UTF-8 inside strings once if jansson refuses it), then map the object onto
 * the record and re-serialise the remaining keys as the fields object. */
#include "collector/gelf_parse.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "clew/error.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/timeutil.h"

#define MAX_SECONDS 9000000000LL /* keeps seconds * 1e9 inside int64 */

int clew_gelf_sniff(const void *payload, size_t len)
{
    const uint8_t *p = payload;
    if (len < 2) {
        return CLEW_GELF_EMAGIC;
    }
    switch (p[0]) {
    case 0x1e:
        return p[1] == 0x0f ? CLEW_GELF_CHUNK : CLEW_GELF_EMAGIC;
    case 0x1f:
        return p[1] == 0x8b ? CLEW_GELF_GZIP : CLEW_GELF_EMAGIC;
    case 0x78:
        return (0x78 * 256 + p[1]) % 31 == 0 ? CLEW_GELF_ZLIB : CLEW_GELF_EMAGIC;
    default:
        return CLEW_GELF_PLAIN;
    }
}

size_t clew_gelf_nul_frame(const void *buf, size_t len, size_t *msg_len)
{
    const uint8_t *nul = len ? memchr(buf, 0, len) : NULL;
    if (nul == NULL) {
        return 0;
    }
    *msg_len = (size_t)(nul - (const uint8_t *)buf);
    return *msg_len + 1;
}

const char *clew_gelf_strerror(int rc)
{
    switch (rc) {
    case CLEW_GELF_EMAGIC:
        return "GELF: not a GELF payload (bad magic bytes)";
    case CLEW_GELF_EINFLATE:
        return "GELF: compressed payload is damaged";
    case CLEW_GELF_EJSON:
        return "GELF: payload is not valid JSON";
    case CLEW_GELF_ENOTOBJ:
        return "GELF: payload is not a JSON object";
    case CLEW_GELF_ENOMSG:
        return "GELF: no short_message";
    default:
        return clew_strerror(rc);
    }
}

/* ---- decompression ---- */

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return clew_malloc((size_t)items * size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    clew_free(p);
}

/* First guess for the output size: gzip's ISIZE trailer when plausible. */
static size_t inflate_guess(const uint8_t *p, size_t len, bool gzip, size_t cap)
{
    size_t guess = len * 4;
    if (gzip && len >= 18) {
        uint32_t isize = (uint32_t)p[len - 4] | (uint32_t)p[len - 3] << 8 |
                         (uint32_t)p[len - 2] << 16 | (uint32_t)p[len - 1] << 24;
        guess = (size_t)isize + 1; /* + 1: room to see the stream end */
        if (guess / 1100 > len) {
            guess = len * 1100; /* deflate cannot expand more than ~1032:1 */
        }
    }
    if (guess < 4096) {
        guess = 4096;
    }
    return guess > cap + 1 ? cap + 1 : guess;
}

/* Grows *buf towards cap + 1 bytes (one past the cap shows an overflow). */
static int inflate_grow(z_stream *z, uint8_t **buf, size_t *size, size_t cap)
{
    if (*size > cap) {
        return CLEW_ETOOBIG;
    }
    size_t n = *size > (cap + 1) / 2 ? cap + 1 : *size * 2;
    uint8_t *nb = clew_realloc(*buf, n);
    if (nb == NULL) {
        return -ENOMEM;
    }
    size_t used = *size - z->avail_out;
    *buf = nb;
    z->next_out = nb + used;
    z->avail_out = (uInt)(n - used);
    *size = n;
    return 0;
}

static int inflate_run(z_stream *z, uint8_t **buf, size_t *size, size_t cap)
{
    for (;;) {
        int zrc = inflate(z, Z_NO_FLUSH);
        if (zrc == Z_STREAM_END) {
            return 0;
        }
        if (zrc == Z_MEM_ERROR) {
            return -ENOMEM;
        }
        if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
            return CLEW_GELF_EINFLATE;
        }
        if (z->avail_out != 0) {
            return CLEW_GELF_EINFLATE; /* input ended before the stream did */
        }
        int rc = inflate_grow(z, buf, size, cap);
        if (rc != 0) {
            return rc;
        }
    }
}

/* Inflates a gzip or zlib payload into a new heap buffer (caller frees). */
static int inflate_payload(const uint8_t *p, size_t len, bool gzip, size_t cap, uint8_t **out,
                           size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    z.zalloc = z_alloc;
    z.zfree = z_free;
    if (len > UINT_MAX) {
        return CLEW_ETOOBIG;
    }
    if (cap > UINT_MAX - 1) {
        cap = UINT_MAX - 1; /* zlib counts in uInt */
    }
    size_t size = inflate_guess(p, len, gzip, cap);
    uint8_t *buf = clew_malloc(size);
    if (buf == NULL) {
        return -ENOMEM;
    }
    int zrc = inflateInit2(&z, gzip ? 15 + 16 : 15);
    if (zrc != Z_OK) {
        clew_free(buf);
        return zrc == Z_MEM_ERROR ? -ENOMEM : CLEW_GELF_EINFLATE;
    }
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)len;
    z.next_out = buf;
    z.avail_out = (uInt)size;
    int rc = inflate_run(&z, &buf, &size, cap);
    size_t n = size - z.avail_out;
    inflateEnd(&z);
    if (rc == 0 && n > cap) {
        rc = CLEW_ETOOBIG;
    }
    if (rc != 0) {
        clew_free(buf);
        return rc;
    }
    *out = buf;
    *out_len = n;
    return 0;
}

/* ---- JSON loading and repair ---- */

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

/* Output of the repair pass; with out == NULL it only measures. */
struct fix {
    uint8_t *out;
    size_t len;
    size_t fixes;
};

static void fix_put(struct fix *f, const void *p, size_t n)
{
    if (f->out != NULL) {
        memcpy(f->out + f->len, p, n);
    }
    f->len += n;
}

static int hex4(const uint8_t *p, size_t left)
{
    int v = 0;
    if (left < 4) {
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        int c = p[i], d;
        d = c >= '0' && c <= '9'   ? c - '0'
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

/* A backslash escape at p[0] inside a string: copied, except a lone UTF-16
 * surrogate, which becomes \ufffd. Returns the bytes consumed. */
static size_t fix_escape(struct fix *f, const uint8_t *p, size_t left)
{
    if (left < 2 || p[1] != 'u') {
        fix_put(f, p, left < 2 ? left : 2);
        return left < 2 ? left : 2;
    }
    int cp = hex4(p + 2, left - 2);
    if (cp < 0xd800 || cp > 0xdfff) {
        fix_put(f, p, 2); /* bad hex stays a syntax error */
        return 2;
    }
    if (cp <= 0xdbff && left >= 12 && p[6] == '\\' && p[7] == 'u') {
        int lo = hex4(p + 8, left - 8);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
            fix_put(f, p, 12);
            return 12;
        }
    }
    fix_put(f, "\\ufffd", 6);
    f->fixes++;
    return 6;
}

/* One step inside a string at p; returns bytes consumed, clears *in_str at
 * the closing quote. */
static size_t fix_string_byte(struct fix *f, const uint8_t *p, size_t left, bool *in_str)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t c = p[0];
    if (c == '\\') {
        return fix_escape(f, p, left);
    }
    if (c == '"') {
        *in_str = false;
    }
    if (c < 0x20) {
        char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
        fix_put(f, esc, 6);
        f->fixes++;
        return 1;
    }
    size_t n = utf8_len(p, left);
    if (n == 0) {
        fix_put(f, "\xef\xbf\xbd", 3);
        f->fixes++;
        return 1;
    }
    fix_put(f, p, n);
    return n;
}

static void fix_run(struct fix *f, const uint8_t *p, size_t len)
{
    bool in_str = false;
    size_t i = 0;
    while (i < len) {
        if (in_str) {
            i += fix_string_byte(f, p + i, len - i, &in_str);
            continue;
        }
        in_str = p[i] == '"';
        fix_put(f, p + i, 1);
        i++;
    }
}

static int load_repaired(const uint8_t *text, size_t len, struct clew_gelf_stats *stats,
                         json_t **root)
{
    struct fix f = { NULL, 0, 0 };
    fix_run(&f, text, len);
    if (f.fixes == 0) {
        return CLEW_GELF_EJSON;
    }
    f.out = clew_malloc(f.len ? f.len : 1);
    if (f.out == NULL) {
        return -ENOMEM;
    }
    f.len = 0;
    fix_run(&f, text, len);
    json_error_t err;
    *root = json_loadb((const char *)f.out, f.len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &err);
    clew_free(f.out);
    if (*root == NULL) {
        return json_error_code(&err) == json_error_out_of_memory ? -ENOMEM : CLEW_GELF_EJSON;
    }
    if (stats != NULL) {
        stats->repaired++;
    }
    return 0;
}

static int load_json(const uint8_t *text, size_t len, struct clew_gelf_stats *stats, json_t **out)
{
    json_error_t err;
    json_t *root = json_loadb((const char *)text, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &err);
    if (root == NULL) {
        if (json_error_code(&err) == json_error_out_of_memory) {
            return -ENOMEM;
        }
        int rc = load_repaired(text, len, stats, &root);
        if (rc != 0) {
            return rc;
        }
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return CLEW_GELF_ENOTOBJ;
    }
    *out = root;
    return 0;
}

/* ---- JSON writing (the fields object) ---- */

static int put(struct clew_buf *b, const void *p, size_t n)
{
    return clew_buf_append(b, p, n);
}

/* The escape for a byte put_str must not copy raw; returns its length. */
static size_t escape_byte(uint8_t c, char esc[6])
{
    static const char hex[] = "0123456789abcdef";
    char named = c == '"'    ? '"'
                 : c == '\\' ? '\\'
                 : c == '\n' ? 'n'
                 : c == '\r' ? 'r'
                 : c == '\t' ? 't'
                 : c == '\b' ? 'b'
                 : c == '\f' ? 'f'
                             : 0;
    esc[0] = '\\';
    if (named != 0) {
        esc[1] = named;
        return 2;
    }
    memcpy(esc + 1, "u00", 3);
    esc[4] = hex[c >> 4];
    esc[5] = hex[c & 15];
    return 6;
}

static int put_str(struct clew_buf *b, const char *s, size_t n)
{
    if (clew_buf_reserve(b, n + 2) != 0 || put(b, "\"", 1) != 0) {
        return -ENOMEM;
    }
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        char esc[6];
        size_t elen = escape_byte(c, esc);
        if (put(b, s + run, i - run) != 0 || put(b, esc, elen) != 0) {
            return -ENOMEM;
        }
        run = i + 1;
    }
    return put(b, s + run, n - run) != 0 || put(b, "\"", 1) != 0 ? -ENOMEM : 0;
}

/* Shortest %g form that reads back as the same double. */
static int put_real(struct clew_buf *b, double v)
{
    char tmp[40];
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) {
            break;
        }
    }
    if (strpbrk(tmp, ".eE") == NULL && n < 38) {
        memcpy(tmp + n, ".0", 3); /* keep it a real: 100.0, not 100 */
        n += 2;
    }
    return put(b, tmp, (size_t)n);
}

static int put_value(struct clew_buf *b, const json_t *v);

static int put_object(struct clew_buf *b, const json_t *obj)
{
    const char *key;
    size_t klen;
    json_t *val;
    bool first = true;
    if (put(b, "{", 1) != 0) {
        return -ENOMEM;
    }
    json_object_keylen_foreach((json_t *)(uintptr_t)obj, key, klen, val)
    {
        if ((!first && put(b, ",", 1) != 0) || put_str(b, key, klen) != 0 || put(b, ":", 1) != 0 ||
            put_value(b, val) != 0) {
            return -ENOMEM;
        }
        first = false;
    }
    return put(b, "}", 1);
}

static int put_array(struct clew_buf *b, const json_t *arr)
{
    if (put(b, "[", 1) != 0) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        if ((i > 0 && put(b, ",", 1) != 0) || put_value(b, json_array_get(arr, i)) != 0) {
            return -ENOMEM;
        }
    }
    return put(b, "]", 1);
}

static int put_value(struct clew_buf *b, const json_t *v)
{
    char tmp[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return put_object(b, v);
    case JSON_ARRAY:
        return put_array(b, v);
    case JSON_STRING:
        return put_str(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return put(b, tmp, strlen(tmp));
    case JSON_REAL:
        return put_real(b, json_real_value(v));
    case JSON_TRUE:
        return put(b, "true", 4);
    case JSON_FALSE:
        return put(b, "false", 5);
    default:
        return put(b, "null", 4);
    }
}

/* ---- mapping ---- */

/* The top-level values the record consumed (left out of fields). */
struct used {
    const json_t *host, *msg, *ts, *level;
};

static const json_t *get_string(const json_t *root, const char *key)
{
    const json_t *v = json_object_get(root, key);
    return json_is_string(v) ? v : NULL;
}

static int dup_str(struct clew_arena *a, struct clew_str *dst, const char *s, size_t n)
{
    char *p = clew_arena_dup(a, s, n);
    if (p == NULL) {
        return -ENOMEM;
    }
    dst->ptr = p;
    dst->len = n;
    return 0;
}

/* Copies a string value, dropping a leading '/' when strip_slash is set. */
static int dup_json(struct clew_arena *a, struct clew_str *dst, const json_t *v, bool strip_slash)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (strip_slash && n > 0 && s[0] == '/') {
        s++;
        n--;
    }
    return dup_str(a, dst, s, n);
}

static int dup_lower(struct clew_arena *a, struct clew_str *dst, const json_t *v)
{
    int rc = dup_json(a, dst, v, false);
    if (rc == 0) {
        char *p = (char *)(uintptr_t)dst->ptr;
        for (size_t i = 0; i < dst->len; i++) {
            p[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
        }
    }
    return rc;
}

static bool nonempty(const json_t *v, bool strip_slash)
{
    size_t n = json_string_length(v);
    return v != NULL && n > (strip_slash && json_string_value(v)[0] == '/' ? 1u : 0u);
}

static int map_service(const json_t *root, struct clew_record *out, struct clew_arena *a)
{
    static const char *const keys[] = { "_service",
                                        "service",
                                        "_service.name",
                                        "service.name",
                                        "",
                                        "_app",
                                        "app",
                                        "_com.docker.compose.service",
                                        "_container_name",
                                        "_program" };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const json_t *v;
        if (keys[i][0] == '\0') { /* "_service": {"name": ...} */
            v = get_string(json_object_get(root, "_service"), "name");
        } else {
            v = get_string(root, keys[i]);
        }
        bool slash = strcmp(keys[i], "_container_name") == 0;
        if (nonempty(v, slash)) {
            return dup_json(a, &out->labels[CLEW_LABEL_SERVICE], v, slash);
        }
    }
    return 0;
}

/* Looks up "_name", then "name". */
static const json_t *get_extra(const json_t *root, const char *uname)
{
    const json_t *v = get_string(root, uname);
    return v != NULL ? v : get_string(root, uname + 1);
}

static int map_ids(const json_t *root, struct clew_record *out, struct clew_arena *a)
{
    const json_t *v;
    int rc = 0;
    if ((v = get_string(root, "_container_id")) != NULL) {
        rc = dup_json(a, &out->labels[CLEW_LABEL_CONTAINER_ID], v, false);
    }
    if (rc == 0 && (v = get_string(root, "_container_name")) != NULL) {
        rc = dup_json(a, &out->labels[CLEW_LABEL_CONTAINER_NAME], v, true);
    }
    if (rc == 0 && (v = get_string(root, "_stream")) != NULL) {
        rc = dup_json(a, &out->labels[CLEW_LABEL_STREAM], v, false);
    }
    if (rc == 0 && (v = get_extra(root, "_trace_id")) != NULL) {
        rc = dup_lower(a, &out->trace_id, v);
    }
    if (rc == 0 && (v = get_extra(root, "_span_id")) != NULL) {
        rc = dup_lower(a, &out->span_id, v);
    }
    if (rc == 0 && (v = get_extra(root, "_parent_span_id")) != NULL) {
        rc = dup_lower(a, &out->parent_span_id, v);
    }
    return rc;
}

/* Seconds as a decimal string ("1705314600.25"), exactly; 0 or -1. */
static int ts_from_decimal(const char *s, size_t n, int64_t *out)
{
    int64_t sec = 0, frac = 0, scale = CLEW_NS_PER_SEC;
    size_t i = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        if (sec >= MAX_SECONDS) {
            return -1;
        }
        sec = sec * 10 + (s[i] - '0');
    }
    if (i == 0) {
        return -1;
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            if (scale > 1) {
                scale /= 10;
                frac += (s[i] - '0') * scale;
            }
        }
    }
    if (i != n || sec >= MAX_SECONDS) {
        return -1;
    }
    *out = sec * CLEW_NS_PER_SEC + frac;
    return 0;
}

/* A double keeps ~16 significant digits: round the fraction to the finest
 * power of ten that is still above the double's resolution at this value. */
static int ts_from_real(double sec, int64_t *out)
{
    if (!(sec > 0) || sec >= (double)MAX_SECONDS) {
        return -1;
    }
    double ip = floor(sec);
    double ulp = nextafter(sec, INFINITY) - sec;
    double g = 1;
    while (g < 1e9 && g * 1e-9 < ulp) {
        g *= 10;
    }
    *out = (int64_t)ip * CLEW_NS_PER_SEC + (int64_t)(llround((sec - ip) * 1e9 / g) * (int64_t)g);
    return 0;
}

static int ts_of(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t s = json_integer_value(v);
        if (s <= 0 || s >= MAX_SECONDS) {
            return -1;
        }
        *out = (int64_t)s * CLEW_NS_PER_SEC;
        return 0;
    }
    if (json_is_real(v)) {
        return ts_from_real(json_real_value(v), out);
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (ts_from_decimal(s, n, out) == 0) {
            return *out > 0 ? 0 : -1;
        }
        return clew_time_parse_rfc3339(s, n, out) == 0 ? 0 : -1;
    }
    return -1;
}

static int level_of(const json_t *v)
{
    if (json_is_integer(v)) {
        json_int_t l = json_integer_value(v);
        return l >= 0 && l <= 7 ? (int)l : -1;
    }
    if (json_is_real(v)) {
        double l = json_real_value(v);
        return l >= 0 && l <= 7 && l == floor(l) ? (int)l : -1;
    }
    if (json_is_string(v)) {
        return clew_level_parse(json_string_value(v), json_string_length(v));
    }
    return -1;
}

/* The message: first non-empty of short_message, message, full_message;
 * all empty: the first present one. */
static const json_t *pick_message(const json_t *root)
{
    const json_t *cand[3] = { get_string(root, "short_message"), get_string(root, "message"),
                              get_string(root, "full_message") };
    for (size_t i = 0; i < 3; i++) {
        if (cand[i] != NULL && json_string_length(cand[i]) > 0) {
            return cand[i];
        }
    }
    return cand[0] != NULL ? cand[0] : cand[1] != NULL ? cand[1] : cand[2];
}

static int map_message(const json_t *root, const struct clew_gelf_parse_opts *opts,
                       struct clew_record *out, struct clew_arena *a, struct used *u)
{
    const json_t *m = pick_message(root);
    if (m == NULL) {
        return CLEW_GELF_ENOMSG;
    }
    /* full_message stays in fields even when it also became the message. */
    u->msg = m == json_object_get(root, "full_message") ? NULL : m;
    const char *s = json_string_value(m);
    size_t n = json_string_length(m);
    size_t max = opts != NULL ? opts->max_message : 0;
    if (max != 0 && n > max) {
        n = max;
        while (n > 0 && n + 3 >= max && ((uint8_t)s[n] & 0xc0) == 0x80) {
            n--; /* do not split a UTF-8 sequence */
        }
        out->flags |= CLEW_REC_TRUNCATED;
        if (opts->stats != NULL) {
            opts->stats->truncated++;
        }
    }
    return dup_str(a, &out->message, s, n);
}

static int map_scalars(const json_t *root, int64_t recv_ns, struct clew_record *out,
                       struct clew_arena *a, struct used *u)
{
    const json_t *v = json_object_get(root, "timestamp");
    if (v != NULL && ts_of(v, &out->ts) == 0) {
        u->ts = v;
    } else {
        out->ts = recv_ns;
    }
    v = json_object_get(root, "level");
    int level = level_of(v);
    if (level >= 0) {
        u->level = v;
    } else {
        const json_t *st = get_string(root, "_stream");
        bool err = st != NULL && strcmp(json_string_value(st), "stderr") == 0;
        level = err ? 3 : CLEW_LEVEL_DEFAULT;
    }
    out->level = (uint8_t)level;
    u->host = get_string(root, "host");
    if (u->host != NULL) {
        return dup_json(a, &out->labels[CLEW_LABEL_HOST], u->host, false);
    }
    return 0;
}

/* Whether a top-level key goes into fields, and under which name. */
static bool field_name(const json_t *root, const struct used *u, const char *key, size_t klen,
                       const json_t *val, size_t *skip)
{
    *skip = 0;
    if (val == u->host || val == u->msg || val == u->ts || val == u->level) {
        return false;
    }
    if ((klen == 7 && memcmp(key, "version", 7) == 0) ||
        (klen == 3 && memcmp(key, "_id", 3) == 0)) {
        return false;
    }
    if (klen > 0 && key[0] == '_') {
        *skip = 1;
        return true;
    }
    /* A plain key loses against its underscored twin ("facility" vs "_facility"). */
    char twin[128];
    if (klen + 1 < sizeof(twin)) {
        twin[0] = '_';
        memcpy(twin + 1, key, klen);
        return json_object_getn(root, twin, klen + 1) == NULL;
    }
    return true;
}

static int map_fields(const json_t *root, const struct used *u, struct clew_record *out,
                      struct clew_arena *a)
{
    struct clew_buf b;
    const char *key;
    size_t klen, skip;
    json_t *val;
    int rc = 0;
    clew_buf_init(&b);
    json_object_keylen_foreach((json_t *)(uintptr_t)root, key, klen, val)
    {
        if (!field_name(root, u, key, klen, val, &skip)) {
            continue;
        }
        if (put(&b, b.len == 0 ? "{" : ",", 1) != 0 || put_str(&b, key + skip, klen - skip) != 0 ||
            put(&b, ":", 1) != 0 || put_value(&b, val) != 0) {
            rc = -ENOMEM;
            break;
        }
    }
    if (rc == 0 && b.len > 0) {
        rc = put(&b, "}", 1) != 0 ? -ENOMEM : dup_str(a, &out->fields, (char *)b.data, b.len);
    }
    clew_buf_close(&b);
    return rc;
}

static int map_record(const json_t *root, int64_t recv_ns, const struct clew_gelf_parse_opts *opts,
                      struct clew_record *out, struct clew_arena *a)
{
    struct used u = { NULL, NULL, NULL, NULL };
    int rc = map_message(root, opts, out, a, &u);
    if (rc == 0) {
        rc = map_scalars(root, recv_ns, out, a, &u);
    }
    if (rc == 0) {
        rc = map_service(root, out, a);
    }
    if (rc == 0) {
        rc = map_ids(root, out, a);
    }
    if (rc == 0) {
        rc = map_fields(root, &u, out, a);
    }
    return rc;
}

int clew_gelf_parse(const void *payload, size_t len, int64_t recv_ns,
                    const struct clew_gelf_parse_opts *opts, struct clew_record *out,
                    struct clew_arena *arena)
{
    size_t cap = opts != NULL && opts->max_size != 0 ? opts->max_size : CLEW_GELF_DEFAULT_MAX_SIZE;
    const uint8_t *text = payload;
    uint8_t *plain = NULL;
    json_t *root = NULL;
    memset(out, 0, sizeof(*out));
    out->input = CLEW_INPUT_GELF;
    int kind = clew_gelf_sniff(payload, len);
    if (kind < 0 || kind == CLEW_GELF_CHUNK) {
        return CLEW_GELF_EMAGIC;
    }
    if (kind != CLEW_GELF_PLAIN) {
        int rc = inflate_payload(payload, len, kind == CLEW_GELF_GZIP, cap, &plain, &len);
        if (rc != 0) {
            return rc;
        }
        text = plain;
    } else if (len > cap) {
        return CLEW_ETOOBIG;
    }
    int rc = load_json(text, len, opts != NULL ? opts->stats : NULL, &root);
    clew_free(plain);
    if (rc == 0) {
        rc = map_record(root, recv_ns, opts, out, arena);
        json_decref(root);
    }
    return rc;
}
