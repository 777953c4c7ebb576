/* SPDX-License-Identifier: MIT */
#include "collector/alert_actions.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/timeutil.h"

extern char **environ;

#define QUEUE_DEFAULT   256
#define BACKOFF_DEFAULT (500 * 1000000LL)
#define BACKOFF_MAX     (30 * CLEW_NS_PER_SEC)

/* One webhook or exec run; a single allocation holding its strings. */
struct job {
    struct job *next;
    enum clew_action_type type;
    int64_t timeout_ns;
    unsigned retries;
    const char *url;
    char **argv;
    char *body;
    size_t body_len;
};

struct clew_actions {
    struct clew_actions_opts o;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* a job queued, or stop  */
    pthread_cond_t idle_cv; /* the worker went idle   */
    struct job *head, *tail;
    size_t queued;
    int busy, stop;
    int curl_inited;
    CURL *curl;
    struct clew_actions_stats stats;
};

static void bump(uint64_t *c)
{
    __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* --------------------------------------------------------------- submit */

static struct job *job_new(const struct clew_rule_action *a, const struct clew_alert_event *ev)
{
    size_t strs = ev->body.len + 1 + (a->url ? strlen(a->url) + 1 : 0);
    for (size_t i = 0; i < a->argc; i++) {
        strs += strlen(a->argv[i]) + 1;
    }
    size_t head = sizeof(struct job) + (a->argc + 1) * sizeof(char *);
    struct job *j = clew_malloc(head + strs);
    if (j == NULL) {
        return NULL;
    }
    memset(j, 0, sizeof(*j));
    j->type = a->type;
    j->timeout_ns = a->timeout_ns;
    j->retries = a->retries;
    j->argv = (char **)(void *)(j + 1);
    char *p = (char *)j + head;
    j->body = p;
    memcpy(p, ev->body.ptr, ev->body.len);
    p[ev->body.len] = '\0';
    j->body_len = ev->body.len;
    p += ev->body.len + 1;
    if (a->url != NULL) {
        j->url = strcpy(p, a->url);
        p += strlen(a->url) + 1;
    }
    for (size_t i = 0; i < a->argc; i++) {
        j->argv[i] = strcpy(p, a->argv[i]);
        p += strlen(a->argv[i]) + 1;
    }
    j->argv[a->argc] = NULL;
    return j;
}

static void enqueue(struct clew_actions *act, const struct clew_rule_action *a,
                    const struct clew_alert_event *ev)
{
    size_t max = act->o.queue_max ? act->o.queue_max : QUEUE_DEFAULT;
    pthread_mutex_lock(&act->mu);
    int full = act->queued >= max || act->stop;
    pthread_mutex_unlock(&act->mu);
    struct job *j = full ? NULL : job_new(a, ev);
    if (j == NULL) {
        bump(&act->stats.dropped[a->type]);
        return;
    }
    pthread_mutex_lock(&act->mu);
    if (act->tail != NULL) {
        act->tail->next = j;
    } else {
        act->head = j;
    }
    act->tail = j;
    act->queued++;
    pthread_cond_signal(&act->cv);
    pthread_mutex_unlock(&act->mu);
}

static void log_action(struct clew_actions *act, const struct clew_alert_event *ev)
{
    struct clew_record r;
    memset(&r, 0, sizeof(r));
    r.ts = ev->at;
    r.level = ev->status == CLEW_ALERT_FIRING ? 4 : 5; /* warning, notice */
    r.input = CLEW_INPUT_UNKNOWN;
    r.labels[CLEW_LABEL_SERVICE] = CLEW_STR_LIT(CLEW_ALERTS_SERVICE);
    r.labels[CLEW_LABEL_HOST] = ev->host;
    r.message = ev->line;
    r.fields = ev->body;
    int rc = act->o.log != NULL ? act->o.log(act->o.log_ud, &r) : CLEW_ECLOSED;
    bump(rc == 0 ? &act->stats.ok[CLEW_ACTION_LOG] : &act->stats.failed[CLEW_ACTION_LOG]);
}

void clew_actions_submit(struct clew_actions *act, const struct clew_alert_event *ev)
{
    for (size_t i = 0; i < ev->rule->nactions; i++) {
        const struct clew_rule_action *a = &ev->rule->actions[i];
        if (a->type == CLEW_ACTION_LOG) {
            log_action(act, ev);
        } else {
            enqueue(act, a, ev);
        }
    }
}

/* -------------------------------------------------------------- webhook */

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* One POST. Returns 1 on a 2xx answer. */
static int post_once(struct clew_actions *act, const struct job *j)
{
    CURL *c = act->curl;
    /* "Expect:" off: no wait for a 100 Continue that small receivers never send. */
    static const char *const hdrs[] = { "Content-Type: application/json", "User-Agent: clewd",
                                        "Expect:" };
    struct curl_slist *h2 = NULL;
    for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
        struct curl_slist *n = curl_slist_append(h2, hdrs[i]);
        if (n == NULL) {
            curl_slist_free_all(h2);
            return 0;
        }
        h2 = n;
    }
    long ms = (long)(j->timeout_ns / 1000000);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, j->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h2);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body_len);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    long code = 0;
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    }
    curl_slist_free_all(h2);
    return rc == CURLE_OK && code >= 200 && code < 300;
}

