/* SPDX-License-Identifier: MIT
 * pipeline: carries decoded records from the inputs (loop thread) to the
 * store (a writer thread), and durability back. Records pushed during one
 * loop iteration form a batch, handed to the writer after the iteration's
 * I/O (a uv_check handle) or when the batch is full; the writer appends it
 * to the store (one WAL frame). Each batch has a ticket, increasing; when
 * the store reports a batch durable, the pipeline tells its listeners on
 * the loop thread, so an input can ack what the peer sent.
 *
 * Backpressure: when the bytes queued for the writer pass the high
 * watermark the pipeline calls the pressure callback with paused=1 (inputs
 * stop reading TCP and count UDP drops), and with paused=0 once the queue
 * drains below the low watermark.
 *
 * Threads: everything here but the writer's internals runs on the loop
 * thread. Close with clew_pipeline_close (async; frees in the last close
 * callback) after the inputs are stopped. */
#ifndef CLEW_PIPELINE_H
#define CLEW_PIPELINE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "clew/record.h"
#include "collector/store.h"

struct clew_pipeline;

struct clew_pipeline_config {
    size_t batch_records; /* a batch is handed over at this many records   */
    size_t batch_bytes;   /* ... or this much raw text                     */
    size_t high_water;    /* queued bytes that pause the inputs            */
    size_t low_water;     /* queued bytes that resume them                 */
};

void clew_pipeline_config_default(struct clew_pipeline_config *cfg);

/* Called on the loop thread when every batch with a ticket <= ticket is
 * durable. */
typedef void (*clew_pipeline_durable_cb)(void *ud, uint64_t ticket);
/* Called on the loop thread when the inputs must pause (1) or resume (0). */
typedef void (*clew_pipeline_pressure_cb)(void *ud, int paused);

/* Creates the pipeline on loop, writing to store (borrowed; must outlive
 * the pipeline), and starts the writer thread. */
int clew_pipeline_new(uv_loop_t *loop, struct clew_store *store,
                      const struct clew_pipeline_config *cfg, struct clew_pipeline **out);

/* Registers the (single) durability listener and pressure listener. */
void clew_pipeline_set_callbacks(struct clew_pipeline *p, clew_pipeline_durable_cb durable,
                                 clew_pipeline_pressure_cb pressure, void *ud);

struct clew_correlator;

/* Runs the correlation stage (collector/correlate.h) on every pushed record
 * from now on: ids propagated, inherited or injected, and a second id the
 * record carries kept as "link_id" in its fields. c is borrowed; NULL
 * turns the stage off. */
void clew_pipeline_set_correlator(struct clew_pipeline *p, struct clew_correlator *c);

/* A tap sees every record pushed, after correlation, on the loop thread
 * (r borrowed until return). It must be quick and must not block: the live
 * tail and the alert rules hang here. */
typedef void (*clew_pipeline_tap_cb)(void *ud, const struct clew_record *r);

#define CLEW_PIPELINE_MAX_TAPS 4

/* Adds a tap. Returns 0 or CLEW_ETOOBIG when CLEW_PIPELINE_MAX_TAPS are set. */
int clew_pipeline_add_tap(struct clew_pipeline *p, clew_pipeline_tap_cb cb, void *ud);
/* Removes the tap added with (cb, ud); a no-op if there is none. */
void clew_pipeline_remove_tap(struct clew_pipeline *p, clew_pipeline_tap_cb cb, void *ud);

/* Copies r into the current batch (after the correlation stage, if set). *ticket (may be NULL) receives the
 * ticket of the batch that holds it. Returns 0 or -ENOMEM. */
int clew_pipeline_push(struct clew_pipeline *p, const struct clew_record *r, uint64_t *ticket);

/* Hands the current batch to the writer now; returns its ticket (0 when it
 * was empty). Inputs need not call it: the loop does after each iteration. */
uint64_t clew_pipeline_flush(struct clew_pipeline *p);

/* Tells the pipeline that every store append with a sequence number <= seq
 * is durable: wire the store's durable callback here. Any thread. */
void clew_pipeline_store_durable(struct clew_pipeline *p, uint64_t seq);

/* 1 if the batch of this ticket was refused by the store (its records are
 * lost and counted): an input must not ack it. Remembers the last 64. */
int clew_pipeline_failed(struct clew_pipeline *p, uint64_t ticket);

/* Someone waits for the current batch to be durable (a Forward ack): the
 * writer asks the store to sync as soon as it is appended, instead of at
 * the next --fsync interval. Loop thread. */
void clew_pipeline_expedite(struct clew_pipeline *p);

/* The highest durable ticket so far. */
uint64_t clew_pipeline_durable(const struct clew_pipeline *p);

/* 1 while the inputs should be paused. */
int clew_pipeline_paused(const struct clew_pipeline *p);

/* Counters. */
struct clew_pipeline_stats {
    uint64_t batches;
    uint64_t records;
    uint64_t append_errors;  /* batches the store refused (records lost, counted) */
    uint64_t queued_bytes;   /* gauge */
    uint64_t pauses;
};
void clew_pipeline_get_stats(struct clew_pipeline *p, struct clew_pipeline_stats *out);

/* Flushes, waits for the writer to drain the queue, stops it, and closes
 * the loop handles; the memory goes in the last close callback. */
void clew_pipeline_close(struct clew_pipeline *p);

#endif
