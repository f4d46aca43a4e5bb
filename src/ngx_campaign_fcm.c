
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_connector.h"
#include "ngx_campaign_jwt.h"


/*
 * The FCM connector: Firebase Cloud Messaging's HTTP v1 API.  Each message
 * is a POST to /v1/projects/<project>/messages:send with an OAuth2 access
 * token, which the worker gets from the service account's token endpoint
 * with a JWT assertion signed by the account's RSA key (RFC 7523), and
 * keeps until 5 minutes before it expires.  One request for a token is in
 * flight at a time; the attempts wait for it in the connector's queue.
 *
 *     campaign_connector  firebase  fcm {
 *         service_account  keys/shop-firebase-adminsdk.json;
 *     }
 */


#define NGX_CAMPAIGN_FCM_URL         "https://fcm.googleapis.com"
#define NGX_CAMPAIGN_FCM_TOKEN_URL   "https://oauth2.googleapis.com/token"
#define NGX_CAMPAIGN_FCM_SCOPE                                               \
    "https://www.googleapis.com/auth/firebase.messaging"
#define NGX_CAMPAIGN_FCM_GRANT                                               \
    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"       \
    "&assertion="
#define NGX_CAMPAIGN_FCM_LIFETIME    3600   /* s, of an assertion */
#define NGX_CAMPAIGN_FCM_MARGIN      300    /* s, before a token expires */
#define NGX_CAMPAIGN_FCM_ACCESS_MAX  2048   /* bytes: Google's own limit */
#define NGX_CAMPAIGN_FCM_DEVICE_MAX  4096   /* bytes, of a device token */


typedef struct {
    ngx_str_t                    service_account;   /* the file */
    ngx_str_t                    project;
    ngx_str_t                    token_url;
    ngx_str_t                    audience;    /* the key's token_uri */
    ngx_str_t                    client_email;
    ngx_str_t                    key_id;      /* private_key_id, or "" */
    ngx_campaign_jwt_key_t       key;
    ngx_str_t                    send_url;    /* .../messages:send */

    /* the worker's access token */
    u_char                      *access;
    size_t                       access_len;
    time_t                       refresh;     /* get another from then */
    ngx_msec_t                   obtained;    /* ngx_current_msec */
    ngx_campaign_transfer_t     *fetching;
} ngx_campaign_fcm_conf_t;


static void *ngx_campaign_fcm_create_conf(ngx_conf_t *cf,
    ngx_campaign_connector_t *cn);
static char *ngx_campaign_fcm_directive(ngx_conf_t *cf,
    ngx_campaign_connector_t *cn);
static char *ngx_campaign_fcm_init_conf(ngx_conf_t *cf,
    ngx_campaign_connector_t *cn);
static ngx_uint_t ngx_campaign_fcm_http_url(ngx_str_t *url);
static char *ngx_campaign_fcm_service_account(ngx_conf_t *cf,
    ngx_campaign_fcm_conf_t *fcf, ngx_str_t *secret);
static char *ngx_campaign_fcm_member(ngx_conf_t *cf, ngx_str_t *file,
    cJSON *json, const char *name, ngx_str_t *value, ngx_uint_t required);
static ngx_int_t ngx_campaign_fcm_render(ngx_campaign_message_t *m,
    const cJSON *data, ngx_campaign_rendered_t *r, size_t n,
    const char *language);
static ngx_int_t ngx_campaign_fcm_ready(ngx_campaign_connector_t *cn,
    ngx_log_t *log);
static ngx_int_t ngx_campaign_fcm_fetch(ngx_campaign_connector_t *cn);
static ngx_int_t ngx_campaign_fcm_assertion(ngx_campaign_transfer_t *t,
    ngx_campaign_fcm_conf_t *fcf);
static void ngx_campaign_fcm_token_done(ngx_campaign_transfer_t *t);
static ngx_campaign_send_e ngx_campaign_fcm_token(
    ngx_campaign_transfer_t *t, ngx_campaign_fcm_conf_t *fcf,
    ngx_str_t *reason);
