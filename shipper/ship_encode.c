/* SPDX-License-Identifier: MIT */
#include "shipper/ship_encode.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <zlib.h>

#include "clew/error.h"

void clew_ship_fixed_init(struct clew_ship_fixed *f)
{
    clew_buf_init(&f->kv);
    f->npairs = 0;
}

void clew_ship_fixed_close(struct clew_ship_fixed *f)
{
    clew_buf_close(&f->kv);
    f->npairs = 0;
}

/* msgpack str header for n bytes into p; returns its length (1, 2, 3 or 5). */
static size_t str_head(uint8_t *p, size_t n)
{
    if (n < 32) {
        p[0] = (uint8_t)(0xa0 | n);
        return 1;
    }
    if (n < 256) {
        p[0] = 0xd9;
        p[1] = (uint8_t)n;
        return 2;
    }
    if (n < 65536) {
        p[0] = 0xda;
        p[1] = (uint8_t)(n >> 8);
        p[2] = (uint8_t)n;
        return 3;
    }
    p[0] = 0xdb;
    p[1] = (uint8_t)(n >> 24);
    p[2] = (uint8_t)(n >> 16);
    p[3] = (uint8_t)(n >> 8);
    p[4] = (uint8_t)n;
    return 5;
}

/* Appends a str; the caller reserved room (n + 5). */
static void put_str(struct clew_buf *b, const char *s, size_t n)
{
    b->len += str_head(b->data + b->len, n);
    if (n > 0) {
        memcpy(b->data + b->len, s, n);
    }
    b->len += n;
}

int clew_ship_fixed_add(struct clew_ship_fixed *f, const char *key, const char *val, size_t vlen)
{
    size_t kl = strlen(key);
    if (vlen == 0) {
        return 0;
    }
    if (clew_buf_reserve(&f->kv, kl + vlen + 10) < 0) {
        return -ENOMEM;
    }
    put_str(&f->kv, key, kl);
    put_str(&f->kv, val, vlen);
    f->npairs++;
    return 0;
}

/* Length of the str at p (header + body), for walking fixed pairs. */
static size_t str_at(const uint8_t *p, const uint8_t **body, size_t *n)
{
    size_t h;
    if ((p[0] & 0xe0) == 0xa0) {
        *n = p[0] & 0x1f;
        h = 1;
    } else if (p[0] == 0xd9) {
        *n = p[1];
        h = 2;
    } else if (p[0] == 0xda) {
        *n = (size_t)p[1] << 8 | p[2];
        h = 3;
    } else {
        *n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        h = 5;
    }
    *body = p + h;
    return h + *n;
}

int clew_ship_fixed_has(const struct clew_ship_fixed *f, const char *key, size_t klen)
{
    const uint8_t *p = f->kv.data, *end = f->kv.data + f->kv.len;
    while (p < end) {
        const uint8_t *body;
        size_t n;
        p += str_at(p, &body, &n);
        if (n == klen && memcmp(body, key, n) == 0) {
            return 1;
        }
        p += str_at(p, &body, &n);
    }
    return 0;
}

static int builtin_key(const struct clew_str *k)
{
    static const char *const names[] = { "log", "stream", "truncated", "partial" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (k->len == strlen(names[i]) && memcmp(k->ptr, names[i], k->len) == 0) {
            return 1;
        }
    }
    return 0;
}

static void put_map_head(struct clew_buf *b, uint32_t n)
{
    if (n < 16) {
        b->data[b->len++] = (uint8_t)(0x80 | n);
    } else {
        b->data[b->len++] = 0xde;
        b->data[b->len++] = (uint8_t)(n >> 8);
        b->data[b->len++] = (uint8_t)n;
    }
}

