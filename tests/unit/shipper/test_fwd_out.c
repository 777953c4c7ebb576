/* SPDX-License-Identifier: MIT
 * The Forward client against an in-process server on a real loop: the
 * server decodes with the collector's decoder and acks, or breaks the
 * connection without acking; the client must resend, in order, and report
 * every position done exactly when its batch was acknowledged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <uv.h>

#include "collector/forward_parse.h"
#include "common/alloc.h"

#include "shipper/disk_buffer.h"
#include "shipper/fwd_out.h"
#include "shipper/ship_encode.h"

#define N 3000

struct srv {
    uv_tcp_t listener;
    uv_tcp_t conn;
    int have_conn;
    struct clew_fwd_decoder *dec;
    int seen[N]; /* times record i arrived */
    int last;    /* highest i seen in arrival order (order check) */
    int in_order;
    int break_after; /* requests to take before breaking without acks */
    int requests;
    int port;
};

struct cli {
    struct clew_fwd_out *out;
    uint64_t done_off; /* highest mark of file 7 */
    int marks_bad;
    int closed;
};

static struct srv S;
static struct cli C;

static void on_done(void *ud, const struct clew_fwd_mark *m, size_t n)
{
    struct cli *c = ud;
    for (size_t i = 0; i < n; i++) {
        if (m[i].file != 7 || m[i].off < c->done_off) {
            c->marks_bad = 1;
        }
        c->done_off = m[i].off;
    }
}

static void srv_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)h;
    b->base = clew_malloc(sz);
    b->len = b->base ? sz : 0;
}

static void conn_closed(uv_handle_t *h)
{
    (void)h;
    S.have_conn = 0;
    clew_fwd_decoder_free(S.dec);
    S.dec = NULL;
}

static void write_done(uv_write_t *w, int status)
{
    (void)status;
    clew_free(w);
}

static void send_ack(struct clew_str chunk)
{
    size_t len = 5 + 1 + chunk.len;
    uv_write_t *w = clew_malloc(sizeof(*w) + len);
    char *b = (char *)(w + 1);
    memcpy(b,
           "\x81\xa3"
           "ack",
           5);
    b[5] = (char)(0xa0 | chunk.len); /* our chunk ids are < 32 bytes */
    memcpy(b + 6, chunk.ptr, chunk.len);
    uv_buf_t buf = uv_buf_init(b, (unsigned)len);
    uv_write(w, (uv_stream_t *)&S.conn, &buf, 1, write_done);
}

static void on_event_rec(const struct clew_fwd_event *ev)
{
    int i = atoi(ev->rec.message.ptr + 4); /* "rec-<i>" */
    if (i < S.last && S.seen[i] == 0) {
        S.in_order = 0; /* a new record older than one already seen */
    }
    S.last = i > S.last ? i : S.last;
    S.seen[i]++;
}

static void srv_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    if (n < 0) {
        uv_close((uv_handle_t *)s, conn_closed);
    } else if (n > 0) {
        assert_int_equal(clew_fwd_decoder_feed(S.dec, buf->base, (size_t)n), 0);
        struct clew_fwd_event ev;
        while (clew_fwd_decoder_next(S.dec, &ev) == 0) {
            if (ev.kind == CLEW_FWD_RECORD) {
                on_event_rec(&ev);
            } else if (ev.kind == CLEW_FWD_END && ++S.requests == S.break_after) {
                S.break_after = 0;
                uv_close((uv_handle_t *)s, conn_closed); /* no ack: resend */
                break;
            } else if (ev.kind == CLEW_FWD_END) {
                send_ack(ev.chunk);
            }
        }
    }
    clew_free(buf->base);
}

static void on_conn(uv_stream_t *l, int status)
{
    assert_int_equal(status, 0);
    assert_false(S.have_conn);
    uv_tcp_init(l->loop, &S.conn);
    assert_int_equal(uv_accept(l, (uv_stream_t *)&S.conn), 0);
    S.have_conn = 1;
    assert_int_equal(clew_fwd_decoder_new(NULL, &S.dec), 0);
    uv_read_start((uv_stream_t *)&S.conn, srv_alloc, srv_read);
}

