/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "clew/error.h"
#include "collector/forward_parse.h"
#include "common/alloc.h"

#define T0 1705314600LL /* 2024-01-15T10:30:00Z */
#define NS 1000000000LL

/* A copy of one event, so it outlives the decoder call. */
struct got {
    int kind, mode, error, has_ts;
    int64_t ts, size;
    uint8_t level;
    uint32_t records, skipped;
    char tag[64], chunk[64], comp[16];
    char label[CLEW_LABEL_COUNT][80];
    char trace[64], span[64], parent[64];
    char msg[512];
    size_t msg_len;
    char fields[1024];
};

static void cpy(char *dst, size_t cap, struct clew_str s)
{
    assert_true(s.len < cap);
    if (s.len > 0) {
        memcpy(dst, s.ptr, s.len);
    }
    dst[s.len] = '\0';
}

static void keep(struct got *g, const struct clew_fwd_event *ev)
{
    memset(g, 0, sizeof(*g));
    g->kind = ev->kind, g->mode = ev->mode, g->error = ev->error, g->has_ts = ev->has_ts;
    g->ts = ev->rec.ts, g->size = ev->size, g->level = ev->rec.level;
    g->records = ev->records, g->skipped = ev->skipped;
    cpy(g->tag, sizeof(g->tag), ev->tag);
    cpy(g->chunk, sizeof(g->chunk), ev->chunk);
    cpy(g->comp, sizeof(g->comp), ev->compressed);
    for (int i = 0; i < CLEW_LABEL_COUNT; i++) {
        cpy(g->label[i], sizeof(g->label[i]), ev->rec.labels[i]);
    }
    cpy(g->trace, sizeof(g->trace), ev->rec.trace_id);
    cpy(g->span, sizeof(g->span), ev->rec.span_id);
    cpy(g->parent, sizeof(g->parent), ev->rec.parent_span_id);
    cpy(g->msg, sizeof(g->msg), ev->rec.message);
    g->msg_len = ev->rec.message.len;
    cpy(g->fields, sizeof(g->fields), ev->rec.fields);
    if (ev->kind == CLEW_FWD_RECORD) {
        assert_int_equal(ev->rec.input, CLEW_INPUT_FORWARD);
    }
    if (ev->kind == CLEW_FWD_SKIP) {
        assert_non_null(ev->reason);
    }
}

/* Drains d into g[]; returns the count, *rc gets the final return code. */
static int drain(struct clew_fwd_decoder *d, struct got *g, int n, int max, int *rc)
{
    struct clew_fwd_event ev;
    while ((*rc = clew_fwd_decoder_next(d, &ev)) == 0) {
        assert_true(n < max);
        keep(&g[n++], &ev);
    }
    return n;
}

/* Feeds data in pieces of `piece` bytes (0 = whole), draining after each. */
static int decode(const struct clew_fwd_opts *o, const void *data, size_t len, size_t piece,
                  struct got *g, int max, int *rc)
{
    struct clew_fwd_decoder *d;
    assert_int_equal(clew_fwd_decoder_new(o, &d), 0);
    int n = 0;
    size_t step = piece ? piece : len;
    *rc = -EAGAIN;
    for (size_t off = 0; off < len && (*rc == -EAGAIN); off += step) {
        size_t k = len - off < step ? len - off : step;
        *rc = clew_fwd_decoder_feed(d, (const char *)data + off, k);
        if (*rc == 0) {
            n = drain(d, g, n, max, rc);
        }
    }
    clew_fwd_decoder_free(d);
    return n;
}

/* Decodes whole, in 7-byte pieces, byte by byte and whole in reference mode
 * (msgpack_unpack and jansson); all four must agree. */
static int decode_all(const void *data, size_t len, struct got *g, int max, int *rc)
{
    struct got *alt = calloc((size_t)max, sizeof(*alt));
    int n = decode(NULL, data, len, 0, g, max, rc);
    const struct clew_fwd_opts ref = { .reference = 1 };
    size_t pieces[] = { 7, 1, 0 };
    for (int i = 0; i < 3; i++) {
        int rc2;
        int n2 = decode(i == 2 ? &ref : NULL, data, len, pieces[i], alt, max, &rc2);
        assert_int_equal(n2, n);
        assert_int_equal(rc2, *rc);
        assert_memory_equal(alt, g, (size_t)n * sizeof(*g));
    }
    free(alt);
    return n;
}

/* ---- builders ---- */

static void pk_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static void pk_kv(msgpack_packer *pk, const char *k, const char *v)
{
    pk_str(pk, k);
    pk_str(pk, v);
}

static void pk_evtime(msgpack_packer *pk, uint32_t s, uint32_t ns)
{
    unsigned char b[8] = { s >> 24, s >> 16, s >> 8, s, ns >> 24, ns >> 16, ns >> 8, ns };
    msgpack_pack_ext(pk, 8, 0);
    msgpack_pack_ext_body(pk, b, 8);
}

/* {"message": m, "n": i} */
static void pk_rec(msgpack_packer *pk, const char *m, int i)
{
    msgpack_pack_map(pk, 2);
    pk_kv(pk, "message", m);
    pk_str(pk, "n");
    msgpack_pack_int(pk, i);
}

/* ["app", T0 + i, {"message": m, "n": i}] */
static void pk_message(msgpack_packer *pk, const char *m, int i)
{
    msgpack_pack_array(pk, 3);
    pk_str(pk, "app");
    msgpack_pack_int64(pk, T0 + i);
    pk_rec(pk, m, i);
}

