/* SPDX-License-Identifier: MIT */
#include "collector/server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "collector/alert_actions.h"
#include "collector/alerts.h"
#include "collector/correlate.h"
#include "collector/gelf_parse.h"
#include "collector/http_api.h"
#include "collector/inbox.h"
#include "collector/input.h"
#include "collector/metrics.h"
#include "collector/pipeline.h"
#include "collector/store.h"
#include "collector/tail.h"
#include "common/alloc.h"
#include "common/arena.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "common/wal_format.h"

struct clew_server {
    const struct clew_config *cfg;
    uv_loop_t loop;
    int loop_inited;
    uv_signal_t sig_term, sig_int, sig_hup;
    struct clew_store *store;
    struct clew_pipeline *pipe; /* set once, before any append */
    struct clew_inputs *inputs;
    struct clew_correlator *corr;
    struct clew_input_env env;
    struct clew_inbox *inbox; /* records from the HTTP threads */
    struct clew_http_api *http;
    struct clew_tail *tail; /* live records for GET /api/v1/tail */
    struct clew_input_stats http_stats;
    struct clew_alerts *alerts;   /* the alert rules; NULL without --rules */
    struct clew_actions *actions; /* their webhook/exec worker and log sink */
    uv_timer_t alert_timer;       /* ages the alert windows once a second  */
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
    clew_log(CLEW_LOG_INFO, "clewd", "%s",
             paused ? "writer behind: inputs paused" : "writer caught up: inputs resumed");
    if (s->inputs != NULL) {
        clew_inputs_pause(s->inputs, paused);
    }
}

static void store_note(void *ud, const char *msg)
{
    (void)ud;
    clew_log(CLEW_LOG_WARN, "store", "%s", msg);
}

/* GET /metrics, on an HTTP thread. */
static void http_metrics(void *ud, struct clew_buf *out)
{
    struct clew_server *s = ud;
    clew_metrics_write(out, s->inputs, &s->http_stats, s->pipe, s->store);
    if (s->alerts != NULL) {
        clew_alerts_write_metrics(s->alerts, out);
        clew_actions_write_metrics(s->actions, out);
    }
    struct clew_tail_stats ts;
    clew_tail_get_stats(s->tail, &ts);
    char text[512];
    int n = snprintf(text, sizeof(text),
                     "# HELP clew_tail_subscribers Clients following GET /api/v1/tail.\n"
                     "# TYPE clew_tail_subscribers gauge\n"
                     "clew_tail_subscribers %llu\n"
                     "# HELP clew_tail_records_total Records copied to tail clients.\n"
                     "# TYPE clew_tail_records_total counter\n"
                     "clew_tail_records_total %llu\n"
                     "# HELP clew_tail_dropped_total Records slow tail clients lost.\n"
                     "# TYPE clew_tail_dropped_total counter\n"
                     "clew_tail_dropped_total %llu\n",
                     (unsigned long long)ts.subscribers, (unsigned long long)ts.delivered,
                     (unsigned long long)ts.dropped);
    clew_buf_append(out, text, (size_t)n);
}

/* Every record pushed, after correlation, on the loop thread: to the tails. */
static void on_tap(void *ud, const struct clew_record *r)
{
    struct clew_server *s = ud;
    clew_tail_feed(s->tail, r);
}

/* POST /gelf, on an HTTP thread: decode here, hand over to the loop. */
static int http_gelf(void *ud, const void *body, size_t len, char msg[CLEW_ERR_LEN])
{
    struct clew_server *s = ud;
    struct clew_arena arena;
    clew_arena_init(&arena, 16384);
    struct clew_gelf_parse_opts o = { s->cfg->max_message * 4 + 1024, s->cfg->max_message, NULL,
                                      NULL };
    struct clew_record r;
    clew_stat_add(s->http_stats.bytes, len);
    int rc = clew_gelf_parse(body, len, clew_time_now_ns(), &o, &r, &arena);
    if (rc == 0) {
        r.input = CLEW_INPUT_HTTP;
        rc = clew_inbox_put(s->inbox, &r, 1);
    } else {
        snprintf(msg, CLEW_ERR_LEN, "%s", clew_gelf_strerror(rc));
        clew_input_report(&s->http_stats, "http", CLEW_INERR_PARSE, "POST /gelf", "%s", msg);
    }
    clew_arena_close(&arena);
    return rc;
}

