/* SPDX-License-Identifier: MIT
 * checkpoint: the shipper's durable position: per tailed file (device,
 * inode, offset, a fingerprint of its first bytes, the path it was seen
 * under) and the highest acknowledged frame of the disk buffer. The agent
 * fills a struct clew_ckpt with positions the collector has acknowledged
 * (or the disk buffer holds durably) and saves it atomically (temporary
 * file, fsync, rename, directory fsync), so a crash at any instant leaves
 * the previous or the new checkpoint, never a mix. The codec is pure; save
 * and load do blocking file I/O on the caller's thread. The struct owns its
 * path strings (clew_ckpt_clear frees them). */
#ifndef CLEW_CHECKPOINT_H
#define CLEW_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"
#include "common/buf.h"

#define CLEW_CKPT_FP_MAX 256 /* bytes of a file's head hashed as its fingerprint */
#define CLEW_CKPT_NAME   "checkpoint"

struct clew_ckpt_file {
    uint64_t dev;
    uint64_t ino;
    uint64_t offset;  /* everything before it was acknowledged     */
    uint32_t fp_len;  /* bytes hashed: min(offset, CLEW_CKPT_FP_MAX) */
    uint64_t fp_hash; /* XXH3_64bits of the first fp_len bytes      */
    uint64_t read;    /* sent to a collector by then, not acknowledged:
                         a restart counts lines before it as resent */
    char *path;       /* owned, NUL-terminated                      */
};

struct clew_ckpt {
    uint64_t buffer_acked; /* disk buffer frames up to this seq are delivered */
    uint64_t resent;       /* records sent more than once, for the status     */
    struct clew_ckpt_file *files;
    size_t n, cap;
};

/* Adds an entry (path copied). Returns 0 or -ENOMEM. */
int clew_ckpt_add(struct clew_ckpt *c, const struct clew_ckpt_file *f);

/* Finds the entry of (dev, ino); NULL when absent. */
struct clew_ckpt_file *clew_ckpt_find(struct clew_ckpt *c, uint64_t dev, uint64_t ino);

/* Frees every entry and zeroes *c; the struct can be reused. */
void clew_ckpt_clear(struct clew_ckpt *c);

/* Appends the text form of c (with a trailing checksum line) to out.
 * Returns 0 or -ENOMEM. */
int clew_ckpt_encode(const struct clew_ckpt *c, struct clew_buf *out);

/* Parses text produced by clew_ckpt_encode into *out, which is overwritten
 * (it must hold no entries: clear it first).
 * Returns 0, CLEW_EFORMAT, CLEW_ECORRUPT (checksum) or -ENOMEM; on error
 * *out is empty. */
int clew_ckpt_decode(const char *text, size_t len, struct clew_ckpt *out);

/* Writes dir/checkpoint atomically and durably. Returns 0 or -errno; err
 * names the file and the failing step. */
int clew_ckpt_save(const char *dir, const struct clew_ckpt *c, char err[CLEW_ERR_LEN]);

/* Reads dir/checkpoint into *out (overwritten, as decode). A missing file gives an empty checkpoint
 * and 0. Returns 0, -errno, CLEW_EFORMAT, CLEW_ECORRUPT or -ENOMEM. */
int clew_ckpt_load(const char *dir, struct clew_ckpt *out, char err[CLEW_ERR_LEN]);

/* XXH3 of data[0..len), the fingerprint function. */
uint64_t clew_ckpt_fingerprint(const void *data, size_t len);

#endif