/* Raw entries [T0 + i, {"message": "eI", "n": i}] for i in [from, to). */
static void pk_entries(msgpack_sbuffer *sb, int from, int to)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    for (int i = from; i < to; i++) {
        char m[16];
        snprintf(m, sizeof(m), "e%d", i);
        msgpack_pack_array(&pk, 2);
        msgpack_pack_int64(&pk, T0 + i);
        pk_rec(&pk, m, i);
    }
}

static size_t gzip_member(const void *src, size_t n, unsigned char *dst, size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)src;
    zs.avail_in = (uInt)n;
    zs.next_out = dst;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t out = zs.total_out;
    deflateEnd(&zs);
    return out;
}

/* ["app", bin(payload), {"compressed": comp}] */
static void pk_packed(msgpack_packer *pk, const void *payload, size_t n, const char *comp)
{
    msgpack_pack_array(pk, comp ? 3 : 2);
    pk_str(pk, "app");
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, payload, n);
    if (comp) {
        msgpack_pack_map(pk, 1);
        pk_kv(pk, "compressed", comp);
    }
}

/* Two gzip members holding entries 0-1 and 2-4, optionally cut short. */
static void pk_gzip_request(msgpack_sbuffer *out, size_t cut)
{
    msgpack_sbuffer a, b;
    msgpack_sbuffer_init(&a);
    msgpack_sbuffer_init(&b);
    pk_entries(&a, 0, 2);
    pk_entries(&b, 2, 5);
    unsigned char z[2048];
    size_t n = gzip_member(a.data, a.size, z, sizeof(z));
    n += gzip_member(b.data, b.size, z + n, sizeof(z) - n);
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    pk_packed(&pk, z, n - cut, "gzip");
    msgpack_sbuffer_destroy(&a);
    msgpack_sbuffer_destroy(&b);
}

#define SB_INIT(sb, pk)                                                                            \
    msgpack_sbuffer sb;                                                                            \
    msgpack_packer pk;                                                                             \
    msgpack_sbuffer_init(&sb);                                                                     \
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write)

/* ---- modes ---- */

static void test_message_int_time(void **state)
{
    (void)state;
    SB_INIT(sb, pk);
    msgpack_pack_array(&pk, 3);
    pk_str(&pk, "app.x");
    msgpack_pack_int64(&pk, T0);
    msgpack_pack_map(&pk, 5);
    pk_kv(&pk, "message", "hello");
    pk_kv(&pk, "host", "h1");
    pk_kv(&pk, "level", "WARNING");
    pk_str(&pk, "user_id");
    msgpack_pack_int(&pk, 7);
    pk_str(&pk, "nested"); /* {"a": [1, -2, {"b": true}, null, 1.5]} */
    msgpack_pack_map(&pk, 1);
    pk_str(&pk, "a");
    msgpack_pack_array(&pk, 5);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_int(&pk, -2);
    msgpack_pack_map(&pk, 1);
    pk_str(&pk, "b");
    msgpack_pack_true(&pk);
    msgpack_pack_nil(&pk);
    msgpack_pack_double(&pk, 1.5);

    struct got g[4];
    int rc, n = decode_all(sb.data, sb.size, g, 4, &rc);
    assert_int_equal(rc, -EAGAIN);
    assert_int_equal(n, 2);
    assert_int_equal(g[0].kind, CLEW_FWD_RECORD);
    assert_int_equal(g[0].mode, CLEW_FWD_MODE_MESSAGE);
    assert_true(g[0].ts == T0 * NS);
    assert_int_equal(g[0].has_ts, 1);
    assert_string_equal(g[0].msg, "hello");
    assert_string_equal(g[0].label[CLEW_LABEL_HOST], "h1");
    assert_string_equal(g[0].label[CLEW_LABEL_SERVICE], "app.x"); /* no service: the tag */
    assert_int_equal(g[0].level, 4);
    assert_string_equal(
        g[0].fields,
        "{\"tag\":\"app.x\",\"user_id\":7,\"nested\":{\"a\":[1,-2,{\"b\":true},null,1.5]}}");
    assert_string_equal(g[0].chunk, "");
    assert_int_equal(g[1].kind, CLEW_FWD_END);
    assert_string_equal(g[1].tag, "app.x");
    assert_string_equal(g[1].chunk, "");
    assert_int_equal(g[1].records, 1);
    assert_int_equal(g[1].skipped, 0);
    assert_true(g[1].size == -1);
    msgpack_sbuffer_destroy(&sb);
}

