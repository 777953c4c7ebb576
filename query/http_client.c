/* SPDX-License-Identifier: MIT
 * libcurl is loaded with dlopen the first time a request is made, not
 * linked: it drags some thirty shared libraries (TLS, LDAP, SSH, Kerberos)
 * whose loading and relocation cost every `clew` command several
 * milliseconds, while only --server needs it. <curl/curl.h> is included
 * for its types and constants only; every call goes through `curl` below. */
#include "query/http_client.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/json_scan.h"
#include "common/timeutil.h"

#define MAX_VALUE   (512u << 20) /* largest single value accepted from clewd    */
#define MAX_ERRBODY (64u << 10)  /* body of an error answer kept for its message */

int clew_http_url_escape(struct clew_buf *url, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL;
        char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };
        rc = plain ? clew_buf_put_u8(url, *p) : clew_buf_append(url, esc, 3);
    }
    rc = rc ? rc : clew_buf_put_u8(url, '\0');
    if (rc == 0) {
        url->len--; /* the NUL stays behind the end */
    }
    return rc;
}

int clew_http_url_add(struct clew_buf *url, const char *key, const char *value)
{
    int first = url->len == 0 || memchr(url->data, '?', url->len) == NULL;
    int rc = clew_buf_put_u8(url, first ? '?' : '&');
    rc = rc ? rc : clew_buf_append(url, key, strlen(key));
    rc = rc ? rc : clew_buf_put_u8(url, '=');
    return rc ? rc : clew_http_url_escape(url, value);
}

/* ------------------------------------------------------------ libcurl */

#define LIBCURL_SONAME "libcurl.so.4"

/* The libcurl functions this file calls, once loaded. */
static struct {
    void *handle;
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *c);
    CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *c);
    const char *(*easy_strerror)(CURLcode cc);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
} curl;

/* dlsym's object pointer as a function pointer (POSIX guarantees it fits). */
static int load_sym(void *h, const char *name, void *fp, size_t size)
{
    void *p = dlsym(h, name);
    if (p == NULL) {
        return -1;
    }
    memcpy(fp, &p, size);
    return 0;
}

#define LOAD(h, field, name) load_sym(h, name, &curl.field, sizeof(curl.field))

static int load_syms(void *h)
{
    return LOAD(h, global_init, "curl_global_init") | LOAD(h, easy_init, "curl_easy_init") |
           LOAD(h, easy_setopt, "curl_easy_setopt") | LOAD(h, easy_perform, "curl_easy_perform") |
           LOAD(h, easy_getinfo, "curl_easy_getinfo") | LOAD(h, easy_cleanup, "curl_easy_cleanup") |
           LOAD(h, easy_strerror, "curl_easy_strerror") |
           LOAD(h, slist_append, "curl_slist_append") |
           LOAD(h, slist_free_all, "curl_slist_free_all");
}

int clew_http_curl_load(const char *soname, char err[CLEW_ERR_LEN])
{
    if (curl.handle != NULL) {
        return 0;
    }
    soname = soname != NULL ? soname : LIBCURL_SONAME;
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *why = dlerror();
        snprintf(err, CLEW_ERR_LEN,
                 "--server needs libcurl, which did not load (%s); install libcurl4 "
                 "(scripts/install-deps.sh) or use --data DIR",
                 why != NULL ? why : soname);
        return CLEW_ENOTFOUND;
    }
    if (load_syms(h) != 0 || curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, CLEW_ERR_LEN,
                 "%s: not a usable libcurl (a function is missing, or "
                 "it did not initialise)",
                 soname);
        dlclose(h);
        memset(&curl, 0, sizeof(curl));
        return -EIO;
    }
    curl.handle = h; /* kept until exit: libcurl has no safe unload */
    return 0;
}

/* ------------------------------------------------------------ transfer */

/* The state of one transfer. */
struct xfer {
    const struct clew_http_req *req;
    CURL *curl;
    struct clew_http_meta meta;
    struct clew_buf *body; /* clew_http_get: the body                  */
    clew_http_value_cb cb; /* clew_http_get_stream: the values         */
    void *ud;
    int cb_rc;               /* what stopped the transfer                */
    struct clew_buf pending; /* stream: the value being read             */
    int depth, in_str, esc;  /* stream: where the scanner is in it       */
    size_t scanned;          /* stream: bytes of pending scanned         */
    struct clew_buf errbody; /* the body of a non-200 answer             */
};

