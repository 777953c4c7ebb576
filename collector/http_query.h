/* SPDX-License-Identifier: MIT
 * http_query: the read side of clewd's HTTP API. GET /api/v1/query greps the
 * data directory and streams the matches as JSON lines; GET
 * /api/v1/trace/{id} answers the `clew trace --json` object (or its text);
 * GET /api/v1/stats the `clew stats --json` object; GET /api/v1/tail
 * streams new records as they arrive (collector/tail.h). Parameters are
 * checked before anything is sent (400 {"error"} otherwise). Everything
 * runs on libmicrohttpd's connection threads (one per connection), so no
 * query ever runs on the loop thread: a grep runs on a producer thread of
 * its own that fills a bounded buffer the connection drains, a tail waits
 * on its ring. The wire protocol is described in docs/clew.1 (PROTOCOL). */
#ifndef CLEW_HTTP_QUERY_H
#define CLEW_HTTP_QUERY_H

#include <stddef.h>

#include "clew/record.h"
#include "collector/http_api.h"
#include "common/buf.h"

/* Each handler queues the response on c and returns MHD_YES or MHD_NO.
 * env is the server's (borrowed). */

/* GET /api/v1/query?q=&i=&v=&F=&m=&since=&until=&service=&host=&container=
 * &level=&trace=&reverse=&count=&raw= : application/x-ndjson, one record a
 * line, then {"done":true,"matched":N}; {"warning":...} lines for damaged
 * blocks skipped; {"error":...} as the last line if the query failed; an
 * empty line after 15 s without output. */
int clew_http_query_search(const struct clew_http_env *env, struct MHD_Connection *c);

/* GET /api/v1/trace/{id}?link_window=&format=json|text&width=&spans_only=
 * : the trace object (or the waterfall text), with headers X-Clew-Records,
 * X-Clew-Ids and X-Clew-Truncated. id is the URL's decoded path rest. */
int clew_http_query_trace(const struct clew_http_env *env, struct MHD_Connection *c,
                          const char *id);

/* GET /api/v1/stats: the `clew stats --json` object of the data directory. */
int clew_http_query_stats(const struct clew_http_env *env, struct MHD_Connection *c);

/* GET /api/v1/tail?q=&i=&v=&F=&m=&service=&host=&container=&level=&trace=
 * &raw= : application/x-ndjson, chunked, until the client leaves, m
 * records were sent, or clewd stops; {"dropped":N} when the client was too
 * slow and N records were lost; an empty line after 15 s of silence. */
int clew_http_query_tail(const struct clew_http_env *env, struct MHD_Connection *c);

/* Appends r as the `clew grep --json` object and a newline. With raw, a
 * record that has strings which are not valid UTF-8 (which the object
 * shows with U+FFFD) gets "raw":{"<key>":"<hex of the bytes>",...} as its
 * last member, so a client can restore them byte for byte. Pure; returns 0
 * or -ENOMEM. */
int clew_http_query_put_record(struct clew_buf *b, const struct clew_record *r, int raw);

#endif
