/* SPDX-License-Identifier: MIT
 * cmd_alerts: `clew alerts` (the alerts stored as records of service
 * clew-alerts by the rules' log action, read from a data directory or
 * through clewd's GET /api/v1/alerts) and `clew rules check FILE`. The
 * listing itself is shared with clewd's HTTP API. Main thread for the
 * commands; clew_alerts_list is reentrant (any thread). */
#ifndef CLEW_CMD_ALERTS_H
#define CLEW_CMD_ALERTS_H

#include <stdint.h>

#include "common/buf.h"

/* Appends the alerts stored in data_dir at or after since (ns), oldest
 * first, to out: one JSON object a line, {"ts": RFC 3339, then the alert's
 * keys: rule, status, count, window_s, group, first_ts, last_ts, samples,
 * annotations, labels, trace_ids}. Returns the number of alerts, or a
 * negative error (-ENOMEM, or the directory cannot be read). */
long clew_alerts_list(const char *data_dir, int64_t since, struct clew_buf *out);

/* Subcommands; argv[0] is the subcommand's name. Return an exit code. */
int clew_cmd_alerts(int argc, char **argv);
int clew_cmd_rules(int argc, char **argv);

#endif
