/* SPDX-License-Identifier: MIT */
#include "collector/in_syslog.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "collector/syslog_frame.h"
#include "collector/syslog_parse.h"
#include "collector/tcp_server.h"
#include "collector/udp_server.h"
#include "common/alloc.h"
#include "common/arena.h"
#include "common/timeutil.h"

struct in_syslog {
    const struct clew_input_env *env;
    struct clew_input_stats st;
    struct clew_tcp_server *tcp;
    struct clew_udp_server *udp;
    int paused;
    struct clew_arena arena;         /* strings of the record being decoded */
    int64_t now;                     /* receive time of the bytes being decoded */
    const struct sockaddr *udp_peer; /* sender of the datagram being decoded */
    char where[160];
};

struct syslog_conn {
    struct in_syslog *in;
    struct clew_tcp_conn *conn;
    struct clew_syslog_framer framer;
};

/* The peer's name for a report: TCP connections have it ready; a UDP
 * sender's address is formatted only when something is reported. */
static const char *peer_name(struct in_syslog *in, const char *peer, char buf[64])
{
    return peer != NULL ? peer : clew_format_addr(in->udp_peer, buf, 64);
}

/* Decodes one message and hands the record to env->push. */
static void deliver(struct in_syslog *in, const char *msg, size_t len, unsigned frame_flags,
                    const char *tcp_peer)
{
    char pbuf[64];
    struct clew_record r;
    int rc = clew_syslog_parse(msg, len, in->now, NULL, &r, &in->arena);
    if (rc < 0) {
        clew_input_report(&in->st, "syslog", rc == -ENOMEM ? CLEW_INERR_NOMEM : CLEW_INERR_PARSE,
                          peer_name(in, tcp_peer, pbuf), "%s", clew_strerror(rc));
        clew_arena_reset(&in->arena);
        return;
    }
    if (rc == CLEW_SYSLOG_PARSE_NOPRI) {
        clew_input_report(&in->st, "syslog", CLEW_INERR_PARSE, peer_name(in, tcp_peer, pbuf),
                          "no <PRI>: kept as plain text (%zu bytes)", len);
    }
    if (frame_flags & CLEW_SYSLOG_FRAME_TRUNCATED) {
        r.flags |= CLEW_REC_TRUNCATED;
        clew_input_report(&in->st, "syslog", CLEW_INERR_TRUNCATED, peer_name(in, tcp_peer, pbuf),
                          "message longer than --max-message, cut");
    }
    if (in->env->push(in->env->push_ud, &r) < 0) {
        clew_input_report(&in->st, "syslog", CLEW_INERR_NOMEM, peer_name(in, tcp_peer, pbuf),
                          "record dropped");
    } else {
        clew_stat_add(in->st.records, 1);
    }
    clew_arena_reset(&in->arena);
}

static void on_frame(void *ud, const char *msg, size_t len, unsigned flags)
{
    struct syslog_conn *sc = ud;
    deliver(sc->in, msg, len, flags, sc->conn->peer);
}

static int conn_open(void *ud, struct clew_tcp_conn *c)
{
    struct in_syslog *in = ud;
    struct syslog_conn *sc = clew_calloc(1, sizeof(*sc));
    if (sc == NULL) {
        return -ENOMEM;
    }
    sc->in = in;
    sc->conn = c;
    clew_syslog_framer_init(&sc->framer, in->env->cfg->max_message);
    c->proto = sc;
    return 0;
}

static void count_framer(struct in_syslog *in, struct syslog_conn *sc, uint64_t oversize0,
                         const char *peer)
{
    if (sc->framer.stats.oversize > oversize0) {
        clew_input_report(&in->st, "syslog", CLEW_INERR_OVERSIZE, peer,
                          "octet-counted frame longer than --max-message skipped");
    }
}

static void conn_data(void *ud, struct clew_tcp_conn *c, const char *buf, size_t len)
{
    struct in_syslog *in = ud;
    struct syslog_conn *sc = c->proto;
    uint64_t oversize0 = sc->framer.stats.oversize;
    clew_stat_add(in->st.bytes, len);
    in->now = clew_time_now_ns(); /* one clock read per read, not per message */
    int rc = clew_syslog_framer_feed(&sc->framer, buf, len, on_frame, sc);
    count_framer(in, sc, oversize0, c->peer);
    if (rc < 0) {
        clew_input_report(&in->st, "syslog", CLEW_INERR_FRAME, c->peer, "%s; closing",
                          clew_strerror(rc));
        clew_tcp_conn_close(c);
    }
}

