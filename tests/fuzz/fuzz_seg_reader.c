/* SPDX-License-Identifier: MIT
 * Fuzzes the segment reader: the input is written to a private file, opened,
 * and everything the reader offers is exercised (every block with all
 * columns and with single columns, every record, label pruning, trace
 * lookups and trace reads of a block). The reader must never crash, read out of bounds or leak.
 *
 * Checksums would stop most mutations at the door, so each input is also run
 * a second time "fixed up": the harness walks the footer (docs/FORMAT.md),
 * recomputes every column checksum, the footer checksum and the tail
 * checksum, so mutated footers and columns reach the decoders behind them. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>
#include <zstd.h>

#include "clew/error.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "query/seg_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

static void walk_block(const struct clew_seg *s, size_t i, unsigned cols)
{
    char err[CLEW_ERR_LEN];
    struct clew_seg_block *b;
    if (clew_seg_block_read(s, i, cols, &b, err) != 0) {
        return;
    }
    size_t sum = 0;
    for (size_t j = 0; j < clew_seg_block_count(b); j++) {
        struct clew_record r;
        clew_seg_block_record(b, j, &r);
        sum += r.message.len + r.trace_id.len + r.span_id.len + r.parent_span_id.len +
               r.fields.len + r.level + r.labels[0].len + r.labels[4].len;
        if (r.trace_id.len > 0) {
            sum += (uint8_t)r.trace_id.ptr[r.trace_id.len - 1];
        }
        for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
            if (r.labels[l].len > 0) {
                sum += (uint8_t)r.labels[l].ptr[0];
                sum += (size_t)clew_seg_block_has_label(s, i, (enum clew_label)l, r.labels[l].ptr,
                                                        r.labels[l].len);
            }
        }
        if (r.trace_id.len > 0 && j < 4) {
            uint32_t *blocks;
            size_t n;
            if (clew_seg_trace_blocks(s, r.trace_id.ptr, r.trace_id.len, &blocks, &n) == 0) {
                clew_free(blocks);
            }
        }
    }
    const uint32_t *off;
    const char *m = clew_seg_block_messages(b, &off);
    if (m != NULL && clew_seg_block_count(b) > 0) {
        sum += (size_t)off[clew_seg_block_count(b)];
    }
    if (clew_seg_block_count(b) > 0) { /* a trace read of the first record's trace */
        struct clew_record r;
        clew_seg_block_record(b, 0, &r);
        struct clew_seg_block *t;
        if (clew_seg_block_read_trace(s, i, cols, r.trace_id.ptr, r.trace_id.len, &t, err) == 0) {
            for (size_t j = 0; j < clew_seg_block_count(t); j++) {
                clew_seg_block_record(t, j, &r);
                sum += r.message.len + r.fields.len + (size_t)r.ts;
            }
            clew_seg_block_free(t);
        }
    }
    clew_seg_block_free(b);
    sink += sum; /* keeps the reads above from being optimised away */
}

static void run(const uint8_t *data, size_t size)
{
    static char path[64];
    if (path[0] == '\0') {
        snprintf(path, sizeof(path), "/tmp/fuzz_seg_reader.%d.seg", (int)getpid());
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        return;
    }
    ssize_t w = write(fd, data, size);
    close(fd);
    if (w != (ssize_t)size) {
        unlink(path);
        return;
    }
    char err[CLEW_ERR_LEN];
    struct clew_seg *s;
    if (clew_seg_open(path, &s, err) == 0) {
        size_t nb = clew_seg_nblocks(s);
        for (size_t i = 0; i < nb && i < 64; i++) {
            (void)clew_seg_block_meta(s, i);
            walk_block(s, i, CLEW_COL_ALL);
            walk_block(s, i, CLEW_COL_MESSAGE);
            walk_block(s, i, CLEW_COL_IDS | CLEW_COL_LABELS);
            (void)clew_seg_block_has_label(s, i, CLEW_LABEL_SERVICE, "web", 3);
        }
        uint32_t *blocks;
        size_t n;
        if (clew_seg_trace_blocks(s, "0123456789abcdef0123456789abcdef", 32, &blocks, &n) == 0) {
            clew_free(blocks);
        }
        clew_seg_free(s);
    }
    unlink(path);
}

