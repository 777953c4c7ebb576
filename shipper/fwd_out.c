/* SPDX-License-Identifier: MIT
 * The queue is one list in send order: [head .. next_send) are written and
 * wait for their ack, [next_send .. tail] wait to be written. Acks come in
 * order, so an ack always belongs to head. A connection break rewinds
 * next_send to head: everything unacknowledged is written again, in order,
 * on the next connection. Batches read back from the disk buffer carry
 * their frame seq (dseq) and no marks (their positions were made safe when
 * they were spilled); while the buffer holds unread frames (spilling), new
 * batches are appended to it too, so the order on the wire stays the order
 * of the files.
 *
 * Failback: connected to addrs[i > 0], the client probes addrs[0 .. i) in
 * order every failback_ns with a separate connection that is closed as soon
 * as it is accepted. Then failback_to is set: nothing more is written, and
 * once the batches in flight are acknowledged (head == next_send) the
 * connection is closed and the next one goes to addrs[failback_to]. A batch
 * that is not acknowledged by then (the ack timeout, or a break) is resent
 * there like after any break, and counted as resent; acks are only matched
 * against head on the connection a batch was written to, so none counts
 * twice. */
#include "shipper/fwd_out.h"

#include <errno.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/timeutil.h"
#include "shipper/ship_encode.h"

#define TICK_MS 50
#ifndef TCP_QUICKACK
#define TCP_QUICKACK 12 /* Linux; hidden by _POSIX_C_SOURCE */
#endif

enum { ST_DOWN, ST_CONNECTING, ST_CONNECTED, ST_CLOSING };
enum { PR_IDLE, PR_RESOLVING, PR_CONNECTING, PR_CLOSING };

struct batch {
    struct batch *next;
    uint64_t dseq; /* disk frame seq; 0: from memory */
    uint32_t count;
    int sends;
    int writing;
    int orphan; /* acked or dropped while its write was pending: free in on_write */
    int64_t sent_ns;
    struct clew_buf payload;
    struct clew_buf gz;
    struct clew_buf tail;
    uint8_t head[CLEW_SHIP_HEAD_MAX];
    size_t head_len;
    char chunk[48];
    struct clew_fwd_mark *marks;
    size_t nmarks, capmarks;
    uv_write_t req;
    struct clew_fwd_out *owner;
};

struct addr {
    char host[256];
    char port[16];
    char text[280];
};

struct clew_fwd_out {
    uv_loop_t *loop;
    struct clew_fwd_out_opts o;
    clew_fwd_out_done_cb done;
    clew_fwd_out_event_cb event;
    void *ud;
    struct addr *addrs;
    size_t addr_idx;
    char tag[256];
    uint64_t next_id;
    char run_id[20];

    struct batch *open;
    int64_t open_ns;
    struct batch *head, *tail, *next_send;
    uint64_t inflight_bytes, queue_bytes;
    uint64_t max_dseq_sent;

    int state;
    int tcp_inited;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_getaddrinfo_t gai;
    uv_timer_t tick, retry;
    int handles; /* open uv handles, for close */
    int closing;
    void (*user_close_cb)(void *ud);
    void *user_close_ud;
    msgpack_unpacker unp;
    int64_t down_since, backoff_ns;
    int64_t fail_logged_ns; /* connect failures are logged once per 30 s */
    uint64_t fail_quiet;    /* failures not logged since                  */
    int spilling;
    /* failback */
    int probe_state;
    int probe_ok;
    size_t probe_idx;
    int64_t probe_at_ns; /* the next round of probes */
    uv_tcp_t ptcp;
    int ptcp_inited;
    uv_connect_t preq;
    uv_getaddrinfo_t pgai;
    int failback_pending;
    size_t failback_to;
    struct clew_fwd_out_stats st;
};

