/* SPDX-License-Identifier: MIT
 *
 * DISK BUFFER FORMAT, version 1: STATE/buffer/<first seq, 16 hex>.buf
 *
 * A segment is a sequence of frames and nothing else; its name is the seq
 * of its first frame. Seqs are consecutive across segments (each append is
 * the previous seq + 1). Frame: a 32-byte header, then the payload, the
 * same layout as the collector's WAL frames (common/wal_format.c) with its
 * own magic, because the payload is not rec_codec records but the
 * shipper's msgpack entries:
 *
 *   offset size  field (little-endian)
 *        0    4  magic 0x46425343 ("CSBF")
 *        4    4  clen: LZ4 block length, 1..LZ4_COMPRESSBOUND(rlen)
 *        8    4  rlen: raw length, 1..CLEW_DBUF_MAX_RAW
 *       12    4  count: records (msgpack entries) in the payload
 *       16    8  seq
 *       24    8  XXH3_64bits_withSeed(payload, clen, XXH3_64bits(bytes 0..23))
 *
 * Recovery: the first frame that is short or fails its checks ends a
 * segment; in the newest segment the bad tail is cut (ftruncate), in older
 * ones the rest is skipped. A frame is delivered once the caller's acked
 * seq (kept in the shipper's checkpoint) reaches it; wholly delivered
 * segments are deleted. */
#include "shipper/disk_buffer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/alloc.h"

#define FRAME_MAGIC       0x46425343u
#define HDR_LEN           32
#define CLEW_DBUF_MAX_RAW (16u << 20)
#define MIN_TOTAL         (2u << 20)
#define MAX_SEGS          64

struct seg {
    uint64_t first; /* seq of its first frame (its name)  */
    uint64_t last;  /* seq of its last frame; first-1 when empty */
    uint64_t size;  /* bytes of good frames               */
};

struct clew_dbuf {
    char *dir;
    size_t max_bytes, seg_max;
    struct seg segs[MAX_SEGS];
    size_t nsegs;
    int tail_fd; /* the newest segment, open for appending; -1 none */
    int dirty;
    uint64_t acked, next_seq;
    size_t rd_seg; /* cursor: index into segs and offset */
    uint64_t rd_off;
    struct clew_buf tmp;
    struct clew_dbuf_stats st;
};

static void seg_path(const struct clew_dbuf *d, uint64_t first, char *out, size_t len)
{
    snprintf(out, len, "%s/%016" PRIx64 ".buf", d->dir, first);
}

static uint64_t frame_sum(const uint8_t *hdr, const uint8_t *payload, size_t clen)
{
    return XXH3_64bits_withSeed(payload, clen, XXH3_64bits(hdr, 24));
}

/* Reads and checks the header at off. Returns the frame length, or 0 when
 * no valid header is there. */
static size_t read_header(int fd, uint64_t off, uint64_t limit, uint8_t *h)
{
    if (limit - off < HDR_LEN || pread(fd, h, HDR_LEN, (off_t)off) != HDR_LEN ||
        clew_load_u32(h) != FRAME_MAGIC) {
        return 0;
    }
    uint32_t clen = clew_load_u32(h + 4), rlen = clew_load_u32(h + 8);
    if (rlen == 0 || rlen > CLEW_DBUF_MAX_RAW || clen == 0 ||
        clen > (uint32_t)LZ4_COMPRESSBOUND(rlen) || limit - off - HDR_LEN < clen) {
        return 0;
    }
    return HDR_LEN + clen;
}

/* Reads the frame at off fully and checks its sum; payload into d->tmp. */
static size_t read_frame(struct clew_dbuf *d, int fd, uint64_t off, uint64_t limit, uint8_t *h)
{
    size_t flen = read_header(fd, off, limit, h);
    if (flen == 0) {
        return 0;
    }
    size_t clen = flen - HDR_LEN;
    d->tmp.len = 0;
    if (clew_buf_reserve(&d->tmp, clen) < 0 ||
        pread(fd, d->tmp.data, clen, (off_t)(off + HDR_LEN)) != (ssize_t)clen ||
        frame_sum(h, d->tmp.data, clen) != clew_load_u64(h + 24)) {
        return 0;
    }
    d->tmp.len = clen;
    return flen;
}

