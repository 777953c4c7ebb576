/* SPDX-License-Identifier: MIT
 * alert_actions: carries out the actions of alert events (collector/alerts.h)
 * without ever blocking the loop. `log` happens at once: the event becomes
 * a record of service clew-alerts (message "[firing] NAME: summary",
 * fields = the alert JSON) handed to a callback (clewd's inbox). `webhook`
 * and `exec` become jobs in a bounded queue (full: dropped and counted)
 * that one worker thread runs in order: webhook = HTTP POST of the JSON
 * body (libcurl) with a timeout, retried with doubling backoff; exec = the
 * command with the JSON on stdin, killed at its timeout. Jobs copy what
 * they need, so rules may be reloaded meanwhile. Submit from the loop
 * thread; counters from any thread. */
#ifndef CLEW_ALERT_ACTIONS_H
#define CLEW_ALERT_ACTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"
#include "clew/record.h"
#include "collector/alerts.h"
#include "common/buf.h"

struct clew_actions;

/* Takes an alert record (borrowed until return). Returns 0 or a negative
 * error (counted as a failure). Called on the submitting thread. */
typedef int (*clew_actions_log_cb)(void *ud, const struct clew_record *r);

struct clew_actions_opts {
    size_t queue_max;        /* jobs waiting; 0: 256                           */
    int64_t backoff_ns;      /* first retry delay, doubled each time (max 30s);
                                0: 500 ms                                      */
    clew_actions_log_cb log; /* NULL: log actions fail                         */
    void *log_ud;
};

/* Starts the worker thread. Returns 0, or -ENOMEM / an error with err set
 * (libcurl or thread start-up). */
int clew_actions_new(const struct clew_actions_opts *o, struct clew_actions **out,
                     char err[CLEW_ERR_LEN]);

/* Runs or queues every action of ev->rule for ev (borrowed until return;
 * jobs copy what they need). Never blocks on I/O. */
void clew_actions_submit(struct clew_actions *act, const struct clew_alert_event *ev);

/* Waits until the queue is empty and the worker idle, at most timeout_ns.
 * Returns 1 when idle, 0 on timeout. For tests and shutdown. */
int clew_actions_drain(struct clew_actions *act, int64_t timeout_ns);

/* Stops the worker: a job in progress finishes (within its timeout; a
 * retry wait is cut short), queued jobs are dropped and counted. Frees.
 * NULL-safe. */
void clew_actions_free(struct clew_actions *act);

struct clew_actions_stats {
    /* indexed by enum clew_action_type */
    uint64_t ok[3];      /* actions done (webhook 2xx, exec exit 0, log stored) */
    uint64_t failed[3];  /* given up (after the retries)                        */
    uint64_t retries[3]; /* webhook attempts after the first                    */
    uint64_t dropped[3]; /* not run: queue full or shutting down                */
};

/* Any thread. */
void clew_actions_get_stats(const struct clew_actions *act, struct clew_actions_stats *out);

/* Appends clew_alert_actions_total{type,result} and
 * clew_alert_action_retries_total{type} as Prometheus text. Any thread. */
void clew_actions_write_metrics(const struct clew_actions *act, struct clew_buf *out);

#endif
