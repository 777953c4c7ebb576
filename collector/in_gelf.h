/* SPDX-License-Identifier: MIT
 * in_gelf: GELF over UDP (chunked, gzip/zlib/plain) and TCP (NUL-framed) on
 * one port, as Docker's gelf log driver, gelf-pro and syslog-ng send it.
 * Owns its sockets, the chunk reassembler and per-peer buffers; loop
 * thread only; hands decoded records to env->push (clewd: the pipeline;
 * clew-ship: its Forward client). Decoding lives in gelf_parse.c and
 * gelf_chunk.c. */
#ifndef CLEW_IN_GELF_H
#define CLEW_IN_GELF_H

#include "collector/input.h"

extern const struct clew_input_ops clew_in_gelf_ops;

#endif
