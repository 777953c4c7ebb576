/* SPDX-License-Identifier: MIT */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clew/error.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/seg_text.h"

#define MAXS 64

struct item {
    const char *s;
    size_t len;
    struct clew_str ids[3];
};

static const char TRACE[] = "4bf92f3577b34da6a3ce929d0e0e4736";
static const char SPAN[] = "00f067aa0ba902b7";
static const char PARENT[] = "b7ad6b7169203331";

/* Streams of an encoder as the decoder takes them. */
static void streams_of(const struct clew_seg_text_enc *e, const uint8_t *st[4], size_t len[4])
{
    static const uint8_t empty[1];
    for (int k = 0; k < CLEW_SEG_TEXT_NSTREAMS; k++) {
        st[k] = e->s[k].len > 0 ? e->s[k].data : empty;
        len[k] = e->s[k].len;
    }
}

/* Encodes items[0..n) as one column, decodes it and compares byte for byte;
 * every third string is skipped and the one after checked. */
static void round_trip(const struct item *items, size_t n)
{
    struct clew_seg_text_enc e;
    clew_seg_text_enc_init(&e);
    for (int pass = 0; pass < 2; pass++) { /* the second pass reuses a reset encoder */
        clew_seg_text_enc_reset(&e);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(clew_seg_text_enc_add(&e, items[i].s, items[i].len, items[i].ids), 0);
        }
        const uint8_t *st[4];
        size_t len[4];
        streams_of(&e, st, len);
        struct clew_seg_text_dec d;
        assert_int_equal(clew_seg_text_dec_init(&d, st, len), 0);
        struct clew_buf out;
        clew_buf_init(&out);
        for (size_t i = 0; i < n; i++) {
            if (pass == 1 && i % 3 == 1) {
                assert_int_equal(clew_seg_text_dec_skip(&d), 0);
                continue;
            }
            clew_buf_reset(&out);
            assert_int_equal(clew_seg_text_dec_next(&d, items[i].ids, &out, 1u << 26), 0);
            assert_int_equal(out.len, items[i].len);
            if (out.len > 0) {
                assert_memory_equal(out.data, items[i].s, out.len);
            }
        }
        assert_int_equal(clew_seg_text_dec_end(&d), 0);
        /* One more string is one too many. */
        clew_buf_reset(&out);
        assert_int_equal(clew_seg_text_dec_next(&d, items[0].ids, &out, 100), CLEW_ECORRUPT);
        clew_seg_text_dec_close(&d);
        clew_buf_close(&out);
    }
    clew_seg_text_enc_close(&e);
}

static struct item item_z(const char *s)
{
    struct item it = { s, strlen(s), { { TRACE, 32 }, { SPAN, 16 }, { PARENT, 16 } } };
    return it;
}

/* The exact streams of a few strings, as docs/FORMAT.md defines them: the
 * bytes on disk must not change with the encoder's internals (its digit
 * runs at the end of a string or read 8 at a time, a hex run across the
 * 64-byte boundary of its bit masks, escapes, a long literal). */
static void test_golden_streams(void **state)
{
    (void)state;
    static const char *cases[] = {
        "n=0000 v=12345678 w=123456789012 x",
        "tail 0042",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxabcd1234ef 7",
        "a literal longer than thirty-two bytes, then \xff and \n and 9",
        "tail 0042",
    };
    static const uint8_t want0[] = { 0x00, 0x01, 0x02, 0x03, 0x01 };
    static const uint8_t want1[] = {
        0x6e, 0x3d, 0xff, 0x02, 0x20, 0x76, 0x3d, 0xff, 0x02, 0x20, 0x77, 0x3d, 0xff, 0x02,
        0x20, 0x78, 0x0a, 0x74, 0x61, 0x69, 0x6c, 0x20, 0xff, 0x02, 0x0a, 0x78, 0x78, 0x78,
        0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78,
        0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78,
        0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78,
        0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78,
        0x78, 0x78, 0xff, 0x03, 0x20, 0xff, 0x02, 0x0a, 0x61, 0x20, 0x6c, 0x69, 0x74, 0x65,
        0x72, 0x61, 0x6c, 0x20, 0x6c, 0x6f, 0x6e, 0x67, 0x65, 0x72, 0x20, 0x74, 0x68, 0x61,
        0x6e, 0x20, 0x74, 0x68, 0x69, 0x72, 0x74, 0x79, 0x2d, 0x74, 0x77, 0x6f, 0x20, 0x62,
        0x79, 0x74, 0x65, 0x73, 0x2c, 0x20, 0x74, 0x68, 0x65, 0x6e, 0x20, 0xff, 0x00, 0x20,
        0x61, 0x6e, 0x64, 0x20, 0xff, 0x01, 0x20, 0x61, 0x6e, 0x64, 0x20, 0xff, 0x02, 0x0a
    };
    static const uint8_t want2[] = { 0x01, 0x03, 0x9c, 0x85, 0xe3, 0x0b, 0xa8, 0xe8, 0xc8,
                                     0xe9, 0x97, 0x07, 0x55, 0x02, 0x0e, 0x12, 0x55, 0x02 };
    static const uint8_t want3[] = { 0x0a, 0xab, 0xcd, 0x12, 0x34, 0xef };
    const uint8_t *want[4] = { want0, want1, want2, want3 };
    const size_t wlen[4] = { sizeof(want0), sizeof(want1), sizeof(want2), sizeof(want3) };
    struct clew_seg_text_enc e;
    clew_seg_text_enc_init(&e);
    const struct clew_str none[3] = { { "", 0 }, { "", 0 }, { "", 0 } };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(clew_seg_text_enc_add(&e, cases[i], strlen(cases[i]), none), 0);
    }
    for (int k = 0; k < CLEW_SEG_TEXT_NSTREAMS; k++) {
        assert_int_equal(e.s[k].len, wlen[k]);
        assert_memory_equal(e.s[k].data, want[k], wlen[k]);
    }
    clew_seg_text_enc_close(&e);
}

