
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_module.h"


/*
 * A campaign's runtime state: the stop switch (campaigns/{id}/stop and
 * /resume) and what GET campaigns and campaigns/{id} show of it.
 *
 * The switch is a flag in the campaign_zone, so that every worker sees it
 * at once and a reload keeps it.  campaign_state_file keeps it across a
 * restart: the worker that turns a switch writes every flag to the file
 * (a new file, renamed over the old one), and the master seeds the zone
 * from the file when it reads its configuration -- a flag that the zone
 * has already, on a reload, is the live truth and stays.
 */


#define NGX_CAMPAIGN_STATE_KEY_LEN   (sizeof("s:") - 1 + 64)
#define NGX_CAMPAIGN_STATE_TIME_LEN  (sizeof("1970-01-01T00:00:00Z") - 1)


/* a flag of the state file, to be put into the zone */

typedef struct {
    ngx_campaign_t              *campaign;
    ngx_campaign_store_flag_t    flag;
} ngx_campaign_state_seed_t;


struct ngx_campaign_state_s {
    ngx_str_t                    file;        /* null-terminated, all */
    ngx_str_t                    tmp;
    ngx_str_t                    lock;
    ngx_str_t                    dir;
    ngx_array_t                  seeds;       /* ngx_campaign_state_seed_t */
};


static ngx_int_t ngx_campaign_state_read(ngx_conf_t *cf,
    ngx_campaign_state_t *state, ngx_campaign_main_conf_t *cmcf);
static ngx_int_t ngx_campaign_state_entry(ngx_conf_t *cf,
    ngx_campaign_state_t *state, ngx_campaign_main_conf_t *cmcf,
    cJSON *entry);
static void ngx_campaign_state_error(void *data, const char *file,
    const char *field, size_t line, size_t column, const char *message);
static ngx_int_t ngx_campaign_state_write(ngx_campaign_main_conf_t *cmcf,
    ngx_pool_t *pool, ngx_log_t *log);
static ngx_int_t ngx_campaign_state_write_tmp(ngx_campaign_state_t *state,
    u_char *data, size_t len, ngx_log_t *log);
static void ngx_campaign_state_key(ngx_campaign_t *c, ngx_str_t *key,
    u_char *buf);
static void ngx_campaign_state_flag(ngx_campaign_main_conf_t *cmcf,
    ngx_campaign_t *c, ngx_campaign_store_flag_t *flag);
static ngx_int_t ngx_campaign_campaign_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_campaign_t *c);
static void ngx_campaign_campaign_json(ngx_campaign_out_t *o,
    ngx_campaign_main_conf_t *cmcf, ngx_campaign_t *c);
static void ngx_campaign_campaign_counters(ngx_campaign_out_t *o,
    ngx_campaign_t *c);
static void ngx_campaign_out_time(ngx_campaign_out_t *o, time_t t);


/* campaign_state_file PATH */

