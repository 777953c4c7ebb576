/* SPDX-License-Identifier: MIT
 * multiline: the per-file line assembler. It joins fragments of one stream
 * (Docker's 16 KiB pieces, CRI `P` records) into logical lines, optionally
 * groups logical lines into multiline records (stack traces: a configurable
 * PCRE2 start pattern, or default continuation rules for Java, Python and
 * Go), and for every record it emits tells the file offset from which a
 * restart loses nothing (the start of the oldest line still held). Rules
 * (struct clew_ml_rules) are compiled once and shared, read-only; each
 * tailed file owns one struct clew_asm. No I/O, no globals; one thread at a
 * time per assembler. */
#ifndef CLEW_MULTILINE_H
#define CLEW_MULTILINE_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"
#include "clew/record.h"

struct clew_ml_rules;

/* Compiles the rules. start_pattern NULL means the default continuation
 * rules (indented lines, "Caused by:", "... N more", Python tracebacks up to
 * their exception line, Go panics and goroutine dumps); otherwise a line
 * matching start_pattern starts a record and every other line continues the
 * previous one. Returns 0 and sets *out, CLEW_EBADARG (err says why) or
 * -ENOMEM. */
int clew_ml_rules_new(const char *start_pattern, struct clew_ml_rules **out,
                      char err[CLEW_ERR_LEN]);
void clew_ml_rules_free(struct clew_ml_rules *r);

/* Whether line continues the record before it (rules only; state-free
 * except for what the group flags carry: see multiline.c). Exposed for tests. */
int clew_ml_is_continuation(const struct clew_ml_rules *r, unsigned *group_flags, const char *line,
                            size_t len);

struct clew_asm_opts {
    size_t max_line;                /* joined fragments are cut here (1 MiB)            */
    size_t max_group;               /* bytes of one multiline record (1 MiB)            */
    size_t max_lines;               /* lines of one multiline record (500)              */
    int64_t flush_ns;               /* a held record is emitted after this idle (1 s)   */
    const struct clew_ml_rules *ml; /* NULL: no multiline grouping (borrowed)           */
};

struct clew_asm_rec {
    int stream;          /* 0 stdout, 1 stderr                                          */
    int64_t ts;          /* the first piece's time                                      */
    struct clew_str msg; /* valid during the callback only                              */
    unsigned flags;      /* CLEW_REC_TRUNCATED when cut at max_line / max_group         */
    uint32_t lines;      /* physical lines (after the fragment join) in msg             */
    int partial;         /* 1: fragments that never saw their end (flushed idle/closed) */
    uint64_t safe_off;   /* resume offset that loses nothing once this record is safe   */
};

typedef void (*clew_asm_emit_cb)(void *ud, const struct clew_asm_rec *r);

struct clew_asm;

/* Creates an assembler; opts is copied (0 fields take defaults). Returns 0
 * or -ENOMEM. */
int clew_asm_new(const struct clew_asm_opts *opts, clew_asm_emit_cb emit, void *ud,
                 struct clew_asm **out);
void clew_asm_free(struct clew_asm *a);

/* One decoded physical line of the file at [start, end) (end includes its
 * '\n'): stream 0/1, time, content, complete = 0 for a fragment. Emits zero
 * or more records through the callback before returning. now_ns is a
 * monotonic clock for the idle flush. Returns 0 or -ENOMEM. */
int clew_asm_push(struct clew_asm *a, int stream, int64_t ts, const char *content, size_t len,
                  int complete, uint64_t start, uint64_t end, int64_t now_ns);

/* Emits records idle for flush_ns (fragments: at least 5 s). consumed is
 * the file offset after the last line pushed. */
int clew_asm_tick(struct clew_asm *a, int64_t now_ns, uint64_t consumed);

/* Emits everything held (the file is finished or closed). */
int clew_asm_flush(struct clew_asm *a, uint64_t consumed);

/* Drops everything held (the file was truncated). */
void clew_asm_reset(struct clew_asm *a);

/* The offset a restart must resume from given that everything before
 * `consumed` was pushed: the start of the oldest held piece, or consumed. */
uint64_t clew_asm_safe_offset(const struct clew_asm *a, uint64_t consumed);

/* Whether anything is held. */
int clew_asm_holding(const struct clew_asm *a);

#endif