static long header_num(const char *v, size_t n)
{
    char tmp[24];
    n = n < sizeof(tmp) - 1 ? n : sizeof(tmp) - 1;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    return strtol(tmp, NULL, 10);
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    static const char *const names[] = { "X-Clew-Records:", "X-Clew-Ids:", "X-Clew-Truncated:" };
    for (size_t i = 0; i < 3; i++) {
        size_t k = strlen(names[i]);
        if (len > k && strncasecmp(p, names[i], k) == 0) {
            long v = header_num(p + k, len - k);
            if (i == 0) {
                x->meta.records = v;
            } else if (i == 1) {
                x->meta.ids = v;
            } else {
                x->meta.truncated = v != 0;
            }
        }
    }
    return len;
}

/* Hands the complete value in x->pending to the callback. */
static int flush_value(struct xfer *x)
{
    struct clew_buf *b = &x->pending;
    size_t s = 0, e = b->len;
    while (s < e && (b->data[s] == ' ' || b->data[s] == '\n' || b->data[s] == '\r')) {
        s++;
    }
    while (e > s && (b->data[e - 1] == ' ' || b->data[e - 1] == '\n' || b->data[e - 1] == '\r')) {
        e--;
    }
    int rc = e > s ? x->cb(x->ud, (const char *)b->data + s, e - s) : 0;
    clew_buf_reset(b);
    x->scanned = 0;
    return rc;
}

/* Splits the stream into top-level values: a newline outside any string
 * or bracket ends one. */
static int feed_stream(struct xfer *x, const char *p, size_t len)
{
    if (clew_buf_append(&x->pending, p, len) < 0) {
        return -ENOMEM;
    }
    for (size_t i = x->scanned; i < x->pending.len; i++) {
        char c = (char)x->pending.data[i];
        if (x->in_str) {
            x->esc = !x->esc && c == '\\';
            x->in_str = x->esc || c != '"';
            continue;
        }
        x->in_str = c == '"';
        x->depth += (c == '{' || c == '[') - (c == '}' || c == ']');
        if (c == '\n' && x->depth <= 0) {
            x->depth = 0;
            size_t rest = x->pending.len - i - 1;
            x->pending.len = i + 1;
            int rc = flush_value(x);
            if (rc != 0) {
                return rc;
            }
            if (clew_buf_append(&x->pending, p + len - rest, rest) < 0) {
                return -ENOMEM;
            }
            i = (size_t)-1; /* rescan what followed */
        }
    }
    x->scanned = x->pending.len;
    return x->pending.len > MAX_VALUE ? CLEW_ETOOBIG : 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    if (x->meta.status < 0) {
        curl.easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->meta.status);
    }
    if (x->meta.status != 200) {
        size_t room = MAX_ERRBODY - x->errbody.len;
        clew_buf_append(&x->errbody, p, len < room ? len : room);
        return len;
    }
    int rc = x->body != NULL ? clew_buf_append(x->body, p, len) : feed_stream(x, p, len);
    if (rc != 0) {
        x->cb_rc = rc;
        return 0; /* aborts the transfer */
    }
    return len;
}

/* The base URL without trailing slashes, for messages and requests. */
static int base_len(const char *server)
{
    size_t n = strlen(server);
    while (n > 0 && server[n - 1] == '/') {
        n--;
    }
    return (int)n;
}

/* clewd's {"error": "..."} message, or the start of the body. */
static void error_message(struct clew_buf *body, char *out, size_t outlen)
{
    struct clew_json_scan sc;
    struct clew_json_val k, v;
    clew_json_scan_init(&sc, body->data, body->len, CLEW_JSON_REPAIR, 8);
    snprintf(out, outlen, "%.*s", (int)(body->len < 200 ? body->len : 200),
             body->len ? (const char *)body->data : "");
    if (clew_json_scan_enter(&sc) != CLEW_JSON_OBJECT) {
        return;
    }
    while (clew_json_scan_member(&sc, &k, &v) == 1) {
        if (k.len == 7 && memcmp(k.ptr, "\"error\"", 7) == 0 && v.kind == CLEW_JSON_STRING &&
            v.dlen < outlen) {
            out[clew_json_str_decode(&v, out)] = '\0';
            return;
        }
    }
}