char *
ngx_campaign_state_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_campaign_main_conf_t *cmcf = conf;

    u_char                *p;
    ngx_str_t             *value, name;
    ngx_campaign_state_t  *state;

    if (cmcf->state) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    /* runtime data, as the pid file: relative to the prefix */

    if (ngx_conf_full_name(cf->cycle, &name, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (name.data[name.len - 1] == '/') {
        return "must name a file, not a directory";
    }

    state = ngx_pcalloc(cf->pool, sizeof(ngx_campaign_state_t));
    if (state == NULL) {
        return NGX_CONF_ERROR;
    }

    state->file.len = name.len;
    state->file.data = ngx_pnalloc(cf->pool, name.len + 1);
    state->tmp.len = name.len + sizeof(".tmp") - 1;
    state->tmp.data = ngx_pnalloc(cf->pool, state->tmp.len + 1);
    state->lock.len = name.len + sizeof(".lock") - 1;
    state->lock.data = ngx_pnalloc(cf->pool, state->lock.len + 1);

    if (state->file.data == NULL || state->tmp.data == NULL
        || state->lock.data == NULL)
    {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(state->file.data, "%V%Z", &name);
    ngx_sprintf(state->tmp.data, "%V.tmp%Z", &name);
    ngx_sprintf(state->lock.data, "%V.lock%Z", &name);

    /* the directory, synced after a rename; a full name has a "/" */

    for (p = name.data + name.len - 1; p > name.data && *p != '/'; p--) {
        /* void */
    }

    state->dir.len = (p == name.data) ? 1 : (size_t) (p - name.data);
    state->dir.data = ngx_pnalloc(cf->pool, state->dir.len + 1);
    if (state->dir.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(state->dir.data, name.data, state->dir.len);
    state->dir.data[state->dir.len] = '\0';

    if (ngx_array_init(&state->seeds, cf->pool, 4,
                       sizeof(ngx_campaign_state_seed_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    cmcf->state = state;

    return NGX_CONF_OK;
}


/*
 * Once the campaigns are read (postconfiguration): the state file is
 * read and checked.  A missing file is a first start; a file that cannot
 * be read or is not what the module writes fails the configuration, as a
 * broken campaign file does: ignoring it would resume every stopped
 * campaign without a word.
 */

ngx_int_t
ngx_campaign_state_init(ngx_conf_t *cf)
{
    ngx_file_info_t            fi;
    ngx_campaign_state_t      *state;
    ngx_campaign_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_campaign_module);
    state = cmcf->state;

    if (state == NULL) {
        return NGX_OK;
    }

    if (cmcf->store == NULL) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "campaign_state_file \"%V\" needs \"campaign_zone\": "
                      "it is not used", &state->file);
        return NGX_OK;
    }

    if (ngx_file_info(state->dir.data, &fi) == NGX_FILE_ERROR
        || !ngx_is_dir(&fi))
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, ngx_errno,
                      "campaign_state_file \"%V\": the directory \"%V\" "
                      "is not there", &state->file, &state->dir);
        return NGX_ERROR;
    }

    if (ngx_file_info(state->file.data, &fi) == NGX_FILE_ERROR) {
        if (ngx_errno == NGX_ENOENT) {
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_EMERG, cf->log, ngx_errno,
                      ngx_file_info_n " \"%V\" failed", &state->file);
        return NGX_ERROR;
    }

    return ngx_campaign_state_read(cf, state, cmcf);
}


/*
 * The file the workers write:
 *
 *     {"campaigns":{"order-sms":{"stopped":true,"since":1764207378}}}
 *
 * "since" in seconds since the epoch.  A campaign that is no longer
 * defined is skipped, and goes from the file at its next write.
 */

static ngx_int_t
ngx_campaign_state_read(ngx_conf_t *cf, ngx_campaign_state_t *state,
    ngx_campaign_main_conf_t *cmcf)
{
    size_t                 len;
    cJSON                 *root, *campaigns, *entry;
    u_char                *text;
    ngx_int_t              rc;
    ngx_campaign_alloc_t   a;

    ngx_campaign_pool_alloc(&a, cf->temp_pool);

    text = ngx_campaign_definition_read_file(&a, (char *) state->file.data,
                                             &len, ngx_campaign_state_error,
                                             cf);
    if (text == NULL) {
        return NGX_ERROR;
    }

    root = ngx_campaign_definition_parse_json(&a, (char *) state->file.data,
                                              text, len,
                                              ngx_campaign_state_error, cf);
    if (root == NULL) {
        return NGX_ERROR;
    }

    campaigns = cJSON_GetObjectItemCaseSensitive(root, "campaigns");

    if (!cJSON_IsObject(root) || !cJSON_IsObject(campaigns)) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "campaign_state_file \"%V\": an object with "
                      "\"campaigns\" expected", &state->file);
        cJSON_Delete(root);
        return NGX_ERROR;
    }

    rc = NGX_OK;

    cJSON_ArrayForEach(entry, campaigns) {
        if (ngx_campaign_state_entry(cf, state, cmcf, entry) != NGX_OK) {
            rc = NGX_ERROR;
        }
    }

    cJSON_Delete(root);

    return rc;
}


