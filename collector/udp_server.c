/* SPDX-License-Identifier: MIT */
#include "collector/udp_server.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>

#include "collector/input.h"
#include "common/alloc.h"

#define DGRAM_MAX (64u << 10)
#ifndef SO_RCVBUFFORCE
#define SO_RCVBUFFORCE 33 /* Linux; hidden by _POSIX_C_SOURCE */
#endif
#define MMSG 20 /* libuv reads up to 20 datagrams per recvmmsg */

struct clew_udp_server {
    uv_udp_t udp;
    clew_udp_datagram_cb cb;
    void *ud;
    void (*on_stopped)(void *ud);
    void *stopped_ud;
    char buf[MMSG * DGRAM_MAX];
};

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct clew_udp_server *s = h->data;
    (void)hint;
    *buf = uv_buf_init(s->buf, sizeof(s->buf));
}

static void on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags)
{
    struct clew_udp_server *s = h->data;
    if (n <= 0 || addr == NULL) {
        return; /* nothing, an error, or the end of a recvmmsg batch */
    }
    s->cb(s->ud, buf->base, (size_t)n, addr, (flags & UV_UDP_PARTIAL) != 0);
}

/* Asks for a big receive buffer: bursts must not overflow it while the
 * loop is busy. SO_RCVBUF is capped by net.core.rmem_max; SO_RCVBUFFORCE
 * (root or CAP_NET_ADMIN) is not. */
static void set_rcvbuf(struct clew_udp_server *s, int size)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&s->udp, &fd) == 0 &&
        setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) == 0) {
        return;
    }
    uv_recv_buffer_size((uv_handle_t *)&s->udp, &size);
}

int clew_udp_server_start(uv_loop_t *loop, const struct sockaddr *addr, int rcvbuf,
                          clew_udp_datagram_cb cb, void *ud, struct clew_udp_server **out,
                          char err[CLEW_ERR_LEN])
{
    *out = NULL;
    struct clew_udp_server *s = clew_calloc(1, sizeof(*s));
    char a[64];
    clew_format_addr(addr, a, sizeof(a));
    if (s == NULL) {
        snprintf(err, CLEW_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    s->cb = cb;
    s->ud = ud;
    int rc = uv_udp_init_ex(loop, &s->udp, (unsigned)addr->sa_family | UV_UDP_RECVMMSG);
    if (rc < 0) {
        clew_free(s);
        snprintf(err, CLEW_ERR_LEN, "udp %s: %s", a, uv_strerror(rc));
        return rc;
    }
    s->udp.data = s;
    if ((rc = uv_udp_bind(&s->udp, addr, 0)) == 0) {
        if (rcvbuf > 0) {
            set_rcvbuf(s, rcvbuf);
        }
        rc = uv_udp_recv_start(&s->udp, on_alloc, on_recv);
    }
    if (rc < 0) {
        snprintf(err, CLEW_ERR_LEN, "udp %s: %s", a, uv_strerror(rc));
        clew_udp_server_stop(s, NULL, NULL);
        return rc;
    }
    *out = s;
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    struct clew_udp_server *s = h->data;
    void (*cb)(void *) = s->on_stopped;
    void *ud = s->stopped_ud;
    clew_free(s);
    if (cb != NULL) {
        cb(ud);
    }
}

void clew_udp_server_stop(struct clew_udp_server *s, void (*on_stopped)(void *ud), void *ud)
{
    s->on_stopped = on_stopped;
    s->stopped_ud = ud;
    uv_udp_recv_stop(&s->udp);
    uv_close((uv_handle_t *)&s->udp, on_closed);
}
