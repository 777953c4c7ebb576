/* SPDX-License-Identifier: MIT
 * gelf_chunk: reassembly of chunked GELF UDP datagrams (magic 1e 0f, 8-byte
 * message id, sequence number, count <= 128). The chunker owns copies of the
 * chunks it holds and the buffer a completed message is assembled in; it is
 * bounded by a timeout, a memory cap and a cap on messages in flight. Pure
 * (no I/O, no clock: the caller passes monotonic nanoseconds); one thread at
 * a time per chunker. Decoding the reassembled payload is gelf_parse's job. */
#ifndef CLEW_GELF_CHUNK_H
#define CLEW_GELF_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#define CLEW_GELF_CHUNK_MAX    128 /* chunks per message (GELF spec) */
#define CLEW_GELF_CHUNK_HEADER 12  /* magic 2, id 8, seq 1, count 1 */

/* Chunk errors: the datagram is dropped, nothing else changes. Distinct so
 * the input can count each reason; clew_gelf_chunk_strerror() names them. */
enum {
    CLEW_GELF_ECHUNK_SHORT = -10211,    /* magic but fewer than 12 bytes            */
    CLEW_GELF_ECHUNK_COUNT = -10212,    /* count 0 or above 128                     */
    CLEW_GELF_ECHUNK_SEQ = -10213,      /* seq >= count                             */
    CLEW_GELF_ECHUNK_MISMATCH = -10214, /* count differs from the id's first chunk  */
};

struct clew_gelf_chunker_opts {
    int64_t timeout_ns;  /* incomplete messages older than this are dropped; 0 = 5 s */
    size_t max_memory;   /* bytes of held chunks and bookkeeping; 0 = 64 MiB         */
    size_t max_messages; /* incomplete messages in flight; 0 = 8192                  */
    uint64_t seed;       /* hash seed: pass random bits so peers cannot aim ids at
                            one bucket; 0 is allowed (tests)                         */
};

struct clew_gelf_chunker_stats {
    uint64_t chunks;     /* chunk datagrams with a valid header (duplicates in) */
    uint64_t completed;  /* messages reassembled (count 1 included)           */
    uint64_t duplicates; /* chunks ignored because their seq was already held */
    uint64_t expired;    /* incomplete messages dropped after the timeout     */
    uint64_t evicted;    /* incomplete messages dropped for the caps          */
    size_t in_flight;    /* incomplete messages held now                      */
    size_t memory;       /* bytes charged now                                 */
};

struct clew_gelf_chunker;

/* Creates a chunker; opts may be NULL (defaults). Returns NULL on OOM. */
struct clew_gelf_chunker *clew_gelf_chunker_new(const struct clew_gelf_chunker_opts *opts);

/* Frees the chunker and everything it holds; NULL is a no-op. */
void clew_gelf_chunker_free(struct clew_gelf_chunker *c);

/* Feeds one datagram (borrowed until return). A datagram without the chunk
 * magic passes straight through: returns 1 with *complete = datagram. A
 * chunk is copied and held; the chunk that completes its message returns 1
 * with *complete and *complete_len = the data of all chunks in sequence order.
 * That memory is the chunker's (or, for a count-1 chunk, points into the
 * datagram) and stays valid until the next call on this chunker. Returns 0
 * when the chunk was held or was a duplicate (first copy wins), and a
 * CLEW_GELF_ECHUNK_* code for a bad header. A chunk for an id whose first
 * chunk is older than the timeout starts the message afresh (the old one
 * counts as expired). Holding a chunk may evict the oldest incomplete
 * messages (memory cap, message cap); a message that alone exceeds the
 * memory cap is dropped with CLEW_ETOOBIG. -ENOMEM drops that message too.
 * now_ns must not go backwards (use a monotonic clock). */
int clew_gelf_chunker_add(struct clew_gelf_chunker *c, const void *datagram, size_t len,
                          int64_t now_ns, const void **complete, size_t *complete_len);

/* Drops incomplete messages whose first chunk arrived more than the timeout
 * before now_ns. Returns how many were dropped (also added to stats.expired).
 * Call it about once a second. */
size_t clew_gelf_chunker_expire(struct clew_gelf_chunker *c, int64_t now_ns);

/* Copies the counters. */
void clew_gelf_chunker_stats(const struct clew_gelf_chunker *c,
                             struct clew_gelf_chunker_stats *out);

/* A static description of a CLEW_GELF_ECHUNK_* code, or clew_strerror(rc). */
const char *clew_gelf_chunk_strerror(int rc);

#endif
