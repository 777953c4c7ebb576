/* SPDX-License-Identifier: MIT
 * json_out: writes records as the JSON objects of the --json contract
 * (docs/ARCHITECTURE.md): ts (RFC 3339 UTC, 9 fraction digits), host,
 * service, container_id, container_name, stream, level, message, trace_id,
 * span_id, parent_span_id, input, fields; plus "injected": true for records
 * whose trace id clew generated. Strings are escaped for JSON; bytes that
 * are not valid UTF-8 become U+FFFD (the stored message stays byte-exact).
 * Pure; any thread. */
#ifndef CLEW_JSON_OUT_H
#define CLEW_JSON_OUT_H

#include "clew/record.h"
#include "common/buf.h"

/* Appends a JSON string literal (quotes included) of s to b. */
int clew_json_put_str(struct clew_buf *b, const char *s, size_t len);

/* Appends the record as one JSON object, without a newline. */
int clew_json_put_record(struct clew_buf *b, const struct clew_record *r);

#endif