static ngx_int_t ngx_campaign_fcm_prepare(ngx_campaign_transfer_t *t,
    ngx_campaign_message_t *m);
static ngx_campaign_send_e ngx_campaign_fcm_result(ngx_campaign_transfer_t *t,
    ngx_str_t *reason);
static ngx_uint_t ngx_campaign_fcm_about_token(cJSON *error);
static void ngx_campaign_fcm_exit_process(ngx_campaign_connector_t *cn);


ngx_campaign_connector_type_t  ngx_campaign_connector_fcm = {
    ngx_string("fcm"),
    1 << NGX_CAMPAIGN_CHANNEL_PUSH,
    ngx_campaign_fcm_create_conf,
    ngx_campaign_fcm_directive,
    ngx_campaign_fcm_init_conf,
    ngx_campaign_fcm_render,
    ngx_campaign_fcm_ready,
    ngx_campaign_fcm_prepare,
    ngx_campaign_fcm_result,
    NULL,
    ngx_campaign_fcm_exit_process
};


static void *
ngx_campaign_fcm_create_conf(ngx_conf_t *cf, ngx_campaign_connector_t *cn)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_campaign_fcm_conf_t));
}


static char *
ngx_campaign_fcm_directive(ngx_conf_t *cf, ngx_campaign_connector_t *cn)
{
    ngx_str_t                *value, *field;
    ngx_uint_t                i;
    ngx_campaign_fcm_conf_t  *fcf;

    fcf = cn->conf;
    value = cf->args->elts;

    if (ngx_strcmp(value[0].data, "service_account") == 0) {
        field = &fcf->service_account;

    } else if (ngx_strcmp(value[0].data, "project") == 0) {
        field = &fcf->project;

    } else if (ngx_strcmp(value[0].data, "token_url") == 0) {
        field = &fcf->token_url;

    } else {
        return NGX_CAMPAIGN_CONNECTOR_UNKNOWN;
    }

    if (cf->args->nelts != 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of arguments in \"%V\" "
                           "of an fcm connector", &value[0]);
        return NGX_CONF_ERROR;
    }

    if (field->data) {
        return "is duplicate";
    }

    *field = value[1];

    if (field == &fcf->service_account) {
        return ngx_conf_full_name(cf->cycle, field, 1) == NGX_OK
               ? NGX_CONF_OK : NGX_CONF_ERROR;
    }

    if (field == &fcf->token_url) {
        return NGX_CONF_OK;
    }

    /* a project id goes into the URL as it is */

    for (i = 0; i < field->len; i++) {
        if (!ngx_campaign_isalnum(field->data[i])
            && (field->data[i] == '\0'
                || ngx_strchr("-.:", field->data[i]) == NULL))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid FCM project \"%V\"", field);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_campaign_fcm_init_conf(ngx_conf_t *cf, ngx_campaign_connector_t *cn)
{
    char                     *rc;
    u_char                   *p;
    ngx_str_t                 secret;
    ngx_campaign_fcm_conf_t  *fcf;

    fcf = cn->conf;

    if (fcf->service_account.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fcm connector \"%V\" needs \"service_account\"",
                           &cn->name);
        return NGX_CONF_ERROR;
    }

    rc = ngx_campaign_connector_read_secret(cf, &fcf->service_account,
                                            &secret);
    if (rc != NGX_CONF_OK) {
        return rc;
    }

    rc = ngx_campaign_fcm_service_account(cf, fcf, &secret);

    ngx_explicit_memzero(secret.data, secret.len);

    if (rc != NGX_CONF_OK) {
        return rc;
    }

    if (fcf->project.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fcm connector \"%V\": \"%V\" has no "
                           "\"project_id\", and there is no \"project\"",
                           &cn->name, &fcf->service_account);
        return NGX_CONF_ERROR;
    }

    if (fcf->token_url.len == 0) {
        fcf->token_url = fcf->audience;
    }

    /* the key's token_uri too: a URL of another scheme is not fetched */

    if (!ngx_campaign_fcm_http_url(&fcf->token_url)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fcm connector \"%V\": the token URL must be "
                           "an http:// or https:// URL", &cn->name);
        return NGX_CONF_ERROR;
    }

    if (cn->url.len == 0) {
        ngx_str_set(&cn->url, NGX_CAMPAIGN_FCM_URL);
    }

    while (cn->url.len && cn->url.data[cn->url.len - 1] == '/') {
        cn->url.len--;
    }

    /* the URLs, NUL-terminated for libcurl */

    fcf->send_url.len = cn->url.len + sizeof("/v1/projects//messages:send")
                        - 1 + fcf->project.len;
    fcf->send_url.data = ngx_pnalloc(cf->pool, fcf->send_url.len + 1);
    if (fcf->send_url.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_sprintf(fcf->send_url.data, "%V/v1/projects/%V/messages:send",
                    &cn->url, &fcf->project);
    *p = '\0';

    p = ngx_pnalloc(cf->pool, fcf->token_url.len + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    *ngx_cpymem(p, fcf->token_url.data, fcf->token_url.len) = '\0';
    fcf->token_url.data = p;

    fcf->access = ngx_pnalloc(cf->pool, NGX_CAMPAIGN_FCM_ACCESS_MAX);
    if (fcf->access == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_uint_t
ngx_campaign_fcm_http_url(ngx_str_t *url)
{
    return (url->len > 8 && ngx_strncmp(url->data, "https://", 8) == 0)
           || (url->len > 7 && ngx_strncmp(url->data, "http://", 7) == 0);
}


/*
 * The service account's JSON key: client_email, private_key (PEM),
 * token_uri, project_id, private_key_id.  Errors name the file and the
 * member, never a value.
 */

static char *
ngx_campaign_fcm_service_account(ngx_conf_t *cf, ngx_campaign_fcm_conf_t *fcf,
    ngx_str_t *secret)
{
    char       *rc;
    cJSON      *json, *item;
    ngx_str_t   pem, project, *file;

    file = &fcf->service_account;

    json = cJSON_ParseWithLength((char *) secret->data, secret->len);
    if (!cJSON_IsObject(json)) {
        cJSON_Delete(json);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "service account \"%V\" is not a JSON object",
                           file);
        return NGX_CONF_ERROR;
    }

    rc = ngx_campaign_fcm_member(cf, file, json, "client_email",
                                 &fcf->client_email, 1);

    if (rc == NGX_CONF_OK) {
        rc = ngx_campaign_fcm_member(cf, file, json, "private_key_id",
                                     &fcf->key_id, 0);
    }

    if (rc == NGX_CONF_OK) {
        rc = ngx_campaign_fcm_member(cf, file, json, "token_uri",
                                     &fcf->audience, 0);
    }

    if (rc == NGX_CONF_OK) {
        rc = ngx_campaign_fcm_member(cf, file, json, "project_id",
                                     &project, 0);
    }

    if (rc == NGX_CONF_OK && fcf->project.len == 0) {
        fcf->project = project;
    }

    item = cJSON_GetObjectItemCaseSensitive(json, "private_key");

    if (rc == NGX_CONF_OK) {
        if (cJSON_IsString(item)) {
            pem.data = (u_char *) item->valuestring;
            pem.len = ngx_strlen(item->valuestring);

            rc = ngx_campaign_jwt_key(cf, file, &pem,
                                      NGX_CAMPAIGN_JWT_RS256, &fcf->key);

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "service account \"%V\" has no string "
                               "\"private_key\"", file);
            rc = NGX_CONF_ERROR;
        }
    }

    if (cJSON_IsString(item)) {
        ngx_explicit_memzero(item->valuestring,
                             ngx_strlen(item->valuestring));
    }

    cJSON_Delete(json);

    if (rc == NGX_CONF_OK && fcf->audience.len == 0) {
        ngx_str_set(&fcf->audience, NGX_CAMPAIGN_FCM_TOKEN_URL);
    }

    return rc;
}


/* a string member, copied; it goes into JSON, so printable ASCII only */

static char *
ngx_campaign_fcm_member(ngx_conf_t *cf, ngx_str_t *file, cJSON *json,
    const char *name, ngx_str_t *value, ngx_uint_t required)
{
    u_char  *s;
    cJSON   *item;
    size_t   i, len;

    item = cJSON_GetObjectItemCaseSensitive(json, name);

    if (item == NULL && !required) {
        ngx_str_null(value);
        return NGX_CONF_OK;
    }

    if (!cJSON_IsString(item) || item->valuestring[0] == '\0') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "service account \"%V\" has no string \"%s\"",
                           file, name);
        return NGX_CONF_ERROR;
    }

    s = (u_char *) item->valuestring;
    len = ngx_strlen(s);

    for (i = 0; i < len; i++) {
        if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "service account \"%V\": invalid \"%s\"",
                               file, name);
            return NGX_CONF_ERROR;
        }
    }

    value->data = ngx_pnalloc(cf->pool, len);
    if (value->data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(value->data, s, len);
    value->len = len;

    return NGX_CONF_OK;
}


