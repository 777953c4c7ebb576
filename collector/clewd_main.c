/* SPDX-License-Identifier: MIT
 * clewd: the collector. See clewd --help and docs/ARCHITECTURE.md. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "collector/config.h"
#include "collector/server.h"
#include "common/log.h"

int main(int argc, char **argv)
{
    struct clew_config cfg;
    char err[CLEW_ERR_LEN];
    signal(SIGPIPE, SIG_IGN);
    if (clew_config_init(&cfg) < 0) {
        fprintf(stderr, "clewd: out of memory\n");
        return 2;
    }
    int rc = clew_config_parse_args(&cfg, argc - 1, argv + 1, stdout, err);
    if (rc != 0) {
        if (rc < 0) {
            fprintf(stderr, "clewd: %s\n", err);
        }
        clew_config_close(&cfg);
        return rc > 0 ? 0 : 2;
    }
    int level = clew_log_level_parse(cfg.log_level);
    if (level < 0) {
        fprintf(stderr, "clewd: --log-level: want error, warn, info or debug\n");
        clew_config_close(&cfg);
        return 2;
    }
    clew_log_threshold = level;
    if (cfg.log_file[0] != '\0' && (rc = clew_log_open(cfg.log_file)) < 0) {
        fprintf(stderr, "clewd: --log-file %s: %s\n", cfg.log_file, clew_strerror(rc));
        clew_config_close(&cfg);
        return 2;
    }
    struct clew_server *srv;
    if ((rc = clew_server_new(&cfg, &srv, err)) < 0) {
        clew_log(CLEW_LOG_ERROR, "clewd", "%s", err);
        clew_config_close(&cfg);
        return 1;
    }
    clew_log(CLEW_LOG_INFO, "clewd", "started: data %s", cfg.data);
    rc = clew_server_run(srv);
    clew_server_free(srv);
    clew_log(CLEW_LOG_INFO, "clewd", "stopped");
    clew_log_open(NULL);
    clew_config_close(&cfg);
    return rc < 0 ? 1 : 0;
}
