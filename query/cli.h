/* SPDX-License-Identifier: MIT
 * cli: what the clew subcommands share: where the data is (--data DIR, or
 * --server URL / $CLEW_SERVER), time and size parsing for flags, and
 * output helpers. Main thread only. */
#ifndef CLEW_CLI_H
#define CLEW_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "clew/error.h"

/* Exit codes, as grep(1): 0 found, 1 nothing found, 2 error. */
enum { CLEW_EXIT_MATCH = 0, CLEW_EXIT_NOMATCH = 1, CLEW_EXIT_ERROR = 2 };

struct clew_cli_source {
    const char *data;   /* --data DIR                              */
    const char *server; /* --server URL, $CLEW_SERVER, or default  */
};

/* One option of a subcommand. */
struct clew_cli_opt {
    const char *name; /* long name without "--"                 */
    char short_name;  /* 0 when none                             */
    int has_value;    /* takes an argument ("--x V", "--x=V", "-x V") */
    int id;           /* returned by clew_cli_next (> 0)         */
};

/* The state of an argument scan. */
struct clew_cli_args {
    int argc;
    char **argv;
    int i;           /* next argument                     */
    const char *sp;  /* inside a cluster of short flags   */
    int only_pos;    /* after "--"                        */
};

/* Returns the next option's id with *value set when it has one, 0 for a
 * positional argument (in *value), -1 at the end, or -2 on an error that
 * is printed to stderr prefixed with prog. */
int clew_cli_next(struct clew_cli_args *a, const struct clew_cli_opt *opts, size_t nopts,
                  const char *prog, const char **value);

/* Parses a time for --since/--until: a duration back from now ("15m",
 * "2h", "1d"), "now", or RFC 3339. Returns 0 or -1. */
int clew_cli_parse_time(const char *s, int64_t now, int64_t *out);

/* Resolves the source: --data wins, then --server, then $CLEW_SERVER,
 * then http://127.0.0.1:7700. */
void clew_cli_source_resolve(struct clew_cli_source *src);

/* Formats n bytes as "12.3 MB" into buf. */
const char *clew_cli_bytes(uint64_t n, char *buf, size_t len);

/* Subcommands: argv[0] is the subcommand's name. They return an exit code. */
int clew_cmd_stats(int argc, char **argv);

struct clew_buf;
/* The `clew stats --json` object of data_dir and a newline, appended to
 * out (cmd_stats.c; clewd's GET /api/v1/stats). Damaged segments are
 * counted, not printed. Returns 0, or a negative error with err set. */
int clew_stats_json(const char *data_dir, struct clew_buf *out, char err[CLEW_ERR_LEN]);
int clew_cmd_grep(int argc, char **argv);
int clew_cmd_tail(int argc, char **argv); /* cmd_tail.c: follows a running clewd */

#endif
