/* SPDX-License-Identifier: MIT
 * in_forward: Fluent Forward over TCP (Docker's fluentd driver, Fluent Bit,
 * fluent-logger). Owns its listener, a decoder per connection and the acks
 * each connection owes: a request with a `chunk` option is acked with
 * {"ack": chunk} only once the pipeline reports its records durable in the
 * WAL, in request order. Loop thread only. Decoding lives in
 * forward_parse.c. */
#ifndef CLEW_IN_FORWARD_H
#define CLEW_IN_FORWARD_H

#include "collector/input.h"

extern const struct clew_input_ops clew_in_forward_ops;

#endif
