
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_module.h"


/*
 * campaign_journal DIR: the audience executions, each journaled in DIR so
 * that it outlives the worker that runs it:
 *
 *   DIR/<executionId>.jsonl   the audience, copied when it starts (the
 *                             snapshot; ".part" while being copied);
 *   DIR/<executionId>.json    what it is: campaign, audience, context,
 *                             status, counts and its cursor, the point up
 *                             to which every recipient is settled.
 *
 * Each file is written whole to a temporary name, synced, renamed over
 * the old one, and the directory is synced: a reader finds the old file
 * or the new one, never a part.
 *
 * Every worker looks at DIR once a second: an execution in progress that
 * no live worker owns (its worker quit on a reload, or was killed, or
 * nginx was restarted) is taken, in the zone, by one of them, which goes
 * on from the cursor.  Its messages keep their Idempotency-Keys, so a
 * message sent again after a crash is one that a gateway can drop.
 */


#define NGX_CAMPAIGN_JOURNAL_SCAN      1000   /* ms */
#define NGX_CAMPAIGN_JOURNAL_MAX_SIZE  (1024 * 1024)


static void ngx_campaign_journal_scan(ngx_event_t *ev);
static void ngx_campaign_journal_clean(ngx_campaign_main_conf_t *cmcf,
    ngx_log_t *log);
static ngx_int_t ngx_campaign_journal_sync_dir(ngx_str_t *dir,
    ngx_log_t *log);


static ngx_event_t  ngx_campaign_journal_event;
static time_t       ngx_campaign_journal_cleaned;


char *
ngx_campaign_journal_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_campaign_main_conf_t *cmcf = conf;

    ngx_str_t  *value;

    if (cmcf->journal.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    cmcf->journal = value[1];

    if (cmcf->journal.len == 0) {
        return "takes a directory";
    }

    while (cmcf->journal.len > 1
           && cmcf->journal.data[cmcf->journal.len - 1] == '/')
    {
        cmcf->journal.len--;
    }

    if (ngx_conf_full_name(cf->cycle, &cmcf->journal, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* at the end of the configuration: the journal needs the zone, and a dir */

ngx_int_t
ngx_campaign_journal_check(ngx_conf_t *cf)
{
    u_char                    *p;
    ngx_file_info_t            fi;
    ngx_campaign_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_campaign_module);

    if (cmcf->schedule_grace == NGX_CONF_UNSET) {
        cmcf->schedule_grace = 3600;
    }

    if (cmcf->journal_keep == NGX_CONF_UNSET) {
        cmcf->journal_keep = 7 * 86400;
    }

    if (cmcf->audience_batches == NGX_CONF_UNSET_UINT) {
        cmcf->audience_batches = 8;
    }

    if (cmcf->audience_source.len && cmcf->journal.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"campaign_audience_source\" needs "
                      "\"campaign_journal\": a source's answer is streamed "
                      "into the execution's snapshot there");
        return NGX_ERROR;
    }

    if (cmcf->journal.len == 0) {
        return NGX_OK;
    }

    if (cmcf->store == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"campaign_journal\" needs \"campaign_zone\": the "
                      "workers share the journal's executions through it");
        return NGX_ERROR;
    }

    p = ngx_pnalloc(cf->pool, cmcf->journal.len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn(p, cmcf->journal.data, cmcf->journal.len + 1);

    if (ngx_file_info(p, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, ngx_errno,
                      "campaign_journal \"%s\": " ngx_file_info_n " failed",
                      p);
        return NGX_ERROR;
    }

    if (!ngx_is_dir(&fi)) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "campaign_journal \"%s\" is not a directory", p);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* DIR/name, whole: DIR/name.tmp written, synced and renamed */

ngx_int_t
ngx_campaign_journal_write(ngx_str_t *dir, u_char *name, u_char *data,
    size_t len, ngx_log_t *log)
{
    u_char    path[NGX_MAX_PATH], tmp[NGX_MAX_PATH];
    ssize_t   n;
    ngx_fd_t  fd;

    if (dir->len + ngx_strlen(name) + sizeof("/.tmp") > NGX_MAX_PATH) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "campaign_journal \"%V\": a name is too long", dir);
        return NGX_ERROR;
    }

    (void) ngx_sprintf(path, "%V/%s%Z", dir, name);
    (void) ngx_sprintf(tmp, "%V/%s.tmp%Z", dir, name);

    fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_FILE_DEFAULT_ACCESS);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", tmp);
        return NGX_ERROR;
    }

    while (len) {
        n = write(fd, data, len);

        if (n == -1) {
            if (ngx_errno == NGX_EINTR) {
                continue;
            }

            ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                          "write() \"%s\" failed", tmp);
            goto failed;
        }

        data += n;
        len -= n;
    }

    if (fsync(fd) == -1) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      "fsync() \"%s\" failed", tmp);
        goto failed;
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", tmp);
        (void) ngx_delete_file(tmp);
        return NGX_ERROR;
    }

    if (ngx_rename_file(tmp, path) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_rename_file_n " \"%s\" to \"%s\" failed",
                      tmp, path);
        (void) ngx_delete_file(tmp);
        return NGX_ERROR;
    }

    return ngx_campaign_journal_sync_dir(dir, log);

