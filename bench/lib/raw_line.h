/* SPDX-License-Identifier: MIT
 * raw_line: a record as the raw text line a container printed (bench/gen's
 * .log format): `<ts> <host> <service>[<container>] <level> <message>`, a
 * structured line's message being the JSON object the service printed. The
 * benchmarks compress and grep these lines as the reference. */
#ifndef CLEW_RAW_LINE_H
#define CLEW_RAW_LINE_H

#include <stdio.h>

#include "clew/record.h"
#include "common/buf.h"

/* Writes r's line and a newline to f; b is scratch space. */
void clew_bench_write_raw(FILE *f, struct clew_buf *b, const struct clew_record *r);

#endif
