/* SPDX-License-Identifier: MIT */
#include "collector/in_gelf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "collector/gelf_chunk.h"
#include "collector/gelf_parse.h"
#include "collector/tcp_server.h"
#include "collector/udp_server.h"
#include "common/alloc.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/timeutil.h"

struct in_gelf {
    const struct clew_input_env *env;
    struct clew_input_stats st;
    struct clew_gelf_stats parse_stats;
    struct clew_tcp_server *tcp;
    struct clew_udp_server *udp;
    uv_timer_t expire;
    int timer_open;
    int paused;
    struct clew_gelf_chunker *chunker;
    struct clew_gelf_inflater *inflater; /* reused by every compressed payload */
    uint64_t chunk_expired_seen;
    struct clew_arena arena;
    char where[160];
};

struct gelf_conn {
    struct clew_buf buf; /* bytes of an unfinished frame */
    int skipping;        /* dropping an oversized frame up to its NUL */
};

static enum clew_inerr inerr_of(int rc)
{
    switch (rc) {
    case CLEW_GELF_EINFLATE:
    case CLEW_GELF_EMAGIC:
        return CLEW_INERR_DECOMPRESS;
    case CLEW_GELF_EJSON:
        return CLEW_INERR_JSON;
    case CLEW_ETOOBIG:
        return CLEW_INERR_OVERSIZE;
    case -ENOMEM:
        return CLEW_INERR_NOMEM;
    default:
        return CLEW_INERR_PARSE;
    }
}

static void deliver(struct in_gelf *in, const void *payload, size_t len, const char *peer)
{
    struct clew_gelf_parse_opts opts = { in->env->cfg->max_message * 4 + 1024,
                                         in->env->cfg->max_message, &in->parse_stats,
                                         in->inflater };
    struct clew_record r;
    uint64_t truncated0 = in->parse_stats.truncated;
    int rc = clew_gelf_parse(payload, len, clew_time_now_ns(), &opts, &r, &in->arena);
    if (rc < 0) {
        clew_input_report(&in->st, "gelf", inerr_of(rc), peer, "%s (%zu bytes)",
                          clew_gelf_strerror(rc), len);
    } else {
        if (in->parse_stats.truncated > truncated0) {
            clew_input_report(&in->st, "gelf", CLEW_INERR_TRUNCATED, peer,
                              "message longer than --max-message, cut");
        }
        if (in->env->push(in->env->push_ud, &r) < 0) {
            clew_input_report(&in->st, "gelf", CLEW_INERR_NOMEM, peer, "record dropped");
        } else {
            clew_stat_add(in->st.records, 1);
        }
    }
    clew_arena_reset(&in->arena);
}

static void on_datagram(void *ud, const char *data, size_t n, const struct sockaddr *addr,
                        int truncated)
{
    struct in_gelf *in = ud;
    (void)truncated; /* a cut datagram fails to decode and is counted there */
    clew_stat_add(in->st.datagrams, 1);
    clew_stat_add(in->st.bytes, n);
    if (in->paused) {
        clew_stat_add(in->st.udp_drops, 1);
        return;
    }
    char peer[64];
    clew_format_addr(addr, peer, sizeof(peer));
    const void *msg;
    size_t len;
    int rc = clew_gelf_chunker_add(in->chunker, data, n, clew_time_mono_ns(), &msg, &len);
    if (rc < 0) {
        clew_input_report(&in->st, "gelf",
                          rc == CLEW_ETOOBIG ? CLEW_INERR_OVERSIZE : CLEW_INERR_CHUNK, peer, "%s",
                          clew_gelf_chunk_strerror(rc));
    } else if (rc == 1) {
        deliver(in, msg, len, peer);
    }
}