/* Sleeps ns unless stop is set meanwhile; returns 1 when stopping. */
static int wait_or_stop(struct clew_actions *act, int64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t t = (int64_t)ts.tv_sec * CLEW_NS_PER_SEC + ts.tv_nsec + ns;
    ts.tv_sec = (time_t)(t / CLEW_NS_PER_SEC);
    ts.tv_nsec = (long)(t % CLEW_NS_PER_SEC);
    pthread_mutex_lock(&act->mu);
    int rc = 0;
    while (!act->stop && rc == 0) {
        rc = pthread_cond_timedwait(&act->cv, &act->mu, &ts);
    }
    int stop = act->stop;
    pthread_mutex_unlock(&act->mu);
    return stop;
}

static int run_webhook(struct clew_actions *act, const struct job *j)
{
    int64_t backoff = act->o.backoff_ns > 0 ? act->o.backoff_ns : BACKOFF_DEFAULT;
    for (unsigned attempt = 0; attempt <= j->retries; attempt++) {
        if (attempt > 0) {
            bump(&act->stats.retries[CLEW_ACTION_WEBHOOK]);
            if (wait_or_stop(act, backoff)) {
                return 0;
            }
            backoff = backoff * 2 < BACKOFF_MAX ? backoff * 2 : BACKOFF_MAX;
        }
        if (post_once(act, j)) {
            return 1;
        }
    }
    return 0;
}

/* ----------------------------------------------------------------- exec */

/* Writes the body to fd (non-blocking) until done or the deadline. */
static int feed(int fd, const char *p, size_t len, int64_t deadline)
{
    while (len > 0) {
        int64_t left = deadline - clew_time_mono_ns();
        struct pollfd pfd = { fd, POLLOUT, 0 };
        if (left <= 0 || poll(&pfd, 1, (int)(left / 1000000 + 1)) < 0) {
            return -ETIMEDOUT;
        }
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return -errno; /* EPIPE: the command does not read stdin; not an error of ours */
        }
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
    }
    return 0;
}

/* Waits for pid until the deadline, then kills it. Returns its status or -1. */
static int reap(pid_t pid, int64_t deadline)
{
    int status;
    int64_t nap = 1000000;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            return status;
        }
        if (w < 0 && errno != EINTR) {
            return -1;
        }
        if (clew_time_mono_ns() >= deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            return -1;
        }
        struct timespec ts = { 0, (long)nap };
        nanosleep(&ts, NULL);
        nap = nap * 2 < 50000000 ? nap * 2 : 50000000;
    }
}

static int spawn(const struct job *j, int in_fd, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE); /* clewd ignores it; the command should not */
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawnp(pid, j->argv[0], &fa, &at, j->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return -rc;
}