static ngx_int_t
ngx_campaign_state_entry(ngx_conf_t *cf, ngx_campaign_state_t *state,
    ngx_campaign_main_conf_t *cmcf, cJSON *entry)
{
    cJSON                      *stopped, *since;
    ngx_campaign_t             *c;
    ngx_campaign_state_seed_t  *seed;

    stopped = cJSON_GetObjectItemCaseSensitive(entry, "stopped");
    since = cJSON_GetObjectItemCaseSensitive(entry, "since");

    if (!cJSON_IsObject(entry) || !cJSON_IsBool(stopped)
        || !cJSON_IsNumber(since) || since->valuedouble < 0
        || since->valuedouble > (double) NGX_MAX_TIME_T_VALUE
        || since->valuedouble != (double) (time_t) since->valuedouble)
    {
        /* the name is the file's: logged escaped */

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "campaign_state_file \"%V\": campaign \"%V\": "
                      "{\"stopped\": true or false, \"since\": seconds} "
                      "expected", &state->file,
                      ngx_campaign_log_escape(cf->temp_pool,
                                              (u_char *) entry->string,
                                              ngx_strlen(entry->string)));
        return NGX_ERROR;
    }

    /* the module writes the time of every stop: 0 is an edit */

    if (cJSON_IsTrue(stopped) && since->valuedouble == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "campaign_state_file \"%V\": campaign \"%V\": "
                      "stopped with \"since\": 0; a stopped campaign "
                      "needs the time it was stopped, in seconds since "
                      "the epoch", &state->file,
                      ngx_campaign_log_escape(cf->temp_pool,
                                              (u_char *) entry->string,
                                              ngx_strlen(entry->string)));
        return NGX_ERROR;
    }

    c = ngx_campaign_find(cmcf, (u_char *) entry->string,
                          ngx_strlen(entry->string));
    if (c == NULL) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "campaign_state_file \"%V\": no campaign \"%V\", "
                      "skipped", &state->file,
                      ngx_campaign_log_escape(cf->temp_pool,
                                              (u_char *) entry->string,
                                              ngx_strlen(entry->string)));
        return NGX_OK;
    }

    seed = ngx_array_push(&state->seeds);
    if (seed == NULL) {
        return NGX_ERROR;
    }

    seed->campaign = c;
    seed->flag.value = cJSON_IsTrue(stopped);
    seed->flag.since = (time_t) since->valuedouble;

    return NGX_OK;
}


static void
ngx_campaign_state_error(void *data, const char *file, const char *field,
    size_t line, size_t column, const char *message)
{
    ngx_conf_t *cf = data;

    if (line) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "campaign_state_file \"%s\", line %uz, column %uz: %s",
                      file, line, column, message);

    } else {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "campaign_state_file \"%s\": %s", file, message);
    }
}


/*
 * In the master, once the zone is there (init_module): the flags of the
 * file go into the zone, but for those it has already -- a reload reuses
 * the zone, whose flags are the live truth.
 */

ngx_int_t
ngx_campaign_state_seed(ngx_cycle_t *cycle)
{
    u_char                      buf[NGX_CAMPAIGN_STATE_KEY_LEN];
    ngx_str_t                   key;
    ngx_uint_t                  i;
    ngx_campaign_store_flag_t   flag;
    ngx_campaign_state_seed_t  *seed;
    ngx_campaign_main_conf_t   *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_campaign_module);

    if (cmcf == NULL || cmcf->state == NULL || cmcf->store == NULL) {
        return NGX_OK;
    }

    ngx_campaign_files_check(cycle, "campaign_state_file",
                             &cmcf->state->file, &cmcf->state->dir,
                             &cmcf->state->lock,
                             "a stop or resume will not outlast a restart");

    seed = cmcf->state->seeds.elts;

    for (i = 0; i < cmcf->state->seeds.nelts; i++) {
        ngx_campaign_state_key(seed[i].campaign, &key, buf);

        flag = seed[i].flag;

        switch (ngx_campaign_store_set_flag(cmcf->store, &key, &flag, 1,
                                            cycle->log))
        {
        case NGX_OK:
            break;

        case NGX_DECLINED:
            if (flag.value != seed[i].flag.value) {
                ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                              "campaign \"%s\" is %s in campaign_zone, "
                              "%s in campaign_state_file \"%V\": the "
                              "zone's state is kept",
                              seed[i].campaign->id,
                              flag.value ? "stopped" : "running",
                              seed[i].flag.value ? "stopped" : "running",
                              &cmcf->state->file);
            }

            break;

        default:
            ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                          "campaign \"%s\": no room for its stop switch "
                          "in campaign_zone", seed[i].campaign->id);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A trigger of a stopped campaign: 409, nothing sent, nothing kept.
 * NGX_OK: the campaign runs.
 */

