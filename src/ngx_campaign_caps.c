
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_module.h"


/*
 * Frequency caps, as AJO's business rules: "campaign_frequency_rules
 * FILE" names rules, each of which caps how many marketing messages one
 * profile (namespace and userId) receives on a channel, or on any, per
 * calendar window in UTC.  The counts live in campaign_zone, one per
 * rule, window and profile.
 *
 * A message takes its place in every rule that applies before anything
 * is sent, in all of them or in none; a recipient that has no place left
 * is "capped" and not sent.  The place is kept when the gateway accepts
 * the message and given back when the message finally fails, so that
 * only accepted messages count, and concurrent triggers in any worker
 * cannot pass a max together.  Transactional campaigns, and marketing
 * campaigns with "frequencyCap": {"optOut": true}, are never capped nor
 * counted.
 */


#define NGX_CAMPAIGN_CAPS_NAME_LEN   64
#define NGX_CAMPAIGN_CAPS_PATH_LEN   32
#define NGX_CAMPAIGN_CAPS_MSG_LEN    256


typedef struct {
    ngx_str_t                    name;
    ngx_campaign_limits_rule_t   rule;
} ngx_campaign_cap_rule_t;


struct ngx_campaign_caps_s {
    ngx_str_t                    file;
    ngx_campaign_cap_rule_t     *rules;
    ngx_uint_t                   nrules;

    /* where the directive is, for a mistake found after it */
    ngx_str_t                    conf_file;
    ngx_uint_t                   conf_line;
};


/* a message's places in the counts of the rules that apply to it */

struct ngx_campaign_cap_hold_s {
    ngx_campaign_store_t        *store;
    ngx_campaign_store_count_t  *counts;
    ngx_uint_t                   n;           /* reserved, 0 once settled */
    char                        *reason;      /* when it is capped */
};


/* the rules file being read */

typedef struct {
    ngx_conf_t                  *cf;
    const char                  *file;
    const u_char                *text;
    size_t                       len;
    size_t                       nerrors;
} ngx_campaign_caps_ctx_t;


static char *ngx_campaign_caps_read(ngx_conf_t *cf,
    ngx_campaign_caps_t *caps);
static void ngx_campaign_caps_parse(ngx_campaign_caps_ctx_t *ctx,
    cJSON *json, ngx_campaign_caps_t *caps);
static void ngx_campaign_caps_rule(ngx_campaign_caps_ctx_t *ctx,
    cJSON *item, const char *path, ngx_campaign_caps_t *caps);
static ngx_int_t ngx_campaign_caps_name(ngx_campaign_caps_ctx_t *ctx,
    const cJSON *name, const char *path, ngx_campaign_caps_t *caps,
    ngx_str_t *value);
static const char *ngx_campaign_caps_type(const cJSON *item);
static void ngx_campaign_caps_report(ngx_campaign_caps_ctx_t *ctx,
    const char *field, const char *fmt, ...);
static void ngx_campaign_caps_error(void *data, const char *file,
    const char *field, size_t line, size_t column, const char *message);
static ngx_int_t ngx_campaign_caps_key(ngx_pool_t *pool,
    ngx_campaign_cap_rule_t *r, ngx_campaign_message_t *m, time_t now,
    ngx_campaign_store_count_t *count);
static char *ngx_campaign_caps_capped(ngx_pool_t *pool,
    ngx_campaign_cap_rule_t *r);
static void ngx_campaign_caps_cleanup(void *data);


/* campaign_frequency_rules FILE */