/* The Docker example of spec §9, plus its EventTime variants (§10). */
static void test_message_docker_and_times(void **state)
{
    (void)state;
    static const char cid[] = "3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708";
    static const unsigned char times[][11] = {
        { 0xd2, 0x65, 0xa5, 0x09, 0x28 },                                     /* int32 */
        { 0xce, 0x65, 0xa5, 0x09, 0x28 },                                     /* uint32 */
        { 0xd7, 0x00, 0x65, 0xa5, 0x09, 0x28, 0x07, 0x5b, 0xcd, 0x15 },       /* fixext8 */
        { 0xc7, 0x08, 0x00, 0x65, 0xa5, 0x09, 0x28, 0x00, 0x00, 0x00, 0x00 }, /* ext8 */
        { 0xcb, 0x41, 0xd9, 0x69, 0x42, 0x4a, 0x20, 0x00, 0x00 },             /* 1705314600.5 */
    };
    static const size_t tlen[] = { 5, 5, 10, 11, 9 };
    static const int64_t tns[] = { T0 * NS, T0 * NS, T0 * NS + 123456789, T0 * NS,
                                   T0 * NS + 500000000 };
    for (int i = 0; i < 5; i++) {
        SB_INIT(sb, pk);
        msgpack_pack_array(&pk, 4);
        pk_str(&pk, "3f2a1b4c5d6e");
        msgpack_sbuffer_write(&sb, (const char *)times[i], tlen[i]);
        msgpack_pack_map(&pk, 4);
        pk_kv(&pk, "container_id", cid);
        pk_kv(&pk, "container_name", "/web");
        pk_kv(&pk, "source", i == 1 ? "stderr" : "stdout");
        pk_kv(&pk, "log", "hello world");
        msgpack_pack_map(&pk, 0);
        if (i == 0) {
            assert_int_equal(sb.size, 150); /* byte for byte the spec's example */
        }
        struct got g[4];
        int rc, n = decode_all(sb.data, sb.size, g, 4, &rc);
        assert_int_equal(n, 2);
        assert_int_equal(g[0].kind, CLEW_FWD_RECORD);
        assert_true(g[0].ts == tns[i]);
        assert_string_equal(g[0].msg, "hello world");
        assert_string_equal(g[0].label[CLEW_LABEL_CONTAINER_ID], cid);
        assert_string_equal(g[0].label[CLEW_LABEL_CONTAINER_NAME], "web");
        assert_string_equal(g[0].label[CLEW_LABEL_SERVICE], "web");
        assert_string_equal(g[0].label[CLEW_LABEL_STREAM], i == 1 ? "stderr" : "stdout");
        assert_string_equal(g[0].label[CLEW_LABEL_HOST], "");
        assert_int_equal(g[0].level, i == 1 ? 3 : 6);
        assert_string_equal(g[0].fields, "{\"tag\":\"3f2a1b4c5d6e\"}");
        assert_int_equal(g[1].kind, CLEW_FWD_END);
        assert_string_equal(g[1].chunk, "");
        msgpack_sbuffer_destroy(&sb);
    }
}

static void test_forward_mode(void **state)
{
    (void)state;
    SB_INIT(sb, pk);
    msgpack_pack_array(&pk, 3);
    pk_str(&pk, "app");
    msgpack_pack_array(&pk, 3);
    for (int i = 0; i < 2; i++) {
        msgpack_pack_array(&pk, 2);
        msgpack_pack_int64(&pk, T0 + i);
        pk_rec(&pk, i ? "y" : "x", i);
    }
    msgpack_pack_array(&pk, 2); /* Fluent Bit: [[EventTime, metadata], record] */
    msgpack_pack_array(&pk, 2);
    pk_evtime(&pk, (uint32_t)T0, 7);
    msgpack_pack_map(&pk, 1);
    pk_kv(&pk, "k", "v");
    msgpack_pack_map(&pk, 1);
    pk_kv(&pk, "log", "z");
    msgpack_pack_map(&pk, 3);
    pk_str(&pk, "size");
    msgpack_pack_int(&pk, 3);
    pk_kv(&pk, "chunk", "AAAAAAAAAAAAAAAAAAAAAA==");
    pk_kv(&pk, "fluent_signal", "0");

    struct got g[8];
    int rc, n = decode_all(sb.data, sb.size, g, 8, &rc);
    assert_int_equal(n, 4);
    assert_string_equal(g[0].msg, "x");
    assert_string_equal(g[1].msg, "y");
    assert_true(g[1].ts == (T0 + 1) * NS);
    assert_string_equal(g[1].fields, "{\"tag\":\"app\",\"n\":1}");
    assert_string_equal(g[2].msg, "z");
    assert_true(g[2].ts == T0 * NS + 7);
    assert_string_equal(g[2].fields, "{\"tag\":\"app\",\"metadata\":{\"k\":\"v\"}}");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(g[i].kind, CLEW_FWD_RECORD);
        assert_int_equal(g[i].mode, CLEW_FWD_MODE_FORWARD);
        assert_string_equal(g[i].chunk, "AAAAAAAAAAAAAAAAAAAAAA==");
    }
    assert_int_equal(g[3].kind, CLEW_FWD_END);
    assert_string_equal(g[3].chunk, "AAAAAAAAAAAAAAAAAAAAAA==");
    assert_true(g[3].size == 3);
    assert_int_equal(g[3].records, 3);
    msgpack_sbuffer_destroy(&sb);
}

static void test_packed_bin_and_str(void **state)
{
    (void)state;
    msgpack_sbuffer ent;
    msgpack_sbuffer_init(&ent);
    pk_entries(&ent, 0, 3);
    for (int variant = 0; variant < 3; variant++) {
        SB_INIT(sb, pk);
        msgpack_pack_array(&pk, variant == 2 ? 3 : 2);
        pk_str(&pk, "app");
        if (variant == 0) {
            msgpack_pack_bin(&pk, ent.size);
            msgpack_pack_bin_body(&pk, ent.data, ent.size);
        } else {
            msgpack_pack_str(&pk, ent.size);
            msgpack_pack_str_body(&pk, ent.data, ent.size);
        }
        if (variant == 2) { /* fluent-logger's uncompressed label */
            msgpack_pack_map(&pk, 1);
            pk_kv(&pk, "compressed", "text");
        }
        struct got g[8];
        int rc, n = decode_all(sb.data, sb.size, g, 8, &rc);
        assert_int_equal(n, 4);
        for (int i = 0; i < 3; i++) {
            char m[8];
            snprintf(m, sizeof(m), "e%d", i);
            assert_int_equal(g[i].kind, CLEW_FWD_RECORD);
            assert_int_equal(g[i].mode, CLEW_FWD_MODE_PACKED);
            assert_string_equal(g[i].msg, m);
            assert_true(g[i].ts == (T0 + i) * NS);
        }
        assert_int_equal(g[3].kind, CLEW_FWD_END);
        assert_int_equal(g[3].records, 3);
        msgpack_sbuffer_destroy(&sb);
    }
    msgpack_sbuffer_destroy(&ent);
}