static int status_error(struct xfer *x, char err[CLEW_ERR_LEN])
{
    const char *srv = x->req->server;
    int n = base_len(srv);
    char msg[CLEW_ERR_LEN];
    error_message(&x->errbody, msg, sizeof(msg));
    switch (x->meta.status) {
    case 400:
        snprintf(err, CLEW_ERR_LEN, "%s", msg);
        return CLEW_EBADARG;
    case 401:
        snprintf(err, CLEW_ERR_LEN,
                 "clewd at %.*s wants a bearer token: set $CLEW_TOKEN or use --token (%s)", n, srv,
                 msg);
        return -EACCES;
    case 404:
        snprintf(err, CLEW_ERR_LEN, "clewd at %.*s: %s (%s; an older clewd?)", n, srv, msg,
                 x->req->path);
        return CLEW_ENOTFOUND;
    case 503:
        snprintf(err, CLEW_ERR_LEN, "clewd at %.*s: %s", n, srv, msg);
        return -EAGAIN;
    default:
        snprintf(err, CLEW_ERR_LEN, "clewd at %.*s: HTTP %ld: %s", n, srv, x->meta.status, msg);
        return -EPROTO;
    }
}

static int curl_error(struct xfer *x, CURLcode cc, const char *detail, char err[CLEW_ERR_LEN])
{
    const char *srv = x->req->server;
    int n = base_len(srv);
    if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
        cc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(err, CLEW_ERR_LEN,
                 "cannot reach clewd at %.*s (is it running? use --data DIR to read a data "
                 "directory)",
                 n, srv);
        return -ECONNREFUSED;
    }
    snprintf(err, CLEW_ERR_LEN, "clewd at %.*s: %s", n, srv,
             detail[0] ? detail : curl.easy_strerror(cc));
    return -EIO;
}

static int set_options(struct xfer *x, struct curl_slist **hdrs, struct clew_buf *url)
{
    const char *token = x->req->token ? x->req->token : getenv("CLEW_TOKEN");
    int rc = clew_buf_append(url, x->req->server, (size_t)base_len(x->req->server));
    rc = rc ? rc : clew_buf_append(url, x->req->path, strlen(x->req->path));
    rc = rc ? rc : clew_buf_put_u8(url, '\0');
    if (rc == 0 && token != NULL && token[0] != '\0') {
        struct clew_buf h;
        clew_buf_init(&h);
        rc = clew_buf_append(&h, "Authorization: Bearer ", 22);
        rc = rc ? rc : clew_buf_append(&h, token, strlen(token) + 1);
        struct curl_slist *l = rc ? NULL : curl.slist_append(NULL, (const char *)h.data);
        clew_buf_close(&h);
        rc = rc ? rc : l == NULL ? -ENOMEM : 0;
        *hdrs = l;
    }
    if (rc < 0) {
        return rc;
    }
    CURL *c = x->curl;
    curl.easy_setopt(c, CURLOPT_URL, (const char *)url->data);
    curl.easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
    curl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl.easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl.easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl.easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl.easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl.easy_setopt(c, CURLOPT_USERAGENT, "clew");
    return 0;
}

static int perform(struct xfer *x, char err[CLEW_ERR_LEN])
{
    x->meta = (struct clew_http_meta){ -1, -1, -1, 0 };
    int rc = clew_http_curl_load(NULL, err);
    if (rc < 0) {
        return rc;
    }
    char detail[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    struct clew_buf url;
    clew_buf_init(&url);
    clew_buf_init(&x->pending);
    clew_buf_init(&x->errbody);
    rc = (x->curl = curl.easy_init()) == NULL ? -ENOMEM : set_options(x, &hdrs, &url);
    if (rc == 0) {
        curl.easy_setopt(x->curl, CURLOPT_ERRORBUFFER, detail);
        CURLcode cc = curl.easy_perform(x->curl);
        curl.easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->meta.status);
        rc = x->cb_rc != 0                       ? x->cb_rc
             : cc != CURLE_OK                    ? curl_error(x, cc, detail, err)
             : x->meta.status != 200             ? status_error(x, err)
             : x->body == NULL && x->pending.len ? flush_value(x)
                                                 : 0;
    } else {
        snprintf(err, CLEW_ERR_LEN, "out of memory");
    }
    if (x->cb_rc < 0 && x->cb_rc != -EPIPE) {
        snprintf(err, CLEW_ERR_LEN, "reading from clewd: %s", clew_strerror(x->cb_rc));
    }
    if (x->curl != NULL) {
        curl.easy_cleanup(x->curl);
    }
    curl.slist_free_all(hdrs);
    clew_buf_close(&url);
    clew_buf_close(&x->pending);
    clew_buf_close(&x->errbody);
    return rc;
}

