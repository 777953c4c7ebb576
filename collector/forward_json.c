/* SPDX-License-Identifier: MIT
 * forward_json: msgpack values as jansson-identical compact JSON.
 *
 * Two paths print the same bytes. The reference builds a jansson tree and
 * dumps it; it is what the record format was defined with, and it costs a
 * malloc per value plus jansson's cycle check (a snprintf and a hash
 * insert per container). The direct writer appends to the buffer in one
 * pass and reproduces jansson's choices: strings escape '"', '\\' and
 * control characters (\b \f \n \r \t, else \u00XX in upper case) and keep
 * other UTF-8 as is; integers print as %lld; reals (and integers above
 * INT64_MAX) are printed by jansson itself, so its float format is never
 * re-derived; non-finite floats are null. The direct writer gives up (SLOW)
 * when a map would not map one-to-one onto a jansson object: a key that is
 * not a str/bin, a key jansson would rewrite (invalid UTF-8, NUL), a key
 * seen twice, or more than MAX_FAST_KEYS pairs; the caller then starts
 * over on the reference path. */
#include "collector/forward_json.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collector/forward_unpack.h"
#include "common/alloc.h"
#include "common/timeutil.h"

#define SLOW          1
#define MAX_FAST_KEYS 64
#define FLAGS         (JSON_COMPACT | JSON_ENCODE_ANY)

static uint64_t load_be32(const char *s)
{
    const uint8_t *p = (const uint8_t *)s;
    return (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
}

/* Length of the valid UTF-8 sequence at p, 0 if it is not one. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
        return 0;
    }
    return len;
}

/* Like utf8_seq, but a NUL is refused in keys: jansson writes it as \u0000
 * but will not read it back in a key. */
static size_t char_ok(const uint8_t *p, size_t n, int key)
{
    return key && p[0] == 0 ? 0 : utf8_seq(p, n);
}

/* The text of an ext value into buf (40 + 2 * size bytes); returns its
 * length. */
static size_t ext_text(const msgpack_object_ext *e, char *buf)
{
    static const char hex[] = "0123456789abcdef";
    if (e->type == 0 && e->size == 8) { /* an EventTime inside a record */
        int64_t ns = (int64_t)load_be32(e->ptr) * CLEW_NS_PER_SEC + (int64_t)load_be32(e->ptr + 4);
        int n = clew_time_format(ns, 9, buf, 40);
        return (size_t)(n > 0 ? n : 0);
    }
    int n = snprintf(buf, 16, "ext:%d:", e->type);
    for (uint32_t i = 0; i < e->size; i++) {
        buf[n++] = hex[(uint8_t)e->ptr[i] >> 4];
        buf[n++] = hex[(uint8_t)e->ptr[i] & 15];
    }
    return (size_t)n;
}

/* ---- the reference: a jansson tree ---- */

/* A JSON string of arbitrary bytes: invalid UTF-8 (and a NUL in a key)
 * becomes U+FFFD, as jansson cannot dump it. NULL on OOM. */
static json_t *json_bytes(const char *s, size_t n, int key)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0, k;
    while (i < n && (k = char_ok(p + i, n - i, key)) != 0) {
        i += k;
    }
    if (i == n) {
        return json_stringn_nocheck(s, n);
    }
    if (n > (SIZE_MAX - i) / 3) {
        return NULL;
    }
    uint8_t *out = clew_malloc(i + 3 * (n - i));
    if (out == NULL) {
        return NULL;
    }
    memcpy(out, p, i);
    size_t o = i;
    while (i < n) {
        k = char_ok(p + i, n - i, key);
        if (k == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3, i += 1;
        } else {
            memcpy(out + o, p + i, k);
            o += k, i += k;
        }
    }
    json_t *j = json_stringn_nocheck((const char *)out, o);
    clew_free(out);
    return j;
}

static json_t *ext_json(const msgpack_object_ext *e)
{
    char *s = clew_malloc(40 + 2 * (size_t)e->size);
    if (s == NULL) {
        return NULL;
    }
    json_t *j = json_stringn_nocheck(s, ext_text(e, s));
    clew_free(s);
    return j;
}