char *
ngx_campaign_caps_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t             *value;
    ngx_campaign_caps_t  **field, *caps;

    field = (ngx_campaign_caps_t **) (p + cmd->offset);

    if (*field) {
        return "is duplicate";
    }

    value = cf->args->elts;

    caps = ngx_pcalloc(cf->pool, sizeof(ngx_campaign_caps_t));
    if (caps == NULL) {
        return NGX_CONF_ERROR;
    }

    caps->file = value[1];

    if (ngx_conf_full_name(cf->cycle, &caps->file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    caps->conf_file = cf->conf_file->file.name;
    caps->conf_line = cf->conf_file->line;

    if (ngx_campaign_caps_read(cf, caps) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    *field = caps;

    return NGX_CONF_OK;
}


/* the counts are kept in the zone: rules without one are a mistake */

ngx_int_t
ngx_campaign_caps_init(ngx_conf_t *cf)
{
    ngx_campaign_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_campaign_module);

    if (cmcf->caps && cmcf->store == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"campaign_frequency_rules\" needs \"campaign_zone\", "
                      "where the counts are kept, in %V:%ui",
                      &cmcf->caps->conf_file, cmcf->caps->conf_line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static char *
ngx_campaign_caps_read(ngx_conf_t *cf, ngx_campaign_caps_t *caps)
{
    size_t                    len;
    cJSON                    *json;
    u_char                   *text;
    ngx_campaign_alloc_t      a;
    ngx_campaign_caps_ctx_t   ctx;

    ngx_memzero(&ctx, sizeof(ngx_campaign_caps_ctx_t));

    ctx.cf = cf;
    ctx.file = (const char *) caps->file.data;

    ngx_campaign_pool_alloc(&a, cf->pool);

    text = ngx_campaign_definition_read_file(&a, ctx.file, &len,
                                             ngx_campaign_caps_error, &ctx);
    if (text == NULL) {
        return NGX_CONF_ERROR;
    }

    json = ngx_campaign_definition_parse_json(&a, ctx.file, text, len,
                                              ngx_campaign_caps_error, &ctx);
    if (json == NULL) {
        return NGX_CONF_ERROR;
    }

    ctx.text = text;
    ctx.len = len;

    ngx_campaign_caps_parse(&ctx, json, caps);

    cJSON_Delete(json);

    if (ctx.nerrors) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%uz mistake(s) in frequency rules \"%V\"",
                           ctx.nerrors, &caps->file);
        return NGX_CONF_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cf->log, 0,
                   "campaign: %ui frequency rule(s) from \"%V\"",
                   caps->nrules, &caps->file);

    return NGX_CONF_OK;
}


/* {"rules": [ {"name": ..., "channel": ..., "max": ..., ...}, ... ]} */

static void
ngx_campaign_caps_parse(ngx_campaign_caps_ctx_t *ctx, cJSON *json,
    ngx_campaign_caps_t *caps)
{
    char          path[NGX_CAMPAIGN_CAPS_PATH_LEN];
    cJSON        *item, *prev, *rules;
    ngx_uint_t    i, n;

    if (!cJSON_IsObject(json)) {
        ngx_campaign_caps_report(ctx, NULL, "must be a JSON object, found %s",
                                 ngx_campaign_caps_type(json));
        return;
    }

    for (item = json->child; item != NULL; item = item->next) {

        for (prev = json->child; prev != item; prev = prev->next) {
            if (ngx_strcmp(prev->string, item->string) == 0) {
                ngx_campaign_caps_report(ctx, item->string, "duplicate key");
                break;
            }
        }

        if (prev == item
            && item->string[0] != '_' && item->string[0] != '$'
            && ngx_strcmp(item->string, "rules") != 0)
        {
            ngx_campaign_caps_report(ctx, item->string,
                                     "unknown key (allowed: rules)");
        }
    }

    rules = cJSON_GetObjectItemCaseSensitive(json, "rules");

    if (rules == NULL) {
        ngx_campaign_caps_report(ctx, "rules", "required field is missing");
        return;
    }

    if (!cJSON_IsArray(rules)) {
        ngx_campaign_caps_report(ctx, "rules", "must be an array, found %s",
                                 ngx_campaign_caps_type(rules));
        return;
    }

    n = cJSON_GetArraySize(rules);

    if (n > NGX_CAMPAIGN_STORE_COUNT_MAX) {
        ngx_campaign_caps_report(ctx, "rules", "at most %d rules, found %ui",
                                 NGX_CAMPAIGN_STORE_COUNT_MAX, n);
        return;
    }

    caps->rules = ngx_pcalloc(ctx->cf->pool,
                              (n ? n : 1) * sizeof(ngx_campaign_cap_rule_t));
    if (caps->rules == NULL) {
        ctx->nerrors++;
        return;
    }

    i = 0;

    for (item = rules->child; item != NULL; item = item->next) {
        ngx_snprintf((u_char *) path, sizeof(path), "rules.%ui%Z", i++);
        ngx_campaign_caps_rule(ctx, item, path, caps);
    }
}


/*
 * A rule is a frequency rule (ngx_campaign_limits_rule_parse()) with a
 * name, which the rule's counts are kept under.
 */

static void
ngx_campaign_caps_rule(ngx_campaign_caps_ctx_t *ctx, cJSON *item,
    const char *path, ngx_campaign_caps_t *caps)
{
    char                      field[NGX_CAMPAIGN_CAPS_PATH_LEN + 8];
    cJSON                    *child, *next, *name;
    ngx_str_t                 value;
    ngx_campaign_cap_rule_t  *r;

    ngx_str_null(&value);

    if (cJSON_IsObject(item)) {
        ngx_snprintf((u_char *) field, sizeof(field), "%s.name%Z", path);

        name = cJSON_GetObjectItemCaseSensitive(item, "name");

        if (name == NULL) {
            ngx_campaign_caps_report(ctx, field, "required field is missing");

        } else {
            (void) ngx_campaign_caps_name(ctx, name, field, caps, &value);
        }

        /* the rest is the rule's: the name goes first */

        for (child = item->child; child != NULL; child = next) {
            next = child->next;

            if (ngx_strcmp(child->string, "name") != 0) {
                continue;
            }

            if (child != name) {
                ngx_campaign_caps_report(ctx, field, "duplicate key");
            }

            cJSON_Delete(cJSON_DetachItemViaPointer(item, child));
        }
    }

    r = &caps->rules[caps->nrules];

    (void) ngx_campaign_limits_rule_parse(item, ctx->file, path, &r->rule,
                                          ngx_campaign_caps_error, ctx);

    /* kept even with mistakes, which fail anyway: its name is taken */

    if (value.len) {
        r->name = value;
        caps->nrules++;
    }
}


static ngx_int_t
ngx_campaign_caps_name(ngx_campaign_caps_ctx_t *ctx, const cJSON *name,
    const char *field, ngx_campaign_caps_t *caps, ngx_str_t *value)
{
    u_char      *p, quoted[NGX_CAMPAIGN_CAPS_NAME_LEN];
    size_t       len;
    ngx_uint_t   i;

    if (!cJSON_IsString(name)) {
        ngx_campaign_caps_report(ctx, field, "must be a string, found %s",
                                 ngx_campaign_caps_type(name));
        return NGX_ERROR;
    }

    /* a name is part of the counts' keys and of answers: a safe alphabet */

    len = ngx_strlen(name->valuestring);

    for (p = (u_char *) name->valuestring; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9')
              || *p == '.' || *p == '_' || *p == '-'))
        {
            break;
        }
    }

    if (len == 0 || len > NGX_CAMPAIGN_CAPS_NAME_LEN || *p != '\0') {

        /* a value from the file stays on one log line */

        for (i = 0; i < len && i < NGX_CAMPAIGN_CAPS_NAME_LEN; i++) {
            p = (u_char *) name->valuestring + i;
            quoted[i] = (*p < 0x20 || *p == 0x7f) ? '?' : *p;
        }

        ngx_campaign_caps_report(ctx, field,
                                 "must match [A-Za-z0-9._-]{1,64}, found "
                                 "\"%*s\"", (size_t) i, quoted);
        return NGX_ERROR;
    }

    /* names are unique: a rule's counts are its own */

    for (i = 0; i < caps->nrules; i++) {
        if (caps->rules[i].name.len == len
            && ngx_strncmp(caps->rules[i].name.data, name->valuestring, len)
               == 0)
        {
            ngx_campaign_caps_report(ctx, field,
                                     "duplicate rule name \"%s\"",
                                     name->valuestring);
            return NGX_ERROR;
        }
    }

    value->data = ngx_pnalloc(ctx->cf->pool, len);
    if (value->data == NULL) {
        ctx->nerrors++;
        return NGX_ERROR;
    }

    ngx_memcpy(value->data, name->valuestring, len);
    value->len = len;

    return NGX_OK;
}