static void emitf(struct clew_fwd_out *o, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void emitf(struct clew_fwd_out *o, int level, const char *fmt, ...)
{
    if (o->event == NULL) {
        return;
    }
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    o->event(o->ud, level, text);
}

static size_t batch_size(const struct batch *b)
{
    return b->payload.len + b->gz.len;
}

static void batch_free(struct batch *b)
{
    if (b == NULL) {
        return;
    }
    clew_buf_close(&b->payload);
    clew_buf_close(&b->gz);
    clew_buf_close(&b->tail);
    clew_free(b->marks);
    clew_free(b);
}

/* Frees b now, or when its pending write completes. */
static void batch_release(struct batch *b)
{
    if (b->writing) {
        b->orphan = 1;
    } else {
        batch_free(b);
    }
}

static struct batch *batch_new(struct clew_fwd_out *o)
{
    struct batch *b = clew_calloc(1, sizeof(*b));
    if (b == NULL) {
        return NULL;
    }
    b->owner = o;
    clew_buf_init(&b->payload);
    clew_buf_init(&b->gz);
    clew_buf_init(&b->tail);
    return b;
}

static int parse_addr(const char *s, struct addr *a, char err[CLEW_ERR_LEN])
{
    const char *colon = strrchr(s, ':');
    size_t hl = colon ? (size_t)(colon - s) : 0;
    if (colon == NULL || hl == 0 || hl >= sizeof(a->host) || colon[1] == '\0' ||
        strlen(colon + 1) >= sizeof(a->port)) {
        snprintf(err, CLEW_ERR_LEN, "collector address '%s': want HOST:PORT", s);
        return CLEW_EBADARG;
    }
    const char *h = s;
    if (s[0] == '[' && colon[-1] == ']') { /* [v6]:port */
        h++;
        hl -= 2;
    }
    memcpy(a->host, h, hl);
    a->host[hl] = '\0';
    snprintf(a->port, sizeof(a->port), "%s", colon + 1);
    snprintf(a->text, sizeof(a->text), "%s", s);
    return 0;
}

/* ---- sealing and the disk buffer ------------------------------------- */

static void queue_push(struct clew_fwd_out *o, struct batch *b)
{
    if (o->tail) {
        o->tail->next = b;
    } else {
        o->head = b;
    }
    o->tail = b;
    if (o->next_send == NULL) {
        o->next_send = b;
    }
    o->queue_bytes += batch_size(b);
}

/* Writes a memory batch to the disk buffer; its marks are then done. */
static int spill_batch(struct clew_fwd_out *o, struct batch *b)
{
    uint64_t seq;
    int rc = clew_dbuf_append(o->o.dbuf, b->payload.data, b->payload.len, b->count, &seq);
    if (rc < 0) {
        o->st.spill_errors++;
        emitf(o, 3, "disk buffer append failed: %s", clew_strerror(rc));
        return rc;
    }
    o->st.records_spilled += b->count;
    if (b->nmarks > 0) {
        o->done(o->ud, b->marks, b->nmarks);
    }
    return 0;
}

static int finish_batch(struct clew_fwd_out *o, struct batch *b)
{
    snprintf(b->chunk, sizeof(b->chunk), "%s-%llu", o->run_id, (unsigned long long)++o->next_id);
    const struct clew_buf *body = &b->payload;
    if (o->o.gzip_level > 0) {
        int rc = clew_ship_gzip(&b->gz, b->payload.data, b->payload.len, o->o.gzip_level);
        if (rc < 0) {
            return rc;
        }
        body = &b->gz;
    }
    b->head_len = clew_ship_request_head(b->head, o->tag, body->len);
    return clew_ship_request_tail(&b->tail, b->chunk, b->count, o->o.gzip_level > 0);
}

static void send_more(struct clew_fwd_out *o);

static void seal(struct clew_fwd_out *o)
{
    struct batch *b = o->open;
    if (b == NULL || b->count == 0) {
        return;
    }
    o->open = NULL;
    if (o->spilling && spill_batch(o, b) == 0) {
        batch_free(b);
        return;
    }
    if (finish_batch(o, b) < 0) {
        /* Out of memory: the batch is lost from memory, but its marks never
         * reached the checkpoint, so a restart reads it again. */
        emitf(o, 3, "batch of %u records dropped: out of memory", b->count);
        batch_free(b);
        return;
    }
    queue_push(o, b);
    send_more(o);
}

/* Reads frames back from the disk while the memory budget allows. */
static void refill(struct clew_fwd_out *o)
{
    while (o->spilling && o->state == ST_CONNECTED && o->queue_bytes < o->o.max_queue / 2) {
        struct batch *b = batch_new(o);
        if (b == NULL) {
            return;
        }
        int rc = clew_dbuf_read(o->o.dbuf, &b->payload, &b->count, &b->dseq);
        if (rc == 0 && (rc = finish_batch(o, b)) == 0) {
            if (b->dseq <= o->max_dseq_sent) {
                b->sends = 1; /* sent before a break: a resend */
            }
            o->st.records_from_disk += b->count;
            queue_push(o, b);
            continue;
        }
        batch_free(b);
        if (rc == CLEW_ENOTFOUND) {
            o->spilling = 0;
            emitf(o, 6, "disk buffer drained");
        } else {
            emitf(o, 3, "disk buffer read failed: %s", clew_strerror(rc));
        }
        return;
    }
}

/* Everything in memory goes to the disk buffer (batches already there are
 * just forgotten: the buffer still holds them, unacknowledged). */
static int spill_all(struct clew_fwd_out *o)
{
    int rc = 0;
    seal(o);
    while (o->head != NULL) {
        struct batch *b = o->head;
        if (b->dseq == 0 && rc == 0) {
            rc = spill_batch(o, b);
        }
        if (rc < 0) {
            return rc; /* keep the rest in memory */
        }
        o->head = b->next;
        if (o->next_send == b) {
            o->next_send = o->head;
        }
        o->queue_bytes -= batch_size(b);
        batch_release(b);
    }
    o->tail = NULL;
    o->next_send = NULL;
    o->inflight_bytes = 0;
    if (!o->spilling) {
        emitf(o, 4, "no collector answers: buffering on disk");
    }
    o->spilling = 1;
    clew_dbuf_rewind(o->o.dbuf);
    return 0;
}

/* ---- the connection ---------------------------------------------------- */

static void connect_next(struct clew_fwd_out *o);

static void drop_connection(struct clew_fwd_out *o, const char *why);

static void close_tcp(struct clew_fwd_out *o);

/* A failback is due once nothing is in flight: close the connection; the
 * next one goes to the earlier address (on_tcp_closed). */
static void failback_check(struct clew_fwd_out *o)
{
    if (!o->failback_pending || o->state != ST_CONNECTED || o->head != o->next_send) {
        return;
    }
    emitf(o, 6, "collector %s: closing to move back to %s", o->addrs[o->addr_idx].text,
          o->addrs[o->failback_to].text);
    o->state = ST_CLOSING;
    o->st.connected = 0;
    close_tcp(o);
}

static void on_write(uv_write_t *req, int status)
{
    struct batch *b = req->data;
    struct clew_fwd_out *o = b->owner;
    b->writing = 0;
    if (b->orphan) {
        batch_free(b);
        return;
    }
    if (status < 0 && o->state == ST_CONNECTED) {
        drop_connection(o, uv_strerror(status));
    }
}

static void send_more(struct clew_fwd_out *o)
{
    while (o->state == ST_CONNECTED && !o->failback_pending && o->next_send != NULL &&
           (o->inflight_bytes == 0 ||
            o->inflight_bytes + batch_size(o->next_send) <= o->o.max_inflight)) {
        struct batch *b = o->next_send;
        const struct clew_buf *body = o->o.gzip_level > 0 ? &b->gz : &b->payload;
        uv_buf_t bufs[3] = { uv_buf_init((char *)b->head, (unsigned)b->head_len),
                             uv_buf_init((char *)body->data, (unsigned)body->len),
                             uv_buf_init((char *)b->tail.data, (unsigned)b->tail.len) };
        b->req.data = b;
        int rc = uv_write(&b->req, (uv_stream_t *)&o->tcp, bufs, 3, on_write);
        if (rc < 0) {
            emitf(o, 4, "write: %s", uv_strerror(rc));
            return;
        }
        b->writing = 1;
        if (b->sends++ > 0) {
            o->st.records_resent += b->count;
        } else if (o->o.sent != NULL && b->nmarks > 0) {
            o->o.sent(o->ud, b->marks, b->nmarks);
        }
        if (b->dseq > o->max_dseq_sent) {
            o->max_dseq_sent = b->dseq;
        }
        b->sent_ns = clew_time_mono_ns();
        o->st.batches_sent++;
        o->st.bytes_sent += b->head_len + body->len + b->tail.len;
        o->inflight_bytes += batch_size(b);
        o->next_send = b->next;
    }
}

static void acked(struct clew_fwd_out *o)
{
    struct batch *b = o->head;
    o->head = b->next;
    if (o->head == NULL) {
        o->tail = NULL;
    }
    o->inflight_bytes -= batch_size(b);
    o->queue_bytes -= batch_size(b);
    o->st.batches_acked++;
    o->st.records_acked += b->count;
    o->st.ack_wait_ns += (uint64_t)(clew_time_mono_ns() - b->sent_ns);
    if (b->dseq > 0) {
        clew_dbuf_ack(o->o.dbuf, b->dseq);
    }
    if (b->nmarks > 0) {
        o->done(o->ud, b->marks, b->nmarks);
    }
    batch_release(b);
}

static int on_reply(struct clew_fwd_out *o, const msgpack_object *obj)
{
    if (obj->type != MSGPACK_OBJECT_MAP) {
        return -1;
    }
    for (uint32_t i = 0; i < obj->via.map.size; i++) {
        const msgpack_object_kv *kv = &obj->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size != 3 ||
            memcmp(kv->key.via.str.ptr, "ack", 3) != 0 || kv->val.type != MSGPACK_OBJECT_STR) {
            continue;
        }
        struct batch *b = o->head;
        if (b == NULL || b == o->next_send || kv->val.via.str.size != strlen(b->chunk) ||
            memcmp(kv->val.via.str.ptr, b->chunk, kv->val.via.str.size) != 0) {
            return -1;
        }
        acked(o);
        return 0;
    }
    return -1;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct clew_fwd_out *o = h->data;
    (void)suggested;
    if (!msgpack_unpacker_reserve_buffer(&o->unp, 4096)) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init(msgpack_unpacker_buffer(&o->unp),
                       (unsigned)msgpack_unpacker_buffer_capacity(&o->unp));
}

