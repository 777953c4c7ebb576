/* SPDX-License-Identifier: MIT
 * Tests of the HTTP client of `clew --server`: libcurl loaded with dlopen
 * (a missing library gives an error that says what to install), and real
 * GETs against a one-shot HTTP server on a loopback port: the whole body
 * and the X-Clew-* headers, the bearer token, streamed JSON values, status
 * codes mapped to errors, and a refused connection. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "query/http_client.h"

/* A server that answers one request with a canned response and keeps the
 * request's head. */
struct server {
    int fd;
    char url[64];
    const char *response;
    char request[4096];
    pthread_t th;
};

static void *serve_one(void *arg)
{
    struct server *s = arg;
    int c = accept(s->fd, NULL, NULL);
    if (c < 0) {
        return NULL;
    }
    size_t n = 0;
    while (n < sizeof(s->request) - 1 && strstr(s->request, "\r\n\r\n") == NULL) {
        ssize_t k = read(c, s->request + n, sizeof(s->request) - 1 - n);
        if (k <= 0) {
            break;
        }
        n += (size_t)k;
        s->request[n] = '\0';
    }
    size_t len = strlen(s->response);
    if (write(c, s->response, len) != (ssize_t)len) {
        s->request[0] = '\0';
    }
    close(c);
    return NULL;
}

/* Listens on 127.0.0.1:0; with a response, serves it once on a thread. */
static void server_start(struct server *s, const char *response)
{
    memset(s, 0, sizeof(*s));
    s->response = response;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &alen), 0);
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u/", ntohs(a.sin_port));
    if (response != NULL) {
        assert_int_equal(listen(s->fd, 1), 0);
        assert_int_equal(pthread_create(&s->th, NULL, serve_one, s), 0);
    }
}

static void server_stop(struct server *s)
{
    if (s->response != NULL) {
        pthread_join(s->th, NULL);
    }
    close(s->fd);
}

static void test_load_missing(void **state)
{
    (void)state;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_http_curl_load("libclew-no-such-curl.so.0", err), CLEW_ENOTFOUND);
    assert_non_null(strstr(err, "--server needs libcurl"));
    assert_non_null(strstr(err, "libcurl4"));
    assert_non_null(strstr(err, "libclew-no-such-curl.so.0"));
    /* the system's libcurl still loads afterwards, once */
    assert_int_equal(clew_http_curl_load(NULL, err), 0);
    assert_int_equal(clew_http_curl_load("libclew-no-such-curl.so.0", err), 0);
}

static void test_get(void **state)
{
    (void)state;
    struct server s;
    server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Clew-Records: 7\r\n"
                     "X-Clew-Truncated: 1\r\nConnection: close\r\n\r\nhello world");
    struct clew_http_req req = { s.url, "/api/v1/stats?x=1", "s3cret" };
    struct clew_buf body;
    struct clew_http_meta meta;
    char err[CLEW_ERR_LEN];
    clew_buf_init(&body);
    assert_int_equal(clew_http_get(&req, &body, &meta, err), 0);
    server_stop(&s);
    assert_int_equal(body.len, 11);
    assert_memory_equal(body.data, "hello world", 11);
    assert_int_equal(meta.status, 200);
    assert_int_equal(meta.records, 7);
    assert_int_equal(meta.ids, -1);
    assert_int_equal(meta.truncated, 1);
    assert_non_null(strstr(s.request, "GET /api/v1/stats?x=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(s.request, "Authorization: Bearer s3cret\r\n"));
    clew_buf_close(&body);
}

struct values {
    char text[4][64];
    int n;
};

static int keep_value(void *ud, const char *text, size_t len)
{
    struct values *v = ud;
    if (v->n == 4 || len >= sizeof(v->text[0])) {
        return -1;
    }
    memcpy(v->text[v->n], text, len);
    v->text[v->n++][len] = '\0';
    return 0;
}

static void test_stream(void **state)
{
    (void)state;
    struct server s;
    server_start(&s, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
                     "{\"a\":\"x\\ny\"}\n\n{\"b\":[1,\n2]}\n{\"done\":true}");
    struct clew_http_req req = { s.url, "/api/v1/query?q=x", "" };
    struct values v = { .n = 0 };
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_http_get_stream(&req, keep_value, &v, err), 0);
    server_stop(&s);
    assert_int_equal(v.n, 3);
    assert_string_equal(v.text[0], "{\"a\":\"x\\ny\"}");
    assert_string_equal(v.text[1], "{\"b\":[1,\n2]}");
    assert_string_equal(v.text[2], "{\"done\":true}");
    assert_null(strstr(s.request, "Authorization"));
}

static void test_errors(void **state)
{
    (void)state;
    struct server s;
    server_start(&s, "HTTP/1.1 400 Bad Request\r\nContent-Length: 30\r\nConnection: close\r\n"
                     "\r\n{\"error\":\"bad pattern at 3\"}\n\n");
    struct clew_http_req req = { s.url, "/api/v1/query?q=(", NULL };
    struct clew_buf body;
    char err[CLEW_ERR_LEN];
    clew_buf_init(&body);
    assert_int_equal(clew_http_get(&req, &body, NULL, err), CLEW_EBADARG);
    server_stop(&s);
    assert_string_equal(err, "bad pattern at 3");
    assert_int_equal(body.len, 0);
    /* nobody listens: a message that says what to do */
    server_start(&s, NULL);
    req.server = s.url;
    assert_int_equal(clew_http_get(&req, &body, NULL, err), -ECONNREFUSED);
    server_stop(&s);
    assert_non_null(strstr(err, "cannot reach clewd at http://127.0.0.1:"));
    assert_non_null(strstr(err, "--data DIR"));
    clew_buf_close(&body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_missing),
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
