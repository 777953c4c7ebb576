/* SPDX-License-Identifier: MIT
 * wal_read: the read side of the WAL, shared by the store's recovery and by
 * readers of a live data directory (query/): file names, the list of
 * generations, and replay of one file, cutting (or, for readers, ignoring)
 * a torn or corrupt tail. The writer is collector/wal.c; the byte layout is
 * in common/wal_format.c. No state; any thread. */
#ifndef CLEW_WAL_READ_H
#define CLEW_WAL_READ_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"
#include "clew/record.h"

/* Path of the file of generation gen in dir: "<dir>/<gen as 16 hex>.wal". */
int clew_wal_path(const char *dir, uint64_t gen, char *buf, size_t len);

/* Lists the generations present in dir (names of exactly 16 lowercase hex
 * digits + ".wal"), ascending. *gens is clew_malloc'd (caller frees; NULL
 * when none); a missing dir gives 0 generations. Returns 0, -ENOMEM or
 * -errno. */
int clew_wal_list(const char *dir, uint64_t **gens, size_t *n);

/* Replay of one WAL file. */
struct clew_wal_replay_stats {
    uint64_t frames;     /* good frames read                         */
    uint64_t records;    /* records delivered                        */
    uint64_t last_seq;   /* seq of the last good frame (0: none)     */
    uint64_t good_bytes; /* length of the valid prefix               */
    uint64_t cut_bytes;  /* bytes past it (torn or corrupt tail)     */
    int tail_rc;         /* why: CLEW_ETRUNC/ECORRUPT; 0: no tail    */
};

/* Called for each record; rec borrows memory valid until return. A non-zero
 * return stops the replay and is returned by clew_wal_replay. */
typedef int (*clew_wal_record_cb)(void *ud, uint64_t gen, const struct clew_record *rec);

/* Reads the WAL file at path and calls cb for each record of each good
 * frame, in order (gen is the one in the file header). A frame whose seq is
 * not the previous frame's + 1 ends the good prefix like a corrupt one. If
 * truncate is non-zero, a torn or corrupt tail is cut off the file
 * (ftruncate + fsync); otherwise the file is not modified (readers of a
 * live directory). A bad tail is not an error: it is reported in st, and
 * err says "<path>: cut|ignored N bytes at offset O: <why>" (err is "" when
 * there is none). A file shorter than the header (whatever its bytes), or
 * whose header is all zeros, holds no records: its bytes are the tail.
 * Returns 0; a negative error for I/O failures and -ENOMEM; CLEW_EFORMAT
 * (not a WAL file), CLEW_EVERSION or CLEW_ECORRUPT for a bad file header
 * (the file is left alone); or cb's non-zero value (the replay stops,
 * nothing is cut). st is filled in every case. */
int clew_wal_replay(const char *path, int truncate, clew_wal_record_cb cb, void *ud,
                    struct clew_wal_replay_stats *st, char err[CLEW_ERR_LEN]);

#endif