/* Acks are small writes; a collector without TCP_NODELAY holds the next
 * one until we ACK the last, and delayed ACKs would add up to 40 ms per
 * ack. Quick ACKs (re-armed after every read) avoid that stall. */
static void quickack(struct clew_fwd_out *o)
{
    uv_os_fd_t fd;
    int one = 1;
    if (uv_fileno((uv_handle_t *)&o->tcp, &fd) == 0) {
        setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct clew_fwd_out *o = s->data;
    (void)buf;
    quickack(o);
    if (nread < 0) {
        drop_connection(o, nread == UV_EOF ? "closed by the collector" : uv_strerror((int)nread));
        return;
    }
    msgpack_unpacker_buffer_consumed(&o->unp, (size_t)nread);
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    msgpack_unpack_return ur;
    int bad = 0;
    while (!bad && (ur = msgpack_unpacker_next(&o->unp, &res)) == MSGPACK_UNPACK_SUCCESS) {
        bad = on_reply(o, &res.data) < 0;
    }
    msgpack_unpacked_destroy(&res);
    if (bad || ur == MSGPACK_UNPACK_PARSE_ERROR) {
        o->st.protocol_errors++;
        drop_connection(o, "unexpected reply (not the next ack)");
        return;
    }
    failback_check(o);
    refill(o);
    send_more(o);
}

static void on_retry(uv_timer_t *t);

static void schedule_retry(struct clew_fwd_out *o)
{
    o->state = ST_DOWN;
    if (o->closing) {
        return;
    }
    if (o->down_since == 0) {
        o->down_since = clew_time_mono_ns();
    }
    o->addr_idx = (o->addr_idx + 1) % o->o.naddrs;
    int64_t wait = o->backoff_ns;
    /* Failover is immediate; a full round of failures backs off. */
    if (o->addr_idx != 0) {
        wait = 0;
    } else {
        int64_t next = o->backoff_ns * 2;
        o->backoff_ns = next > o->o.backoff_max_ns ? o->o.backoff_max_ns : next;
    }
    /* Jitter: 75-100% of the wait. */
    wait = wait - (wait / 4) * (rand() % 100) / 100;
    uv_timer_start(&o->retry, on_retry, (uint64_t)(wait / 1000000), 0);
}

static void free_all(struct clew_fwd_out *o);

static void on_tcp_closed(uv_handle_t *h)
{
    struct clew_fwd_out *o = h->data;
    o->tcp_inited = 0;
    if (o->closing) {
        if (--o->handles == 0) {
            free_all(o);
        }
        return;
    }
    o->handles--;
    /* Everything unacknowledged is written again on the next connection. */
    o->next_send = o->head;
    o->inflight_bytes = 0;
    msgpack_unpacker_destroy(&o->unp);
    msgpack_unpacker_init(&o->unp, 4096);
    if (o->spilling) {
        /* Batches read from disk are still there: read them again later. */
        spill_all(o);
    }
    if (o->failback_pending) {
        o->failback_pending = 0;
        o->addr_idx = o->failback_to;
        o->st.failbacks++;
        o->state = ST_DOWN;
        o->down_since = o->down_since ? o->down_since : clew_time_mono_ns();
        uv_timer_start(&o->retry, on_retry, 0, 0);
        return;
    }
    schedule_retry(o);
}

static void close_tcp(struct clew_fwd_out *o)
{
    if (o->tcp_inited && !uv_is_closing((uv_handle_t *)&o->tcp)) {
        uv_read_stop((uv_stream_t *)&o->tcp);
        uv_close((uv_handle_t *)&o->tcp, on_tcp_closed);
    }
}

static void drop_connection(struct clew_fwd_out *o, const char *why)
{
    if (o->state == ST_CONNECTED || o->state == ST_CLOSING) {
        o->st.disconnects++;
        emitf(o, 4, "collector %s: %s; %zu bytes unacknowledged will be resent",
              o->addrs[o->addr_idx].text, why, (size_t)o->inflight_bytes);
    }
    o->state = ST_CLOSING;
    o->st.connected = 0;
    close_tcp(o);
}

static void connect_failed(struct clew_fwd_out *o, int rc)
{
    int64_t now = clew_time_mono_ns();
    o->st.connect_failures++;
    if (o->fail_logged_ns == 0 || now - o->fail_logged_ns >= 30 * CLEW_NS_PER_SEC) {
        emitf(o, 4, "connect %s: %s (%llu more failures not shown)", o->addrs[o->addr_idx].text,
              uv_strerror(rc), (unsigned long long)o->fail_quiet);
        o->fail_logged_ns = now;
        o->fail_quiet = 0;
    } else {
        o->fail_quiet++;
    }
}

static void on_connected(uv_connect_t *req, int status)
{
    struct clew_fwd_out *o = req->data;
    if (o->closing) {
        return;
    }
    if (status < 0) {
        connect_failed(o, status);
        o->state = ST_CLOSING;
        close_tcp(o);
        return;
    }
    o->state = ST_CONNECTED;
    o->st.connected = 1;
    o->st.connects++;
    o->fail_logged_ns = 0;
    o->fail_quiet = 0;
    o->down_since = 0;
    o->backoff_ns = o->o.backoff_min_ns;
    uv_tcp_nodelay(&o->tcp, 1);
    uv_read_start((uv_stream_t *)&o->tcp, alloc_cb, on_read);
    emitf(o, 6, "connected to %s", o->addrs[o->addr_idx].text);
    o->probe_at_ns = clew_time_mono_ns() + o->o.failback_ns;
    refill(o);
    send_more(o);
}

/* What a resolver callback (collector or probe) does first: once o is
 * closing, only frees (returns 1); else connects tcp to the address found,
 * *rc receiving the error (0 when connecting). res is freed either way. */
static int resolved(struct clew_fwd_out *o, int status, struct addrinfo *res, uv_tcp_t *tcp,
                    int *inited, uv_connect_t *creq, uv_connect_cb cb, int *rc)
{
    *rc = status;
    o->handles--; /* the resolver request */
    if (o->closing) {
        uv_freeaddrinfo(res);
        if (o->handles == 0) {
            free_all(o);
        }
        return 1;
    }
    if (*rc == 0 && (*rc = uv_tcp_init(o->loop, tcp)) == 0) {
        tcp->data = o;
        *inited = 1;
        o->handles++;
        creq->data = o;
        *rc = uv_tcp_connect(creq, tcp, res->ai_addr, cb);
    }
    uv_freeaddrinfo(res);
    return 0;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct clew_fwd_out *o = req->data;
    int rc;
    if (resolved(o, status, res, &o->tcp, &o->tcp_inited, &o->creq, on_connected, &rc)) {
        return;
    }
    if (rc < 0) {
        connect_failed(o, rc);
        if (o->tcp_inited) {
            o->state = ST_CLOSING;
            close_tcp(o);
        } else {
            schedule_retry(o);
        }
    }
}

static void connect_next(struct clew_fwd_out *o)
{
    if (o->closing || o->state != ST_DOWN) {
        return;
    }
    o->state = ST_CONNECTING;
    o->st.addr = o->addrs[o->addr_idx].text;
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_UNSPEC;
    o->gai.data = o;
    int rc = uv_getaddrinfo(o->loop, &o->gai, on_resolved, o->addrs[o->addr_idx].host,
                            o->addrs[o->addr_idx].port, &hints);
    if (rc == 0) {
        o->handles++;
    } else {
        o->st.connect_failures++;
        schedule_retry(o);
    }
}

static void on_retry(uv_timer_t *t)
{
    connect_next(t->data);
}

/* ---- failback: probing the earlier addresses -------------------------- */

static void probe_start(struct clew_fwd_out *o);

/* The probe is over (its connection closed): move back, or probe the next
 * earlier address, or wait for the next round. */
static void probe_next(struct clew_fwd_out *o)
{
    o->probe_state = PR_IDLE;
    if (o->state != ST_CONNECTED || o->probe_idx >= o->addr_idx) {
        o->probe_at_ns = clew_time_mono_ns() + o->o.failback_ns;
        return;
    }
    if (o->probe_ok) {
        o->failback_pending = 1;
        o->failback_to = o->probe_idx;
        emitf(o, 6, "collector %s answers again: moving back from %s (%zu bytes in flight)",
              o->addrs[o->probe_idx].text, o->addrs[o->addr_idx].text, (size_t)o->inflight_bytes);
        failback_check(o);
        return;
    }
    if (++o->probe_idx < o->addr_idx) {
        probe_start(o);
        return;
    }
    o->probe_at_ns = clew_time_mono_ns() + o->o.failback_ns;
}

static void on_probe_closed(uv_handle_t *h)
{
    struct clew_fwd_out *o = h->data;
    o->ptcp_inited = 0;
    if (--o->handles == 0 && o->closing) {
        free_all(o);
    } else if (!o->closing) {
        probe_next(o);
    }
}

/* Closes the probe connection (accepted or not); probe_next follows. */
static void probe_done(struct clew_fwd_out *o, int ok)
{
    o->probe_ok = ok;
    if (o->ptcp_inited) {
        o->probe_state = PR_CLOSING;
        uv_close((uv_handle_t *)&o->ptcp, on_probe_closed);
    } else {
        probe_next(o);
    }
}

static void on_probe_connected(uv_connect_t *req, int status)
{
    struct clew_fwd_out *o = req->data;
    if (!o->closing) {
        probe_done(o, status == 0);
    }
}

static void on_probe_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct clew_fwd_out *o = req->data;
    int rc;
    if (resolved(o, status, res, &o->ptcp, &o->ptcp_inited, &o->preq, on_probe_connected, &rc)) {
        return;
    }
    if (rc == 0) {
        o->probe_state = PR_CONNECTING;
    } else {
        probe_done(o, 0);
    }
}