static const char *
ngx_campaign_caps_type(const cJSON *item)
{
    return cJSON_IsArray(item) ? "array"
           : cJSON_IsObject(item) ? "object"
           : cJSON_IsString(item) ? "string"
           : cJSON_IsNumber(item) ? "number"
           : cJSON_IsBool(item) ? "boolean"
           : "null";
}


static void
ngx_campaign_caps_report(ngx_campaign_caps_ctx_t *ctx, const char *field,
    const char *fmt, ...)
{
    u_char   message[NGX_CAMPAIGN_CAPS_MSG_LEN], *p;
    va_list  args;

    va_start(args, fmt);
    p = ngx_vslprintf(message, message + sizeof(message) - 1, fmt, args);
    va_end(args);

    *p = '\0';

    ngx_campaign_caps_error(ctx, ctx->file, field, 0, 0, (char *) message);
}


/* as campaign files report theirs: the file, the field, where it is */

static void
ngx_campaign_caps_error(void *data, const char *file, const char *field,
    size_t line, size_t column, const char *message)
{
    ngx_campaign_caps_ctx_t *ctx = data;

    ctx->nerrors++;

    if (field && line == 0 && ctx->text
        && ngx_campaign_definition_locate(ctx->text, ctx->len, field, 0, 0,
                                          &line, &column)
           != 0)
    {
        line = 0;
    }

    if (field && line) {
        ngx_conf_log_error(NGX_LOG_EMERG, ctx->cf, 0,
                           "frequency rules \"%s\", field \"%s\", line %uz, "
                           "column %uz: %s", file, field, line, column,
                           message);

    } else if (field) {
        ngx_conf_log_error(NGX_LOG_EMERG, ctx->cf, 0,
                           "frequency rules \"%s\", field \"%s\": %s",
                           file, field, message);

    } else if (line) {
        ngx_conf_log_error(NGX_LOG_EMERG, ctx->cf, 0,
                           "frequency rules \"%s\", line %uz, column %uz: %s",
                           file, line, column, message);

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, ctx->cf, 0,
                           "frequency rules \"%s\": %s", file ? file : "",
                           message);
    }
}


