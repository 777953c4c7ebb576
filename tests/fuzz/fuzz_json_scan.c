/* SPDX-License-Identifier: MIT
 * Fuzzes json_scan against jansson as the oracle. A text jansson loads
 * (JSON_ALLOW_NUL | JSON_DECODE_ANY) must be accepted by the strict scanner
 * and vice versa; for accepted texts every value must agree: kinds, decoded
 * strings, integers, doubles bit for bit, object keys in jansson's order with
 * jansson's duplicate rule (first position, last value), array elements. The
 * repairing scanner must accept a superset, with decoded lengths exactly as
 * announced (buffers are sized to dlen, so ASan sees any overrun) and with
 * repaired strings that jansson takes as valid UTF-8. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_scan.h"

#define JANSSON_OPTS (CLEW_JSON_NO_NUL_KEY | CLEW_JSON_NUL_AFTER)
#define MAX_KEYS     256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

static char *decoded(const struct clew_json_val *v)
{
    char *out = malloc(v->dlen ? v->dlen : 1);
    check(out != NULL && clew_json_str_decode(v, out) == v->dlen);
    return out;
}

static bool same_string(const struct clew_json_val *v, const json_t *j)
{
    char *s = decoded(v);
    bool ok = json_is_string(j) && json_string_length(j) == v->dlen &&
              memcmp(s, json_string_value(j), v->dlen) == 0;
    free(s);
    return ok;
}

static bool same_number(const struct clew_json_val *v, const json_t *j)
{
    int64_t i;
    double d, want;
    if (!(v->flags & CLEW_JSON_F_REAL)) {
        return json_is_integer(j) && clew_json_num_i64(v, &i) == 0 && i == json_integer_value(j);
    }
    if (!json_is_real(j) || clew_json_num_f64(v, &d) != 0) {
        return false;
    }
    want = json_real_value(j);
    return memcmp(&d, &want, sizeof(d)) == 0;
}

static bool same_value(const struct clew_json_val *v, const json_t *j);

struct members {
    struct clew_json_val key[MAX_KEYS], val[MAX_KEYS];
    char *name[MAX_KEYS];
    size_t n;
};

static void members_free(struct members *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->name[i]);
    }
    free(m);
}

/* Index of the first member named like key, or n. */
static size_t first_named(const struct members *m, const char *key, size_t klen)
{
    for (size_t i = 0; i < m->n; i++) {
        if (m->key[i].dlen == klen && memcmp(m->name[i], key, klen) == 0) {
            return i;
        }
    }
    return m->n;
}

/* jansson keeps a key's first position and its last value: walk its keys in
 * order; their first occurrences must come in the same order, and no other
 * distinct key may exist. */
static bool same_members(const struct members *m, const json_t *j)
{
    const char *key;
    size_t klen, at = 0, distinct = 0;
    json_t *val;
    for (size_t i = 0; i < m->n; i++) {
        distinct += first_named(m, m->name[i], m->key[i].dlen) == i ? 1 : 0;
    }
    json_object_keylen_foreach((json_t *)(uintptr_t)j, key, klen, val)
    {
        size_t first = first_named(m, key, klen), last = first;
        for (size_t i = first; i < m->n; i++) {
            last = m->key[i].dlen == klen && memcmp(m->name[i], key, klen) == 0 ? i : last;
        }
        if (first == m->n || first < at || !same_value(&m->val[last], val)) {
            return false;
        }
        at = first + 1;
    }
    return json_object_size(j) == distinct;
}

static bool same_object(const struct clew_json_val *v, const json_t *j)
{
    struct members *m = calloc(1, sizeof(*m));
    struct clew_json_scan s;
    check(m != NULL);
    clew_json_scan_init(&s, v->ptr, v->len, JANSSON_OPTS, 0);
    check(clew_json_scan_enter(&s) == CLEW_JSON_OBJECT);
    while (m->n < MAX_KEYS && clew_json_scan_member(&s, &m->key[m->n], &m->val[m->n]) == 1) {
        m->name[m->n] = decoded(&m->key[m->n]);
        m->n++;
    }
    /* Objects with too many keys to compare here only need to be objects. */
    bool ok = json_is_object(j) && (m->n == MAX_KEYS || same_members(m, j));
    members_free(m);
    return ok;
}