static json_t *to_json(const msgpack_object *o);

/* Sets obj[key] = value (stolen). Keys that are neither strings nor integers
 * are dropped. Returns 0 or -ENOMEM. */
static int set_pair(json_t *obj, const msgpack_object *key, json_t *value)
{
    struct clew_str k;
    char num[24];
    if (value == NULL) {
        return -ENOMEM;
    }
    if (!clew_fwd_obj_str(key, &k)) {
        if (key->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            k.len = (size_t)snprintf(num, sizeof(num), "%llu", (unsigned long long)key->via.u64);
        } else if (key->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
            k.len = (size_t)snprintf(num, sizeof(num), "%lld", (long long)key->via.i64);
        } else {
            json_decref(value);
            return 0;
        }
        k.ptr = num;
    }
    json_t *ks = json_bytes(k.ptr, k.len, 1);
    if (ks == NULL) {
        json_decref(value);
        return -ENOMEM;
    }
    int rc =
        json_object_setn_new_nocheck(obj, json_string_value(ks), json_string_length(ks), value);
    json_decref(ks);
    return rc == 0 ? 0 : -ENOMEM;
}

static json_t *container_json(const msgpack_object *o)
{
    json_t *c;
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        c = json_array();
        for (uint32_t i = 0; c != NULL && i < o->via.array.size; i++) {
            if (json_array_append_new(c, to_json(&o->via.array.ptr[i])) != 0) {
                json_decref(c);
                c = NULL;
            }
        }
        return c;
    }
    c = json_object();
    for (uint32_t i = 0; c != NULL && i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (set_pair(c, &kv->key, to_json(&kv->val)) != 0) {
            json_decref(c);
            c = NULL;
        }
    }
    return c;
}

/* Converts any value; depth is bounded by the unpacker. NULL = OOM. */
static json_t *to_json(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return o->via.u64 <= INT64_MAX ? json_integer((json_int_t)o->via.u64)
                                       : json_real((double)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return isfinite(o->via.f64) ? json_real(o->via.f64) : json_null();
    case MSGPACK_OBJECT_STR:
        return json_bytes(o->via.str.ptr, o->via.str.size, 0);
    case MSGPACK_OBJECT_BIN:
        return json_bytes(o->via.bin.ptr, o->via.bin.size, 0);
    case MSGPACK_OBJECT_EXT:
        return ext_json(&o->via.ext);
    case MSGPACK_OBJECT_ARRAY:
    case MSGPACK_OBJECT_MAP:
        return container_json(o);
    default:
        return json_null();
    }
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    return clew_buf_append(data, buf, size) == 0 ? 0 : -1;
}

/* Dumps j (stolen) onto out. Returns 0 or -ENOMEM. */
static int dump_json(struct clew_buf *out, json_t *j)
{
    if (j == NULL) {
        return -ENOMEM;
    }
    int rc = json_dump_callback(j, dump_cb, out, FLAGS);
    json_decref(j);
    return rc == 0 ? 0 : -ENOMEM;
}

static int skipped(const struct clew_fwd_json_fields *f, uint32_t i)
{
    for (size_t u = 0; u < f->nskip; u++) {
        if (f->skip[u] == (int32_t)i) {
            return 1;
        }
    }
    return 0;
}

static int has_meta(const struct clew_fwd_json_fields *f)
{
    return f->meta != NULL && f->meta->type == MSGPACK_OBJECT_MAP && f->meta->via.map.size > 0;
}

static int fields_ref(struct clew_buf *out, const struct clew_fwd_json_fields *f)
{
    json_t *obj = json_object();
    if (obj == NULL ||
        json_object_set_new_nocheck(obj, "tag", json_bytes(f->tag.ptr, f->tag.len, 0))) {
        json_decref(obj);
        return -ENOMEM;
    }
    if (has_meta(f) && json_object_set_new_nocheck(obj, "metadata", to_json(f->meta)) != 0) {
        json_decref(obj);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < f->map->size; i++) {
        const msgpack_object_kv *kv = &f->map->ptr[i];
        if (!skipped(f, i) && set_pair(obj, &kv->key, to_json(&kv->val)) != 0) {
            json_decref(obj);
            return -ENOMEM;
        }
    }
    return dump_json(out, obj);
}

