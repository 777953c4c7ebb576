/* SPDX-License-Identifier: MIT */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clew/error.h"
#include "collector/tail.h"

#define MS 1000000LL

/* A record whose message is "m<seq>" and whose service is svc. */
static struct clew_record mkrec(char *msg, size_t cap, int seq, const char *svc)
{
    struct clew_record r;
    memset(&r, 0, sizeof(r));
    int n = snprintf(msg, cap, "m%d", seq);
    r.ts = 1000 + seq;
    r.level = (uint8_t)(seq % 8);
    r.message = (struct clew_str){ msg, (size_t)n };
    r.labels[CLEW_LABEL_SERVICE] = (struct clew_str){ svc, strlen(svc) };
    return r;
}

static void feed_seq(struct clew_tail *t, int from, int to, const char *svc)
{
    char msg[32];
    for (int i = from; i < to; i++) {
        struct clew_record r = mkrec(msg, sizeof(msg), i, svc);
        clew_tail_feed(t, &r);
    }
}

/* The seq number of a record made by mkrec. */
static int seq_of(const struct clew_record *r)
{
    char tmp[32];
    assert_true(r->message.len > 1 && r->message.len < sizeof(tmp));
    memcpy(tmp, r->message.ptr + 1, r->message.len - 1);
    tmp[r->message.len - 1] = '\0';
    return atoi(tmp);
}

static void test_round_trip_in_order(void **state)
{
    (void)state;
    struct clew_tail *t;
    struct clew_tail_sub *s;
    assert_int_equal(clew_tail_new(&t), 0);
    assert_int_equal(clew_tail_subscribe(t, 0, 0, NULL, NULL, &s), 0);
    static const char msg[] = "bad \xff utf8 \0 nul";
    struct clew_record r;
    memset(&r, 0, sizeof(r));
    r.ts = -5;
    r.level = 3;
    r.input = CLEW_INPUT_GELF;
    r.flags = CLEW_REC_INJECTED;
    r.message = (struct clew_str){ msg, sizeof(msg) - 1 };
    r.labels[CLEW_LABEL_HOST] = CLEW_STR_LIT("h1");
    r.labels[CLEW_LABEL_STREAM] = CLEW_STR_LIT("stderr");
    r.trace_id = CLEW_STR_LIT("abc");
    r.span_id = CLEW_STR_LIT("s1");
    r.parent_span_id = CLEW_STR_LIT("p1");
    r.fields = CLEW_STR_LIT("{\"k\": [1, 2]}");
    clew_tail_feed(t, &r);
    feed_seq(t, 0, 100, "svc");
    struct clew_record got;
    uint64_t dropped = 99;
    assert_int_equal(clew_tail_next(s, 0, &got, &dropped), 1);
    assert_int_equal(dropped, 0);
    assert_true(got.ts == -5);
    assert_int_equal(got.level, 3);
    assert_int_equal(got.input, CLEW_INPUT_GELF);
    assert_int_equal(got.flags, CLEW_REC_INJECTED);
    assert_int_equal(got.message.len, sizeof(msg) - 1);
    assert_memory_equal(got.message.ptr, msg, sizeof(msg) - 1);
    assert_int_equal(got.labels[CLEW_LABEL_HOST].len, 2);
    assert_memory_equal(got.labels[CLEW_LABEL_STREAM].ptr, "stderr", 6);
    assert_memory_equal(got.parent_span_id.ptr, "p1", 2);
    assert_memory_equal(got.fields.ptr, "{\"k\": [1, 2]}", got.fields.len);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(clew_tail_next(s, 0, &got, &dropped), 1);
        assert_int_equal(seq_of(&got), i);
        assert_int_equal(dropped, 0);
    }
    assert_int_equal(clew_tail_next(s, 0, &got, &dropped), 0); /* empty: times out */
    struct clew_tail_stats st;
    clew_tail_get_stats(t, &st);
    assert_int_equal(st.subscribers, 1);
    assert_int_equal(st.delivered, 101);
    assert_int_equal(st.dropped, 0);
    clew_tail_unsubscribe(s);
    clew_tail_free(t);
}