/* Scans one segment at open: finds its good prefix and last seq. */
static int scan_seg(struct clew_dbuf *d, struct seg *s, int newest)
{
    char path[4096];
    seg_path(d, s->first, path, sizeof(path));
    int fd = open(path, O_RDWR | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = -errno;
        if (fd >= 0) {
            close(fd);
        }
        return e;
    }
    uint64_t off = 0, limit = (uint64_t)st.st_size, want = s->first;
    uint8_t h[HDR_LEN];
    size_t flen;
    while ((flen = read_frame(d, fd, off, limit, h)) > 0 && clew_load_u64(h + 16) == want) {
        off += flen;
        want++;
    }
    s->size = off;
    s->last = want - 1;
    if (off < limit) {
        d->st.cut_bytes += limit - off;
        if (newest && ftruncate(fd, (off_t)off) < 0) {
            int e = -errno;
            close(fd);
            return e;
        }
    }
    close(fd);
    return 0;
}

static int cmp_seg(const void *a, const void *b)
{
    const struct seg *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

static int list_segs(struct clew_dbuf *d)
{
    DIR *dir = opendir(d->dir);
    if (dir == NULL) {
        return -errno;
    }
    struct dirent *e;
    while ((e = readdir(dir)) != NULL && d->nsegs < MAX_SEGS) {
        size_t n = strlen(e->d_name);
        char *end = NULL;
        if (n != 20 || strcmp(e->d_name + 16, ".buf") != 0) {
            continue;
        }
        uint64_t first = strtoull(e->d_name, &end, 16);
        if (end == e->d_name + 16) {
            d->segs[d->nsegs++] = (struct seg){ first, first - 1, 0 };
        }
    }
    closedir(dir);
    qsort(d->segs, d->nsegs, sizeof(d->segs[0]), cmp_seg);
    return 0;
}

static void remove_seg(struct clew_dbuf *d, size_t i)
{
    char path[4096];
    seg_path(d, d->segs[i].first, path, sizeof(path));
    unlink(path);
    if (i == d->nsegs - 1 && d->tail_fd >= 0) {
        close(d->tail_fd);
        d->tail_fd = -1;
    }
    d->st.bytes -= d->segs[i].size;
    memmove(&d->segs[i], &d->segs[i + 1], (d->nsegs - i - 1) * sizeof(d->segs[0]));
    d->nsegs--;
    if (d->rd_seg > i) {
        d->rd_seg--;
    } else if (d->rd_seg == i) {
        d->rd_off = 0;
    }
}

/* Deletes wholly delivered segments. */
static void release(struct clew_dbuf *d)
{
    while (d->nsegs > 0 && d->segs[0].last <= d->acked) {
        remove_seg(d, 0);
    }
}

static int open_scan(struct clew_dbuf *d)
{
    int rc = list_segs(d);
    for (size_t i = 0; rc == 0 && i < d->nsegs; i++) {
        rc = scan_seg(d, &d->segs[i], i == d->nsegs - 1);
        d->st.bytes += d->segs[i].size;
    }
    if (rc < 0) {
        return rc;
    }
    d->next_seq = d->acked + 1;
    if (d->nsegs > 0 && d->segs[d->nsegs - 1].last + 1 > d->next_seq) {
        d->next_seq = d->segs[d->nsegs - 1].last + 1;
    }
    /* Frames before acked are delivered; a newer segment after a gap (a
     * corrupt older one) is still read. */
    release(d);
    for (size_t i = 0; i < d->nsegs; i++) {
        if (d->segs[i].size == 0) {
            remove_seg(d, i--);
        }
    }
    clew_dbuf_rewind(d);
    return 0;
}

int clew_dbuf_open(const char *dir, uint64_t acked, size_t max_bytes, struct clew_dbuf **out,
                   char err[CLEW_ERR_LEN])
{
    *out = NULL;
    struct clew_dbuf *d = clew_calloc(1, sizeof(*d));
    int rc = -ENOMEM;
    if (d == NULL || (d->dir = clew_strdup(dir)) == NULL) {
        goto fail;
    }
    d->tail_fd = -1;
    d->acked = acked;
    d->max_bytes = max_bytes < MIN_TOTAL ? MIN_TOTAL : max_bytes;
    d->seg_max = d->max_bytes / 8;
    clew_buf_init(&d->tmp);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        rc = -errno;
        goto fail;
    }
    if ((rc = open_scan(d)) < 0) {
        goto fail;
    }
    *out = d;
    return 0;
fail:
    snprintf(err, CLEW_ERR_LEN, "disk buffer %s: %s", dir, clew_strerror(rc));
    clew_dbuf_close(d);
    return rc;
}