/* ---- the direct writer ---- */

static int put(struct clew_buf *b, const void *p, size_t n)
{
    return clew_buf_append(b, p, n) == 0 ? 0 : -ENOMEM;
}

/* The escape jansson writes for c (a control character, '"' or '\\'). */
static size_t escape(uint8_t c, char out[6])
{
    static const char hex[] = "0123456789ABCDEF";
    static const char short_esc[32] = {
        ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'
    };
    out[0] = '\\';
    if (c == '"' || c == '\\') {
        out[1] = (char)c;
        return 2;
    }
    if (short_esc[c] != 0) {
        out[1] = short_esc[c];
        return 2;
    }
    memcpy(out + 1, "u00", 3);
    out[4] = hex[c >> 4];
    out[5] = hex[c & 15];
    return 6;
}

/* A JSON string of arbitrary bytes, as json_bytes (value) then jansson's
 * dump_string would print it. */
static int put_str(struct clew_buf *b, const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    if (clew_buf_reserve(b, n + 2) != 0) {
        return -ENOMEM;
    }
    b->data[b->len++] = '"';
    size_t run = 0, i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        size_t k = c >= 0x80 ? utf8_seq(p + i, n - i) : 0;
        if (k > 0) {
            i += k;
            continue;
        }
        char esc[6];
        size_t e = c >= 0x80 ? 3 : escape(c, esc);
        if (put(b, p + run, i - run) != 0 || put(b, c >= 0x80 ? "\xef\xbf\xbd" : esc, e) != 0) {
            return -ENOMEM;
        }
        run = ++i;
    }
    if (put(b, p + run, n - run) != 0) {
        return -ENOMEM;
    }
    return put(b, "\"", 1);
}

/* A real, printed by jansson so that its format is jansson's own. */
static int put_real(struct clew_buf *b, double v)
{
    char tmp[128];
    json_t *j = json_real(v);
    size_t n = j != NULL ? json_dumpb(j, tmp, sizeof(tmp), FLAGS) : 0;
    json_decref(j);
    if (n == 0 || n > sizeof(tmp)) {
        return -ENOMEM;
    }
    return put(b, tmp, n);
}

static int put_int(struct clew_buf *b, int64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    if (v < 0) {
        tmp[--i] = '-';
    }
    return put(b, tmp + i, sizeof(tmp) - i);
}

static int put_ext(struct clew_buf *b, const msgpack_object_ext *e)
{
    char tmp[128];
    if (e->size > (sizeof(tmp) - 40) / 2) {
        return SLOW; /* rare: let the reference allocate */
    }
    return put_str(b, tmp, ext_text(e, tmp));
}

/* A key the writer can print as is: a str/bin of valid UTF-8 without NUL. */
static int plain_key(const msgpack_object *k, struct clew_str *s)
{
    if (!clew_fwd_obj_str(k, s)) {
        return 0;
    }
    const uint8_t *p = (const uint8_t *)s->ptr;
    size_t i = 0, n;
    while (i < s->len && (n = char_ok(p + i, s->len - i, 1)) != 0) {
        i += n;
    }
    return i == s->len;
}

static int same(struct clew_str a, struct clew_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Checks that keys[0..n) are plain and distinct (after the n0 fixed ones). */
static int keys_ok(struct clew_str *keys, size_t n0, const msgpack_object_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct clew_str *k = &keys[n0 + i];
        if (!plain_key(&kv[i].key, k)) {
            return 0;
        }
        for (size_t j = 0; j < n0 + i; j++) {
            if (same(keys[j], *k)) {
                return 0;
            }
        }
    }
    return 1;
}

static int put_value(struct clew_buf *b, const msgpack_object *o);