/* A record from the inbox, on the loop thread. */
static void on_inbox_record(void *ud, const struct clew_record *r)
{
    struct clew_server *s = ud;
    if (s->pipe != NULL && clew_pipeline_push(s->pipe, r, NULL) == 0) {
        clew_stat_add(s->http_stats.records, 1);
    }
}

/* ---- alert rules (collector/alerts.h): evaluated at the pipeline's tap */

static void on_alert_tap(void *ud, const struct clew_record *r)
{
    clew_alerts_eval(((struct clew_server *)ud)->alerts, r);
}

static void on_alert_tick(uv_timer_t *t)
{
    clew_alerts_tick(((struct clew_server *)t->data)->alerts);
}

static void on_alert_event(void *ud, const struct clew_alert_event *ev)
{
    struct clew_server *s = ud;
    clew_log(CLEW_LOG_INFO, "alerts", "%.*s", (int)ev->line.len, ev->line.ptr);
    clew_actions_submit(s->actions, ev);
}

/* The log action: the alert record joins the pipeline through the inbox
 * (never from inside the tap that made it). */
static int alert_log(void *ud, const struct clew_record *r)
{
    struct clew_server *s = ud;
    return s->inbox != NULL ? clew_inbox_put(s->inbox, r, 1) : CLEW_ECLOSED;
}

static int start_alerts(struct clew_server *s, char err[CLEW_ERR_LEN])
{
    struct clew_rules *rs;
    int rc = clew_rules_load(s->cfg->rules, &rs, err);
    if (rc < 0) {
        return rc;
    }
    struct clew_actions_opts ao = { 0, 0, alert_log, s };
    struct clew_alerts_opts o = { on_alert_event, s, NULL, NULL, 0 };
    if ((rc = clew_actions_new(&ao, &s->actions, err)) < 0) {
        clew_rules_free(rs);
        return rc;
    }
    if ((rc = clew_alerts_new(&o, &s->alerts)) < 0 ||
        (rc = clew_alerts_set_rules(s->alerts, rs, NULL)) < 0) {
        clew_rules_free(rs); /* still ours: set_rules takes it only on success */
        snprintf(err, CLEW_ERR_LEN, "alert rules: %s", clew_strerror(rc));
        return rc;
    }
    if ((rc = clew_pipeline_add_tap(s->pipe, on_alert_tap, s)) < 0) {
        snprintf(err, CLEW_ERR_LEN, "alert rules: %s", clew_strerror(rc));
        return rc;
    }
    if ((rc = uv_timer_init(&s->loop, &s->alert_timer)) == 0) {
        s->alert_timer.data = s;
        rc = uv_timer_start(&s->alert_timer, on_alert_tick, 1000, 1000);
    }
    clew_log(CLEW_LOG_INFO, "alerts", "%zu rules loaded from %s", rs->n, s->cfg->rules);
    return rc;
}

/* SIGHUP: the new rules replace the old unless the file is bad. */
static void reload_alerts(struct clew_server *s)
{
    struct clew_rules *rs;
    char err[CLEW_ERR_LEN];
    size_t kept = 0;
    int rc = clew_rules_load(s->cfg->rules, &rs, err);
    if (rc == 0 && (rc = clew_alerts_set_rules(s->alerts, rs, &kept)) < 0) {
        clew_rules_free(rs);
        snprintf(err, sizeof(err), "%s", clew_strerror(rc));
    }
    if (rc < 0) {
        clew_log(CLEW_LOG_ERROR, "alerts", "SIGHUP: keeping the old rules: %s", err);
        return;
    }
    clew_log(CLEW_LOG_INFO, "alerts", "SIGHUP: %zu rules loaded from %s (%zu kept their state)",
             rs->n, s->cfg->rules, kept);
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
    if (s->alerts != NULL) {
        uv_close((uv_handle_t *)&s->alert_timer, NULL);
    }
    clew_tail_close(s->tail); /* the tail clients' threads end their streams */
    clew_tail_wait_idle(s->tail, CLEW_NS_PER_SEC / 2);
    clew_http_stop(s->http); /* joins the HTTP threads: nothing reads s-> now */
    s->http = NULL;
    clew_inbox_close(s->inbox);
    s->inbox = NULL;
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
    if (s->alerts != NULL) {
        reload_alerts(s);
    }
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
    if (strcmp(cfg->wal_compress, "off") != 0 && strcmp(cfg->wal_compress, "lz4") != 0) {
        snprintf(err, CLEW_ERR_LEN, "--wal-compress: want off or lz4, not '%s'", cfg->wal_compress);
        return CLEW_EBADARG;
    }
    sc->wal_lz4_accel = cfg->wal_compress[0] == 'l' ? CLEW_WALF_LZ4_ACCEL : 0;
    sc->seal_bytes = cfg->seal_size;
    sc->seal_age_ns = cfg->seal_age;
    sc->retention_ns = cfg->retention;
    sc->note_cb = store_note;
    return 0;
}

