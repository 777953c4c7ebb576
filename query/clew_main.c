/* SPDX-License-Identifier: MIT
 * clew: the query tool. `clew COMMAND --help` for each command. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "query/cli.h"
#include "query/cmd_alerts.h"
#include "query/trace.h"

#ifndef CLEW_VERSION
#define CLEW_VERSION "0.0-dev" /* the build may set it (-DCLEW_VERSION=...) */
#endif

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    { "grep", clew_cmd_grep, "find records whose message matches a pattern" },
    { "trace", clew_cmd_trace, "a request's records and span tree (waterfall)" },
    { "stats", clew_cmd_stats, "partitions, segments, records and compression of a store" },
    { "tail", clew_cmd_tail, "follow a running collector: new records as they arrive" },
    { "alerts", clew_cmd_alerts, "recent alerts the alert rules stored" },
    { "rules", clew_cmd_rules, "check an alert rules file (rules check FILE)" },
};

static void usage(FILE *out)
{
    fprintf(out, "usage: clew COMMAND [options] | clew --version\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].help);
    }
    fprintf(out, "\n`clew COMMAND --help` describes a command's options.\n");
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLEW_EXIT_ERROR : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("clew %s\n", CLEW_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "clew: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLEW_EXIT_ERROR;
}
