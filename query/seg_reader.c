/* SPDX-License-Identifier: MIT
 * seg_reader: opens a segment (docs/FORMAT.md) with two preads (the fixed
 * tail, then the footer), decodes the block directory and the label
 * dictionaries, and keeps the trace index as stored: a lookup decodes one
 * bucket. Blocks are read on demand: only the requested columns are pread,
 * checksummed and decompressed; a trace read decodes the ids first and the
 * rest only for the matching records.
 *
 * Validity: every size and offset read from the file is checked against the
 * file size and the format limits (seg_format.h) before it is used, so no
 * file content can make the reader read out of bounds or allocate without
 * bound. A bad tail or footer fails the open; a bad column fails only the
 * read of its block. After open the struct clew_seg is never written, so
 * threads may share it. */
#include "query/seg_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd_errors.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/rec_codec.h"
#include "common/seg_text.h"

struct blk {
    uint64_t off; /* file offset of the block's first column */
    uint64_t raw;
    uint32_t clen[CLEW_SEG_NCOLS];
    uint32_t rlen[CLEW_SEG_NCOLS];
    uint32_t sum[CLEW_SEG_NCOLS];
    uint32_t set_start[CLEW_LABEL_COUNT]; /* label set: s->sets[start .. start+n) */
    uint32_t set_n[CLEW_LABEL_COUNT];
    struct clew_seg_block_meta meta;
};

struct clew_seg {
    char *path;
    int fd;
    struct clew_seg_info info;
    uint64_t footer_off;
    size_t nblocks;
    struct blk *blocks;
    uint8_t *footer; /* decompressed footer; the dictionaries borrow it */
    struct clew_str *dict[CLEW_LABEL_COUNT];
    uint32_t ndict[CLEW_LABEL_COUNT];
    uint32_t *streams; /* stream -> CLEW_LABEL_COUNT dictionary ids */
    uint32_t nstreams;
    uint32_t *sets;
    size_t nsets;
    uint8_t *raw;              /* the footer as stored; the trace index borrows it */
    unsigned tbits, tfp, tblk; /* trace index: bucket, fingerprint, block bits */
    const uint8_t *ttab;       /* bucket offset table, 2^tbits + 1 entries     */
    const uint8_t *tdata;
    size_t tdata_len;
};

/* A block read into memory. The per-record arrays (ts, sid, meta, tix,
 * grp) have nrec entries, one per stored record; the block shows count
 * records: all of them, or (a trace read) rows[0..count), stored record
 * numbers ascending. Strings are kept for the shown records only. */
struct clew_seg_block {
    const struct clew_seg *seg;
    size_t index; /* the block's number in the segment */
    size_t count;
    size_t nrec;
    unsigned cols;
    uint32_t *rows; /* shown record -> stored record; NULL: identity    */
    int64_t *ts;
    uint32_t *sid;         /* stream of each record                          */
    uint32_t *grp;         /* record -> position in the message/fields columns */
    uint8_t *meta;         /* levels, inputs, flags (u16 LE)                 */
    char *ids;             /* id text (hex ids expanded)                     */
    struct clew_str *trip; /* the block's id triples, 3 strings each    */
    uint32_t *tix;         /* record -> triple, UINT32_MAX: no ids            */
    char *str[2];          /* message and fields of the shown records        */
    uint32_t *str_off[2];
};

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int
seg_err(char *err, const char *path, int rc, const char *fmt, ...)
{
    int k = snprintf(err, CLEW_ERR_LEN, "%s: ", path);
    if (k >= 0 && k < CLEW_ERR_LEN) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + k, CLEW_ERR_LEN - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t k = pread(fd, p, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (k == 0) {
            return CLEW_ETRUNC;
        }
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

static int str_cmp(struct clew_str a, struct clew_str b)
{
    size_t m = a.len < b.len ? a.len : b.len;
    int c = m ? memcmp(a.ptr, b.ptr, m) : 0;
    if (c != 0) {
        return c;
    }
    return a.len < b.len ? -1 : a.len > b.len;
}

/* Decompresses exactly rlen bytes from src (one frame); *out is
 * clew_malloc'd. */
static int unzstd(ZSTD_DCtx *dctx, const uint8_t *src, size_t clen, size_t rlen, uint8_t **out)
{
    *out = NULL;
    if (ZSTD_getFrameContentSize(src, clen) != rlen) {
        return CLEW_ECORRUPT;
    }
    uint8_t *dst = clew_malloc(rlen + 1);
    if (dst == NULL) {
        return -ENOMEM;
    }
    size_t n = ZSTD_decompressDCtx(dctx, dst, rlen, src, clen);
    if (ZSTD_isError(n) || n != rlen) {
        clew_free(dst);
        if (ZSTD_isError(n) && ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation) {
            return -ENOMEM;
        }
        return CLEW_ECORRUPT;
    }
    *out = dst;
    return 0;
}

/* ---- open: tail ---- */

struct tail {
    uint64_t footer_off;
    uint64_t clen;
    uint64_t rlen;
    uint64_t trace_len;
    uint64_t sum;
};

/* A file without a valid tail: a damaged segment if it starts like one. */
static int bad_tail(struct clew_seg *s, uint64_t size, const char *why, char *err)
{
    uint8_t m[CLEW_SEG_MAGIC_LEN];
    if (size >= sizeof(m) && pread_all(s->fd, m, sizeof(m), 0) == 0 &&
        memcmp(m, CLEW_SEG_MAGIC, sizeof(m)) == 0) {
        return seg_err(err, s->path, CLEW_ECORRUPT, "truncated or damaged segment (%s)", why);
    }
    return seg_err(err, s->path, CLEW_EFORMAT, "not a segment file (%s)", why);
}

static int read_tail(struct clew_seg *s, uint64_t size, struct tail *t, char *err)
{
    uint8_t p[CLEW_SEG_TAIL_SIZE];
    if (size < CLEW_SEG_HEADER_SIZE + CLEW_SEG_TAIL_SIZE) {
        return bad_tail(s, size, "too short", err);
    }
    int rc = pread_all(s->fd, p, sizeof(p), size - sizeof(p));
    if (rc < 0) {
        return seg_err(err, s->path, rc, "read tail: %s", clew_strerror(rc));
    }
    if (memcmp(p + 48, CLEW_SEG_TAIL_MAGIC, CLEW_SEG_MAGIC_LEN) != 0) {
        return bad_tail(s, size, "bad tail magic", err);
    }
    if (clew_load_u32(p + 44) != clew_seg_checksum(p, 44)) {
        return seg_err(err, s->path, CLEW_ECORRUPT, "tail checksum mismatch");
    }
    uint32_t version = clew_load_u32(p + 40);
    if (version != CLEW_SEG_VERSION) {
        return seg_err(err, s->path, CLEW_EVERSION, "segment version %u, this build reads %u",
                       version, CLEW_SEG_VERSION);
    }
    t->footer_off = clew_load_u64(p);
    t->clen = clew_load_u64(p + 8);
    t->rlen = clew_load_u64(p + 16);
    t->trace_len = clew_load_u64(p + 24);
    t->sum = clew_load_u64(p + 32);
    uint64_t end = size - CLEW_SEG_TAIL_SIZE;
    if (t->footer_off < CLEW_SEG_HEADER_SIZE || t->footer_off > end || t->clen == 0 ||
        t->clen > end - t->footer_off || t->trace_len != end - t->footer_off - t->clen ||
        t->rlen > CLEW_SEG_MAX_FOOTER) {
        return seg_err(err, s->path, CLEW_ECORRUPT, "tail describes an impossible footer");
    }
    return 0;
}

/* ---- open: footer ---- */

static int parse_dicts(struct clew_seg *s, struct clew_rd *r)
{
    for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
        uint64_t n;
        if (clew_rd_varint(r, &n) < 0 || n > clew_rd_left(r)) {
            return CLEW_ECORRUPT;
        }
        s->dict[l] = clew_malloc((size_t)n * sizeof(struct clew_str) + 1);
        if (s->dict[l] == NULL) {
            return -ENOMEM;
        }
        s->ndict[l] = (uint32_t)n;
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *p;
            size_t len;
            if (clew_rd_bytes(r, &p, &len) < 0) {
                return CLEW_ECORRUPT;
            }
            s->dict[l][i] = (struct clew_str){ (const char *)p, len };
            /* Stored sorted and unique: lookups binary-search. */
            if (i > 0 && str_cmp(s->dict[l][i - 1], s->dict[l][i]) >= 0) {
                return CLEW_ECORRUPT;
            }
        }
    }
    return 0;
}

