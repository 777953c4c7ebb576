/* SPDX-License-Identifier: MIT
 * server: clewd as a whole. Owns the event loop, the store and the inputs;
 * handles signals (SIGTERM/SIGINT: flush and stop; SIGHUP: reopen the log).
 * Main thread only. */
#ifndef CLEW_SERVER_H
#define CLEW_SERVER_H

#include "clew/error.h"
#include "collector/config.h"

struct clew_server;

/* Opens the store (recovering the WAL) and binds the inputs of cfg.
 * cfg is borrowed for the server's life. *out is NULL on error. */
int clew_server_new(const struct clew_config *cfg, struct clew_server **out,
                    char err[CLEW_ERR_LEN]);

/* Runs until SIGTERM or SIGINT; then stops the inputs and seals the
 * memtable. Returns 0 on a clean stop. */
int clew_server_run(struct clew_server *s);

/* NULL-safe. */
void clew_server_free(struct clew_server *s);

#endif