static void probe_start(struct clew_fwd_out *o)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_UNSPEC;
    o->probe_state = PR_RESOLVING;
    o->st.probes++;
    o->pgai.data = o;
    int rc = uv_getaddrinfo(o->loop, &o->pgai, on_probe_resolved, o->addrs[o->probe_idx].host,
                            o->addrs[o->probe_idx].port, &hints);
    if (rc == 0) {
        o->handles++;
    } else {
        probe_done(o, 0);
    }
}

/* From the tick: a round of probes is due while connected to a later
 * address. */
static void failback_tick(struct clew_fwd_out *o, int64_t now)
{
    if (o->state == ST_CONNECTED && o->addr_idx > 0 && o->o.failback_ns > 0 &&
        o->probe_state == PR_IDLE && !o->failback_pending && now >= o->probe_at_ns) {
        o->probe_idx = 0;
        probe_start(o);
    }
}

static void on_tick(uv_timer_t *t)
{
    struct clew_fwd_out *o = t->data;
    int64_t now = clew_time_mono_ns();
    if (o->open && o->open->count > 0 && now - o->open_ns >= o->o.batch_ns) {
        seal(o);
    }
    if (o->state == ST_CONNECTED && o->head && o->head != o->next_send &&
        now - o->head->sent_ns > o->o.ack_timeout_ns) {
        o->st.ack_timeouts++;
        drop_connection(o, "no ack within the timeout");
    }
    if (o->o.dbuf && o->state != ST_CONNECTED && o->down_since &&
        now - o->down_since >= o->o.spill_after_ns && (o->head || !o->spilling)) {
        spill_all(o);
    }
    failback_tick(o, now);
    refill(o);
}

