/* SPDX-License-Identifier: MIT
 * metrics: renders every counter clewd keeps (inputs, pipeline, store) as
 * Prometheus text exposition format. Reads the counters without stopping
 * anyone: input counters are relaxed atomics, store and pipeline copy
 * theirs under their locks. Any thread. */
#ifndef CLEW_METRICS_H
#define CLEW_METRICS_H

#include "collector/input.h"
#include "collector/pipeline.h"
#include "collector/store.h"
#include "common/buf.h"

/* Appends the exposition of all counters to out. Any argument may be NULL
 * (its metrics are left out). */
void clew_metrics_write(struct clew_buf *out, struct clew_inputs *inputs,
                        const struct clew_input_stats *http, struct clew_pipeline *pipe,
                        struct clew_store *store);

#endif