ngx_int_t
ngx_campaign_stopped(ngx_http_request_t *r, ngx_campaign_t *c,
    ngx_int_t *answer)
{
    u_char                     msg[64 + NGX_CAMPAIGN_STATE_TIME_LEN];
    u_char                    *p;
    ngx_tm_t                   tm;
    ngx_campaign_store_flag_t  flag;
    ngx_campaign_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    ngx_campaign_state_flag(cmcf, c, &flag);

    if (!flag.value) {
        return NGX_OK;
    }

    ngx_gmtime(flag.since, &tm);

    p = ngx_snprintf(msg, sizeof(msg) - 1,
                     "campaign was stopped at "
                     "%4d-%02d-%02dT%02d:%02d:%02dZ",
                     tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                     tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
    *p = '\0';

    *answer = ngx_campaign_send_stopped(r, (char *) msg);

    return NGX_DECLINED;
}


/* GET campaigns, GET campaigns/{id} (id is NULL for the list) */

ngx_int_t
ngx_campaign_campaigns(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_int_t                  rc;
    ngx_str_t                  cid;
    ngx_uint_t                 i, n;
    ngx_array_t               *patterns;
    ngx_campaign_t            *c;
    ngx_campaign_out_t         o;
    ngx_campaign_main_conf_t  *cmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_campaign_not_allowed(r, "GET, HEAD");
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    if (id) {
        c = ngx_campaign_by_id(r, id, &rc);
        if (c == NULL) {
            return rc;
        }

        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_campaign_campaign_send(r, NGX_HTTP_OK, c);
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a key whose "read" names campaigns sees those only */

    patterns = ngx_campaign_keys_patterns(r, NGX_CAMPAIGN_SCOPE_READ);

    ngx_campaign_out_init(&o, r->pool, 256 + 320 * cmcf->ncampaigns);
    ngx_campaign_out_literal(&o, "{\"campaigns\":[");

    for (i = 0, n = 0; i < cmcf->ncampaigns; i++) {
        c = cmcf->campaigns[i];

        cid.data = (u_char *) c->id;
        cid.len = ngx_strlen(c->id);

        if (!ngx_campaign_keys_match(patterns, &cid)) {
            continue;
        }

        if (n++) {
            ngx_campaign_out_literal(&o, ",");
        }

        ngx_campaign_campaign_json(&o, cmcf, c);
    }

    ngx_campaign_out_literal(&o, "]}");

    return ngx_campaign_send_json(r, NGX_HTTP_OK, NULL, &o);
}


/*
 * POST campaigns/{id}/stop and /resume: the flag in the zone, at once
 * for every worker, then the state file.  Stopping a stopped campaign
 * changes nothing, and answers as the first stop did.
 */

ngx_int_t
ngx_campaign_switch(ngx_http_request_t *r, ngx_str_t *id, ngx_uint_t stop)
{
    u_char                     buf[NGX_CAMPAIGN_STATE_KEY_LEN];
    ngx_int_t                  rc;
    ngx_str_t                  key;
    ngx_campaign_t            *c;
    ngx_campaign_store_flag_t  flag;
    ngx_campaign_main_conf_t  *cmcf;

    if (r->method != NGX_HTTP_POST) {
        return ngx_campaign_not_allowed(r, "POST");
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    c = ngx_campaign_by_id(r, id, &rc);
    if (c == NULL) {
        return rc;
    }

    if (cmcf->store == NULL) {
        return ngx_campaign_refuse(r, NGX_HTTP_NOT_IMPLEMENTED,
                                   "the stop switch needs campaign_zone",
                                   "", "no campaign_zone is configured");
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_campaign_state_key(c, &key, buf);

    flag.value = stop;
    flag.since = ngx_time();

    rc = ngx_campaign_store_set_flag(cmcf->store, &key, &flag, 0,
                                     r->connection->log);

    if (rc == NGX_ERROR) {
        return ngx_campaign_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "no room in campaign_zone for the "
                                       "switch", "", "");
    }

    if (rc == NGX_OK) {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "campaign \"%s\" is %s", c->id,
                      stop ? "stopped" : "resumed");
    }

    /* written again even when unchanged: a write that failed is retried */

    if (cmcf->state
        && ngx_campaign_state_write(cmcf, r->pool, r->connection->log)
           != NGX_OK)
    {
        return ngx_campaign_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       stop ? "the campaign is stopped, but "
                                              "campaign_state_file could "
                                              "not be written: a restart "
                                              "would resume it"
                                            : "the campaign is resumed, but "
                                              "campaign_state_file could "
                                              "not be written: a restart "
                                              "would stop it again",
                                       "", "");
    }

    return ngx_campaign_campaign_send(r, NGX_HTTP_OK, c);
}


/*
 * Every flag of the campaigns, into the state file: a new file in the
 * same directory, synced, renamed over the old one, and the directory
 * synced.  Writers of all the workers take turns under a lock on a file
 * of its own, and each writes the flags as they are when it has the
 * lock: the last file written is never older than the last switch.
 */

static ngx_int_t
ngx_campaign_state_write(ngx_campaign_main_conf_t *cmcf, ngx_pool_t *pool,
    ngx_log_t *log)
{
    ngx_fd_t                   fd;
    ngx_err_t                  err;
    ngx_int_t                  rc;
    ngx_uint_t                 i, n;
    ngx_campaign_t            *c;
    ngx_campaign_out_t         o;
    ngx_campaign_state_t      *state;
    ngx_campaign_store_flag_t  flag;

    state = cmcf->state;

    fd = ngx_open_file(state->lock.data, NGX_FILE_RDWR,
                       NGX_FILE_CREATE_OR_OPEN, NGX_FILE_DEFAULT_ACCESS);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_open_file_n " \"%V\" failed", &state->lock);
        return NGX_ERROR;
    }

    /* a writer holds it for a write and a sync: a short wait */

    err = ngx_lock_fd(fd);

    if (err) {
        ngx_log_error(NGX_LOG_CRIT, log, err,
                      ngx_lock_fd_n " \"%V\" failed", &state->lock);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    ngx_campaign_out_init(&o, pool, 64 + 96 * cmcf->ncampaigns);
    ngx_campaign_out_literal(&o, "{\"campaigns\":{");

    for (i = 0, n = 0; i < cmcf->ncampaigns; i++) {
        c = cmcf->campaigns[i];

        ngx_campaign_state_flag(cmcf, c, &flag);

        if (flag.since == 0) {
            continue;                       /* never switched */
        }

        if (n++) {
            ngx_campaign_out_literal(&o, ",");
        }

        ngx_campaign_out_literal(&o, "\n");
        ngx_campaign_out_string(&o, (u_char *) c->id, ngx_strlen(c->id));
        ngx_campaign_out_literal(&o, ":{\"stopped\":");

        if (flag.value) {
            ngx_campaign_out_literal(&o, "true");

        } else {
            ngx_campaign_out_literal(&o, "false");
        }

        ngx_campaign_out_literal(&o, ",\"since\":");
        ngx_campaign_out_uint(&o, (ngx_uint_t) flag.since);
        ngx_campaign_out_literal(&o, "}");
    }

    ngx_campaign_out_literal(&o, "\n}}\n");

    if (o.failed) {
        rc = NGX_ERROR;

    } else {
        rc = ngx_campaign_state_write_tmp(state, o.start, o.pos - o.start,
                                          log);
    }

    if (rc == NGX_OK
        && ngx_rename_file(state->tmp.data, state->file.data)
           == NGX_FILE_ERROR)
    {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_rename_file_n " \"%V\" to \"%V\" failed",
                      &state->tmp, &state->file);

        if (ngx_delete_file(state->tmp.data) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                          ngx_delete_file_n " \"%V\" failed", &state->tmp);
        }

        rc = NGX_ERROR;
    }

    err = ngx_unlock_fd(fd);

    if (err) {
        ngx_log_error(NGX_LOG_ALERT, log, err,
                      ngx_unlock_fd_n " \"%V\" failed", &state->lock);
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &state->lock);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    /* the rename itself lasts once the directory is synced */

    fd = ngx_open_file(state->dir.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_open_file_n " \"%V\" failed", &state->dir);
        return NGX_ERROR;
    }

    rc = NGX_OK;

    if (fsync(fd) == -1) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      "fsync() \"%V\" failed", &state->dir);
        rc = NGX_ERROR;
    }

    (void) ngx_close_file(fd);

    return rc;
}


