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

#include "collector/memtable.h"
#include "common/alloc.h"
#include "common/rec_codec.h"

static int str_eq(struct clew_str a, const char *z)
{
    return a.len == strlen(z) && (a.len == 0 || memcmp(a.ptr, z, a.len) == 0);
}

/* Records are copied (the caller's buffers may change), keep arrival
 * order, stay put across chunk boundaries, and share label copies. */
static void test_copies_and_order(void **state)
{
    (void)state;
    enum { N = 40000 }; /* more than two record chunks */
    struct clew_memtable *m = clew_memtable_new(7);
    assert_non_null(m);
    char msg[64], host[16];
    size_t raw = 0;
    for (int i = 0; i < N; i++) {
        snprintf(msg, sizeof(msg), "message %d", i);
        snprintf(host, sizeof(host), "host-%d", i % 3);
        struct clew_record r = { 0 };
        r.ts = 1000 + i;
        r.labels[CLEW_LABEL_HOST] = (struct clew_str){ host, strlen(host) };
        r.labels[CLEW_LABEL_SERVICE] = CLEW_STR_LIT("svc");
        r.message = (struct clew_str){ msg, strlen(msg) };
        r.trace_id = i % 2 ? CLEW_STR_LIT("4bf92f3577b34da6a3ce929d0e0e4736") : CLEW_STR_LIT("");
        r.flags = (uint16_t)i;
        raw += clew_rec_raw_size(&r);
        assert_int_equal(clew_memtable_add(m, &r), 0);
        memset(msg, 'x', sizeof(msg)); /* the memtable holds its own copy */
    }
    const struct clew_record *first = clew_memtable_get(m, 0);
    assert_int_equal(clew_memtable_count(m), N);
    assert_int_equal(clew_memtable_raw_bytes(m), raw);
    assert_int_equal(clew_memtable_gen(m), 7);
    for (int i = 0; i < N; i++) {
        const struct clew_record *r = clew_memtable_get(m, (size_t)i);
        snprintf(msg, sizeof(msg), "message %d", i);
        snprintf(host, sizeof(host), "host-%d", i % 3);
        assert_true(r->ts == 1000 + i && r->flags == (uint16_t)i);
        assert_true(str_eq(r->message, msg) && str_eq(r->labels[CLEW_LABEL_HOST], host));
        assert_true(str_eq(r->trace_id, i % 2 ? "4bf92f3577b34da6a3ce929d0e0e4736" : ""));
        assert_true(str_eq(r->labels[CLEW_LABEL_STREAM], "") && str_eq(r->fields, ""));
        if (i >= 3) { /* one copy of each label tuple */
            const struct clew_record *same = clew_memtable_get(m, (size_t)i - 3);
            assert_ptr_equal(r->labels[CLEW_LABEL_HOST].ptr, same->labels[CLEW_LABEL_HOST].ptr);
        }
    }
    assert_ptr_equal(clew_memtable_get(m, 0), first); /* records never move */
    clew_memtable_freeze(m);
    struct clew_record *sorted = clew_memtable_sorted(m);
    assert_non_null(sorted);
    assert_memory_equal(sorted, clew_memtable_get(m, 0), sizeof(*sorted));
    assert_memory_equal(&sorted[N - 1], clew_memtable_get(m, N - 1), sizeof(*sorted));
    clew_free(sorted);
    clew_memtable_free(m);
}

/* Out-of-order times sort stably; empty records need no string memory. */
static void test_sort_stable(void **state)
{
    (void)state;
    struct clew_memtable *m = clew_memtable_new(1);
    assert_non_null(m);
    static const int64_t ts[] = { 5, 3, 5, 1, 3, 9, 0, 5 };
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        struct clew_record r = { 0 };
        r.ts = ts[i];
        r.flags = (uint16_t)i;
        assert_int_equal(clew_memtable_add(m, &r), 0);
    }
    struct clew_record *s = clew_memtable_sorted(m);
    assert_non_null(s);
    static const uint16_t want[] = { 6, 3, 1, 4, 0, 2, 7, 5 };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(s[i].flags, want[i]);
        assert_true(i == 0 || s[i - 1].ts <= s[i].ts);
        assert_int_equal(s[i].message.len, 0);
    }
    clew_free(s);
    clew_memtable_free(m);
}

static int cmp_key(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return x[0] != y[0] ? (x[0] > y[0]) - (x[0] < y[0]) : (x[1] > y[1]) - (x[1] < y[1]);
}

/* Many records in a random order of few distinct times: the sort agrees
 * with a sort on (ts, arrival), and carries each record whole. */
