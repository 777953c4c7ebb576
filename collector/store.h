/* SPDX-License-Identifier: MIT
 * store: clewd's storage engine. Owns the WAL, the active memtable, the
 * memtables being sealed, and a background thread (the flusher) that syncs
 * the WAL by the --fsync policy, seals memtables into hour segments (on
 * size, age, hour change and shutdown), and applies retention.
 *
 * Life of a record: clew_store_append writes it to the WAL (one frame per
 * call) and adds it to the active memtable, so queries see it at once; the
 * flusher makes the frame durable and reports the durable sequence number
 * through the callback; a seal swaps the memtable for a new one with a new
 * WAL generation, writes one segment per UTC hour of its records, and then
 * deletes that generation's WAL file. On open, WAL files left by a previous
 * run are replayed and sealed the same way; a segment that already exists
 * for (hour, generation) is not written twice, so a crash between a segment
 * rename and the WAL removal neither loses nor duplicates records.
 *
 * Threads: append and the scan functions may be called from any thread (a
 * mutex serialises them); the durable callback runs on the flusher thread. */
#ifndef CLEW_STORE_H
#define CLEW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"
#include "clew/record.h"
#include "collector/seg_writer.h"

enum clew_fsync_mode {
    CLEW_FSYNC_ALWAYS,   /* fdatasync after every append, before it is durable */
    CLEW_FSYNC_INTERVAL, /* fdatasync every fsync_interval_ns                  */
    CLEW_FSYNC_NEVER,    /* never fsync: durable once written to the OS        */
};

/* Called (on the flusher thread, or in clew_store_open) with a line about
 * an event the program should log: a failed seal or fsync, a cut WAL tail,
 * dropped hours. Must not call back into the store. */
typedef void (*clew_store_note_cb)(void *ud, const char *msg);

struct clew_store_config {
    const char *data_dir;
    enum clew_fsync_mode fsync;
    int64_t fsync_interval_ns; /* default 100 ms                                 */
    size_t seal_bytes;         /* seal when the memtable holds this much raw text */
    int64_t seal_age_ns;       /* ... or its first record is this old            */
    int64_t retention_ns;      /* drop hours older than this; 0 keeps everything */
    int wal_lz4_accel;         /* WAL frames: LZ4 acceleration, 0 = uncompressed */
    struct clew_seg_opts seg;
    clew_store_note_cb note_cb; /* may be NULL                               */
    void *note_ud;
};

/* Fills cfg with the defaults (data_dir "./data", interval 100 ms, 64 MiB,
 * 10 min, no retention). */
void clew_store_config_default(struct clew_store_config *cfg);

/* Parses "always", "interval" or "never". Returns 0 or CLEW_EBADARG. */
int clew_store_parse_fsync(const char *s, enum clew_fsync_mode *out);

/* Called on the flusher thread when every append whose seq is <= seq is
 * durable. Must not call back into the store. */
typedef void (*clew_store_durable_cb)(void *ud, uint64_t seq);

struct clew_store;

/* Figures the store keeps (monotonic counters unless noted). */
struct clew_store_stats {
    uint64_t records_appended;
    uint64_t raw_bytes_appended;
    uint64_t wal_frames;
    uint64_t wal_syncs;
    uint64_t wal_errors;
    uint64_t durable_seq;      /* gauge */
    uint64_t memtable_records; /* gauge: active + sealing */
    uint64_t seals;
    uint64_t seal_errors;
    uint64_t segments_written;
    uint64_t segment_bytes_written;
    uint64_t replayed_records;
    uint64_t replay_cut_bytes;
    uint64_t hours_dropped;
    uint64_t append_waits; /* appends that waited for a seal (backpressure) */
};

/* Opens the data directory (creating it), recovers the WAL, starts the
 * flusher. cfg is copied (data_dir too). durable_cb may be NULL. On error
 * *out is NULL and err says why. What recovery found (records replayed,
 * bytes cut from torn tails) is in the stats and, line by line, passed to
 * cfg->note_cb. */
int clew_store_open(const struct clew_store_config *cfg, clew_store_durable_cb durable_cb, void *ud,
                    struct clew_store **out, char err[CLEW_ERR_LEN]);

/* Appends recs[0..n) (borrowed until return). *seq (may be NULL) receives
 * the sequence number to wait for with the durable callback. Returns 0 or a
 * negative error (the records are then not stored). */
int clew_store_append(struct clew_store *s, const struct clew_record *recs, size_t n,
                      uint64_t *seq);

/* Asks the flusher to make what is appended durable now rather than at the
 * next interval (someone waits for an ack: group commit). Any thread. */
void clew_store_sync_soon(struct clew_store *s);

/* Highest durable sequence number. */
uint64_t clew_store_durable_seq(struct clew_store *s);

/* Asks the flusher to seal the active memtable now and waits until it is
 * sealed. Returns 0 or the seal's error. */
int clew_store_seal(struct clew_store *s);

/* Runs retention now (the flusher also does so every minute). */
int clew_store_apply_retention(struct clew_store *s);

/* Calls cb for every record held in memtables (not yet in segments), in
 * no particular order, with the store locked: cb must be quick and must
 * not call the store. A non-zero return stops the scan and is returned. */
typedef int (*clew_store_record_cb)(void *ud, const struct clew_record *rec);
int clew_store_scan_memtables(struct clew_store *s, clew_store_record_cb cb, void *ud);

void clew_store_get_stats(struct clew_store *s, struct clew_store_stats *out);

/* Stops the flusher after a final sync and seal, closes the WAL, frees the
 * store. Returns 0 or the error of the final seal (the WAL keeps the
 * records then). NULL-safe. */
int clew_store_close(struct clew_store *s);

#endif
