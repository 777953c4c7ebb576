/* SPDX-License-Identifier: MIT
 * tail_rotate: the rotated siblings of a container log file. Knows the
 * rotation names (Docker json-file `<id>-json.log.N[.gz]`, kubelet
 * `<n>.log.YYYYMMDD-hhmmss[.gz]`), lists the siblings of a live name in
 * rotation order, finds the file of a checkpoint entry again by inode or,
 * once compressed, by the fingerprint of its decompressed head, and opens a
 * `.gz` through zlib at an offset of its decompressed bytes. It follows no
 * file and keeps no state: it takes paths and returns paths; lists belong to
 * the caller (clew_tail_rotate_sibs_clear). Blocking directory and file I/O
 * on the caller's thread (the tailer's). */
#ifndef CLEW_TAIL_ROTATE_H
#define CLEW_TAIL_ROTATE_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "shipper/checkpoint.h"

/* At most this many siblings are listed per call. */
#define CLEW_TAIL_ROTATE_MAX 64

struct clew_tail_sib {
    char *path; /* owned by the list                                */
    uint64_t dev, ino;
    int64_t key; /* the order: mtime (ns) or rotation rank           */
};

struct clew_tail_sibs {
    struct clew_tail_sib *v;
    size_t n;
};

/* Whether the caller follows (dev, ino) already: such siblings are left
 * out of a list. */
typedef int (*clew_tail_rotate_known_cb)(void *ud, uint64_t dev, uint64_t ino);

/* Whether name ends in ".gz" (with something before it). */
int clew_tail_rotate_is_gz(const char *name);

/* Whether name is a plain rotated sibling of the live name base:
 * "<base>.<anything>", neither compressed (.gz) nor temporary (.tmp). */
int clew_tail_rotate_is_sibling(const char *name, const char *base);

/* A rotated sibling's place in rotation order, larger is newer: Docker's
 * "<base>.N[.gz]" (N ≤ 9 digits) gives -N, kubelet's
 * "<base>.YYYYMMDD-hhmmss[.gz]" the number its digits make. Returns 0, or
 * -1 for any other name (.tmp included). */
int clew_tail_rotate_rank(const char *name, const char *base, int64_t *out);

/* The live name a path comes from: ".../x-json.log.1.gz" and
 * ".../0.log.20240115-103000" give ".../x-json.log" and ".../0.log"; a
 * live name is returned as it is. out is always terminated. */
void clew_tail_rotate_live_name(const char *path, char *out, size_t len);

/* The directory part of path ("." stays as given when there is no '/'). */
void clew_tail_rotate_dir(const char *path, char *out, size_t len);

/* Lists the plain rotated siblings of the live file at live (regular files,
 * not known to the caller) last written at or after since_ns, oldest
 * (mtime) first; key is the mtime. known may be NULL. An unreadable
 * directory gives an empty list. Returns 0 or -ENOMEM (out is empty). */
int clew_tail_rotate_since(const char *live, int64_t since_ns, clew_tail_rotate_known_cb known,
                           void *ud, struct clew_tail_sibs *out);

/* Lists the rotated siblings of live, compressed or not, that come after
 * the sibling at path in rotation order, oldest first; key is the rank. A
 * ".gz" whose uncompressed original is still there is left out (Docker
 * compresses asynchronously: the original is the one to read). Nothing
 * when path is not a rotated name of live. Returns 0 or -ENOMEM. */
int clew_tail_rotate_after(const char *live, const char *path, clew_tail_rotate_known_cb known,
                           void *ud, struct clew_tail_sibs *out);

/* Frees the list's paths and array; s is empty afterwards. An empty list
 * (n == 0) holds no memory (v is NULL). */
void clew_tail_rotate_sibs_clear(struct clew_tail_sibs *s);

/* Looks for the file (dev, ino) that was at old_path: under that name or
 * any plain rotated sibling's name of its live name. Returns 1 and fills
 * out with its path, or 0. */
int clew_tail_rotate_find_inode(const char *old_path, uint64_t dev, uint64_t ino, char *out,
                                size_t len);

/* Looks among the ".gz" siblings of old_path's live name for a gzip file
 * whose first c->fp_len decompressed bytes have c->fp_hash (c->fp_len > 0).
 * Returns 1 and fills out (path, dev, ino; path owned by the caller), 0
 * when none matches or several do (the head cannot tell them apart), or
 * -ENOMEM. */
int clew_tail_rotate_find_gz(const char *old_path, const struct clew_ckpt_file *c,
                             struct clew_tail_sib *out);

/* Reads the file open at fd as a gzip stream: fills head (CLEW_CKPT_FP_MAX
 * bytes) with up to that many decompressed bytes and *out with a reader at
 * offset 0. Takes ownership of fd (gzclose(*out) closes it). Returns 0, or
 * CLEW_EFORMAT when it is not gzip data or empty (fd closed, *out NULL). */
int clew_tail_rotate_gz_open(int fd, uint8_t *head, uint32_t *head_len, gzFile *out);

/* Moves gz to offset off of its decompressed bytes. Returns 0, or
 * CLEW_ECORRUPT when zlib cannot. zlib skips lazily: a stream that ends
 * (or breaks) before off shows at the next gzread, which returns 0 (or an
 * error). */
int clew_tail_rotate_gz_seek(gzFile gz, uint64_t off);

#endif