/* ---- public ------------------------------------------------------------- */

static void set_defaults(struct clew_fwd_out_opts *p)
{
    p->tag = p->tag ? p->tag : "clew-ship";
    p->batch_bytes = p->batch_bytes ? p->batch_bytes : (1u << 20);
    p->batch_ns = p->batch_ns ? p->batch_ns : 200000000LL;
    p->max_inflight = p->max_inflight ? p->max_inflight : (16u << 20);
    p->max_queue = p->max_queue ? p->max_queue : (32u << 20);
    p->ack_timeout_ns = p->ack_timeout_ns ? p->ack_timeout_ns : 30 * CLEW_NS_PER_SEC;
    p->backoff_min_ns = p->backoff_min_ns ? p->backoff_min_ns : 100000000LL;
    p->backoff_max_ns = p->backoff_max_ns ? p->backoff_max_ns : 5 * CLEW_NS_PER_SEC;
    p->spill_after_ns = p->spill_after_ns ? p->spill_after_ns : 2 * CLEW_NS_PER_SEC;
    p->failback_ns = p->failback_ns ? p->failback_ns : 30 * CLEW_NS_PER_SEC;
}

int clew_fwd_out_new(uv_loop_t *loop, const struct clew_fwd_out_opts *opts,
                     clew_fwd_out_done_cb done, clew_fwd_out_event_cb event, void *ud,
                     struct clew_fwd_out **out, char err[CLEW_ERR_LEN])
{
    *out = NULL;
    if (opts->naddrs == 0) {
        snprintf(err, CLEW_ERR_LEN, "no collector address");
        return CLEW_EBADARG;
    }
    struct clew_fwd_out *o = clew_calloc(1, sizeof(*o));
    if (o == NULL || (o->addrs = clew_calloc(opts->naddrs, sizeof(*o->addrs))) == NULL) {
        clew_free(o);
        return -ENOMEM;
    }
    for (size_t i = 0; i < opts->naddrs; i++) {
        int rc = parse_addr(opts->addrs[i], &o->addrs[i], err);
        if (rc < 0) {
            clew_free(o->addrs);
            clew_free(o);
            return rc;
        }
    }
    o->loop = loop;
    o->o = *opts;
    set_defaults(&o->o);
    snprintf(o->tag, sizeof(o->tag), "%s", o->o.tag);
    o->o.tag = o->tag;
    o->done = done;
    o->event = event;
    o->ud = ud;
    o->backoff_ns = o->o.backoff_min_ns;
    uint64_t r = (uint64_t)clew_time_now_ns() ^ ((uint64_t)uv_os_getpid() << 32);
    snprintf(o->run_id, sizeof(o->run_id), "%016llx", (unsigned long long)r);
    msgpack_unpacker_init(&o->unp, 4096);
    uv_timer_init(loop, &o->tick);
    uv_timer_init(loop, &o->retry);
    o->tick.data = o;
    o->retry.data = o;
    o->handles = 2;
    /* Frames left on disk by the previous run are older than anything the
     * files give now: new batches queue behind them on disk. */
    o->spilling = o->o.dbuf != NULL && clew_dbuf_unread(o->o.dbuf);
    uv_timer_start(&o->tick, on_tick, TICK_MS, TICK_MS);
    uv_timer_start(&o->retry, on_retry, 0, 0);
    *out = o;
    return 0;
}

