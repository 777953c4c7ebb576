/* SPDX-License-Identifier: MIT
 * webhook_sink: a tiny HTTP receiver for the alert tests. Listens on
 * 127.0.0.1 (port 0: the kernel picks; the port is written to --port-file),
 * answers every POST, one connection at a time: the first --fail K with
 * 500, the rest with 200. The body of each request answered 200 is appended
 * to --out as one line; each request's "METHOD PATH STATUS" to --log.
 * Runs until SIGTERM/SIGINT.
 *
 * usage: webhook_sink --out FILE [--log FILE] [--port-file FILE] [--port N] [--fail K] */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_REQ (4 << 20)

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

struct opts {
    const char *out, *log, *port_file;
    int port;
    long fail;
};

/* Reads one request into buf; returns the body offset and sets *len to
 * the total bytes, or -1. */
static long read_request(int fd, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    long body = -1;
    size_t want = 0;
    for (;;) {
        if (body >= 0 && n >= (size_t)body + want) {
            *len = (size_t)body + want;
            return body;
        }
        if (n == cap) {
            return -1;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r <= 0) {
            return -1;
        }
        n += (size_t)r;
        if (body < 0) {
            buf[n < cap ? n : cap - 1] = '\0';
            char *e = strstr(buf, "\r\n\r\n");
            if (e == NULL) {
                continue;
            }
            body = e + 4 - buf;
            for (char *h = strstr(buf, "\r\n"); h != NULL && h < e; h = strstr(h + 2, "\r\n")) {
                if (strncasecmp(h + 2, "Content-Length:", 15) == 0) {
                    want = strtoul(h + 17, NULL, 10);
                }
            }
            if ((size_t)body + want > cap) {
                return -1;
            }
        }
    }
}

static void serve(int fd, const struct opts *o, long *served)
{
    static char buf[MAX_REQ + 1];
    size_t len;
    long body = read_request(fd, buf, MAX_REQ, &len);
    if (body < 0) {
        return;
    }
    int status = *served < o->fail ? 500 : 200;
    (*served)++;
    char method[16] = "", path[256] = "";
    sscanf(buf, "%15s %255s", method, path);
    if (status == 200) {
        FILE *f = fopen(o->out, "a");
        if (f != NULL) {
            fwrite(buf + body, 1, len - (size_t)body, f);
            fputc('\n', f);
            fclose(f);
        }
    }
    if (o->log != NULL) {
        FILE *f = fopen(o->log, "a");
        if (f != NULL) {
            fprintf(f, "%s %s %d\n", method, path, status);
            fclose(f);
        }
    }
    char resp[128];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status,
                     status == 200 ? "OK" : "Internal Server Error");
    if (write(fd, resp, (size_t)n) < 0) {
        perror("webhook_sink: write");
    }
}

static int parse(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--out") == 0) {
            o->out = argv[i + 1];
        } else if (strcmp(argv[i], "--log") == 0) {
            o->log = argv[i + 1];
        } else if (strcmp(argv[i], "--port-file") == 0) {
            o->port_file = argv[i + 1];
        } else if (strcmp(argv[i], "--port") == 0) {
            o->port = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--fail") == 0) {
            o->fail = atol(argv[i + 1]);
        } else {
            return -1;
        }
    }
    return o->out != NULL && argc % 2 == 1 ? 0 : -1;
}

static int listen_on(struct opts *o)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o->port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 16) < 0 ||
        getsockname(s, (struct sockaddr *)&a, &alen) < 0) {
        perror("webhook_sink: listen");
        return -1;
    }
    if (o->port_file != NULL) {
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", o->port_file);
        FILE *f = fopen(tmp, "w");
        if (f == NULL || fprintf(f, "%d\n", ntohs(a.sin_port)) < 0 || fclose(f) != 0 ||
            rename(tmp, o->port_file) < 0) {
            perror("webhook_sink: port file");
            return -1;
        }
    }
    return s;
}

int main(int argc, char **argv)
{
    struct opts o = { NULL, NULL, NULL, 0, 0 };
    if (parse(argc, argv, &o) < 0) {
        fprintf(stderr, "usage: webhook_sink --out FILE [--log FILE] [--port-file FILE] "
                        "[--port N] [--fail K]\n");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: accept() returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int s = listen_on(&o);
    if (s < 0) {
        return 1;
    }
    long served = 0;
    while (!stop) {
        int c = accept(s, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("webhook_sink: accept");
            break;
        }
        serve(c, &o, &served);
        close(c);
    }
    close(s);
    return 0;
}
