/* SPDX-License-Identifier: MIT
 * listeners: clew-ship's local syslog and GELF listeners (--syslog ADDR,
 * --gelf ADDR; UDP and TCP on one port each), so that Docker's syslog and
 * gelf drivers can point at the node. They are clewd's own input modules
 * (collector/input.h) with clewd's defaults (message size, buffers,
 * connection limits), run on the agent's loop; every record they decode
 * goes whole into the Forward client as one entry (ship_encode), with no
 * file position to checkpoint. Owns the inputs, their config and their
 * environment; the loop and the Forward client are borrowed. Loop thread
 * only. */
#ifndef CLEW_LISTENERS_H
#define CLEW_LISTENERS_H

#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "clew/error.h"
#include "shipper/fwd_out.h"

/* The file id of the Forward mark a listener record is committed with: no
 * file (the tailer's ids start at 1); the agent skips it in acks. */
#define CLEW_LISTENERS_MARK_FILE 0u

struct clew_listeners;

/* Starts the syslog listener on syslog_addr and the GELF listener on
 * gelf_addr ("off" or "" leaves one out; both off starts nothing and
 * still returns a listeners object). loop and out are borrowed for the
 * object's life. Returns 0, or CLEW_EBADARG (an address that does not
 * parse), a bind error (-errno) or -ENOMEM, with err naming the option and
 * the address; *lp is NULL then and nothing is left listening (the
 * closes finish on the loop). */
int clew_listeners_open(uv_loop_t *loop, const char *syslog_addr, const char *gelf_addr,
                        struct clew_fwd_out *out, struct clew_listeners **lp,
                        char err[CLEW_ERR_LEN]);

/* Pauses the listeners when the Forward client's memory queue is full (TCP
 * stops reading, UDP datagrams are dropped and counted) and resumes them
 * when it has room again. Call after acks, and now and then; records
 * pushed call it too. NULL-safe; a no-op once stopped. */
void clew_listeners_pressure(struct clew_listeners *l);

/* Stops listening (closes sockets and connections; the inputs free
 * themselves in close callbacks on the loop). The counters are kept for
 * the status and the summary. Idempotent, NULL-safe. */
void clew_listeners_stop(struct clew_listeners *l);

/* Writes `"listeners":{"syslog":{"listen":..,"records":..,"bytes":..,
 * "datagrams":..,"connections":..,"open_connections":..,"udp_drops":..,
 * "errors":{"frame":..,...}},"gelf":{..}},"listener_pauses":N` (no
 * surrounding braces or commas) to f; `"listeners":{}` when none runs.
 * NULL-safe. */
void clew_listeners_write_status(struct clew_listeners *l, FILE *f);

/* A one-line summary of the counters for the stop log ("syslog 12 records
 * 4096 bytes 0 bad, gelf ..."; "none" without listeners) into buf. */
void clew_listeners_summary(struct clew_listeners *l, char *buf, size_t len);

/* Frees everything. Stop first and let the loop run the close callbacks
 * (the inputs borrow this object's config until then). NULL-safe. */
void clew_listeners_free(struct clew_listeners *l);

#endif