struct clew_buf *clew_fwd_out_payload(struct clew_fwd_out *o)
{
    if (o->open == NULL) {
        if ((o->open = batch_new(o)) == NULL) {
            return NULL;
        }
        o->open_ns = clew_time_mono_ns();
    }
    return &o->open->payload;
}

int clew_fwd_out_commit(struct clew_fwd_out *o, uint32_t file, uint64_t off)
{
    struct batch *b = o->open;
    b->count++;
    o->st.records_queued++;
    struct clew_fwd_mark *m = NULL;
    for (size_t i = b->nmarks; i > 0 && m == NULL; i--) {
        if (b->marks[i - 1].file == file) {
            m = &b->marks[i - 1];
        }
    }
    if (m == NULL) {
        if (b->nmarks == b->capmarks) {
            size_t cap = b->capmarks ? b->capmarks * 2 : 4;
            struct clew_fwd_mark *nm = clew_realloc(b->marks, cap * sizeof(*nm));
            if (nm == NULL) {
                return -ENOMEM;
            }
            b->marks = nm;
            b->capmarks = cap;
        }
        m = &b->marks[b->nmarks++];
        m->file = file;
        m->off = 0;
    }
    if (off > m->off) {
        m->off = off;
    }
    if (b->payload.len >= o->o.batch_bytes) {
        seal(o);
    }
    return 0;
}