static void test_edges(void **state)
{
    (void)state;
    static const char *cases[] = {
        "",
        "plain text without any number",
        "0",
        "00",
        "007 and 0.057 and 10.0.0.1 and -42",
        "123456789012345678",                         /* 18 digits: one int */
        "1234567890123456789",                        /* 19: two pieces      */
        "000000000000000000000000000000000000000001", /* zeros over pieces   */
        "18446744073709551615 99999999999999999999",
        "blk_-1608999687919862906 size 67108864",
        "request_id=8279b687-9f41-46cc-82e5-f79ff09ae6aa",
        "0x1bd2b667 mask 0x04 e5 5c:50:15:36:bc:03 abc1 1abc deadbeef cafe1",
        "odd hex a1b2c3d4e dead1 0ffff",
        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ("{\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\","
         "\"parent_span_id\":\"b7ad6b7169203331\"}"),
        "4bf92f3577b34da6a3ce929d0e0e4736", /* the whole string is the id */
        "x4bf92f3577b34da6a3ce929d0e0e4736y 4bf92f3577b34da6a3ce929d0e0e47361",
        "4bf92f3577b34da6a3ce929d0e0e4736b7ad6b7169203331", /* two ids in one hex run */
        "line one\nline two\n\n",
        "\xff\xff escapes \xff\x02 \xff\x04 \n\xff",
        "trailing digits 12345",
        "12345 leading digits",
        "ABCDEF0123 upper hex stays text",
    };
    struct item items[sizeof(cases) / sizeof(cases[0])];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        items[i] = item_z(cases[i]);
    }
    round_trip(items, sizeof(cases) / sizeof(cases[0]));
}

/* Ids that are not hex, short, empty, equal to each other or overlapping. */
static void test_odd_ids(void **state)
{
    (void)state;
    struct item it[8];
    it[0] = (struct item){ "user u-17 req request-0042-abc done request-0042-abc",
                           52,
                           { { "request-0042-abc", 16 }, { "", 0 }, { NULL, 0 } } };
    it[1] = (struct item){ "short ids abc abc", 17, { { "abc", 3 }, { "abc", 3 }, { "ab", 2 } } };
    it[2] = (struct item){ "same 0123456789abcdef twice 0123456789abcdef",
                           44,
                           { { "0123456789abcdef", 16 }, { "0123456789abcdef", 16 }, { "", 0 } } };
    it[3] = (struct item){ "overlap aaaaaaaaaaaa!",
                           21,
                           { { "aaaaaaaaaa", 10 }, { "aaaaaaaaaaa", 11 }, { "", 0 } } };
    it[4] = (struct item){ "binary \xff\n\x00 id \xff\n\x00\x01\x02\x03\x04\x05 x",
                           24,
                           { { "\xff\n\x00\x01\x02\x03\x04\x05", 8 }, { "", 0 }, { "", 0 } } };
    it[5] = (struct item){ "upper 4BF92F3577B34DA6 in text",
                           30,
                           { { "4BF92F3577B34DA6", 16 }, { "", 0 }, { "", 0 } } };
    it[6] =
        (struct item){ "id not present 12", 17, { { TRACE, 32 }, { SPAN, 16 }, { PARENT, 16 } } };
    it[7] = (struct item){ "all-letter id abcdefabcdefabcd here",
                           35,
                           { { "abcdefabcdefabcd", 16 }, { "", 0 }, { "", 0 } } };
    round_trip(it, 8);
}

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Random strings over an alphabet rich in digits, hex letters, escapes. */
static void test_random(void **state)
{
    (void)state;
    static const char alpha[] = "0123456789abcdefxyz -.:=\n\xff\x00";
    enum { N = 3000 };
    static char buf[N][MAXS];
    static struct item items[N];
    for (size_t i = 0; i < N; i++) {
        size_t n = rnd() % MAXS;
        for (size_t k = 0; k < n; k++) {
            buf[i][k] = alpha[rnd() % (sizeof(alpha) - 1)];
        }
        if (n > 20 && rnd() % 2) {
            memcpy(buf[i] + rnd() % (n - 16), SPAN, 16);
        }
        items[i] = (struct item){ buf[i], n, { { TRACE, 32 }, { SPAN, 16 }, { PARENT, 16 } } };
        if (rnd() % 4 == 0) {
            items[i].ids[1] = (struct clew_str){ buf[i], n < 12 ? n : 12 }; /* a prefix */
        }
    }
    round_trip(items, N);
}

