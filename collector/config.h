/* SPDX-License-Identifier: MIT
 * config: clewd's settings. One table of {name, type, default, offset,
 * help} drives the defaults, the command line (--name VALUE), the YAML
 * config file (--config FILE: a flat mapping of the same names) and --help.
 * The command line wins over the file. Strings are owned by the config
 * (clew_config_close frees them). Main thread only. */
#ifndef CLEW_CONFIG_H
#define CLEW_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clew/error.h"

struct clew_config {
    char *data;         /* data directory                              */
    char *syslog;       /* syslog listen address (UDP+TCP), or "off"   */
    char *gelf;         /* GELF listen address (UDP+TCP), or "off"     */
    char *forward;      /* Forward listen address (TCP), or "off"      */
    char *http;         /* HTTP API listen address, or "off"           */
    char *config_file;  /* YAML config file                            */
    char *rules;        /* alert rules file                            */
    char *log_file;     /* clewd's own log; stderr when empty          */
    char *log_level;    /* error, warn, info, debug                    */
    char *fsync;        /* always, interval, never                     */
    char *wal_compress; /* off, lz4                                    */
    char *http_token;   /* Bearer token required off loopback          */
    char *correlate;    /* on/off: the correlation stage               */
    char *inject_ids;   /* on/off: fresh ids for records without one   */
    char *id_pattern;   /* a user PCRE2 pattern with (?<id>...)        */
    int64_t continuation_window;
    int64_t fsync_interval;
    int64_t retention; /* 0 keeps everything                          */
    int64_t seal_age;
    size_t seal_size;
    size_t max_message;
    size_t max_connections;
    size_t conn_buffer;
    size_t gelf_reassembly_mem;
    int64_t gelf_chunk_timeout;
};

/* Fills c with the defaults. */
int clew_config_init(struct clew_config *c);
void clew_config_close(struct clew_config *c);

/* Applies argv (after the program name). A --config FILE is read first,
 * wherever it stands, and the other options override it. Returns 0, 1 when
 * --help was asked (usage printed to out), or CLEW_EBADARG with err set. */
int clew_config_parse_args(struct clew_config *c, int argc, char **argv, FILE *out,
                           char err[CLEW_ERR_LEN]);

/* Sets one option by name from text. Returns 0 or CLEW_EBADARG with err. */
int clew_config_set(struct clew_config *c, const char *name, const char *value,
                    char err[CLEW_ERR_LEN]);

/* Reads a YAML file of "name: value" pairs. */
int clew_config_load_file(struct clew_config *c, const char *path, char err[CLEW_ERR_LEN]);

/* Parses a size: a number with an optional k, M, G (or KiB, MiB, GiB)
 * suffix, powers of 1024. Returns 0 or CLEW_EFORMAT. */
int clew_parse_size(const char *s, size_t *out);

void clew_config_usage(FILE *out);

#endif