int clew_fwd_out_full(const struct clew_fwd_out *o)
{
    size_t open = o->open ? o->open->payload.len : 0;
    if (!o->spilling) {
        return o->queue_bytes + open >= o->o.max_queue;
    }
    /* Draining: the files wait rather than push the buffer to its bound. */
    struct clew_dbuf_stats ds;
    clew_dbuf_stats(o->o.dbuf, &ds);
    return o->state == ST_CONNECTED && ds.bytes >= o->o.max_queue;
}

void clew_fwd_out_flush(struct clew_fwd_out *o)
{
    seal(o);
}

int clew_fwd_out_spill(struct clew_fwd_out *o)
{
    if (o->o.dbuf == NULL) {
        return CLEW_ENOTFOUND;
    }
    clew_fwd_out_flush(o);
    return spill_all(o);
}

int clew_fwd_out_idle(const struct clew_fwd_out *o)
{
    return (o->open == NULL || o->open->count == 0) && o->head == NULL &&
           (o->o.dbuf == NULL || !clew_dbuf_pending(o->o.dbuf));
}

void clew_fwd_out_stats(const struct clew_fwd_out *o, struct clew_fwd_out_stats *out)
{
    *out = o->st;
    out->queue_bytes = o->queue_bytes + (o->open ? o->open->payload.len : 0);
    out->inflight_bytes = o->inflight_bytes;
    out->spilling = o->spilling;
}

