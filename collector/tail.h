/* SPDX-License-Identifier: MIT
 * tail: hands the records clewd receives to live followers (GET
 * /api/v1/tail). The loop thread feeds every record (clew_tail_feed, wired
 * as the pipeline's tap); each subscriber has a bounded ring of copies and
 * a cheap accept filter run on the loop thread. A subscriber that does not
 * keep up loses its oldest records and is told how many. Feeding never
 * blocks on a subscriber: it takes two short mutexes and copies.
 * Subscribers wait on their ring from their own (HTTP) threads. The hub is
 * reference-counted: clew_tail_free drops the owner's reference, the last
 * clew_tail_unsubscribe frees it. */
#ifndef CLEW_TAIL_H
#define CLEW_TAIL_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"
#include "clew/record.h"

struct clew_tail;
struct clew_tail_sub;

/* Decides on the loop thread whether a subscriber wants r (1) or not (0).
 * Must be cheap and must only read state that does not change while the
 * subscription lives. */
typedef int (*clew_tail_accept_cb)(void *ud, const struct clew_record *r);

/* Creates a hub. Returns 0 or -ENOMEM (*out NULL). */
int clew_tail_new(struct clew_tail **out);

/* Closes the hub (as clew_tail_close) and drops the owner's reference; the
 * memory goes now or with the last subscriber. NULL-safe. */
void clew_tail_free(struct clew_tail *t);

/* Stops feeding and wakes every subscriber: clew_tail_next returns what is
 * left in its ring, then CLEW_ECLOSED. Any thread; idempotent. */
void clew_tail_close(struct clew_tail *t);

/* Waits up to timeout_ns for every subscriber to unsubscribe (after
 * clew_tail_close, so streams can end cleanly before their connections
 * are torn down). Returns 1 when none is left, 0 on timeout. Any thread. */
int clew_tail_wait_idle(struct clew_tail *t, int64_t timeout_ns);

/* Copies r into the ring of every subscriber whose accept callback takes
 * it, dropping that ring's oldest records when it is full. Loop thread (one
 * feeder at a time). No-op after clew_tail_close. */
void clew_tail_feed(struct clew_tail *t, const struct clew_record *r);

/* Adds a subscriber whose ring holds at most max_records records and
 * max_bytes encoded bytes (0: defaults 4096 and 8 MiB). accept may be NULL
 * (every record). Returns 0, -ENOMEM, or CLEW_ECLOSED on a closed hub. */
int clew_tail_subscribe(struct clew_tail *t, size_t max_records, size_t max_bytes,
                        clew_tail_accept_cb accept, void *ud, struct clew_tail_sub **out);

/* Waits up to timeout_ns (< 0: forever) for the subscriber's next record.
 * Returns 1 with *out set (its strings valid until the next call or
 * clew_tail_unsubscribe) and *dropped the number of records lost (full
 * ring, or one too big for it) since the previous call, all older than *out; 0 on timeout;
 * CLEW_ECLOSED once the ring is empty and the hub is closed or the subscriber cancelled. One waiter
 * per subscriber. */
int clew_tail_next(struct clew_tail_sub *s, int64_t timeout_ns, struct clew_record *out,
                   uint64_t *dropped);

/* Makes the subscriber's waiter return CLEW_ECLOSED (at once, even with
 * records left). Any thread, while the subscriber exists. */
void clew_tail_cancel(struct clew_tail_sub *s);

/* Removes and frees the subscriber. Not while another thread waits in
 * clew_tail_next on it (cancel, let it return, then unsubscribe).
 * NULL-safe. */
void clew_tail_unsubscribe(struct clew_tail_sub *s);

struct clew_tail_stats {
    uint64_t subscribers; /* gauge                                        */
    uint64_t delivered;   /* records copied into rings                    */
    uint64_t dropped;     /* records dropped from full rings              */
};

/* Counters; any thread. */
void clew_tail_get_stats(struct clew_tail *t, struct clew_tail_stats *out);

#endif
