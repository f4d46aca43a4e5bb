
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_md5.h>

#include "ngx_campaign_connector.h"
#include "ngx_campaign_jwt.h"


/*
 * The APNs connector: Apple's push service over HTTP/2, with token
 * authentication.  Each message is a POST of its own to /3/device/<token>
 * (the payload is the "aps" dictionary and the custom data); libcurl
 * multiplexes them as streams of one connection.  The provider token, an
 * ES256 JWT signed with the team's .p8 key, is made by each worker and
 * used for 50 minutes: Apple refuses tokens older than an hour, and
 * renewals more often than every 20 minutes.
 *
 *     campaign_connector  apple  apns {
 *         key_file   keys/AuthKey_ABC123DEFG.p8;
 *         key_id     ABC123DEFG;
 *         team_id    DEF123GHIJ;
 *         topic      com.example.shop;
 *     }
 */


#define NGX_CAMPAIGN_APNS_URL          "https://api.push.apple.com"
#define NGX_CAMPAIGN_APNS_TOKEN_AGE    3000   /* s: 50 minutes */
#define NGX_CAMPAIGN_APNS_ID_LEN       64     /* key_id, team_id */
#define NGX_CAMPAIGN_APNS_COLLAPSE_LEN 64     /* Apple's limit, bytes */
#define NGX_CAMPAIGN_APNS_DEVICE_MIN   64
#define NGX_CAMPAIGN_APNS_DEVICE_MAX   200


typedef struct {
    ngx_str_t                    key_file;
    ngx_campaign_jwt_key_t       key;
    ngx_str_t                    key_id;
    ngx_str_t                    team_id;
    ngx_str_t                    topic;       /* "": the recipient's appID */
    ngx_str_t                    push_type;
    ngx_int_t                    priority;    /* unset: by push type */
    time_t                       expiration;  /* unset: no header */
    ngx_str_t                    collapse_id;
    ngx_uint_t                   cleartext;   /* an http:// URL */

    /* the worker's provider token */
    u_char                      *token;
    size_t                       token_len;
    size_t                       token_size;
    time_t                       token_iat;
    ngx_msec_t                   token_made;  /* ngx_current_msec */
} ngx_campaign_apns_conf_t;


/* what a message keeps for its attempts, once its recipient is gone */

typedef struct {
    ngx_str_t                    device;
    ngx_str_t                    topic;
} ngx_campaign_apns_message_t;


static void *ngx_campaign_apns_create_conf(ngx_conf_t *cf,
    ngx_campaign_connector_t *cn);
static char *ngx_campaign_apns_directive(ngx_conf_t *cf,
    ngx_campaign_connector_t *cn);
static char *ngx_campaign_apns_set_str(ngx_conf_t *cf, ngx_str_t *field,
    ngx_str_t *value, const char *alphabet, size_t max);
static char *ngx_campaign_apns_init_conf(ngx_conf_t *cf,
    ngx_campaign_connector_t *cn);
static ngx_int_t ngx_campaign_apns_render(ngx_campaign_message_t *m,
    const cJSON *data, ngx_campaign_rendered_t *r, size_t n,
    const char *language);
static ngx_int_t ngx_campaign_apns_badge(ngx_campaign_out_t *o,
    ngx_campaign_rendered_t *badge);
static ngx_int_t ngx_campaign_apns_prepare(ngx_campaign_transfer_t *t,
    ngx_campaign_message_t *m);
static ngx_int_t ngx_campaign_apns_token(ngx_campaign_apns_conf_t *acf,
    ngx_log_t *log);
static void ngx_campaign_apns_id(u_char *id, ngx_str_t *key);
static ngx_campaign_send_e ngx_campaign_apns_result(
    ngx_campaign_transfer_t *t, ngx_str_t *reason);
static ngx_uint_t ngx_campaign_apns_is(ngx_str_t *reason, const char *s);


