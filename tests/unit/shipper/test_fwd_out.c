/* SPDX-License-Identifier: MIT
 * The Forward client against in-process servers on a real loop: a server
 * decodes with the collector's decoder and acks, holds its acks, or breaks
 * the connection without acking; the client must resend, in order, report
 * every position done exactly when its batch was acknowledged, fail over to
 * a later address and move back to an earlier one when it answers again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "collector/forward_parse.h"
#include "common/alloc.h"

#include "shipper/disk_buffer.h"
#include "shipper/fwd_out.h"
#include "shipper/ship_encode.h"

#define N         3000
#define MAX_CONNS 8
#define MAX_HELD  256

struct srv;

struct sconn {
    uv_tcp_t tcp;
    struct clew_fwd_decoder *dec;
    struct srv *srv;
};

struct srv {
    uv_tcp_t listener;
    struct sconn *conns[MAX_CONNS];
    int accepted; /* connections accepted in all */
    int seen[N];  /* times record i arrived */
    int records;  /* records arrived */
    int last;     /* highest i seen in arrival order (order check) */
    int in_order;
    int break_after; /* requests to take before breaking without acks */
    int requests;
    int hold; /* keep acks back until release_acks */
    char held[MAX_HELD][32];
    struct sconn *held_conn[MAX_HELD];
    int nheld;
    char addr[64];
};

struct cli {
    struct clew_fwd_out *out;
    uint64_t done_off; /* highest mark of file 7 */
    int marks_bad;
    int closed;
};

static struct srv SA, SB;
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
    struct sconn *c = h->data;
    clew_fwd_decoder_free(c->dec);
    clew_free(c);
}

static void conn_close(struct sconn *c)
{
    struct srv *s = c->srv;
    for (int i = 0; i < MAX_CONNS; i++) {
        if (s->conns[i] == c) {
            s->conns[i] = NULL;
        }
    }
    for (int i = 0; i < s->nheld; i++) {
        if (s->held_conn[i] == c) {
            s->held_conn[i] = NULL; /* its acks die with it */
        }
    }
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void write_done(uv_write_t *w, int status)
{
    (void)status;
    clew_free(w);
}

static void send_ack(struct sconn *c, const char *chunk, size_t clen)
{
    size_t len = 5 + 1 + clen;
    uv_write_t *w = clew_malloc(sizeof(*w) + len);
    char *b = (char *)(w + 1);
    memcpy(b,
           "\x81\xa3"
           "ack",
           5);
    b[5] = (char)(0xa0 | clen); /* our chunk ids are < 32 bytes */
    memcpy(b + 6, chunk, clen);
    uv_buf_t buf = uv_buf_init(b, (unsigned)len);
    assert_int_equal(uv_write(w, (uv_stream_t *)&c->tcp, &buf, 1, write_done), 0);
}

static void on_end(struct sconn *c, struct clew_str chunk)
{
    struct srv *s = c->srv;
    if (!s->hold) {
        send_ack(c, chunk.ptr, chunk.len);
        return;
    }
    assert_true(s->nheld < MAX_HELD && chunk.len < sizeof(s->held[0]));
    memcpy(s->held[s->nheld], chunk.ptr, chunk.len);
    s->held[s->nheld][chunk.len] = '\0';
    s->held_conn[s->nheld++] = c;
}

/* Sends the acks held back, in order, on the connections still open. */
static void release_acks(struct srv *s)
{
    for (int i = 0; i < s->nheld; i++) {
        if (s->held_conn[i] != NULL) {
            send_ack(s->held_conn[i], s->held[i], strlen(s->held[i]));
        }
    }
    s->nheld = 0;
    s->hold = 0;
}

static void on_event_rec(struct srv *s, const struct clew_fwd_event *ev)
{
    int i = atoi(ev->rec.message.ptr + 4); /* "rec-<i>" */
    assert_true(i >= 0 && i < N);
    if (i < s->last && s->seen[i] == 0) {
        s->in_order = 0; /* a new record older than one already seen */
    }
    s->last = i > s->last ? i : s->last;
    s->seen[i]++;
    s->records++;
}

static void srv_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct sconn *c = st->data;
    struct srv *s = c->srv;
    if (n < 0) {
        conn_close(c);
    } else if (n > 0) {
        assert_int_equal(clew_fwd_decoder_feed(c->dec, buf->base, (size_t)n), 0);
        struct clew_fwd_event ev;
        while (clew_fwd_decoder_next(c->dec, &ev) == 0) {
            if (ev.kind == CLEW_FWD_RECORD) {
                on_event_rec(s, &ev);
            } else if (ev.kind == CLEW_FWD_END && ++s->requests == s->break_after) {
                s->break_after = 0;
                conn_close(c); /* no ack: resend */
                break;
            } else if (ev.kind == CLEW_FWD_END) {
                on_end(c, ev.chunk);
            }
        }
    }
    clew_free(buf->base);
}