static bool same_array(const struct clew_json_val *v, const json_t *j)
{
    struct clew_json_scan s;
    struct clew_json_val e;
    size_t i = 0;
    clew_json_scan_init(&s, v->ptr, v->len, JANSSON_OPTS, 0);
    check(clew_json_scan_enter(&s) == CLEW_JSON_ARRAY);
    if (!json_is_array(j)) {
        return false;
    }
    while (clew_json_scan_item(&s) == 1) {
        check(clew_json_scan_value(&s, &e) == 0);
        if (i >= json_array_size(j) || !same_value(&e, json_array_get(j, i))) {
            return false;
        }
        i++;
    }
    return i == json_array_size(j);
}

static bool same_value(const struct clew_json_val *v, const json_t *j)
{
    switch (v->kind) {
    case CLEW_JSON_OBJECT:
        return same_object(v, j);
    case CLEW_JSON_ARRAY:
        return same_array(v, j);
    case CLEW_JSON_STRING:
        return same_string(v, j);
    case CLEW_JSON_NUMBER:
        return same_number(v, j);
    case CLEW_JSON_TRUE:
        return json_is_true(j);
    case CLEW_JSON_FALSE:
        return json_is_false(j);
    default:
        return json_is_null(j);
    }
}

/* Every string of a repaired text decodes to valid UTF-8 of the announced
 * length: walk it all. */
static void check_repaired(const struct clew_json_val *v)
{
    struct clew_json_scan s;
    struct clew_json_val k, e;
    if (v->kind == CLEW_JSON_STRING) {
        char *d = decoded(v);
        json_t *j = json_stringn(d, v->dlen);
        check(j != NULL);
        json_decref(j);
        free(d);
        return;
    }
    if (v->kind != CLEW_JSON_OBJECT && v->kind != CLEW_JSON_ARRAY) {
        return;
    }
    clew_json_scan_init(&s, v->ptr, v->len, CLEW_JSON_REPAIR | JANSSON_OPTS, 0);
    int kind = clew_json_scan_enter(&s);
    while (kind == CLEW_JSON_OBJECT
               ? clew_json_scan_member(&s, &k, &e) == 1
               : clew_json_scan_item(&s) == 1 && clew_json_scan_value(&s, &e) == 0) {
        if (kind == CLEW_JSON_OBJECT) {
            check_repaired(&k);
        }
        check_repaired(&e);
    }
}

static int scan(const uint8_t *data, size_t size, unsigned opts, struct clew_json_val *v,
                size_t *fixes)
{
    struct clew_json_scan s;
    clew_json_scan_init(&s, data, size, opts, 0);
    int rc = clew_json_scan_value(&s, v);
    *fixes = s.fixes;
    return rc != 0 ? rc : clew_json_scan_end(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct clew_json_val v, r;
    size_t fixes, rfixes;
    json_error_t err;
    json_t *j = json_loadb((const char *)data, size, JSON_ALLOW_NUL | JSON_DECODE_ANY, &err);
    int rc = scan(data, size, JANSSON_OPTS, &v, &fixes);
    int rrc = scan(data, size, CLEW_JSON_REPAIR | JANSSON_OPTS, &r, &rfixes);
    if (j == NULL && json_error_code(&err) == json_error_out_of_memory) {
        return 0;
    }
    check((j != NULL) == (rc == 0));
    check(rc != 0 || (fixes == 0 && same_value(&v, j)));
    /* Repair only widens what is accepted; without fixes it changes nothing. */
    check(rc != 0 || (rrc == 0 && rfixes == 0 && r.len == v.len));
    check(rrc != 0 || rc == 0 || rfixes > 0);
    if (rrc == 0) {
        check_repaired(&r);
    }
    json_decref(j);
    return 0;
}