static int put_pair(struct clew_buf *b, struct clew_str key, const msgpack_object *v, int first)
{
    if ((!first && put(b, ",", 1) != 0) || put_str(b, key.ptr, key.len) != 0 || put(b, ":", 1)) {
        return -ENOMEM;
    }
    return put_value(b, v);
}

static int put_map(struct clew_buf *b, const msgpack_object_map *m)
{
    struct clew_str keys[MAX_FAST_KEYS];
    if (m->size > MAX_FAST_KEYS || !keys_ok(keys, 0, m->ptr, m->size)) {
        return SLOW;
    }
    int rc = put(b, "{", 1);
    for (uint32_t i = 0; rc == 0 && i < m->size; i++) {
        rc = put_pair(b, keys[i], &m->ptr[i].val, i == 0);
    }
    return rc != 0 ? rc : put(b, "}", 1);
}

static int put_array(struct clew_buf *b, const msgpack_object_array *a)
{
    int rc = put(b, "[", 1);
    for (uint32_t i = 0; rc == 0 && i < a->size; i++) {
        rc = i > 0 ? put(b, ",", 1) : 0;
        rc = rc != 0 ? rc : put_value(b, &a->ptr[i]);
    }
    return rc != 0 ? rc : put(b, "]", 1);
}

static int put_value(struct clew_buf *b, const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_BOOLEAN:
        return o->via.boolean ? put(b, "true", 4) : put(b, "false", 5);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return o->via.u64 <= INT64_MAX ? put_int(b, (int64_t)o->via.u64)
                                       : put_real(b, (double)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return put_int(b, o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return isfinite(o->via.f64) ? put_real(b, o->via.f64) : put(b, "null", 4);
    case MSGPACK_OBJECT_STR:
        return put_str(b, o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN:
        return put_str(b, o->via.bin.ptr, o->via.bin.size);
    case MSGPACK_OBJECT_EXT:
        return put_ext(b, &o->via.ext);
    case MSGPACK_OBJECT_ARRAY:
        return put_array(b, &o->via.array);
    case MSGPACK_OBJECT_MAP:
        return put_map(b, &o->via.map);
    default:
        return put(b, "null", 4);
    }
}

static int fields_fast(struct clew_buf *b, const struct clew_fwd_json_fields *f)
{
    struct clew_str keys[MAX_FAST_KEYS + 2] = { CLEW_STR_LIT("tag"), CLEW_STR_LIT("metadata") };
    const msgpack_object_kv *kv[MAX_FAST_KEYS];
    size_t n0 = has_meta(f) ? 2 : 1, n = 0;
    for (uint32_t i = 0; i < f->map->size; i++) {
        if (skipped(f, i)) {
            continue;
        }
        if (n == MAX_FAST_KEYS || !keys_ok(keys, n0 + n, &f->map->ptr[i], 1)) {
            return SLOW;
        }
        kv[n++] = &f->map->ptr[i];
    }
    int rc = put(b, "{\"tag\":", 7);
    rc = rc != 0 ? rc : put_str(b, f->tag.ptr, f->tag.len);
    if (rc == 0 && n0 == 2) {
        rc = put_pair(b, keys[1], f->meta, 0);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = put_pair(b, keys[n0 + i], &kv[i]->val, 0);
    }
    return rc != 0 ? rc : put(b, "}", 1);
}

/* ---- public API ---- */

int clew_fwd_json_value(struct clew_buf *out, const msgpack_object *o, int ref)
{
    size_t start = out->len;
    int rc = ref ? SLOW : put_value(out, o);
    if (rc == SLOW) {
        out->len = start;
        rc = dump_json(out, to_json(o));
    }
    if (rc != 0) {
        out->len = start;
    }
    return rc;
}

int clew_fwd_json_fields(struct clew_buf *out, const struct clew_fwd_json_fields *f, int ref)
{
    size_t start = out->len;
    int rc = ref ? SLOW : fields_fast(out, f);
    if (rc == SLOW) {
        out->len = start;
        rc = fields_ref(out, f);
    }
    if (rc != 0) {
        out->len = start;
    }
    return rc;
}
