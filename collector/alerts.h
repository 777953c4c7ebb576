/* SPDX-License-Identifier: MIT
 * alerts: evaluates the alert rules (common/rules.h) on every record at
 * ingest. One pass over the message finds the candidate rules (every
 * rule's required literals, ASCII case folded, indexed by a pair of their
 * bytes in one bitmap), so PCRE2 runs only for rules whose literal is there
 * (and for the few rules without one); then where, then the pattern. Each rule keeps one
 * state per group (group_by values): a sliding window of match times, the
 * first match, the last samples and trace ids. A group fires when it holds
 * threshold matches within the window (and its cooldown is over), and
 * resolves when it holds fewer again (checked by clew_alerts_tick). Events
 * go to a callback with the rendered JSON body; nothing here blocks.
 * Owns the rules it is given and all state. Loop thread only, apart from
 * clew_alerts_get_stats / clew_alerts_write_metrics (any thread). */
#ifndef CLEW_ALERTS_H
#define CLEW_ALERTS_H

#include <stddef.h>
#include <stdint.h>

#include "clew/record.h"
#include "common/buf.h"
#include "common/rules.h"

#define CLEW_ALERTS_SERVICE    "clew-alerts" /* service of stored alert records: never evaluated */
#define CLEW_ALERTS_SAMPLES    5             /* matching records in an event                     */
#define CLEW_ALERTS_TRACE_IDS  20            /* distinct trace ids in an event                   */
#define CLEW_ALERTS_MAX_GROUPS 10000         /* default groups per rule                          */

struct clew_alerts;

enum clew_alert_status { CLEW_ALERT_FIRING = 0, CLEW_ALERT_RESOLVED = 1 };

/* One firing or resolved event; everything is borrowed until the callback
 * returns. */
struct clew_alert_event {
    const struct clew_rule *rule;
    enum clew_alert_status status;
    uint32_t count;       /* matches in the window now                          */
    int64_t at;           /* the evaluator's clock                              */
    struct clew_str body; /* the JSON object (webhook body), no newline          */
    struct clew_str line; /* "[firing] NAME: summary" for humans and log records */
    struct clew_str host; /* the group's host, else the first match's            */
};

typedef void (*clew_alerts_event_cb)(void *ud, const struct clew_alert_event *ev);
/* The clock windows are measured with, ns. */
typedef int64_t (*clew_alerts_clock_cb)(void *ud);

struct clew_alerts_opts {
    clew_alerts_event_cb on_event; /* required                                  */
    void *ud;
    clew_alerts_clock_cb clock; /* NULL: the wall clock (clew_time_now_ns)    */
    void *clock_ud;
    size_t max_groups; /* per rule; 0: CLEW_ALERTS_MAX_GROUPS; more
                          groups are dropped and counted             */
};

/* Creates an evaluator with no rules. Returns 0 or -ENOMEM. */
int clew_alerts_new(const struct clew_alerts_opts *o, struct clew_alerts **out);

/* NULL-safe; frees the rules and every state (no events). */
void clew_alerts_free(struct clew_alerts *a);

/* Replaces the rules with rs (may be NULL: none). A new rule whose name
 * and every setting equal an old rule's takes over its state (windows,
 * firing groups, cooldowns); other old state is dropped silently. On
 * success takes ownership of rs, frees the old rules and sets *kept (may be
 * NULL) to the number of rules whose state carried over; on -ENOMEM nothing
 * changes and the caller keeps rs. */
int clew_alerts_set_rules(struct clew_alerts *a, struct clew_rules *rs, size_t *kept);

/* The rules in force (borrowed; valid until the next set_rules). */
const struct clew_rules *clew_alerts_rules(const struct clew_alerts *a);

/* Evaluates one record (borrowed until return); may call on_event (a
 * firing). Records of service CLEW_ALERTS_SERVICE are skipped. */
void clew_alerts_eval(struct clew_alerts *a, const struct clew_record *r);

/* Ages the windows: resolves groups that no longer hold threshold matches,
 * fires groups whose cooldown ended while they still do, and frees idle
 * groups. Call about once a second. */
void clew_alerts_tick(struct clew_alerts *a);

struct clew_alerts_stats {
    uint64_t rules;        /* gauge */
    uint64_t evaluations;  /* records evaluated                   */
    uint64_t candidates;   /* (record, rule) pairs PCRE2 ran on   */
    uint64_t matches;      /* (record, rule) pairs that matched   */
    uint64_t match_errors; /* PCRE2 failures (match limit, ...)   */
    uint64_t fired;
    uint64_t resolved;
    uint64_t groups;         /* gauge */
    uint64_t groups_dropped; /* matches lost to max_groups          */
    uint64_t reloads;
};

/* Any thread. */
void clew_alerts_get_stats(const struct clew_alerts *a, struct clew_alerts_stats *out);

/* Appends the counters as Prometheus text (clew_alert_*). Any thread. */
void clew_alerts_write_metrics(const struct clew_alerts *a, struct clew_buf *out);

#endif
