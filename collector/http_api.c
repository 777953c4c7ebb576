/* SPDX-License-Identifier: MIT */
#include "collector/http_api.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "collector/http_query.h"
#include "collector/input.h"
#include "common/alloc.h"
#include "common/json_out.h"
#include "common/timeutil.h"
#include "query/cli.h"
#include "query/cmd_alerts.h"

struct clew_http_api {
    struct MHD_Daemon *d;
    struct clew_http_env env;
    char *token;
    int port;
};

/* Per-request state for uploads. */
struct upload {
    struct clew_buf body;
    int too_big;
};

int clew_http_reply(struct MHD_Connection *c, unsigned status, const char *type, const void *data,
                    size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, MHD_RESPMEM_MUST_COPY);
    if (r == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

int clew_http_reply_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    struct clew_buf b;
    clew_buf_init(&b);
    clew_buf_append(&b, "{\"error\":", 9);
    clew_json_put_str(&b, msg, strlen(msg));
    clew_buf_append(&b, "}\n", 2);
    int rc = clew_http_reply(c, status, "application/json", b.data, b.len);
    clew_buf_close(&b);
    return rc;
}

static int authorized(struct clew_http_api *h, struct MHD_Connection *c)
{
    if (h->token == NULL) {
        return 1;
    }
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    return auth != NULL && strncmp(auth, "Bearer ", 7) == 0 && strcmp(auth + 7, h->token) == 0;
}

static enum MHD_Result handle_metrics(struct clew_http_api *h, struct MHD_Connection *c)
{
    struct clew_buf b;
    clew_buf_init(&b);
    h->env.metrics(h->env.ud, &b);
    enum MHD_Result rc =
        (enum MHD_Result)clew_http_reply(c, 200, "text/plain; version=0.0.4", b.data, b.len);
    clew_buf_close(&b);
    return rc;
}

/* POST /gelf: collects the body, then hands it over. */
static enum MHD_Result handle_gelf(struct clew_http_api *h, struct MHD_Connection *c,
                                   const char *data, size_t *size, void **state)
{
    struct upload *u = *state;
    if (u == NULL) {
        if ((u = clew_calloc(1, sizeof(*u))) == NULL) {
            return MHD_NO;
        }
        clew_buf_init(&u->body);
        *state = u;
        return MHD_YES;
    }
    if (*size > 0) {
        if (u->body.len + *size > h->env.max_body) {
            u->too_big = 1;
        } else if (clew_buf_append(&u->body, data, *size) < 0) {
            u->too_big = 1;
        }
        *size = 0;
        return MHD_YES;
    }
    if (u->too_big) {
        return clew_http_reply_error(c, 413, "request body too large");
    }
    char msg[CLEW_ERR_LEN] = "";
    int rc = h->env.gelf(h->env.ud, u->body.data, u->body.len, msg);
    if (rc == CLEW_ETOOBIG) {
        return clew_http_reply_error(c, 503, "overloaded; retry later");
    }
    if (rc < 0) {
        return clew_http_reply_error(c, 400, msg[0] ? msg : clew_strerror(rc));
    }
    return clew_http_reply(c, 202, "application/json", "{\"accepted\":1}\n", 15);
}

/* GET /api/v1/alerts[?since=T]: the stored alerts as JSON lines, oldest
 * first (query/cmd_alerts.h); the last day by default. */
static enum MHD_Result handle_alerts(struct clew_http_api *h, struct MHD_Connection *c)
{
    if (h->env.data_dir == NULL) {
        return clew_http_reply_error(c, 503, "no data directory");
    }
    int64_t now = clew_time_now_ns(), since = now - 86400 * CLEW_NS_PER_SEC;
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
    if (v != NULL && clew_cli_parse_time(v, now, &since) < 0) {
        return clew_http_reply_error(c, 400, "since: want 15m, 2h, 1d, now or RFC 3339");
    }
    struct clew_buf b;
    clew_buf_init(&b);
    long n = clew_alerts_list(h->env.data_dir, since, &b);
    const void *body = b.data != NULL ? (const void *)b.data : "";
    enum MHD_Result rc = n < 0 ? clew_http_reply_error(c, 500, clew_strerror((int)n))
                               : clew_http_reply(c, 200, "application/x-ndjson", body, b.len);
    clew_buf_close(&b);
    return rc;
}