ngx_campaign_connector_type_t  ngx_campaign_connector_apns = {
    ngx_string("apns"),
    1 << NGX_CAMPAIGN_CHANNEL_PUSH,
    ngx_campaign_apns_create_conf,
    ngx_campaign_apns_directive,
    ngx_campaign_apns_init_conf,
    ngx_campaign_apns_render,
    NULL,                                 /* ready: the token is ours */
    ngx_campaign_apns_prepare,
    ngx_campaign_apns_result,
    NULL,
    NULL
};


/* the push types of apns-push-type */

static const char  *ngx_campaign_apns_push_types[] = {
    "alert", "background", "location", "voip", "complication",
    "fileprovider", "mdm", "liveactivity", "pushtotalk", "controls",
    "widgets", NULL
};


#define NGX_CAMPAIGN_APNS_HEX  "0123456789abcdefABCDEF"

#define NGX_CAMPAIGN_APNS_ALNUM                                               \
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


static void *
ngx_campaign_apns_create_conf(ngx_conf_t *cf, ngx_campaign_connector_t *cn)
{
    ngx_campaign_apns_conf_t  *acf;

    acf = ngx_pcalloc(cf->pool, sizeof(ngx_campaign_apns_conf_t));
    if (acf == NULL) {
        return NULL;
    }

    acf->priority = NGX_CONF_UNSET;
    acf->expiration = NGX_CONF_UNSET;

    return acf;
}


static char *
ngx_campaign_apns_directive(ngx_conf_t *cf, ngx_campaign_connector_t *cn)
{
    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_campaign_apns_conf_t  *acf;

    acf = cn->conf;
    value = cf->args->elts;

    if (cf->args->nelts != 2) {
        if (ngx_strcmp(value[0].data, "key_file") == 0
            || ngx_strcmp(value[0].data, "key_id") == 0
            || ngx_strcmp(value[0].data, "team_id") == 0
            || ngx_strcmp(value[0].data, "topic") == 0
            || ngx_strcmp(value[0].data, "push_type") == 0
            || ngx_strcmp(value[0].data, "priority") == 0
            || ngx_strcmp(value[0].data, "expiration") == 0
            || ngx_strcmp(value[0].data, "collapse_id") == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid number of arguments in \"%V\" "
                               "of an apns connector", &value[0]);
            return NGX_CONF_ERROR;
        }

        return NGX_CAMPAIGN_CONNECTOR_UNKNOWN;
    }

    if (ngx_strcmp(value[0].data, "key_file") == 0) {
        if (acf->key_file.data) {
            return "is duplicate";
        }

        acf->key_file = value[1];

        if (ngx_conf_full_name(cf->cycle, &acf->key_file, 1) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[0].data, "key_id") == 0) {
        return ngx_campaign_apns_set_str(cf, &acf->key_id, &value[1],
                                         NGX_CAMPAIGN_APNS_ALNUM,
                                         NGX_CAMPAIGN_APNS_ID_LEN);
    }

    if (ngx_strcmp(value[0].data, "team_id") == 0) {
        return ngx_campaign_apns_set_str(cf, &acf->team_id, &value[1],
                                         NGX_CAMPAIGN_APNS_ALNUM,
                                         NGX_CAMPAIGN_APNS_ID_LEN);
    }

    if (ngx_strcmp(value[0].data, "topic") == 0) {
        return ngx_campaign_apns_set_str(cf, &acf->topic, &value[1],
                                         NGX_CAMPAIGN_APNS_ALNUM "._-", 255);
    }

    if (ngx_strcmp(value[0].data, "collapse_id") == 0) {
        return ngx_campaign_apns_set_str(cf, &acf->collapse_id, &value[1],
                                         NULL,
                                         NGX_CAMPAIGN_APNS_COLLAPSE_LEN);
    }

    if (ngx_strcmp(value[0].data, "push_type") == 0) {
        if (acf->push_type.data) {
            return "is duplicate";
        }

        for (i = 0; ngx_campaign_apns_push_types[i]; i++) {
            if (ngx_strcmp(value[1].data, ngx_campaign_apns_push_types[i])
                == 0)
            {
                acf->push_type = value[1];
                return NGX_CONF_OK;
            }
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown APNs push type \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_strcmp(value[0].data, "priority") == 0) {
        if (acf->priority != NGX_CONF_UNSET) {
            return "is duplicate";
        }

        acf->priority = ngx_atoi(value[1].data, value[1].len);

        if (acf->priority != 5 && acf->priority != 10
            && acf->priority != 1)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "APNs priority must be 10, 5 or 1, "
                               "not \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[0].data, "expiration") == 0) {
        if (acf->expiration != NGX_CONF_UNSET) {
            return "is duplicate";
        }

        acf->expiration = ngx_parse_time(&value[1], 1);

        if (acf->expiration == (time_t) NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid APNs expiration \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    return NGX_CAMPAIGN_CONNECTOR_UNKNOWN;
}


/* a value that goes into a header or a JWT as it is: a safe alphabet */

static char *
ngx_campaign_apns_set_str(ngx_conf_t *cf, ngx_str_t *field, ngx_str_t *value,
    const char *alphabet, size_t max)
{
    ngx_str_t  *name;
    ngx_uint_t  i;

    name = cf->args->elts;

    if (field->data) {
        return "is duplicate";
    }

    if (value->len == 0 || value->len > max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have 1 to %uz characters",
                           &name[0], max);
        return NGX_CONF_ERROR;
    }

    /* strchr() finds a NUL in any alphabet: it is checked apart */

    for (i = 0; i < value->len; i++) {
        if (value->data[i] == '\0'
            || (alphabet ? ngx_strchr(alphabet, value->data[i]) == NULL
                         : value->data[i] < 0x20 || value->data[i] > 0x7e))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid character in \"%V\" \"%V\"",
                               &name[0], value);
            return NGX_CONF_ERROR;
        }
    }

    *field = *value;

    return NGX_CONF_OK;
}


