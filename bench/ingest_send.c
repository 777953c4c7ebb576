/* SPDX-License-Identifier: MIT
 * bench/ingest_send: a fast loopback sender for bench/ingest.sh.
 *
 * usage: ingest_send PROTO PORT COUNT [RATE]
 *   PROTO: syslog-tcp (RFC 5424, LF-framed), syslog-udp, gelf-udp (plain
 *   JSON datagrams), gelf-tcp (NUL-framed), forward (PackedForward requests
 *   of 1000 entries, no acks). RATE: records per second (0 or absent: as
 *   fast as the socket takes them). Prints the seconds it took. Messages
 *   are ~200-byte log lines with a unique sequence number. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *const words[] = {
    "GET /api/v1/orders/", "POST /api/v1/payments/", "user login ok for ", "cache miss for key ",
    "db query took ", "upstream timeout talking to ", "retrying request ", "scheduled job ran ",
};

/* A log line body for record i. */
static int body(char *buf, size_t len, uint64_t i)
{
    return snprintf(buf, len,
                    "%s%llu status=%d duration_ms=%llu request_id=%016llx user=u%llu seq=%llu "
                    "component=checkout region=eu-west-1 detail=the quick brown fox jumps",
                    words[i % 8], (unsigned long long)(i * 7919 % 100000), i % 50 ? 200 : 503,
                    (unsigned long long)(i % 977), (unsigned long long)(i * 0x9e3779b97f4a7c15ULL),
                    (unsigned long long)(i % 5000), (unsigned long long)i);
}

static int connect_to(int type, int port)
{
    int fd = socket(AF_INET, type, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(0x7f000001);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        perror("connect");
        exit(1);
    }
    if (type == SOCK_DGRAM) {
        int sz = 8 << 20;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
    return fd;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("write");
            exit(1);
        }
        p += w;
        n -= (size_t)w;
    }
}

/* One record in the protocol's framing; returns its length. */
static size_t frame(const char *proto, char *out, size_t cap, uint64_t i)
{
    char b[512];
    body(b, sizeof(b), i);
    int n;
    if (strncmp(proto, "syslog", 6) == 0) {
        n = snprintf(out, cap, "<134>1 2026-11-28T20:00:00.%06lluZ bench-host svc%llu 1234 - - %s\n",
                     (unsigned long long)(i % 1000000), (unsigned long long)(i % 8), b);
    } else {
        n = snprintf(out, cap,
                     "{\"version\":\"1.1\",\"host\":\"bench-host\",\"short_message\":\"%s\","
                     "\"timestamp\":%llu.%03llu,\"level\":6,\"_service\":\"svc%llu\"}",
                     b, 1795890000ULL + i / 1000, (unsigned long long)(i % 1000),
                     (unsigned long long)(i % 8));
        if (strcmp(proto, "gelf-tcp") == 0) {
            out[n++] = '\0';
        }
    }
    return (size_t)n;
}

/* msgpack helpers for PackedForward: [tag, bin(entries)] with entries
 * [time, {"message": ..., "service": ..., "host": ...}]. */
static size_t mp_str(unsigned char *p, const char *s, size_t n)
{
    size_t k = 0;
    if (n < 32) {
        p[k++] = (unsigned char)(0xa0 | n);
    } else if (n < 256) {
        p[k++] = 0xd9;
        p[k++] = (unsigned char)n;
    } else {
        p[k++] = 0xda;
        p[k++] = (unsigned char)(n >> 8);
        p[k++] = (unsigned char)n;
    }
    memcpy(p + k, s, n);
    return k + n;
}

static size_t forward_request(unsigned char *out, uint64_t first, uint64_t count)
{
    static unsigned char entries[1u << 20];
    size_t e = 0;
    for (uint64_t i = first; i < first + count; i++) {
        char b[512], svc[16];
        int bl = body(b, sizeof(b), i);
        int sl = snprintf(svc, sizeof(svc), "svc%llu", (unsigned long long)(i % 8));
        entries[e++] = 0x92;
        entries[e++] = 0xce; /* uint32 seconds */
        uint32_t t = (uint32_t)(1795890000ULL + i / 1000);
        entries[e++] = (unsigned char)(t >> 24);
        entries[e++] = (unsigned char)(t >> 16);
        entries[e++] = (unsigned char)(t >> 8);
        entries[e++] = (unsigned char)t;
        entries[e++] = 0x83;
        e += mp_str(entries + e, "message", 7);
        e += mp_str(entries + e, b, (size_t)bl);
        e += mp_str(entries + e, "service", 7);
        e += mp_str(entries + e, svc, (size_t)sl);
        e += mp_str(entries + e, "host", 4);
        e += mp_str(entries + e, "bench-host", 10);
    }
    size_t k = 0;
    out[k++] = 0x92;
    k += mp_str(out + k, "bench", 5);
    out[k++] = 0xc6; /* bin32 */
    out[k++] = (unsigned char)(e >> 24);
    out[k++] = (unsigned char)(e >> 16);
    out[k++] = (unsigned char)(e >> 8);
    out[k++] = (unsigned char)e;
    memcpy(out + k, entries, e);
    return k + e;
}

static void pace(double t0, uint64_t sent, double rate)
{
    if (rate <= 0) {
        return;
    }
    double due = t0 + (double)sent / rate;
    double d = due - now();
    if (d > 0) {
        struct timespec ts = { (time_t)d, (long)((d - (double)(time_t)d) * 1e9) };
        nanosleep(&ts, NULL);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: ingest_send syslog-tcp|syslog-udp|gelf-udp|gelf-tcp|forward "
                        "PORT COUNT [RATE]\n");
        return 2;
    }
    const char *proto = argv[1];
    int port = atoi(argv[2]);
    uint64_t count = strtoull(argv[3], NULL, 10);
    double rate = argc > 4 ? atof(argv[4]) : 0;
    int udp = strstr(proto, "udp") != NULL;
    int fd = connect_to(udp ? SOCK_DGRAM : SOCK_STREAM, port);
    static char buf[1u << 20];
    static unsigned char req[2u << 20];
    double t0 = now();
    if (strcmp(proto, "forward") == 0) {
        for (uint64_t i = 0; i < count; i += 1000) {
            uint64_t n = count - i < 1000 ? count - i : 1000;
            size_t len = forward_request(req, i, n);
            write_all(fd, (const char *)req, len);
            pace(t0, i + n, rate);
        }
    } else if (udp) {
        for (uint64_t i = 0; i < count; i++) {
            size_t len = frame(proto, buf, sizeof(buf), i);
            while (send(fd, buf, len, 0) < 0 && (errno == ENOBUFS || errno == EAGAIN)) {
            }
            if ((i & 255) == 0) {
                pace(t0, i, rate);
            }
        }
    } else {
        size_t used = 0;
        for (uint64_t i = 0; i < count; i++) {
            used += frame(proto, buf + used, sizeof(buf) - used, i);
            if (used > sizeof(buf) - 4096 || i + 1 == count) {
                write_all(fd, buf, used);
                used = 0;
                pace(t0, i + 1, rate);
            }
        }
    }
    double t = now() - t0;
    shutdown(fd, SHUT_WR);
    close(fd);
    printf("%.3f\n", t);
    return 0;
}
