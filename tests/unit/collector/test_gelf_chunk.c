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
#include "collector/gelf_chunk.h"
#include "common/alloc.h"

#define SEC 1000000000LL

/* A message split into count chunks of the given id; chunk i is dgram[i]. */
struct split {
    uint8_t *payload;
    size_t len;
    unsigned count;
    uint8_t *dgram[CLEW_GELF_CHUNK_MAX];
    size_t dlen[CLEW_GELF_CHUNK_MAX];
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint8_t *make_chunk(uint64_t id, unsigned seq, unsigned count, const void *data, size_t n,
                           size_t *len)
{
    uint8_t *d = malloc(CLEW_GELF_CHUNK_HEADER + n + 1);
    d[0] = 0x1e;
    d[1] = 0x0f;
    memcpy(d + 2, &id, 8);
    d[10] = (uint8_t)seq;
    d[11] = (uint8_t)count;
    if (n) {
        memcpy(d + CLEW_GELF_CHUNK_HEADER, data, n);
    }
    *len = CLEW_GELF_CHUNK_HEADER + n;
    return d;
}

/* Splits len random bytes into count chunks (sizes uneven, some empty). */
static void split_make(struct split *s, uint64_t id, size_t len, unsigned count)
{
    s->payload = malloc(len + 1);
    s->len = len;
    s->count = count;
    for (size_t i = 0; i < len; i++) {
        s->payload[i] = (uint8_t)rng();
    }
    size_t off = 0;
    for (unsigned i = 0; i < count; i++) {
        size_t left = len - off;
        size_t n = i + 1 == count ? left : (i % 7 == 3 ? 0 : left / (count - i));
        s->dgram[i] = make_chunk(id, i, count, s->payload + off, n, &s->dlen[i]);
        off += n;
    }
}

static void split_free(struct split *s)
{
    free(s->payload);
    for (unsigned i = 0; i < s->count; i++) {
        free(s->dgram[i]);
    }
}

/* Feeds chunks in the given order; only the last may complete. */
static void feed_order(struct clew_gelf_chunker *c, const struct split *s, const unsigned *order)
{
    const void *out = NULL;
    size_t out_len = 0;
    for (unsigned k = 0; k < s->count; k++) {
        unsigned i = order[k];
        int rc = clew_gelf_chunker_add(c, s->dgram[i], s->dlen[i], 1000, &out, &out_len);
        assert_int_equal(rc, k + 1 == s->count ? 1 : 0);
    }
    assert_int_equal(out_len, s->len);
    assert_memory_equal(out, s->payload, s->len);
}

static void test_orders(void **state)
{
    (void)state;
    const unsigned counts[] = { 2, 3, 5, 17, 127, 128 };
    struct clew_gelf_chunker *c = clew_gelf_chunker_new(NULL);
    assert_non_null(c);
    unsigned order[CLEW_GELF_CHUNK_MAX];
    uint64_t completed = 0;
    for (size_t t = 0; t < sizeof(counts) / sizeof(counts[0]); t++) {
        for (int mode = 0; mode < 3; mode++) {
            struct split s;
            unsigned n = counts[t];
            split_make(&s, rng(), 1000 * n + 13, n);
            for (unsigned i = 0; i < n; i++) {
                order[i] = mode == 1 ? n - 1 - i : i; /* 0 in order, 1 reversed */
            }
            for (unsigned i = n - 1; mode == 2 && i > 0; i--) { /* 2 shuffled */
                unsigned j = (unsigned)(rng() % (i + 1)), tmp = order[i];
                order[i] = order[j];
                order[j] = tmp;
            }
            feed_order(c, &s, order);
            completed++;
            split_free(&s);
        }
    }
    struct clew_gelf_chunker_stats st;
    clew_gelf_chunker_stats(c, &st);
    assert_int_equal(st.completed, completed);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.memory, 0);
    clew_gelf_chunker_free(c);
}

