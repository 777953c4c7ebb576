/* SPDX-License-Identifier: MIT */
#include "common/rec_copy.h"

#include <errno.h>
#include <string.h>

void clew_rec_strings(struct clew_record *r, struct clew_str *out[CLEW_REC_NSTRINGS])
{
    for (int i = 0; i < CLEW_LABEL_COUNT; i++) {
        out[i] = &r->labels[i];
    }
    out[5] = &r->message;
    out[6] = &r->trace_id;
    out[7] = &r->span_id;
    out[8] = &r->parent_span_id;
    out[9] = &r->fields;
}

int clew_rec_copy(struct clew_record *dst, const struct clew_record *src, struct clew_arena *a)
{
    *dst = *src;
    struct clew_str *s[CLEW_REC_NSTRINGS];
    clew_rec_strings(dst, s);
    for (int i = 0; i < CLEW_REC_NSTRINGS; i++) {
        if (s[i]->len == 0) {
            s[i]->ptr = "";
            continue;
        }
        const char *d = clew_arena_dup(a, s[i]->ptr, s[i]->len);
        if (d == NULL) {
            return -ENOMEM;
        }
        s[i]->ptr = d;
    }
    return 0;
}

int clew_rec_link_id(const struct clew_record *r, struct clew_str *out)
{
    static const char key[] = "\"link_id\":\"";
    const size_t klen = sizeof(key) - 1;
    if (r->fields.len <= klen) {
        return 0;
    }
    const char *p = r->fields.ptr, *end = p + r->fields.len;
    while ((size_t)(end - p) > klen) {
        const char *hit = memchr(p, '"', (size_t)(end - p));
        if (hit == NULL || (size_t)(end - hit) <= klen) {
            return 0;
        }
        if (memcmp(hit, key, klen) != 0) {
            p = hit + 1;
            continue;
        }
        const char *v = hit + klen, *q = v;
        while (q < end && *q != '"' && *q != '\\') {
            q++;
        }
        if (q == end || *q != '"' || q == v) {
            return 0;
        }
        *out = (struct clew_str){ v, (size_t)(q - v) };
        return 1;
    }
    return 0;
}