static int parse_streams(struct clew_seg *s, struct clew_rd *r)
{
    uint64_t n;
    if (clew_rd_varint(r, &n) < 0 || n > clew_rd_left(r) / CLEW_LABEL_COUNT) {
        return CLEW_ECORRUPT;
    }
    s->streams = clew_malloc((size_t)n * CLEW_LABEL_COUNT * sizeof(uint32_t) + 1);
    if (s->streams == NULL) {
        return -ENOMEM;
    }
    s->nstreams = (uint32_t)n;
    for (size_t i = 0; i < (size_t)n * CLEW_LABEL_COUNT; i++) {
        uint64_t v;
        if (clew_rd_varint(r, &v) < 0 || v >= s->ndict[i % CLEW_LABEL_COUNT]) {
            return CLEW_ECORRUPT;
        }
        s->streams[i] = (uint32_t)v;
    }
    return 0;
}

static int push_set(struct clew_seg *s, size_t *cap, uint32_t v)
{
    if (s->nsets == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        uint32_t *p = clew_realloc(s->sets, ncap * sizeof(*p));
        if (p == NULL) {
            return -ENOMEM;
        }
        s->sets = p;
        *cap = ncap;
    }
    s->sets[s->nsets++] = v;
    return 0;
}

static int parse_sets(struct clew_seg *s, struct clew_rd *r, struct blk *b, size_t *cap)
{
    for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
        uint64_t k, prev = 0;
        if (clew_rd_varint(r, &k) < 0 || k > s->ndict[l]) {
            return CLEW_ECORRUPT;
        }
        b->set_start[l] = (uint32_t)s->nsets;
        b->set_n[l] = (uint32_t)k;
        for (uint64_t i = 0; i < k; i++) {
            uint64_t d;
            if (clew_rd_varint(r, &d) < 0 || (i > 0 && d == 0) || d >= s->ndict[l] - prev) {
                return CLEW_ECORRUPT;
            }
            prev += d;
            int rc = push_set(s, cap, (uint32_t)prev);
            if (rc < 0) {
                return rc;
            }
        }
    }
    return 0;
}

static int parse_block(struct clew_seg *s, struct clew_rd *r, struct blk *b, size_t *cap)
{
    uint64_t count, zmin, span;
    if (clew_rd_varint(r, &b->off) < 0 || clew_rd_varint(r, &count) < 0 ||
        clew_rd_varint(r, &zmin) < 0 || clew_rd_varint(r, &span) < 0 ||
        clew_rd_varint(r, &b->raw) < 0) {
        return CLEW_ECORRUPT;
    }
    int64_t min_ts = (int64_t)(zmin >> 1) ^ -(int64_t)(zmin & 1);
    if (count == 0 || count > CLEW_SEG_MAX_BLOCK_RECORDS ||
        span > (uint64_t)INT64_MAX - (uint64_t)min_ts || b->off < CLEW_SEG_HEADER_SIZE ||
        b->off > s->footer_off) {
        return CLEW_ECORRUPT;
    }
    b->meta =
        (struct clew_seg_block_meta){ (uint32_t)count, min_ts, (int64_t)((uint64_t)min_ts + span) };
    uint64_t pos = b->off;
    for (int c = 0; c < CLEW_SEG_NCOLS; c++) {
        uint64_t clen, rlen;
        if (clew_rd_varint(r, &clen) < 0 || clew_rd_varint(r, &rlen) < 0 ||
            clew_rd_u32(r, &b->sum[c]) < 0 || clen > s->footer_off - pos ||
            rlen > CLEW_SEG_MAX_COLUMN) {
            return CLEW_ECORRUPT;
        }
        b->clen[c] = (uint32_t)clen;
        b->rlen[c] = (uint32_t)rlen;
        pos += clen;
    }
    return parse_sets(s, r, b, cap);
}