static ngx_int_t
ngx_campaign_state_write_tmp(ngx_campaign_state_t *state, u_char *data,
    size_t len, ngx_log_t *log)
{
    ssize_t   n;
    ngx_fd_t  fd;

    fd = ngx_open_file(state->tmp.data, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_FILE_DEFAULT_ACCESS);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_open_file_n " \"%V\" failed", &state->tmp);
        return NGX_ERROR;
    }

    while (len) {
        n = ngx_write_fd(fd, data, len);

        if (n == -1) {
            if (ngx_errno == NGX_EINTR) {
                continue;
            }

            ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                          ngx_write_fd_n " to \"%V\" failed", &state->tmp);
            goto failed;
        }

        data += n;
        len -= n;
    }

    if (fsync(fd) == -1) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      "fsync() \"%V\" failed", &state->tmp);
        goto failed;
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &state->tmp);
        fd = NGX_INVALID_FILE;
        goto failed;
    }

    return NGX_OK;

failed:

    if (fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(fd);
    }

    (void) ngx_delete_file(state->tmp.data);

    return NGX_ERROR;
}


/* a campaign's key in the store: "s:" and its id, of at most 64 bytes */

static void
ngx_campaign_state_key(ngx_campaign_t *c, ngx_str_t *key, u_char *buf)
{
    size_t  len;

    len = ngx_min(ngx_strlen(c->id), NGX_CAMPAIGN_STATE_KEY_LEN - 2);

    buf[0] = 's';
    buf[1] = ':';
    ngx_memcpy(buf + 2, c->id, len);

    key->data = buf;
    key->len = 2 + len;
}