static void on_conn(uv_stream_t *l, int status)
{
    struct srv *s = l->data;
    assert_int_equal(status, 0);
    struct sconn *c = clew_calloc(1, sizeof(*c));
    assert_non_null(c);
    c->srv = s;
    uv_tcp_init(l->loop, &c->tcp);
    c->tcp.data = c;
    assert_int_equal(uv_accept(l, (uv_stream_t *)&c->tcp), 0);
    assert_int_equal(clew_fwd_decoder_new(NULL, &c->dec), 0);
    int slot = 0;
    while (slot < MAX_CONNS && s->conns[slot] != NULL) {
        slot++;
    }
    assert_true(slot < MAX_CONNS);
    s->conns[slot] = c;
    s->accepted++;
    uv_read_start((uv_stream_t *)&c->tcp, srv_alloc, srv_read);
}

/* Binds s to a free loopback port; it refuses connections until
 * srv_listen. */
static void srv_bind(uv_loop_t *loop, struct srv *s)
{
    memset(s, 0, sizeof(*s));
    s->in_order = 1;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    assert_int_equal(uv_tcp_bind(&s->listener, (struct sockaddr *)&a, 0), 0);
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &sl);
    snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d",
             ntohs(((struct sockaddr_in *)&ss)->sin_port));
}

static void srv_listen(struct srv *s)
{
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 8, on_conn), 0);
}

static void srv_close(struct srv *s)
{
    uv_close((uv_handle_t *)&s->listener, NULL);
    for (int i = 0; i < MAX_CONNS; i++) {
        if (s->conns[i] != NULL) {
            conn_close(s->conns[i]);
        }
    }
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
    clew_fwd_out_flush(C.out);
}

static struct clew_fwd_out_stats stats(void)
{
    struct clew_fwd_out_stats st;
    clew_fwd_out_stats(C.out, &st);
    return st;
}

static void run_until_idle(uv_loop_t *loop, uint64_t target)
{
    for (int k = 0; k < 4000 && !(clew_fwd_out_idle(C.out) && C.done_off == target); k++) {
        uv_run(loop, UV_RUN_ONCE);
        if (getenv("DEBUG") && k % 20 == 0) {
            struct clew_fwd_out_stats st = stats();
            fprintf(stderr, "k=%d sent=%llu acked=%llu inflight=%llu queue=%llu done=%llu\n", k,
                    (unsigned long long)st.batches_sent, (unsigned long long)st.batches_acked,
                    (unsigned long long)st.inflight_bytes, (unsigned long long)st.queue_bytes,
                    (unsigned long long)C.done_off);
        }
    }
}

/* Runs the loop for ms milliseconds (the client's tick keeps it awake). */
static void run_for(uv_loop_t *loop, uint64_t ms)
{
    uv_update_time(loop);
    uint64_t end = uv_now(loop) + ms;
    while (uv_now(loop) < end) {
        uv_run(loop, UV_RUN_ONCE);
    }
}