static int skip_varints(struct clew_rd *r, int n)
{
    uint64_t v;
    for (int i = 0; i < n; i++) {
        if (clew_rd_varint(r, &v) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Walks the decompressed footer f and rewrites every column checksum to
 * match the columns in file[0..end). Returns 0, or -1 where it stops making
 * sense (then the fixed-up run is skipped). */
static int fix_columns(uint8_t *f, size_t flen, const uint8_t *file, uint64_t end)
{
    struct clew_rd r;
    clew_rd_init(&r, f, flen);
    uint64_t nblocks, n;
    const uint8_t *p;
    size_t len;
    if (skip_varints(&r, 1) < 0 || clew_rd_varint(&r, &nblocks) < 0) {
        return -1;
    }
    for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
        if (clew_rd_varint(&r, &n) < 0) {
            return -1;
        }
        for (uint64_t i = 0; i < n; i++) {
            if (clew_rd_bytes(&r, &p, &len) < 0) {
                return -1;
            }
        }
    }
    if (clew_rd_varint(&r, &n) < 0 || n > clew_rd_left(&r) ||
        skip_varints(&r, (int)(n * CLEW_LABEL_COUNT)) < 0) {
        return -1; /* streams */
    }
    for (uint64_t b = 0; b < nblocks; b++) {
        uint64_t pos, clen;
        if (clew_rd_varint(&r, &pos) < 0 || skip_varints(&r, 4) < 0) {
            return -1;
        }
        for (int c = 0; c < CLEW_SEG_NCOLS; c++) {
            if (clew_rd_varint(&r, &clen) < 0 || skip_varints(&r, 1) < 0 || clew_rd_left(&r) < 4 ||
                pos > end || clen > end - pos) {
                return -1;
            }
            clew_store_u32((uint8_t *)(uintptr_t)r.p, clew_seg_checksum(file + pos, clen));
            r.p += 4;
            pos += clen;
        }
        for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
            if (clew_rd_varint(&r, &n) < 0 || n > clew_rd_left(&r) || skip_varints(&r, (int)n)) {
                return -1;
            }
        }
    }
    return 0;
}

/* Builds in out (capacity cap) the input with all checksums made valid. */
static size_t fix_up(const uint8_t *in, size_t size, uint8_t *out, size_t cap)
{
    if (size < CLEW_SEG_HEADER_SIZE + CLEW_SEG_TAIL_SIZE || size > cap) {
        return 0;
    }
    const uint8_t *t = in + size - CLEW_SEG_TAIL_SIZE;
    uint64_t off = clew_load_u64(t), clen = clew_load_u64(t + 8), rlen = clew_load_u64(t + 16);
    uint64_t end = size - CLEW_SEG_TAIL_SIZE;
    if (off < CLEW_SEG_HEADER_SIZE || off > end || clen > end - off || rlen > (1u << 20)) {
        return 0;
    }
    uint64_t tlen = end - off - clen;
    uint8_t *f = malloc(rlen + 1);
    size_t got = f ? ZSTD_decompress(f, rlen, in + off, clen) : 0;
    size_t bound = ZSTD_compressBound(rlen), n = 0;
    if (f != NULL && !ZSTD_isError(got) && got == rlen && fix_columns(f, rlen, in, off) == 0 &&
        off + bound + tlen + CLEW_SEG_TAIL_SIZE <= cap) {
        memcpy(out, in, off);
        size_t nc = ZSTD_compress(out + off, bound, f, rlen, 1);
        if (!ZSTD_isError(nc)) {
            memcpy(out + off + nc, in + off + clen, tlen);
            uint8_t *nt = out + off + nc + tlen;
            memcpy(nt, t, CLEW_SEG_TAIL_SIZE);
            clew_store_u64(nt + 8, nc);
            clew_store_u64(nt + 32, XXH3_64bits(out + off, nc + tlen));
            clew_store_u32(nt + 44, clew_seg_checksum(nt, 44));
            n = off + nc + tlen + CLEW_SEG_TAIL_SIZE;
        }
    }
    free(f);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t fixed[1 << 21];
    run(data, size);
    size_t n = fix_up(data, size, fixed, sizeof(fixed));
    if (n > 0) {
        run(fixed, n);
    }
    return 0;
}