int clew_http_get(const struct clew_http_req *req, struct clew_buf *body,
                  struct clew_http_meta *meta, char err[CLEW_ERR_LEN])
{
    struct xfer x = { .req = req, .body = body };
    int rc = perform(&x, err);
    if (meta != NULL) {
        *meta = x.meta;
    }
    return rc;
}

int clew_http_get_stream(const struct clew_http_req *req, clew_http_value_cb cb, void *ud,
                         char err[CLEW_ERR_LEN])
{
    struct xfer x = { .req = req, .cb = cb, .ud = ud };
    return perform(&x, err);
}

/* ------------------------------------------------------------ decoding */

static int key_is(const struct clew_json_val *k, const char *name)
{
    size_t n = strlen(name);
    return !(k->flags & CLEW_JSON_F_ESC) && k->len == n + 2 && memcmp(k->ptr + 1, name, n) == 0;
}

/* The decoded bytes of string v, copied into a. */
static int take_str(const struct clew_json_val *v, struct clew_arena *a, struct clew_str *out)
{
    if (v->kind != CLEW_JSON_STRING) {
        return CLEW_EFORMAT;
    }
    char *p = clew_arena_alloc(a, v->dlen + 1);
    if (p == NULL) {
        return -ENOMEM;
    }
    clew_json_str_decode(v, p);
    p[v->dlen] = '\0';
    *out = (struct clew_str){ p, v->dlen };
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A "raw" value: the hex of the bytes, restored in place in a. */
static int take_hex(const struct clew_json_val *v, struct clew_arena *a, struct clew_str *out)
{
    struct clew_str h;
    int rc = take_str(v, a, &h);
    if (rc < 0 || h.len % 2 != 0) {
        return rc < 0 ? rc : CLEW_EFORMAT;
    }
    char *p = (char *)(uintptr_t)h.ptr;
    for (size_t i = 0; i < h.len / 2; i++) {
        int hi = hexval(h.ptr[2 * i]), lo = hexval(h.ptr[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return CLEW_EFORMAT;
        }
        p[i] = (char)(hi << 4 | lo);
    }
    *out = (struct clew_str){ p, h.len / 2 };
    return 0;
}

/* The record's string member named by k, or NULL. */
static struct clew_str *string_slot(struct clew_record *r, const struct clew_json_val *k)
{
    static const char *const names[] = { "host",           "service", "container_id",
                                         "container_name", "stream",  "message",
                                         "trace_id",       "span_id", "parent_span_id" };
    struct clew_str *slots[] = { &r->labels[0], &r->labels[1], &r->labels[2],
                                 &r->labels[3], &r->labels[4], &r->message,
                                 &r->trace_id,  &r->span_id,   &r->parent_span_id };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (key_is(k, names[i])) {
            return slots[i];
        }
    }
    return NULL;
}

static int take_raw(struct clew_json_scan *sc, struct clew_record *r, struct clew_arena *a)
{
    struct clew_json_val k, v;
    int rc = clew_json_scan_enter(sc);
    if (rc != CLEW_JSON_OBJECT) {
        return CLEW_EFORMAT;
    }
    while ((rc = clew_json_scan_member(sc, &k, &v)) == 1) {
        struct clew_str *slot = string_slot(r, &k);
        if (slot != NULL && (rc = take_hex(&v, a, slot)) < 0) {
            return rc;
        }
    }
    return rc < 0 ? CLEW_EFORMAT : 0;
}

static int take_input(const struct clew_json_val *v, struct clew_record *r)
{
    if (v->kind != CLEW_JSON_STRING || (v->flags & CLEW_JSON_F_ESC)) {
        return CLEW_EFORMAT;
    }
    for (unsigned i = 0; i < CLEW_INPUT_MAX_; i++) {
        const char *name = clew_input_name(i);
        if (v->len == strlen(name) + 2 && memcmp(v->ptr + 1, name, v->len - 2) == 0) {
            r->input = (uint8_t)i;
        }
    }
    return 0;
}

/* One member of a record object; the cursor is at its value. */
static int record_member(struct clew_json_scan *sc, const struct clew_json_val *k,
                         struct clew_record *r, struct clew_arena *a)
{
    if (key_is(k, "raw")) {
        return take_raw(sc, r, a);
    }
    struct clew_json_val v;
    int64_t n;
    if (clew_json_scan_value(sc, &v) < 0) {
        return CLEW_EFORMAT;
    }
    struct clew_str *slot = string_slot(r, k);
    if (slot != NULL) {
        return take_str(&v, a, slot);
    }
    if (key_is(k, "ts")) {
        struct clew_str ts;
        int rc = take_str(&v, a, &ts);
        return rc ? rc : clew_time_parse_rfc3339(ts.ptr, ts.len, &r->ts) < 0 ? CLEW_EFORMAT : 0;
    }
    if (key_is(k, "level")) {
        if (clew_json_num_i64(&v, &n) < 0 || n < 0 || n > 7) {
            return CLEW_EFORMAT;
        }
        r->level = (uint8_t)n;
    } else if (key_is(k, "input")) {
        return take_input(&v, r);
    } else if (key_is(k, "fields")) {
        r->fields = v.kind == CLEW_JSON_OBJECT ? (struct clew_str){ v.ptr, v.len }
                                               : (struct clew_str){ NULL, 0 };
    } else if (key_is(k, "injected") && v.kind == CLEW_JSON_TRUE) {
        r->flags |= CLEW_REC_INJECTED;
    }
    return 0; /* members this client does not know are left alone */
}

/* A line that is not a record: {"done":..,"matched":N}, {"warning":..}... */
static int notice_member(const struct clew_json_val *k, const struct clew_json_val *v,
                         struct clew_arena *a, struct clew_http_line *out)
{
    int64_t n = 0;
    struct clew_str s;
    static const struct {
        const char *key;
        int type;
    } kinds[] = { { "done", CLEW_HTTP_LINE_DONE },
                  { "warning", CLEW_HTTP_LINE_WARNING },
                  { "error", CLEW_HTTP_LINE_ERROR },
                  { "dropped", CLEW_HTTP_LINE_DROPPED } };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (key_is(k, kinds[i].key) && out->type == 0) {
            out->type = kinds[i].type;
        }
    }
    if (key_is(k, "matched") || key_is(k, "dropped")) {
        if (clew_json_num_i64(v, &n) < 0 || n < 0) {
            return CLEW_EFORMAT;
        }
        out->n = (uint64_t)n;
    } else if (key_is(k, "warning") || key_is(k, "error")) {
        int rc = take_str(v, a, &s);
        if (rc < 0) {
            return rc;
        }
        out->msg = s.ptr;
    }
    return 0;
}