static void test_sort_many(void **state)
{
    (void)state;
    enum { N = 50000 };
    struct clew_memtable *m = clew_memtable_new(1);
    assert_non_null(m);
    int64_t(*keys)[2] = malloc(N * sizeof(*keys));
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    char msg[32];
    for (int i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        struct clew_record r = { 0 };
        r.ts = (int64_t)(x % 5000) - 2500; /* negative times too */
        r.level = (uint8_t)(i % 8);
        snprintf(msg, sizeof(msg), "%d", i);
        r.message = (struct clew_str){ msg, strlen(msg) };
        keys[i][0] = r.ts;
        keys[i][1] = i;
        assert_int_equal(clew_memtable_add(m, &r), 0);
    }
    qsort(keys, N, sizeof(*keys), cmp_key);
    struct clew_record *s = clew_memtable_sorted(m);
    assert_non_null(s);
    for (int i = 0; i < N; i++) {
        snprintf(msg, sizeof(msg), "%d", (int)keys[i][1]);
        assert_true(s[i].ts == keys[i][0]);
        assert_true(str_eq(s[i].message, msg));
        assert_int_equal(s[i].level, keys[i][1] % 8);
    }
    clew_free(s);
    free(keys);
    clew_memtable_free(m);
}

/* Label tuples are shared exactly when equal: labels of every length up to
 * 40 bytes, differing in one byte at each position, in runs and apart. */
static void test_label_tuples(void **state)
{
    (void)state;
    struct clew_memtable *m = clew_memtable_new(1);
    assert_non_null(m);
    char base[41], v[41];
    memset(base, 'a', sizeof(base));
    size_t n = 0;
    for (int round = 0; round < 2; round++) {
        for (size_t len = 0; len <= 40; len++) {
            for (size_t pos = 0; pos <= len; pos++) { /* pos == len: the base itself */
                memcpy(v, base, sizeof(v));
                if (pos < len) {
                    v[pos] = 'b';
                }
                struct clew_record r = { 0 };
                r.labels[CLEW_LABEL_CONTAINER_ID] = (struct clew_str){ v, len };
                r.labels[CLEW_LABEL_STREAM] = CLEW_STR_LIT("stdout");
                for (int rep = 0; rep < 2; rep++) { /* a run of two */
                    assert_int_equal(clew_memtable_add(m, &r), 0);
                    const struct clew_record *got = clew_memtable_get(m, n++);
                    assert_int_equal(got->labels[CLEW_LABEL_CONTAINER_ID].len, len);
                    assert_memory_equal(got->labels[CLEW_LABEL_CONTAINER_ID].ptr, v, len);
                    assert_true(str_eq(got->labels[CLEW_LABEL_STREAM], "stdout"));
                }
            }
        }
    }
    assert_int_equal(clew_memtable_count(m), n);
    size_t half = n / 2;
    for (size_t i = 0; i < half; i++) {
        const struct clew_record *a = clew_memtable_get(m, i);
        const struct clew_record *b = clew_memtable_get(m, i + half); /* same, round 2 */
        assert_ptr_equal(a->labels[CLEW_LABEL_CONTAINER_ID].ptr,
                         b->labels[CLEW_LABEL_CONTAINER_ID].ptr);
        assert_int_equal(a->labels[CLEW_LABEL_CONTAINER_ID].len,
                         b->labels[CLEW_LABEL_CONTAINER_ID].len);
        if (i % 2 == 1) {
            continue;
        }
        const struct clew_record *c = clew_memtable_get(m, i + 1); /* its run */
        assert_ptr_equal(a->labels[CLEW_LABEL_CONTAINER_ID].ptr,
                         c->labels[CLEW_LABEL_CONTAINER_ID].ptr);
        if (i + 2 < half && a->labels[CLEW_LABEL_CONTAINER_ID].len > 0) {
            const struct clew_record *d = clew_memtable_get(m, i + 2); /* another tuple */
            assert_ptr_not_equal(a->labels[CLEW_LABEL_CONTAINER_ID].ptr,
                                 d->labels[CLEW_LABEL_CONTAINER_ID].ptr);
        }
    }
    clew_memtable_free(m);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    int rc = -1;
    long k;
    for (k = 0; k < 100 && rc != 0; k++) {
        struct clew_memtable *m = clew_memtable_new(1);
        assert_non_null(m);
        struct clew_record r = { 0 };
        r.message = CLEW_STR_LIT("hello");
        r.labels[CLEW_LABEL_HOST] = CLEW_STR_LIT("web-1");
        clew_alloc_fail_after(k);
        rc = clew_memtable_add(m, &r);
        clew_alloc_fail_after(-1);
        assert_true(rc == 0 || rc == -ENOMEM);
        assert_int_equal(clew_memtable_count(m), rc == 0 ? 1 : 0);
        clew_memtable_free(m);
    }
    assert_int_equal(rc, 0);
    assert_true(k > 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copies_and_order),
        cmocka_unit_test(test_sort_stable),
        cmocka_unit_test(test_sort_many),
        cmocka_unit_test(test_label_tuples),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
