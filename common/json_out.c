/* SPDX-License-Identifier: MIT */
#include "common/json_out.h"

#include <stdio.h>
#include <string.h>

#include "common/timeutil.h"

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n > left) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are invalid. */
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return n;
}

int clew_json_put_str(struct clew_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int rc = clew_buf_reserve(b, len + 2);
    if (rc < 0) {
        return rc;
    }
    clew_buf_put_u8(b, '"');
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len && rc == 0) {
        size_t run = i;
        /* Copy the longest run of bytes that need no escaping at once. */
        while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\') {
            run++;
        }
        if (run > i) {
            rc = clew_buf_append(b, p + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t n = utf8_len(p + i, len - i);
            rc = n ? clew_buf_append(b, p + i, n) : clew_buf_append(b, "\xef\xbf\xbd", 3);
            i += n ? n : 1;
            continue;
        }
        char esc[6] = { '\\', (char)c, 0, 0, 0, 0 };
        size_t n = 2;
        switch (c) {
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '"':
        case '\\':
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        rc = clew_buf_append(b, esc, n);
        i++;
    }
    return rc < 0 ? rc : clew_buf_put_u8(b, '"');
}

static int put_key_str(struct clew_buf *b, const char *key, struct clew_str v)
{
    int rc = clew_buf_append(b, key, strlen(key));
    return rc < 0 ? rc : clew_json_put_str(b, v.ptr, v.len);
}

int clew_json_put_record(struct clew_buf *b, const struct clew_record *r)
{
    char ts[40], num[16];
    int n = clew_time_format(r->ts, 9, ts, sizeof(ts));
    int rc = clew_buf_append(b, "{\"ts\":\"", 7);
    rc = rc ? rc : clew_buf_append(b, ts, (size_t)n);
    rc = rc ? rc : clew_buf_put_u8(b, '"');
    static const char *const label_keys[CLEW_LABEL_COUNT] = {
        ",\"host\":", ",\"service\":", ",\"container_id\":", ",\"container_name\":", ",\"stream\":",
    };
    for (int i = 0; i < CLEW_LABEL_COUNT && rc == 0; i++) {
        rc = put_key_str(b, label_keys[i], r->labels[i]);
    }
    n = snprintf(num, sizeof(num), ",\"level\":%u", r->level);
    rc = rc ? rc : clew_buf_append(b, num, (size_t)n);
    rc = rc ? rc : put_key_str(b, ",\"message\":", r->message);
    rc = rc ? rc : put_key_str(b, ",\"trace_id\":", r->trace_id);
    rc = rc ? rc : put_key_str(b, ",\"span_id\":", r->span_id);
    rc = rc ? rc : put_key_str(b, ",\"parent_span_id\":", r->parent_span_id);
    const char *in = clew_input_name(r->input);
    rc = rc ? rc : put_key_str(b, ",\"input\":", (struct clew_str){ in, strlen(in) });
    rc = rc ? rc : clew_buf_append(b, ",\"fields\":", 10);
    if (r->fields.len > 0) {
        rc = rc ? rc : clew_buf_append(b, r->fields.ptr, r->fields.len);
    } else {
        rc = rc ? rc : clew_buf_append(b, "{}", 2);
    }
    if (r->flags & CLEW_REC_INJECTED) {
        rc = rc ? rc : clew_buf_append(b, ",\"injected\":true", 16);
    }
    return rc ? rc : clew_buf_put_u8(b, '}');
}
