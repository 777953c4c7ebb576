/* SPDX-License-Identifier: MIT */
#include "collector/tcp_server.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "collector/input.h"
#include "common/alloc.h"

#define READ_BUF (64u << 10)

struct clew_tcp_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    const struct clew_tcp_proto *proto;
    void *ud;
    struct clew_input_stats *st;
    size_t max_conns, nconns;
    struct clew_tcp_conn *conns;
    int paused, stopping, listener_open;
    void (*on_stopped)(void *ud);
    void *stopped_ud;
    char buf[READ_BUF]; /* one read buffer: data is consumed inside the read callback */
};

static void maybe_free(struct clew_tcp_server *s)
{
    if (s->stopping && !s->listener_open && s->nconns == 0) {
        void (*cb)(void *) = s->on_stopped;
        void *ud = s->stopped_ud;
        clew_free(s);
        if (cb != NULL) {
            cb(ud);
        }
    }
}

static void on_conn_closed(uv_handle_t *h)
{
    struct clew_tcp_conn *c = h->data;
    struct clew_tcp_server *s = c->srv;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        s->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    s->nconns--;
    if (c->counted) {
        clew_stat_add(s->st->open_connections, (uint64_t)-1);
    }
    if (s->proto->close != NULL) {
        s->proto->close(s->ud, c);
    }
    clew_free(c);
    maybe_free(s);
}

void clew_tcp_conn_close(struct clew_tcp_conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = 1;
    uv_close((uv_handle_t *)&c->handle, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct clew_tcp_conn *c = h->data;
    (void)hint;
    *buf = uv_buf_init(c->srv->buf, READ_BUF);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct clew_tcp_conn *c = st->data;
    struct clew_tcp_server *s = c->srv;
    if (n > 0 && !c->closing) {
        s->proto->data(s->ud, c, buf->base, (size_t)n);
    } else if (n < 0 && !c->closing) {
        if (s->proto->eof != NULL) {
            s->proto->eof(s->ud, c);
        }
        clew_tcp_conn_close(c);
    }
}

static void start_reading(struct clew_tcp_conn *c)
{
    if (!c->reading && !c->closing) {
        c->reading = uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read) == 0;
    }
}

static void on_connection(uv_stream_t *l, int status)
{
    struct clew_tcp_server *s = l->data;
    if (status < 0) {
        return;
    }
    struct clew_tcp_conn *c = clew_calloc(1, sizeof(*c));
    if (c == NULL || uv_tcp_init(s->loop, &c->handle) < 0) {
        clew_free(c); /* the pending connection stays queued in the kernel */
        return;
    }
    c->handle.data = c;
    c->srv = s;
    c->next = s->conns;
    if (s->conns != NULL) {
        s->conns->prev = c;
    }
    s->conns = c;
    s->nconns++;
    if (uv_accept(l, (uv_stream_t *)&c->handle) < 0) {
        clew_tcp_conn_close(c);
        return;
    }
    /* Acks are small writes a peer waits for: no Nagle delay. */
    uv_tcp_nodelay(&c->handle, 1);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(&c->handle, (struct sockaddr *)&ss, &len) == 0) {
        clew_format_addr((struct sockaddr *)&ss, c->peer, sizeof(c->peer));
    }
    if (s->nconns > s->max_conns) {
        clew_input_report(s->st, s->proto->name, CLEW_INERR_CONN_LIMIT, c->peer,
                          "--max-connections reached; connection refused");
        clew_tcp_conn_close(c);
        return;
    }
    if (s->proto->open(s->ud, c) != 0) {
        clew_tcp_conn_close(c);
        return;
    }
    c->counted = 1;
    clew_stat_add(s->st->connections, 1);
    clew_stat_add(s->st->open_connections, 1);
    if (!s->paused) {
        start_reading(c);
    }
}

int clew_tcp_server_start(uv_loop_t *loop, const struct sockaddr *addr, size_t max_conns,
                          const struct clew_tcp_proto *proto, void *ud,
                          struct clew_input_stats *st, struct clew_tcp_server **out, char err[CLEW_ERR_LEN])
{
    *out = NULL;
    struct clew_tcp_server *s = clew_calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, CLEW_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    s->loop = loop;
    s->proto = proto;
    s->ud = ud;
    s->st = st;
    s->max_conns = max_conns ? max_conns : 1;
    int rc = uv_tcp_init(loop, &s->listener);
    if (rc < 0) {
        clew_free(s);
        snprintf(err, CLEW_ERR_LEN, "tcp: %s", uv_strerror(rc));
        return rc;
    }
    s->listener.data = s;
    s->listener_open = 1;
    if ((rc = uv_tcp_bind(&s->listener, addr, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection)) < 0) {
        char a[64];
        snprintf(err, CLEW_ERR_LEN, "tcp %s: %s", clew_format_addr(addr, a, sizeof(a)),
                 uv_strerror(rc));
        clew_tcp_server_stop(s, NULL, NULL);
        return rc;
    }
    *out = s;
    return 0;
}

int clew_tcp_server_addr(struct clew_tcp_server *s, struct sockaddr_storage *out)
{
    int len = sizeof(*out);
    return uv_tcp_getsockname(&s->listener, (struct sockaddr *)out, &len);
}

size_t clew_tcp_server_count(struct clew_tcp_server *s)
{
    return s->nconns;
}

void clew_tcp_server_pause(struct clew_tcp_server *s)
{
    s->paused = 1;
    for (struct clew_tcp_conn *c = s->conns; c != NULL; c = c->next) {
        if (c->reading && !c->closing) {
            uv_read_stop((uv_stream_t *)&c->handle);
        }
        c->reading = 0;
    }
}

void clew_tcp_server_resume(struct clew_tcp_server *s)
{
    s->paused = 0;
    for (struct clew_tcp_conn *c = s->conns; c != NULL; c = c->next) {
        start_reading(c);
    }
}

void clew_tcp_server_each(struct clew_tcp_server *s, void (*cb)(struct clew_tcp_conn *c, void *ud),
                          void *ud)
{
    for (struct clew_tcp_conn *c = s->conns, *n; c != NULL; c = n) {
        n = c->next;
        cb(c, ud);
    }
}

static void on_listener_closed(uv_handle_t *h)
{
    struct clew_tcp_server *s = h->data;
    s->listener_open = 0;
    maybe_free(s);
}

void clew_tcp_server_stop(struct clew_tcp_server *s, void (*on_stopped)(void *ud), void *ud)
{
    s->stopping = 1;
    s->on_stopped = on_stopped;
    s->stopped_ud = ud;
    for (struct clew_tcp_conn *c = s->conns; c != NULL; c = c->next) {
        clew_tcp_conn_close(c);
    }
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}

struct write_req {
    uv_write_t req;
    char data[];
};

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    clew_free(req);
}

int clew_tcp_conn_write(struct clew_tcp_conn *c, const void *buf, size_t len)
{
    if (c->closing) {
        return UV_ECANCELED;
    }
    struct write_req *w = clew_malloc(sizeof(*w) + len);
    if (w == NULL) {
        return UV_ENOMEM;
    }
    memcpy(w->data, buf, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->handle, &b, 1, on_written);
    if (rc < 0) {
        clew_free(w);
    }
    return rc;
}