static void test_duplicates(void **state)
{
    (void)state;
    struct clew_gelf_chunker *c = clew_gelf_chunker_new(NULL);
    struct split s;
    split_make(&s, 42, 3000, 3);
    const void *out;
    size_t out_len;
    /* Spec vector 9: a second copy of seq 0 (with other bytes) is ignored. */
    uint8_t *fake = make_chunk(42, 0, 3, "XXXX", 4, &out_len);
    assert_int_equal(clew_gelf_chunker_add(c, s.dgram[0], s.dlen[0], 0, &out, &out_len), 0);
    assert_int_equal(clew_gelf_chunker_add(c, fake, CLEW_GELF_CHUNK_HEADER + 4, 0, &out, &out_len),
                     0);
    assert_int_equal(clew_gelf_chunker_add(c, s.dgram[2], s.dlen[2], 0, &out, &out_len), 0);
    assert_int_equal(clew_gelf_chunker_add(c, s.dgram[2], s.dlen[2], 0, &out, &out_len), 0);
    assert_int_equal(clew_gelf_chunker_add(c, s.dgram[1], s.dlen[1], 0, &out, &out_len), 1);
    assert_int_equal(out_len, s.len);
    assert_memory_equal(out, s.payload, s.len);
    struct clew_gelf_chunker_stats st;
    clew_gelf_chunker_stats(c, &st);
    assert_int_equal(st.duplicates, 2);
    assert_int_equal(st.chunks, 5);
    /* A late duplicate after completion starts a new message (held, not emitted). */
    assert_int_equal(clew_gelf_chunker_add(c, s.dgram[1], s.dlen[1], 0, &out, &out_len), 0);
    clew_gelf_chunker_stats(c, &st);
    assert_int_equal(st.in_flight, 1);
    free(fake);
    split_free(&s);
    clew_gelf_chunker_free(c);
}

static void test_passthrough_and_single(void **state)
{
    (void)state;
    struct clew_gelf_chunker *c = clew_gelf_chunker_new(NULL);
    const void *out = NULL;
    size_t out_len = 0;
    const char plain[] = "{\"short_message\":\"x\"}";
    assert_int_equal(clew_gelf_chunker_add(c, plain, sizeof(plain) - 1, 0, &out, &out_len), 1);
    assert_ptr_equal(out, plain);
    assert_int_equal(out_len, sizeof(plain) - 1);
    assert_int_equal(clew_gelf_chunker_add(c, "\x1e", 1, 0, &out, &out_len), 1); /* no magic */
    assert_int_equal(out_len, 1);
    /* gelf-pro: count 1, data right after the header. */
    size_t n;
    uint8_t *d = make_chunk(7, 0, 1, "\x78\x9c", 2, &n);
    assert_int_equal(clew_gelf_chunker_add(c, d, n, 0, &out, &out_len), 1);
    assert_ptr_equal(out, d + CLEW_GELF_CHUNK_HEADER);
    assert_int_equal(out_len, 2);
    free(d);
    /* Spec vector 11: an empty chunk in the middle contributes nothing. */
    uint8_t *a = make_chunk(8, 0, 3, "ab", 2, &n), *b, *e;
    assert_int_equal(clew_gelf_chunker_add(c, a, n, 0, &out, &out_len), 0);
    b = make_chunk(8, 2, 3, NULL, 0, &n);
    assert_int_equal(clew_gelf_chunker_add(c, b, n, 0, &out, &out_len), 0);
    e = make_chunk(8, 1, 3, "cd", 2, &n);
    assert_int_equal(clew_gelf_chunker_add(c, e, n, 0, &out, &out_len), 1);
    assert_int_equal(out_len, 4);
    assert_memory_equal(out, "abcd", 4);
    free(a);
    free(b);
    free(e);
    clew_gelf_chunker_free(c);
}