/* [EventTime: fixext8 type 0, BE seconds and nanoseconds */
static void put_time(struct clew_buf *b, int64_t ts)
{
    int64_t sec = ts / 1000000000LL, ns = ts % 1000000000LL;
    if (ns < 0) {
        sec--;
        ns += 1000000000LL;
    }
    uint8_t *p = b->data + b->len;
    uint32_t s = (uint32_t)sec, n = (uint32_t)ns;
    p[0] = 0x92; /* the entry array */
    p[1] = 0xd7;
    p[2] = 0x00;
    p[3] = (uint8_t)(s >> 24);
    p[4] = (uint8_t)(s >> 16);
    p[5] = (uint8_t)(s >> 8);
    p[6] = (uint8_t)s;
    p[7] = (uint8_t)(n >> 24);
    p[8] = (uint8_t)(n >> 16);
    p[9] = (uint8_t)(n >> 8);
    p[10] = (uint8_t)n;
    b->len += 11;
}

int clew_ship_entry_encode(struct clew_buf *out, const struct clew_ship_entry *e,
                           const struct clew_ship_fixed *fx)
{
    size_t need = 11 + 3 + 10 + e->msg.len + 16 + fx->kv.len + 40;
    uint32_t npairs = 1 + (e->stream >= 0) + fx->npairs + (e->flags & CLEW_REC_TRUNCATED ? 1 : 0) +
                      (e->partial ? 1 : 0);
    unsigned char use[64] = { 0 };
    for (size_t i = 0; i < e->nattrs && i < sizeof(use); i++) {
        const struct clew_str *k = &e->attr_keys[i];
        if (!builtin_key(k) && !clew_ship_fixed_has(fx, k->ptr, k->len)) {
            use[i] = 1;
            npairs++;
            need += k->len + e->attr_vals[i].len + 10;
        }
    }
    if (clew_buf_reserve(out, need) < 0) {
        return -ENOMEM;
    }
    put_time(out, e->ts);
    put_map_head(out, npairs);
    put_str(out, "log", 3);
    put_str(out, e->msg.ptr, e->msg.len);
    if (e->stream >= 0) {
        put_str(out, "stream", 6);
        put_str(out, e->stream ? "stderr" : "stdout", 6);
    }
    if (e->flags & CLEW_REC_TRUNCATED) {
        put_str(out, "truncated", 9);
        put_str(out, "true", 4);
    }
    if (e->partial) {
        put_str(out, "partial", 7);
        put_str(out, "true", 4);
    }
    if (fx->kv.len > 0) {
        memcpy(out->data + out->len, fx->kv.data, fx->kv.len);
        out->len += fx->kv.len;
    }
    for (size_t i = 0; i < e->nattrs && i < sizeof(use); i++) {
        if (use[i]) {
            put_str(out, e->attr_keys[i].ptr, e->attr_keys[i].len);
            put_str(out, e->attr_vals[i].ptr, e->attr_vals[i].len);
        }
    }
    return 0;
}

/* ---- a whole record (the listeners) --------------------------------------- */

/* A msgpack writer over a growing buffer; the first failure sticks. */
struct mp {
    struct clew_buf *b;
    int rc;
};

static void mp_raw(struct mp *m, const void *p, size_t n)
{
    if (m->rc == 0 && clew_buf_append(m->b, p, n) < 0) {
        m->rc = -ENOMEM;
    }
}

/* A type byte followed by v in width bytes, big-endian. */
static void mp_be(struct mp *m, uint8_t type, uint64_t v, unsigned width)
{
    uint8_t p[9];
    p[0] = type;
    for (unsigned i = 0; i < width; i++) {
        p[1 + i] = (uint8_t)(v >> (8 * (width - 1 - i)));
    }
    mp_raw(m, p, 1 + width);
}

static void mp_str(struct mp *m, const char *s, size_t n)
{
    if (m->rc == 0 && clew_buf_reserve(m->b, n + 5) < 0) {
        m->rc = -ENOMEM;
    }
    if (m->rc == 0) {
        put_str(m->b, s, n);
    }
}

static void mp_cstr(struct mp *m, const char *s)
{
    mp_str(m, s, strlen(s));
}