static void on_expire(uv_timer_t *t)
{
    struct in_gelf *in = t->data;
    size_t n = clew_gelf_chunker_expire(in->chunker, clew_time_mono_ns());
    if (n > 0) {
        clew_input_report(&in->st, "gelf", CLEW_INERR_CHUNK, NULL,
                          "%zu incomplete chunked messages expired", n);
    }
}

static int conn_open(void *ud, struct clew_tcp_conn *c)
{
    (void)ud;
    struct gelf_conn *gc = clew_calloc(1, sizeof(*gc));
    if (gc == NULL) {
        return -ENOMEM;
    }
    clew_buf_init(&gc->buf);
    c->proto = gc;
    return 0;
}

/* Consumes the NUL-terminated frames of data; keeps an unfinished one. */
static void conn_frames(struct in_gelf *in, struct clew_tcp_conn *c, const char *data, size_t len)
{
    struct gelf_conn *gc = c->proto;
    size_t limit = in->env->cfg->max_message * 4 + 1024; /* compressed or JSON overhead */
    while (len > 0) {
        size_t mlen, used = clew_gelf_nul_frame(data, len, &mlen);
        if (used == 0) { /* no NUL yet */
            if (!gc->skipping && gc->buf.len + len > limit) {
                clew_input_report(&in->st, "gelf", CLEW_INERR_OVERSIZE, c->peer,
                                  "TCP frame beyond %zu bytes dropped", limit);
                gc->skipping = 1;
                clew_buf_reset(&gc->buf);
            }
            if (!gc->skipping && clew_buf_append(&gc->buf, data, len) < 0) {
                gc->skipping = 1;
                clew_input_report(&in->st, "gelf", CLEW_INERR_NOMEM, c->peer, "frame dropped");
            }
            return;
        }
        if (!gc->skipping && gc->buf.len + mlen > limit) {
            /* The frame's end came in this read: same verdict as above. */
            clew_input_report(&in->st, "gelf", CLEW_INERR_OVERSIZE, c->peer,
                              "TCP frame beyond %zu bytes dropped", limit);
            clew_buf_reset(&gc->buf);
        } else if (gc->skipping) {
            gc->skipping = 0;
        } else if (gc->buf.len > 0) {
            if (clew_buf_append(&gc->buf, data, mlen) == 0) {
                deliver(in, gc->buf.data, gc->buf.len, c->peer);
            }
            clew_buf_reset(&gc->buf);
        } else if (mlen > 0) {
            deliver(in, data, mlen, c->peer);
        }
        data += used;
        len -= used;
    }
}

static void conn_data(void *ud, struct clew_tcp_conn *c, const char *buf, size_t len)
{
    struct in_gelf *in = ud;
    clew_stat_add(in->st.bytes, len);
    conn_frames(in, c, buf, len);
}

static void conn_eof(void *ud, struct clew_tcp_conn *c)
{
    struct in_gelf *in = ud;
    struct gelf_conn *gc = c->proto;
    /* A last message without its NUL is still a message. */
    if (!gc->skipping && gc->buf.len > 0) {
        deliver(in, gc->buf.data, gc->buf.len, c->peer);
        clew_buf_reset(&gc->buf);
    }
}

static void conn_close(void *ud, struct clew_tcp_conn *c)
{
    (void)ud;
    struct gelf_conn *gc = c->proto;
    if (gc != NULL) {
        clew_buf_close(&gc->buf);
        clew_free(gc);
    }
}

static const struct clew_tcp_proto gelf_proto = {
    conn_open, conn_data, conn_eof, conn_close, "gelf",
};

static void free_input(struct in_gelf *in)
{
    if (in->tcp == NULL && in->udp == NULL && !in->timer_open) {
        clew_gelf_chunker_free(in->chunker);
        clew_gelf_inflater_free(in->inflater);
        clew_arena_close(&in->arena);
        clew_free(in);
    }
}

static void on_tcp_stopped(void *ud)
{
    struct in_gelf *in = ud;
    in->tcp = NULL;
    free_input(in);
}

