/* SPDX-License-Identifier: MIT
 * trace_id: time-ordered 128-bit ids (see trace_id.h).
 *
 * Layout of an id, most significant first: ms (48 bits) | hi (16) | lo (64).
 * At each new millisecond the 80 bits hi:lo are redrawn from the PRNG with
 * their top bit cleared, leaving at least 2^79 increments of room; within a
 * millisecond each id adds 1. If the counter ever overflowed, the id borrows
 * the next millisecond, so order is kept either way. Two collectors (or two
 * runs) collide only if they draw the same 79 random bits in the same ms. */
#include "collector/trace_id.h"

#include <errno.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define MS_MASK ((UINT64_C(1) << 48) - 1)

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void clew_trace_id_gen_seed(struct clew_trace_id_gen *g, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        g->rng[i] = splitmix(&seed);
    }
    g->ms = 0;
    g->hi = 0;
    g->lo = 0;
}

int clew_trace_id_gen_init(struct clew_trace_id_gen *g)
{
    uint64_t seed[4];
    size_t got = 0;
    int rc = 0;
    while (got < sizeof(seed)) {
        ssize_t n = getrandom((char *)seed + got, sizeof(seed) - got, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            break;
        }
        got += (size_t)n;
    }
    if (rc != 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)getpid();
        clew_trace_id_gen_seed(g, x ^ (uint64_t)clew_trace_id_now_ms());
        return rc;
    }
    for (int i = 0; i < 4; i++) {
        g->rng[i] = seed[i];
    }
    if ((seed[0] | seed[1] | seed[2] | seed[3]) == 0) {
        g->rng[0] = 1; /* xoshiro must not start from all zeros */
    }
    g->ms = 0;
    g->hi = 0;
    g->lo = 0;
    return 0;
}

static void redraw(struct clew_trace_id_gen *g)
{
    g->hi = rng_next(g->rng) & 0x7fff; /* top counter bit clear: room to count */
    g->lo = rng_next(g->rng);
}

static void put_hex(char *out, uint64_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; i--) {
        out[i] = hex[v & 15];
        v >>= 4;
    }
}

void clew_trace_id_next(struct clew_trace_id_gen *g, int64_t now_ms, char *out)
{
    uint64_t now = now_ms > 0 ? ((uint64_t)now_ms & MS_MASK) : 0;
    if (now > g->ms || (g->ms == 0 && g->hi == 0 && g->lo == 0)) {
        g->ms = now > g->ms ? now : g->ms;
        redraw(g);
    } else if (++g->lo == 0 && ++g->hi > 0xffff) {
        /* 2^79 ids in one ms cannot happen, but stay ordered if it did. */
        g->ms = (g->ms + 1) & MS_MASK;
        redraw(g);
    }
    if (g->ms == 0 && g->hi == 0 && g->lo == 0) {
        g->lo = 1; /* an all-zero trace id is invalid in W3C */
    }
    put_hex(out, g->ms, 12);
    put_hex(out + 12, g->hi, 4);
    put_hex(out + 16, g->lo, 16);
}

int64_t clew_trace_id_now_ms(void)
{
    struct timespec ts;
#ifdef CLOCK_REALTIME_COARSE
    /* Tick resolution (1-4 ms) is enough: the counter orders ids within a
     * tick, and the coarse clock is several times cheaper to read. */
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
#else
    clock_gettime(CLOCK_REALTIME, &ts);
#endif
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
