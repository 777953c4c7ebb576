/* SPDX-License-Identifier: MIT
 * http_client: what `clew ... --server URL` needs to talk to clewd's HTTP
 * API (collector/http_query.h): a GET through libcurl whose body comes back
 * whole, or value by value while it streams (the JSON lines of
 * /api/v1/query and /api/v1/tail); the bearer token (--token, else
 * $CLEW_TOKEN); error texts a person can act on; and the decoding of the
 * lines clewd sends back into records, byte for byte as `--data` would have
 * read them. Main thread; one request at a time. */
#ifndef CLEW_HTTP_CLIENT_H
#define CLEW_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"
#include "clew/record.h"
#include "common/arena.h"
#include "common/buf.h"

/* One GET. */
struct clew_http_req {
    const char *server; /* base URL: "http://127.0.0.1:7700" (a trailing / is fine) */
    const char *path;   /* "/api/v1/query?q=..." (escaped: clew_http_url_add)          */
    const char *token;  /* bearer token; NULL: $CLEW_TOKEN; "" or unset: none          */
};

/* What the response headers said (X-Clew-*); -1 when absent. */
struct clew_http_meta {
    long status;
    long records;  /* X-Clew-Records   */
    long ids;      /* X-Clew-Ids       */
    int truncated; /* X-Clew-Truncated */
};

/* Appends s percent-encoded (all but A-Z a-z 0-9 - . _ ~) to url and keeps
 * url NUL-terminated (url->len excludes the NUL). Returns 0 or -ENOMEM. */
int clew_http_url_escape(struct clew_buf *url, const char *s);

/* Appends "?key=value" (the first time) or "&key=value" to url, value
 * percent-encoded, and keeps url NUL-terminated (url->len excludes the
 * NUL). Returns 0 or -ENOMEM. */
int clew_http_url_add(struct clew_buf *url, const char *key, const char *value);

/* Loads libcurl (soname, NULL: the system's "libcurl.so.4") with dlopen,
 * once: `clew` does not link it, so commands that never talk to clewd do
 * not pay for loading it and its thirty dependencies. clew_http_get* call
 * it; a later call after a success does nothing. Returns 0, or
 * CLEW_ENOTFOUND ("--server needs libcurl ... install libcurl4") or -EIO
 * (not a usable libcurl) with err set. Main thread. */
int clew_http_curl_load(const char *soname, char err[CLEW_ERR_LEN]);

/* GETs req and appends the body of a 200 answer to body. meta may be NULL.
 * Returns 0, or a negative error with err set: the connection failed
 * ("cannot reach clewd at URL (is it running? ...)"), or clewd said no: 400
 * CLEW_EBADARG (err is clewd's message), 401 -EACCES, 404 CLEW_ENOTFOUND,
 * 503 -EAGAIN, other -EPROTO. */
int clew_http_get(const struct clew_http_req *req, struct clew_buf *body,
                  struct clew_http_meta *meta, char err[CLEW_ERR_LEN]);

/* Gets each top-level JSON value of a streamed body (one a line; a value
 * may span lines; blank lines are skipped), len bytes at text, borrowed
 * until return. A non-zero return stops the transfer. */
typedef int (*clew_http_value_cb)(void *ud, const char *text, size_t len);

/* GETs req and hands the values of a 200 answer to cb as they arrive.
 * Returns 0 at the end of the body, cb's non-zero value, or an error as
 * clew_http_get. */
int clew_http_get_stream(const struct clew_http_req *req, clew_http_value_cb cb, void *ud,
                         char err[CLEW_ERR_LEN]);

/* The kinds of lines clewd streams. */
enum clew_http_line_type {
    CLEW_HTTP_LINE_RECORD = 1,  /* a record: rec                            */
    CLEW_HTTP_LINE_DONE = 2,    /* {"done":true,"matched":N}: n             */
    CLEW_HTTP_LINE_WARNING = 3, /* {"warning":msg}: a damaged block skipped */
    CLEW_HTTP_LINE_ERROR = 4,   /* {"error":msg}: the query failed          */
    CLEW_HTTP_LINE_DROPPED = 5, /* {"dropped":N}: a tail lost N records     */
};

struct clew_http_line {
    int type;
    struct clew_record rec; /* RECORD; strings in the arena or in text        */
    uint64_t n;             /* DONE, DROPPED                                  */
    const char *msg;        /* WARNING, ERROR: NUL-terminated, in the arena   */
};

/* Decodes one value clewd sent. A record's strings come back as the JSON
 * says, except those its "raw" member restores byte for byte; fields is
 * the raw JSON text of the member (a view into text). Strings are copied
 * into a (the caller resets it between lines). Returns 0, CLEW_EFORMAT for
 * anything else, or -ENOMEM. */
int clew_http_line_decode(const char *text, size_t len, struct clew_arena *a,
                          struct clew_http_line *out);

#endif
