/* SPDX-License-Identifier: MIT
 * trace_id: generates the ids clew injects into records that carry none.
 * An id is 128 bits written as 32 lowercase hex (a valid W3C trace-id):
 * 48 bits of Unix time in ms, then 80 bits that start random at each new
 * millisecond and count up within it (UUIDv7-like, monotonic). Ids are
 * strictly increasing as strings within one generator and sort after the
 * ids of an earlier process once the ms clock has advanced. The generator
 * is a plain struct owned by the caller; one thread at a time. */
#ifndef CLEW_TRACE_ID_H
#define CLEW_TRACE_ID_H

#include <stdint.h>

#define CLEW_TRACE_ID_LEN 32 /* hex chars of an id (no NUL written) */

struct clew_trace_id_gen {
    uint64_t ms;     /* time part of the last id (48 bits)             */
    uint64_t hi;     /* top 16 of the 80 counter bits                  */
    uint64_t lo;     /* low 64 of the 80 counter bits                  */
    uint64_t rng[4]; /* xoshiro256** state, seeded from getrandom()    */
};

/* Seeds g from getrandom(). Returns 0, or a negative errno when the kernel
 * gives no randomness (g is then seeded from the clock and pid, still
 * usable, so callers may treat the error as a warning). */
int clew_trace_id_gen_init(struct clew_trace_id_gen *g);

/* Seeds g deterministically from seed (tests, benchmarks). */
void clew_trace_id_gen_seed(struct clew_trace_id_gen *g, uint64_t seed);

/* Writes the next id, CLEW_TRACE_ID_LEN hex chars, into out (no NUL).
 * now_ms is the current Unix time in ms (clew_trace_id_now_ms()); a clock
 * that goes backwards is treated as standing still, so ids never decrease.
 * Never all zero. */
void clew_trace_id_next(struct clew_trace_id_gen *g, int64_t now_ms, char *out);

/* The wall clock in Unix ms (CLOCK_REALTIME_COARSE where available: a
 * few ms of resolution, cheap enough to read per record). */
int64_t clew_trace_id_now_ms(void);

#endif
