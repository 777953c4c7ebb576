/* SPDX-License-Identifier: MIT
 * input: the interface every network input implements (an ops table, no
 * dlopen), the registry that starts the configured ones, and what they
 * share: per-input counters, bad-input reports (counted always, logged for
 * the first few per minute with the peer's address), and address parsing.
 * Loop thread only, except that counters may be read from any thread. */
#ifndef CLEW_INPUT_H
#define CLEW_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "clew/error.h"
#include "collector/config.h"
#include "collector/pipeline.h"

/* Why input was rejected or cut; each has its own counter. */
enum clew_inerr {
    CLEW_INERR_FRAME,      /* framing: bad octet count, garbage between frames */
    CLEW_INERR_PARSE,      /* the message does not follow the protocol         */
    CLEW_INERR_OVERSIZE,   /* longer than --max-message: dropped               */
    CLEW_INERR_TRUNCATED,  /* longer than --max-message: cut and kept          */
    CLEW_INERR_DECOMPRESS, /* bad or oversized zlib/gzip data                  */
    CLEW_INERR_JSON,       /* invalid JSON                                     */
    CLEW_INERR_CHUNK,      /* bad GELF chunk header, or reassembly expired     */
    CLEW_INERR_MSGPACK,    /* invalid or unexpected msgpack                     */
    CLEW_INERR_CONN_LIMIT, /* connection refused: --max-connections reached    */
    CLEW_INERR_BUFFER,     /* peer overflowed --conn-buffer: connection closed */
    CLEW_INERR_NOMEM,      /* out of memory: the record was dropped            */
    CLEW_INERR_COUNT
};

const char *clew_inerr_name(enum clew_inerr e);

/* Counters of one input (updated on the loop thread with relaxed atomics). */
struct clew_input_stats {
    uint64_t datagrams;        /* UDP datagrams received                 */
    uint64_t connections;      /* TCP connections accepted               */
    uint64_t open_connections; /* gauge                                  */
    uint64_t bytes;            /* bytes received                         */
    uint64_t records;          /* records pushed (env->push accepted)    */
    uint64_t udp_drops;        /* datagrams dropped while paused         */
    uint64_t errors[CLEW_INERR_COUNT];
    /* Rate limit of logged reports. */
    int64_t window_start;
    unsigned window_logged;
};

#define clew_stat_add(field, n) __atomic_add_fetch(&(field), (n), __ATOMIC_RELAXED)

/* Counts one bad input of kind e on input `name` and logs it (with peer
 * and a short description) unless 5 were logged in the last minute. */
void clew_input_report(struct clew_input_stats *st, const char *name, enum clew_inerr e,
                       const char *peer, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Where an input hands a decoded record, on the loop thread. r and its
 * strings are borrowed until return (copy what must live longer). Returns 0,
 * or a negative error: the input then counts the record as dropped
 * (CLEW_INERR_NOMEM). It may call clew_inputs_pause before it returns. */
typedef int (*clew_input_push_cb)(void *ud, const struct clew_record *r);

/* What an input gets from its owner (clewd's server, clew-ship's listeners);
 * borrowed for the inputs' whole life, until their last close callback. */
struct clew_input_env {
    uv_loop_t *loop;
    /* Inputs that acknowledge (ops->durable != NULL: Forward) push into the
     * pipeline for its tickets. NULL: such inputs are not started. */
    struct clew_pipeline *pipe;
    const struct clew_config *cfg;
    /* Every other input (syslog, GELF) pushes here; must not be NULL. */
    clew_input_push_cb push;
    void *push_ud;
};

/* A clew_input_push_cb over clew_pipeline_push (ud is the struct
 * clew_pipeline), for clewd. */
int clew_input_push_pipeline(void *ud, const struct clew_record *r);

struct clew_input_ops {
    const char *name;
    /* Which config field holds the listen address. */
    const char *(*addr)(const struct clew_config *cfg);
    /* Binds and starts listening on addr; *state receives the input. */
    int (*start)(const struct clew_input_env *env, const char *addr, void **state,
                 char err[CLEW_ERR_LEN]);
    void (*pause)(void *state);
    void (*resume)(void *state);
    /* Every batch with a ticket <= ticket is durable. NULL for an input that
     * does not acknowledge; one that does needs env->pipe. */
    void (*durable)(void *state, uint64_t ticket);
    /* Closes everything; the input frees itself in its last close callback. */
    void (*stop)(void *state);
    struct clew_input_stats *(*stats)(void *state);
    /* Writes the bound addresses ("udp 127.0.0.1:1514 tcp ...") to buf. */
    void (*describe)(void *state, char *buf, size_t len);
};

/* The started inputs. */
struct clew_inputs;

/* Starts every input whose address is not "off" (and, without env->pipe,
 * none that acknowledges). env is borrowed until every input stopped and
 * its close callbacks ran. Returns 0, or the first input's error with err
 * set (the inputs already started are stopped again). */
int clew_inputs_start(const struct clew_input_env *env, struct clew_inputs **out,
                      char err[CLEW_ERR_LEN]);
/* paused != 0: TCP inputs stop reading, UDP inputs drop and count
 * (udp_drops); 0 resumes. Any number of times, from any loop callback. */
void clew_inputs_pause(struct clew_inputs *in, int paused);
/* Tells the acknowledging inputs that every ticket <= ticket is durable. */
void clew_inputs_durable(struct clew_inputs *in, uint64_t ticket);
/* Calls cb for each started input. */
void clew_inputs_each(struct clew_inputs *in,
                      void (*cb)(void *ud, const char *name, struct clew_input_stats *st,
                                 const char *where),
                      void *ud);
/* Stops the inputs and frees the registry (inputs free themselves). */
void clew_inputs_stop(struct clew_inputs *in);

/* Parses "HOST:PORT" or "[V6]:PORT" into a sockaddr. */
int clew_parse_addr(const char *addr, struct sockaddr_storage *out, char err[CLEW_ERR_LEN]);
/* Formats a peer address as "1.2.3.4:5678" into buf. */
const char *clew_format_addr(const struct sockaddr *sa, char *buf, size_t len);

#endif
