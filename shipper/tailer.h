/* SPDX-License-Identifier: MIT
 * tail: finds and follows container log files: Docker json-file logs
 * (<docker-root>/<id>/<id>-json.log) and CRI logs (<cri-root>/<ns>_<pod>_
 * <uid>/<container>/<n>.log). Owns one struct per followed file (device,
 * inode, open descriptor, read position, unfinished line, line assembler,
 * pre-encoded metadata). Follows rotation by rename (the old inode is read
 * to its end through the open descriptor while the new file is picked up),
 * copytruncate (a file shorter than the read position restarts at 0),
 * deletion and replacement; resumes from checkpoint entries by (device,
 * inode), also when the file was renamed while the shipper was down, and
 * starts over when the fingerprint of a file's head no longer matches; a
 * file compressed while the shipper was down (.gz) is found by that
 * fingerprint and finished through zlib (never read as plain bytes).
 * Emits decoded, joined records with the offset a restart may resume from;
 * offsets become durable only through clew_tailer_ack. Blocking file I/O on
 * the caller's thread (the shipper's loop); callbacks run inside the calls. */
#ifndef CLEW_TAILER_H
#define CLEW_TAILER_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"
#include "shipper/checkpoint.h"
#include "shipper/multiline.h"
#include "shipper/ship_encode.h"

struct clew_tailer_opts {
    const char *docker_root; /* NULL or "": no Docker discovery            */
    const char *cri_root;    /* NULL or "": no CRI discovery               */
    /* glob(3) patterns relative to their root; NULL or "": the defaults,
     * <id>/<id>-json.log and <ns>_<pod>_<uid>/<container>/<n>.log (each
     * part a `*`). Neither absolute nor with ".." components. Metadata
     * comes from the matched path, so matches keep that layout. */
    const char *docker_glob;
    const char *cri_glob;
    const char *exclude;    /* NULL, "" or comma-separated fnmatch(3) patterns
                               over the full path: matches are not followed */
    const char *host;       /* node name sent as `host`                   */
    size_t read_chunk;      /* bytes per read call (256 KiB)              */
    size_t max_line;        /* longer physical lines are cut (4 MiB)      */
    int64_t rotate_wait_ns; /* a rotated file is followed this long after
                               its last growth (5 s)                      */
    struct clew_asm_opts asm_opts;
};

/* One record to ship; everything is borrowed during the callback. */
struct clew_tailer_rec {
    uint32_t file;     /* id for clew_tailer_ack               */
    uint64_t safe_off; /* resume offset once this is durable */
    const struct clew_ship_fixed *fx;
    struct clew_ship_entry e;
};

typedef void (*clew_tailer_emit_cb)(void *ud, const struct clew_tailer_rec *r);
/* Human-readable events (rotation, truncation, unreadable paths). */
typedef void (*clew_tailer_event_cb)(void *ud, int level, const char *text);

struct clew_tailer_stats {
    uint64_t files;       /* followed now                          */
    uint64_t opened;      /* since start                           */
    uint64_t rotations;   /* renames / replacements seen           */
    uint64_t truncations; /* copytruncate seen                     */
    uint64_t resumed;     /* files resumed from a checkpoint       */
    uint64_t ckpt_lost;   /* checkpointed files not found again    */
    uint64_t bytes;       /* bytes read                            */
    uint64_t lines;       /* physical lines decoded                */
    uint64_t bad_lines;   /* lines that did not decode             */
    uint64_t cut_lines;   /* physical lines longer than max_line   */
    uint64_t records;     /* records emitted                       */
    uint64_t reread;      /* records the previous run had read too  */
    uint64_t errors;      /* open/read/stat failures               */
    uint64_t gz_files;    /* compressed rotated files read (.gz)   */
    uint64_t gz_skipped;  /* .gz files that are not gzip data      */
};

struct clew_tailer;

/* Creates a tailer. Returns 0, -ENOMEM or CLEW_EBADARG (err says why:
 * no root, or a glob that is absolute or has a ".." component). */
int clew_tailer_new(const struct clew_tailer_opts *opts, clew_tailer_emit_cb emit,
                    clew_tailer_event_cb event, void *ud, struct clew_tailer **out,
                    char err[CLEW_ERR_LEN]);
void clew_tailer_free(struct clew_tailer *t);

/* Remembers the checkpoint's file entries (copied): the next scans resume
 * those files. Returns 0 or -ENOMEM. */
int clew_tailer_restore(struct clew_tailer *t, const struct clew_ckpt *c);

/* Whether pattern may serve as a glob under a root: relative, without ".."
 * components. Returns 0, or CLEW_EBADARG with err naming `what`. */
int clew_tailer_check_glob(const char *what, const char *pattern, char err[CLEW_ERR_LEN]);

/* Discovers files, detects rotation, truncation and deletion, flushes idle
 * held records and closes finished files. now_ns: monotonic. Returns 0 or
 * -ENOMEM. */
int clew_tailer_scan(struct clew_tailer *t, int64_t now_ns);

/* Reads up to budget bytes across the followed files while can_read(ud)
 * says yes, emitting records. Returns 1 when unread data remains, 0 when
 * every file is at its end, or -ENOMEM. */
int clew_tailer_poll(struct clew_tailer *t, size_t budget, int (*can_read)(void *ud), void *ud,
                     int64_t now_ns);

/* Records of file id up to resume offset off were written to a collector
 * (not yet acknowledged): the checkpoint's `read` position, which lets a
 * restart count the lines it sends again. */
void clew_tailer_sent(struct clew_tailer *t, uint32_t id, uint64_t off);

/* Everything before off in file id was delivered (or is safe on disk). */
void clew_tailer_ack(struct clew_tailer *t, uint32_t id, uint64_t off);

/* Flushes every held record of every file (shutdown). */
void clew_tailer_flush(struct clew_tailer *t);

/* Fills c's file entries (c->files replaced) with the acknowledged
 * positions. Returns 0 or -ENOMEM. */
int clew_tailer_checkpoint(struct clew_tailer *t, struct clew_ckpt *c);

/* Whether every followed file is read to its end and all of it acked. */
int clew_tailer_caught_up(const struct clew_tailer *t);

void clew_tailer_stats(const struct clew_tailer *t, struct clew_tailer_stats *out);

#endif