static void finish(uv_loop_t *loop)
{
    clew_fwd_out_close(C.out, on_closed, &C);
    srv_close(&SA);
    srv_close(&SB);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_true(C.closed);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void test_resend_after_break(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    memset(&C, 0, sizeof(C));
    srv_bind(&loop, &SA); /* bound, never listening: refuses */
    srv_bind(&loop, &SB);
    srv_listen(&SB);
    SB.break_after = 3;
    const char *addrs[2] = { SA.addr, SB.addr };
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
    run_until_idle(&loop, N);
    struct clew_fwd_out_stats st = stats();
    assert_true(clew_fwd_out_idle(C.out));
    assert_true(C.done_off == N);
    assert_false(C.marks_bad);
    for (int i = 0; i < N; i++) {
        assert_true(SB.seen[i] >= 1);
    }
    assert_true(SB.in_order);
    assert_true(st.records_acked == N);
    assert_true(st.records_resent > 0); /* the broken requests went again */
    assert_true(st.connect_failures >= 1);
    assert_true(st.disconnects == 1);
    finish(&loop);
}

/* Fails over from A (refusing) to B; B takes 0..1000. Probes of A fail
 * while A refuses and the client stays on B. Then B holds its acks for
 * 1000..1500 and A starts listening: the client probes A, writes nothing
 * more to B, waits for B's acks, and moves to A. With resend set, B never
 * acks: the ack timeout ends the wait and the batches go again to A,
 * counted as resent. Every record is acked exactly once. */
static void failback(int resend)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    memset(&C, 0, sizeof(C));
    srv_bind(&loop, &SA);
    srv_bind(&loop, &SB);
    srv_listen(&SB);
    const char *addrs[2] = { SA.addr, SB.addr };
    struct clew_fwd_out_opts o = { .addrs = addrs,
                                   .naddrs = 2,
                                   .batch_bytes = 2000,
                                   .backoff_min_ns = 1000000,
                                   .ack_timeout_ns = resend ? 1000000000LL : 0,
                                   .failback_ns = 100000000LL };
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_fwd_out_new(&loop, &o, on_done, dbg_event, &C, &C.out, err), 0);
    produce(0, 1000);
    run_until_idle(&loop, 1000);
    for (int k = 0; k < 4000 && stats().probes < 2; k++) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    struct clew_fwd_out_stats st = stats();
    assert_true(st.probes >= 2);
    assert_true(st.failbacks == 0 && st.connected && strcmp(st.addr, SB.addr) == 0);
    assert_int_equal(SB.records, 1000);

    SB.hold = 1;
    produce(1000, 1500);
    for (int k = 0; k < 4000 && SB.records < 1500; k++) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    assert_true(SB.nheld > 0); /* requests held back, none acked */
    assert_true(C.done_off == 1000);
    srv_listen(&SA);
    for (int k = 0; k < 4000 && SA.accepted == 0; k++) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    assert_true(SA.accepted == 1); /* the probe */
    produce(1500, 2000);           /* queued: nothing new is written to B now */
    if (!resend) {
        run_for(&loop, 300);
        assert_int_equal(SB.records, 1500);
        assert_int_equal(SA.records, 0);
        assert_true(C.done_off == 1000);
        release_acks(&SB);
    }
    run_until_idle(&loop, 2000);
    st = stats();
    assert_true(C.done_off == 2000);
    assert_false(C.marks_bad);
    assert_true(st.records_acked == 2000); /* none acknowledged twice */
    assert_true(st.failbacks == 1);
    assert_true(st.connected && strcmp(st.addr, SA.addr) == 0);
    assert_int_equal(SB.records, 1500); /* B got nothing after the probe */
    for (int i = 0; i < 2000; i++) {
        assert_true(SA.seen[i] + SB.seen[i] >= 1);
    }
    for (int i = 1500; i < 2000; i++) {
        assert_int_equal(SA.seen[i], 1);
    }
    for (int i = 1000; i < 1500; i++) {
        assert_int_equal(SA.seen[i], resend); /* resent to A only without B's acks */
    }
    assert_true(st.records_resent == (resend ? 500 : 0));
    assert_true(st.ack_timeouts == (resend ? 1 : 0));
    assert_true(SA.in_order && SB.in_order);
    finish(&loop);
}

static void test_failback_after_drain(void **state)
{
    (void)state;
    failback(0);
}

static void test_failback_resends_unacked(void **state)
{
    (void)state;
    failback(1);
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
        cmocka_unit_test(test_failback_after_drain),
        cmocka_unit_test(test_failback_resends_unacked),
        cmocka_unit_test(test_bad_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