/* An array (map = 0) or map header of n elements or pairs. */
static void mp_container(struct mp *m, int map, size_t n)
{
    if (n < 16) {
        mp_be(m, (uint8_t)((map ? 0x80 : 0x90) | n), 0, 0);
    } else if (n < 65536) {
        mp_be(m, map ? 0xde : 0xdc, n, 2);
    } else {
        mp_be(m, map ? 0xdf : 0xdd, n, 4);
    }
}

static void mp_int(struct mp *m, int64_t v)
{
    if (v >= 0 && v < 128) {
        mp_be(m, (uint8_t)v, 0, 0);
    } else if (v >= 0) {
        mp_be(m, 0xcf, (uint64_t)v, 8);
    } else if (v >= -32) {
        mp_be(m, (uint8_t)(int8_t)v, 0, 0);
    } else {
        mp_be(m, 0xd3, (uint64_t)v, 8);
    }
}

static void mp_real(struct mp *m, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    mp_be(m, 0xcb, bits, 8);
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    return clew_buf_append(data, buf, size) == 0 ? 0 : -1;
}

/* v as its compact JSON text (a value nested too deeply for msgpack). */
static void mp_json_text(struct mp *m, json_t *v)
{
    struct clew_buf t;
    clew_buf_init(&t);
    if (json_dump_callback(v, dump_cb, &t, JSON_COMPACT | JSON_ENCODE_ANY) != 0) {
        m->rc = -ENOMEM;
    }
    mp_str(m, (const char *)t.data, t.len);
    clew_buf_close(&t);
}

static void mp_json(struct mp *m, json_t *v, int depth);

/* The pairs of object v (without a map header), values at depth. */
static void mp_pairs(struct mp *m, json_t *v, int depth)
{
    const char *k;
    json_t *x;
    size_t kl;
    json_object_keylen_foreach(v, k, kl, x)
    {
        mp_str(m, k, kl);
        mp_json(m, x, depth);
    }
}

/* One JSON value as msgpack; containers deeper than CLEW_SHIP_MAX_DEPTH
 * become their JSON text. */
static void mp_json(struct mp *m, json_t *v, int depth)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        mp_str(m, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        mp_int(m, (int64_t)json_integer_value(v));
        break;
    case JSON_REAL:
        mp_real(m, json_real_value(v));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        mp_be(m, json_is_true(v) ? 0xc3 : 0xc2, 0, 0);
        break;
    case JSON_NULL:
        mp_be(m, 0xc0, 0, 0);
        break;
    case JSON_ARRAY:
        if (depth >= CLEW_SHIP_MAX_DEPTH) {
            mp_json_text(m, v);
            break;
        }
        mp_container(m, 0, json_array_size(v));
        for (size_t i = 0; i < json_array_size(v); i++) {
            mp_json(m, json_array_get(v, i), depth + 1);
        }
        break;
    default: /* JSON_OBJECT */
        if (depth >= CLEW_SHIP_MAX_DEPTH) {
            mp_json_text(m, v);
            break;
        }
        mp_container(m, 1, json_object_size(v));
        mp_pairs(m, v, depth + 1);
        break;
    }
}

/* The record's own keys; returns how many pairs they are (write = 0 only
 * counts). */
static uint32_t record_pairs(struct mp *m, const struct clew_record *r, int write)
{
    static const char *const label_keys[CLEW_LABEL_COUNT] = {
        "host", "service", "container_id", "container_name", "stream",
    };
    const struct clew_str *ids[3] = { &r->trace_id, &r->span_id, &r->parent_span_id };
    static const char *const id_keys[3] = { "trace_id", "span_id", "parent_span_id" };
    uint32_t n = 3; /* message, level, input */
    if (write) {
        mp_cstr(m, "message");
        mp_str(m, r->message.ptr, r->message.len);
    }
    for (unsigned i = 0; i < CLEW_LABEL_COUNT; i++) {
        if (r->labels[i].len > 0 || i == CLEW_LABEL_HOST) {
            n++;
            if (write) {
                mp_cstr(m, label_keys[i]);
                mp_str(m, r->labels[i].ptr, r->labels[i].len);
            }
        }
    }
    if (write) {
        mp_cstr(m, "level");
        mp_int(m, r->level);
    }
    for (unsigned i = 0; i < 3; i++) {
        if (ids[i]->len > 0) {
            n++;
            if (write) {
                mp_cstr(m, id_keys[i]);
                mp_str(m, ids[i]->ptr, ids[i]->len);
            }
        }
    }
    if (write) {
        mp_cstr(m, "input");
        mp_cstr(m, clew_input_name(r->input));
    }
    if (r->flags & CLEW_REC_TRUNCATED) {
        n++;
        if (write) {
            mp_cstr(m, "truncated");
            mp_cstr(m, "true");
        }
    }
    return n;
}

