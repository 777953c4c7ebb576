/* SPDX-License-Identifier: MIT */
#include "collector/in_forward.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "collector/forward_parse.h"
#include "collector/tcp_server.h"
#include "common/alloc.h"
#include "common/timeutil.h"

#define MAX_PENDING_ACKS 4096

struct in_forward {
    const struct clew_input_env *env;
    struct clew_input_stats st;
    struct clew_tcp_server *tcp;
    uint64_t durable; /* highest durable ticket reported */
    char where[160];
};

struct pending_ack {
    uint64_t ticket; /* the batch holding the request's last record; 0: none */
    size_t len;
    char chunk[CLEW_FWD_MAX_CHUNK];
};

struct fwd_conn {
    struct clew_fwd_decoder *dec;
    uint64_t last_ticket;     /* ticket of this request's newest record */
    struct pending_ack *acks; /* ring */
    size_t head, count, cap;
};

/* {"ack": chunk} in msgpack. */
static int send_ack(struct clew_tcp_conn *c, const char *chunk, size_t len)
{
    unsigned char b[8 + CLEW_FWD_MAX_CHUNK];
    size_t n = 0;
    b[n++] = 0x81;
    b[n++] = 0xa3;
    memcpy(b + n, "ack", 3);
    n += 3;
    if (len < 32) {
        b[n++] = (unsigned char)(0xa0 | len);
    } else {
        b[n++] = 0xd9;
        b[n++] = (unsigned char)len;
    }
    memcpy(b + n, chunk, len);
    return clew_tcp_conn_write(c, b, n + len);
}

/* Sends the acks whose records are durable, in order. */
static void flush_acks(struct in_forward *in, struct clew_tcp_conn *c)
{
    struct fwd_conn *fc = c->proto;
    while (fc->count > 0 && !c->closing) {
        struct pending_ack *a = &fc->acks[fc->head];
        if (a->ticket > in->durable) {
            break;
        }
        if (a->ticket != 0 && clew_pipeline_failed(in->env->pipe, a->ticket)) {
            /* The store refused the batch: no ack, so the client resends. */
            clew_input_report(&in->st, "forward", CLEW_INERR_NOMEM, c->peer,
                              "records not stored; closing without ack");
            clew_tcp_conn_close(c);
            return;
        }
        send_ack(c, a->chunk, a->len);
        fc->head = (fc->head + 1) % fc->cap;
        fc->count--;
    }
}

static int queue_ack(struct fwd_conn *fc, uint64_t ticket, struct clew_str chunk)
{
    if (fc->count == fc->cap) {
        size_t cap = fc->cap ? fc->cap * 2 : 8;
        if (cap > MAX_PENDING_ACKS) {
            return CLEW_ETOOBIG;
        }
        struct pending_ack *a = clew_malloc(cap * sizeof(*a));
        if (a == NULL) {
            return -ENOMEM;
        }
        for (size_t i = 0; i < fc->count; i++) {
            a[i] = fc->acks[(fc->head + i) % fc->cap];
        }
        clew_free(fc->acks);
        fc->acks = a;
        fc->head = 0;
        fc->cap = cap;
    }
    struct pending_ack *a = &fc->acks[(fc->head + fc->count) % fc->cap];
    a->ticket = ticket;
    a->len = chunk.len < CLEW_FWD_MAX_CHUNK ? chunk.len : CLEW_FWD_MAX_CHUNK;
    memcpy(a->chunk, chunk.ptr, a->len);
    fc->count++;
    return 0;
}

static void on_record(struct in_forward *in, struct clew_tcp_conn *c, struct clew_fwd_event *ev)
{
    struct fwd_conn *fc = c->proto;
    if (!ev->has_ts) {
        ev->rec.ts = clew_time_now_ns();
    }
    if (clew_pipeline_push(in->env->pipe, &ev->rec, &fc->last_ticket) < 0) {
        clew_input_report(&in->st, "forward", CLEW_INERR_NOMEM, c->peer, "record dropped");
        return;
    }
    clew_stat_add(in->st.records, 1);
}

static int on_end(struct in_forward *in, struct clew_tcp_conn *c, const struct clew_fwd_event *ev)
{
    struct fwd_conn *fc = c->proto;
    uint64_t ticket = ev->records > 0 ? fc->last_ticket : 0;
    fc->last_ticket = 0;
    if (ev->chunk.len == 0) {
        return 0;
    }
    if (ticket != 0) {
        clew_pipeline_expedite(in->env->pipe); /* the client waits for this ack */
    }
    int rc = queue_ack(fc, ticket, ev->chunk);
    if (rc < 0) {
        clew_input_report(&in->st, "forward", CLEW_INERR_BUFFER, c->peer,
                          "too many unacknowledged requests; closing");
        return rc;
    }
    flush_acks(in, c);
    return 0;
}