/* Repeated strings (the container metadata in fields) are written from the
 * repeat cache: the streams must be byte for byte those of an encoder that
 * tokenizes every string, across ids that occur in the text or not, empty
 * strings, strings over the cache's size limit and a reset between
 * columns; and they must decode back. */
static void test_repeats_identical(void **state)
{
    (void)state;
    enum { N = 6000 };
    static char big[CLEW_SEG_TEXT_REPEAT_MAX + 40];
    memset(big, 'q', sizeof(big));
    memcpy(big + 100, "id=4bf92f3577b34da6a3ce929d0e0e4736 n=42", 3 + 32 + 5);
    const char *pool[] = {
        "{\"tag\":\"clew-ship\",\"image\":\"shop/svc:1.2\",\"n\":7}",
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7 took 12 ms", "",
        "abc 0xdeadbeef 123456789012 -17", big
    };
    const size_t plen[] = { strlen(pool[0]), strlen(pool[1]), 0, strlen(pool[3]), sizeof(big) };
    const struct clew_str idsets[3][3] = {
        { { TRACE, 32 }, { SPAN, 16 }, { PARENT, 16 } },
        { { "", 0 }, { "", 0 }, { "", 0 } },
        { { TRACE, 32 }, { "", 0 }, { SPAN, 16 } },
    };
    static struct item items[N];
    for (size_t i = 0; i < N; i++) {
        size_t k = rnd() % 5, q = rnd() % 3;
        items[i] = (struct item){ pool[k], plen[k], { idsets[q][0], idsets[q][1], idsets[q][2] } };
    }
    struct clew_seg_text_enc a, b;
    clew_seg_text_enc_init(&a);
    clew_seg_text_enc_init(&b);
    b.repeat_off = 1;
    for (int col = 0; col < 2; col++) {
        clew_seg_text_enc_reset(&a);
        clew_seg_text_enc_reset(&b);
        for (size_t i = (size_t)col; i < N; i++) {
            assert_int_equal(clew_seg_text_enc_add(&a, items[i].s, items[i].len, items[i].ids), 0);
            assert_int_equal(clew_seg_text_enc_add(&b, items[i].s, items[i].len, items[i].ids), 0);
        }
        assert_true(a.rep_hits > N / 2);
        for (int k = 0; k < CLEW_SEG_TEXT_NSTREAMS; k++) {
            assert_int_equal(a.s[k].len, b.s[k].len);
            assert_memory_equal(a.s[k].data, b.s[k].data, a.s[k].len);
        }
    }
    clew_seg_text_enc_close(&a);
    clew_seg_text_enc_close(&b);
    round_trip(items, N);
}

/* Strings of one template share it: the templates stream holds it once. */
static void test_templates_shared(void **state)
{
    (void)state;
    struct clew_seg_text_enc e;
    clew_seg_text_enc_init(&e);
    struct clew_str ids[3] = { { TRACE, 32 }, { SPAN, 16 }, { "", 0 } };
    for (int i = 0; i < 1000; i++) {
        char s[128];
        int n = snprintf(s, sizeof(s), "GET /api/v1/items/%d took %d ms trace=%s", i * 7919,
                         i % 300, TRACE);
        assert_int_equal(clew_seg_text_enc_add(&e, s, (size_t)n, ids), 0);
    }
    const char want[] = "GET /api/v\xff\x02/items/\xff\x02 took \xff\x02 ms trace=\xff\x04\n";
    assert_int_equal(e.s[CLEW_SEG_TEXT_TMPL].len, sizeof(want) - 1);
    assert_memory_equal(e.s[CLEW_SEG_TEXT_TMPL].data, want, sizeof(want) - 1);
    assert_int_equal(e.s[CLEW_SEG_TEXT_TIDS].len, 1000);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(e.s[CLEW_SEG_TEXT_TIDS].data[i], 0);
    }
    assert_int_equal(e.s[CLEW_SEG_TEXT_HEX].len, 0);
    clew_seg_text_enc_close(&e);
}

