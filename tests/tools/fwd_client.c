/* SPDX-License-Identifier: MIT
 * fwd_client: a Fluent Forward client with acks, for the crash tests.
 *
 *   fwd_client HOST PORT N ACKFILE [--batch B] [--window W] [--service S]
 *
 * Sends records 0..N-1 (message "msg-<i>", a `service` key, level info) as
 * requests of B entries (B = 1: Message mode [tag, time, record, {chunk}];
 * B > 1: Forward mode [tag, [[EventTime, record]...], {chunk}]), each with a
 * unique `chunk` option, keeping at most W requests unacknowledged. Every
 * {"ack": chunk} reply appends the indices of that request's records to
 * ACKFILE, one a line, flushed at once: when the server dies, ACKFILE lists
 * exactly the records it promised to keep. Stops when all N are acked or the
 * connection breaks (both exit 0; a break is expected when the server is
 * killed). Prints "sent=K acked=J closed=0|1" on stdout (K: records of the
 * requests written whole). Exit 1 on a
 * protocol error (an ack nobody asked for, out of order) or a 30 s stall,
 * 2 on usage errors. */
#include <errno.h>
#include <msgpack.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"

#define STALL_MS 30000
#define OUT_MAX  (64u << 10) /* encode ahead up to this many unwritten bytes */
#define TAG      "clew.fwd_client"

struct client {
    int fd;
    long n, batch, window;
    const char *service;
    FILE *acks;
    long nreq;           /* requests in all                          */
    long next_req;       /* next request to encode                   */
    long written;        /* requests written whole to the socket     */
    long acked_req;      /* requests acked (acks come in order)      */
    long acked_recs;     /* records acked                            */
    msgpack_sbuffer out; /* encoded, not yet written bytes from out_off */
    size_t out_off;
    size_t *ends; /* end offset in out of requests written..next_req-1 */
    msgpack_unpacker unp;
    int closed;
};

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t len = strlen(s);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

static void pack_record(const struct client *c, msgpack_packer *pk, long i)
{
    char msg[64];
    snprintf(msg, sizeof(msg), "msg-%ld", i);
    msgpack_pack_map(pk, 4);
    pack_cstr(pk, "message");
    pack_cstr(pk, msg);
    pack_cstr(pk, "service");
    pack_cstr(pk, c->service);
    pack_cstr(pk, "level");
    pack_cstr(pk, "info");
    pack_cstr(pk, "host");
    pack_cstr(pk, "fwd-client");
}

/* EventTime: ext type 0, big-endian seconds and nanoseconds. */
static void pack_event_time(msgpack_packer *pk)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint32_t s = (uint32_t)ts.tv_sec, ns = (uint32_t)ts.tv_nsec;
    unsigned char b[8] = { (unsigned char)(s >> 24),  (unsigned char)(s >> 16),
                           (unsigned char)(s >> 8),   (unsigned char)s,
                           (unsigned char)(ns >> 24), (unsigned char)(ns >> 16),
                           (unsigned char)(ns >> 8),  (unsigned char)ns };
    msgpack_pack_ext(pk, 8, 0);
    msgpack_pack_ext_body(pk, b, 8);
}

static void chunk_id(long req, char *buf, size_t len)
{
    snprintf(buf, len, "fwdc-%ld-%ld", (long)getpid(), req);
}

/* Appends request r to the output buffer. */
static void encode_request(struct client *c, long r)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c->out, msgpack_sbuffer_write);
    long first = r * c->batch;
    long last = first + c->batch < c->n ? first + c->batch : c->n;
    char chunk[64];
    chunk_id(r, chunk, sizeof(chunk));
    if (c->batch == 1) {
        msgpack_pack_array(&pk, 4);
        pack_cstr(&pk, TAG);
        msgpack_pack_uint64(&pk, (uint64_t)time(NULL));
        pack_record(c, &pk, first);
    } else {
        msgpack_pack_array(&pk, 3);
        pack_cstr(&pk, TAG);
        msgpack_pack_array(&pk, (size_t)(last - first));
        for (long i = first; i < last; i++) {
            msgpack_pack_array(&pk, 2);
            pack_event_time(&pk);
            pack_record(c, &pk, i);
        }
    }
    msgpack_pack_map(&pk, 1);
    pack_cstr(&pk, "chunk");
    pack_cstr(&pk, chunk);
    c->ends[r - c->written] = c->out.size;
}

/* Writes what the socket takes. Returns 0, or -1 when the connection broke. */
static int flush_out(struct client *c)
{
    while (c->out_off < c->out.size) {
        ssize_t w = send(c->fd, c->out.data + c->out_off, c->out.size - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        }
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            return -1;
        }
        c->out_off += (size_t)w;
        long k = 0;
        while (c->written + k < c->next_req && c->ends[k] <= c->out_off) {
            k++;
        }
        memmove(c->ends, c->ends + k, (size_t)(c->next_req - c->written - k) * sizeof(*c->ends));
        c->written += k;
    }
    msgpack_sbuffer_clear(&c->out);
    c->out_off = 0;
    return 0;
}

