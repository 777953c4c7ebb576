/* SPDX-License-Identifier: MIT
 * Fuzzes clew_syslog_parse on arbitrary bytes. Beyond "no crash, no
 * sanitizer report" it checks the contract: every string of the record lies
 * borrowed from the input (ids may be lower-cased copies), the level is 0-7, and
 * `fields` (when present) loads as strict JSON without duplicate keys. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/syslog_parse.h"
#include "common/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(struct clew_str s, const char *base, size_t n)
{
    return s.len == 0 || (s.ptr >= base && s.ptr + s.len <= base + n);
}

/* Ids are lower-cased (and then live in the arena) or borrowed as they are. */
static int lower(struct clew_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] >= 'A' && s.ptr[i] <= 'Z') {
            return 0;
        }
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy into an exact-size buffer so ASan catches any overread. */
    char *msg = malloc(size ? size : 1);
    if (msg == NULL) {
        return 0;
    }
    memcpy(msg, data, size);
    struct clew_arena arena;
    clew_arena_init(&arena, 1024);
    struct clew_syslog_parse_opts opts = { .bsd_tz_offset = size > 0 ? (data[0] - 128) * 900 : 0 };
    struct clew_record r;
    int rc = clew_syslog_parse(msg, size, 1795897778710192000LL, &opts, &r, &arena);
    if (rc < 0 || r.level > 7 || r.input != CLEW_INPUT_SYSLOG || !inside(r.message, msg, size) ||
        !inside(r.labels[CLEW_LABEL_HOST], msg, size) ||
        !inside(r.labels[CLEW_LABEL_SERVICE], msg, size) || !lower(r.trace_id) ||
        !lower(r.span_id) || !lower(r.parent_span_id)) {
        abort();
    }
    if (rc == 0) {
        json_error_t err;
        json_t *j = json_loadb(r.fields.ptr, r.fields.len, JSON_REJECT_DUPLICATES, &err);
        if (j == NULL || !json_is_object(j)) {
            abort();
        }
        json_decref(j);
    } else if (rc != CLEW_SYSLOG_PARSE_NOPRI || r.fields.len != 0) {
        abort();
    }
    clew_arena_close(&arena);
    free(msg);
    return 0;
}