static int parse_footer(struct clew_seg *s, size_t len)
{
    struct clew_rd r;
    clew_rd_init(&r, s->footer, len);
    uint64_t gen, nblocks;
    if (clew_rd_varint(&r, &gen) < 0 || clew_rd_varint(&r, &nblocks) < 0 ||
        nblocks > CLEW_SEG_MAX_BLOCKS || nblocks > clew_rd_left(&r) / 16) {
        return CLEW_ECORRUPT;
    }
    int rc = parse_dicts(s, &r);
    if (rc < 0 || (rc = parse_streams(s, &r)) < 0) {
        return rc;
    }
    s->blocks = clew_calloc((size_t)nblocks + 1, sizeof(*s->blocks));
    if (s->blocks == NULL) {
        return -ENOMEM;
    }
    size_t cap = 0;
    for (size_t i = 0; i < nblocks; i++) {
        struct blk *b = &s->blocks[i];
        if ((rc = parse_block(s, &r, b, &cap)) < 0) {
            return rc;
        }
        s->info.records += b->meta.count;
        s->info.raw_bytes += b->raw;
        s->info.min_ts =
            i == 0 || b->meta.min_ts < s->info.min_ts ? b->meta.min_ts : s->info.min_ts;
        s->info.max_ts =
            i == 0 || b->meta.max_ts > s->info.max_ts ? b->meta.max_ts : s->info.max_ts;
    }
    s->nblocks = (size_t)nblocks;
    s->info.gen = gen;
    s->info.blocks = nblocks;
    return clew_rd_left(&r) == 0 ? 0 : CLEW_ECORRUPT;
}

static int parse_trace(struct clew_seg *s, const uint8_t *p, size_t len)
{
    if (len < 4) {
        return CLEW_ECORRUPT;
    }
    s->tbits = p[0];
    s->tfp = p[1];
    s->tblk = p[2];
    if (s->tbits > CLEW_SEG_MAX_BUCKET_BITS || s->tfp == 0 || s->tfp > 64 - s->tbits ||
        s->tblk > 32 || s->nblocks > (1ull << s->tblk)) {
        return CLEW_ECORRUPT;
    }
    size_t tab = (((size_t)1 << s->tbits) + 1) * 4;
    if (tab > len - 4) {
        return CLEW_ECORRUPT;
    }
    s->ttab = p + 4;
    s->tdata = p + 4 + tab;
    s->tdata_len = len - 4 - tab;
    return 0;
}

static int read_footer(struct clew_seg *s, const struct tail *t, char *err)
{
    size_t len = (size_t)(t->clen + t->trace_len);
    s->raw = clew_malloc(len);
    if (s->raw == NULL) {
        return seg_err(err, s->path, -ENOMEM, "footer: out of memory");
    }
    int rc = pread_all(s->fd, s->raw, len, t->footer_off);
    if (rc < 0) {
        return seg_err(err, s->path, rc == CLEW_ETRUNC ? CLEW_ECORRUPT : rc, "read footer: %s",
                       clew_strerror(rc));
    }
    if (XXH3_64bits(s->raw, len) != t->sum) {
        return seg_err(err, s->path, CLEW_ECORRUPT, "footer checksum mismatch");
    }
    ZSTD_DCtx *dctx = clew_seg_dctx_new();
    rc =
        dctx == NULL ? -ENOMEM : unzstd(dctx, s->raw, (size_t)t->clen, (size_t)t->rlen, &s->footer);
    ZSTD_freeDCtx(dctx);
    if (rc == 0) {
        rc = parse_footer(s, (size_t)t->rlen);
    }
    if (rc == 0) {
        rc = parse_trace(s, s->raw + t->clen, (size_t)t->trace_len);
    }
    if (rc < 0) {
        return seg_err(err, s->path, rc, "footer: %s",
                       rc == CLEW_ECORRUPT ? "malformed" : clew_strerror(rc));
    }
    return 0;
}

int clew_seg_open(const char *path, struct clew_seg **out, char err[CLEW_ERR_LEN])
{
    *out = NULL;
    struct clew_seg *s = clew_calloc(1, sizeof(*s));
    if (s == NULL || (s->path = clew_strdup(path)) == NULL) {
        clew_free(s);
        return seg_err(err, path, -ENOMEM, "out of memory");
    }
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    struct tail t = { 0 };
    int rc = 0;
    if (s->fd < 0 || fstat(s->fd, &st) < 0) {
        rc = seg_err(err, path, -errno, "open: %s", strerror(errno));
        goto fail;
    }
    if ((rc = read_tail(s, (uint64_t)st.st_size, &t, err)) < 0) {
        goto fail;
    }
    s->footer_off = t.footer_off;
    if ((rc = read_footer(s, &t, err)) < 0) {
        goto fail;
    }
    s->info.version = CLEW_SEG_VERSION;
    s->info.file_bytes = (uint64_t)st.st_size;
    *out = s;
    return 0;
fail:
    clew_seg_free(s);
    return rc;
}

void clew_seg_free(struct clew_seg *s)
{
    if (s == NULL) {
        return;
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
        clew_free(s->dict[l]);
    }
    clew_free(s->blocks);
    clew_free(s->streams);
    clew_free(s->sets);
    clew_free(s->footer);
    clew_free(s->raw);
    clew_free(s->path);
    clew_free(s);
}

const struct clew_seg_info *clew_seg_get_info(const struct clew_seg *s)
{
    return &s->info;
}

const char *clew_seg_path(const struct clew_seg *s)
{
    return s->path;
}

size_t clew_seg_nblocks(const struct clew_seg *s)
{
    return s->nblocks;
}

const struct clew_seg_block_meta *clew_seg_block_meta(const struct clew_seg *s, size_t i)
{
    return i < s->nblocks ? &s->blocks[i].meta : NULL;
}

int clew_seg_block_column(const struct clew_seg *s, size_t i, unsigned c, uint64_t *off,
                          uint64_t *clen, uint64_t *rlen)
{
    if (i >= s->nblocks || c >= CLEW_SEG_NCOLS) {
        return CLEW_EBADARG;
    }
    const struct blk *b = &s->blocks[i];
    *off = b->off;
    for (unsigned k = 0; k < c; k++) {
        *off += b->clen[k];
    }
    *clen = b->clen[c];
    *rlen = b->rlen[c];
    return 0;
}