/* GET /api/v1/...: collector/http_query.c's handlers. */
static enum MHD_Result route_api(struct clew_http_api *h, struct MHD_Connection *c, const char *url,
                                 int get)
{
    static const char trace[] = "/api/v1/trace";
    const struct clew_http_env *env = &h->env;
    int which = strcmp(url, "/api/v1/query") == 0   ? 1
                : strcmp(url, "/api/v1/tail") == 0  ? 2
                : strcmp(url, "/api/v1/stats") == 0 ? 3
                : strncmp(url, trace, sizeof(trace) - 1) == 0 &&
                        (url[sizeof(trace) - 1] == '/' || url[sizeof(trace) - 1] == '\0')
                    ? 4
                    : 0;
    if (which == 0) {
        return clew_http_reply_error(c, 404, "no such path");
    }
    if (!get) {
        return clew_http_reply_error(c, 405, "method not allowed");
    }
    switch (which) {
    case 1:
        return (enum MHD_Result)clew_http_query_search(env, c);
    case 2:
        return (enum MHD_Result)clew_http_query_tail(env, c);
    case 3:
        return (enum MHD_Result)clew_http_query_stats(env, c);
    default: {
        const char *id = url[sizeof(trace) - 1] == '/' ? url + sizeof(trace) : "";
        return (enum MHD_Result)clew_http_query_trace(env, c, id);
    }
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **state)
{
    struct clew_http_api *h = cls;
    (void)version;
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/healthz") == 0) {
        return get ? clew_http_reply(c, 200, "application/json", "{\"status\":\"ok\"}\n", 16)
                   : clew_http_reply_error(c, 405, "method not allowed");
    }
    if (!authorized(h, c)) {
        return clew_http_reply_error(c, 401, "missing or wrong bearer token");
    }
    if (strcmp(url, "/metrics") == 0) {
        return get ? handle_metrics(h, c) : clew_http_reply_error(c, 405, "method not allowed");
    }
    if (strcmp(url, "/gelf") == 0) {
        return post ? handle_gelf(h, c, data, size, state)
                    : clew_http_reply_error(c, 405, "method not allowed");
    }
    if (strcmp(url, "/api/v1/alerts") == 0) {
        return get ? handle_alerts(h, c) : clew_http_reply_error(c, 405, "method not allowed");
    }
    if (strncmp(url, "/api/", 5) == 0) {
        return route_api(h, c, url, get);
    }
    return clew_http_reply_error(c, 404, "no such path");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct upload *u = *state;
    if (u != NULL) {
        clew_buf_close(&u->body);
        clew_free(u);
        *state = NULL;
    }
}

static int is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
    static const unsigned char lo[16] = { [15] = 1 };
    return memcmp(&in6->sin6_addr, lo, 16) == 0;
}

int clew_http_start(const struct clew_http_env *env, const char *addr, const char *token,
                    struct clew_http_api **out, char err[CLEW_ERR_LEN])
{
    *out = NULL;
    struct sockaddr_storage ss;
    int rc = clew_parse_addr(addr, &ss, err);
    if (rc < 0) {
        return rc;
    }
    int has_token = token != NULL && token[0] != '\0';
    if (!is_loopback((struct sockaddr *)&ss) && !has_token) {
        snprintf(err, CLEW_ERR_LEN, "--http %s is not a loopback address: set --http-token", addr);
        return CLEW_EBADARG;
    }
    struct clew_http_api *h = clew_calloc(1, sizeof(*h));
    if (h == NULL || (has_token && (h->token = clew_strdup(token)) == NULL)) {
        clew_free(h);
        snprintf(err, CLEW_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    h->env = *env;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ERROR_LOG | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (h->d == NULL) {
        snprintf(err, CLEW_ERR_LEN, "http %s: cannot listen (address in use?)", addr);
        clew_free(h->token);
        clew_free(h);
        return -EADDRINUSE;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : 0;
    *out = h;
    return 0;
}

int clew_http_port(const struct clew_http_api *h)
{
    return h->port;
}

void clew_http_stop(struct clew_http_api *h)
{
    if (h == NULL) {
        return;
    }
    MHD_stop_daemon(h->d);
    clew_free(h->token);
    clew_free(h);
}
