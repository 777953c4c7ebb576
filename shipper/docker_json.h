/* SPDX-License-Identifier: MIT
 * docker_json: Docker's json-file log format (specs/container-logs.md §1).
 * Decodes one line ({"log":...,"stream":...,"attrs":{...},"time":...}) into
 * its stream, time, content and completeness (a `log` without its trailing
 * newline is a 16 KiB fragment), and reads a container's config.v2.json for
 * its name, image and compose service. Pure: no I/O except the explicit
 * config reader, no globals; any thread. Joining fragments is the line
 * assembler's job (multiline.c). */
#ifndef CLEW_DOCKER_JSON_H
#define CLEW_DOCKER_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"
#include "clew/record.h"
#include "common/buf.h"

#define CLEW_DOCKER_MAX_ATTRS 16 /* more attrs are dropped (counted in nattrs_dropped) */

enum clew_ship_stream {
    CLEW_SHIP_STDOUT = 0,
    CLEW_SHIP_STDERR = 1,
};

/* One decoded line. content and the attrs point into the caller's scratch
 * buffer (or the line itself) and stay valid until scratch changes. */
struct clew_docker_line {
    int stream;              /* enum clew_ship_stream                          */
    int64_t ts;              /* ns since the epoch                             */
    int complete;            /* 1: `log` ended with '\n' (stripped here)       */
    struct clew_str content; /* decoded `log` without the trailing newline    */
    struct clew_str attr_keys[CLEW_DOCKER_MAX_ATTRS];
    struct clew_str attr_vals[CLEW_DOCKER_MAX_ATTRS];
    size_t nattrs;
    size_t nattrs_dropped;
};

/* Decodes line[0..len) (without its '\n'). Decoded strings go to scratch,
 * which is reset first; out's strings point into scratch. Returns 0, or
 * CLEW_EFORMAT (not a JSON object, no valid `stream` or `time`, `log` not a
 * string), -ENOMEM. Invalid UTF-8 inside strings is repaired to U+FFFD. */
int clew_docker_line_parse(const char *line, size_t len, struct clew_buf *scratch,
                           struct clew_docker_line *out);

/* A container's metadata from <root>/<id>/config.v2.json. Every string is
 * heap-allocated (NUL-terminated, possibly empty); free with
 * clew_docker_meta_clear. */
struct clew_docker_meta {
    char *name;    /* without Docker's leading '/'                         */
    char *image;   /* Config.Image                                         */
    char *service; /* label com.docker.compose.service, else empty         */
    char *project; /* label com.docker.compose.project, else empty         */
};

/* Parses config.v2.json text (borrowed). Returns 0 with *out filled (the
 * caller clears it), CLEW_EFORMAT (not a JSON object) or -ENOMEM; on error
 * *out holds nothing to free. */
int clew_docker_meta_parse(const char *text, size_t len, struct clew_docker_meta *out);

/* Reads and parses path (capped at 4 MiB). Returns 0, -errno, CLEW_ETOOBIG,
 * CLEW_EFORMAT or -ENOMEM; err says which file and why. */
int clew_docker_meta_load(const char *path, struct clew_docker_meta *out, char err[CLEW_ERR_LEN]);

/* Frees the strings of m and zeroes it; NULL-safe. */
void clew_docker_meta_clear(struct clew_docker_meta *m);

#endif
