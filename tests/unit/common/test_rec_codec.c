/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clew/error.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/rec_codec.h"

#define S(lit) ((struct clew_str){ (lit), sizeof(lit) - 1 })

static struct clew_record full_record(void)
{
    struct clew_record r;
    memset(&r, 0, sizeof(r));
    r.ts = -1234567890123456789LL;
    r.level = 3;
    r.input = CLEW_INPUT_FORWARD;
    r.flags = CLEW_REC_INJECTED | CLEW_REC_TRUNCATED | 0x8000;
    r.labels[CLEW_LABEL_HOST] = S("web-01");
    r.labels[CLEW_LABEL_SERVICE] = S("checkout");
    r.labels[CLEW_LABEL_CONTAINER_ID] = S("4f2a9c0d1e3b");
    r.labels[CLEW_LABEL_CONTAINER_NAME] = S("checkout-7d9f");
    r.labels[CLEW_LABEL_STREAM] = S("stderr");
    r.message = S("payment failed: card declined (code=51)");
    r.trace_id = S("4bf92f3577b34da6a3ce929d0e0e4736");
    r.span_id = S("00f067aa0ba902b7");
    r.parent_span_id = S("a3ce929d0e0e4736");
    r.fields = S("{\"order\":1234,\"amount\":\"9.99\"}");
    return r;
}

static void assert_str_eq(struct clew_str a, struct clew_str b)
{
    assert_int_equal(a.len, b.len);
    if (a.len > 0) {
        assert_memory_equal(a.ptr, b.ptr, a.len);
    }
}

static void assert_rec_eq(const struct clew_record *a, const struct clew_record *b)
{
    assert_true(a->ts == b->ts);
    assert_int_equal(a->level, b->level);
    assert_int_equal(a->input, b->input);
    assert_int_equal(a->flags, b->flags);
    for (int i = 0; i < CLEW_LABEL_COUNT; i++) {
        assert_str_eq(a->labels[i], b->labels[i]);
    }
    assert_str_eq(a->message, b->message);
    assert_str_eq(a->trace_id, b->trace_id);
    assert_str_eq(a->span_id, b->span_id);
    assert_str_eq(a->parent_span_id, b->parent_span_id);
    assert_str_eq(a->fields, b->fields);
}

/* Encodes r, checks the exact size, decodes it back, checks every field and
 * that re-encoding the decoded record gives the same bytes. */
static void round_trip(const struct clew_record *r)
{
    struct clew_buf b, b2;
    clew_buf_init(&b);
    clew_buf_init(&b2);
    assert_int_equal(clew_buf_put_u8(&b, 0xAA), 0); /* encode appends */
    assert_int_equal(clew_rec_encode(&b, r), 0);
    assert_int_equal(b.len - 1, clew_rec_encoded_size(r));
    assert_int_equal(b.data[0], 0xAA);

    struct clew_rd rd;
    clew_rd_init(&rd, b.data + 1, b.len - 1);
    struct clew_record back;
    memset(&back, 0x5A, sizeof(back));
    assert_int_equal(clew_rec_decode(&rd, &back), 0);
    assert_int_equal(clew_rd_left(&rd), 0);
    assert_rec_eq(r, &back);
    assert_int_equal(clew_rec_encode(&b2, &back), 0);
    assert_int_equal(b2.len, b.len - 1);
    assert_memory_equal(b2.data, b.data + 1, b2.len);
    clew_buf_close(&b);
    clew_buf_close(&b2);
}

static void test_round_trip_full(void **state)
{
    (void)state;
    struct clew_record r = full_record();
    round_trip(&r);
    /* Every level and input value, and the extremes of ts. */
    for (int lv = 0; lv <= 7; lv++) {
        r.level = (uint8_t)lv;
        r.input = (uint8_t)(lv % CLEW_INPUT_MAX_);
        r.ts = lv % 2 ? INT64_MIN : INT64_MAX;
        r.flags = (uint16_t)(lv == 7 ? UINT16_MAX : lv);
        round_trip(&r);
    }
}