static void conn_data(void *ud, struct clew_tcp_conn *c, const char *buf, size_t len)
{
    struct in_forward *in = ud;
    struct fwd_conn *fc = c->proto;
    clew_stat_add(in->st.bytes, len);
    int rc = clew_fwd_decoder_feed(fc->dec, buf, len);
    struct clew_fwd_event ev;
    while (rc == 0 && (rc = clew_fwd_decoder_next(fc->dec, &ev)) == 0) {
        if (ev.kind == CLEW_FWD_RECORD) {
            on_record(in, c, &ev);
        } else if (ev.kind == CLEW_FWD_SKIP) {
            clew_input_report(&in->st, "forward",
                              ev.error == CLEW_ETOOBIG ? CLEW_INERR_OVERSIZE : CLEW_INERR_MSGPACK,
                              c->peer, "%s", ev.reason ? ev.reason : clew_strerror(ev.error));
        } else if (ev.kind == CLEW_FWD_END && (rc = on_end(in, c, &ev)) < 0) {
            break;
        }
    }
    if (rc != -EAGAIN && rc < 0) {
        if (rc != CLEW_ETOOBIG || fc->count < MAX_PENDING_ACKS) {
            clew_input_report(&in->st, "forward",
                              rc == CLEW_ETOOBIG ? CLEW_INERR_BUFFER : CLEW_INERR_MSGPACK, c->peer,
                              "%s; closing", clew_strerror(rc));
        }
        clew_tcp_conn_close(c);
    }
}

static int conn_open(void *ud, struct clew_tcp_conn *c)
{
    struct in_forward *in = ud;
    struct fwd_conn *fc = clew_calloc(1, sizeof(*fc));
    struct clew_fwd_opts o = { .max_buffer = in->env->cfg->conn_buffer };
    if (fc == NULL || clew_fwd_decoder_new(&o, &fc->dec) < 0) {
        clew_free(fc);
        return -ENOMEM;
    }
    c->proto = fc;
    return 0;
}

static void conn_close(void *ud, struct clew_tcp_conn *c)
{
    (void)ud;
    struct fwd_conn *fc = c->proto;
    if (fc != NULL) {
        clew_fwd_decoder_free(fc->dec);
        clew_free(fc->acks);
        clew_free(fc);
    }
}

static const struct clew_tcp_proto forward_proto = {
    conn_open, conn_data, NULL, conn_close, "forward",
};

static void ack_each(struct clew_tcp_conn *c, void *ud)
{
    flush_acks(ud, c);
}

static void durable(void *state, uint64_t ticket)
{
    struct in_forward *in = state;
    in->durable = ticket;
    clew_tcp_server_each(in->tcp, ack_each, in);
}

static void on_tcp_stopped(void *ud)
{
    clew_free(ud);
}

static void stop(void *state)
{
    struct in_forward *in = state;
    clew_tcp_server_stop(in->tcp, on_tcp_stopped, in);
}

static int start(const struct clew_input_env *env, const char *addr, void **state,
                 char err[CLEW_ERR_LEN])
{
    struct sockaddr_storage ss;
    int rc = clew_parse_addr(addr, &ss, err);
    if (rc < 0) {
        return rc;
    }
    struct in_forward *in = clew_calloc(1, sizeof(*in));
    if (in == NULL) {
        snprintf(err, CLEW_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    in->env = env;
    rc = clew_tcp_server_start(env->loop, (struct sockaddr *)&ss, env->cfg->max_connections,
                               &forward_proto, in, &in->st, &in->tcp, err);
    if (rc < 0) {
        clew_free(in);
        return rc;
    }
    clew_tcp_server_addr(in->tcp, &ss);
    char a[64];
    snprintf(in->where, sizeof(in->where), "tcp %s",
             clew_format_addr((struct sockaddr *)&ss, a, sizeof(a)));
    *state = in;
    return 0;
}

static const char *forward_addr(const struct clew_config *cfg)
{
    return cfg->forward;
}

static void describe(void *state, char *buf, size_t len)
{
    snprintf(buf, len, "%s", ((struct in_forward *)state)->where);
}

static void pause_input(void *state)
{
    clew_tcp_server_pause(((struct in_forward *)state)->tcp);
}

static void resume_input(void *state)
{
    clew_tcp_server_resume(((struct in_forward *)state)->tcp);
}

static struct clew_input_stats *stats(void *state)
{
    return &((struct in_forward *)state)->st;
}

const struct clew_input_ops clew_in_forward_ops = {
    .name = "forward",
    .addr = forward_addr,
    .start = start,
    .pause = pause_input,
    .resume = resume_input,
    .durable = durable,
    .stop = stop,
    .stats = stats,
    .describe = describe,
};
