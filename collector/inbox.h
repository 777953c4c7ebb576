/* SPDX-License-Identifier: MIT
 * inbox: hands records produced on other threads (the HTTP server's POST
 * /gelf) to the loop thread, where they join the pipeline like any input's
 * records (and so get correlation and alert rules). Copies the records;
 * bounded in bytes (a full inbox refuses with CLEW_ETOOBIG, the HTTP
 * handler answers 503). Producers: any thread; consumer: the loop. */
#ifndef CLEW_INBOX_H
#define CLEW_INBOX_H

#include <stddef.h>
#include <uv.h>

#include "clew/record.h"

struct clew_inbox;

/* Called on the loop thread for each record (borrowed until return). */
typedef void (*clew_inbox_cb)(void *ud, const struct clew_record *r);

int clew_inbox_new(uv_loop_t *loop, size_t max_bytes, clew_inbox_cb cb, void *ud,
                   struct clew_inbox **out);
/* Copies recs[0..n) in. Any thread. Returns 0, CLEW_ETOOBIG or -ENOMEM. */
int clew_inbox_put(struct clew_inbox *in, const struct clew_record *recs, size_t n);
/* Delivers what is queued, then closes (async; frees in the close callback).
 * Loop thread; no producer may call put afterwards. */
void clew_inbox_close(struct clew_inbox *in);

#endif
