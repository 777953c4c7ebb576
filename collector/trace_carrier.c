/* SPDX-License-Identifier: MIT
 * trace_carrier: W3C traceparent/tracestate and B3 header values (see
 * trace_carrier.h). Each parser trims the value, checks it whole against
 * the rules of its carrier and refuses it outright on any fault: a carrier
 * is taken as written or not at all. */
#include "collector/trace_carrier.h"

#include <string.h>

#include "collector/corr_bytes.h"

int clew_corr_traceparent_parse(const char *s, size_t len, struct clew_corr_traceparent *out)
{
    trim(&s, &len);
    if (len < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-') {
        return CLEW_EFORMAT;
    }
    if (!all_lhex(s, 2) || (s[0] == 'f' && s[1] == 'f') || !all_lhex(s + 3, 32) ||
        !all_lhex(s + 36, 16) || !all_lhex(s + 53, 2)) {
        return CLEW_EFORMAT;
    }
    if (all_char(s + 3, 32, '0') || all_char(s + 36, 16, '0')) {
        return CLEW_EFORMAT;
    }
    int v00 = s[0] == '0' && s[1] == '0';
    if ((v00 && len != 55) || (!v00 && len > 55 && s[55] != '-')) {
        return CLEW_EFORMAT;
    }
    if (out != NULL) {
        memcpy(out->trace_id, s + 3, 32);
        out->trace_id[32] = '\0';
        memcpy(out->span_id, s + 36, 16);
        out->span_id[16] = '\0';
        out->version = (uint8_t)(hexval((unsigned char)s[0]) << 4 | hexval((unsigned char)s[1]));
        out->flags = (uint8_t)(hexval((unsigned char)s[53]) << 4 | hexval((unsigned char)s[54]));
    }
    return 0;
}

static int ts_key_ok(const char *k, size_t n)
{
    /* Union of Level 1 (simple / tenant@system) and the draft's one rule:
     * [a-z0-9][a-z0-9_\-*'/@]{0,255} with at most one '@'. */
    if (n == 0 || n > 256 || !(is_lhex((unsigned char)k[0]) || (k[0] >= 'a' && k[0] <= 'z'))) {
        return 0;
    }
    int at = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)k[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                 c == '*' || c == '/' || c == '@';
        at += c == '@';
        if (!ok || at > 1) {
            return 0;
        }
    }
    return 1;
}

static int ts_member_ok(const char *m, size_t n)
{
    const char *eq = memchr(m, '=', n);
    if (eq == NULL || !ts_key_ok(m, (size_t)(eq - m))) {
        return 0;
    }
    const char *v = eq + 1;
    size_t vn = n - (size_t)(v - m);
    if (vn == 0 || vn > 256 || v[vn - 1] == ' ') {
        return 0;
    }
    for (size_t i = 0; i < vn; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c > 0x7e || c == ',' || c == '=') {
            return 0;
        }
    }
    return 1;
}

int clew_corr_tracestate_parse(const char *s, size_t len, struct clew_str *members, size_t max)
{
    size_t count = 0, i = 0;
    while (i <= len) {
        const char *c = memchr(s + i, ',', len - i);
        size_t end = c != NULL ? (size_t)(c - s) : len;
        const char *m = s + i;
        size_t n = end - i;
        trim(&m, &n);
        if (n > 0) {
            if (!ts_member_ok(m, n) || ++count > 32) {
                return CLEW_EFORMAT;
            }
            if (count <= max) {
                members[count - 1] = (struct clew_str){ m, n };
            }
        }
        i = end + 1;
    }
    return (int)count;
}

int clew_corr_b3_sampled(const char *s, size_t len)
{
    if (ieq(s, len, "1") || ieq(s, len, "true")) {
        return 1;
    }
    if (ieq(s, len, "0") || ieq(s, len, "false")) {
        return 0;
    }
    return -1;
}

static int b3_state(const char *s, size_t n)
{
    if (n == 1 && (s[0] == '0' || s[0] == '1')) {
        return s[0] - '0';
    }
    return n == 1 && s[0] == 'd' ? 2 : -2;
}

int clew_corr_b3_split(const char *s, size_t len, struct clew_corr_b3_view *v)
{
    memset(v, 0, sizeof(*v));
    v->sampled = -1;
    trim(&s, &len);
    if (len == 1) {
        v->sampled = b3_state(s, 1);
        return v->sampled >= 0 ? 0 : CLEW_EFORMAT;
    }
    size_t tl = len > 32 && s[32] == '-' ? 32 : 16;
    if (len < tl + 17 || s[tl] != '-' || !all_lhex(s, tl) || all_char(s, tl, '0') ||
        !all_lhex(s + tl + 1, 16) || all_char(s + tl + 1, 16, '0')) {
        return CLEW_EFORMAT;
    }
    v->trace = s;
    v->tlen = tl;
    v->span = s + tl + 1;
    const char *rest = s + tl + 17, *end = s + len;
    if (rest == end) {
        return 0;
    }
    if (*rest != '-' || end - rest < 2) {
        return CLEW_EFORMAT;
    }
    const char *dash = memchr(rest + 1, '-', (size_t)(end - rest - 1));
    size_t sl = dash != NULL ? (size_t)(dash - rest - 1) : (size_t)(end - rest - 1);
    v->sampled = b3_state(rest + 1, sl);
    if (v->sampled < 0) {
        return CLEW_EFORMAT;
    }
    if (dash != NULL) {
        if (end - dash != 17 || !all_lhex(dash + 1, 16) || all_char(dash + 1, 16, '0')) {
            return CLEW_EFORMAT;
        }
        v->parent = dash + 1;
    }
    return 0;
}

int clew_corr_b3_parse(const char *s, size_t len, struct clew_corr_b3 *out)
{
    struct clew_corr_b3_view v;
    int rc = clew_corr_b3_split(s, len, &v);
    memset(out, 0, sizeof(*out));
    out->sampled = -1;
    if (rc != 0) {
        return rc;
    }
    out->sampled = v.sampled;
    if (v.trace != NULL) {
        size_t pad = 32 - v.tlen;
        memset(out->trace_id, '0', pad);
        memcpy(out->trace_id + pad, v.trace, v.tlen);
        memcpy(out->span_id, v.span, 16);
    }
    if (v.parent != NULL) {
        memcpy(out->parent_span_id, v.parent, 16);
    }
    return 0;
}
