/* SPDX-License-Identifier: MIT
 * datadir: the layout of a clew data directory, shared by the writer
 * (collector/store.c) and readers (query/). Owns no state; any thread.
 *
 *   DATA/wal/<gen: 16 hex>.wal                  write-ahead log, one per generation
 *   DATA/YYYY-MM-DD/HH/<first-ts>-<gen>.seg     sealed segments of one UTC hour;
 *                                              first-ts in ns (decimal), gen 16 hex
 *
 * A segment holds the records of one WAL generation that fall in its hour;
 * there is at most one segment per (hour, generation). */
#ifndef CLEW_DATADIR_H
#define CLEW_DATADIR_H

#include <stddef.h>
#include <stdint.h>

#define CLEW_PATH_MAX 4096

/* "DATA/wal". Returns the length, or -ENAMETOOLONG. */
int clew_dd_wal_dir(const char *data, char *buf, size_t len);
/* "DATA/YYYY-MM-DD/HH" of the hour holding ts. */
int clew_dd_hour_dir(const char *data, int64_t ts, char *buf, size_t len);
/* "DATA/YYYY-MM-DD/HH/<first_ts>-<gen>.seg". */
int clew_dd_segment_path(const char *data, int64_t first_ts, uint64_t gen, char *buf, size_t len);
/* Parses a segment file name (no directory). Returns 0 or CLEW_EFORMAT. */
int clew_dd_parse_segment_name(const char *name, int64_t *first_ts, uint64_t *gen);

/* mkdir -p, fsyncing each directory it creates and its parent. */
int clew_dd_mkdirs(const char *path);
/* fsyncs a directory. */
int clew_dd_fsync_dir(const char *path);

/* The hour partitions (start of hour, ns) that exist and overlap
 * [since, until], ascending. *hours is clew_malloc'd; caller frees. */
int clew_dd_list_hours(const char *data, int64_t since, int64_t until, int64_t **hours,
                       size_t *n);

/* A segment file found in an hour partition. */
struct clew_dd_segment {
    int64_t first_ts;
    uint64_t gen;
    char path[CLEW_PATH_MAX];
};

/* The segments of the hour holding ts, ascending by (first_ts, gen).
 * Temporary files are skipped. *segs is clew_malloc'd; caller frees. */
int clew_dd_list_segments(const char *data, int64_t hour, struct clew_dd_segment **segs,
                          size_t *n);

/* Deletes the partition of the hour holding ts (its files, then the
 * directory, then the day directory if empty). Returns 0 or -errno. */
int clew_dd_remove_hour(const char *data, int64_t hour);

#endif