failed:

    (void) ngx_close_file(fd);
    (void) ngx_delete_file(tmp);

    return NGX_ERROR;
}


static ngx_int_t
ngx_campaign_journal_sync_dir(ngx_str_t *dir, ngx_log_t *log)
{
    u_char    path[NGX_MAX_PATH];
    ngx_fd_t  fd;

    (void) ngx_sprintf(path, "%V%Z", dir);

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", path);
        return NGX_ERROR;
    }

    if (fsync(fd) == -1) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      "fsync() \"%s\" failed", path);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    (void) ngx_close_file(fd);

    return NGX_OK;
}


/* DIR/name, whole, into pool: NGX_DECLINED when there is none */

ngx_int_t
ngx_campaign_journal_read(ngx_str_t *dir, u_char *name, ngx_pool_t *pool,
    ngx_str_t *data, ngx_log_t *log)
{
    u_char           path[NGX_MAX_PATH];
    off_t            size;
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_err_t        err;
    ngx_file_info_t  fi;

    if (dir->len + ngx_strlen(name) + sizeof("/") > NGX_MAX_PATH) {
        return NGX_DECLINED;
    }

    (void) ngx_sprintf(path, "%V/%s%Z", dir, name);

    fd = ngx_open_file(path, NGX_FILE_RDONLY|NGX_FILE_NONBLOCK,
                       NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;

        if (err == NGX_ENOENT) {
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_ERR, log, err,
                      ngx_open_file_n " \"%s\" failed", path);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_fd_info_n " \"%s\" failed", path);
        goto failed;
    }

    size = ngx_file_size(&fi);

    if (!ngx_is_file(&fi) || size > NGX_CAMPAIGN_JOURNAL_MAX_SIZE) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "campaign_journal: \"%s\" is not a journal", path);
        goto failed;
    }

    data->data = ngx_pnalloc(pool, (size_t) size + 1);
    if (data->data == NULL) {
        goto failed;
    }

    n = pread(fd, data->data, (size_t) size, 0);

    if (n != (ssize_t) size) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "pread() \"%s\" failed or was short", path);
        goto failed;
    }

    data->len = n;
    data->data[n] = '\0';

    (void) ngx_close_file(fd);

    return NGX_OK;

failed:

    (void) ngx_close_file(fd);

    return NGX_ERROR;
}