/*
 * {"message":{"token":..,"notification":{"title":..,"body":..},
 * "data":{..},"android":{"notification":{"sound":..}},
 * "apns":{"payload":{"aps":{"sound":..,"badge":..}}}}}: the sound and the
 * badge, when the content has them, go where each platform looks.
 */

static ngx_int_t
ngx_campaign_fcm_render(ngx_campaign_message_t *m, const cJSON *data,
    ngx_campaign_rendered_t *r, size_t n, const char *language)
{
    size_t                     i, len, ndata;
    const u_char              *device;
    ngx_campaign_out_t         o;
    ngx_campaign_execution_t  *e;
    ngx_campaign_rendered_t   *sound, *badge;

    static u_char  alphabet[] = "_:.-";

    e = m->execution;

    device = (const u_char *) m->recipient->address;
    len = device ? ngx_strlen(device) : 0;

    for (i = 0; i < len; i++) {
        if (!ngx_campaign_isalnum(device[i])
            && ngx_strchr(alphabet, device[i]) == NULL)
        {
            break;
        }
    }

    if (len == 0 || i < len || len > NGX_CAMPAIGN_FCM_DEVICE_MAX) {
        ngx_str_set(&m->reason, "not an FCM registration token");
        return NGX_DECLINED;
    }

    len += 128;
    sound = NULL;
    badge = NULL;
    ndata = 0;

    for (i = 0; i < n; i++) {
        len += 2 * r[i].len + ngx_strlen(r[i].key) + 8;

        if (r[i].group) {
            ndata++;

        } else if (ngx_strcmp(r[i].key, "sound") == 0 && r[i].len) {
            sound = &r[i];

        } else if (ngx_strcmp(r[i].key, "badge") == 0 && r[i].len) {
            badge = &r[i];
        }
    }

    if (badge) {
        for (i = 0; i < badge->len; i++) {
            if (badge->len > 9
                || badge->text[i] < '0' || badge->text[i] > '9')
            {
                ngx_log_error(NGX_LOG_INFO, e->log, 0,
                              "campaign: message %V: the badge is not "
                              "a number", &m->idempotency_key);
                    return NGX_ERROR;
            }
        }
    }

    ngx_campaign_out_init(&o, e->pool, len);

    ngx_campaign_out_literal(&o, "{\"message\":{\"token\":");
    ngx_campaign_out_string(&o, device, ngx_strlen(device));
    ngx_campaign_out_literal(&o, ",\"notification\":{");

    for (i = 0; i < n; i++) {
        if (r[i].group == NULL
            && (ngx_strcmp(r[i].key, "title") == 0
                || ngx_strcmp(r[i].key, "body") == 0))
        {
            if (o.pos[-1] != '{') {
                ngx_campaign_out_literal(&o, ",");
            }

            ngx_campaign_out_string(&o, (u_char *) r[i].key,
                                    ngx_strlen(r[i].key));
            ngx_campaign_out_literal(&o, ":");
            ngx_campaign_out_string(&o, r[i].text, r[i].len);
        }
    }

    ngx_campaign_out_literal(&o, "}");

    if (ndata) {
        ngx_campaign_out_literal(&o, ",\"data\":{");

        for (i = 0; i < n; i++) {
            if (r[i].group == NULL) {
                continue;
            }

            if (o.pos[-1] != '{') {
                ngx_campaign_out_literal(&o, ",");
            }

            ngx_campaign_out_string(&o, (u_char *) r[i].key,
                                    ngx_strlen(r[i].key));
            ngx_campaign_out_literal(&o, ":");
            ngx_campaign_out_string(&o, r[i].text, r[i].len);
        }

        ngx_campaign_out_literal(&o, "}");
    }

    if (sound) {
        ngx_campaign_out_literal(&o, ",\"android\":{\"notification\":"
                                 "{\"sound\":");
        ngx_campaign_out_string(&o, sound->text, sound->len);
        ngx_campaign_out_literal(&o, "}}");
    }

    if (sound || badge) {
        ngx_campaign_out_literal(&o, ",\"apns\":{\"payload\":{\"aps\":{");

        if (sound) {
            ngx_campaign_out_literal(&o, "\"sound\":");
            ngx_campaign_out_string(&o, sound->text, sound->len);
        }

        if (badge) {
            if (sound) {
                ngx_campaign_out_literal(&o, ",");
            }

            ngx_campaign_out_literal(&o, "\"badge\":");
            ngx_campaign_out_uint(&o, ngx_atoi(badge->text, badge->len));
        }

        ngx_campaign_out_literal(&o, "}}}");
    }

    ngx_campaign_out_literal(&o, "}}");

    if (o.failed) {
        return NGX_ERROR;
    }

    m->payload.data = o.start;
    m->payload.len = o.pos - o.start;

    return NGX_OK;
}