/*
 * Every recipient of a marketing trigger takes its place in the rules of
 * the campaign's channel, or is capped: its message settles as such and
 * is never sent.  NGX_ERROR: the zone has no room for a count; the places
 * taken so far are given back with the execution.
 */

ngx_int_t
ngx_campaign_caps_reserve(ngx_http_request_t *r, ngx_campaign_execution_t *e)
{
    time_t                        now;
    ngx_int_t                     rc;
    ngx_uint_t                    i, j, n, full;
    ngx_campaign_t               *c;
    ngx_pool_cleanup_t           *cln;
    ngx_campaign_caps_t          *caps;
    ngx_campaign_message_t       *m;
    ngx_campaign_cap_hold_t      *hold;
    ngx_campaign_cap_rule_t     **rules;
    ngx_campaign_main_conf_t     *cmcf;
    ngx_campaign_store_count_t   *counts;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    caps = cmcf->caps;
    c = e->campaign;

    if (caps == NULL || caps->nrules == 0 || cmcf->store == NULL
        || c->type != NGX_CAMPAIGN_MARKETING || c->cap_opt_out)
    {
        return NGX_OK;
    }

    rules = ngx_palloc(e->pool, caps->nrules
                                * sizeof(ngx_campaign_cap_rule_t *));
    if (rules == NULL) {
        return NGX_ERROR;
    }

    n = 0;

    for (i = 0; i < caps->nrules; i++) {
        if (caps->rules[i].rule.channels & (1u << c->channel)) {
            rules[n++] = &caps->rules[i];
        }
    }

    if (n == 0) {
        return NGX_OK;
    }

    /* whatever ends the execution, what it still holds is given back */

    cln = ngx_pool_cleanup_add(e->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_campaign_caps_cleanup;
    cln->data = e;

    now = ngx_time();

    for (i = 0; i < e->nmessages; i++) {
        m = &e->messages[i];

        /* held back already (an audience's consent): takes no place */

        if (m->state == NGX_CAMPAIGN_MESSAGE_DONE) {
            continue;
        }

        hold = ngx_pcalloc(e->pool, sizeof(ngx_campaign_cap_hold_t));
        counts = ngx_palloc(e->pool, n * sizeof(ngx_campaign_store_count_t));

        if (hold == NULL || counts == NULL) {
            return NGX_ERROR;
        }

        for (j = 0; j < n; j++) {
            if (ngx_campaign_caps_key(e->pool, rules[j], m, now, &counts[j])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        rc = ngx_campaign_store_count(cmcf->store, counts, n, &full,
                                      e->log);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        hold->store = cmcf->store;
        m->cap = hold;

        if (rc == NGX_OK) {
            hold->counts = counts;
            hold->n = n;
            continue;
        }

        hold->reason = ngx_campaign_caps_capped(e->pool, rules[full]);
        if (hold->reason == NULL) {
            return NGX_ERROR;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, e->log, 0,
                       "campaign: message %V capped by rule \"%V\"",
                       &m->idempotency_key, &rules[full]->name);

        ngx_campaign_execution_settle(m, NGX_CAMPAIGN_OUTCOME_CAPPED);
    }

    return NGX_OK;
}


/*
 * A count's key: the rule (and its window, so that a rule changed by a
 * reload does not inherit another window's count), the window's start,
 * the profile.
 */

static ngx_int_t
ngx_campaign_caps_key(ngx_pool_t *pool, ngx_campaign_cap_rule_t *r,
    ngx_campaign_message_t *m, time_t now, ngx_campaign_store_count_t *count)
{
    u_char      *p;
    int64_t      start;
    const char  *window;

    window = ngx_campaign_window_name(r->rule.window);
    start = ngx_campaign_window_start(now, r->rule.window, r->rule.every);

    p = ngx_pnalloc(pool, sizeof("c:") - 1 + r->name.len + 1
                          + ngx_strlen(window) + NGX_INT_T_LEN + 1
                          + NGX_INT64_LEN + 1 + m->namespace.len + 1
                          + m->user_id.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    count->key.data = p;
    count->key.len = ngx_sprintf(p, "c:%V\n%s%ui\n%L\n%V\n%V", &r->name,
                                 window, (ngx_uint_t) r->rule.every, start,
                                 &m->namespace, &m->user_id)
                     - p;

    count->max = r->rule.max;
    count->expires = (time_t) ngx_campaign_window_end(now, r->rule.window,
                                                      r->rule.every);

    return NGX_OK;
}


/* what a capped recipient's outcome says */

static char *
ngx_campaign_caps_capped(ngx_pool_t *pool, ngx_campaign_cap_rule_t *r)
{
    u_char      *p, *last;
    size_t       len;
    const char  *window;

    window = ngx_campaign_window_name(r->rule.window);

    len = sizeof("capped by frequency rule \"\": at most  per  s") - 1
          + r->name.len + 2 * NGX_INT_T_LEN + ngx_strlen(window) + 1;

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NULL;
    }

    last = ngx_snprintf(p, len - 1, "capped by frequency rule \"%V\": "
                        "at most %ui per ", &r->name,
                        (ngx_uint_t) r->rule.max);

    if (r->rule.every == 1) {
        last = ngx_snprintf(last, p + len - 1 - last, "%s", window);

    } else {
        last = ngx_snprintf(last, p + len - 1 - last, "%ui %ss",
                            (ngx_uint_t) r->rule.every, window);
    }

    *last = '\0';

    return (char *) p;
}


/* a message that settles keeps its places (accepted) or gives them back */

void
ngx_campaign_caps_settle(ngx_campaign_message_t *m)
{
    ngx_campaign_cap_hold_t  *hold;

    hold = m->cap;

    if (hold == NULL || hold->n == 0) {
        return;
    }

    /*
     * A message counts when its gateway accepted it, and when the
     * execution timed out while an attempt was out (504): that attempt may
     * still reach its gateway, and a cap errs on the side of less.
     */

    ngx_campaign_store_count_settle(hold->store, hold->counts, hold->n,
                                    m->outcome
                                    == NGX_CAMPAIGN_OUTCOME_ACCEPTED
                                    || (m->outcome
                                        == NGX_CAMPAIGN_OUTCOME_TIMEOUT
                                        && m->status
                                           == NGX_HTTP_GATEWAY_TIME_OUT));
    hold->n = 0;
}


const char *
ngx_campaign_caps_reason(ngx_campaign_message_t *m)
{
    if (m->cap == NULL || m->cap->reason == NULL) {
        return "capped by a frequency rule";
    }

    return m->cap->reason;
}


/* an execution that goes before its messages settle (a 429, an error) */

static void
ngx_campaign_caps_cleanup(void *data)
{
    ngx_campaign_execution_t *e = data;

    ngx_uint_t                i;
    ngx_campaign_cap_hold_t  *hold;

    for (i = 0; i < e->nmessages; i++) {
        hold = e->messages[i].cap;

        if (hold && hold->n) {
            ngx_campaign_store_count_settle(hold->store, hold->counts,
                                            hold->n, 0);
            hold->n = 0;
        }
    }
}