static void test_bad_headers(void **state)
{
    (void)state;
    struct clew_gelf_chunker *c = clew_gelf_chunker_new(NULL);
    const void *out;
    size_t out_len, n;
    assert_int_equal(clew_gelf_chunker_add(c,
                                           "\x1e\x0f"
                                           "1234567\x00",
                                           10, 0, &out, &out_len),
                     CLEW_GELF_ECHUNK_SHORT);
    assert_int_equal(clew_gelf_chunker_add(c,
                                           "\x1e\x0f"
                                           "12345678\x00",
                                           11, 0, &out, &out_len),
                     CLEW_GELF_ECHUNK_SHORT);
    const struct {
        unsigned seq, count;
        int rc;
    } cases[] = { { 0, 0, CLEW_GELF_ECHUNK_COUNT },   { 0, 129, CLEW_GELF_ECHUNK_COUNT },
                  { 5, 255, CLEW_GELF_ECHUNK_COUNT }, { 2, 2, CLEW_GELF_ECHUNK_SEQ },
                  { 128, 128, CLEW_GELF_ECHUNK_SEQ }, { 255, 3, CLEW_GELF_ECHUNK_SEQ } };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t *d = make_chunk(9, cases[i].seq, cases[i].count, "x", 1, &n);
        assert_int_equal(clew_gelf_chunker_add(c, d, n, 0, &out, &out_len), cases[i].rc);
        free(d);
    }
    /* Inconsistent count: refused, the message keeps its first count. */
    uint8_t *a = make_chunk(10, 0, 2, "a", 1, &n);
    uint8_t *b = make_chunk(10, 1, 3, "b", 1, &n);
    uint8_t *good = make_chunk(10, 1, 2, "c", 1, &n);
    assert_int_equal(clew_gelf_chunker_add(c, a, n, 0, &out, &out_len), 0);
    assert_int_equal(clew_gelf_chunker_add(c, b, n, 0, &out, &out_len), CLEW_GELF_ECHUNK_MISMATCH);
    assert_int_equal(clew_gelf_chunker_add(c, good, n, 0, &out, &out_len), 1);
    assert_memory_equal(out, "ac", 2);
    free(a);
    free(b);
    free(good);
    struct clew_gelf_chunker_stats st;
    clew_gelf_chunker_stats(c, &st);
    assert_int_equal(st.chunks, 3); /* valid headers, the mismatched one included */
    assert_int_equal(st.in_flight, 0);
    const int codes[] = { CLEW_GELF_ECHUNK_SHORT, CLEW_GELF_ECHUNK_COUNT, CLEW_GELF_ECHUNK_SEQ,
                          CLEW_GELF_ECHUNK_MISMATCH };
    for (size_t i = 0; i < 4; i++) {
        assert_non_null(strstr(clew_gelf_chunk_strerror(codes[i]), "chunk"));
    }
    clew_gelf_chunker_free(c);
}

static void test_timeout(void **state)
{
    (void)state;
    struct clew_gelf_chunker_opts o = { .timeout_ns = 5 * SEC };
    struct clew_gelf_chunker *c = clew_gelf_chunker_new(&o);
    const void *out;
    size_t out_len, n;
    uint8_t *a0 = make_chunk(1, 0, 2, "A0", 2, &n), *a1 = make_chunk(1, 1, 2, "A1", 2, &n);
    uint8_t *b0 = make_chunk(2, 0, 2, "B0", 2, &n);
    assert_int_equal(clew_gelf_chunker_add(c, a0, n, 0, &out, &out_len), 0);
    assert_int_equal(clew_gelf_chunker_add(c, b0, n, 3 * SEC, &out, &out_len), 0);
    assert_int_equal(clew_gelf_chunker_expire(c, 5 * SEC), 0); /* exactly 5 s: kept */
    assert_int_equal(clew_gelf_chunker_expire(c, 6 * SEC), 1); /* A went (vector 10) */
    struct clew_gelf_chunker_stats st;
    clew_gelf_chunker_stats(c, &st);
    assert_int_equal(st.in_flight, 1);
    assert_int_equal(st.expired, 1);
    /* A's second half alone is now a new, incomplete message. */
    assert_int_equal(clew_gelf_chunker_add(c, a1, n, 6 * SEC, &out, &out_len), 0);
    /* B's first chunk timed out by the time its second arrives: it starts over. */
    uint8_t *b1 = make_chunk(2, 1, 2, "B1", 2, &n);
    assert_int_equal(clew_gelf_chunker_add(c, b1, n, 9 * SEC, &out, &out_len), 0);
    clew_gelf_chunker_stats(c, &st);
    assert_int_equal(st.expired, 2);
    assert_int_equal(clew_gelf_chunker_add(c, b0, n, 10 * SEC, &out, &out_len), 1);
    assert_memory_equal(out, "B0B1", 4);
    assert_int_equal(clew_gelf_chunker_expire(c, 100 * SEC), 1); /* the lone A1 */
    clew_gelf_chunker_stats(c, &st);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.memory, 0);
    free(a0);
    free(a1);
    free(b0);
    free(b1);
    clew_gelf_chunker_free(c);
}