static void test_compressed_two_members(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pk_gzip_request(&sb, 0);
    struct got g[8];
    int rc, n = decode_all(sb.data, sb.size, g, 8, &rc);
    assert_int_equal(rc, -EAGAIN);
    assert_int_equal(n, 6);
    for (int i = 0; i < 5; i++) {
        char m[8];
        snprintf(m, sizeof(m), "e%d", i);
        assert_int_equal(g[i].kind, CLEW_FWD_RECORD);
        assert_int_equal(g[i].mode, CLEW_FWD_MODE_COMPRESSED);
        assert_string_equal(g[i].msg, m);
    }
    assert_int_equal(g[5].kind, CLEW_FWD_END);
    assert_string_equal(g[5].comp, "gzip");
    assert_int_equal(g[5].records, 5);
    msgpack_sbuffer_destroy(&sb);
}

/* ---- mapping ---- */

static void test_mapping_rules(void **state)
{
    (void)state;
    SB_INIT(sb, pk);
    msgpack_pack_array(&pk, 3);
    pk_str(&pk, "t");
    msgpack_pack_int64(&pk, 0); /* zero time: use the receive time */
    msgpack_pack_map(&pk, 12);
    pk_kv(&pk, "log", "from log");
    pk_str(&pk, "message");
    msgpack_pack_str(&pk, 5);
    msgpack_pack_str_body(&pk, "m\0\xff\n!", 5); /* byte-exact message */
    pk_kv(&pk, "hostname", "hn");
    pk_kv(&pk, "service.name", "svc");
    pk_kv(&pk, "app", "not-used");
    pk_kv(&pk, "level", "bogus"); /* unknown: stays a field */
    pk_str(&pk, "severity");
    msgpack_pack_int(&pk, 2);
    pk_kv(&pk, "trace_id", "ABCDEF0123456789ABCDEF0123456789");
    pk_kv(&pk, "span_id", "00f067aa0ba902b7");
    pk_kv(&pk, "stream", "stderr");
    msgpack_pack_bin(&pk, 2);
    msgpack_pack_bin_body(&pk, "k\xc3", 2); /* invalid UTF-8 key */
    msgpack_pack_bin(&pk, 3);
    msgpack_pack_bin_body(&pk, "a\x80z", 3);
    pk_str(&pk, "x");
    pk_evtime(&pk, (uint32_t)T0, 5);
    struct got g[4];
    int rc, n = decode_all(sb.data, sb.size, g, 4, &rc);
    assert_int_equal(n, 2);
    assert_int_equal(g[0].kind, CLEW_FWD_RECORD);
    assert_int_equal(g[0].has_ts, 0);
    assert_true(g[0].ts == 0);
    assert_int_equal(g[0].msg_len, 5);
    assert_memory_equal(g[0].msg, "m\0\xff\n!", 5);
    assert_string_equal(g[0].label[CLEW_LABEL_HOST], "hn");
    assert_string_equal(g[0].label[CLEW_LABEL_SERVICE], "svc");
    assert_string_equal(g[0].label[CLEW_LABEL_STREAM], "stderr");
    assert_int_equal(g[0].level, 2);
    assert_string_equal(g[0].trace, "abcdef0123456789abcdef0123456789");
    assert_string_equal(g[0].span, "00f067aa0ba902b7");
    assert_string_equal(g[0].parent, "");
    assert_string_equal(g[0].fields, "{\"tag\":\"t\",\"log\":\"from log\",\"app\":\"not-used\","
                                     "\"level\":\"bogus\",\"k\xef\xbf\xbd\":\"a\xef\xbf\xbdz\","
                                     "\"x\":\"2024-01-15T10:30:00.000000005Z\"}");
    msgpack_sbuffer_destroy(&sb);
}

static void test_mapping_message_kinds(void **state)
{
    (void)state;
    SB_INIT(sb, pk);
    /* message as a map, level as a number, no stream: level from the key */
    msgpack_pack_array(&pk, 3);
    pk_str(&pk, "t");
    msgpack_pack_int64(&pk, T0);
    msgpack_pack_map(&pk, 3);
    pk_str(&pk, "message");
    msgpack_pack_map(&pk, 1);
    pk_str(&pk, "a");
    msgpack_pack_int(&pk, 1);
    pk_str(&pk, "level");
    msgpack_pack_int(&pk, 9);  /* out of range: a field, level default 6 */
    pk_kv(&pk, "service", ""); /* empty: falls through to the tag */
    struct got g[4];
    int rc, n = decode_all(sb.data, sb.size, g, 4, &rc);
    assert_int_equal(n, 2);
    assert_string_equal(g[0].msg, "{\"a\":1}");
    assert_int_equal(g[0].level, 6);
    assert_string_equal(g[0].label[CLEW_LABEL_SERVICE], "t");
    assert_string_equal(g[0].fields, "{\"tag\":\"t\",\"level\":9,\"service\":\"\"}");
    msgpack_sbuffer_destroy(&sb);
}