/*
 * The campaign's switch; never set, or without a zone: running.  Each
 * trigger asks, so the worker keeps what it read last, and reads the
 * zone again only when a flag was set since (in any worker): one load
 * without the lock, and a switch still takes effect at the next trigger.
 */

static void
ngx_campaign_state_flag(ngx_campaign_main_conf_t *cmcf, ngx_campaign_t *c,
    ngx_campaign_store_flag_t *flag)
{
    u_char             buf[NGX_CAMPAIGN_STATE_KEY_LEN];
    ngx_str_t          key;
    ngx_atomic_uint_t  set;

    if (cmcf->store == NULL) {
        flag->value = 0;
        flag->since = 0;
        return;
    }

    set = ngx_campaign_store_flags_set(cmcf->store);

    if (c->switch_seen == set + 1) {
        flag->value = c->stopped;
        flag->since = c->stopped_since;
        return;
    }

    ngx_campaign_state_key(c, &key, buf);

    (void) ngx_campaign_store_get_flag(cmcf->store, &key, flag);

    c->switch_seen = set + 1;
    c->stopped = flag->value ? 1 : 0;
    c->stopped_since = flag->since;
}


static ngx_int_t
ngx_campaign_campaign_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_campaign_t *c)
{
    ngx_campaign_out_t         o;
    ngx_campaign_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    ngx_campaign_out_init(&o, r->pool, 512);
    ngx_campaign_campaign_json(&o, cmcf, c);

    return ngx_campaign_send_json(r, status, NULL, &o);
}


/*
 * A campaign as GET campaigns shows it: its definition's summary, then
 * "runtime": the effective status -- "stopped" by the switch, else the
 * definition's status when it is not "live", else "scheduled" or "ended"
 * outside the schedule, else "live" -- the switch, and since when.
 */

