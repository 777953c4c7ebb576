/* SPDX-License-Identifier: MIT
 * Patterns. A glob is joined to its root ("<root>/<glob>") and handed to
 * glob(3) for the scan, or to fnmatch(3) with FNM_PATHNAME | FNM_PERIOD to
 * ask whether a checkpointed path would be found by it; exclude patterns are
 * matched against the full path without flags, so `*` crosses `/`. */
#include "shipper/tail_match.h"

#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "shipper/tail_rotate.h"
#include "shipper/tailer.h"

#define DOCKER_GLOB "*/*-json.log"
#define CRI_GLOB    "*/*/*.log"

int clew_tail_match_check_glob(const char *what, const char *pattern, char err[CLEW_ERR_LEN])
{
    if (pattern[0] == '\0') {
        snprintf(err, CLEW_ERR_LEN, "%s: empty pattern", what);
        return CLEW_EBADARG;
    }
    if (pattern[0] == '/') {
        snprintf(err, CLEW_ERR_LEN, "%s '%s': must be relative to its root", what, pattern);
        return CLEW_EBADARG;
    }
    for (const char *s = pattern; *s;) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            snprintf(err, CLEW_ERR_LEN, "%s '%s': must not contain '..'", what, pattern);
            return CLEW_EBADARG;
        }
        s += n + (s[n] == '/');
    }
    return 0;
}

static char *dup_or(const char *v, const char *def)
{
    return clew_strdup(v && v[0] ? v : def);
}

/* Splits the comma-separated exclude list (empty items skipped). */
static int split_exclude(struct clew_tail_match *m, const char *list)
{
    if (list == NULL || list[0] == '\0') {
        return 0;
    }
    size_t n = 1;
    for (const char *s = list; *s; s++) {
        n += *s == ',';
    }
    if ((m->excl_buf = clew_strdup(list)) == NULL ||
        (m->excl = clew_calloc(n, sizeof(*m->excl))) == NULL) {
        return -ENOMEM;
    }
    for (char *s = m->excl_buf, *end; s; s = end) {
        if ((end = strchr(s, ',')) != NULL) {
            *end++ = '\0';
        }
        if (s[0] != '\0') {
            m->excl[m->nexcl++] = s;
        }
    }
    return 0;
}

int clew_tail_match_init(struct clew_tail_match *m, const struct clew_tailer_opts *opts,
                         char err[CLEW_ERR_LEN])
{
    memset(m, 0, sizeof(*m));
    if ((opts->docker_root && opts->docker_root[0] &&
         !(m->docker_root = clew_strdup(opts->docker_root))) ||
        (opts->cri_root && opts->cri_root[0] && !(m->cri_root = clew_strdup(opts->cri_root))) ||
        !(m->docker_glob = dup_or(opts->docker_glob, DOCKER_GLOB)) ||
        !(m->cri_glob = dup_or(opts->cri_glob, CRI_GLOB)) || split_exclude(m, opts->exclude) < 0) {
        return -ENOMEM;
    }
    if (!m->docker_root && !m->cri_root) {
        snprintf(err, CLEW_ERR_LEN, "neither a Docker nor a CRI log root to follow");
        return CLEW_EBADARG;
    }
    int rc = clew_tail_match_check_glob("Docker glob", m->docker_glob, err);
    return rc ? rc : clew_tail_match_check_glob("CRI glob", m->cri_glob, err);
}

void clew_tail_match_close(struct clew_tail_match *m)
{
    clew_free(m->docker_root);
    clew_free(m->cri_root);
    clew_free(m->docker_glob);
    clew_free(m->cri_glob);
    clew_free(m->excl);
    clew_free(m->excl_buf);
    memset(m, 0, sizeof(*m));
}

int clew_tail_match_excluded(const struct clew_tail_match *m, const char *path)
{
    for (size_t i = 0; i < m->nexcl; i++) {
        if (fnmatch(m->excl[i], path, 0) == 0) {
            return 1;
        }
    }
    return 0;
}

int clew_tail_match_wanted(const struct clew_tail_match *m, const char *path, int cri)
{
    char live[4400], pat[4200];
    const char *root = cri ? m->cri_root : m->docker_root;
    if (root == NULL) {
        return 0;
    }
    clew_tail_rotate_live_name(path, live, sizeof(live));
    snprintf(pat, sizeof(pat), "%s/%s", root, cri ? m->cri_glob : m->docker_glob);
    return fnmatch(pat, live, FNM_PATHNAME | FNM_PERIOD) == 0 && !clew_tail_match_excluded(m, live);
}

int clew_tail_match_list(const struct clew_tail_match *m, int cri, clew_tail_match_visit_cb visit,
                         void *ud, int *root_err)
{
    const char *root = cri ? m->cri_root : m->docker_root;
    *root_err = 0;
    if (root == NULL) {
        return 0;
    }
    char pat[4200];
    snprintf(pat, sizeof(pat), "%s/%s", root, cri ? m->cri_glob : m->docker_glob);
    glob_t g;
    memset(&g, 0, sizeof(g));
    int grc = glob(pat, 0, NULL, &g);
    int rc = 0;
    if (grc == GLOB_ABORTED || (grc == GLOB_NOMATCH && access(root, R_OK | X_OK) < 0)) {
        *root_err = errno ? errno : EACCES;
    }
    for (size_t i = 0; grc == 0 && i < g.gl_pathc && rc == 0; i++) {
        if (!clew_tail_match_excluded(m, g.gl_pathv[i])) {
            rc = visit(ud, g.gl_pathv[i]);
        }
    }
    globfree(&g);
    return rc;
}