/* Builds a column of two strings and returns a copy of its streams. */
static void sample(uint8_t st[4][256], size_t len[4])
{
    struct clew_seg_text_enc e;
    clew_seg_text_enc_init(&e);
    struct clew_str ids[3] = { { TRACE, 32 }, { "", 0 }, { "", 0 } };
    assert_int_equal(clew_seg_text_enc_add(&e, "a 12 cafe1234 b", 15, ids), 0);
    assert_int_equal(clew_seg_text_enc_add(&e, "x 4bf92f3577b34da6a3ce929d0e0e4736", 34, ids), 0);
    for (int k = 0; k < 4; k++) {
        len[k] = e.s[k].len;
        assert_true(len[k] <= 256);
        memcpy(st[k], e.s[k].data, len[k]);
    }
    clew_seg_text_enc_close(&e);
}

/* Decodes the two strings of a (damaged) sample; returns the first error. */
static int decode_sample(uint8_t st[4][256], const size_t len[4], size_t max)
{
    const uint8_t *p[4] = { st[0], st[1], st[2], st[3] };
    struct clew_seg_text_dec d;
    struct clew_str ids[3] = { { TRACE, 32 }, { "", 0 }, { "", 0 } };
    struct clew_buf out;
    clew_buf_init(&out);
    int rc = clew_seg_text_dec_init(&d, p, len);
    for (int i = 0; rc == 0 && i < 2; i++) {
        rc = clew_seg_text_dec_next(&d, ids, &out, max);
    }
    rc = rc == 0 ? clew_seg_text_dec_end(&d) : rc;
    clew_seg_text_dec_close(&d);
    clew_buf_close(&out);
    return rc;
}

static void test_corruption(void **state)
{
    (void)state;
    uint8_t st[4][256];
    size_t len[4];
    sample(st, len);
    assert_int_equal(decode_sample(st, len, 100), 0);
    assert_int_equal(decode_sample(st, len, 10), CLEW_ECORRUPT); /* longer than max */
    /* Templates: a bad escape code, a missing final LF, a dangling escape. */
    size_t esc = (size_t)((uint8_t *)memchr(st[1], 0xff, len[1]) - st[1]);
    st[1][esc + 1] = 9;
    assert_int_equal(decode_sample(st, len, 100), CLEW_ECORRUPT);
    sample(st, len);
    len[1]--;
    assert_int_equal(decode_sample(st, len, 100), CLEW_ECORRUPT);
    sample(st, len);
    st[1][len[1] - 1] = 0xff;
    st[1][len[1]++] = '\n';
    assert_int_equal(decode_sample(st, len, 100), CLEW_ECORRUPT);
    /* Template number out of range; a stream cut short or too long. */
    sample(st, len);
    st[0][1] = 2;
    assert_int_equal(decode_sample(st, len, 100), CLEW_ECORRUPT);
    for (int k = 0; k < 4; k++) {
        if (k == 1 || len[k] == 0) {
            continue;
        }
        sample(st, len);
        len[k]--;
        assert_int_equal(decode_sample(st, len, 100), CLEW_ECORRUPT);
        sample(st, len);
        st[k][len[k]++] = 0;
        assert_int_equal(decode_sample(st, len, 100), CLEW_ECORRUPT);
    }
    /* Hex token shorter than allowed, and a zero leading-zero count. */
    sample(st, len);
    st[3][0] = 2;
    assert_int_equal(decode_sample(st, len, 100), CLEW_ECORRUPT);
    sample(st, len);
    st[2][0] |= 1;
    assert_int_equal(decode_sample(st, len, 100), CLEW_ECORRUPT);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    struct item it = item_z("GET /x/123 id 4bf92f3577b34da6a3ce929d0e0e4736 ok cafe1234");
    int rc = -1;
    long k;
    for (k = 0; k < 1000 && rc != 0; k++) {
        struct clew_seg_text_enc e;
        clew_seg_text_enc_init(&e);
        clew_alloc_fail_after(k);
        rc = clew_seg_text_enc_add(&e, it.s, it.len, it.ids);
        clew_alloc_fail_after(-1);
        assert_true(rc == 0 || rc == -ENOMEM);
        clew_seg_text_enc_close(&e);
    }
    assert_int_equal(rc, 0);
    assert_true(k > 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_streams),   cmocka_unit_test(test_edges),
        cmocka_unit_test(test_odd_ids),          cmocka_unit_test(test_random),
        cmocka_unit_test(test_templates_shared), cmocka_unit_test(test_corruption),
        cmocka_unit_test(test_alloc_failure),    cmocka_unit_test(test_repeats_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