static void test_drop_oldest_with_count(void **state)
{
    (void)state;
    struct clew_tail *t;
    struct clew_tail_sub *s;
    assert_int_equal(clew_tail_new(&t), 0);
    assert_int_equal(clew_tail_subscribe(t, 4, 0, NULL, NULL, &s), 0);
    feed_seq(t, 0, 10, "a");
    struct clew_record got;
    uint64_t dropped;
    assert_int_equal(clew_tail_next(s, 0, &got, &dropped), 1);
    assert_int_equal(seq_of(&got), 6);
    assert_int_equal(dropped, 6);
    for (int i = 7; i < 10; i++) {
        assert_int_equal(clew_tail_next(s, 0, &got, &dropped), 1);
        assert_int_equal(seq_of(&got), i);
        assert_int_equal(dropped, 0);
    }
    /* Drops later on are reported with the record after them. */
    feed_seq(t, 10, 16, "a");
    assert_int_equal(clew_tail_next(s, 0, &got, &dropped), 1);
    assert_int_equal(seq_of(&got), 12);
    assert_int_equal(dropped, 2);
    struct clew_tail_stats st;
    clew_tail_get_stats(t, &st);
    assert_int_equal(st.dropped, 8);
    assert_int_equal(st.delivered, 16);
    clew_tail_unsubscribe(s);
    clew_tail_free(t);
}

static void test_byte_bound(void **state)
{
    (void)state;
    struct clew_tail *t;
    struct clew_tail_sub *s;
    char big[300];
    memset(big, 'x', sizeof(big));
    struct clew_record r;
    memset(&r, 0, sizeof(r));
    r.message = (struct clew_str){ big, 100 };
    assert_int_equal(clew_tail_new(&t), 0);
    /* Room for two 100-byte messages (encoded a little larger), not three. */
    assert_int_equal(clew_tail_subscribe(t, 100, 250, NULL, NULL, &s), 0);
    for (int i = 0; i < 5; i++) {
        big[0] = (char)('0' + i);
        clew_tail_feed(t, &r);
    }
    struct clew_record got;
    uint64_t dropped;
    assert_int_equal(clew_tail_next(s, 0, &got, &dropped), 1);
    assert_int_equal(got.message.ptr[0], '3');
    assert_int_equal(dropped, 3);
    assert_int_equal(clew_tail_next(s, 0, &got, &dropped), 1);
    assert_int_equal(got.message.ptr[0], '4');
    assert_int_equal(clew_tail_next(s, 0, &got, &dropped), 0);
    r.message.len = sizeof(big); /* larger than the whole ring: dropped itself */
    clew_tail_feed(t, &r);
    feed_seq(t, 0, 1, "a");
    assert_int_equal(clew_tail_next(s, 0, &got, &dropped), 1);
    assert_int_equal(dropped, 1); /* the oversized one */
    clew_tail_unsubscribe(s);
    clew_tail_free(t);
}

static int accept_service(void *ud, const struct clew_record *r)
{
    const char *want = ud;
    struct clew_str svc = r->labels[CLEW_LABEL_SERVICE];
    return svc.len == strlen(want) && memcmp(svc.ptr, want, svc.len) == 0;
}

static void test_multiple_subscribers(void **state)
{
    (void)state;
    struct clew_tail *t;
    struct clew_tail_sub *a, *b, *all, *small;
    assert_int_equal(clew_tail_new(&t), 0);
    assert_int_equal(clew_tail_subscribe(t, 0, 0, accept_service, "a", &a), 0);
    assert_int_equal(clew_tail_subscribe(t, 0, 0, accept_service, "b", &b), 0);
    assert_int_equal(clew_tail_subscribe(t, 0, 0, NULL, NULL, &all), 0);
    assert_int_equal(clew_tail_subscribe(t, 2, 0, NULL, NULL, &small), 0);
    for (int i = 0; i < 20; i++) {
        feed_seq(t, i, i + 1, i % 3 == 0 ? "a" : "b");
    }
    struct clew_record got;
    uint64_t dropped;
    for (int i = 0; i < 20; i++) {
        struct clew_tail_sub *s = i % 3 == 0 ? a : b;
        assert_int_equal(clew_tail_next(s, 0, &got, &dropped), 1);
        assert_int_equal(seq_of(&got), i);
        assert_int_equal(clew_tail_next(all, 0, &got, &dropped), 1);
        assert_int_equal(seq_of(&got), i);
    }
    assert_int_equal(clew_tail_next(a, 0, &got, &dropped), 0);
    assert_int_equal(clew_tail_next(b, 0, &got, &dropped), 0);
    assert_int_equal(clew_tail_next(all, 0, &got, &dropped), 0);
    /* The slow one lost its own records only. */
    assert_int_equal(clew_tail_next(small, 0, &got, &dropped), 1);
    assert_int_equal(seq_of(&got), 18);
    assert_int_equal(dropped, 18);
    struct clew_tail_stats st;
    clew_tail_get_stats(t, &st);
    assert_int_equal(st.subscribers, 4);
    assert_int_equal(st.dropped, 18);
    clew_tail_unsubscribe(b);
    feed_seq(t, 20, 22, "b");
    assert_int_equal(clew_tail_next(all, 0, &got, &dropped), 1);
    assert_int_equal(seq_of(&got), 20);
    clew_tail_get_stats(t, &st);
    assert_int_equal(st.subscribers, 3);
    clew_tail_unsubscribe(a);
    clew_tail_unsubscribe(all);
    clew_tail_unsubscribe(small);
    clew_tail_free(t);
}