static void conn_eof(void *ud, struct clew_tcp_conn *c)
{
    struct syslog_conn *sc = c->proto;
    ((struct in_syslog *)ud)->now = clew_time_now_ns();
    clew_syslog_framer_finish(&sc->framer, on_frame, sc);
}

static void conn_close(void *ud, struct clew_tcp_conn *c)
{
    (void)ud;
    struct syslog_conn *sc = c->proto;
    if (sc != NULL) {
        clew_syslog_framer_close(&sc->framer);
        clew_free(sc);
    }
}

static const struct clew_tcp_proto syslog_proto = {
    conn_open, conn_data, conn_eof, conn_close, "syslog",
};

static void on_datagram(void *ud, const char *data, size_t n, const struct sockaddr *addr,
                        int truncated)
{
    struct in_syslog *in = ud;
    clew_stat_add(in->st.datagrams, 1);
    clew_stat_add(in->st.bytes, n);
    if (in->paused) {
        clew_stat_add(in->st.udp_drops, 1);
        return;
    }
    in->udp_peer = addr;
    in->now = clew_time_now_ns();
    size_t off = clew_syslog_datagram_offset(data, n);
    size_t len = n - off;
    unsigned fl = truncated ? CLEW_SYSLOG_FRAME_TRUNCATED : 0;
    if (len > in->env->cfg->max_message) {
        len = in->env->cfg->max_message;
        fl |= CLEW_SYSLOG_FRAME_TRUNCATED;
    }
    deliver(in, data + off, len, fl, NULL);
}

static const char *syslog_addr(const struct clew_config *cfg)
{
    return cfg->syslog;
}

static void describe(void *state, char *buf, size_t len)
{
    struct in_syslog *in = state;
    snprintf(buf, len, "%s", in->where);
}

static void free_input(void *ud)
{
    struct in_syslog *in = ud;
    if (in->tcp == NULL && in->udp == NULL) {
        clew_arena_close(&in->arena);
        clew_free(in);
    }
}

static void on_tcp_stopped(void *ud)
{
    struct in_syslog *in = ud;
    in->tcp = NULL;
    free_input(in);
}

static void on_udp_stopped(void *ud)
{
    struct in_syslog *in = ud;
    in->udp = NULL;
    free_input(in);
}

static void stop(void *state)
{
    struct in_syslog *in = state;
    if (in->udp != NULL) {
        clew_udp_server_stop(in->udp, on_udp_stopped, in);
    }
    if (in->tcp != NULL) {
        clew_tcp_server_stop(in->tcp, on_tcp_stopped, in);
    }
    free_input(in);
}

static int start(const struct clew_input_env *env, const char *addr, void **state,
                 char err[CLEW_ERR_LEN])
{
    struct sockaddr_storage ss;
    int rc = clew_parse_addr(addr, &ss, err);
    if (rc < 0) {
        return rc;
    }
    struct in_syslog *in = clew_calloc(1, sizeof(*in));
    if (in == NULL) {
        snprintf(err, CLEW_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    in->env = env;
    clew_arena_init(&in->arena, 64u << 10);
    rc = clew_tcp_server_start(env->loop, (struct sockaddr *)&ss, env->cfg->max_connections,
                               &syslog_proto, in, &in->st, &in->tcp, err);
    if (rc < 0) {
        clew_arena_close(&in->arena);
        clew_free(in);
        return rc;
    }
    /* UDP on the same port as TCP (the bound one, when port 0 was asked). */
    clew_tcp_server_addr(in->tcp, &ss);
    char a[64];
    clew_format_addr((struct sockaddr *)&ss, a, sizeof(a));
    if ((rc = clew_udp_server_start(env->loop, (struct sockaddr *)&ss, 8 << 20, on_datagram, in,
                                    &in->udp, err)) < 0) {
        stop(in);
        return rc;
    }
    snprintf(in->where, sizeof(in->where), "udp+tcp %s", a);
    *state = in;
    return 0;
}

static void pause_input(void *state)
{
    struct in_syslog *in = state;
    in->paused = 1;
    clew_tcp_server_pause(in->tcp);
}

static void resume_input(void *state)
{
    struct in_syslog *in = state;
    in->paused = 0;
    clew_tcp_server_resume(in->tcp);
}

static struct clew_input_stats *stats(void *state)
{
    return &((struct in_syslog *)state)->st;
}

const struct clew_input_ops clew_in_syslog_ops = {
    .name = "syslog",
    .addr = syslog_addr,
    .start = start,
    .pause = pause_input,
    .resume = resume_input,
    .durable = NULL,
    .stop = stop,
    .stats = stats,
    .describe = describe,
};