int clew_http_line_decode(const char *text, size_t len, struct clew_arena *a,
                          struct clew_http_line *out)
{
    struct clew_json_scan sc;
    struct clew_json_val k, v;
    memset(out, 0, sizeof(*out));
    clew_json_scan_init(&sc, text, len, CLEW_JSON_REPAIR, 0);
    if (clew_json_scan_enter(&sc) != CLEW_JSON_OBJECT) {
        return CLEW_EFORMAT;
    }
    int rc = clew_json_scan_key(&sc, &k);
    if (rc == 1 && key_is(&k, "ts")) {
        out->type = CLEW_HTTP_LINE_RECORD;
        out->rec.level = CLEW_LEVEL_DEFAULT;
        do {
            rc = record_member(&sc, &k, &out->rec, a);
        } while (rc == 0 && (rc = clew_json_scan_key(&sc, &k)) == 1);
    } else {
        while (rc == 1 && (rc = clew_json_scan_value(&sc, &v)) == 0 &&
               (rc = notice_member(&k, &v, a, out)) == 0) {
            rc = clew_json_scan_key(&sc, &k);
        }
    }
    if (rc == -ENOMEM) {
        return rc;
    }
    if (rc != 0 || clew_json_scan_end(&sc) != 0 || out->type == 0) {
        return CLEW_EFORMAT;
    }
    return 0;
}