/* ---- threads ---- */

struct consumer {
    struct clew_tail_sub *s;
    int64_t timeout_ns;
    int total; /* stop after seeing seq total-1 */
    int received, last, in_order;
    uint64_t dropped;
    int rc; /* the return that ended the loop */
};

static void *consume(void *arg)
{
    struct consumer *c = arg;
    c->last = -1;
    c->in_order = 1;
    for (;;) {
        struct clew_record r;
        uint64_t d;
        int rc = clew_tail_next(c->s, c->timeout_ns, &r, &d);
        if (rc != 1) {
            c->rc = rc;
            return NULL;
        }
        int seq = seq_of(&r);
        c->in_order &= seq > c->last;
        c->last = seq;
        c->received++;
        c->dropped += d;
        if (c->total > 0 && seq == c->total - 1) {
            c->rc = 1;
            return NULL;
        }
    }
}

static void test_threads_producer_consumer(void **state)
{
    (void)state;
    struct clew_tail *t;
    struct clew_tail_sub *fast, *slow;
    assert_int_equal(clew_tail_new(&t), 0);
    assert_int_equal(clew_tail_subscribe(t, 100000, 64u << 20, NULL, NULL, &fast), 0);
    assert_int_equal(clew_tail_subscribe(t, 8, 0, NULL, NULL, &slow), 0);
    enum { N = 20000 };
    struct consumer cf = { .s = fast, .timeout_ns = -1, .total = N };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, consume, &cf), 0);
    feed_seq(t, 0, N, "x");
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(cf.rc, 1);
    assert_int_equal(cf.received, N); /* a large enough ring loses nothing */
    assert_true(cf.in_order);
    assert_int_equal(cf.dropped, 0);
    /* The slow subscriber, read only now: the newest 8 and the count. */
    struct consumer cs = { .s = slow, .timeout_ns = 0, .total = N };
    consume(&cs);
    assert_int_equal(cs.received, 8);
    assert_int_equal(cs.dropped, N - 8);
    assert_int_equal(cs.last, N - 1);
    clew_tail_unsubscribe(fast);
    clew_tail_unsubscribe(slow);
    clew_tail_free(t);
}

static void test_threads_lossy_consumer(void **state)
{
    (void)state;
    struct clew_tail *t;
    struct clew_tail_sub *s;
    assert_int_equal(clew_tail_new(&t), 0);
    assert_int_equal(clew_tail_subscribe(t, 16, 0, NULL, NULL, &s), 0);
    enum { N = 50000 };
    struct consumer c = { .s = s, .timeout_ns = 2000 * MS, .total = N };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, consume, &c), 0);
    feed_seq(t, 0, N, "x");
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(c.rc, 1);
    assert_true(c.in_order);
    /* Whatever was lost was counted: every record is accounted for. */
    assert_int_equal((uint64_t)c.received + c.dropped, N);
    clew_tail_unsubscribe(s);
    clew_tail_free(t);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_cancel_while_waiting(void **state)
{
    (void)state;
    struct clew_tail *t;
    struct clew_tail_sub *s, *other;
    assert_int_equal(clew_tail_new(&t), 0);
    assert_int_equal(clew_tail_subscribe(t, 0, 0, NULL, NULL, &s), 0);
    assert_int_equal(clew_tail_subscribe(t, 0, 0, NULL, NULL, &other), 0);
    struct consumer c = { .s = s, .timeout_ns = -1 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, consume, &c), 0);
    feed_seq(t, 0, 3, "x");
    /* Unsubscribing another subscriber does not disturb the waiter. */
    clew_tail_unsubscribe(other);
    feed_seq(t, 3, 5, "x");
    for (int i = 0; i < 200 && __atomic_load_n(&c.received, __ATOMIC_SEQ_CST) < 5; i++) {
        struct timespec d = { 0, 5 * MS };
        nanosleep(&d, NULL);
    }
    int64_t t0 = mono_ms();
    clew_tail_cancel(s); /* wakes it although it waits forever */
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(mono_ms() - t0 < 1000);
    assert_int_equal(c.rc, CLEW_ECLOSED);
    assert_int_equal(c.received, 5);
    clew_tail_unsubscribe(s);
    clew_tail_free(t);
}

