/* SPDX-License-Identifier: MIT
 * replay: sends a captured fixture file to a running clewd, for the
 * integration tests.
 *
 *   replay udp HOST PORT FILE   FILE is a sequence of (4-byte big-endian
 *                               length, datagram); each datagram is sent as is
 *   replay tcp HOST PORT FILE   FILE is a raw byte stream, sent on one
 *                               connection; then the write side is shut and
 *                               everything the server sends is read (and
 *                               dropped) until it closes, so on exit the
 *                               server has consumed every byte
 *
 *   replay --split N tcp ...    the same, written in pieces of 1..N bytes
 *                               (pseudo-random sizes, TCP_NODELAY, a short
 *                               pause after each) so the server sees
 *                               messages cut at arbitrary points
 *
 * FILE may be "-" for stdin. The local address of the socket is printed on
 * stdout ("local 127.0.0.1:40000") so a test can look for it in clewd's log.
 * Exit status: 0 sent, 1 I/O or network error, 2 usage or malformed file. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"

#define CLOSE_TIMEOUT_MS 10000
#define UDP_GAP_NS       200000 /* between datagrams: no bursts into the socket buffer */

static const char *prog = "replay";
static size_t split_max; /* 0: write everything at once */

static void *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = clew_malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) {
            break;
        }
        char *b = clew_realloc(buf, cap * 2);
        if (b == NULL) {
            clew_free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    int bad = ferror(f);
    if (f != stdin) {
        fclose(f);
    }
    if (buf == NULL || bad) {
        fprintf(stderr, "%s: %s: read failed\n", prog, path);
        clew_free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* A socket of type `type` connected to host:port, or -1. */
static int connect_to(const char *host, const char *port, int type)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = type;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "%s: %s:%s: %s\n", prog, host, port, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
        fprintf(stderr, "%s: connect %s:%s: %s\n", prog, host, port, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static void print_local(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "?";
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        return;
    }
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        printf("local %s:%u\n", ip, ntohs(in->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        printf("local [%s]:%u\n", ip, ntohs(in6->sin6_port));
    }
    fflush(stdout);
}

static int send_datagrams(int fd, const unsigned char *p, size_t n)
{
    size_t off = 0, count = 0;
    struct timespec gap = { 0, UDP_GAP_NS };
    while (off < n) {
        if (n - off < 4) {
            fprintf(stderr, "%s: truncated length at offset %zu\n", prog, off);
            return 2;
        }
        size_t len = (size_t)p[off] << 24 | (size_t)p[off + 1] << 16 | (size_t)p[off + 2] << 8 |
                     (size_t)p[off + 3];
        off += 4;
        if (len > n - off) {
            fprintf(stderr, "%s: datagram %zu: length %zu beyond the file\n", prog, count, len);
            return 2;
        }
        if (send(fd, p + off, len, 0) != (ssize_t)len) {
            fprintf(stderr, "%s: datagram %zu (%zu bytes): %s\n", prog, count, len,
                    strerror(errno));
            return 1;
        }
        off += len;
        count++;
        nanosleep(&gap, NULL);
    }
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    uint32_t rnd = 12345;
    struct timespec pause = { 0, 100000 };
    if (split_max > 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    while (n > 0) {
        size_t piece = n;
        if (split_max > 0) {
            rnd = rnd * 1103515245u + 12345u;
            piece = 1 + (rnd >> 8) % split_max;
            piece = piece < n ? piece : n;
            nanosleep(&pause, NULL);
        }
        ssize_t w = send(fd, p, piece, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            fprintf(stderr, "%s: write: %s (%zu bytes unsent)\n", prog, strerror(errno), n);
            return 1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Shuts the write side and reads until the peer closes. */
static int drain_until_closed(int fd)
{
    char buf[4096];
    if (shutdown(fd, SHUT_WR) < 0) {
        fprintf(stderr, "%s: shutdown: %s\n", prog, strerror(errno));
        return 1;
    }
    for (;;) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        int rc = poll(&pfd, 1, CLOSE_TIMEOUT_MS);
        if (rc == 0) {
            fprintf(stderr, "%s: the server did not close within %d ms\n", prog, CLOSE_TIMEOUT_MS);
            return 1;
        }
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        ssize_t r = rc < 0 ? -1 : recv(fd, buf, sizeof(buf), 0);
        if (r == 0) {
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            /* A reset after our data was read is still "closed". */
            return errno == ECONNRESET ? 0 : 1;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--split") == 0) {
        split_max = (size_t)strtoul(argv[2], NULL, 10);
        argc -= 2;
        argv += 2;
        if (split_max == 0) {
            argc = 0; /* usage */
        }
    }
    if (argc != 5 || (strcmp(argv[1], "udp") != 0 && strcmp(argv[1], "tcp") != 0)) {
        fprintf(stderr, "usage: %s [--split N] udp|tcp HOST PORT FILE|-\n", prog);
        return 2;
    }
    int udp = strcmp(argv[1], "udp") == 0;
    size_t len = 0;
    char *data = read_all(argv[4], &len);
    if (data == NULL) {
        return 2;
    }
    int fd = connect_to(argv[2], argv[3], udp ? SOCK_DGRAM : SOCK_STREAM);
    if (fd < 0) {
        clew_free(data);
        return 1;
    }
    print_local(fd);
    int rc;
    if (udp) {
        rc = send_datagrams(fd, (const unsigned char *)data, len);
    } else {
        rc = write_all(fd, data, len);
        if (rc == 0) {
            rc = drain_until_closed(fd);
        }
    }
    close(fd);
    clew_free(data);
    return rc;
}