static int run_exec(const struct job *j)
{
    int fds[2];
    if (pipe(fds) < 0) {
        return 0;
    }
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    pid_t pid;
    int rc = spawn(j, fds[0], &pid);
    close(fds[0]);
    if (rc < 0) {
        close(fds[1]);
        return 0;
    }
    int64_t deadline = clew_time_mono_ns() + j->timeout_ns;
    feed(fds[1], j->body, j->body_len, deadline);
    close(fds[1]);
    int status = reap(pid, deadline);
    return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* --------------------------------------------------------------- worker */

static void *worker(void *arg)
{
    struct clew_actions *act = arg;
    /* A command that exits without reading its stdin must give this thread
     * EPIPE, not kill the process with SIGPIPE (whatever the program's
     * disposition of SIGPIPE is). */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    pthread_mutex_lock(&act->mu);
    for (;;) {
        while (!act->stop && act->head == NULL) {
            act->busy = 0;
            pthread_cond_broadcast(&act->idle_cv);
            pthread_cond_wait(&act->cv, &act->mu);
        }
        if (act->stop) {
            break;
        }
        struct job *j = act->head;
        act->head = j->next;
        if (act->head == NULL) {
            act->tail = NULL;
        }
        act->queued--;
        act->busy = 1;
        pthread_mutex_unlock(&act->mu);
        int ok = j->type == CLEW_ACTION_WEBHOOK ? run_webhook(act, j) : run_exec(j);
        bump(ok ? &act->stats.ok[j->type] : &act->stats.failed[j->type]);
        clew_free(j);
        pthread_mutex_lock(&act->mu);
    }
    act->busy = 0;
    pthread_cond_broadcast(&act->idle_cv);
    pthread_mutex_unlock(&act->mu);
    return NULL;
}

int clew_actions_new(const struct clew_actions_opts *o, struct clew_actions **out,
                     char err[CLEW_ERR_LEN])
{
    *out = NULL;
    struct clew_actions *act = clew_calloc(1, sizeof(*act));
    if (act == NULL) {
        snprintf(err, CLEW_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    act->o = *o;
    pthread_mutex_init(&act->mu, NULL);
    pthread_cond_init(&act->cv, NULL);
    pthread_cond_init(&act->idle_cv, NULL);
    int rc = 0;
    act->curl_inited = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    if (!act->curl_inited || (act->curl = curl_easy_init()) == NULL) {
        snprintf(err, CLEW_ERR_LEN, "libcurl initialisation failed");
        rc = CLEW_EBADARG;
        goto fail;
    }
    if ((rc = -pthread_create(&act->thread, NULL, worker, act)) < 0) {
        snprintf(err, CLEW_ERR_LEN, "alert actions thread: %s", strerror(-rc));
        goto fail;
    }
    act->started = 1;
    *out = act;
    return 0;
fail:
    clew_actions_free(act);
    return rc;
}

int clew_actions_drain(struct clew_actions *act, int64_t timeout_ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t t = (int64_t)ts.tv_sec * CLEW_NS_PER_SEC + ts.tv_nsec + timeout_ns;
    ts.tv_sec = (time_t)(t / CLEW_NS_PER_SEC);
    ts.tv_nsec = (long)(t % CLEW_NS_PER_SEC);
    pthread_mutex_lock(&act->mu);
    int rc = 0;
    while ((act->head != NULL || act->busy) && rc == 0) {
        rc = pthread_cond_timedwait(&act->idle_cv, &act->mu, &ts);
    }
    int idle = act->head == NULL && !act->busy;
    pthread_mutex_unlock(&act->mu);
    return idle;
}

void clew_actions_free(struct clew_actions *act)
{
    if (act == NULL) {
        return;
    }
    if (act->started) {
        pthread_mutex_lock(&act->mu);
        act->stop = 1;
        pthread_cond_broadcast(&act->cv);
        pthread_mutex_unlock(&act->mu);
        pthread_join(act->thread, NULL);
    }
    for (struct job *j = act->head, *nx; j != NULL; j = nx) {
        nx = j->next;
        bump(&act->stats.dropped[j->type]);
        clew_free(j);
    }
    if (act->curl != NULL) {
        curl_easy_cleanup(act->curl);
    }
    if (act->curl_inited) {
        curl_global_cleanup(); /* reference-counted by libcurl */
    }
    pthread_cond_destroy(&act->cv);
    pthread_cond_destroy(&act->idle_cv);
    pthread_mutex_destroy(&act->mu);
    clew_free(act);
}

void clew_actions_get_stats(const struct clew_actions *act, struct clew_actions_stats *out)
{
    const uint64_t *src = (const uint64_t *)(const void *)&act->stats;
    uint64_t *dst = (uint64_t *)(void *)out;
    for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++) {
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    }
}

void clew_actions_write_metrics(const struct clew_actions *act, struct clew_buf *out)
{
    static const char *const types[3] = { "webhook", "exec", "log" };
    struct clew_actions_stats s;
    clew_actions_get_stats(act, &s);
    char line[256];
    const char *h1 = "# HELP clew_alert_actions_total Alert actions by type and result.\n"
                     "# TYPE clew_alert_actions_total counter\n";
    clew_buf_append(out, h1, strlen(h1));
    for (int t = 0; t < 3; t++) {
        const uint64_t v[3] = { s.ok[t], s.failed[t], s.dropped[t] };
        static const char *const res[3] = { "success", "failure", "dropped" };
        for (int k = 0; k < 3; k++) {
            int n = snprintf(line, sizeof(line),
                             "clew_alert_actions_total{type=\"%s\",result=\"%s\"} %" PRIu64 "\n",
                             types[t], res[k], v[k]);
            clew_buf_append(out, line, (size_t)n);
        }
    }
    const char *h2 = "# HELP clew_alert_action_retries_total Webhook attempts after the first.\n"
                     "# TYPE clew_alert_action_retries_total counter\n";
    clew_buf_append(out, h2, strlen(h2));
    int n = snprintf(line, sizeof(line),
                     "clew_alert_action_retries_total{type=\"webhook\"} %" PRIu64 "\n",
                     s.retries[CLEW_ACTION_WEBHOOK]);
    clew_buf_append(out, line, (size_t)n);
}