static void test_close_wakes_and_drains(void **state)
{
    (void)state;
    struct clew_tail *t;
    struct clew_tail_sub *s, *idle;
    assert_int_equal(clew_tail_new(&t), 0);
    assert_int_equal(clew_tail_subscribe(t, 0, 0, NULL, NULL, &s), 0);
    assert_int_equal(clew_tail_subscribe(t, 0, 0, NULL, NULL, &idle), 0);
    struct consumer c = { .s = idle, .timeout_ns = -1 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, consume, &c), 0);
    feed_seq(t, 0, 2, "x");
    /* The owner lets go: the hub closes, the memory stays for the subscribers. */
    clew_tail_free(t);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(c.rc, CLEW_ECLOSED);
    struct clew_record got;
    uint64_t dropped;
    /* What was fed before the close is still delivered, then the end. */
    assert_int_equal(clew_tail_next(s, -1, &got, &dropped), 1);
    assert_int_equal(seq_of(&got), 0);
    assert_int_equal(clew_tail_next(s, -1, &got, &dropped), 1);
    assert_int_equal(clew_tail_next(s, -1, &got, &dropped), CLEW_ECLOSED);
    clew_tail_unsubscribe(idle);
    clew_tail_unsubscribe(s); /* the last reference: frees the hub (ASan checks) */
}

static void test_closed_hub_refuses(void **state)
{
    (void)state;
    struct clew_tail *t;
    struct clew_tail_sub *s = (struct clew_tail_sub *)&s;
    assert_int_equal(clew_tail_new(&t), 0);
    clew_tail_close(t);
    assert_int_equal(clew_tail_subscribe(t, 0, 0, NULL, NULL, &s), CLEW_ECLOSED);
    assert_null(s);
    feed_seq(t, 0, 3, "x"); /* a no-op */
    struct clew_tail_stats st;
    clew_tail_get_stats(t, &st);
    assert_int_equal(st.delivered, 0);
    clew_tail_free(t);
    clew_tail_free(NULL);
    clew_tail_unsubscribe(NULL);
}

struct later {
    struct clew_tail_sub *s;
    int64_t after_ms;
};

static void *unsubscribe_later(void *arg)
{
    struct later *l = arg;
    struct timespec d = { 0, l->after_ms * MS };
    nanosleep(&d, NULL);
    clew_tail_unsubscribe(l->s);
    return NULL;
}

static void test_wait_idle(void **state)
{
    (void)state;
    struct clew_tail *t;
    struct clew_tail_sub *s;
    assert_int_equal(clew_tail_new(&t), 0);
    assert_int_equal(clew_tail_wait_idle(t, 0), 1); /* nobody there */
    assert_int_equal(clew_tail_subscribe(t, 0, 0, NULL, NULL, &s), 0);
    assert_int_equal(clew_tail_wait_idle(t, 20 * MS), 0);
    struct later l = { s, 50 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, unsubscribe_later, &l), 0);
    int64_t t0 = mono_ms();
    assert_int_equal(clew_tail_wait_idle(t, 5000 * MS), 1);
    assert_true(mono_ms() - t0 < 2000);
    assert_int_equal(pthread_join(th, NULL), 0);
    clew_tail_free(t);
}

static void test_timeout(void **state)
{
    (void)state;
    struct clew_tail *t;
    struct clew_tail_sub *s;
    assert_int_equal(clew_tail_new(&t), 0);
    assert_int_equal(clew_tail_subscribe(t, 0, 0, NULL, NULL, &s), 0);
    struct clew_record got;
    uint64_t dropped;
    int64_t t0 = mono_ms();
    assert_int_equal(clew_tail_next(s, 50 * MS, &got, &dropped), 0);
    int64_t el = mono_ms() - t0;
    assert_true(el >= 45 && el < 1000);
    clew_tail_unsubscribe(s);
    clew_tail_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_in_order),
        cmocka_unit_test(test_drop_oldest_with_count),
        cmocka_unit_test(test_byte_bound),
        cmocka_unit_test(test_multiple_subscribers),
        cmocka_unit_test(test_threads_producer_consumer),
        cmocka_unit_test(test_threads_lossy_consumer),
        cmocka_unit_test(test_cancel_while_waiting),
        cmocka_unit_test(test_close_wakes_and_drains),
        cmocka_unit_test(test_closed_hub_refuses),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_wait_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