static void test_memory_cap(void **state)
{
    (void)state;
    struct clew_gelf_chunker_opts o = { .max_memory = 10000 };
    struct clew_gelf_chunker *c = clew_gelf_chunker_new(&o);
    const void *out;
    size_t out_len, n;
    char data[3000];
    memset(data, 'd', sizeof(data));
    uint8_t *first[4];
    for (uint64_t id = 0; id < 4; id++) { /* 4 x (3000 + bookkeeping) > 10000 */
        first[id] = make_chunk(100 + id, 0, 2, data, sizeof(data), &n);
        assert_int_equal(clew_gelf_chunker_add(c, first[id], n, (int64_t)id, &out, &out_len), 0);
    }
    struct clew_gelf_chunker_stats st;
    clew_gelf_chunker_stats(c, &st);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.in_flight, 3);
    assert_true(st.memory <= 10000);
    /* The oldest (id 100) went: its second chunk starts a new message. */
    uint8_t *second = make_chunk(100, 1, 2, "z", 1, &n);
    assert_int_equal(clew_gelf_chunker_add(c, second, n, 10, &out, &out_len), 0);
    free(second);
    /* id 103 (newest) is still whole. */
    second = make_chunk(103, 1, 2, "z", 1, &n);
    assert_int_equal(clew_gelf_chunker_add(c, second, n, 11, &out, &out_len), 1);
    assert_int_equal(out_len, sizeof(data) + 1);
    free(second);
    /* A message that alone exceeds the cap is refused and nothing leaks. */
    char *huge = malloc(20000);
    memset(huge, 'h', 20000);
    uint8_t *h = make_chunk(200, 0, 2, huge, 20000, &n);
    assert_int_equal(clew_gelf_chunker_add(c, h, n, 12, &out, &out_len), CLEW_ETOOBIG);
    clew_gelf_chunker_stats(c, &st);
    assert_int_equal(st.in_flight, 0); /* everything was evicted trying to fit it */
    assert_int_equal(st.memory, 0);
    free(h);
    free(huge);
    for (int i = 0; i < 4; i++) {
        free(first[i]);
    }
    clew_gelf_chunker_free(c);
}

static void test_message_cap_and_interleaved(void **state)
{
    (void)state;
    struct clew_gelf_chunker_opts o = { .max_messages = 64, .seed = 12345 };
    struct clew_gelf_chunker *c = clew_gelf_chunker_new(&o);
    enum { N = 64 };
    struct split s[N];
    for (unsigned m = 0; m < N; m++) {
        split_make(&s[m], 0x1000 + (uint64_t)m * 0x100000000ull, 500 + m, 2 + m % 5);
    }
    /* Round-robin: chunk k of every message, then k + 1, ... */
    unsigned done = 0;
    for (unsigned k = 0; k < 6; k++) {
        for (unsigned m = 0; m < N; m++) {
            if (k >= s[m].count) {
                continue;
            }
            const void *out;
            size_t out_len;
            int rc = clew_gelf_chunker_add(c, s[m].dgram[k], s[m].dlen[k], k, &out, &out_len);
            assert_int_equal(rc, k + 1 == s[m].count ? 1 : 0);
            if (rc == 1) {
                assert_int_equal(out_len, s[m].len);
                assert_memory_equal(out, s[m].payload, s[m].len);
                done++;
            }
        }
    }
    assert_int_equal(done, N);
    /* One more message than the cap: the oldest is evicted. */
    const void *out;
    size_t out_len;
    for (unsigned m = 0; m <= N; m++) {
        uint64_t id = 0x5000 + m;
        size_t n;
        uint8_t *d = make_chunk(id, 0, 2, "x", 1, &n);
        assert_int_equal(clew_gelf_chunker_add(c, d, n, 100, &out, &out_len), 0);
        free(d);
    }
    struct clew_gelf_chunker_stats st;
    clew_gelf_chunker_stats(c, &st);
    assert_int_equal(st.in_flight, N);
    assert_int_equal(st.evicted, 1);
    size_t n;
    uint8_t *d = make_chunk(0x5000 + N, 1, 2, "y", 1, &n); /* the newest completes */
    assert_int_equal(clew_gelf_chunker_add(c, d, n, 100, &out, &out_len), 1);
    free(d);
    d = make_chunk(0x5000, 1, 2, "y", 1, &n); /* the evicted one does not */
    assert_int_equal(clew_gelf_chunker_add(c, d, n, 100, &out, &out_len), 0);
    free(d);
    for (unsigned m = 0; m < N; m++) {
        split_free(&s[m]);
    }
    clew_gelf_chunker_free(c);
}