void
ngx_campaign_journal_remove(ngx_str_t *dir, u_char *name, ngx_log_t *log)
{
    u_char  path[NGX_MAX_PATH];

    if (dir->len + ngx_strlen(name) + sizeof("/") > NGX_MAX_PATH) {
        return;
    }

    (void) ngx_sprintf(path, "%V/%s%Z", dir, name);

    if (ngx_delete_file(path) == NGX_FILE_ERROR && ngx_errno != NGX_ENOENT) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      ngx_delete_file_n " \"%s\" failed", path);
    }
}


/* a process that is still there (a worker of this master, or another) */

ngx_uint_t
ngx_campaign_journal_alive(ngx_pid_t pid)
{
    if (pid == ngx_pid) {
        return 1;
    }

    return kill(pid, 0) == 0 || ngx_errno != NGX_ESRCH;
}


ngx_int_t
ngx_campaign_journal_init_process(ngx_cycle_t *cycle)
{
    ngx_campaign_main_conf_t  *cmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    cmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_campaign_module);

    if (cmcf == NULL || cmcf->journal.len == 0 || cmcf->store == NULL) {
        return NGX_OK;
    }

    ngx_memzero(&ngx_campaign_journal_event, sizeof(ngx_event_t));

    ngx_campaign_journal_event.handler = ngx_campaign_journal_scan;
    ngx_campaign_journal_event.log = cycle->log;
    ngx_campaign_journal_event.data = cmcf;
    ngx_campaign_journal_event.cancelable = 1;

    /* a worker that replaces a killed one looks at once */

    ngx_add_timer(&ngx_campaign_journal_event, 10);

    return NGX_OK;
}


/*
 * Once a second: the heartbeat of this worker's executions, then the
 * executions in progress that nobody runs, of which it takes one.
 */

static void
ngx_campaign_journal_scan(ngx_event_t *ev)
{
    u_char                     name[NGX_CAMPAIGN_EXECUTION_ID_LEN + 1];
    size_t                     len;
    ngx_dir_t                  dir;
    ngx_uint_t                 i, hex;
    u_char                     path[NGX_MAX_PATH], *s;
    ngx_campaign_main_conf_t  *cmcf;

    cmcf = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_campaign_fanout_beat();
    ngx_campaign_schedule_due(cmcf, ev->log);

    /* the first worker removes what has ended long enough ago */

    if (ngx_worker == 0 && cmcf->journal_keep
        && ngx_time() - ngx_campaign_journal_cleaned
           >= ngx_min(cmcf->journal_keep, 3600))
    {
        ngx_campaign_journal_clean(cmcf, ev->log);
        ngx_campaign_journal_cleaned = ngx_time();
    }

    (void) ngx_sprintf(path, "%V%Z", &cmcf->journal);

    if (ngx_open_dir(&cmcf->journal, &dir) == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ev->log, ngx_errno,
                      ngx_open_dir_n " \"%s\" failed", path);
        goto next;
    }

    for ( ;; ) {
        ngx_set_errno(0);

        if (ngx_read_dir(&dir) == NGX_ERROR) {
            if (ngx_errno != NGX_ENOMOREFILES) {
                ngx_log_error(NGX_LOG_ERR, ev->log, ngx_errno,
                              ngx_read_dir_n " \"%s\" failed", path);
            }

            break;
        }

        len = ngx_de_namelen(&dir);
        s = ngx_de_name(&dir);

        /* <executionId>.json, nothing else */

        if (len != NGX_CAMPAIGN_EXECUTION_ID_LEN + sizeof(".json") - 1
            || ngx_strcmp(s + NGX_CAMPAIGN_EXECUTION_ID_LEN, ".json") != 0)
        {
            continue;
        }

        hex = 1;

        for (i = 0; i < NGX_CAMPAIGN_EXECUTION_ID_LEN; i++) {
            if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')
                  || s[i] == '-'))
            {
                hex = 0;
                break;
            }
        }

        if (!hex) {
            continue;
        }

        ngx_memcpy(name, s, NGX_CAMPAIGN_EXECUTION_ID_LEN);
        name[NGX_CAMPAIGN_EXECUTION_ID_LEN] = '\0';

        if (ngx_campaign_fanout_running(name)) {
            continue;
        }

        if (ngx_campaign_fanout_take(cmcf, name) == NGX_OK) {
            break;                  /* one at a time: the others share */
        }
    }

    (void) ngx_close_dir(&dir);

