/* SPDX-License-Identifier: MIT
 * fwd_out: the shipper's Fluent Forward client. Owns the open batch, the
 * queue of sealed batches (PackedForward requests, optionally gzipped,
 * each with a `chunk` id), one TCP connection at a time to one of the
 * configured collectors (failover in order, backoff after failures), and
 * the acknowledgements: acks arrive in request order; an acked batch's
 * marks (file id, resume offset) go to the done callback, which is the only
 * way a position becomes safe. Unacknowledged batches are resent, in order,
 * after a reconnect. While connected to a later address it probes the
 * earlier ones every failback_ns; when one accepts a connection, no new
 * batch is written, the batches in flight are acknowledged (or time out and
 * are resent), and the client moves back to it. With a disk buffer, batches move to disk when no
 * collector has answered for spill_after_ns (their marks are then done as
 * soon as written: the caller syncs the buffer before it persists them),
 * and are read back in order when a collector answers again. Loop thread
 * only; the callbacks run on it, never from inside a call into this module
 * except clew_fwd_out_commit/flush (done for spilled batches). */
#ifndef CLEW_FWD_OUT_H
#define CLEW_FWD_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "clew/error.h"
#include "common/buf.h"
#include "shipper/disk_buffer.h"

struct clew_fwd_mark {
    uint32_t file; /* the caller's file id            */
    uint64_t off;  /* safe resume offset of that file */
};

struct clew_fwd_out_opts {
    const char *const *addrs; /* "host:port", tried in order (borrowed)     */
    size_t naddrs;
    const char *tag;        /* Forward tag (borrowed; "clew-ship")        */
    size_t batch_bytes;     /* seal a batch at this payload size (1 MiB)  */
    int64_t batch_ns;       /* seal a non-empty batch this old (200 ms)   */
    size_t max_inflight;    /* bytes sent and not acked (16 MiB)          */
    size_t max_queue;       /* bytes queued in memory in all (32 MiB)     */
    int gzip_level;         /* 0: no compression; 1-9: gzip               */
    int64_t ack_timeout_ns; /* no ack this long: reconnect (30 s)         */
    int64_t backoff_min_ns; /* (100 ms)                                   */
    int64_t backoff_max_ns; /* (5 s)                                      */
    struct clew_dbuf *dbuf; /* borrowed; NULL: no disk buffer             */
    int64_t spill_after_ns; /* with dbuf: spill when down this long (2 s) */
    /* May be NULL: a batch's marks when it is first written to a collector
     * (called with the ud of clew_fwd_out_new; marks borrowed). */
    void (*sent)(void *ud, const struct clew_fwd_mark *marks, size_t n);
    int64_t failback_ns; /* connected to a later address: probe the
                            earlier ones this often (30 s); < 0: never */
};

struct clew_fwd_out_stats {
    uint64_t records_queued;    /* entries committed                               */
    uint64_t records_acked;     /* records acknowledged by a collector             */
    uint64_t records_resent;    /* records written again after a break or rewind   */
    uint64_t records_spilled;   /* records moved to the disk buffer                */
    uint64_t records_from_disk; /* records read back from the disk buffer          */
    uint64_t batches_sent;
    uint64_t batches_acked;
    uint64_t ack_wait_ns; /* sum over acked batches of (ack - last send) */
    uint64_t bytes_sent;
    uint64_t connects;
    uint64_t connect_failures;
    uint64_t disconnects;
    uint64_t ack_timeouts;
    uint64_t protocol_errors;
    uint64_t spill_errors;
    uint64_t probes;         /* connects tried to an earlier address (failback) */
    uint64_t failbacks;      /* moves back to an earlier address                */
    uint64_t queue_bytes;    /* in memory now, open batch included */
    uint64_t inflight_bytes; /* sent, not acked                    */
    int connected;
    int spilling;
    const char *addr; /* the current or last collector */
};

/* The positions of an acknowledged (or durably spilled) batch; marks are
 * borrowed until return. */
typedef void (*clew_fwd_out_done_cb)(void *ud, const struct clew_fwd_mark *marks, size_t n);
/* A line for the program's log (connects, failures, spills). */
typedef void (*clew_fwd_out_event_cb)(void *ud, int level, const char *text);

struct clew_fwd_out;

/* Creates the client and starts connecting. Returns 0, CLEW_EBADARG (an
 * address without a port; err says which) or -ENOMEM. */
int clew_fwd_out_new(uv_loop_t *loop, const struct clew_fwd_out_opts *opts,
                     clew_fwd_out_done_cb done, clew_fwd_out_event_cb event, void *ud,
                     struct clew_fwd_out **out, char err[CLEW_ERR_LEN]);

/* The open batch's payload, to append exactly one encoded entry to; then
 * call clew_fwd_out_commit. NULL on OOM. */
struct clew_buf *clew_fwd_out_payload(struct clew_fwd_out *o);

/* Counts the entry just appended and records that file may resume at off
 * once this batch is safe. Seals the batch when it reached batch_bytes.
 * Returns 0 or -ENOMEM. */
int clew_fwd_out_commit(struct clew_fwd_out *o, uint32_t file, uint64_t off);

/* Whether the memory queue is full: the producer should pause. */
int clew_fwd_out_full(const struct clew_fwd_out *o);

/* Seals the open batch now (shutdown, tests). */
void clew_fwd_out_flush(struct clew_fwd_out *o);

/* Moves every unacknowledged batch to the disk buffer now (shutdown with a
 * disk buffer). Returns 0, CLEW_ENOTFOUND without a buffer, or the append
 * error. */
int clew_fwd_out_spill(struct clew_fwd_out *o);

/* Whether everything committed was acknowledged (or spilled) and nothing
 * waits on disk. */
int clew_fwd_out_idle(const struct clew_fwd_out *o);

void clew_fwd_out_stats(const struct clew_fwd_out *o, struct clew_fwd_out_stats *out);

/* Stops, closes the connection and frees everything; cb (may be NULL) runs
 * from the loop when done. Unacknowledged batches are dropped (the caller's
 * checkpoint never covered them). */
void clew_fwd_out_close(struct clew_fwd_out *o, void (*cb)(void *ud), void *ud);

#endif