/* an access token, or a request for one (at most one at a time) */

static ngx_int_t
ngx_campaign_fcm_ready(ngx_campaign_connector_t *cn, ngx_log_t *log)
{
    ngx_campaign_fcm_conf_t  *fcf;

    fcf = cn->conf;

    if (fcf->access_len && ngx_time() < fcf->refresh) {
        return NGX_OK;
    }

    if (fcf->fetching) {
        return NGX_AGAIN;
    }

    return ngx_campaign_fcm_fetch(cn);
}


static ngx_int_t
ngx_campaign_fcm_fetch(ngx_campaign_connector_t *cn)
{
    ngx_campaign_transfer_t  *t;
    ngx_campaign_fcm_conf_t  *fcf;

    fcf = cn->conf;

    /* the worker's: it outlives the execution that asked for it */

    t = ngx_campaign_transfer_create(cn, ngx_cycle->log);
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->done = ngx_campaign_fcm_token_done;
    t->data = cn;

    if (ngx_campaign_fcm_assertion(t, fcf) != NGX_OK
        || curl_easy_setopt(t->easy, CURLOPT_URL, fcf->token_url.data)
           != CURLE_OK
        || ngx_campaign_transfer_header(t, "Content-Type: "
                                        "application/x-www-form-urlencoded")
           != NGX_OK
        || ngx_campaign_transfer_start(t) != NGX_OK)
    {
        ngx_campaign_transfer_cancel(t);
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "campaign fcm: connector \"%V\" gets an access token",
                   &cn->name);

    fcf->fetching = t;

    return NGX_AGAIN;
}