/* Random adds, drops and expiries against a simple model: the table must
 * never lose or confuse a message (exercises backward-shift deletion). */
static void test_table_churn(void **state)
{
    (void)state;
    struct clew_gelf_chunker_opts o = { .max_messages = 16, .timeout_ns = 50 };
    struct clew_gelf_chunker *c = clew_gelf_chunker_new(&o);
    int64_t now = 0;
    for (int round = 0; round < 5000; round++) {
        uint64_t id = rng() % 40; /* few ids: many collisions and reuses */
        size_t n;
        uint8_t a[2] = { (uint8_t)id, 'a' }, b[2] = { (uint8_t)id, 'b' };
        uint8_t *d0 = make_chunk(id, 0, 2, a, 2, &n);
        uint8_t *d1 = make_chunk(id, 1, 2, b, 2, &n);
        const void *out;
        size_t out_len;
        now += (int64_t)(rng() % 4);
        int rc0 = clew_gelf_chunker_add(c, d0, n, now, &out, &out_len);
        assert_true(rc0 == 0 || rc0 == 1);
        if (rc0 == 1) { /* seq 1 was already held: the payload must be id's */
            assert_int_equal(out_len, 4);
            assert_int_equal(((const uint8_t *)out)[0], (uint8_t)id);
            assert_int_equal(((const uint8_t *)out)[2], (uint8_t)id);
        }
        if (rng() % 2) {
            int rc1 = clew_gelf_chunker_add(c, d1, n, now, &out, &out_len);
            if (rc1 == 1) {
                assert_memory_equal(out, a, 2);
                assert_memory_equal((const uint8_t *)out + 2, b, 2);
            }
        }
        if (rng() % 16 == 0) {
            clew_gelf_chunker_expire(c, now);
        }
        free(d0);
        free(d1);
    }
    struct clew_gelf_chunker_stats st;
    clew_gelf_chunker_stats(c, &st);
    assert_true(st.in_flight <= 16);
    clew_gelf_chunker_expire(c, now + 1000);
    clew_gelf_chunker_stats(c, &st);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.memory, 0);
    clew_gelf_chunker_free(c);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    struct split s;
    split_make(&s, 77, 5000, 4);
    int ok = 0;
    for (long k = 0; k < 40 && !ok; k++) {
        clew_alloc_fail_after(k);
        struct clew_gelf_chunker *c = clew_gelf_chunker_new(NULL);
        int rc = 0;
        const void *out = NULL;
        size_t out_len = 0;
        for (unsigned i = 0; c != NULL && i < s.count && rc >= 0; i++) {
            rc = clew_gelf_chunker_add(c, s.dgram[i], s.dlen[i], 0, &out, &out_len);
        }
        clew_alloc_fail_after(-1);
        if (c != NULL && rc == 1) {
            assert_int_equal(out_len, s.len);
            assert_memory_equal(out, s.payload, s.len);
            ok = 1;
        } else if (c != NULL) {
            assert_int_equal(rc, -ENOMEM);
            struct clew_gelf_chunker_stats st;
            clew_gelf_chunker_stats(c, &st);
            assert_int_equal(st.in_flight, 0); /* the failed message was dropped */
        }
        clew_gelf_chunker_free(c);
    }
    assert_true(ok);
    split_free(&s);
    clew_gelf_chunker_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orders),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_passthrough_and_single),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_memory_cap),
        cmocka_unit_test(test_message_cap_and_interleaved),
        cmocka_unit_test(test_table_churn),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