/* ---- pruning ---- */

int clew_seg_block_has_label(const struct clew_seg *s, size_t i, enum clew_label label,
                             const char *value, size_t len)
{
    if (i >= s->nblocks || (unsigned)label >= CLEW_LABEL_COUNT) {
        return 0;
    }
    struct clew_str v = { value, len };
    const struct clew_str *d = s->dict[label];
    size_t lo = 0, hi = s->ndict[label];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = str_cmp(d[mid], v);
        if (c == 0) {
            lo = mid;
            break;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo >= s->ndict[label] || str_cmp(d[lo], v) != 0) {
        return 0;
    }
    const struct blk *b = &s->blocks[i];
    const uint32_t *set = s->sets + b->set_start[label];
    size_t a = 0, z = b->set_n[label];
    while (a < z) {
        size_t mid = a + (z - a) / 2;
        if (set[mid] == lo) {
            return 1;
        }
        if (set[mid] < lo) {
            a = mid + 1;
        } else {
            z = mid;
        }
    }
    return 0;
}

static int all_blocks(const struct clew_seg *s, uint32_t **blocks, size_t *n)
{
    if (s->nblocks == 0) {
        return 0;
    }
    uint32_t *v = clew_malloc(s->nblocks * sizeof(*v));
    if (v == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < s->nblocks; i++) {
        v[i] = (uint32_t)i;
    }
    *blocks = v;
    *n = s->nblocks;
    return 0;
}

/* Scans one bucket for fingerprint fp. With out == NULL it only counts.
 * Returns the matches, or -1 when the bucket is malformed. */
static long scan_bucket(const struct clew_seg *s, const uint8_t *p, size_t len, uint64_t fp,
                        uint32_t *out)
{
    struct clew_rd r;
    clew_rd_init(&r, p, len);
    uint64_t prev = 0, mask = (1ull << s->tblk) - 1;
    long n = 0;
    while (clew_rd_left(&r) > 0) {
        uint64_t v;
        if (clew_rd_varint(&r, &v) < 0) {
            return -1;
        }
        uint64_t cur = prev + (v >> s->tblk);
        if (cur > fp || cur < prev) {
            break;
        }
        if (cur == fp) {
            if ((v & mask) >= s->nblocks) {
                return -1;
            }
            if (out != NULL) {
                out[n] = (uint32_t)(v & mask);
            }
            n++;
        }
        prev = cur;
    }
    return n;
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int index_blocks(const struct clew_seg *s, uint64_t h, uint32_t **blocks, size_t *n);

int clew_seg_trace_blocks(const struct clew_seg *s, const char *id, size_t len, uint32_t **blocks,
                          size_t *n)
{
    return index_blocks(s, clew_seg_trace_hash(id, len), blocks, n);
}

int clew_seg_link_blocks(const struct clew_seg *s, const char *id, size_t len, uint32_t **blocks,
                         size_t *n)
{
    return index_blocks(s, clew_seg_link_hash(id, len), blocks, n);
}

static int index_blocks(const struct clew_seg *s, uint64_t h, uint32_t **blocks, size_t *n)
{
    *blocks = NULL;
    *n = 0;
    size_t bk = s->tbits ? (size_t)(h >> (64 - s->tbits)) : 0;
    uint64_t fp = (h << s->tbits) >> (64 - s->tfp);
    uint32_t lo = clew_load_u32(s->ttab + 4 * bk), hi = clew_load_u32(s->ttab + 4 * bk + 4);
    if (lo > hi || hi > s->tdata_len) {
        return all_blocks(s, blocks, n); /* a malformed index answers "maybe everywhere" */
    }
    long k = scan_bucket(s, s->tdata + lo, hi - lo, fp, NULL);
    if (k <= 0) {
        return k < 0 ? all_blocks(s, blocks, n) : 0;
    }
    uint32_t *v = clew_malloc((size_t)k * sizeof(*v));
    if (v == NULL) {
        return -ENOMEM;
    }
    scan_bucket(s, s->tdata + lo, hi - lo, fp, v);
    qsort(v, (size_t)k, sizeof(*v), u32_cmp);
    size_t m = 0;
    for (long i = 0; i < k; i++) {
        if (m == 0 || v[m - 1] != v[i]) {
            v[m++] = v[i];
        }
    }
    *blocks = v;
    *n = m;
    return 0;
}

/* ---- blocks: column decoders ---- */

/* A decompressed column: its bytes and the bounds of its streams. */
struct col {
    uint8_t *data;
    size_t off[5]; /* stream k is data[off[k] .. off[k+1]) */
};

static int dec_time(struct clew_seg_block *b, const struct blk *e, const uint8_t *p, size_t len)
{
    size_t n = b->nrec;
    if (len != 8 * n) {
        return CLEW_ECORRUPT;
    }
    b->ts = clew_malloc(n * sizeof(*b->ts) + 1);
    if (b->ts == NULL) {
        return -ENOMEM;
    }
    uint64_t *d = (uint64_t *)(void *)b->ts; /* the deltas first, plane by plane */
    memset(d, 0, n * sizeof(*d));
    for (unsigned q = 0; q < 8; q++) {
        const uint8_t *plane = p + q * n;
        for (size_t j = 0; j < n; j++) {
            d[j] |= (uint64_t)plane[j] << (8 * q);
        }
    }
    uint64_t t = (uint64_t)e->meta.min_ts;
    for (size_t j = 0; j < n; j++) {
        t += d[j];
        b->ts[j] = (int64_t)t;
        if (b->ts[j] < e->meta.min_ts || b->ts[j] > e->meta.max_ts) {
            return CLEW_ECORRUPT;
        }
    }
    return 0;
}

static int dec_labels(struct clew_seg_block *b, const uint8_t *col, size_t len)
{
    uint32_t ns = b->seg->nstreams;
    unsigned w = ns <= 256 ? 1 : ns <= 65536 ? 2 : 4;
    if (len != b->nrec * w) {
        return CLEW_ECORRUPT;
    }
    b->sid = clew_malloc(b->nrec * sizeof(*b->sid) + 1);
    if (b->sid == NULL) {
        return -ENOMEM;
    }
    for (size_t j = 0; j < b->nrec; j++) {
        uint32_t id = w == 1   ? col[j]
                      : w == 2 ? clew_load_u16(col + 2 * j)
                               : clew_load_u32(col + 4 * j);
        if (id >= ns) {
            return CLEW_ECORRUPT;
        }
        b->sid[j] = id;
    }
    return 0;
}

/* Index of v in the sorted set[0..n), or -1. */
static long find_u32(const uint32_t *set, size_t n, uint32_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set[mid] == v) {
            return (long)mid;
        }
        if (set[mid] < v) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return -1;
}