static char *
ngx_campaign_apns_init_conf(ngx_conf_t *cf, ngx_campaign_connector_t *cn)
{
    char                      *rc;
    ngx_str_t                  pem;
    ngx_campaign_apns_conf_t  *acf;

    acf = cn->conf;

    if (acf->key_file.data == NULL || acf->key_id.data == NULL
        || acf->team_id.data == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "apns connector \"%V\" needs \"key_file\", "
                           "\"key_id\" and \"team_id\"", &cn->name);
        return NGX_CONF_ERROR;
    }

    if (cn->url.len == 0) {
        ngx_str_set(&cn->url, NGX_CAMPAIGN_APNS_URL);
    }

    while (cn->url.len && cn->url.data[cn->url.len - 1] == '/') {
        cn->url.len--;
    }

    acf->cleartext = (cn->url.len >= 7
                      && ngx_strncmp(cn->url.data, "http://", 7) == 0);

    if (acf->push_type.data == NULL) {
        ngx_str_set(&acf->push_type, "alert");
    }

    /* Apple wants background notifications sent at priority 5 */

    if (acf->priority == NGX_CONF_UNSET) {
        acf->priority = ngx_strcmp(acf->push_type.data, "background") == 0
                        ? 5 : 10;
    }

    rc = ngx_campaign_connector_read_secret(cf, &acf->key_file, &pem);
    if (rc != NGX_CONF_OK) {
        return rc;
    }

    rc = ngx_campaign_jwt_key(cf, &acf->key_file, &pem,
                              NGX_CAMPAIGN_JWT_ES256, &acf->key);

    ngx_explicit_memzero(pem.data, pem.len);

    if (rc != NGX_CONF_OK) {
        return rc;
    }

    /* {"alg":"ES256","kid":"..."} {"iss":"...","iat":...} */

    acf->token_size = ngx_campaign_jwt_size(&acf->key,
                                            sizeof("{\"alg\":\"ES256\","
                                                   "\"kid\":\"\"}") - 1
                                            + acf->key_id.len,
                                            sizeof("{\"iss\":\"\","
                                                   "\"iat\":}") - 1
                                            + acf->team_id.len
                                            + NGX_TIME_T_LEN);

    acf->token = ngx_pnalloc(cf->pool, acf->token_size);
    if (acf->token == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The payload: {"aps":{"alert":{"title":..,"body":..},"sound":..,
 * "badge":..},"custom":"data",...}; a background notification has
 * {"aps":{"content-available":1}} instead, and the custom data.  A custom
 * key "aps" would replace Apple's: it is left out.
 */

static ngx_int_t
ngx_campaign_apns_render(ngx_campaign_message_t *m, const cJSON *data,
    ngx_campaign_rendered_t *r, size_t n, const char *language)
{
    size_t                        i, len;
    const char                   *device, *topic;
    ngx_campaign_out_t            o;
    ngx_campaign_execution_t     *e;
    ngx_campaign_rendered_t      *title, *body, *sound, *badge;
    ngx_campaign_apns_conf_t     *acf;
    ngx_campaign_apns_message_t  *am;

    e = m->execution;
    acf = e->gateway->connector->conf;

    device = m->recipient->address;
    len = device ? ngx_strlen(device) : 0;

    for (i = 0; i < len; i++) {
        if (ngx_strchr(NGX_CAMPAIGN_APNS_HEX, device[i]) == NULL) {
            break;
        }
    }

    if (i < len || len < NGX_CAMPAIGN_APNS_DEVICE_MIN
        || len > NGX_CAMPAIGN_APNS_DEVICE_MAX)
    {
        ngx_str_set(&m->reason, "not an APNs device token");
        return NGX_DECLINED;
    }

    topic = acf->topic.len ? (const char *) acf->topic.data
                           : m->recipient->app_id;

    if (topic == NULL || *topic == '\0') {
        ngx_log_error(NGX_LOG_INFO, e->log, 0,
                      "campaign: message %V: no APNs topic: the apns "
                      "connector has no \"topic\" and the recipient "
                      "no appID", &m->idempotency_key);
        return NGX_ERROR;
    }

    /* an appID goes into apns-topic: a bundle id's characters only */

    if (topic[strspn(topic, NGX_CAMPAIGN_APNS_ALNUM "._-")] != '\0') {
        ngx_str_set(&m->reason, "the appID is not an APNs topic");
        return NGX_DECLINED;
    }

    am = ngx_palloc(e->pool, sizeof(ngx_campaign_apns_message_t));
    if (am == NULL) {
        return NGX_ERROR;
    }

    am->device.len = len;
    am->device.data = ngx_pnalloc(e->pool, len);
    am->topic.len = ngx_strlen(topic);
    am->topic.data = ngx_pnalloc(e->pool, am->topic.len);

    if (am->device.data == NULL || am->topic.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(am->device.data, device, len);
    ngx_memcpy(am->topic.data, topic, am->topic.len);

    title = NULL;
    body = NULL;
    sound = NULL;
    badge = NULL;
    len = 64;

    for (i = 0; i < n; i++) {
        len += 2 * r[i].len + ngx_strlen(r[i].key) + 8;

        if (r[i].group != NULL) {
            continue;
        }

        if (ngx_strcmp(r[i].key, "title") == 0) {
            title = &r[i];

        } else if (ngx_strcmp(r[i].key, "body") == 0) {
            body = &r[i];

        } else if (ngx_strcmp(r[i].key, "sound") == 0 && r[i].len) {
            sound = &r[i];

        } else if (ngx_strcmp(r[i].key, "badge") == 0 && r[i].len) {
            badge = &r[i];
        }
    }

    ngx_campaign_out_init(&o, e->pool, len);

    if (ngx_strcmp(acf->push_type.data, "background") == 0) {
        ngx_campaign_out_literal(&o, "{\"aps\":{\"content-available\":1}");

    } else {
        ngx_campaign_out_literal(&o, "{\"aps\":{\"alert\":{");

        if (title) {
            ngx_campaign_out_literal(&o, "\"title\":");
            ngx_campaign_out_string(&o, title->text, title->len);
        }

        if (body) {
            if (title) {
                ngx_campaign_out_literal(&o, ",");
            }

            ngx_campaign_out_literal(&o, "\"body\":");
            ngx_campaign_out_string(&o, body->text, body->len);
        }

        ngx_campaign_out_literal(&o, "}");

        if (sound) {
            ngx_campaign_out_literal(&o, ",\"sound\":");
            ngx_campaign_out_string(&o, sound->text, sound->len);
        }

        if (badge && ngx_campaign_apns_badge(&o, badge) != NGX_OK) {
            ngx_log_error(NGX_LOG_INFO, e->log, 0,
                          "campaign: message %V: the APNs badge is not "
                          "a number", &m->idempotency_key);
            return NGX_ERROR;
        }

        ngx_campaign_out_literal(&o, "}");
    }

    for (i = 0; i < n; i++) {
        if (r[i].group == NULL || ngx_strcmp(r[i].key, "aps") == 0) {
            continue;
        }

        ngx_campaign_out_literal(&o, ",");
        ngx_campaign_out_string(&o, (u_char *) r[i].key,
                                ngx_strlen(r[i].key));
        ngx_campaign_out_literal(&o, ":");
        ngx_campaign_out_string(&o, r[i].text, r[i].len);
    }

    ngx_campaign_out_literal(&o, "}");

    if (o.failed) {
        return NGX_ERROR;
    }

    m->payload.data = o.start;
    m->payload.len = o.pos - o.start;
    m->connector_data = am;

    return NGX_OK;
}


static ngx_int_t
ngx_campaign_apns_badge(ngx_campaign_out_t *o, ngx_campaign_rendered_t *badge)
{
    size_t  i;

    if (badge->len > 9) {
        return NGX_ERROR;
    }

    for (i = 0; i < badge->len; i++) {
        if (badge->text[i] < '0' || badge->text[i] > '9') {
            return NGX_ERROR;
        }
    }

    ngx_campaign_out_literal(o, ",\"badge\":");
    ngx_campaign_out_uint(o, ngx_atoi(badge->text, badge->len));

    return NGX_OK;
}


static ngx_int_t
ngx_campaign_apns_prepare(ngx_campaign_transfer_t *t,
    ngx_campaign_message_t *m)
{
    u_char                       *url, *p;
    u_char                        id[NGX_CAMPAIGN_EXECUTION_ID_LEN];
    ngx_campaign_apns_conf_t     *acf;
    ngx_campaign_apns_message_t  *am;

    acf = t->connector->conf;
    am = m->connector_data;

    if (ngx_campaign_apns_token(acf, t->log) != NGX_OK) {
        return NGX_ERROR;
    }

    url = ngx_pnalloc(t->pool, t->connector->url.len
                               + sizeof("/3/device/") + am->device.len);
    if (url == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(url, "%V/3/device/%V", &t->connector->url, &am->device);
    *p = '\0';

    /*
     * HTTP/2 only: negotiated with ALPN, or spoken at once to a plain
     * http:// endpoint (a test's); an attempt waits for a connection that
     * is being made rather than opening one of its own, so that the
     * streams share it.
     */

    if (curl_easy_setopt(t->easy, CURLOPT_URL, url) != CURLE_OK
        || curl_easy_setopt(t->easy, CURLOPT_HTTP_VERSION,
                            acf->cleartext
                            ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                            : CURL_HTTP_VERSION_2TLS)
           != CURLE_OK
        || curl_easy_setopt(t->easy, CURLOPT_PIPEWAIT, 1L) != CURLE_OK)
    {
        return NGX_ERROR;
    }

    /*
     * libcurl before 8.0 fails a cleartext HTTP/2 connection that it
     * reuses ("Error in the HTTP2 framing layer", curl issue 10634):
     * there, each attempt has a connection of its own.
     */

    if (acf->cleartext
        && curl_version_info(CURLVERSION_NOW)->version_num < 0x080000
        && (curl_easy_setopt(t->easy, CURLOPT_FRESH_CONNECT, 1L) != CURLE_OK
            || curl_easy_setopt(t->easy, CURLOPT_FORBID_REUSE, 1L)
               != CURLE_OK
            || curl_easy_setopt(t->easy, CURLOPT_PIPEWAIT, 0L) != CURLE_OK))
    {
        return NGX_ERROR;
    }

    ngx_campaign_apns_id(id, &m->idempotency_key);

    if (ngx_campaign_transfer_header(t, "authorization: bearer %*s",
                                     acf->token_len, acf->token)
           != NGX_OK
        || ngx_campaign_transfer_header(t, "apns-topic: %V", &am->topic)
           != NGX_OK
        || ngx_campaign_transfer_header(t, "apns-push-type: %V",
                                        &acf->push_type)
           != NGX_OK
        || ngx_campaign_transfer_header(t, "apns-priority: %i",
                                        acf->priority)
           != NGX_OK
        || ngx_campaign_transfer_header(t, "apns-id: %*s",
                                        (size_t) NGX_CAMPAIGN_EXECUTION_ID_LEN,
                                        id)
           != NGX_OK
        || ngx_campaign_transfer_header(t, "content-type: application/json")
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* a relative expiration, 0 excepted: "deliver now or never" */

    if (acf->expiration != NGX_CONF_UNSET
        && ngx_campaign_transfer_header(t, "apns-expiration: %T",
                                        acf->expiration
                                        ? ngx_time() + acf->expiration : 0)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (acf->collapse_id.len
        && ngx_campaign_transfer_header(t, "apns-collapse-id: %V",
                                        &acf->collapse_id)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_campaign_transfer_body(t, m->payload.data, m->payload.len, 0);
}


/* the worker's provider token, made again once it is 50 minutes old */

static ngx_int_t
ngx_campaign_apns_token(ngx_campaign_apns_conf_t *acf, ngx_log_t *log)
{
    u_char     *end;
    time_t      now;
    ngx_str_t   header, claims;
    u_char      h[sizeof("{\"alg\":\"ES256\",\"kid\":\"\"}")
                  + NGX_CAMPAIGN_APNS_ID_LEN];
    u_char      c[sizeof("{\"iss\":\"\",\"iat\":}") + NGX_CAMPAIGN_APNS_ID_LEN
                  + NGX_TIME_T_LEN];

    now = ngx_time();

    if (acf->token_len && now - acf->token_iat < NGX_CAMPAIGN_APNS_TOKEN_AGE) {
        return NGX_OK;
    }

    header.data = h;
    header.len = ngx_sprintf(h, "{\"alg\":\"ES256\",\"kid\":\"%V\"}",
                             &acf->key_id)
                 - h;

    claims.data = c;
    claims.len = ngx_sprintf(c, "{\"iss\":\"%V\",\"iat\":%T}",
                             &acf->team_id, now)
                 - c;

    end = ngx_campaign_jwt_sign(&acf->key, acf->token, &header, &claims, log);
    if (end == NULL) {
        acf->token_len = 0;
        return NGX_ERROR;
    }

    acf->token_len = end - acf->token;
    acf->token_iat = now;
    acf->token_made = ngx_current_msec;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, log, 0,
                   "campaign apns: a new provider token");

    return NGX_OK;
}


/*
 * apns-id: a name-based UUID of the message's key, the same for each of
 * its attempts, so that Apple's answers and a device's logs can be
 * matched to the message.
 */

static void
ngx_campaign_apns_id(u_char *id, ngx_str_t *key)
{
    u_char     hash[16];
    ngx_md5_t  md5;

    ngx_md5_init(&md5);
    ngx_md5_update(&md5, key->data, key->len);
    ngx_md5_final(hash, &md5);

    hash[6] = (hash[6] & 0x0f) | 0x30;    /* version 3 */
    hash[8] = (hash[8] & 0x3f) | 0x80;    /* RFC 4122 variant */

    ngx_sprintf(id, "%*xs-%*xs-%*xs-%*xs-%*xs",
                (size_t) 4, hash, (size_t) 2, hash + 4, (size_t) 2, hash + 6,
                (size_t) 2, hash + 8, (size_t) 6, hash + 10);
}


/*
 * Apple's answer: 200, or a status and {"reason":"..."}.  A token that
 * is not (or no longer) a device's is an invalid address; a provider
 * token that Apple refuses is made again, once for the attempts that
 * used it, and they are retried.
 */

static ngx_campaign_send_e
ngx_campaign_apns_result(ngx_campaign_transfer_t *t, ngx_str_t *reason)
{
    u_char                    *p;
    u_char                     prefix[NGX_INT_T_LEN + 2];
    cJSON                     *json, *item;
    ngx_str_t                  text;
    ngx_campaign_apns_conf_t  *acf;

    acf = t->connector->conf;

    if (t->result != CURLE_OK) {
        return ngx_campaign_connector_no_answer(t, reason, NULL);
    }

    if (t->code == 200) {
        return NGX_CAMPAIGN_SEND_ACCEPTED;
    }

    ngx_str_null(&text);

    json = cJSON_ParseWithLength((char *) t->answer, t->answer_len);
    item = cJSON_GetObjectItemCaseSensitive(json, "reason");

    if (cJSON_IsString(item)) {
        text.data = (u_char *) item->valuestring;
        text.len = ngx_strlen(item->valuestring);
    }

    p = ngx_sprintf(prefix, "%l ", t->code);
    *p = '\0';

    ngx_campaign_connector_reason(t->pool, reason, (char *) prefix,
                                  text.data, text.len);
    cJSON_Delete(json);

    switch (t->code) {

    case 400:
        return ngx_campaign_apns_is(reason, "BadDeviceToken")
               || ngx_campaign_apns_is(reason, "DeviceTokenNotForTopic")
               ? NGX_CAMPAIGN_SEND_INVALID : NGX_CAMPAIGN_SEND_PERMANENT;

    case 410:
        return NGX_CAMPAIGN_SEND_INVALID;

    case 403:
        if (!ngx_campaign_apns_is(reason, "ExpiredProviderToken")
            && !ngx_campaign_apns_is(reason, "InvalidProviderToken"))
        {
            return NGX_CAMPAIGN_SEND_PERMANENT;
        }

        /* the first of the attempts that used it drops the token */

        if (acf->token_len
            && (ngx_msec_int_t) (acf->token_made - t->started) <= 0)
        {
            ngx_log_error(NGX_LOG_WARN, t->log, 0,
                          "campaign: connector \"%V\": APNs refused the "
                          "provider token (%V), making a new one",
                          &t->connector->name, reason);
            acf->token_len = 0;
        }

        return NGX_CAMPAIGN_SEND_TRANSIENT;

    case 429:
        return NGX_CAMPAIGN_SEND_TRANSIENT;

    default:
        return t->code >= 500 ? NGX_CAMPAIGN_SEND_TRANSIENT
                              : NGX_CAMPAIGN_SEND_PERMANENT;
    }
}


/* the reason, past its "NNN " status */

static ngx_uint_t
ngx_campaign_apns_is(ngx_str_t *reason, const char *s)
{
    size_t  len;

    len = ngx_strlen(s);

    return reason->len == 4 + len
           && ngx_strncmp(reason->data + 4, s, len) == 0;
}