static int on_off(const char *name, const char *v, int *out, char err[CLEW_ERR_LEN])
{
    if (strcmp(v, "on") == 0 || strcmp(v, "off") == 0) {
        *out = v[1] == 'n';
        return 0;
    }
    snprintf(err, CLEW_ERR_LEN, "--%s: want on or off, not '%s'", name, v);
    return CLEW_EBADARG;
}

/* The correlation stage from the config; NULL (and 0) when it is off. */
static int make_correlator(const struct clew_config *cfg, struct clew_correlator **out,
                           char err[CLEW_ERR_LEN])
{
    int on, inject;
    *out = NULL;
    int rc = on_off("correlate", cfg->correlate, &on, err);
    if (rc < 0 || (rc = on_off("inject-ids", cfg->inject_ids, &inject, err)) < 0 || !on) {
        return rc;
    }
    struct clew_correlate_opts o;
    clew_correlate_opts_default(&o);
    const char *patterns[1] = { cfg->id_pattern };
    if (cfg->id_pattern[0] != '\0') {
        o.patterns = patterns;
        o.npatterns = 1;
    }
    o.window_ns = cfg->continuation_window;
    o.inject = inject;
    return clew_correlator_new(&o, out, err);
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

int clew_server_new(const struct clew_config *cfg, struct clew_server **out, char err[CLEW_ERR_LEN])
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
    if ((rc = make_correlator(cfg, &s->corr, err)) < 0) {
        goto fail;
    }
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
    clew_pipeline_set_correlator(pipe, s->corr);
    __atomic_store_n(&s->pipe, pipe, __ATOMIC_RELEASE);
    if ((rc = clew_tail_new(&s->tail)) < 0 || (rc = clew_pipeline_add_tap(pipe, on_tap, s)) < 0) {
        snprintf(err, CLEW_ERR_LEN, "tail: %s", clew_strerror(rc));
        goto fail;
    }
    s->env = (struct clew_input_env){ .loop = &s->loop,
                                      .pipe = pipe,
                                      .cfg = cfg,
                                      .push = clew_input_push_pipeline,
                                      .push_ud = pipe };
    if ((rc = clew_inputs_start(&s->env, &s->inputs, err)) < 0) {
        goto fail;
    }
    if ((rc = clew_inbox_new(&s->loop, 64u << 20, on_inbox_record, s, &s->inbox)) < 0) {
        snprintf(err, CLEW_ERR_LEN, "inbox: %s", clew_strerror(rc));
        goto fail;
    }
    if (cfg->rules[0] != '\0' && (rc = start_alerts(s, err)) < 0) {
        goto fail;
    }
    if (strcmp(cfg->http, "off") != 0) {
        struct clew_http_env he = { .metrics = http_metrics,
                                    .gelf = http_gelf,
                                    .ud = s,
                                    .max_body = cfg->max_message * 4 + 1024,
                                    .data_dir = cfg->data,
                                    .tail = s->tail };
        if ((rc = clew_http_start(&he, cfg->http, cfg->http_token, &s->http, err)) < 0) {
            goto fail;
        }
        clew_log(CLEW_LOG_INFO, "http", "listening on %s (port %d)", cfg->http,
                 clew_http_port(s->http));
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
    if (s->tail != NULL) {
        clew_tail_close(s->tail);
    }
    clew_http_stop(s->http);
    clew_inbox_close(s->inbox);
    clew_inputs_stop(s->inputs);
    if (s->pipe != NULL) {
        struct clew_pipeline *p = s->pipe;
        __atomic_store_n(&s->pipe, NULL, __ATOMIC_RELEASE);
        clew_pipeline_close(p);
    }
    if (s->loop_inited) {
        uv_run(&s->loop, UV_RUN_NOWAIT); /* let the inputs and pipeline close */
    }
    clew_correlator_free(s->corr);
    clew_tail_free(s->tail);
    clew_store_close(s->store);
    if (s->loop_inited) {
        uv_walk(&s->loop, close_any, NULL);
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
    }
    clew_alerts_free(s->alerts);
    clew_actions_free(s->actions); /* joins the worker: a webhook in flight ends first */
    clew_free(s);
}
