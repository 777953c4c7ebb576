/* SPDX-License-Identifier: MIT
 * Fuzzes the WAL reader: the input is taken as a WAL file (file header, then
 * frames) and also as a bare run of frames. Every decoded payload is walked
 * with clew_rec_decode, checking the frame's record count. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "clew/error.h"
#include "common/buf.h"
#include "common/rec_codec.h"
#include "common/wal_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
        for (uint32_t i = 0; i < f.count; i++) {
            struct clew_record rec;
            if (clew_rec_decode(&rd, &rec) < 0) {
                abort(); /* decode promised exactly count records */
            }
        }
        if (clew_rd_left(&rd) != 0) {
            abort();
        }
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