/* Fields JSON where the direct writer must match jansson (decode_all checks
 * every case against reference mode): repeated keys keep their first place
 * and last value, "tag" and "metadata" in the record replace the decoder's
 * own, integer keys, escapes, reals, big integers, nested values. */
static void test_fields_json_corners(void **state)
{
    (void)state;
    SB_INIT(sb, pk);
    msgpack_pack_array(&pk, 2);
    pk_str(&pk, "t");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_array(&pk, 2); /* [time, metadata] */
    msgpack_pack_int64(&pk, T0);
    msgpack_pack_map(&pk, 1);
    pk_str(&pk, "m");
    msgpack_pack_int(&pk, 1);
    msgpack_pack_map(&pk, 7);
    pk_kv(&pk, "message", "x");
    pk_str(&pk, "a");
    msgpack_pack_int(&pk, 1);
    pk_kv(&pk, "tag", "mine");
    pk_str(&pk, "a");
    msgpack_pack_int(&pk, 2);
    msgpack_pack_int(&pk, -7);
    msgpack_pack_true(&pk);
    pk_str(&pk, "big");
    msgpack_pack_uint64(&pk, UINT64_MAX);
    pk_kv(&pk, "metadata", "mine too");
    msgpack_pack_array(&pk, 2); /* plain entry, only ordinary keys: the direct path */
    msgpack_pack_int64(&pk, T0);
    msgpack_pack_map(&pk, 5);
    pk_kv(&pk, "log", "y");
    pk_str(&pk, "e\tsc");
    msgpack_pack_str(&pk, 10);
    msgpack_pack_str_body(&pk, "q\"\\\x01\x1f\x7f\n\t/\xff", 10);
    pk_str(&pk, "n");
    msgpack_pack_map(&pk, 2);
    pk_str(&pk, "i");
    msgpack_pack_int64(&pk, INT64_MIN);
    pk_str(&pk, "l");
    msgpack_pack_array(&pk, 3);
    msgpack_pack_nil(&pk);
    msgpack_pack_float(&pk, 1.5f);
    msgpack_pack_double(&pk, -0.0);
    pk_str(&pk, "e");
    msgpack_pack_array(&pk, 0);
    pk_str(&pk, "u");
    msgpack_pack_str(&pk, 7);
    msgpack_pack_str_body(&pk, "\xc3\xa9\xf0\x9f\x98\x80\xed", 7);
    struct got g[4];
    int rc, n = decode_all(sb.data, sb.size, g, 4, &rc);
    assert_int_equal(n, 3);
    assert_string_equal(g[0].fields,
                        "{\"tag\":\"mine\",\"metadata\":\"mine too\",\"a\":2,\"-7\":true,"
                        "\"big\":1.8446744073709552e19}");
    assert_string_equal(g[1].fields,
                        "{\"tag\":\"t\","
                        "\"e\\tsc\":\"q\\\"\\\\\\u0001\\u001F\x7f\\n\\t/\xef\xbf\xbd\","
                        "\"n\":{\"i\":-9223372036854775808,"
                        "\"l\":[null,1.5,-0.0]},\"e\":[],"
                        "\"u\":\"\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbd\"}");
    msgpack_sbuffer_destroy(&sb);
}

/* msgpack-c refuses a container opened inside 32 others; so does the
 * decoder, for that entry alone. */
static void test_nesting_limit(void **state)
{
    (void)state;
    for (int deep = 29; deep <= 30; deep++) {
        SB_INIT(in, ip);
        for (int e = 0; e < 2; e++) { /* [t, {"message": m, "d": [[...{}...]]}] */
            msgpack_pack_array(&ip, 2);
            msgpack_pack_int64(&ip, T0);
            msgpack_pack_map(&ip, 2);
            pk_kv(&ip, "message", e ? "after" : "deep");
            pk_str(&ip, "d");
            for (int i = 0; i < (e ? 1 : deep); i++) {
                msgpack_pack_array(&ip, 1);
            }
            msgpack_pack_map(&ip, 0);
        }
        SB_INIT(sb, pk);
        msgpack_pack_array(&pk, 2);
        pk_str(&pk, "t");
        msgpack_pack_bin(&pk, in.size);
        msgpack_pack_bin_body(&pk, in.data, in.size);
        struct got g[4];
        int rc, n = decode_all(sb.data, sb.size, g, 4, &rc);
        assert_int_equal(n, 3);
        /* entry array, map, then deep arrays: the innermost {} opens inside
         * 2 + deep containers */
        assert_int_equal(g[0].kind, deep + 2 < 32 ? CLEW_FWD_RECORD : CLEW_FWD_SKIP);
        assert_string_equal(g[1].msg, "after");
        msgpack_sbuffer_destroy(&sb);
        msgpack_sbuffer_destroy(&in);
    }
}

/* ---- malformed input ---- */