static void test_round_trip_empty(void **state)
{
    (void)state;
    struct clew_record r;
    memset(&r, 0, sizeof(r)); /* all strings empty with NULL ptr */
    assert_int_equal(clew_rec_encoded_size(&r), 8 + 1 + 1 + 1 + 10);
    round_trip(&r);
    struct clew_record e = full_record();
    e.message = S(""); /* empty but non-NULL */
    e.labels[CLEW_LABEL_STREAM] = S("");
    e.fields = S("");
    round_trip(&e);
}

static void test_round_trip_binary(void **state)
{
    (void)state;
    static const char bin[] = { 'a',        '\0',       'b',        (char)0xff, (char)0xc3,
                                (char)0x28, (char)0xed, (char)0xa0, (char)0x80, '\0' };
    struct clew_record r = full_record();
    r.message = (struct clew_str){ bin, sizeof(bin) };
    r.labels[CLEW_LABEL_HOST] = (struct clew_str){ bin + 1, 3 }; /* NUL first */
    r.fields = (struct clew_str){ bin + 3, 6 };                  /* invalid UTF-8 only */
    round_trip(&r);
    /* host 3, service 8, container id 12, name 13, stream 6, message 10,
     * trace 32, span 16, parent 16, fields 6. */
    assert_int_equal(clew_rec_raw_size(&r), 3 + 8 + 12 + 13 + 6 + 10 + 32 + 16 + 16 + 6);
}

static void test_big_message(void **state)
{
    (void)state;
    size_t n = 1u << 20;
    char *msg = malloc(n);
    assert_non_null(msg);
    for (size_t i = 0; i < n; i++) {
        msg[i] = (char)(i * 131 + (i >> 9));
    }
    struct clew_record r = full_record();
    r.message = (struct clew_str){ msg, n };
    /* ts 8, level 1, input 1, flags varint(0x8003) 3, 1 MiB length varint 3. */
    size_t want = 8 + 1 + 1 + 3 + 3 + n;
    for (int i = 0; i < CLEW_LABEL_COUNT; i++) {
        want += 1 + r.labels[i].len;
    }
    want += 1 + r.trace_id.len + 1 + r.span_id.len + 1 + r.parent_span_id.len + 1 + r.fields.len;
    assert_int_equal(clew_rec_encoded_size(&r), want);
    round_trip(&r);
    free(msg);
}

static void test_encoded_size_varints(void **state)
{
    (void)state;
    /* String lengths on either side of the varint byte boundaries. */
    static const size_t lens[] = { 0, 1, 127, 128, 16383, 16384, 70000 };
    char *p = calloc(1, 70000);
    assert_non_null(p);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        struct clew_record r;
        memset(&r, 0, sizeof(r));
        r.flags = (uint16_t)(lens[i] & 0xffff);
        r.span_id = (struct clew_str){ p, lens[i] };
        size_t vl = lens[i] < 128 ? 1 : lens[i] < 16384 ? 2 : 3;
        size_t fl = r.flags < 128 ? 1 : r.flags < 16384 ? 2 : 3;
        assert_int_equal(clew_rec_encoded_size(&r), 8 + 1 + 1 + fl + 9 + vl + lens[i]);
        round_trip(&r);
    }
    free(p);
}

static void test_strict_prefixes_truncated(void **state)
{
    (void)state;
    struct clew_record r = full_record();
    struct clew_buf b;
    clew_buf_init(&b);
    assert_int_equal(clew_rec_encode(&b, &r), 0);
    for (size_t n = 0; n < b.len; n++) {
        /* Copy so ASan sees any read past the prefix. */
        uint8_t *p = malloc(n ? n : 1);
        assert_non_null(p);
        memcpy(p, b.data, n);
        struct clew_rd rd;
        clew_rd_init(&rd, p, n);
        struct clew_record out;
        assert_int_equal(clew_rec_decode(&rd, &out), CLEW_ETRUNC);
        assert_ptr_equal(rd.p, p);
        free(p);
    }
    clew_buf_close(&b);
}

