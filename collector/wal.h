/* SPDX-License-Identifier: MIT
 * wal: the write-ahead log of clewd, DATA/wal/<gen>.wal, one file per
 * generation (a generation is the set of records that will be sealed
 * together; see store.c). Owns the open file of the current generation.
 *
 * Threads: clew_wal_append and clew_wal_rotate are called by one writer
 * thread at a time; clew_wal_sync may run concurrently with them on another
 * thread (the syncer); the durable sequence number is atomic. The module
 * does no scheduling of its own: the store decides when to sync (policy
 * --fsync always|interval|never) and tells waiters.
 *
 * Durability contract: clew_wal_append returns the frame's sequence number.
 * After clew_wal_sync returns 0, every frame appended before the call began
 * is on disk (fdatasync), and clew_wal_durable_seq() is at least its seq. */
#ifndef CLEW_WAL_H
#define CLEW_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"
#include "clew/record.h"
#include "common/wal_read.h"

struct clew_wal;

/* Opens (creating dir if needed; its parent must exist) a new WAL file for
 * generation gen, after the sequence number next_seq - 1 (0 is taken as 1):
 * the first append gets seq next_seq, and last_seq and durable_seq start at
 * next_seq - 1. The file is created with O_EXCL: an existing file of that
 * generation gives -EEXIST ("<path>: WAL generation already exists"). The
 * header is written and the directory fsynced before returning. Returns 0
 * or a negative error; *out is NULL on failure. err receives a
 * human-readable reason. */
int clew_wal_open(const char *dir, uint64_t gen, uint64_t next_seq, struct clew_wal **out,
                  char err[CLEW_ERR_LEN]);

/* How appends encode their frames from now on: accel > 0 compresses the
 * payload with LZ4 at that acceleration (the default, CLEW_WALF_LZ4_ACCEL);
 * 0 stores the records uncompressed in a literal-only LZ4 block (2-3x the
 * bytes on disk, ~0.3 us less CPU a record). Readers need no setting: both
 * are the same frame format. Writer thread. */
void clew_wal_set_lz4(struct clew_wal *w, int accel);

/* Closes the file (without syncing; call clew_wal_sync first to keep data).
 * NULL-safe. */
void clew_wal_free(struct clew_wal *w);

/* Encodes recs[0..n) into one frame and writes it (one pwrite at the end of
 * the last good frame). *seq gets the frame's sequence number; n == 0
 * writes nothing and sets *seq to the last seq. recs are only borrowed.
 * Returns 0, -ENOMEM, CLEW_ETOOBIG (a string over CLEW_REC_MAX_FIELD, or
 * more than CLEW_WALF_MAX_RAW bytes in the batch: split it), or -errno of
 * the write. On any error no seq is consumed and the file is truncated back
 * to its last good frame; if that truncate fails too, every later append
 * returns the error until clew_wal_rotate moves to a new file. */
int clew_wal_append(struct clew_wal *w, const struct clew_record *recs, size_t n, uint64_t *seq);

/* fdatasync()s the current file, then raises durable_seq to the last seq
 * appended before the call began. Any thread; concurrent with append and
 * rotate. Returns 0 or -errno (durable_seq is then unchanged). */
int clew_wal_sync(struct clew_wal *w);

/* Highest sequence number known durable. */
uint64_t clew_wal_durable_seq(const struct clew_wal *w);
/* Highest sequence number appended (0 before the first). */
uint64_t clew_wal_last_seq(const struct clew_wal *w);

/* Syncs the current file, creates generation new_gen, then closes the old
 * one; on failure (sync or create) the current file stays in use. Sequence
 * numbers continue. Returns 0 or a negative error (err says why). */
int clew_wal_rotate(struct clew_wal *w, uint64_t new_gen, char err[CLEW_ERR_LEN]);

/* The current generation. */
uint64_t clew_wal_gen(const struct clew_wal *w);

/* Deletes the file of generation gen (after its records are sealed) and
 * fsyncs the directory. Returns 0 or -errno (-ENOENT is not an error). */
int clew_wal_remove(const char *dir, uint64_t gen);

#endif
