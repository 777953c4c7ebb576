/* SPDX-License-Identifier: MIT
 * in_syslog: RFC 5424/3164 syslog over UDP and TCP on one port (TCP framing
 * auto-detected per connection: octet counting, LF or NUL). Owns its
 * sockets and per-peer framers; loop thread only; hands decoded records to
 * env->push (clewd: the pipeline; clew-ship: its Forward client). Parsing
 * lives in syslog_parse.c, framing in syslog_frame.c. */
#ifndef CLEW_IN_SYSLOG_H
#define CLEW_IN_SYSLOG_H

#include "collector/input.h"

extern const struct clew_input_ops clew_in_syslog_ops;

#endif