void clew_dbuf_close(struct clew_dbuf *d)
{
    if (d == NULL) {
        return;
    }
    if (d->tail_fd >= 0) {
        close(d->tail_fd);
    }
    clew_buf_close(&d->tmp);
    clew_free(d->dir);
    clew_free(d);
}

/* Counts the unacknowledged frames and records of segment i as dropped. */
static void count_dropped(struct clew_dbuf *d, size_t i)
{
    char path[4096];
    seg_path(d, d->segs[i].first, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint8_t h[HDR_LEN];
    size_t flen;
    for (uint64_t off = 0; fd >= 0 && (flen = read_header(fd, off, d->segs[i].size, h)) > 0;
         off += flen) {
        if (clew_load_u64(h + 16) > d->acked) {
            d->st.dropped_frames++;
            d->st.dropped_records += clew_load_u32(h + 12);
        }
    }
    if (fd >= 0) {
        close(fd);
    }
}

/* Opens a new tail segment whose first frame will be seq. */
static int new_tail(struct clew_dbuf *d, uint64_t seq)
{
    if (d->tail_fd >= 0) {
        if (d->dirty && fdatasync(d->tail_fd) < 0) {
            return -errno;
        }
        close(d->tail_fd);
        d->tail_fd = -1;
        d->dirty = 0;
    }
    if (d->nsegs == MAX_SEGS) {
        count_dropped(d, 0);
        d->acked = d->segs[0].last > d->acked ? d->segs[0].last : d->acked;
        remove_seg(d, 0);
    }
    char path[4096];
    seg_path(d, seq, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -errno;
    }
    d->tail_fd = fd;
    d->segs[d->nsegs++] = (struct seg){ seq, seq - 1, 0 };
    return 0;
}

/* Makes room for flen more bytes: drops the oldest segments. */
static void make_room(struct clew_dbuf *d, size_t flen)
{
    while (d->st.bytes + flen > d->max_bytes && d->nsegs > 0) {
        if (d->nsegs == 1 && d->tail_fd >= 0) {
            /* Keep writing elsewhere: the next append opens a new tail. */
            close(d->tail_fd);
            d->tail_fd = -1;
        }
        count_dropped(d, 0);
        d->acked = d->segs[0].last > d->acked ? d->segs[0].last : d->acked;
        remove_seg(d, 0);
    }
}

static int dbuf_write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int clew_dbuf_append(struct clew_dbuf *d, const void *raw, size_t len, uint32_t count,
                     uint64_t *seq)
{
    if (len == 0 || len > CLEW_DBUF_MAX_RAW || len > d->seg_max) {
        return CLEW_ETOOBIG;
    }
    struct clew_buf *f = &d->tmp;
    f->len = 0;
    int bound = LZ4_compressBound((int)len);
    if (clew_buf_reserve(f, HDR_LEN + (size_t)bound) < 0) {
        return -ENOMEM;
    }
    int clen = LZ4_compress_fast(raw, (char *)f->data + HDR_LEN, (int)len, bound, 4);
    if (clen <= 0) {
        return -ENOMEM;
    }
    uint64_t s = d->next_seq;
    clew_store_u32(f->data, FRAME_MAGIC);
    clew_store_u32(f->data + 4, (uint32_t)clen);
    clew_store_u32(f->data + 8, (uint32_t)len);
    clew_store_u32(f->data + 12, count);
    clew_store_u64(f->data + 16, s);
    clew_store_u64(f->data + 24, frame_sum(f->data, f->data + HDR_LEN, (size_t)clen));
    size_t flen = HDR_LEN + (size_t)clen;
    make_room(d, flen);
    int rc = 0;
    if (d->tail_fd < 0 || d->segs[d->nsegs - 1].size + flen > d->seg_max) {
        rc = new_tail(d, s);
    }
    if (rc == 0 && (rc = dbuf_write_all(d->tail_fd, f->data, flen)) < 0) {
        /* A partial write is cut so the segment stays well-formed. */
        if (ftruncate(d->tail_fd, (off_t)d->segs[d->nsegs - 1].size) < 0) {
            rc = -errno;
        }
    }
    if (rc < 0) {
        return rc;
    }
    struct seg *t = &d->segs[d->nsegs - 1];
    t->size += flen;
    t->last = s;
    d->st.bytes += flen;
    d->st.appended_frames++;
    d->next_seq = s + 1;
    d->dirty = 1;
    *seq = s;
    return 0;
}

int clew_dbuf_sync(struct clew_dbuf *d)
{
    if (d->dirty && d->tail_fd >= 0 && fdatasync(d->tail_fd) < 0) {
        return -errno;
    }
    d->dirty = 0;
    return 0;
}

/* Decodes the frame just read (header h, compressed payload in tmp). */
static int decode_into(struct clew_dbuf *d, const uint8_t *h, struct clew_buf *raw)
{
    uint32_t rlen = clew_load_u32(h + 8);
    raw->len = 0;
    if (clew_buf_reserve(raw, rlen) < 0) {
        return -ENOMEM;
    }
    int n = LZ4_decompress_safe((const char *)d->tmp.data, (char *)raw->data, (int)d->tmp.len,
                                (int)rlen);
    if (n != (int)rlen) {
        return CLEW_ECORRUPT;
    }
    raw->len = rlen;
    return 0;
}

int clew_dbuf_read(struct clew_dbuf *d, struct clew_buf *raw, uint32_t *count, uint64_t *seq)
{
    while (d->rd_seg < d->nsegs) {
        struct seg *s = &d->segs[d->rd_seg];
        if (d->rd_off >= s->size) {
            if (d->rd_seg + 1 == d->nsegs) {
                return CLEW_ENOTFOUND;
            }
            d->rd_seg++;
            d->rd_off = 0;
            continue;
        }
        char path[4096];
        seg_path(d, s->first, path, sizeof(path));
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return -errno;
        }
        uint8_t h[HDR_LEN];
        size_t flen = read_frame(d, fd, d->rd_off, s->size, h);
        close(fd);
        int rc = flen ? decode_into(d, h, raw) : CLEW_ECORRUPT;
        if (rc == -ENOMEM) {
            return rc;
        }
        if (rc < 0) { /* the rest of this segment is lost */
            d->st.dropped_frames += s->last - clew_load_u64(h + 16) + 1;
            d->rd_off = s->size;
            continue;
        }
        d->rd_off += flen;
        *count = clew_load_u32(h + 12);
        *seq = clew_load_u64(h + 16);
        if (*seq > d->acked) {
            return 0;
        }
    }
    return CLEW_ENOTFOUND;
}

int clew_dbuf_unread(const struct clew_dbuf *d)
{
    if (d->rd_seg >= d->nsegs) {
        return 0;
    }
    return d->rd_off < d->segs[d->rd_seg].size || d->rd_seg + 1 < d->nsegs;
}

void clew_dbuf_rewind(struct clew_dbuf *d)
{
    d->rd_seg = 0;
    d->rd_off = 0;
    while (d->rd_seg + 1 < d->nsegs && d->segs[d->rd_seg].last <= d->acked) {
        d->rd_seg++;
    }
    /* Frames <= acked inside the segment are skipped by clew_dbuf_read. */
}

void clew_dbuf_ack(struct clew_dbuf *d, uint64_t seq)
{
    if (seq > d->acked) {
        d->acked = seq;
    }
    release(d);
}

uint64_t clew_dbuf_acked(const struct clew_dbuf *d)
{
    return d->acked;
}

int clew_dbuf_pending(const struct clew_dbuf *d)
{
    return d->next_seq - 1 > d->acked;
}

void clew_dbuf_stats(const struct clew_dbuf *d, struct clew_dbuf_stats *out)
{
    *out = d->st;
    out->frames = d->next_seq - 1 > d->acked ? d->next_seq - 1 - d->acked : 0;
}
