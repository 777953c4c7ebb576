/* SPDX-License-Identifier: MIT
 * clew-ship: the node shipper. See clew-ship --help and docs/SHIPPER.md. */
#include <signal.h>
#include <stdio.h>

#include "common/log.h"
#include "shipper/agent.h"
#include "shipper/ship_config.h"

int main(int argc, char **argv)
{
    struct clew_ship_config cfg;
    char err[CLEW_ERR_LEN];
    signal(SIGPIPE, SIG_IGN);
    if (clew_ship_config_init(&cfg) < 0) {
        fprintf(stderr, "clew-ship: out of memory\n");
        return 2;
    }
    int rc = clew_ship_config_parse_args(&cfg, argc - 1, argv + 1, stdout, err);
    if (rc != 0) {
        if (rc < 0) {
            fprintf(stderr, "clew-ship: %s\n", err);
        }
        clew_ship_config_close(&cfg);
        return rc > 0 ? 0 : 2;
    }
    int level = clew_log_level_parse(cfg.log_level);
    if (level < 0) {
        fprintf(stderr, "clew-ship: --log-level: want error, warn, info or debug\n");
        clew_ship_config_close(&cfg);
        return 2;
    }
    clew_log_threshold = level;
    if (cfg.log_file[0] != '\0' && (rc = clew_log_open(cfg.log_file)) < 0) {
        fprintf(stderr, "clew-ship: --log-file %s: %s\n", cfg.log_file, clew_strerror(rc));
        clew_ship_config_close(&cfg);
        return 2;
    }
    struct clew_agent *a;
    if ((rc = clew_agent_new(&cfg, &a, err)) < 0) {
        clew_log(CLEW_LOG_ERROR, "ship", "%s", err);
        clew_ship_config_close(&cfg);
        return 1;
    }
    rc = clew_agent_run(a);
    clew_agent_free(a);
    clew_ship_config_close(&cfg);
    return rc;
}
