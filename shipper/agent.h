/* SPDX-License-Identifier: MIT
 * agent: clew-ship as a whole. Owns the event loop, the state directory
 * (lock, checkpoint, disk buffer, status.json), the tailer, the local
 * syslog/GELF listeners, the Forward client and the timers that drive
 * them: scan for files, read (and listen) while the output has room, save
 * the acknowledged positions, write the status.
 * Handles SIGTERM/SIGINT (wait up to drain-timeout for acks, spill the rest
 * to the disk buffer when there is one, save the checkpoint, exit 0). Logs
 * through common/log. Main thread only. */
#ifndef CLEW_AGENT_H
#define CLEW_AGENT_H

#include "clew/error.h"
#include "shipper/ship_config.h"

struct clew_agent;

/* Locks and opens the state directory (creating it), loads the checkpoint,
 * opens the disk buffer, prepares the tailer and the Forward client and
 * starts the listeners (--syslog, --gelf: a bind failure is an error).
 * cfg is borrowed for the agent's life. Returns 0, or an error with err set
 * (a missing or unreadable path is named); *out is NULL then. */
int clew_agent_new(const struct clew_ship_config *cfg, struct clew_agent **out,
                   char err[CLEW_ERR_LEN]);

/* Runs until SIGTERM or SIGINT (or a fatal error). Returns 0 on a clean
 * stop. */
int clew_agent_run(struct clew_agent *a);

/* NULL-safe. */
void clew_agent_free(struct clew_agent *a);

#endif
