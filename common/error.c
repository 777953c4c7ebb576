/* SPDX-License-Identifier: MIT */
#include "clew/error.h"

#include <string.h>
#include <uv.h>

const char *clew_strerror(int rc)
{
    switch (rc) {
    case 0:
        return "success";
    case CLEW_ECORRUPT:
        return "data is corrupt (checksum or structure)";
    case CLEW_ETRUNC:
        return "data is truncated";
    case CLEW_ETOOBIG:
        return "size exceeds the limit";
    case CLEW_EFORMAT:
        return "not in the expected format";
    case CLEW_EVERSION:
        return "unsupported format version";
    case CLEW_ENOTFOUND:
        return "not found";
    case CLEW_ECLOSED:
        return "closed";
    case CLEW_EBADARG:
        return "invalid argument";
    default:
        break;
    }
    if (rc < 0 && rc > -4096) {
        /* libuv's codes are -errno on Unix, plus its own UV_E* below -3000. */
        return uv_strerror(rc);
    }
    return "unknown error";
}
