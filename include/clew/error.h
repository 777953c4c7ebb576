/* SPDX-License-Identifier: MIT
 * clew error codes. Functions return 0 or a negative code: -errno for system
 * failures, libuv's negative codes pass through unchanged, and the CLEW_E*
 * values below (all below -10000, clear of both) for clew's own conditions.
 * clew_strerror() names any of them. Pure; any thread. */
#ifndef CLEW_ERROR_H
#define CLEW_ERROR_H

#define CLEW_ERR_LEN 256 /* size of a caller's human-readable error buffer */

enum {
    CLEW_ECORRUPT = -10001,  /* checksum mismatch or impossible structure   */
    CLEW_ETRUNC = -10002,    /* input ends before the structure does        */
    CLEW_ETOOBIG = -10003,   /* a size exceeds a configured or format limit */
    CLEW_EFORMAT = -10004,   /* not this format (bad magic, bad syntax)     */
    CLEW_EVERSION = -10005,  /* a format version this build cannot read     */
    CLEW_ENOTFOUND = -10006, /* the thing asked for does not exist          */
    CLEW_ECLOSED = -10007,   /* the object is closing or closed             */
    CLEW_EBADARG = -10008,   /* an argument or option is invalid            */
};

/* Returns a static, human-readable description of rc (any thread). */
const char *clew_strerror(int rc);

#endif