/* grp: each record's position in the message and fields columns, which hold
 * the block's records grouped by service id (stable). */
static int block_groups(struct clew_seg_block *b, const struct blk *e)
{
    const struct clew_seg *s = b->seg;
    if (b->sid == NULL) {
        return CLEW_ECORRUPT; /* clew_seg_block_read reads labels first */
    }
    const uint32_t *set = s->sets + e->set_start[CLEW_LABEL_SERVICE];
    size_t k = e->set_n[CLEW_LABEL_SERVICE];
    uint32_t *cnt = clew_calloc(k + 1, sizeof(*cnt));
    b->grp = clew_malloc(b->nrec * sizeof(*b->grp) + 1);
    if (cnt == NULL || b->grp == NULL) {
        clew_free(cnt);
        return -ENOMEM;
    }
    uint32_t last_sid = UINT32_MAX;
    long gi = -1;
    for (size_t j = 0; j < b->nrec; j++) {
        if (b->sid[j] != last_sid) { /* neighbours mostly share their stream */
            uint32_t svc = s->streams[(size_t)b->sid[j] * CLEW_LABEL_COUNT + CLEW_LABEL_SERVICE];
            gi = find_u32(set, k, svc);
            last_sid = b->sid[j];
        }
        if (gi < 0) {
            clew_free(cnt);
            return CLEW_ECORRUPT;
        }
        b->grp[j] = (uint32_t)gi;
        cnt[gi]++;
    }
    uint32_t pos = 0;
    for (size_t i = 0; i < k; i++) {
        uint32_t c = cnt[i];
        cnt[i] = pos;
        pos += c;
    }
    for (size_t j = 0; j < b->nrec; j++) {
        b->grp[j] = cnt[b->grp[j]]++;
    }
    clew_free(cnt);
    return 0;
}

/* The state of the ids column decoder. */
struct idpass {
    struct clew_rd hdr, pay;
    struct clew_str *dist; /* the distinct ids so far (references) */
    size_t nd;
    uint32_t mtf[CLEW_SEG_IDS_MTF];
    uint32_t nmtf;
    char *text; /* where the next id text goes */
};

/* One id of a new triple. */
static int dec_one_id(struct idpass *ip, struct clew_str *out)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t h;
    const uint8_t *p;
    if (clew_rd_varint(&ip->hdr, &h) < 0) {
        return CLEW_ECORRUPT;
    }
    uint64_t n = h >> 2;
    if ((h & 3) == CLEW_SEG_ID_REF) {
        if (n == 0 || n > ip->nd) {
            return CLEW_ECORRUPT;
        }
        *out = ip->dist[ip->nd - n];
        return 0;
    }
    if ((h & 3) > CLEW_SEG_ID_HEX || n > CLEW_REC_MAX_FIELD ||
        ((h & 3) == CLEW_SEG_ID_HEX && n == 0) || clew_rd_take(&ip->pay, (size_t)n, &p) < 0) {
        return CLEW_ECORRUPT;
    }
    out->ptr = ip->text;
    if ((h & 3) == CLEW_SEG_ID_HEX) {
        for (size_t k = 0; k < n; k++) {
            ip->text[2 * k] = hex[p[k] >> 4];
            ip->text[2 * k + 1] = hex[p[k] & 15];
        }
        out->len = 2 * (size_t)n;
    } else {
        memcpy(ip->text, p, (size_t)n);
        out->len = (size_t)n;
    }
    ip->text += out->len;
    if (out->len > 0 && out->len <= CLEW_SEG_MAX_REF_ID) {
        ip->dist[ip->nd++] = *out;
    }
    return 0;
}

/* One record's header: its triple (new, or from the move-to-front list). */
static int dec_trip(struct clew_seg_block *b, struct idpass *ip, size_t *ntrip, uint32_t *tix)
{
    uint64_t h;
    if (clew_rd_varint(&ip->hdr, &h) < 0 || (h != 0 && h != 2 && !(h & 1))) {
        return CLEW_ECORRUPT;
    }
    uint32_t k;
    if (h == 0) {
        *tix = UINT32_MAX;
        return 0;
    }
    if (h & 1) {
        if ((h >> 1) >= ip->nmtf) {
            return CLEW_ECORRUPT;
        }
        k = (uint32_t)(h >> 1);
        *tix = ip->mtf[k];
    } else {
        for (int q = 0; q < 3; q++) {
            if (dec_one_id(ip, &b->trip[3 * *ntrip + (size_t)q]) < 0) {
                return CLEW_ECORRUPT;
            }
        }
        *tix = (uint32_t)(*ntrip)++;
        k = ip->nmtf < CLEW_SEG_IDS_MTF ? ip->nmtf++ : CLEW_SEG_IDS_MTF - 1;
    }
    memmove(ip->mtf + 1, ip->mtf, k * sizeof(*ip->mtf));
    ip->mtf[0] = *tix;
    return 0;
}