static void test_decode_rejects(void **state)
{
    (void)state;
    struct clew_record r = full_record();
    struct clew_buf b;
    clew_buf_init(&b);
    assert_int_equal(clew_rec_encode(&b, &r), 0);
    struct clew_rd rd;
    struct clew_record out;
    for (int lv = 8; lv < 256; lv += 31) {
        b.data[8] = (uint8_t)lv; /* level byte */
        clew_rd_init(&rd, b.data, b.len);
        assert_int_equal(clew_rec_decode(&rd, &out), CLEW_ECORRUPT);
        assert_ptr_equal(rd.p, b.data);
    }
    b.data[8] = 7;
    b.data[9] = CLEW_INPUT_MAX_; /* input byte */
    clew_rd_init(&rd, b.data, b.len);
    assert_int_equal(clew_rec_decode(&rd, &out), CLEW_ECORRUPT);
    b.data[9] = 0;
    clew_rd_init(&rd, b.data, b.len);
    assert_int_equal(clew_rec_decode(&rd, &out), 0);
    assert_int_equal(out.level, 7);
    clew_buf_close(&b);

    /* flags beyond 16 bits. */
    uint8_t fl[32] = { 0 };
    fl[10] = 0x80; /* varint 0x10000 */
    fl[11] = 0x80;
    fl[12] = 0x04;
    clew_rd_init(&rd, fl, sizeof(fl));
    assert_int_equal(clew_rec_decode(&rd, &out), CLEW_ECORRUPT);
    assert_ptr_equal(rd.p, fl);

    /* A string length beyond the cap is corrupt even when the bytes are
     * there (calloc: the untouched pages cost nothing). */
    size_t blen = (size_t)CLEW_REC_MAX_FIELD + 64;
    uint8_t *big = calloc(1, blen);
    assert_non_null(big);
    struct clew_buf v;
    clew_buf_init(&v);
    assert_int_equal(clew_buf_put_varint(&v, (uint64_t)CLEW_REC_MAX_FIELD + 1), 0);
    memcpy(big + 11, v.data, v.len); /* the host length */
    clew_rd_init(&rd, big, blen);
    assert_int_equal(clew_rec_decode(&rd, &out), CLEW_ECORRUPT);
    assert_ptr_equal(rd.p, big);
    clew_buf_close(&v);
    free(big);
}

static void test_encode_too_big_and_oom(void **state)
{
    (void)state;
    struct clew_record r = full_record();
    struct clew_buf b;
    clew_buf_init(&b);
    assert_int_equal(clew_buf_put_u32(&b, 0x01020304), 0);
    r.fields = (struct clew_str){ "x", (size_t)CLEW_REC_MAX_FIELD + 1 }; /* never read */
    assert_int_equal(clew_rec_encode(&b, &r), CLEW_ETOOBIG);
    assert_int_equal(b.len, 4);
    r = full_record();
    clew_alloc_fail_after(0);
    struct clew_buf e;
    clew_buf_init(&e);
    assert_int_equal(clew_rec_encode(&e, &r), -ENOMEM);
    clew_alloc_fail_after(-1);
    assert_int_equal(e.len, 0);
    clew_buf_close(&b);
    clew_buf_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_full),
        cmocka_unit_test(test_round_trip_empty),
        cmocka_unit_test(test_round_trip_binary),
        cmocka_unit_test(test_big_message),
        cmocka_unit_test(test_encoded_size_varints),
        cmocka_unit_test(test_strict_prefixes_truncated),
        cmocka_unit_test(test_decode_rejects),
        cmocka_unit_test(test_encode_too_big_and_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
