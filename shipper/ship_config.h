/* SPDX-License-Identifier: MIT
 * ship_config: clew-ship's options: one table gives each option its name,
 * default and help; the command line (--name VALUE or --name=VALUE) and a
 * config file of `name: value` lines (a flat YAML mapping; # comments) fill
 * it, the command line winning. The struct owns its strings
 * (clew_ship_config_close frees them). Main thread only. */
#ifndef CLEW_SHIP_CONFIG_H
#define CLEW_SHIP_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clew/error.h"

struct clew_ship_config {
    char *forward;     /* HOST:PORT[,HOST:PORT...]                         */
    char *state;       /* state directory: checkpoint, disk buffer, status */
    char *docker_root; /* "off" disables                                   */
    char *cri_root;    /* "off" disables                                   */
    char *docker_glob; /* glob(3) under docker_root (relative, no "..")    */
    char *cri_glob;    /* glob(3) under cri_root (relative, no "..")       */
    char *exclude;     /* fnmatch(3) patterns, comma-separated; "" = none  */
    char *syslog;      /* listener address or "off"                        */
    char *gelf;        /* listener address or "off"                        */
    char *config;      /* the file read, or "none"                         */
    char *host;        /* node name sent with every record ("" = hostname) */
    char *tag;         /* Forward tag                                      */
    char *multiline;   /* "off", "default" or a PCRE2 start pattern        */
    char *log_file;    /* "" = stderr                                      */
    char *log_level;
    size_t batch_size;
    size_t max_inflight;
    size_t max_memory;  /* memory queue bound                               */
    size_t buffer_size; /* disk buffer bound; 0 disables it                */
    size_t max_line;
    int64_t batch_wait;
    int64_t spill_after;
    int64_t failback_every;
    int64_t ack_timeout;
    int64_t multiline_wait;
    int64_t rotate_wait;
    int64_t checkpoint_every;
    int64_t scan_every;
    int64_t drain_timeout; /* on SIGTERM: wait this long for acks            */
    int64_t gzip;          /* 0 off, 1-9 level                                */
};

/* Sets every default. Returns 0 or -ENOMEM. */
int clew_ship_config_init(struct clew_ship_config *c);

/* Parses argv[0..argc) (without the program name), reading --config first
 * when given. Returns 0, 1 when --help was printed to help_out, or
 * CLEW_EBADARG / -errno with err set. */
int clew_ship_config_parse_args(struct clew_ship_config *c, int argc, char **argv, FILE *help_out,
                                char err[CLEW_ERR_LEN]);

/* Reads a `name: value` file. Returns 0, -errno or CLEW_EBADARG. */
int clew_ship_config_load_file(struct clew_ship_config *c, const char *path,
                               char err[CLEW_ERR_LEN]);

/* Sets one option from text. Returns 0, CLEW_ENOTFOUND (no such option) or
 * CLEW_EBADARG (bad value); err says which. */
int clew_ship_config_set(struct clew_ship_config *c, const char *name, const char *value,
                         char err[CLEW_ERR_LEN]);

/* Parses "64MiB", "1m", "512k", "1g", "4096" into bytes. Returns 0 or
 * CLEW_EFORMAT. */
int clew_ship_parse_size(const char *s, size_t *out);

void clew_ship_config_close(struct clew_ship_config *c);

#endif
