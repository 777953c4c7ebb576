/* SPDX-License-Identifier: MIT
 * forward_json: the JSON text forward_parse makes of msgpack values (a
 * record's `fields` object and a structured `message`). The text is byte
 * for byte what jansson's json_dump_callback(JSON_COMPACT |
 * JSON_ENCODE_ANY) prints for the value built with jansson: str and bin
 * become strings with U+FFFD for invalid UTF-8, EventTime ext values RFC
 * 3339 strings, other ext values "ext:TYPE:HEX", integer map keys their
 * decimal text, and a repeated key keeps its first place and its last
 * value. A direct writer prints the common values; what it cannot print the
 * same way (repeated or non-string keys, keys with invalid UTF-8 or NUL,
 * maps of more than 64 keys) goes through jansson. Pure; any thread, one
 * at a time per buffer. */
#ifndef CLEW_FORWARD_JSON_H
#define CLEW_FORWARD_JSON_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "clew/record.h"
#include "common/buf.h"

/* Appends the JSON text of o to out. ref = 1 builds it with jansson only
 * (the reference the direct writer is tested against). Returns 0, or
 * -ENOMEM with out as it was. */
int clew_fwd_json_value(struct clew_buf *out, const msgpack_object *o, int ref);

/* A fields object: {"tag": tag, "metadata": meta (when it is a map that is
 * not empty), then every pair of map but those whose index is in skip}. */
struct clew_fwd_json_fields {
    struct clew_str tag;
    const msgpack_object *meta;    /* NULL or Fluent Bit's entry metadata */
    const msgpack_object_map *map; /* the record                          */
    const int32_t *skip;           /* pair indexes taken by columns       */
    size_t nskip;
};

/* Appends the fields object f describes to out; ref as above. Returns 0, or
 * -ENOMEM with out as it was. */
int clew_fwd_json_fields(struct clew_buf *out, const struct clew_fwd_json_fields *f, int ref);

#endif
