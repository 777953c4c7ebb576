/* SPDX-License-Identifier: MIT
 * tcp_server: the TCP plumbing every stream input shares: listen, accept
 * up to a connection limit, read into a per-connection buffer, hand bytes
 * to the protocol, pause and resume reading all connections (backpressure),
 * close one connection or all. The protocol state hangs off conn->proto and
 * is freed by the protocol's on_close. Loop thread only. */
#ifndef CLEW_TCP_SERVER_H
#define CLEW_TCP_SERVER_H

#include <stddef.h>
#include <uv.h>

#include "clew/error.h"

struct clew_tcp_server;

struct clew_tcp_conn {
    uv_tcp_t handle;
    struct clew_tcp_server *srv;
    struct clew_tcp_conn *prev, *next;
    char peer[64];
    void *proto;    /* the protocol's per-connection state          */
    int closing;
    int reading;
    int counted; /* open: in the input's open_connections gauge */
};

struct clew_tcp_proto {
    /* A new connection; set conn->proto. Non-zero refuses it. */
    int (*open)(void *ud, struct clew_tcp_conn *c);
    /* Bytes arrived (borrowed until return). The protocol may call
     * clew_tcp_conn_close from here. */
    void (*data)(void *ud, struct clew_tcp_conn *c, const char *buf, size_t len);
    /* The peer closed its side (or the connection failed): deliver what is
     * left. The connection is closed right after. */
    void (*eof)(void *ud, struct clew_tcp_conn *c);
    /* The connection is gone: free conn->proto. */
    void (*close)(void *ud, struct clew_tcp_conn *c);
    /* The input's name, for the refusal report. */
    const char *name;
};

struct clew_input_stats;

/* Binds addr and listens. ud is passed to every protocol callback. The
 * server keeps the connection counters of st (accepted, open) and reports
 * a connection refused at max_conns there (st borrowed for its life). */
int clew_tcp_server_start(uv_loop_t *loop, const struct sockaddr *addr, size_t max_conns,
                          const struct clew_tcp_proto *proto, void *ud,
                          struct clew_input_stats *st,
                          struct clew_tcp_server **out, char err[CLEW_ERR_LEN]);
/* The bound address (port 0 resolved). */
int clew_tcp_server_addr(struct clew_tcp_server *s, struct sockaddr_storage *out);
size_t clew_tcp_server_count(struct clew_tcp_server *s);
void clew_tcp_server_pause(struct clew_tcp_server *s);
void clew_tcp_server_resume(struct clew_tcp_server *s);
/* Calls cb for each open connection. */
void clew_tcp_server_each(struct clew_tcp_server *s, void (*cb)(struct clew_tcp_conn *c, void *ud),
                          void *ud);
/* Closes the listener and every connection; on_stopped (may be NULL) runs
 * when all is closed and the server is freed. */
void clew_tcp_server_stop(struct clew_tcp_server *s, void (*on_stopped)(void *ud), void *ud);

/* Writes bytes to the peer (copied). Returns 0 or a libuv error. */
int clew_tcp_conn_write(struct clew_tcp_conn *c, const void *buf, size_t len);
/* Closes one connection (idempotent); proto->close runs from its callback. */
void clew_tcp_conn_close(struct clew_tcp_conn *c);

#endif