static void test_wrong_types(void **state)
{
    (void)state;
    SB_INIT(sb, pk);
    msgpack_pack_array(&pk, 3); /* 0: tag is an int: not a request */
    msgpack_pack_int(&pk, 1);
    msgpack_pack_int(&pk, 2);
    msgpack_pack_map(&pk, 0);
    msgpack_pack_array(&pk, 3); /* 1: record is a string: entry skipped, END kept */
    pk_str(&pk, "t");
    msgpack_pack_int(&pk, 2);
    pk_str(&pk, "x");
    msgpack_pack_array(&pk, 4); /* 2: options are an array */
    pk_str(&pk, "t");
    msgpack_pack_int(&pk, 2);
    msgpack_pack_map(&pk, 0);
    msgpack_pack_array(&pk, 0);
    msgpack_pack_array(&pk, 3); /* 3: time is a string */
    pk_str(&pk, "t");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_array(&pk, 2);
    pk_str(&pk, "yesterday");
    msgpack_pack_map(&pk, 0);
    msgpack_pack_nil(&pk);
    msgpack_pack_array(&pk, 2); /* 4: Message mode needs a record */
    pk_str(&pk, "t");
    msgpack_pack_int(&pk, 2);
    msgpack_pack_array(&pk, 3); /* 5: second element a map: unknown mode */
    pk_str(&pk, "t");
    msgpack_pack_map(&pk, 0);
    msgpack_pack_map(&pk, 0);
    msgpack_pack_map(&pk, 1); /* 6: a top-level map */
    pk_kv(&pk, "a", "b");
    msgpack_pack_array(&pk, 4); /* 7: chunk is a number */
    pk_str(&pk, "t");
    msgpack_pack_int(&pk, 2);
    msgpack_pack_map(&pk, 0);
    msgpack_pack_map(&pk, 1);
    pk_str(&pk, "chunk");
    msgpack_pack_int(&pk, 5);

    struct got g[16];
    int rc, n = decode_all(sb.data, sb.size, g, 16, &rc);
    assert_int_equal(rc, -EAGAIN);
    static const int kinds[] = { CLEW_FWD_SKIP, CLEW_FWD_SKIP, CLEW_FWD_END,  CLEW_FWD_SKIP,
                                 CLEW_FWD_SKIP, CLEW_FWD_END,  CLEW_FWD_SKIP, CLEW_FWD_SKIP,
                                 CLEW_FWD_SKIP, CLEW_FWD_SKIP };
    assert_int_equal(n, 10);
    for (int i = 0; i < n; i++) {
        assert_int_equal(g[i].kind, kinds[i]);
        if (kinds[i] == CLEW_FWD_SKIP) {
            assert_int_equal(g[i].error, CLEW_EFORMAT);
        }
    }
    assert_int_equal(g[0].mode, CLEW_FWD_MODE_NONE);
    assert_int_equal(g[1].mode, CLEW_FWD_MODE_MESSAGE); /* an entry skip */
    assert_int_equal(g[2].records, 0);
    assert_int_equal(g[2].skipped, 1);
    assert_int_equal(g[4].mode, CLEW_FWD_MODE_FORWARD);
    assert_int_equal(g[5].skipped, 1);
    msgpack_sbuffer_destroy(&sb);
}

static void test_bad_ext(void **state)
{
    (void)state;
    static const unsigned char times[][12] = {
        { 0xd6, 0x00, 0x65, 0xa5, 0x09, 0x28 },                         /* 4 bytes */
        { 0xd7, 0x01, 0x65, 0xa5, 0x09, 0x28, 0, 0, 0, 0 },             /* type 1 */
        { 0xc7, 0x09, 0x00, 0x65, 0xa5, 0x09, 0x28, 0, 0, 0, 0, 0 },    /* 9 bytes */
        { 0xd7, 0x00, 0x65, 0xa5, 0x09, 0x28, 0x3b, 0x9a, 0xca, 0x00 }, /* 1e9 ns */
        { 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },       /* 2^64-1 */
    };
    static const size_t tlen[] = { 6, 10, 12, 10, 9 };
    for (int i = 0; i < 5; i++) {
        SB_INIT(sb, pk);
        msgpack_pack_array(&pk, 3);
        pk_str(&pk, "t");
        msgpack_sbuffer_write(&sb, (const char *)times[i], tlen[i]);
        pk_rec(&pk, "x", 0);
        pk_message(&pk, "after", 1);
        struct got g[8];
        int rc, n = decode_all(sb.data, sb.size, g, 8, &rc);
        assert_int_equal(n, 4);
        assert_int_equal(g[0].kind, CLEW_FWD_SKIP);
        assert_int_equal(g[0].error, CLEW_EFORMAT);
        assert_int_equal(g[1].kind, CLEW_FWD_END);
        assert_int_equal(g[1].skipped, 1);
        assert_int_equal(g[2].kind, CLEW_FWD_RECORD);
        assert_string_equal(g[2].msg, "after");
        msgpack_sbuffer_destroy(&sb);
    }
}

static void test_bad_gzip(void **state)
{
    (void)state;
    for (int variant = 0; variant < 4; variant++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        if (variant == 0) {
            pk_gzip_request(&sb, 9); /* second member loses its trailer and more */
        } else if (variant == 1) {
            pk_gzip_request(&sb, 0);
            sb.data[sb.size - 40] ^= 0x55; /* damage the deflate data */
        } else {
            msgpack_packer pk;
            msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
            pk_packed(&pk, "not gzip at all", 15, variant == 2 ? "gzip" : "zstd");
        }
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        pk_message(&pk, "after", 1);
        struct got g[8];
        int rc, n = decode_all(sb.data, sb.size, g, 8, &rc);
        static const int want[] = { CLEW_ETRUNC, CLEW_ECORRUPT, CLEW_ECORRUPT, CLEW_EFORMAT };
        assert_int_equal(n, 4);
        assert_int_equal(g[0].kind, CLEW_FWD_SKIP);
        assert_int_equal(g[0].error, want[variant]);
        assert_int_equal(g[1].kind, CLEW_FWD_END);
        assert_int_equal(g[1].records, 0);
        assert_int_equal(g[2].kind, CLEW_FWD_RECORD);
        assert_string_equal(g[2].msg, "after");
        msgpack_sbuffer_destroy(&sb);
    }
}