static void dbg_event(void *ud, int level, const char *text)
{
    (void)ud;
    if (getenv("DEBUG")) {
        fprintf(stderr, "event %d: %s\n", level, text);
    }
}

static void on_closed(void *ud)
{
    ((struct cli *)ud)->closed = 1;
}

static void produce(int from, int to)
{
    struct clew_ship_fixed fx;
    clew_ship_fixed_init(&fx);
    for (int i = from; i < to; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof(msg), "rec-%d", i);
        struct clew_ship_entry e = { .ts = 1, .stream = 0, .msg = { msg, (size_t)len } };
        struct clew_buf *p = clew_fwd_out_payload(C.out);
        assert_int_equal(clew_ship_entry_encode(p, &e, &fx), 0);
        assert_int_equal(clew_fwd_out_commit(C.out, 7, (uint64_t)i + 1), 0);
    }
    clew_ship_fixed_close(&fx);
}

static void run_until_idle(uv_loop_t *loop, uint64_t target)
{
    for (int k = 0; k < 4000 && !(clew_fwd_out_idle(C.out) && C.done_off == target); k++) {
        uv_run(loop, UV_RUN_ONCE);
        if (getenv("DEBUG") && k % 20 == 0) {
            struct clew_fwd_out_stats st;
            clew_fwd_out_stats(C.out, &st);
            fprintf(stderr,
                    "k=%d sent=%llu acked=%llu inflight=%llu queue=%llu srv_req=%d done=%llu\n", k,
                    (unsigned long long)st.batches_sent, (unsigned long long)st.batches_acked,
                    (unsigned long long)st.inflight_bytes, (unsigned long long)st.queue_bytes,
                    S.requests, (unsigned long long)C.done_off);
        }
    }
}

static void test_resend_after_break(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    memset(&S, 0, sizeof(S));
    memset(&C, 0, sizeof(C));
    S.in_order = 1;
    S.break_after = 3;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(&loop, &S.listener);
    assert_int_equal(uv_tcp_bind(&S.listener, (struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&S.listener, 8, on_conn), 0);
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    uv_tcp_getsockname(&S.listener, (struct sockaddr *)&ss, &sl);
    char addr[64], dead[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(((struct sockaddr_in *)&ss)->sin_port));
    snprintf(dead, sizeof(dead), "127.0.0.1:1"); /* nobody listens: failover */
    const char *addrs[2] = { dead, addr };
    struct clew_fwd_out_opts o = { .addrs = addrs,
                                   .naddrs = 2,
                                   .batch_bytes = 2000, /* many small requests */
                                   .backoff_min_ns = 1000000 };
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_fwd_out_new(&loop, &o, on_done, dbg_event, &C, &C.out, err), 0);
    produce(0, N / 2);
    run_until_idle(&loop, N / 2);
    assert_true(C.done_off == N / 2);
    produce(N / 2, N);
    clew_fwd_out_flush(C.out);
    run_until_idle(&loop, N);
    struct clew_fwd_out_stats st;
    clew_fwd_out_stats(C.out, &st);
    assert_true(clew_fwd_out_idle(C.out));
    assert_true(C.done_off == N);
    assert_false(C.marks_bad);
    for (int i = 0; i < N; i++) {
        assert_true(S.seen[i] >= 1);
    }
    assert_true(S.in_order);
    assert_true(st.records_acked == N);
    assert_true(st.records_resent > 0); /* the broken requests went again */
    assert_true(st.connect_failures >= 1);
    assert_true(st.disconnects == 1);
    clew_fwd_out_close(C.out, on_closed, &C);
    uv_close((uv_handle_t *)&S.listener, NULL);
    if (S.have_conn) {
        uv_close((uv_handle_t *)&S.conn, conn_closed);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(C.closed);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_bad_address(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *addrs[1] = { "no-port" };
    struct clew_fwd_out_opts o = { .addrs = addrs, .naddrs = 1 };
    char err[CLEW_ERR_LEN];
    struct clew_fwd_out *out;
    assert_int_equal(clew_fwd_out_new(&loop, &o, on_done, NULL, &C, &out, err), CLEW_EBADARG);
    assert_non_null(strstr(err, "no-port"));
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resend_after_break),
        cmocka_unit_test(test_bad_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
