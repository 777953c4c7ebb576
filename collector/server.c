/* SPDX-License-Identifier: MIT */
#include "collector/server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "collector/input.h"
#include "collector/pipeline.h"
#include "collector/store.h"
#include "common/alloc.h"
#include "common/log.h"

struct clew_server {
    const struct clew_config *cfg;
    uv_loop_t loop;
    int loop_inited;
    uv_signal_t sig_term, sig_int, sig_hup;
    struct clew_store *store;
    struct clew_pipeline *pipe; /* set once, before any append */
    struct clew_inputs *inputs;
    struct clew_input_env env;
    int stopping;
};

/* The store's flusher thread says what is durable: tell the pipeline. */
static void on_store_durable(void *ud, uint64_t seq)
{
    struct clew_server *s = ud;
    struct clew_pipeline *p = __atomic_load_n(&s->pipe, __ATOMIC_ACQUIRE);
    if (p != NULL) {
        clew_pipeline_store_durable(p, seq);
    }
}

static void on_durable(void *ud, uint64_t ticket)
{
    struct clew_server *s = ud;
    if (s->inputs != NULL) {
        clew_inputs_durable(s->inputs, ticket);
    }
}

static void on_pressure(void *ud, int paused)
{
    struct clew_server *s = ud;
    clew_log(CLEW_LOG_INFO, "clewd", "%s", paused ? "writer behind: inputs paused"
                                                  : "writer caught up: inputs resumed");
    if (s->inputs != NULL) {
        clew_inputs_pause(s->inputs, paused);
    }
}

static void store_note(void *ud, const char *msg)
{
    (void)ud;
    clew_log(CLEW_LOG_WARN, "store", "%s", msg);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
    struct clew_server *s = h->data;
    if (s->stopping) {
        return;
    }
    s->stopping = 1;
    clew_log(CLEW_LOG_INFO, "clewd", "signal %d: flushing and stopping", signum);
    uv_signal_stop(&s->sig_term);
    uv_signal_stop(&s->sig_int);
    uv_signal_stop(&s->sig_hup);
    uv_close((uv_handle_t *)&s->sig_term, NULL);
    uv_close((uv_handle_t *)&s->sig_int, NULL);
    uv_close((uv_handle_t *)&s->sig_hup, NULL);
    clew_inputs_stop(s->inputs);
    s->inputs = NULL;
    struct clew_pipeline *p = s->pipe;
    __atomic_store_n(&s->pipe, NULL, __ATOMIC_RELEASE);
    clew_pipeline_close(p); /* hands the last batch to the store */
}

static void on_hup(uv_signal_t *h, int signum)
{
    struct clew_server *s = h->data;
    (void)signum;
    int rc = clew_log_open(s->cfg->log_file[0] ? s->cfg->log_file : NULL);
    clew_log(rc < 0 ? CLEW_LOG_ERROR : CLEW_LOG_INFO, "clewd", "SIGHUP: log reopened%s%s",
             rc < 0 ? ": " : "", rc < 0 ? clew_strerror(rc) : "");
}

static int store_config(const struct clew_config *cfg, struct clew_store_config *sc,
                        char err[CLEW_ERR_LEN])
{
    clew_store_config_default(sc);
    sc->data_dir = cfg->data;
    if (clew_store_parse_fsync(cfg->fsync, &sc->fsync) < 0) {
        snprintf(err, CLEW_ERR_LEN, "--fsync: want always, interval or never, not '%s'",
                 cfg->fsync);
        return CLEW_EBADARG;
    }
    sc->fsync_interval_ns = cfg->fsync_interval > 0 ? cfg->fsync_interval : 1000000;
    sc->seal_bytes = cfg->seal_size;
    sc->seal_age_ns = cfg->seal_age;
    sc->retention_ns = cfg->retention;
    sc->note_cb = store_note;
    return 0;
}

static int start_signal(struct clew_server *s, uv_signal_t *h, uv_signal_cb cb, int signum)
{
    int rc = uv_signal_init(&s->loop, h);
    if (rc == 0) {
        h->data = s;
        rc = uv_signal_start(h, cb, signum);
    }
    return rc;
}

int clew_server_new(const struct clew_config *cfg, struct clew_server **out,
                    char err[CLEW_ERR_LEN])
{
    *out = NULL;
    struct clew_server *s = clew_calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, CLEW_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    s->cfg = cfg;
    struct clew_store_config sc;
    int rc = store_config(cfg, &sc, err);
    if (rc < 0) {
        goto fail;
    }
    if ((rc = uv_loop_init(&s->loop)) < 0) {
        snprintf(err, CLEW_ERR_LEN, "event loop: %s", uv_strerror(rc));
        goto fail;
    }
    s->loop_inited = 1;
    if ((rc = clew_store_open(&sc, on_store_durable, s, &s->store, err)) < 0) {
        goto fail;
    }
    struct clew_pipeline_config pc;
    clew_pipeline_config_default(&pc);
    struct clew_pipeline *pipe;
    if ((rc = clew_pipeline_new(&s->loop, s->store, &pc, &pipe)) < 0) {
        snprintf(err, CLEW_ERR_LEN, "pipeline: %s", clew_strerror(rc));
        goto fail;
    }
    clew_pipeline_set_callbacks(pipe, on_durable, on_pressure, s);
    __atomic_store_n(&s->pipe, pipe, __ATOMIC_RELEASE);
    s->env = (struct clew_input_env){ &s->loop, pipe, cfg };
    if ((rc = clew_inputs_start(&s->env, &s->inputs, err)) < 0) {
        goto fail;
    }
    if ((rc = start_signal(s, &s->sig_term, on_stop_signal, SIGTERM)) < 0 ||
        (rc = start_signal(s, &s->sig_int, on_stop_signal, SIGINT)) < 0 ||
        (rc = start_signal(s, &s->sig_hup, on_hup, SIGHUP)) < 0) {
        snprintf(err, CLEW_ERR_LEN, "signals: %s", uv_strerror(rc));
        goto fail;
    }
    *out = s;
    return 0;
fail:
    clew_server_free(s);
    return rc;
}

int clew_server_run(struct clew_server *s)
{
    uv_run(&s->loop, UV_RUN_DEFAULT);
    int rc = clew_store_close(s->store);
    s->store = NULL;
    if (rc < 0) {
        clew_log(CLEW_LOG_ERROR, "clewd", "final seal failed (%s); the WAL keeps the records",
                 clew_strerror(rc));
    }
    return rc;
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

void clew_server_free(struct clew_server *s)
{
    if (s == NULL) {
        return;
    }
    clew_inputs_stop(s->inputs);
    if (s->pipe != NULL) {
        struct clew_pipeline *p = s->pipe;
        __atomic_store_n(&s->pipe, NULL, __ATOMIC_RELEASE);
        clew_pipeline_close(p);
    }
    if (s->loop_inited) {
        uv_run(&s->loop, UV_RUN_NOWAIT); /* let the inputs and pipeline close */
    }
    clew_store_close(s->store);
    if (s->loop_inited) {
        uv_walk(&s->loop, close_any, NULL);
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
    }
    clew_free(s);
}
