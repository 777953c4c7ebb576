/* SPDX-License-Identifier: MIT
 * Fuzzes the WAL reader: the input is taken as a WAL file (file header, then
 * frames) and also as a bare run of frames. Every decoded payload is walked
 * with clew_rec_decode, checking the frame's record count, and its records
 * are written again by the writer's encoder, stored and LZ4-compressed:
 * both frames must decode to the same payload. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clew/error.h"
#include "common/buf.h"
#include "common/rec_codec.h"
#include "common/wal_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Re-encodes recs[0..n) (decoded from raw) both ways and checks that each
 * frame decodes back to raw, byte for byte. */
static void round_trip(const struct clew_record *recs, uint32_t n, const struct clew_buf *raw,
                       uint64_t seq)
{
    struct clew_buf out, scratch, back;
    clew_buf_init(&out);
    clew_buf_init(&scratch);
    clew_buf_init(&back);
    for (int accel = 0; accel <= CLEW_WALF_LZ4_ACCEL; accel += CLEW_WALF_LZ4_ACCEL) {
        clew_buf_reset(&out);
        int rc = clew_walf_encode_records(&out, &scratch, recs, n, seq, accel);
        if (rc == -ENOMEM) {
            break;
        }
        struct clew_walf_frame f;
        if (rc < 0 || clew_walf_decode(out.data, out.len, &back, &f) != 0 || f.count != n ||
            f.seq != seq || f.frame_len != out.len || back.len != raw->len ||
            memcmp(back.data, raw->data, raw->len) != 0) {
            abort();
        }
    }
    clew_buf_close(&out);
    clew_buf_close(&scratch);
    clew_buf_close(&back);
}

static void decode_frames(const uint8_t *p, size_t len, struct clew_buf *raw)
{
    while (len > 0) {
        struct clew_walf_frame f;
        int rc = clew_walf_decode(p, len, raw, &f);
        if (rc < 0) {
            if (rc != CLEW_ETRUNC && rc != CLEW_ECORRUPT && rc != -ENOMEM) {
                abort();
            }
            return;
        }
        if (f.frame_len < CLEW_WALF_FRAME_HEADER_LEN || f.frame_len > len) {
            abort();
        }
        if (raw->len == 0) {
            if (f.count != 0) {
                abort();
            }
            p += f.frame_len;
            len -= f.frame_len;
            continue;
        }
        struct clew_rd rd;
        clew_rd_init(&rd, raw->data, raw->len);
        struct clew_record *recs = malloc((size_t)f.count * sizeof(*recs));
        if (recs == NULL) {
            return;
        }
        for (uint32_t i = 0; i < f.count; i++) {
            if (clew_rec_decode(&rd, &recs[i]) < 0) {
                abort(); /* decode promised exactly count records */
            }
        }
        if (clew_rd_left(&rd) != 0) {
            abort();
        }
        round_trip(recs, f.count, raw, f.seq);
        free(recs);
        p += f.frame_len;
        len -= f.frame_len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct clew_buf raw;
    clew_buf_init(&raw);
    uint64_t gen;
    if (clew_walf_parse_file_header(data, size, &gen) == 0) {
        decode_frames(data + CLEW_WALF_FILE_HEADER_LEN, size - CLEW_WALF_FILE_HEADER_LEN, &raw);
    } else {
        decode_frames(data, size, &raw);
    }
    clew_buf_close(&raw);
    return 0;
}
