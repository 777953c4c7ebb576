/* SPDX-License-Identifier: MIT
 * udp_server: the UDP plumbing of the datagram inputs: bind, a large
 * socket receive buffer, recvmmsg batches (libuv's UV_UDP_RECVMMSG), one
 * callback per datagram with the peer's address. Owns one receive buffer
 * of 20 x 64 KiB. Loop thread only. */
#ifndef CLEW_UDP_SERVER_H
#define CLEW_UDP_SERVER_H

#include <stddef.h>
#include <uv.h>

#include "clew/error.h"

struct clew_udp_server;

/* A datagram (borrowed until return); truncated is set when it was longer
 * than 64 KiB. */
typedef void (*clew_udp_datagram_cb)(void *ud, const char *data, size_t len,
                                     const struct sockaddr *peer, int truncated);

/* Binds addr and starts receiving. rcvbuf: SO_RCVBUF to ask for (0 keeps
 * the system's). */
int clew_udp_server_start(uv_loop_t *loop, const struct sockaddr *addr, int rcvbuf,
                          clew_udp_datagram_cb cb, void *ud, struct clew_udp_server **out,
                          char err[CLEW_ERR_LEN]);
/* Closes the socket; on_stopped (may be NULL) runs once it is freed. */
void clew_udp_server_stop(struct clew_udp_server *s, void (*on_stopped)(void *ud), void *ud);

#endif