static void free_all(struct clew_fwd_out *o)
{
    struct batch *b = o->head;
    while (b) {
        struct batch *n = b->next;
        batch_release(b);
        b = n;
    }
    batch_free(o->open);
    msgpack_unpacker_destroy(&o->unp);
    clew_free(o->addrs);
    void (*cb)(void *) = o->user_close_cb;
    void *ud = o->user_close_ud;
    clew_free(o);
    if (cb) {
        cb(ud);
    }
}

static void on_timer_closed(uv_handle_t *h)
{
    struct clew_fwd_out *o = h->data;
    if (--o->handles == 0) {
        free_all(o);
    }
}

void clew_fwd_out_close(struct clew_fwd_out *o, void (*cb)(void *ud), void *ud)
{
    if (o == NULL) {
        return;
    }
    o->closing = 1;
    o->user_close_cb = cb;
    o->user_close_ud = ud;
    uv_close((uv_handle_t *)&o->tick, on_timer_closed);
    uv_close((uv_handle_t *)&o->retry, on_timer_closed);
    if (o->tcp_inited && !uv_is_closing((uv_handle_t *)&o->tcp)) {
        uv_read_stop((uv_stream_t *)&o->tcp);
        uv_close((uv_handle_t *)&o->tcp, on_tcp_closed);
    }
    if (o->ptcp_inited && !uv_is_closing((uv_handle_t *)&o->ptcp)) {
        uv_close((uv_handle_t *)&o->ptcp, on_probe_closed);
    }
}
