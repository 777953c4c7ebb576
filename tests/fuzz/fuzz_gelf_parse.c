/* SPDX-License-Identifier: MIT
 * Fuzzes clew_gelf_parse on arbitrary bytes (plain, gzip, zlib payloads).
 * Beyond "no crash": a decoded record must be sane and its fields must be a
 * valid JSON object. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/gelf_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch(struct clew_str s)
{
    volatile uint8_t sink = 0;
    if (s.len != 0 && s.ptr == NULL) {
        abort();
    }
    for (size_t i = 0; i < s.len; i++) {
        sink ^= (uint8_t)s.ptr[i];
    }
    (void)sink;
}

static void check(const struct clew_record *r, const struct clew_gelf_parse_opts *o)
{
    if (r->level > 7 || r->input != CLEW_INPUT_GELF) {
        abort();
    }
    if (o->max_message != 0 && r->message.len > o->max_message) {
        abort();
    }
    for (int i = 0; i < CLEW_LABEL_COUNT; i++) {
        touch(r->labels[i]);
    }
    touch(r->message);
    touch(r->trace_id);
    touch(r->span_id);
    touch(r->parent_span_id);
    if (r->fields.len != 0) {
        json_error_t err;
        json_t *f = json_loadb(r->fields.ptr, r->fields.len, JSON_ALLOW_NUL, &err);
        if (f == NULL || !json_is_object(f)) {
            abort();
        }
        json_decref(f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct clew_arena arena;
    struct clew_record rec;
    struct clew_gelf_stats st = { 0, 0 };
    struct clew_gelf_parse_opts o = { .max_size = 1 << 18,
                                      .max_message = size % 3 == 0 ? 16 : 0,
                                      .stats = &st };
    clew_arena_init(&arena, 1024);
    if (clew_gelf_parse(data, size, 1, &o, &rec, &arena) == 0) {
        check(&rec, &o);
    }
    clew_arena_close(&arena);
    return 0;
}
