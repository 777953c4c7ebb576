/* SPDX-License-Identifier: MIT
 * cri: the Kubernetes CRI container log format (specs/container-logs.md §2):
 * one line `TIMESTAMP STREAM P|F[:more] CONTENT`, and the metadata the
 * kubelet puts in log paths (/var/log/pods/<ns>_<pod>_<uid>/<container>/
 * <restart>.log and the /var/log/containers symlink names). Pure: no I/O,
 * no allocation, no globals; any thread. Joining P records is the line
 * assembler's job (multiline.c). */
#ifndef CLEW_CRI_H
#define CLEW_CRI_H

#include <stddef.h>
#include <stdint.h>

#include "clew/record.h"

/* One decoded line; content points into the line. */
struct clew_cri_line {
    int stream;              /* enum clew_ship_stream (docker_json.h)            */
    int64_t ts;              /* ns since the epoch, UTC                          */
    int complete;            /* 1: tag F, 0: tag P                               */
    int no_delim;            /* `F` then end of line: accepted as empty, flagged */
    struct clew_str content; /* raw bytes up to the end of the line              */
};

/* Parses line[0..len) (without its '\n'). Returns 0 or CLEW_EFORMAT (bad
 * time, stream other than stdout/stderr, tag other than P/F, no space after
 * the tag before content). */
int clew_cri_line_parse(const char *line, size_t len, struct clew_cri_line *out);

/* Metadata of a CRI log path; strings point into the path. */
struct clew_cri_meta {
    struct clew_str namespace_;
    struct clew_str pod;
    struct clew_str uid;
    struct clew_str container;
    struct clew_str container_id; /* only from a /var/log/containers name */
    int restart;                  /* restart count (file stem), -1 unknown */
};

/* Parses a real path ".../<ns>_<pod>_<uid>/<container>/<restart>.log" (the
 * last three components are used). Returns 0 or CLEW_EFORMAT. */
int clew_cri_path_parse(const char *path, size_t len, struct clew_cri_meta *out);

/* Parses a kubelet symlink name ".../<pod>_<ns>_<container>-<id>.log".
 * Returns 0 or CLEW_EFORMAT. */
int clew_cri_link_parse(const char *path, size_t len, struct clew_cri_meta *out);

#endif