static void on_udp_stopped(void *ud)
{
    struct in_gelf *in = ud;
    in->udp = NULL;
    free_input(in);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct in_gelf *in = h->data;
    in->timer_open = 0;
    free_input(in);
}

static void stop(void *state)
{
    struct in_gelf *in = state;
    if (in->udp != NULL) {
        clew_udp_server_stop(in->udp, on_udp_stopped, in);
    }
    if (in->timer_open) {
        uv_close((uv_handle_t *)&in->expire, on_timer_closed);
    }
    if (in->tcp != NULL) {
        clew_tcp_server_stop(in->tcp, on_tcp_stopped, in);
    }
    free_input(in);
}

static int start_udp(struct in_gelf *in, const struct sockaddr *sa, char err[CLEW_ERR_LEN])
{
    int rc = uv_timer_init(in->env->loop, &in->expire);
    if (rc < 0) {
        snprintf(err, CLEW_ERR_LEN, "timer: %s", uv_strerror(rc));
        return rc;
    }
    in->expire.data = in;
    in->timer_open = 1;
    uv_timer_start(&in->expire, on_expire, 1000, 1000);
    /* Bursts of chunks must not overflow the socket buffer. */
    return clew_udp_server_start(in->env->loop, sa, 8 << 20, on_datagram, in, &in->udp, err);
}

static int start(const struct clew_input_env *env, const char *addr, void **state,
                 char err[CLEW_ERR_LEN])
{
    struct sockaddr_storage ss;
    int rc = clew_parse_addr(addr, &ss, err);
    if (rc < 0) {
        return rc;
    }
    struct in_gelf *in = clew_calloc(1, sizeof(*in));
    if (in == NULL) {
        snprintf(err, CLEW_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    in->env = env;
    clew_arena_init(&in->arena, 64u << 10);
    struct clew_gelf_chunker_opts co = { env->cfg->gelf_chunk_timeout,
                                         env->cfg->gelf_reassembly_mem, 0,
                                         (uint64_t)clew_time_now_ns() ^ (uint64_t)(uintptr_t)in };
    if ((in->chunker = clew_gelf_chunker_new(&co)) == NULL ||
        (in->inflater = clew_gelf_inflater_new()) == NULL) {
        free_input(in);
        snprintf(err, CLEW_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    rc = clew_tcp_server_start(env->loop, (struct sockaddr *)&ss, env->cfg->max_connections,
                               &gelf_proto, in, &in->st, &in->tcp, err);
    if (rc < 0) {
        free_input(in);
        return rc;
    }
    clew_tcp_server_addr(in->tcp, &ss);
    char a[64];
    clew_format_addr((struct sockaddr *)&ss, a, sizeof(a));
    if ((rc = start_udp(in, (struct sockaddr *)&ss, err)) < 0) {
        stop(in);
        return rc;
    }
    snprintf(in->where, sizeof(in->where), "udp+tcp %s", a);
    *state = in;
    return 0;
}

static const char *gelf_addr(const struct clew_config *cfg)
{
    return cfg->gelf;
}

static void describe(void *state, char *buf, size_t len)
{
    snprintf(buf, len, "%s", ((struct in_gelf *)state)->where);
}

static void pause_input(void *state)
{
    struct in_gelf *in = state;
    in->paused = 1;
    clew_tcp_server_pause(in->tcp);
}

static void resume_input(void *state)
{
    struct in_gelf *in = state;
    in->paused = 0;
    clew_tcp_server_resume(in->tcp);
}

static struct clew_input_stats *stats(void *state)
{
    return &((struct in_gelf *)state)->st;
}

const struct clew_input_ops clew_in_gelf_ops = {
    .name = "gelf",
    .addr = gelf_addr,
    .start = start,
    .pause = pause_input,
    .resume = resume_input,
    .durable = NULL,
    .stop = stop,
    .stats = stats,
    .describe = describe,
};
