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

struct clew_wal;

/* Opens (creating dir if needed) a new WAL file for generation gen, after
 * the sequence number next_seq - 1. Returns 0 or a negative error; *out is
 * NULL on failure. err receives a human-readable reason. */
int clew_wal_open(const char *dir, uint64_t gen, uint64_t next_seq, struct clew_wal **out,
                  char err[CLEW_ERR_LEN]);

/* Closes the file (without syncing; call clew_wal_sync first to keep data).
 * NULL-safe. */
void clew_wal_free(struct clew_wal *w);

/* Encodes recs[0..n) into one frame and writes it. *seq gets the frame's
 * sequence number. Returns 0, or a negative error; on a write error the
 * file is truncated back to its last good frame where possible. */
int clew_wal_append(struct clew_wal *w, const struct clew_record *recs, size_t n, uint64_t *seq);

/* fdatasync()s the current file. Returns 0 or -errno. */
int clew_wal_sync(struct clew_wal *w);

/* Highest sequence number known durable. */
uint64_t clew_wal_durable_seq(const struct clew_wal *w);
/* Highest sequence number appended (0 before the first). */
uint64_t clew_wal_last_seq(const struct clew_wal *w);

/* Syncs and closes the current file, opens generation new_gen. */
int clew_wal_rotate(struct clew_wal *w, uint64_t new_gen, char err[CLEW_ERR_LEN]);

/* The current generation. */
uint64_t clew_wal_gen(const struct clew_wal *w);

/* Path of the file of generation gen in dir: "<dir>/<gen as 16 hex>.wal". */
int clew_wal_path(const char *dir, uint64_t gen, char *buf, size_t len);

/* Deletes the file of generation gen (after its records are sealed) and
 * fsyncs the directory. Returns 0 or -errno (-ENOENT is not an error). */
int clew_wal_remove(const char *dir, uint64_t gen);

/* Lists the generations present in dir, ascending. *gens is clew_malloc'd
 * (caller frees); a missing dir gives 0 generations. */
int clew_wal_list(const char *dir, uint64_t **gens, size_t *n);

/* Replay of one WAL file. */
struct clew_wal_replay_stats {
    uint64_t frames;      /* good frames read                         */
    uint64_t records;     /* records delivered                        */
    uint64_t last_seq;    /* seq of the last good frame (0: none)     */
    uint64_t good_bytes;  /* length of the valid prefix               */
    uint64_t cut_bytes;   /* bytes past it (torn or corrupt tail)     */
    int tail_rc;          /* why the tail was cut: CLEW_ETRUNC/ECORRUPT */
};

/* Called for each record; rec borrows memory valid until return. A non-zero
 * return stops the replay and is returned by clew_wal_replay. */
typedef int (*clew_wal_record_cb)(void *ud, uint64_t gen, const struct clew_record *rec);

/* Reads the WAL file at path and calls cb for each record of each good
 * frame, in order. If truncate is non-zero, a torn or corrupt tail is cut
 * off the file (ftruncate + fsync) so appends can follow the good prefix;
 * otherwise the file is not modified (readers of a live directory). A bad
 * tail is not an error: it is reported in st. Returns 0, a negative error
 * for I/O failures or a bad file header, or cb's non-zero value. */
int clew_wal_replay(const char *path, int truncate, clew_wal_record_cb cb, void *ud,
                    struct clew_wal_replay_stats *st, char err[CLEW_ERR_LEN]);

#endif