static int dec_ids(struct clew_seg_block *b, const struct col *c)
{
    struct idpass ip;
    memset(&ip, 0, sizeof(ip));
    clew_rd_init(&ip.hdr, c->data + c->off[0], c->off[1] - c->off[0]);
    clew_rd_init(&ip.pay, c->data + c->off[1], c->off[2] - c->off[1]);
    size_t paylen = c->off[2] - c->off[1];
    if (paylen > CLEW_SEG_MAX_COLUMN / 2) {
        return CLEW_ECORRUPT; /* its text could exceed the column limit */
    }
    ip.dist = clew_malloc(3 * b->nrec * sizeof(*ip.dist) + 1);
    b->ids = clew_malloc(2 * paylen + 1);
    b->trip = clew_malloc(3 * b->nrec * sizeof(*b->trip) + 1);
    b->tix = clew_malloc(b->nrec * sizeof(*b->tix) + 1);
    int rc = 0;
    if (ip.dist == NULL || b->ids == NULL || b->trip == NULL || b->tix == NULL) {
        rc = -ENOMEM;
    }
    ip.text = b->ids;
    size_t ntrip = 0;
    for (size_t j = 0; rc == 0 && j < b->nrec; j++) {
        rc = dec_trip(b, &ip, &ntrip, &b->tix[j]);
    }
    if (rc == 0 && (clew_rd_left(&ip.hdr) != 0 || clew_rd_left(&ip.pay) != 0)) {
        rc = CLEW_ECORRUPT;
    }
    clew_free(ip.dist);
    return rc;
}

static void ids_of(const struct clew_seg_block *b, size_t r, struct clew_str ids[3])
{
    uint32_t t = b->tix[r];
    for (int k = 0; k < 3; k++) {
        ids[k] = t == UINT32_MAX ? (struct clew_str){ "", 0 } : b->trip[3 * (size_t)t + (size_t)k];
    }
}

/* Shown record j -> stored record. */
static size_t row_of(const struct clew_seg_block *b, size_t j)
{
    return b->rows != NULL ? b->rows[j] : j;
}

/* The column positions of the shown records, ascending, with the shown
 * record each holds: pos[k] = (position << 32) | shown index. */
static uint64_t *shown_positions(const struct clew_seg_block *b)
{
    uint64_t *pos = clew_malloc(b->count * sizeof(*pos) + 1);
    if (pos == NULL) {
        return NULL;
    }
    if (b->rows == NULL) { /* all records: invert grp */
        for (size_t j = 0; j < b->count; j++) {
            pos[b->grp[j]] = (uint64_t)b->grp[j] << 32 | j;
        }
        return pos;
    }
    for (size_t j = 0; j < b->count; j++) {
        pos[j] = (uint64_t)b->grp[b->rows[j]] << 32 | j;
    }
    for (size_t k = 1; k < b->count; k++) { /* few records: insertion sort */
        uint64_t v = pos[k];
        size_t q = k;
        while (q > 0 && pos[q - 1] > v) {
            pos[q] = pos[q - 1];
            q--;
        }
        pos[q] = v;
    }
    return pos;
}

/* Decodes the column-order strings into data (column order), recording
 * where each shown record's string starts and ends in coff. */
static int text_decode(struct clew_seg_block *b, struct clew_seg_text_dec *d, struct clew_buf *data,
                       uint32_t *coff)
{
    uint64_t *pos = shown_positions(b);
    if (pos == NULL) {
        return -ENOMEM;
    }
    size_t next = 0;
    int rc = 0;
    for (size_t p = 0; rc == 0 && p < b->nrec; p++) {
        if (next == b->count || (pos[next] >> 32) != p) {
            rc = clew_seg_text_dec_skip(d);
            continue;
        }
        size_t j = (uint32_t)pos[next++];
        struct clew_str ids[3] = { { "", 0 }, { "", 0 }, { "", 0 } };
        if (b->tix != NULL) {
            ids_of(b, row_of(b, j), ids);
        }
        size_t start = data->len;
        rc = clew_seg_text_dec_next(d, ids, data, CLEW_REC_MAX_FIELD);
        coff[2 * j] = (uint32_t)start;
        coff[2 * j + 1] = (uint32_t)(data->len - start);
        if (rc == 0 && data->len > CLEW_SEG_MAX_COLUMN) {
            rc = CLEW_ECORRUPT;
        }
    }
    clew_free(pos);
    return rc == 0 ? clew_seg_text_dec_end(d) : rc;
}

/* message (k == 0) or fields (k == 1) of the shown records, in their
 * order, from the template codec's streams. */
static int dec_strings(struct clew_seg_block *b, int k, const struct col *c, uint64_t raw)
{
    const uint8_t *st[4];
    size_t len[4];
    for (int q = 0; q < 4; q++) {
        st[q] = c->data + c->off[q];
        len[q] = c->off[q + 1] - c->off[q];
    }
    struct clew_seg_text_dec d;
    memset(&d, 0, sizeof(d));
    struct clew_buf data;
    clew_buf_init(&data);
    uint32_t *coff = clew_malloc(2 * b->count * sizeof(*coff) + 1);
    b->str_off[k] = clew_malloc((b->count + 1) * sizeof(uint32_t));
    int rc = coff == NULL || b->str_off[k] == NULL ? -ENOMEM : 0;
    if (rc == 0 && b->rows == NULL) { /* the block's raw size bounds its strings: no regrowth */
        rc = clew_buf_reserve(&data, raw < CLEW_SEG_MAX_COLUMN ? (size_t)raw : CLEW_SEG_MAX_COLUMN);
    }
    if (rc == 0 && (rc = clew_seg_text_dec_init(&d, st, len)) == 0) {
        rc = text_decode(b, &d, &data, coff);
    }
    clew_seg_text_dec_close(&d);
    char *out = rc == 0 ? clew_malloc(data.len + 1) : NULL;
    if (rc == 0 && out == NULL) {
        rc = -ENOMEM;
    }
    if (rc == 0) { /* column order -> shown order */
        uint32_t pos = 0;
        for (size_t j = 0; j < b->count; j++) {
            b->str_off[k][j] = pos;
            if (coff[2 * j + 1] > 0) {
                memcpy(out + pos, data.data + coff[2 * j], coff[2 * j + 1]);
            }
            pos += coff[2 * j + 1];
        }
        b->str_off[k][b->count] = pos;
        b->str[k] = out;
    }
    clew_buf_close(&data);
    clew_free(coff);
    return rc;
}

/* Decodes column c from its decompressed bytes (freed here unless the
 * block keeps them). */