static void test_entries_not_arrays(void **state)
{
    (void)state;
    SB_INIT(sb, pk);
    /* Forward: [1, "x", [T0, rec], [T0], [T0, rec, extra], [T0, rec]] */
    msgpack_pack_array(&pk, 2);
    pk_str(&pk, "t");
    msgpack_pack_array(&pk, 6);
    msgpack_pack_int(&pk, 1);
    pk_str(&pk, "x");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int64(&pk, T0);
    pk_rec(&pk, "ok1", 1);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_int64(&pk, T0);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int64(&pk, T0);
    pk_rec(&pk, "bad", 1);
    msgpack_pack_int(&pk, 0);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int64(&pk, T0);
    pk_rec(&pk, "ok2", 2);
    /* Packed: a map entry, a good one, then a cut entry */
    msgpack_sbuffer ent;
    msgpack_sbuffer_init(&ent);
    msgpack_packer epk;
    msgpack_packer_init(&epk, &ent, msgpack_sbuffer_write);
    pk_rec(&epk, "map", 0);
    pk_entries(&ent, 7, 9);
    pk_packed(&pk, ent.data, ent.size - 3, NULL);

    struct got g[16];
    int rc, n = decode_all(sb.data, sb.size, g, 16, &rc);
    static const int kinds[] = { CLEW_FWD_SKIP,   CLEW_FWD_SKIP,   CLEW_FWD_RECORD, CLEW_FWD_SKIP,
                                 CLEW_FWD_SKIP,   CLEW_FWD_RECORD, CLEW_FWD_END,    CLEW_FWD_SKIP,
                                 CLEW_FWD_RECORD, CLEW_FWD_SKIP,   CLEW_FWD_END };
    assert_int_equal(n, 11);
    for (int i = 0; i < n; i++) {
        assert_int_equal(g[i].kind, kinds[i]);
    }
    assert_string_equal(g[2].msg, "ok1");
    assert_string_equal(g[5].msg, "ok2");
    assert_int_equal(g[6].records, 2);
    assert_int_equal(g[6].skipped, 4);
    assert_int_equal(g[7].error, CLEW_EFORMAT);
    assert_string_equal(g[8].msg, "e7");
    assert_int_equal(g[9].error, CLEW_ETRUNC);
    assert_int_equal(g[10].records, 1);
    msgpack_sbuffer_destroy(&ent);
    msgpack_sbuffer_destroy(&sb);
}

static void test_bad_between_good(void **state)
{
    (void)state;
    SB_INIT(sb, pk);
    pk_message(&pk, "first", 0);
    msgpack_pack_nil(&pk);      /* keep-alive: silent */
    msgpack_pack_array(&pk, 1); /* bad request */
    pk_str(&pk, "t");
    msgpack_pack_int(&pk, 42); /* not an array */
    pk_message(&pk, "second", 1);
    struct got g[8];
    int rc, n = decode_all(sb.data, sb.size, g, 8, &rc);
    assert_int_equal(rc, -EAGAIN);
    assert_int_equal(n, 6);
    assert_int_equal(g[0].kind, CLEW_FWD_RECORD);
    assert_string_equal(g[0].msg, "first");
    assert_int_equal(g[1].kind, CLEW_FWD_END);
    assert_int_equal(g[2].kind, CLEW_FWD_SKIP);
    assert_int_equal(g[3].kind, CLEW_FWD_SKIP);
    assert_int_equal(g[4].kind, CLEW_FWD_RECORD);
    assert_string_equal(g[4].msg, "second");
    assert_int_equal(g[5].kind, CLEW_FWD_END);

    /* Too deep for msgpack-c (32 levels): skipped, the stream goes on. */
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_array(&pk, 3);
    pk_str(&pk, "t");
    msgpack_pack_int(&pk, 1);
    msgpack_pack_map(&pk, 1);
    pk_str(&pk, "deep");
    for (int i = 0; i < 40; i++) {
        msgpack_pack_array(&pk, 1);
    }
    msgpack_pack_nil(&pk);
    pk_message(&pk, "third", 2);
    n = decode_all(sb.data, sb.size, g, 8, &rc);
    assert_int_equal(n, 3);
    assert_int_equal(g[0].kind, CLEW_FWD_SKIP);
    assert_int_equal(g[0].error, CLEW_EFORMAT);
    assert_string_equal(g[1].msg, "third");
    msgpack_sbuffer_destroy(&sb);
}

static void test_not_msgpack_is_fatal(void **state)
{
    (void)state;
    SB_INIT(sb, pk);
    pk_message(&pk, "kept", 0);
    msgpack_sbuffer_write(&sb, "\xc1", 1);
    pk_message(&pk, "lost", 1);
    struct got g[8];
    int rc, n = decode(NULL, sb.data, sb.size, 0, g, 8, &rc);
    assert_int_equal(rc, CLEW_ECORRUPT);
    assert_int_equal(n, 2);
    assert_string_equal(g[0].msg, "kept");

    struct clew_fwd_decoder *d;
    struct clew_fwd_event ev;
    assert_int_equal(clew_fwd_decoder_new(NULL, &d), 0);
    assert_int_equal(clew_fwd_decoder_feed(d, "\x93\xc1", 2), 0);
    assert_int_equal(clew_fwd_decoder_next(d, &ev), CLEW_ECORRUPT);
    assert_int_equal(clew_fwd_decoder_next(d, &ev), CLEW_ECORRUPT); /* sticky */
    assert_int_equal(clew_fwd_decoder_feed(d, "\xc0", 1), CLEW_ECORRUPT);
    clew_fwd_decoder_free(d);
    msgpack_sbuffer_destroy(&sb);
}