/* One ack object: checks it is the next one and records its records. */
static int on_ack(struct client *c, const msgpack_object *o)
{
    char want[64];
    chunk_id(c->acked_req, want, sizeof(want));
    if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size < 1) {
        fprintf(stderr, "fwd_client: reply is not a map\n");
        return -1;
    }
    const msgpack_object_kv *kv = &o->via.map.ptr[0];
    if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size != 3 ||
        memcmp(kv->key.via.str.ptr, "ack", 3) != 0 || kv->val.type != MSGPACK_OBJECT_STR) {
        fprintf(stderr, "fwd_client: reply is not {\"ack\": str}\n");
        return -1;
    }
    if (c->acked_req >= c->written || kv->val.via.str.size != strlen(want) ||
        memcmp(kv->val.via.str.ptr, want, strlen(want)) != 0) {
        fprintf(stderr, "fwd_client: ack '%.*s', want '%s'\n", (int)kv->val.via.str.size,
                kv->val.via.str.ptr, want);
        return -1;
    }
    long first = c->acked_req * c->batch;
    long last = first + c->batch < c->n ? first + c->batch : c->n;
    for (long i = first; i < last; i++) {
        fprintf(c->acks, "%ld\n", i);
    }
    fflush(c->acks);
    c->acked_recs += last - first;
    c->acked_req++;
    return 0;
}

/* Reads and handles acks. Returns 0, 1 when the peer closed, -1 on error. */
static int read_acks(struct client *c)
{
    if (!msgpack_unpacker_reserve_buffer(&c->unp, 4096)) {
        return -1;
    }
    ssize_t r = recv(c->fd, msgpack_unpacker_buffer(&c->unp),
                     msgpack_unpacker_buffer_capacity(&c->unp), MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
        return 0;
    }
    if (r <= 0) {
        return 1; /* closed or reset: the server is gone */
    }
    msgpack_unpacker_buffer_consumed(&c->unp, (size_t)r);
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    msgpack_unpack_return ur;
    int rc = 0;
    while (rc == 0 && (ur = msgpack_unpacker_next(&c->unp, &res)) == MSGPACK_UNPACK_SUCCESS) {
        rc = on_ack(c, &res.data);
    }
    if (rc == 0 && ur == MSGPACK_UNPACK_PARSE_ERROR) {
        fprintf(stderr, "fwd_client: reply is not msgpack\n");
        rc = -1;
    }
    msgpack_unpacked_destroy(&res);
    return rc;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends and reads until everything is acked or the connection breaks. */
static int run(struct client *c)
{
    int64_t progress = now_ms();
    while (c->acked_req < c->nreq) {
        while (c->out.size < OUT_MAX && c->next_req < c->nreq &&
               c->next_req - c->acked_req < c->window) {
            encode_request(c, c->next_req++);
        }
        if (flush_out(c) < 0) {
            c->closed = 1;
            return 0;
        }
        struct pollfd p = { c->fd, POLLIN | (c->out.size > 0 ? POLLOUT : 0), 0 };
        int pr = poll(&p, 1, 1000);
        if (pr < 0 && errno != EINTR) {
            return -1;
        }
        if (pr > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
            long before = c->acked_req;
            int rc = read_acks(c);
            if (rc != 0) {
                c->closed = rc > 0;
                return rc > 0 ? 0 : -1;
            }
            if (c->acked_req > before) {
                progress = now_ms();
            }
        }
        if (now_ms() - progress > STALL_MS) {
            fprintf(stderr, "fwd_client: no ack for %d ms\n", STALL_MS);
            return -1;
        }
    }
    return 0;
}

static int connect_to(const char *host, const char *port)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "fwd_client: %s:%s: %s\n", host, port, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
        fprintf(stderr, "fwd_client: connect %s:%s: %s\n", host, port, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int parse_opts(struct client *c, int argc, char **argv)
{
    for (int i = 5; i < argc; i += 2) {
        if (i + 1 >= argc) {
            return -1;
        }
        if (strcmp(argv[i], "--batch") == 0) {
            c->batch = atol(argv[i + 1]);
        } else if (strcmp(argv[i], "--window") == 0) {
            c->window = atol(argv[i + 1]);
        } else if (strcmp(argv[i], "--service") == 0) {
            c->service = argv[i + 1];
        } else {
            return -1;
        }
    }
    c->n = atol(argv[3]);
    return c->n > 0 && c->batch > 0 && c->batch <= 100000 && c->window > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct client c;
    memset(&c, 0, sizeof(c));
    c.batch = 1;
    c.window = 256;
    c.service = "fwd-client";
    if (argc < 5 || parse_opts(&c, argc, argv) < 0) {
        fprintf(stderr, "usage: fwd_client HOST PORT N ACKFILE [--batch B] [--window W] "
                        "[--service S]\n");
        return 2;
    }
    c.nreq = (c.n + c.batch - 1) / c.batch;
    if ((c.ends = clew_calloc((size_t)c.window, sizeof(*c.ends))) == NULL) {
        return 2;
    }
    if ((c.acks = fopen(argv[4], "w")) == NULL) {
        fprintf(stderr, "fwd_client: %s: %s\n", argv[4], strerror(errno));
        clew_free(c.ends);
        return 2;
    }
    if ((c.fd = connect_to(argv[1], argv[2])) < 0) {
        fclose(c.acks);
        clew_free(c.ends);
        return 1;
    }
    msgpack_sbuffer_init(&c.out);
    msgpack_unpacker_init(&c.unp, 4096);
    int rc = run(&c);
    long sent = c.written * c.batch < c.n ? c.written * c.batch : c.n;
    printf("sent=%ld acked=%ld closed=%d\n", sent, c.acked_recs, c.closed);
    close(c.fd);
    fclose(c.acks);
    msgpack_sbuffer_destroy(&c.out);
    msgpack_unpacker_destroy(&c.unp);
    clew_free(c.ends);
    return rc < 0 ? 1 : 0;
}
