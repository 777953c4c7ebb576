/* SPDX-License-Identifier: MIT
 * gelf_decode: the cost of clew_gelf_parse per message (thread CPU time) for
 * a typical Docker GELF message (plain, zlib and gzip at Docker's level 1)
 * and a syslog-ng graylog2 message with a nested object. Each message is
 * decoded `iterations` times into an arena reset every 1000 records, as the
 * GELF input does per batch. Built with -DGELF_DECODE_BEFORE and linked with
 * an older decoder renamed old_gelf_parse, it prints both side by side.
 *
 * usage: gelf_decode [iterations (200000)] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "collector/gelf_parse.h"

typedef int (*gelf_parse_fn)(const void *payload, size_t len, int64_t recv_ns,
                             const struct clew_gelf_parse_opts *opts, struct clew_record *out,
                             struct clew_arena *arena);

#ifdef GELF_DECODE_BEFORE
int old_gelf_parse(const void *payload, size_t len, int64_t recv_ns,
                   const struct clew_gelf_parse_opts *opts, struct clew_record *out,
                   struct clew_arena *arena);
#endif

/* 532 bytes, as Docker's gelf log driver writes them. */
static const char docker_msg[] =
    "{\"version\":\"1.1\",\"host\":\"ip-10-0-3-17\",\"short_message\":\"10.0.3.5 - - [15/Jan/2024"
    ":10:30:00 +0000] \\\"GET /api/orders?page=12 HTTP/1.1\\\" 200 1534 \\\"-\\\" \\\"curl/8.5.0-"
    "1\\\"\",\"timestamp\":1705314600.123,\"level\":6,\"_command\":\"nginx -g daemon off;\",\"_co"
    "ntainer_id\":\"3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708\",\"_contain"
    "er_name\":\"shop-web-1\",\"_created\":\"2024-01-15T10:29:58.912345678Z\",\"_image_id\":\"sha"
    "256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0\",\"_image_name\":\"ngi"
    "nx:1.25\",\"_tag\":\"3f2a1b4c5d6e\"}";

/* syslog-ng's graylog2() template: nested _unix object, numeric _pid. */
static const char syslogng_msg[] =
    "{\"version\":\"1.1\",\"timestamp\":1795897801,\"short_message\":\"pam_unix(sshd:session): "
    "session opened for user deploy(uid=1001) by (uid=0)\",\"level\":6,\"host\":\"bastion-2\","
    "\"_unix\":{\"uid\":\"0\",\"pid\":\"8917\",\"gid\":\"0\",\"exe\":\"/usr/sbin/sshd\","
    "\"cmdline\":\"sshd: deploy [priv]\"},\"_program\":\"sshd\",\"_pid\":8917,\"_facility\":"
    "\"authpriv\"}";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* gzip (bits 31) or zlib (15) at level 1; caller frees. */
static uint8_t *compress_msg(const char *msg, int bits, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 1, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        exit(1);
    }
    size_t cap = deflateBound(&z, (uLong)strlen(msg));
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)msg;
    z.avail_in = (uInt)strlen(msg);
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (out == NULL || deflate(&z, Z_FINISH) != Z_STREAM_END) {
        exit(1);
    }
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static double run(gelf_parse_fn fn, const void *p, size_t n, long iterations)
{
    struct clew_arena arena;
    struct clew_record rec;
    clew_arena_init(&arena, 0);
    /* As clewd's GELF input does: one inflate stream reused by every
     * compressed payload (opts = NULL would set one up per call). */
    struct clew_gelf_inflater *inf = clew_gelf_inflater_new();
    struct clew_gelf_parse_opts o = { 0, 0, NULL, inf };
    double t0 = now_s();
    for (long i = 0; i < iterations; i++) {
        if (fn(p, n, 1, &o, &rec, &arena) != 0) {
            fprintf(stderr, "decode failed\n");
            exit(1);
        }
        if (i % 1000 == 999) {
            clew_arena_reset(&arena);
        }
    }
    double ns = (now_s() - t0) * 1e9 / (double)iterations;
    clew_gelf_inflater_free(inf);
    clew_arena_close(&arena);
    return ns;
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? atol(argv[1]) : 200000;
    size_t zn, gn;
    uint8_t *z = compress_msg(docker_msg, 15, &zn);
    uint8_t *g = compress_msg(docker_msg, 31, &gn);
    const struct {
        const char *name;
        const void *p;
        size_t n;
    } cases[] = {
        { "docker plain", docker_msg, sizeof(docker_msg) - 1 },
        { "docker zlib", z, zn },
        { "docker gzip", g, gn },
        { "syslog-ng nested", syslogng_msg, sizeof(syslogng_msg) - 1 },
    };
    printf("%-18s %6s %12s", "message", "bytes", "ns/msg");
#ifdef GELF_DECODE_BEFORE
    printf(" %12s %8s", "before", "speedup");
#endif
    printf("\n");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double after = run(clew_gelf_parse, cases[i].p, cases[i].n, iterations);
        printf("%-18s %6zu %12.0f", cases[i].name, cases[i].n, after);
#ifdef GELF_DECODE_BEFORE
        double before = run(old_gelf_parse, cases[i].p, cases[i].n, iterations);
        printf(" %12.0f %7.1fx", before, before / after);
#endif
        printf("\n");
    }
    free(z);
    free(g);
    return 0;
}
