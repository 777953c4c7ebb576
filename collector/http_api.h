/* SPDX-License-Identifier: MIT
 * http_api: clewd's HTTP server (libmicrohttpd, on its own threads, so a
 * slow client or a long query never stalls ingest). Routes requests to
 * handlers the server provides; answers 404 for unknown paths and 405 for
 * wrong methods with a JSON error. When a token is set, every request but
 * GET /healthz needs "Authorization: Bearer <token>" (401 otherwise); a
 * non-loopback address requires a token. Handlers run on the HTTP threads;
 * the query, trace, stats and tail routes are collector/http_query.c's. */
#ifndef CLEW_HTTP_API_H
#define CLEW_HTTP_API_H

#include <stddef.h>

#include "clew/error.h"
#include "common/buf.h"

struct clew_http_api;
struct clew_tail;
struct MHD_Connection;

/* What clewd lets the HTTP threads do. Every callback must be thread-safe. */
struct clew_http_env {
    /* Writes the Prometheus text of every counter into out. */
    void (*metrics)(void *ud, struct clew_buf *out);
    /* Takes one GELF payload (POST /gelf body). Returns 0 (202), a
     * CLEW_GELF_E* / negative code with msg set (400), or CLEW_ETOOBIG when
     * the server is overloaded (503). */
    int (*gelf)(void *ud, const void *body, size_t len, char msg[CLEW_ERR_LEN]);
    void *ud;
    size_t max_body; /* largest request body accepted (413 beyond) */
    /* The data directory /api/v1/query, /trace and /stats read (borrowed;
     * NULL: those routes answer 503). */
    const char *data_dir;
    /* The live records /api/v1/tail follows (borrowed; NULL: 503). */
    struct clew_tail *tail;
};

/* Starts serving on addr ("127.0.0.1:7700"). token may be NULL or "".
 * env is copied. Returns 0 or an error with err set. */
int clew_http_start(const struct clew_http_env *env, const char *addr, const char *token,
                    struct clew_http_api **out, char err[CLEW_ERR_LEN]);

/* The bound port (useful with port 0). */
int clew_http_port(const struct clew_http_api *h);

/* Queues a response of len bytes (copied) with this status and content
 * type; for the handlers (collector/http_query.c). Returns MHD_YES/MHD_NO. */
int clew_http_reply(struct MHD_Connection *c, unsigned status, const char *type, const void *data,
                    size_t len);

/* Queues {"error": msg} with this status. Returns MHD_YES/MHD_NO. */
int clew_http_reply_error(struct MHD_Connection *c, unsigned status, const char *msg);

/* Stops the threads and frees. NULL-safe. */
void clew_http_stop(struct clew_http_api *h);

#endif
