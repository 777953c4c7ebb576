/* SPDX-License-Identifier: MIT */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_customMem: route zstd's memory through clew_malloc */
#include "common/seg_format.h"

#include <xxhash.h>

#include "common/alloc.h"

uint64_t clew_seg_trace_hash(const char *id, size_t len)
{
    return XXH64(id, len, 0);
}

uint64_t clew_seg_link_hash(const char *id, size_t len)
{
    return XXH64(id, len, 0x6c696e6b); /* "link" */
}

uint32_t clew_seg_checksum(const void *p, size_t len)
{
    return (uint32_t)XXH3_64bits(p, len);
}

const char *clew_seg_col_name(unsigned c)
{
    static const char *const names[CLEW_SEG_NCOLS] = {
        "time", "labels", "meta", "ids", "message", "fields",
    };
    return c < CLEW_SEG_NCOLS ? names[c] : "?";
}

unsigned clew_seg_col_frames(unsigned c)
{
    static const unsigned char frames[CLEW_SEG_NCOLS] = { 1, 1, 1, 2, 4, 4 };
    return c < CLEW_SEG_NCOLS ? frames[c] : 0;
}

static void *zalloc(void *opaque, size_t n)
{
    (void)opaque;
    return clew_malloc(n);
}

static void zfree(void *opaque, void *p)
{
    (void)opaque;
    clew_free(p);
}

static const ZSTD_customMem zmem = { zalloc, zfree, NULL };

ZSTD_CCtx *clew_seg_cctx_new(void)
{
    return ZSTD_createCCtx_advanced(zmem);
}

ZSTD_DCtx *clew_seg_dctx_new(void)
{
    return ZSTD_createDCtx_advanced(zmem);
}
