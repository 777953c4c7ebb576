/* SPDX-License-Identifier: MIT
 * disk_buffer: the shipper's on-disk queue for when no collector answers.
 * Owns a directory of segment files holding LZ4 frames, one frame per
 * batch (the batch's msgpack entries and their count), numbered by a
 * sequence that never repeats. Frames are appended at the tail, read in
 * order by one cursor, and released when acknowledged; the total size is
 * bounded: when full, the oldest segment is deleted and its unacknowledged
 * frames and records are counted as dropped. Durability: clew_dbuf_sync
 * makes every appended frame durable; the acknowledged seq is kept by the
 * caller (in the checkpoint) and handed back to clew_dbuf_open. Blocking
 * file I/O on the caller's thread (the shipper's loop). */
#ifndef CLEW_DISK_BUFFER_H
#define CLEW_DISK_BUFFER_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"
#include "common/buf.h"

struct clew_dbuf;

struct clew_dbuf_stats {
    uint64_t bytes;           /* bytes on disk now                                */
    uint64_t frames;          /* frames not yet acknowledged                       */
    uint64_t appended_frames; /* since open                                        */
    uint64_t dropped_frames;  /* unacknowledged frames deleted to stay in bounds    */
    uint64_t dropped_records; /* their records                                     */
    uint64_t cut_bytes;       /* torn or corrupt tail bytes cut at open             */
};

/* Opens (creating) dir, keeps at most max_bytes on disk (at least 2 MiB),
 * and forgets frames with seq <= acked. A torn or corrupt tail of the last
 * segment is cut; a corrupt frame in an older segment ends that segment.
 * Returns 0, -errno or -ENOMEM (err says which file). */
int clew_dbuf_open(const char *dir, uint64_t acked, size_t max_bytes, struct clew_dbuf **out,
                   char err[CLEW_ERR_LEN]);

/* Closes the files and frees; NULL-safe. Does not sync. */
void clew_dbuf_close(struct clew_dbuf *d);

/* Appends one frame of raw[0..len) holding count records; *seq gets its
 * number. May delete the oldest segment first (counted). Returns 0, -errno,
 * -ENOMEM or CLEW_ETOOBIG (one frame larger than a segment may be). */
int clew_dbuf_append(struct clew_dbuf *d, const void *raw, size_t len, uint32_t count,
                     uint64_t *seq);

/* fdatasyncs the tail segment when anything was appended since the last
 * sync. Returns 0 or -errno. */
int clew_dbuf_sync(struct clew_dbuf *d);

/* Reads the frame at the cursor into raw (replaced) and advances. Returns 0
 * with *count and *seq set, CLEW_ENOTFOUND at the end, -errno or -ENOMEM.
 * A corrupt frame skips the rest of its segment (counted as dropped). */
int clew_dbuf_read(struct clew_dbuf *d, struct clew_buf *raw, uint32_t *count, uint64_t *seq);

/* Whether the cursor is before the end (frames remain to read). */
int clew_dbuf_unread(const struct clew_dbuf *d);

/* Moves the cursor back to the first unacknowledged frame. */
void clew_dbuf_rewind(struct clew_dbuf *d);

/* Frames up to seq were delivered: segments wholly delivered are deleted. */
void clew_dbuf_ack(struct clew_dbuf *d, uint64_t seq);

/* The highest delivered (or dropped) seq: what the checkpoint keeps. */
uint64_t clew_dbuf_acked(const struct clew_dbuf *d);

/* Whether frames are held that were not acknowledged. */
int clew_dbuf_pending(const struct clew_dbuf *d);

void clew_dbuf_stats(const struct clew_dbuf *d, struct clew_dbuf_stats *out);

#endif