static void test_limits(void **state)
{
    (void)state;
    struct clew_fwd_opts o = { .max_buffer = 1024, .max_inflated = 64, .max_nodes = 50 };
    struct clew_fwd_decoder *d;
    struct clew_fwd_event ev;
    char big[2048] = { 0 };

    /* Feeding past max_buffer fails and is sticky. */
    assert_int_equal(clew_fwd_decoder_new(&o, &d), 0);
    assert_int_equal(clew_fwd_decoder_feed(d, big, 1000), 0);
    assert_int_equal(clew_fwd_decoder_feed(d, big, 25), CLEW_ETOOBIG);
    assert_int_equal(clew_fwd_decoder_next(d, &ev), CLEW_ETOOBIG);
    clew_fwd_decoder_free(d);

    /* A declared size beyond max_buffer fails before its bytes arrive, and a
     * 4-billion-element array header allocates nothing. */
    static const char *heads[] = { "\x92\xa1t\xc6\x00\x10\x00\x00", "\xdd\xff\xff\xff\xff" };
    static const size_t hlen[] = { 8, 5 };
    for (int i = 0; i < 2; i++) {
        assert_int_equal(clew_fwd_decoder_new(&o, &d), 0);
        assert_int_equal(clew_fwd_decoder_feed(d, heads[i], hlen[i]), 0);
        assert_int_equal(clew_fwd_decoder_next(d, &ev), CLEW_ETOOBIG);
        clew_fwd_decoder_free(d);
    }

    /* Inflating past max_inflated and requests past max_nodes are skipped. */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pk_gzip_request(&sb, 0);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    pk_str(&pk, "t");
    msgpack_pack_array(&pk, 30);
    for (int i = 0; i < 30; i++) {
        msgpack_pack_array(&pk, 2);
        msgpack_pack_int(&pk, 1);
        msgpack_pack_map(&pk, 0);
    }
    msgpack_pack_nil(&pk);
    pk_message(&pk, "ok", 0);
    struct got g[8];
    int rc, n = decode(&o, sb.data, sb.size, 100, g, 8, &rc);
    assert_int_equal(rc, -EAGAIN);
    assert_int_equal(n, 5);
    assert_int_equal(g[0].kind, CLEW_FWD_SKIP);
    assert_int_equal(g[0].error, CLEW_ETOOBIG);
    assert_int_equal(g[1].kind, CLEW_FWD_END);
    assert_int_equal(g[2].kind, CLEW_FWD_SKIP);
    assert_int_equal(g[2].error, CLEW_ETOOBIG);
    assert_string_equal(g[3].msg, "ok");
    msgpack_sbuffer_destroy(&sb);
}

static void test_stats_and_alloc_failures(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pk_gzip_request(&sb, 0);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_nil(&pk);
    pk_message(&pk, "m", 0);
    pk_str(&pk, "junk");

    struct clew_fwd_decoder *d;
    struct clew_fwd_event ev;
    assert_int_equal(clew_fwd_decoder_new(NULL, &d), 0);
    assert_int_equal(clew_fwd_decoder_feed(d, sb.data, sb.size), 0);
    while (clew_fwd_decoder_next(d, &ev) == 0) {
    }
    struct clew_fwd_stats st;
    clew_fwd_decoder_stats(d, &st);
    assert_true(st.requests == 2 && st.records == 6 && st.keepalives == 1);
    assert_true(st.bad_requests == 1 && st.bad_entries == 0 && st.bytes == sb.size);
    clew_fwd_decoder_free(d);

    /* Every allocation failure ends in -ENOMEM or success, never a crash or
     * a leak (jansson and msgpack-c allocate outside clew_malloc). */
    int completed = 0;
    for (long k = 0; k < 200 && !completed; k++) {
        int rc = 0, records = 0;
        clew_alloc_fail_after(k);
        if (clew_fwd_decoder_new(NULL, &d) == 0) {
            rc = clew_fwd_decoder_feed(d, sb.data, sb.size);
            while (rc == 0) {
                rc = clew_fwd_decoder_next(d, &ev);
                records += rc == 0 && ev.kind == CLEW_FWD_RECORD;
            }
            assert_true(rc == -EAGAIN || rc == -ENOMEM);
            completed = rc == -EAGAIN;
            if (completed) {
                assert_int_equal(records, 6);
            }
            clew_fwd_decoder_free(d);
        }
        clew_alloc_fail_after(-1);
    }
    assert_true(completed);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_int_time),
        cmocka_unit_test(test_message_docker_and_times),
        cmocka_unit_test(test_forward_mode),
        cmocka_unit_test(test_packed_bin_and_str),
        cmocka_unit_test(test_compressed_two_members),
        cmocka_unit_test(test_mapping_rules),
        cmocka_unit_test(test_mapping_message_kinds),
        cmocka_unit_test(test_fields_json_corners),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_bad_ext),
        cmocka_unit_test(test_bad_gzip),
        cmocka_unit_test(test_entries_not_arrays),
        cmocka_unit_test(test_bad_between_good),
        cmocka_unit_test(test_not_msgpack_is_fatal),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_stats_and_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