int clew_ship_record_encode(struct clew_buf *out, const struct clew_record *r)
{
    struct mp m = { out, 0 };
    size_t start = out->len;
    json_t *fields = NULL;
    if (r->fields.len > 0) {
        fields = json_loadb(r->fields.ptr, r->fields.len, JSON_ALLOW_NUL, NULL);
    }
    size_t nfields = json_is_object(fields) ? json_object_size(fields) : r->fields.len > 0;
    if (clew_buf_reserve(out, 11) < 0) {
        json_decref(fields);
        return -ENOMEM;
    }
    put_time(out, r->ts);
    mp_container(&m, 1, record_pairs(&m, r, 0) + nfields);
    record_pairs(&m, r, 1);
    if (json_is_object(fields)) {
        mp_pairs(&m, fields, 0);
    } else if (nfields > 0) {
        mp_cstr(&m, "fields");
        mp_str(&m, r->fields.ptr, r->fields.len);
    }
    json_decref(fields);
    if (m.rc < 0) {
        out->len = start;
    }
    return m.rc;
}

size_t clew_ship_request_head(uint8_t *head, const char *tag, size_t payload_len)
{
    size_t tl = strlen(tag);
    tl = tl > 250 ? 250 : tl;
    size_t n = 0;
    head[n++] = 0x93;
    n += str_head(head + n, tl);
    memcpy(head + n, tag, tl);
    n += tl;
    head[n++] = 0xc6; /* bin32 */
    head[n++] = (uint8_t)(payload_len >> 24);
    head[n++] = (uint8_t)(payload_len >> 16);
    head[n++] = (uint8_t)(payload_len >> 8);
    head[n++] = (uint8_t)payload_len;
    return n;
}

int clew_ship_request_tail(struct clew_buf *out, const char *chunk, uint32_t count, int gzip)
{
    size_t cl = strlen(chunk);
    if (clew_buf_reserve(out, cl + 64) < 0) {
        return -ENOMEM;
    }
    put_map_head(out, gzip ? 3 : 2);
    put_str(out, "chunk", 5);
    put_str(out, chunk, cl);
    put_str(out, "size", 4);
    uint8_t *p = out->data + out->len;
    p[0] = 0xce;
    p[1] = (uint8_t)(count >> 24);
    p[2] = (uint8_t)(count >> 16);
    p[3] = (uint8_t)(count >> 8);
    p[4] = (uint8_t)count;
    out->len += 5;
    if (gzip) {
        put_str(out, "compressed", 10);
        put_str(out, "gzip", 4);
    }
    return 0;
}

int clew_ship_gzip(struct clew_buf *out, const void *in, size_t len, int level)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return -ENOMEM;
    }
    size_t bound = deflateBound(&z, (uLong)len);
    int rc = clew_buf_reserve(out, bound);
    if (rc == 0) {
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)len;
        z.next_out = out->data + out->len;
        z.avail_out = (uInt)bound;
        rc = deflate(&z, Z_FINISH) == Z_STREAM_END ? 0 : CLEW_ECORRUPT;
        if (rc == 0) {
            out->len += bound - z.avail_out;
        }
    }
    deflateEnd(&z);
    return rc;
}
