/* SPDX-License-Identifier: MIT */
#include "collector/metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 2, 3))) static void put(struct clew_buf *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0) {
        clew_buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    }
}

static uint64_t load(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void help(struct clew_buf *b, const char *name, const char *type, const char *text)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* The per-input series, one family at a time (Prometheus wants families
 * grouped), so each family walks the inputs. */
struct family {
    struct clew_buf *b;
    const char *name;
    size_t offset; /* of the counter in struct clew_input_stats */
};

static void one_input(void *ud, const char *name, struct clew_input_stats *st, const char *where)
{
    struct family *f = ud;
    (void)where;
    put(f->b, "%s{input=\"%s\"} %" PRIu64 "\n", f->name, name,
        load((const uint64_t *)(const void *)((const char *)st + f->offset)));
}

static void input_errors(void *ud, const char *name, struct clew_input_stats *st, const char *where)
{
    struct clew_buf *b = ud;
    (void)where;
    for (int e = 0; e < CLEW_INERR_COUNT; e++) {
        put(b, "clew_input_errors_total{input=\"%s\",reason=\"%s\"} %" PRIu64 "\n", name,
            clew_inerr_name((enum clew_inerr)e), load(&st->errors[e]));
    }
}

static void inputs_metrics(struct clew_buf *b, struct clew_inputs *inputs,
                           const struct clew_input_stats *http)
{
    static const struct {
        const char *name, *type, *help;
        size_t offset;
    } fams[] = {
        { "clew_input_records_total", "counter", "records handed to the pipeline",
          offsetof(struct clew_input_stats, records) },
        { "clew_input_bytes_total", "counter", "bytes received",
          offsetof(struct clew_input_stats, bytes) },
        { "clew_input_datagrams_total", "counter", "UDP datagrams received",
          offsetof(struct clew_input_stats, datagrams) },
        { "clew_input_udp_drops_total", "counter", "UDP datagrams dropped under backpressure",
          offsetof(struct clew_input_stats, udp_drops) },
        { "clew_input_connections_total", "counter", "TCP connections accepted",
          offsetof(struct clew_input_stats, connections) },
        { "clew_input_open_connections", "gauge", "TCP connections open",
          offsetof(struct clew_input_stats, open_connections) },
    };
    for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
        help(b, fams[i].name, fams[i].type, fams[i].help);
        struct family f = { b, fams[i].name, fams[i].offset };
        if (inputs != NULL) {
            clew_inputs_each(inputs, one_input, &f);
        }
        if (http != NULL) {
            one_input(&f, "http", (struct clew_input_stats *)(uintptr_t)http, "");
        }
    }
    help(b, "clew_input_errors_total", "counter", "bad input by input and reason");
    if (inputs != NULL) {
        clew_inputs_each(inputs, input_errors, b);
    }
    if (http != NULL) {
        input_errors(b, "http", (struct clew_input_stats *)(uintptr_t)http, "");
    }
}

static void counter(struct clew_buf *b, const char *name, const char *type, const char *text,
                    uint64_t v)
{
    help(b, name, type, text);
    put(b, "%s %" PRIu64 "\n", name, v);
}

static void store_metrics(struct clew_buf *b, struct clew_store *store)
{
    struct clew_store_stats s;
    clew_store_get_stats(store, &s);
    counter(b, "clew_store_records_total", "counter", "records appended", s.records_appended);
    counter(b, "clew_store_raw_bytes_total", "counter", "raw bytes appended", s.raw_bytes_appended);
    counter(b, "clew_wal_frames_total", "counter", "WAL frames written", s.wal_frames);
    counter(b, "clew_wal_syncs_total", "counter", "WAL fsyncs", s.wal_syncs);
    counter(b, "clew_wal_errors_total", "counter", "WAL write or fsync errors", s.wal_errors);
    counter(b, "clew_wal_durable_seq", "gauge", "highest durable WAL frame", s.durable_seq);
    counter(b, "clew_memtable_records", "gauge", "records not yet sealed", s.memtable_records);
    counter(b, "clew_seals_total", "counter", "memtables sealed", s.seals);
    counter(b, "clew_seal_errors_total", "counter", "failed seal attempts", s.seal_errors);
    counter(b, "clew_segments_written_total", "counter", "segments written", s.segments_written);
    counter(b, "clew_segment_bytes_written_total", "counter", "segment bytes written",
            s.segment_bytes_written);
    counter(b, "clew_wal_replayed_records_total", "counter", "records recovered from the WAL",
            s.replayed_records);
    counter(b, "clew_wal_cut_bytes_total", "counter", "torn WAL tail bytes cut at recovery",
            s.replay_cut_bytes);
    counter(b, "clew_retention_hours_dropped_total", "counter", "hour partitions dropped",
            s.hours_dropped);
    counter(b, "clew_store_append_waits_total", "counter",
            "appends that waited for a seal to finish (backpressure)", s.append_waits);
}

static void pipeline_metrics(struct clew_buf *b, struct clew_pipeline *pipe)
{
    struct clew_pipeline_stats p;
    clew_pipeline_get_stats(pipe, &p);
    counter(b, "clew_pipeline_batches_total", "counter", "batches written", p.batches);
    counter(b, "clew_pipeline_records_total", "counter", "records written", p.records);
    counter(b, "clew_pipeline_append_errors_total", "counter", "batches the store refused",
            p.append_errors);
    counter(b, "clew_pipeline_queued_bytes", "gauge", "bytes waiting for the writer",
            p.queued_bytes);
    counter(b, "clew_pipeline_pauses_total", "counter", "times the inputs were paused", p.pauses);
}

void clew_metrics_write(struct clew_buf *out, struct clew_inputs *inputs,
                        const struct clew_input_stats *http, struct clew_pipeline *pipe,
                        struct clew_store *store)
{
    inputs_metrics(out, inputs, http);
    if (pipe != NULL) {
        pipeline_metrics(out, pipe);
    }
    if (store != NULL) {
        store_metrics(out, store);
    }
}