static void
ngx_campaign_campaign_json(ngx_campaign_out_t *o,
    ngx_campaign_main_conf_t *cmcf, ngx_campaign_t *c)
{
    time_t                      now;
    const char                 *status;
    ngx_campaign_store_flag_t   flag;

    ngx_campaign_out_literal(o, "{\"id\":");
    ngx_campaign_out_string(o, (u_char *) c->id, ngx_strlen(c->id));

    ngx_campaign_out_literal(o, ",\"name\":");
    ngx_campaign_out_string(o, (u_char *) c->name, ngx_strlen(c->name));

    if (c->type == NGX_CAMPAIGN_TRANSACTIONAL) {
        ngx_campaign_out_literal(o, ",\"type\":\"transactional\"");

    } else {
        ngx_campaign_out_literal(o, ",\"type\":\"marketing\"");
    }

    ngx_campaign_out_literal(o, ",\"channel\":\"");
    ngx_campaign_out_raw(o, (u_char *) ngx_campaign_channel_name(c->channel),
                         ngx_strlen(ngx_campaign_channel_name(c->channel)));
    ngx_campaign_out_literal(o, "\",\"status\":\"");
    ngx_campaign_out_raw(o, (u_char *) ngx_campaign_status_name(c->status),
                         ngx_strlen(ngx_campaign_status_name(c->status)));

    ngx_campaign_out_literal(o, "\",\"schedule\":{\"start\":");
    ngx_campaign_out_time(o, c->start);
    ngx_campaign_out_literal(o, ",\"end\":");
    ngx_campaign_out_time(o, c->end);

    ngx_campaign_out_literal(o, "},\"throttle\":");

    if (c->has_throttle) {
        ngx_campaign_out_literal(o, "{\"rate\":");
        ngx_campaign_out_uint(o, c->rate);
        ngx_campaign_out_literal(o, ",\"burst\":");
        ngx_campaign_out_uint(o, c->burst);
        ngx_campaign_out_literal(o, "}");

    } else {
        ngx_campaign_out_literal(o, "null");
    }

    ngx_campaign_state_flag(cmcf, c, &flag);

    now = ngx_time();

    if (flag.value) {
        status = "stopped";

    } else if (c->status != NGX_CAMPAIGN_LIVE) {
        status = ngx_campaign_status_name(c->status);

    } else if (c->start && now < c->start) {
        status = "scheduled";

    } else if (c->end && now >= c->end) {
        status = "ended";

    } else {
        status = "live";
    }

    ngx_campaign_out_literal(o, ",\"runtime\":{\"status\":\"");
    ngx_campaign_out_raw(o, (u_char *) status, ngx_strlen(status));
    ngx_campaign_out_literal(o, "\",\"stopped\":");

    if (flag.value) {
        ngx_campaign_out_literal(o, "true");

    } else {
        ngx_campaign_out_literal(o, "false");
    }

    ngx_campaign_out_literal(o, ",\"since\":");
    ngx_campaign_out_time(o, flag.since);
    ngx_campaign_out_literal(o, "}");

    ngx_campaign_campaign_counters(o, c);

    ngx_campaign_out_literal(o, "}");
}


/*
 * the campaign's counters, as GET campaigns/{id}/report has them: the last
 * member of a campaign's object in GET campaigns and campaigns/{id}
 */

static void
ngx_campaign_campaign_counters(ngx_campaign_out_t *o, ngx_campaign_t *c)
{
    ngx_campaign_out_literal(o, ",\"counters\":");
    ngx_campaign_metrics_json(o, c);
}


/* "2026-11-27T01:36:18Z", or null for 0 */

static void
ngx_campaign_out_time(ngx_campaign_out_t *o, time_t t)
{
    u_char    buf[NGX_CAMPAIGN_STATE_TIME_LEN + 2], *p;
    ngx_tm_t  tm;

    if (t == 0) {
        ngx_campaign_out_literal(o, "null");
        return;
    }

    ngx_gmtime(t, &tm);

    p = ngx_sprintf(buf, "\"%4d-%02d-%02dT%02d:%02d:%02dZ\"",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);

    ngx_campaign_out_raw(o, buf, p - buf);
}


/*
 * Audience executions (ngx_campaign_fanout.c) ask between batches,
 * without a request: 1 when the campaign's stop switch is on.
 */

ngx_uint_t
ngx_campaign_state_stopped(ngx_campaign_main_conf_t *cmcf, ngx_campaign_t *c)
{
    ngx_campaign_store_flag_t  flag;

    ngx_campaign_state_flag(cmcf, c, &flag);

    return flag.value ? 1 : 0;
}
