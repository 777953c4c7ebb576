/* SPDX-License-Identifier: MIT */
#include "collector/input.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/timeutil.h"

extern const struct clew_input_ops clew_in_syslog_ops;
extern const struct clew_input_ops clew_in_gelf_ops;
extern const struct clew_input_ops clew_in_forward_ops;

/* The inputs clewd knows, in start order. */
static const struct clew_input_ops *const all_inputs[] = {
    &clew_in_syslog_ops,
    &clew_in_gelf_ops,
    &clew_in_forward_ops,
};

#define NINPUTS (sizeof(all_inputs) / sizeof(all_inputs[0]))

struct clew_inputs {
    const struct clew_input_ops *ops[NINPUTS];
    void *state[NINPUTS];
    size_t n;
};

static const char *const inerr_names[CLEW_INERR_COUNT] = {
    "frame", "parse",   "oversize",   "truncated", "decompress", "json",
    "chunk", "msgpack", "conn_limit", "buffer",    "nomem",
};

const char *clew_inerr_name(enum clew_inerr e)
{
    return (unsigned)e < CLEW_INERR_COUNT ? inerr_names[e] : "unknown";
}

void clew_input_report(struct clew_input_stats *st, const char *name, enum clew_inerr e,
                       const char *peer, const char *fmt, ...)
{
    clew_stat_add(st->errors[e], 1);
    int64_t now = clew_time_mono_ns();
    if (now - st->window_start > 60 * CLEW_NS_PER_SEC) {
        st->window_start = now;
        st->window_logged = 0;
    }
    if (st->window_logged >= 5) {
        return;
    }
    if (++st->window_logged == 5) {
        clew_log(CLEW_LOG_WARN, name, "more bad input this minute is counted, not logged");
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    clew_log(CLEW_LOG_WARN, name, "%s from %s: %s", clew_inerr_name(e), peer ? peer : "?", msg);
}

int clew_inputs_start(const struct clew_input_env *env, struct clew_inputs **out,
                      char err[CLEW_ERR_LEN])
{
    struct clew_inputs *in = clew_calloc(1, sizeof(*in));
    *out = NULL;
    if (in == NULL) {
        snprintf(err, CLEW_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < NINPUTS; i++) {
        const struct clew_input_ops *ops = all_inputs[i];
        const char *addr = ops->addr(env->cfg);
        if (addr == NULL || strcmp(addr, "off") == 0 || addr[0] == '\0') {
            continue;
        }
        if (ops->durable != NULL && env->pipe == NULL) {
            continue; /* its acks need the pipeline's tickets */
        }
        void *state;
        int rc = ops->start(env, addr, &state, err);
        if (rc < 0) {
            clew_inputs_stop(in);
            return rc;
        }
        char where[256];
        ops->describe(state, where, sizeof(where));
        clew_log(CLEW_LOG_INFO, ops->name, "listening on %s", where);
        in->ops[in->n] = ops;
        in->state[in->n++] = state;
    }
    *out = in;
    return 0;
}

int clew_input_push_pipeline(void *ud, const struct clew_record *r)
{
    return clew_pipeline_push(ud, r, NULL);
}

void clew_inputs_pause(struct clew_inputs *in, int paused)
{
    for (size_t i = 0; i < in->n; i++) {
        if (paused) {
            in->ops[i]->pause(in->state[i]);
        } else {
            in->ops[i]->resume(in->state[i]);
        }
    }
}

void clew_inputs_durable(struct clew_inputs *in, uint64_t ticket)
{
    for (size_t i = 0; i < in->n; i++) {
        if (in->ops[i]->durable != NULL) {
            in->ops[i]->durable(in->state[i], ticket);
        }
    }
}

void clew_inputs_each(struct clew_inputs *in,
                      void (*cb)(void *ud, const char *name, struct clew_input_stats *st,
                                 const char *where),
                      void *ud)
{
    for (size_t i = 0; i < in->n; i++) {
        char where[256];
        in->ops[i]->describe(in->state[i], where, sizeof(where));
        cb(ud, in->ops[i]->name, in->ops[i]->stats(in->state[i]), where);
    }
}

void clew_inputs_stop(struct clew_inputs *in)
{
    if (in == NULL) {
        return;
    }
    for (size_t i = 0; i < in->n; i++) {
        in->ops[i]->stop(in->state[i]);
    }
    clew_free(in);
}

int clew_parse_addr(const char *addr, struct sockaddr_storage *out, char err[CLEW_ERR_LEN])
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon == addr || colon[1] == '\0') {
        snprintf(err, CLEW_ERR_LEN, "'%s': want HOST:PORT", addr);
        return CLEW_EBADARG;
    }
    size_t hl = (size_t)(colon - addr);
    if (addr[0] == '[' && hl >= 2 && addr[hl - 1] == ']') {
        snprintf(host, sizeof(host), "%.*s", (int)(hl - 2), addr + 1);
    } else {
        snprintf(host, sizeof(host), "%.*s", (int)hl, addr);
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535) {
        snprintf(err, CLEW_ERR_LEN, "'%s': bad port", addr);
        return CLEW_EBADARG;
    }
    if (strcmp(host, "localhost") == 0) {
        snprintf(host, sizeof(host), "127.0.0.1");
    }
    memset(out, 0, sizeof(*out));
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0 ||
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0) {
        return 0;
    }
    snprintf(err, CLEW_ERR_LEN,
             "'%s': bad IP address (names other than localhost are not "
             "resolved)",
             addr);
    return CLEW_EBADARG;
}

const char *clew_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[64] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        uv_ip4_name(in, ip, sizeof(ip));
        port = ntohs(in->sin_port);
        snprintf(buf, len, "%s:%d", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        uv_ip6_name(in6, ip, sizeof(ip));
        port = ntohs(in6->sin6_port);
        snprintf(buf, len, "[%s]:%d", ip, port);
    } else {
        snprintf(buf, len, "?");
    }
    return buf;
}
