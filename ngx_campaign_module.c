
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_module.h"
#include "ngx_campaign_connector.h"


static void *ngx_campaign_pool_alloc_handler(void *pool, size_t size);
static int ngx_campaign_pool_cleanup_handler(void *pool,
    void (*handler)(void *data), void *data);

static ngx_int_t ngx_campaign_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_campaign_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_campaign_init_process(ngx_cycle_t *cycle);
static void ngx_campaign_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_campaign_init(ngx_conf_t *cf);
static void *ngx_campaign_create_main_conf(ngx_conf_t *cf);
static char *ngx_campaign_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_campaign_create_loc_conf(ngx_conf_t *cf);
static char *ngx_campaign_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);

static char *ngx_campaign_definitions(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_campaign_definition_error(void *data, const char *file,
    const char *field, size_t line, size_t column, const char *message);
static int ngx_campaign_cmp(const void *one, const void *two);
static char *ngx_campaign_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_campaign_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_campaign_gateway(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_campaign_outbox(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_campaign_set_profile_lookup(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_campaign_retry_delay(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_campaign_max_body_size(ngx_conf_t *cf, void *post,
    void *data);


static ngx_conf_num_bounds_t  ngx_campaign_retries_bounds = {
    ngx_conf_check_num_bounds, 0, 10
};

static ngx_conf_num_bounds_t  ngx_campaign_concurrency_bounds = {
    ngx_conf_check_num_bounds, 1, 1000
};

static ngx_conf_num_bounds_t  ngx_campaign_max_running_bounds = {
    ngx_conf_check_num_bounds, 1, 10000
};

static ngx_conf_num_bounds_t  ngx_campaign_audience_batches_bounds = {
    ngx_conf_check_num_bounds, 1, 1000
};

static ngx_conf_post_t  ngx_campaign_retry_delay_post = {
    ngx_campaign_retry_delay
};

static ngx_conf_post_t  ngx_campaign_max_body_size_post = {
    ngx_campaign_max_body_size
};


static ngx_command_t  ngx_campaign_commands[] = {

    { ngx_string("campaign_definitions"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_campaign_definitions,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_campaign_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_audiences"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_campaign_audiences_set,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_audience_source"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_campaign_audience_source_set,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_journal"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_campaign_journal_set,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_audience_batches"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_campaign_main_conf_t, audience_batches),
      &ngx_campaign_audience_batches_bounds },

    { ngx_string("campaign_journal_keep"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_campaign_main_conf_t, journal_keep),
      NULL },

    { ngx_string("campaign_schedule_grace"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_campaign_main_conf_t, schedule_grace),
      NULL },

    { ngx_string("campaign_audience_max_duration"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_campaign_main_conf_t, audience_max_duration),
      NULL },

    { ngx_string("campaign_audience_max_running"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_campaign_main_conf_t, audience_max_running),
      &ngx_campaign_max_running_bounds },

    { ngx_string("campaign_state_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_campaign_state_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_idempotency"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_campaign_loc_conf_t, idempotency),
      NULL },

    { ngx_string("campaign_idempotency_window"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_campaign_loc_conf_t, idempotency_window),
      NULL },

    { ngx_string("campaign_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_campaign_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_api_keys"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_campaign_keys_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_campaign_loc_conf_t, keys),
      NULL },

    { ngx_string("campaign_api_max_body_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_off_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_campaign_loc_conf_t, max_body_size),
      &ngx_campaign_max_body_size_post },

    { ngx_string("campaign_connector"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE2,
      ngx_campaign_connector_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_gateway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_campaign_gateway,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_gateway_retries"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_campaign_loc_conf_t, retries),
      &ngx_campaign_retries_bounds },

    { ngx_string("campaign_gateway_retry_delay"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_campaign_loc_conf_t, retry_delay),
      &ngx_campaign_retry_delay_post },

    { ngx_string("campaign_execution_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_campaign_loc_conf_t, execution_timeout),
      NULL },

    { ngx_string("campaign_execution_concurrency"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_campaign_loc_conf_t, concurrency),
      &ngx_campaign_concurrency_bounds },

    { ngx_string("campaign_outbox"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_campaign_outbox,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_profile_lookup"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_campaign_set_profile_lookup,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_profile_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_campaign_loc_conf_t, profile_max_size),
      NULL },

    { ngx_string("campaign_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_campaign_metrics_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_frequency_rules"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_campaign_caps_set,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_campaign_main_conf_t, caps),
      NULL },

    { ngx_string("campaign_suppression_list"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_campaign_suppression_list,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_unsubscribe_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_campaign_unsubscribe_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_unsubscribe_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_campaign_unsubscribe_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_unsubscribe_url"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_campaign_unsubscribe_url,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_unsubscribe_expiry"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_campaign_unsubscribe_expiry,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("campaign_unsubscribe"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_campaign_unsubscribe,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_campaign_module_ctx = {
    ngx_campaign_preconfiguration,         /* preconfiguration */
    ngx_campaign_init,                     /* postconfiguration */

    ngx_campaign_create_main_conf,         /* create main configuration */
    ngx_campaign_init_main_conf,           /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_campaign_create_loc_conf,          /* create location configuration */
    ngx_campaign_merge_loc_conf            /* merge location configuration */
};


ngx_module_t  ngx_http_campaign_module = {
    NGX_MODULE_V1,
    &ngx_campaign_module_ctx,              /* module context */
    ngx_campaign_commands,                 /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_campaign_init_module,              /* init module */
    ngx_campaign_init_process,             /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_campaign_exit_process,             /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static const char  *ngx_campaign_channels[] = { "email", "sms", "push" };


void
ngx_campaign_pool_alloc(ngx_campaign_alloc_t *a, ngx_pool_t *pool)
{
    a->alloc = ngx_campaign_pool_alloc_handler;
    a->cleanup = ngx_campaign_pool_cleanup_handler;
    a->pool = pool;
}


static void *
ngx_campaign_pool_alloc_handler(void *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


static int
ngx_campaign_pool_cleanup_handler(void *pool, void (*handler)(void *data),
    void *data)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return -1;
    }

    cln->handler = handler;
    cln->data = data;

    return 0;
}


ngx_campaign_t *
ngx_campaign_find(ngx_campaign_main_conf_t *cmcf, u_char *id, size_t len)
{
    size_t           n;
    ngx_int_t        rc;
    ngx_uint_t       lo, hi, mid;
    ngx_campaign_t  *c;

    lo = 0;
    hi = cmcf->ncampaigns;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        c = cmcf->campaigns[mid];

        n = ngx_strlen(c->id);
        rc = ngx_strncmp(id, c->id, ngx_min(len, n));

        if (rc == 0) {
            rc = (len > n) - (len < n);
        }

        if (rc == 0) {
            return c;
        }

        if (rc < 0) {
            hi = mid;

        } else {
            lo = mid + 1;
        }
    }

    return NULL;
}


static ngx_int_t
ngx_campaign_preconfiguration(ngx_conf_t *cf)
{
    /* before any cJSON allocation: the campaign files are parsed next */

    ngx_campaign_json_hooks_init();

    if (ngx_campaign_metrics_add_variables(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_campaign_profile_add_variables(cf);
}


static ngx_int_t
ngx_campaign_init(ngx_conf_t *cf)
{
    ngx_uint_t                 i;
    ngx_campaign_main_conf_t  *cmcf;

    /* a throttle is kept in the zone: without one it cannot be applied */

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_campaign_module);

    for (i = 0; cmcf->store == NULL && i < cmcf->ncampaigns; i++) {
        if (cmcf->campaigns[i]->has_throttle) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "campaign \"%s\" has a throttle, which needs "
                          "\"campaign_zone\": it is not applied",
                          cmcf->campaigns[i]->id);
        }
    }

    if (ngx_campaign_metrics_check(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_campaign_caps_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_campaign_consent_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_campaign_trigger_init() != 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "campaign: cannot compile the address patterns");
        return NGX_ERROR;
    }

    if (ngx_campaign_response_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_campaign_state_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_campaign_journal_check(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_campaign_subrequest_init(cf);
}


/* the zones are there: the stop switches of the state file go in */

/*
 * the zone is there now: the campaigns find their counters in it, and
 * the stop switches kept in campaign_state_file are seeded into it
 */

static ngx_int_t
ngx_campaign_init_module(ngx_cycle_t *cycle)
{
    if (ngx_campaign_metrics_init(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_campaign_state_seed(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_campaign_consent_seed(cycle);
}


/* audience executions that a journal holds are taken up */

static ngx_int_t
ngx_campaign_init_process(ngx_cycle_t *cycle)
{
    if (ngx_campaign_connector_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_campaign_journal_init_process(cycle);
}


/* connectors last: the executions let go of their transfers first */

static void
ngx_campaign_exit_process(ngx_cycle_t *cycle)
{
    ngx_campaign_execution_exit(cycle);
    ngx_campaign_fanout_exit(cycle);
    ngx_campaign_connector_exit_process(cycle);
}


static void *
ngx_campaign_create_main_conf(ngx_conf_t *cf)
{
    ngx_campaign_main_conf_t  *cmcf;

    cmcf = ngx_pcalloc(cf->pool, sizeof(ngx_campaign_main_conf_t));
    if (cmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     cmcf->campaigns = NULL;
     *     cmcf->ncampaigns = 0;
     *     cmcf->dir = { 0, NULL };
     */

    cmcf->schedule_grace = NGX_CONF_UNSET;
    cmcf->journal_keep = NGX_CONF_UNSET;
    cmcf->audience_batches = NGX_CONF_UNSET_UINT;

    if (ngx_array_init(&cmcf->apis, cf->pool, 2,
                       sizeof(ngx_campaign_api_loc_t))
        != NGX_OK)
    {
        return NULL;
    }

    cmcf->audience_max_duration = NGX_CONF_UNSET_MSEC;
    cmcf->audience_max_running = NGX_CONF_UNSET_UINT;

    return cmcf;
}


/* the limits of audience executions */

static char *
ngx_campaign_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_campaign_main_conf_t *cmcf = conf;

    ngx_conf_init_msec_value(cmcf->audience_max_duration, 12 * 3600 * 1000);
    ngx_conf_init_uint_value(cmcf->audience_max_running, 8);

    return ngx_campaign_connector_check(cf);
}


static void *
ngx_campaign_create_loc_conf(ngx_conf_t *cf)
{
    ngx_campaign_loc_conf_t  *clcf;

    clcf = ngx_pcalloc(cf->pool, sizeof(ngx_campaign_loc_conf_t));
    if (clcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     clcf->gateways = NULL;
     *     clcf->outbox = NULL;
     */

    clcf->retries = NGX_CONF_UNSET_UINT;
    clcf->retry_delay = NGX_CONF_UNSET_MSEC;
    clcf->execution_timeout = NGX_CONF_UNSET_MSEC;
    clcf->idempotency = NGX_CONF_UNSET;
    clcf->idempotency_window = NGX_CONF_UNSET;
    clcf->concurrency = NGX_CONF_UNSET_UINT;
    clcf->api = NGX_CONF_UNSET;
    clcf->max_body_size = NGX_CONF_UNSET;
    clcf->profile_uri = NGX_CONF_UNSET_PTR;
    clcf->profile_args = NGX_CONF_UNSET_PTR;
    clcf->profile_max_size = NGX_CONF_UNSET_SIZE;
    clcf->keys = NGX_CONF_UNSET_PTR;

    return clcf;
}


static char *
ngx_campaign_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_campaign_loc_conf_t *prev = parent;
    ngx_campaign_loc_conf_t *conf = child;

    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

    if (conf->gateways == NULL) {
        conf->gateways = prev->gateways;

    } else if (prev->gateways) {
        for (i = 0; i < NGX_CAMPAIGN_CHANNEL_COUNT; i++) {
            if (conf->gateways[i].uri.len == 0) {
                conf->gateways[i] = prev->gateways[i];
            }
        }
    }

    ngx_conf_merge_uint_value(conf->retries, prev->retries, 2);
    ngx_conf_merge_msec_value(conf->retry_delay, prev->retry_delay, 100);
    ngx_conf_merge_msec_value(conf->execution_timeout,
                              prev->execution_timeout, 60000);
    ngx_conf_merge_value(conf->idempotency, prev->idempotency, 1);
    ngx_conf_merge_sec_value(conf->idempotency_window,
                             prev->idempotency_window, 86400);
    ngx_conf_merge_uint_value(conf->concurrency, prev->concurrency,
                              NGX_CAMPAIGN_MAX_RECIPIENTS);

    if (conf->profile_uri == NGX_CONF_UNSET_PTR) {
        conf->profile_uri = prev->profile_uri;
        conf->profile_args = prev->profile_args;
    }

    ngx_conf_merge_ptr_value(conf->profile_uri, prev->profile_uri, NULL);
    ngx_conf_merge_ptr_value(conf->profile_args, prev->profile_args, NULL);
    ngx_conf_merge_size_value(conf->profile_max_size,
                              prev->profile_max_size, 64 * 1024);
    ngx_conf_merge_off_value(conf->max_body_size, prev->max_body_size,
                             1024 * 1024);
    ngx_conf_merge_ptr_value(conf->keys, prev->keys, NULL);

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /*
     * "if" and "limit_except" blocks are the location they are in: they
     * keep its handler and its settings, as they do for proxy_pass
     */

    if (clcf->noname && conf->api == NGX_CONF_UNSET && conf->outbox == NULL) {
        conf->api = prev->api;
        conf->ctx = prev->ctx;
        conf->outbox = prev->outbox;

        if (clcf->lmt_excpt && clcf->handler == NULL) {
            if (prev->api) {
                clcf->handler = ngx_campaign_api_handler;

            } else if (prev->outbox) {
                clcf->handler = ngx_campaign_outbox_handler;
            }
        }

        return NGX_CONF_OK;
    }

    /* like a content handler, the API is not inherited by inner locations */

    if (conf->api == NGX_CONF_UNSET) {
        conf->api = 0;
    }

    return NGX_CONF_OK;
}


static char *
ngx_campaign_definitions(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_campaign_main_conf_t *cmcf = conf;

    size_t                 n, errors;
    ngx_str_t             *value, fragments;
    ngx_campaign_t       **campaigns;
    ngx_campaign_alloc_t   a;

    if (cmcf->dir.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    cmcf->dir = value[1];

    if (ngx_conf_full_name(cf->cycle, &cmcf->dir, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_str_null(&fragments);

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "fragments=", 10) != 0
            || value[2].len == 10)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        fragments.data = value[2].data + 10;
        fragments.len = value[2].len - 10;

        if (ngx_conf_full_name(cf->cycle, &fragments, 1) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    ngx_campaign_pool_alloc(&a, cf->pool);

    errors = ngx_campaign_definition_load_dir(&a, (char *) cmcf->dir.data,
                                              (char *) fragments.data,
                                              &campaigns, &n,
                                              ngx_campaign_definition_error,
                                              cf);
    if (errors) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%uz mistake(s) in campaign definitions \"%V\"",
                           errors, &cmcf->dir);
        return NGX_CONF_ERROR;
    }

    ngx_qsort(campaigns, n, sizeof(ngx_campaign_t *), ngx_campaign_cmp);

    cmcf->campaigns = campaigns;
    cmcf->ncampaigns = n;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cf->log, 0,
                   "campaign: %uz definitions from \"%V\"", n, &cmcf->dir);

    return NGX_CONF_OK;
}


static void
ngx_campaign_definition_error(void *data, const char *file,
    const char *field, size_t line, size_t column, const char *message)
{
    ngx_conf_t *cf = data;

    if (field && line) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "campaign \"%s\", field \"%s\", line %uz, "
                           "column %uz: %s",
                           file, field, line, column, message);

    } else if (field) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "campaign \"%s\", field \"%s\": %s",
                           file, field, message);

    } else if (line) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "campaign \"%s\", line %uz, column %uz: %s",
                           file, line, column, message);

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "campaign \"%s\": %s",
                           file ? file : "", message);
    }
}


static int
ngx_campaign_cmp(const void *one, const void *two)
{
    ngx_campaign_t *const  *a = one;
    ngx_campaign_t *const  *b = two;

    return ngx_strcmp((*a)->id, (*b)->id);
}


static char *
ngx_campaign_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_campaign_main_conf_t *cmcf = conf;

    return ngx_campaign_store_zone(cf, &cmcf->store);
}


static char *
ngx_campaign_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_campaign_loc_conf_t *cplcf = conf;

    ngx_campaign_api_loc_t    *api;
    ngx_http_core_loc_conf_t  *clcf;
    ngx_campaign_main_conf_t  *cmcf;

    if (cplcf->api != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    if (cplcf->outbox) {
        return "cannot share a location with \"campaign_outbox\"";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* the endpoints are the rest of the URI after the location's prefix */

    if (clcf->exact_match || clcf->named
#if (NGX_PCRE)
        || clcf->regex
#endif
       )
    {
        return "must be in a prefix location, such as \"location /ajo/im/\"";
    }

    cplcf->api = 1;
    cplcf->ctx = cf->ctx;
    clcf->handler = ngx_campaign_api_handler;

    /* audience executions that a journal resumes find it by its name */

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_campaign_module);

    api = ngx_array_push(&cmcf->apis);
    if (api == NULL) {
        return NGX_CONF_ERROR;
    }

    api->name = clcf->name;
    api->conf = cplcf;

    return NGX_CONF_OK;
}


static char *
ngx_campaign_gateway(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_campaign_loc_conf_t *cplcf = conf;

    u_char                    *q;
    ngx_str_t                 *value, name;
    ngx_uint_t                 i;
    ngx_campaign_connector_t  *cn;

    value = cf->args->elts;

    for (i = 0; i < NGX_CAMPAIGN_CHANNEL_COUNT; i++) {
        if (ngx_strcmp(value[1].data, ngx_campaign_channels[i]) == 0) {
            break;
        }
    }

    if (i == NGX_CAMPAIGN_CHANNEL_COUNT) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown channel \"%V\", "
                           "it must be \"email\", \"sms\" or \"push\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    cn = NULL;

    if (value[2].len > sizeof("connector=") - 1
        && ngx_strncmp(value[2].data, "connector=", sizeof("connector=") - 1)
           == 0)
    {
        name.data = value[2].data + sizeof("connector=") - 1;
        name.len = value[2].len - (sizeof("connector=") - 1);

        cn = ngx_campaign_connector_add(cf, &name);
        if (cn == NULL) {
            return NGX_CONF_ERROR;
        }

        if (!(cn->used & (1 << i))) {
            cn->used |= 1 << i;
            cn->used_file = cf->conf_file->file.name.data;
            cn->used_line = cf->conf_file->line;
        }

    } else if (value[2].len == 0 || value[2].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gateway \"%V\" must be a location URI "
                           "starting with \"/\", or connector=name",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    if (cplcf->gateways == NULL) {
        cplcf->gateways = ngx_pcalloc(cf->pool, NGX_CAMPAIGN_CHANNEL_COUNT
                                           * sizeof(ngx_campaign_gateway_t));
        if (cplcf->gateways == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (cplcf->gateways[i].uri.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate gateway for channel \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    /* a connector's uri is only the directive's text, for logs */

    cplcf->gateways[i].uri = value[2];
    cplcf->gateways[i].connector = cn;

    if (cn) {
        return NGX_CONF_OK;
    }

    q = ngx_strlchr(value[2].data, value[2].data + value[2].len, '?');

    if (q) {
        cplcf->gateways[i].uri.len = q - value[2].data;
        cplcf->gateways[i].args.data = q + 1;
        cplcf->gateways[i].args.len = value[2].data + value[2].len - q - 1;
    }

    return NGX_CONF_OK;
}


static char *
ngx_campaign_outbox(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_campaign_loc_conf_t *cplcf = conf;

    char                      *rv;
    ngx_http_core_loc_conf_t  *clcf;

    if (cplcf->outbox) {
        return "is duplicate";
    }

    if (cplcf->api != NGX_CONF_UNSET) {
        return "cannot share a location with \"campaign_api\"";
    }

    rv = ngx_campaign_outbox_conf(cf, &cplcf->outbox);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_campaign_outbox_handler;

    return NGX_CONF_OK;
}


/* a retry waits at most NGX_CAMPAIGN_MAX_RETRY_DELAY, doubling included */

static char *
ngx_campaign_retry_delay(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *delay = data;

    if (*delay == 0 || *delay > NGX_CAMPAIGN_MAX_RETRY_DELAY) {
        return "must be between 1ms and 30s";
    }

    return NGX_CONF_OK;
}


/*
 * campaign_profile_lookup /profiles/$campaign_namespace/$campaign_user_id;
 * the arguments, after "?", are a value of their own, so that a "?" in a
 * userId stays in the path.
 */

static char *
ngx_campaign_set_profile_lookup(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_campaign_loc_conf_t *cplcf = conf;

    u_char                            *q;
    ngx_str_t                         *value, uri, args;
    ngx_http_compile_complex_value_t   ccv;

    if (cplcf->profile_uri != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        cplcf->profile_uri = NULL;
        cplcf->profile_args = NULL;
        return NGX_CONF_OK;
    }

    if (value[1].data[0] != '/') {
        return "must be a location URI starting with \"/\"";
    }

    uri = value[1];
    ngx_str_null(&args);

    q = ngx_strlchr(uri.data, uri.data + uri.len, '?');

    if (q) {
        args.data = q + 1;
        args.len = uri.data + uri.len - args.data;
        uri.len = q - uri.data;
    }

    cplcf->profile_uri = ngx_palloc(cf->pool,
                                    sizeof(ngx_http_complex_value_t));
    if (cplcf->profile_uri == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &uri;
    ccv.complex_value = cplcf->profile_uri;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cplcf->profile_args = NULL;

    if (args.len == 0) {
        return NGX_CONF_OK;
    }

    cplcf->profile_args = ngx_palloc(cf->pool,
                                     sizeof(ngx_http_complex_value_t));
    if (cplcf->profile_args == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &args;
    ccv.complex_value = cplcf->profile_args;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The API reads a whole body into memory: its limit is a limit, whatever
 * client_max_body_size allows.
 */

static char *
ngx_campaign_max_body_size(ngx_conf_t *cf, void *post, void *data)
{
    off_t  *size = data;

    if (*size <= 0) {
        return "must be greater than 0";
    }

    return NGX_CONF_OK;
}