static int dec_col(struct clew_seg_block *b, const struct blk *e, unsigned c, struct col *col)
{
    size_t len = col->off[clew_seg_col_frames(c)];
    int rc;
    switch (c) {
    case 0:
        rc = dec_time(b, e, col->data, len);
        break;
    case 1:
        rc = dec_labels(b, col->data, len);
        break;
    case 2:
        rc = len == 4 * b->nrec ? 0 : CLEW_ECORRUPT;
        b->meta = rc == 0 ? col->data : NULL;
        break;
    case 3:
        rc = dec_ids(b, col);
        break;
    default:
        rc = b->grp == NULL ? block_groups(b, e) : 0;
        rc = rc == 0 ? dec_strings(b, (int)c - 4, col, e->raw) : rc;
        break;
    }
    if (col->data != b->meta) {
        clew_free(col->data);
    }
    return rc;
}

/* ---- blocks: reading ---- */

static int col_err(const struct clew_seg *s, size_t i, unsigned c, int rc, char *err)
{
    const char *what = rc == CLEW_ECORRUPT ? "is malformed" : clew_strerror(rc);
    return seg_err(err, s->path, rc, "block %zu: %s column %s", i, clew_seg_col_name(c), what);
}

/* Decompresses the frames of column c (stored at p, clen bytes) into one
 * buffer of exactly rlen bytes, noting where each frame's content starts. */
static int unzstd_col(ZSTD_DCtx *dctx, unsigned c, const uint8_t *p, size_t clen, size_t rlen,
                      struct col *out)
{
    unsigned nf = clew_seg_col_frames(c);
    out->data = clew_malloc(rlen + 1);
    if (out->data == NULL) {
        return -ENOMEM;
    }
    size_t used = 0, done = 0;
    for (unsigned k = 0; k < nf; k++) {
        size_t fsize = ZSTD_findFrameCompressedSize(p + used, clen - used);
        unsigned long long csize = ZSTD_isError(fsize) ? ZSTD_CONTENTSIZE_ERROR
                                                       : ZSTD_getFrameContentSize(p + used, fsize);
        if (csize > rlen - done) { /* also the unknown and error values */
            return CLEW_ECORRUPT;
        }
        size_t n = ZSTD_decompressDCtx(dctx, out->data + done, (size_t)csize, p + used, fsize);
        if (ZSTD_isError(n) || n != csize) {
            int oom = ZSTD_isError(n) && ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation;
            return oom ? -ENOMEM : CLEW_ECORRUPT;
        }
        out->off[k] = done;
        used += fsize;
        done += n;
    }
    out->off[nf] = done;
    return used == clen && done == rlen ? 0 : CLEW_ECORRUPT;
}

/* Checks, decompresses and decodes column c whose stored bytes are at p. */
static int load_col(struct clew_seg_block *b, ZSTD_DCtx *dctx, size_t i, unsigned c,
                    const uint8_t *p, char *err)
{
    const struct clew_seg *s = b->seg;
    const struct blk *e = &s->blocks[i];
    if (clew_seg_checksum(p, e->clen[c]) != e->sum[c]) {
        return seg_err(err, s->path, CLEW_ECORRUPT, "block %zu: %s column checksum mismatch", i,
                       clew_seg_col_name(c));
    }
    struct col col;
    int rc = unzstd_col(dctx, c, p, e->clen[c], e->rlen[c], &col);
    if (rc < 0) {
        clew_free(col.data);
        const char *what = rc == CLEW_ECORRUPT ? "does not decompress" : clew_strerror(rc);
        return seg_err(err, s->path, rc, "block %zu: %s column %s", i, clew_seg_col_name(c), what);
    }
    rc = dec_col(b, e, c, &col);
    return rc < 0 ? col_err(s, i, c, rc, err) : 0;
}

/* Reads the requested columns c0..c1 (adjacent in the file) with one pread. */
static int load_run(struct clew_seg_block *b, ZSTD_DCtx *dctx, size_t i, unsigned c0, unsigned c1,
                    char *err)
{
    const struct clew_seg *s = b->seg;
    const struct blk *e = &s->blocks[i];
    uint64_t off = e->off;
    size_t len = 0;
    for (unsigned c = 0; c < c0; c++) {
        off += e->clen[c];
    }
    for (unsigned c = c0; c <= c1; c++) {
        len += e->clen[c];
    }
    uint8_t *buf = clew_malloc(len + 1);
    if (buf == NULL) {
        return seg_err(err, s->path, -ENOMEM, "block %zu: out of memory", i);
    }
    int rc = pread_all(s->fd, buf, len, off);
    if (rc < 0) {
        rc = seg_err(err, s->path, rc == CLEW_ETRUNC ? CLEW_ECORRUPT : rc, "block %zu: read: %s", i,
                     clew_strerror(rc));
    }
    const uint8_t *p = buf; /* ids come before message and fields, which use them */
    for (unsigned c = c0; rc == 0 && c <= c1; c++) {
        rc = load_col(b, dctx, i, c, p, err);
        p += e->clen[c];
    }
    clew_free(buf);
    return rc;
}

/* Reads the columns in cols (adjacent ones with one pread). */
static int load_cols(struct clew_seg_block *b, ZSTD_DCtx *dctx, size_t i, unsigned cols, char *err)
{
    int rc = 0;
    for (unsigned c = 0; c < CLEW_SEG_NCOLS && rc == 0; c++) {
        if (!(cols & (1u << c))) {
            continue;
        }
        unsigned c1 = c;
        while (c1 + 1 < CLEW_SEG_NCOLS && (cols & (1u << (c1 + 1)))) {
            c1++;
        }
        rc = load_run(b, dctx, i, c, c1, err);
        c = c1;
    }
    return rc;
}

static unsigned cols_closure(unsigned cols)
{
    cols &= CLEW_COL_ALL;
    if (cols & (CLEW_COL_MESSAGE | CLEW_COL_FIELDS)) {
        /* their order depends on the records' services, their text on the ids */
        cols |= CLEW_COL_LABELS | CLEW_COL_IDS;
    }
    return cols;
}

static struct clew_seg_block *block_new(const struct clew_seg *s, size_t i)
{
    struct clew_seg_block *b = clew_calloc(1, sizeof(*b));
    if (b != NULL) {
        b->seg = s;
        b->index = i;
        b->nrec = s->blocks[i].meta.count;
        b->count = b->nrec;
    }
    return b;
}