next:

    if (!(ngx_exiting || ngx_quit || ngx_terminate)) {
        ngx_add_timer(ev, NGX_CAMPAIGN_JOURNAL_SCAN);
    }
}


/*
 * campaign_journal_keep: an ended execution's journal, a schedule that
 * fired, was cancelled, missed or failed, and a temporary file left by a
 * crash, unchanged for longer than that, are removed.  An execution in
 * progress and a schedule still waiting are never removed, however old.
 * Both are written by us, whole: their state is found as written.
 */

static void
ngx_campaign_journal_clean(ngx_campaign_main_conf_t *cmcf, ngx_log_t *log)
{
    u_char          *name, path[NGX_MAX_PATH];
    size_t           len;
    time_t           now;
    ngx_str_t        text;
    ngx_dir_t        dir;
    ngx_uint_t       removed, json, schedule, tmp;
    ngx_pool_t      *pool;
    ngx_file_info_t  fi;

    if (ngx_open_dir(&cmcf->journal, &dir) == NGX_ERROR) {
        return;
    }

    now = ngx_time();
    removed = 0;
    pool = NULL;

    for ( ;; ) {
        if (ngx_read_dir(&dir) == NGX_ERROR) {
            break;
        }

        name = ngx_de_name(&dir);
        len = ngx_de_namelen(&dir);

        json = (len == NGX_CAMPAIGN_EXECUTION_ID_LEN + sizeof(".json") - 1
                && ngx_strcmp(name + NGX_CAMPAIGN_EXECUTION_ID_LEN, ".json")
                   == 0);
        schedule = (len == NGX_CAMPAIGN_EXECUTION_ID_LEN
                           + sizeof(".schedule") - 1
                    && ngx_strcmp(name + NGX_CAMPAIGN_EXECUTION_ID_LEN,
                                  ".schedule")
                       == 0);
        tmp = (len > sizeof(".tmp") - 1
               && ngx_strcmp(name + len - 4, ".tmp") == 0);

        if (!(json || schedule || tmp)
            || cmcf->journal.len + len + 2 > NGX_MAX_PATH)
        {
            continue;
        }

        (void) ngx_sprintf(path, "%V/%s%Z", &cmcf->journal, name);

        if (ngx_file_info(path, &fi) == NGX_FILE_ERROR
            || !ngx_is_file(&fi)
            || now - ngx_file_mtime(&fi) < cmcf->journal_keep)
        {
            continue;
        }

        if (!tmp) {
            if (pool) {
                ngx_destroy_pool(pool);
            }

            pool = ngx_create_pool(1024, log);
            if (pool == NULL) {
                break;
            }

            if (ngx_campaign_journal_read(&cmcf->journal, name, pool, &text,
                                          log)
                != NGX_OK)
            {
                continue;
            }

            if (ngx_strstr(text.data, json ? "\"status\":\"InProgress\""
                                           : "\"scheduleStatus\":"
                                             "\"Scheduled\"")
                || !ngx_strstr(text.data, json ? "\"status\":\""
                                               : "\"scheduleStatus\":\""))
            {
                continue;
            }
        }

        if (ngx_delete_file(path) == NGX_FILE_ERROR) {
            if (ngx_errno != NGX_ENOENT) {
                ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                              ngx_delete_file_n " \"%s\" failed", path);
            }

            continue;
        }

        removed++;
    }

    (void) ngx_close_dir(&dir);

    if (pool) {
        ngx_destroy_pool(pool);
    }

    if (removed) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "campaign_journal: %ui file(s) of ended executions "
                      "and schedules removed, older than "
                      "campaign_journal_keep", removed);
    }
}