/* the form: grant_type=...&assertion=<JWT, RS256> */

static ngx_int_t
ngx_campaign_fcm_assertion(ngx_campaign_transfer_t *t,
    ngx_campaign_fcm_conf_t *fcf)
{
    u_char              *form, *p;
    time_t               now;
    ngx_str_t            header, claims;
    ngx_campaign_out_t   o;

    now = ngx_time();

    ngx_campaign_out_init(&o, t->pool, 128 + fcf->key_id.len);
    ngx_campaign_out_literal(&o, "{\"alg\":\"RS256\",\"typ\":\"JWT\"");

    if (fcf->key_id.len) {
        ngx_campaign_out_literal(&o, ",\"kid\":");
        ngx_campaign_out_string(&o, fcf->key_id.data, fcf->key_id.len);
    }

    ngx_campaign_out_literal(&o, "}");

    header.data = o.start;
    header.len = o.pos - o.start;

    ngx_campaign_out_init(&o, t->pool, 256 + fcf->client_email.len
                                      + fcf->audience.len);
    ngx_campaign_out_literal(&o, "{\"iss\":");
    ngx_campaign_out_string(&o, fcf->client_email.data,
                            fcf->client_email.len);
    ngx_campaign_out_literal(&o, ",\"scope\":\"" NGX_CAMPAIGN_FCM_SCOPE
                             "\",\"aud\":");
    ngx_campaign_out_string(&o, fcf->audience.data, fcf->audience.len);
    ngx_campaign_out_literal(&o, ",\"iat\":");
    ngx_campaign_out_uint(&o, now);
    ngx_campaign_out_literal(&o, ",\"exp\":");
    ngx_campaign_out_uint(&o, now + NGX_CAMPAIGN_FCM_LIFETIME);
    ngx_campaign_out_literal(&o, "}");

    if (o.failed || header.data == NULL) {
        return NGX_ERROR;
    }

    claims.data = o.start;
    claims.len = o.pos - o.start;

    form = ngx_pnalloc(t->pool, sizeof(NGX_CAMPAIGN_FCM_GRANT) - 1
                                + ngx_campaign_jwt_size(&fcf->key,
                                                        header.len,
                                                        claims.len));
    if (form == NULL) {
        return NGX_ERROR;
    }

    /* base64url and dots need no escaping in a form */

    p = ngx_cpymem(form, NGX_CAMPAIGN_FCM_GRANT,
                   sizeof(NGX_CAMPAIGN_FCM_GRANT) - 1);

    p = ngx_campaign_jwt_sign(&fcf->key, p, &header, &claims, t->log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    return ngx_campaign_transfer_body(t, form, p - form, 0);
}


static void
ngx_campaign_fcm_token_done(ngx_campaign_transfer_t *t)
{
    ngx_str_t                  reason;
    ngx_campaign_send_e        kind;
    ngx_campaign_connector_t  *cn;
    ngx_campaign_fcm_conf_t   *fcf;
    u_char                     text[256];

    cn = t->data;
    fcf = cn->conf;
    fcf->fetching = NULL;

    ngx_str_null(&reason);

    kind = ngx_campaign_fcm_token(t, fcf, &reason);

    if (t->answer) {
        ngx_explicit_memzero(t->answer, t->answer_len);
    }

    if (kind == NGX_CAMPAIGN_SEND_ACCEPTED) {
        ngx_campaign_transfer_free(t);
        ngx_campaign_connector_wake(cn);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "campaign: connector \"%V\": no access token from "
                  "\"%V\": %V", &cn->name, &fcf->token_url, &reason);

    /* the reason is t's: copied before t goes */

    *ngx_cpymem(text, reason.data, ngx_min(reason.len, sizeof(text) - 1))
        = '\0';

    ngx_campaign_transfer_free(t);
    ngx_campaign_connector_fail(cn, kind, (char *) text);
}


/*
 * The token endpoint's answer: {"access_token":"...","expires_in":3599,
 * "token_type":"Bearer"}, kept.  The endpoint down or busy, or an answer
 * that is not one: the attempts that wait are retried.  A refused
 * assertion (a deleted key, a wrong account) fails them: it will not get
 * better by itself.
 */

static ngx_campaign_send_e
ngx_campaign_fcm_token(ngx_campaign_transfer_t *t,
    ngx_campaign_fcm_conf_t *fcf, ngx_str_t *reason)
{
    u_char      *p;
    cJSON       *json, *token, *expires, *error;
    size_t       i, len;
    time_t       margin, ttl;
    u_char       prefix[NGX_INT_T_LEN + 24];

    if (t->result != CURLE_OK) {
        return ngx_campaign_connector_no_answer(t, reason,
                                                "token endpoint: ");
    }

    json = cJSON_ParseWithLength((char *) t->answer, t->answer_len);

    if (t->code != 200) {
        error = cJSON_GetObjectItemCaseSensitive(json, "error");
        p = ngx_sprintf(prefix, "token endpoint: %l ", t->code);
        *p = '\0';

        ngx_campaign_connector_reason(t->pool, reason, (char *) prefix,
                                      cJSON_IsString(error)
                                      ? (u_char *) error->valuestring
                                      : (u_char *) "",
                                      cJSON_IsString(error)
                                      ? ngx_strlen(error->valuestring) : 0);
        cJSON_Delete(json);

        return (t->code == 429 || t->code >= 500)
               ? NGX_CAMPAIGN_SEND_TRANSIENT : NGX_CAMPAIGN_SEND_PERMANENT;
    }

    token = cJSON_GetObjectItemCaseSensitive(json, "access_token");
    expires = cJSON_GetObjectItemCaseSensitive(json, "expires_in");

    len = cJSON_IsString(token) ? ngx_strlen(token->valuestring) : 0;

    /* it goes into a header line: no CR, LF or space */

    for (i = 0; i < len; i++) {
        if (token->valuestring[i] < 0x21 || token->valuestring[i] > 0x7e) {
            len = 0;
            break;
        }
    }

    if (len == 0 || len > NGX_CAMPAIGN_FCM_ACCESS_MAX
        || !cJSON_IsNumber(expires) || expires->valuedouble < 1)
    {
        if (len) {
            ngx_explicit_memzero(token->valuestring, len);
        }

        cJSON_Delete(json);
        ngx_str_set(reason, "token endpoint: no access_token and "
                            "expires_in in its answer");
        return NGX_CAMPAIGN_SEND_TRANSIENT;
    }

    ngx_memcpy(fcf->access, token->valuestring, len);
    fcf->access_len = len;

    ttl = expires->valuedouble > 86400 ? 86400 : (time_t) expires->valuedouble;
    margin = ngx_min(NGX_CAMPAIGN_FCM_MARGIN, ttl / 2);
    fcf->refresh = ngx_time() + ttl - margin;
    fcf->obtained = ngx_current_msec;

    ngx_explicit_memzero(token->valuestring, len);
    cJSON_Delete(json);

    return NGX_CAMPAIGN_SEND_ACCEPTED;
}


static ngx_int_t
ngx_campaign_fcm_prepare(ngx_campaign_transfer_t *t,
    ngx_campaign_message_t *m)
{
    ngx_campaign_fcm_conf_t  *fcf;

    fcf = t->connector->conf;

    /* HTTP/2 when the server speaks it, streams on one connection */

    if (curl_easy_setopt(t->easy, CURLOPT_URL, fcf->send_url.data)
           != CURLE_OK
        || curl_easy_setopt(t->easy, CURLOPT_HTTP_VERSION,
                            CURL_HTTP_VERSION_2TLS)
           != CURLE_OK
        || curl_easy_setopt(t->easy, CURLOPT_PIPEWAIT, 1L) != CURLE_OK)
    {
        return NGX_ERROR;
    }

    /* the token ready() saw: prepare comes right after it */

    if (fcf->access_len == 0
        || ngx_campaign_transfer_header(t, "Authorization: Bearer %*s",
                                        fcf->access_len, fcf->access)
           != NGX_OK
        || ngx_campaign_transfer_header(t, "Content-Type: "
                                        "application/json; charset=UTF-8")
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_campaign_transfer_body(t, m->payload.data, m->payload.len, 0);
}


/*
 * FCM's answer: 200, or {"error":{"code":..,"message":..,"status":..,
 * "details":[{"@type":"...FcmError","errorCode":"UNREGISTERED"},...]}}.
 */

static ngx_campaign_send_e
ngx_campaign_fcm_result(ngx_campaign_transfer_t *t, ngx_str_t *reason)
{
    u_char                   *p;
    cJSON                    *json, *error, *status, *message;
    ngx_uint_t                about_token;
    ngx_campaign_fcm_conf_t  *fcf;
    u_char                    prefix[128];

    fcf = t->connector->conf;

    if (t->result != CURLE_OK) {
        return ngx_campaign_connector_no_answer(t, reason, NULL);
    }

    if (t->code == 200) {
        return NGX_CAMPAIGN_SEND_ACCEPTED;
    }

    json = cJSON_ParseWithLength((char *) t->answer, t->answer_len);
    error = cJSON_GetObjectItemCaseSensitive(json, "error");
    status = cJSON_GetObjectItemCaseSensitive(error, "status");
    message = cJSON_GetObjectItemCaseSensitive(error, "message");

    if (!cJSON_IsString(status)) {
        status = NULL;
    }

    p = ngx_snprintf(prefix, sizeof(prefix) - 1, "%l %s%s", t->code,
                     status ? status->valuestring : "",
                     status ? ": " : "");
    *p = '\0';

    ngx_campaign_connector_reason(t->pool, reason, (char *) prefix,
                                  cJSON_IsString(message)
                                  ? (u_char *) message->valuestring
                                  : (u_char *) "",
                                  cJSON_IsString(message)
                                  ? ngx_strlen(message->valuestring) : 0);

    about_token = ngx_campaign_fcm_about_token(error);

    cJSON_Delete(json);

    switch (t->code) {

    case 401:

        /*
         * Expired or revoked before its time: another one is asked for,
         * unless this attempt was sent with one that has been replaced.
         */

        if ((ngx_msec_int_t) (fcf->obtained - t->started) <= 0) {
            fcf->access_len = 0;
        }

        return NGX_CAMPAIGN_SEND_TRANSIENT;

    case 400:
    case 403:
    case 404:
        return about_token ? NGX_CAMPAIGN_SEND_INVALID
                           : NGX_CAMPAIGN_SEND_PERMANENT;

    case 429:
        return NGX_CAMPAIGN_SEND_TRANSIENT;

    default:
        return t->code >= 500 ? NGX_CAMPAIGN_SEND_TRANSIENT
                              : NGX_CAMPAIGN_SEND_PERMANENT;
    }
}


/*
 * Whether an error is about the registration token: FCM's error code
 * UNREGISTERED (the app is gone from the device) or SENDER_ID_MISMATCH
 * (a token of another project), or an INVALID_ARGUMENT whose field
 * violation is "message.token".  Another INVALID_ARGUMENT (a reserved
 * data key, a payload too large) is the campaign's fault, not the
 * address's: permanent.
 */

static ngx_uint_t
ngx_campaign_fcm_about_token(cJSON *error)
{
    cJSON       *details, *detail, *code, *violations, *violation, *field;
    const char  *type;

    details = cJSON_GetObjectItemCaseSensitive(error, "details");

    if (!cJSON_IsArray(details)) {
        return 0;
    }

    cJSON_ArrayForEach(detail, details) {
        code = cJSON_GetObjectItemCaseSensitive(detail, "errorCode");

        if (cJSON_IsString(code)
            && (ngx_strcmp(code->valuestring, "UNREGISTERED") == 0
                || ngx_strcmp(code->valuestring, "SENDER_ID_MISMATCH") == 0))
        {
            return 1;
        }

        type = cJSON_GetStringValue(
                   cJSON_GetObjectItemCaseSensitive(detail, "@type"));
        violations = cJSON_GetObjectItemCaseSensitive(detail,
                                                      "fieldViolations");

        if (type == NULL || ngx_strstr(type, "BadRequest") == NULL
            || !cJSON_IsArray(violations))
        {
            continue;
        }

        cJSON_ArrayForEach(violation, violations) {
            field = cJSON_GetObjectItemCaseSensitive(violation, "field");

            if (cJSON_IsString(field)
                && ngx_strcmp(field->valuestring, "message.token") == 0)
            {
                return 1;
            }
        }
    }

    return 0;
}


static void
ngx_campaign_fcm_exit_process(ngx_campaign_connector_t *cn)
{
    ngx_campaign_fcm_conf_t  *fcf;

    fcf = cn->conf;

    if (fcf->fetching) {
        ngx_campaign_transfer_cancel(fcf->fetching);
        fcf->fetching = NULL;
    }

    ngx_explicit_memzero(fcf->access, fcf->access_len);
    fcf->access_len = 0;
}