int clew_seg_block_read(const struct clew_seg *s, size_t i, unsigned cols,
                        struct clew_seg_block **out, char err[CLEW_ERR_LEN])
{
    *out = NULL;
    if (i >= s->nblocks) {
        return seg_err(err, s->path, CLEW_EBADARG, "block %zu: no such block", i);
    }
    struct clew_seg_block *b = block_new(s, i);
    ZSTD_DCtx *dctx = clew_seg_dctx_new();
    int rc = 0;
    if (b == NULL || dctx == NULL) {
        rc = seg_err(err, s->path, -ENOMEM, "block %zu: out of memory", i);
    } else {
        b->cols = cols_closure(cols);
        rc = load_cols(b, dctx, i, b->cols, err);
    }
    ZSTD_freeDCtx(dctx);
    if (rc < 0) {
        clew_seg_block_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* The stored records whose trace_id is id[0..len), into b->rows. */
static int select_trace(struct clew_seg_block *b, const char *id, size_t len)
{
    b->rows = clew_malloc(b->nrec * sizeof(*b->rows) + 1);
    if (b->rows == NULL) {
        return -ENOMEM;
    }
    size_t m = 0;
    uint32_t last = UINT32_MAX;
    int last_match = 0;
    for (size_t j = 0; j < b->nrec; j++) {
        uint32_t t = b->tix[j];
        if (t != last) { /* compare each triple once per run */
            struct clew_str tr =
                t == UINT32_MAX ? (struct clew_str){ "", 0 } : b->trip[3 * (size_t)t];
            last_match = tr.len == len && (len == 0 || memcmp(tr.ptr, id, len) == 0);
            last = t;
        }
        if (last_match) {
            b->rows[m++] = (uint32_t)j;
        }
    }
    b->count = m;
    return 0;
}

int clew_seg_block_read_trace(const struct clew_seg *s, size_t i, unsigned cols, const char *id,
                              size_t len, struct clew_seg_block **out, char err[CLEW_ERR_LEN])
{
    *out = NULL;
    if (i >= s->nblocks) {
        return seg_err(err, s->path, CLEW_EBADARG, "block %zu: no such block", i);
    }
    struct clew_seg_block *b = block_new(s, i);
    ZSTD_DCtx *dctx = clew_seg_dctx_new();
    int rc = 0;
    if (b == NULL || dctx == NULL) {
        rc = seg_err(err, s->path, -ENOMEM, "block %zu: out of memory", i);
    } else {
        b->cols = cols_closure(cols) | CLEW_COL_IDS;
        rc = load_cols(b, dctx, i, CLEW_COL_IDS, err);
    }
    if (rc == 0 && (rc = select_trace(b, id, len)) < 0) {
        rc = seg_err(err, s->path, rc, "block %zu: out of memory", i);
    }
    if (rc == 0 && b->count > 0) {
        rc = load_cols(b, dctx, i, b->cols & ~(unsigned)CLEW_COL_IDS, err);
    }
    ZSTD_freeDCtx(dctx);
    if (rc < 0) {
        clew_seg_block_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

int clew_seg_block_read_more(struct clew_seg_block *b, unsigned cols, char err[CLEW_ERR_LEN])
{
    unsigned more = cols_closure(cols | b->cols) & ~b->cols;
    if (more == 0) {
        return 0;
    }
    const struct clew_seg *s = b->seg;
    ZSTD_DCtx *dctx = clew_seg_dctx_new();
    int rc = 0;
    if (dctx == NULL) {
        rc = seg_err(err, s->path, -ENOMEM, "block %zu: out of memory", b->index);
    } else if (b->count > 0) { /* a trace read without a match reads nothing more */
        rc = load_cols(b, dctx, b->index, more, err);
    }
    ZSTD_freeDCtx(dctx);
    if (rc == 0) {
        b->cols |= more;
    }
    return rc;
}

void clew_seg_block_free(struct clew_seg_block *b)
{
    if (b == NULL) {
        return;
    }
    clew_free(b->rows);
    clew_free(b->ts);
    clew_free(b->sid);
    clew_free(b->grp);
    clew_free(b->meta);
    clew_free(b->ids);
    clew_free(b->trip);
    clew_free(b->tix);
    for (int k = 0; k < 2; k++) {
        clew_free(b->str[k]);
        clew_free(b->str_off[k]);
    }
    clew_free(b);
}

size_t clew_seg_block_count(const struct clew_seg_block *b)
{
    return b->count;
}

static struct clew_str str_at(const char *data, const uint32_t *off, size_t j)
{
    return (struct clew_str){ data + off[j], off[j + 1] - off[j] };
}

void clew_seg_block_record(const struct clew_seg_block *b, size_t j, struct clew_record *out)
{
    memset(out, 0, sizeof(*out));
    if (j >= b->count) {
        return;
    }
    size_t r = row_of(b, j);
    if (b->ts != NULL) {
        out->ts = b->ts[r];
    }
    for (int l = 0; b->sid != NULL && l < CLEW_LABEL_COUNT; l++) {
        uint32_t id = b->seg->streams[(size_t)b->sid[r] * CLEW_LABEL_COUNT + (size_t)l];
        out->labels[l] = b->seg->dict[l][id];
    }
    if (b->meta != NULL) {
        out->level = b->meta[r];
        out->input = b->meta[b->nrec + r];
        out->flags = clew_load_u16(b->meta + 2 * b->nrec + 2 * r);
    }
    if (b->tix != NULL) {
        struct clew_str ids[3];
        ids_of(b, r, ids);
        out->trace_id = ids[0];
        out->span_id = ids[1];
        out->parent_span_id = ids[2];
    }
    if (b->str[0] != NULL) {
        out->message = str_at(b->str[0], b->str_off[0], j);
    }
    if (b->str[1] != NULL) {
        out->fields = str_at(b->str[1], b->str_off[1], j);
    }
}

const char *clew_seg_block_messages(const struct clew_seg_block *b, const uint32_t **off)
{
    *off = b->str[0] != NULL ? b->str_off[0] : NULL;
    return b->str[0];
}
