
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_connector.h"


/*
 * The HTTP connector: a provider's API (an SMS provider such as Twilio,
 * say) with a request body built from templates, one per field:
 *
 *     campaign_connector  twilio  http {
 *         url              https://api.twilio.com/2010-04-01/Accounts/
 *                          AC.../Messages.json;
 *         body             form;
 *         field            To    {{recipient.address}};
 *         field            From  {{content.from}};
 *         field            Body  {{content.body}};
 *         basic_auth_file  /etc/nginx/secrets/twilio;
 *         invalid_answer   400  "\"code\": 21211";
 *     }
 *
 * A field's template renders against {"profile", "context", "content",
 * "recipient", "message"}; its output is escaped for where it goes, form
 * encoding or a JSON string, never interpreted.  The fields make a form
 * or a flat JSON object.
 */


typedef struct {
    ngx_str_t                    name;
    ngx_campaign_template_t     *template;
} ngx_campaign_http_field_t;


typedef struct {
    ngx_str_t                    status;      /* "400" */
    ngx_uint_t                   code;
    ngx_str_t                    match;       /* "" or a substring */
} ngx_campaign_http_invalid_t;


typedef struct {
    ngx_uint_t                   json;        /* body json; or form */
    ngx_array_t                  fields;      /* ngx_campaign_http_field_t */
    ngx_array_t                  headers;     /* ngx_str_t "Name: value" */
    ngx_array_t                  invalid;     /* ..._http_invalid_t */
    ngx_str_t                    user;        /* basic_auth_file */
    ngx_str_t                    password;
    unsigned                     body_set:1;
} ngx_campaign_http_conf_t;


static void *ngx_campaign_http_create_conf(ngx_conf_t *cf,
    ngx_campaign_connector_t *cn);
static char *ngx_campaign_http_directive(ngx_conf_t *cf,
    ngx_campaign_connector_t *cn);
static char *ngx_campaign_http_init_conf(ngx_conf_t *cf,
    ngx_campaign_connector_t *cn);
static ngx_int_t ngx_campaign_http_render(ngx_campaign_message_t *m,
    const cJSON *data, ngx_campaign_rendered_t *r, size_t n,
    const char *language);
static ngx_int_t ngx_campaign_http_prepare(ngx_campaign_transfer_t *t,
    ngx_campaign_message_t *m);
static ngx_campaign_send_e ngx_campaign_http_result(
    ngx_campaign_transfer_t *t, ngx_str_t *reason);


ngx_campaign_connector_type_t  ngx_campaign_connector_http = {
    ngx_string("http"),
    (1 << NGX_CAMPAIGN_CHANNEL_EMAIL) | (1 << NGX_CAMPAIGN_CHANNEL_SMS)
    | (1 << NGX_CAMPAIGN_CHANNEL_PUSH),
    ngx_campaign_http_create_conf,
    ngx_campaign_http_directive,
    ngx_campaign_http_init_conf,
    ngx_campaign_http_render,
    NULL,
    ngx_campaign_http_prepare,
    ngx_campaign_http_result,
    NULL,
    NULL
};


static void *
ngx_campaign_http_create_conf(ngx_conf_t *cf, ngx_campaign_connector_t *cn)
{
    ngx_campaign_http_conf_t  *hc;

    hc = ngx_pcalloc(cf->pool, sizeof(ngx_campaign_http_conf_t));
    if (hc == NULL) {
        return NULL;
    }

    if (ngx_array_init(&hc->fields, cf->pool, 4,
                       sizeof(ngx_campaign_http_field_t))
        != NGX_OK
        || ngx_array_init(&hc->headers, cf->pool, 2, sizeof(ngx_str_t))
           != NGX_OK
        || ngx_array_init(&hc->invalid, cf->pool, 2,
                          sizeof(ngx_campaign_http_invalid_t))
           != NGX_OK)
    {
        return NULL;
    }

    return hc;
}


/* a header name: an RFC 9110 token */

static ngx_int_t
ngx_campaign_http_token(ngx_str_t *s)
{
    u_char      c;
    ngx_uint_t  i;

    if (s->len == 0) {
        return NGX_ERROR;
    }

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if (!(ngx_campaign_isalnum(c) || ngx_strchr("!#$%&'*+-.^_`|~", c))) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* a header value: visible ASCII, spaces and tabs; no CR, LF, NUL */

static ngx_int_t
ngx_campaign_http_value(ngx_str_t *s)
{
    ngx_uint_t  i;

    for (i = 0; i < s->len; i++) {
        if ((s->data[i] < 0x20 && s->data[i] != '\t')
            || s->data[i] == 0x7f)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static char *
ngx_campaign_http_header(ngx_conf_t *cf, ngx_campaign_http_conf_t *hc,
    ngx_str_t *name, ngx_str_t *value)
{
    u_char     *p;
    ngx_str_t  *h;

    if (ngx_campaign_http_token(name) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid header name \"%V\"", name);
        return NGX_CONF_ERROR;
    }

    if (ngx_campaign_http_value(value) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the value of header \"%V\" has a control "
                           "character", name);
        return NGX_CONF_ERROR;
    }

    /* a longer line would go out cut short: a key that does not work */

    if (name->len + 2 + value->len > NGX_CAMPAIGN_HEADER_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "header \"%V\" is longer than %d bytes",
                           name, NGX_CAMPAIGN_HEADER_MAX);
        return NGX_CONF_ERROR;
    }

    h = ngx_array_push(&hc->headers);
    if (h == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, name->len + 2 + value->len + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    h->data = p;
    p = ngx_cpymem(p, name->data, name->len);
    *p++ = ':';
    *p++ = ' ';
    p = ngx_cpymem(p, value->data, value->len);
    *p = '\0';
    h->len = p - h->data;

    return NGX_CONF_OK;
}


static char *
ngx_campaign_http_directive(ngx_conf_t *cf, ngx_campaign_connector_t *cn)
{
    ngx_campaign_http_conf_t  *hc = cn->conf;

    u_char                         *p;
    ngx_str_t                      *value, secret;
    ngx_int_t                       code;
    ngx_uint_t                      i, nelts;
    ngx_campaign_alloc_t            a;
    ngx_campaign_http_field_t      *f;
    ngx_campaign_http_invalid_t    *inv;
    ngx_campaign_template_error_t   err;

    value = cf->args->elts;
    nelts = cf->args->nelts;

    if (ngx_strcmp(value[0].data, "body") == 0 && nelts == 2) {
        if (hc->body_set) {
            return "is duplicate";
        }

        hc->body_set = 1;

        if (ngx_strcmp(value[1].data, "json") == 0) {
            hc->json = 1;

        } else if (ngx_strcmp(value[1].data, "form") != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid body \"%V\", it must be \"form\" "
                               "or \"json\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[0].data, "field") == 0 && nelts == 3) {
        f = hc->fields.elts;

        for (i = 0; i < hc->fields.nelts; i++) {
            if (f[i].name.len == value[1].len
                && ngx_strncmp(f[i].name.data, value[1].data, value[1].len)
                   == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate field \"%V\"", &value[1]);
                return NGX_CONF_ERROR;
            }
        }

        if (value[1].len == 0 || ngx_campaign_http_value(&value[1])
                                 != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid field name \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        f = ngx_array_push(&hc->fields);
        if (f == NULL) {
            return NGX_CONF_ERROR;
        }

        f->name = value[1];

        ngx_campaign_pool_alloc(&a, cf->pool);

        f->template = ngx_campaign_template_compile(&a, value[2].data,
                                                    value[2].len,
                                                    NGX_CAMPAIGN_ESCAPE_NONE,
                                                    &err);
        if (f->template == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "field \"%V\": line %uz, column %uz: %s",
                               &value[1], err.line, err.column, err.message);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[0].data, "header") == 0 && nelts == 3) {
        return ngx_campaign_http_header(cf, hc, &value[1], &value[2]);
    }

    /* a header whose value is a secret, an API key say */

    if (ngx_strcmp(value[0].data, "header_file") == 0 && nelts == 3) {
        if (ngx_campaign_connector_read_secret(cf, &value[2], &secret)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }

        if (ngx_campaign_http_value(&secret) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "credentials file \"%V\" holds a control "
                               "character", &value[2]);
            return NGX_CONF_ERROR;
        }

        return ngx_campaign_http_header(cf, hc, &value[1], &secret);
    }

    if (ngx_strcmp(value[0].data, "basic_auth_file") == 0 && nelts == 2) {
        if (hc->user.data) {
            return "is duplicate";
        }

        if (ngx_campaign_connector_read_secret(cf, &value[1], &secret)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }

        p = ngx_strlchr(secret.data, secret.data + secret.len, ':');

        if (p == NULL || ngx_campaign_http_value(&secret) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "credentials file \"%V\" must hold "
                               "\"user:password\" on one line", &value[1]);
            return NGX_CONF_ERROR;
        }

        *p = '\0';
        hc->user.data = secret.data;
        hc->user.len = p - secret.data;
        hc->password.data = p + 1;
        hc->password.len = secret.data + secret.len - p - 1;

        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[0].data, "invalid_answer") == 0
        && (nelts == 2 || nelts == 3))
    {
        code = ngx_atoi(value[1].data, value[1].len);

        if (code < 400 || code > 499) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid_answer status \"%V\" must be "
                               "400 to 499", &value[1]);
            return NGX_CONF_ERROR;
        }

        inv = ngx_array_push(&hc->invalid);
        if (inv == NULL) {
            return NGX_CONF_ERROR;
        }

        inv->status = value[1];
        inv->code = code;

        if (nelts == 3) {
            inv->match = value[2];

        } else {
            ngx_str_null(&inv->match);
        }

        return NGX_CONF_OK;
    }

    return NGX_CAMPAIGN_CONNECTOR_UNKNOWN;
}


static char *
ngx_campaign_http_init_conf(ngx_conf_t *cf, ngx_campaign_connector_t *cn)
{
    ngx_campaign_http_conf_t  *hc = cn->conf;

    if (hc->fields.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "http connector \"%V\" has no \"field\"",
                           &cn->name);
        return NGX_CONF_ERROR;
    }

    if (cn->url.len
        && ngx_strncasecmp(cn->url.data, (u_char *) "http://", 7) != 0
        && ngx_strncasecmp(cn->url.data, (u_char *) "https://", 8) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "http connector \"%V\": the url must start "
                           "with \"http://\" or \"https://\"", &cn->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* a string member, when the value is there */

static ngx_int_t
ngx_campaign_http_add(cJSON *o, const char *name, const char *value)
{
    if (value == NULL) {
        return NGX_OK;
    }

    return cJSON_AddStringToObject(o, name, value) ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_campaign_http_add_str(cJSON *o, const char *name, ngx_str_t *value,
    ngx_pool_t *pool)
{
    u_char  *p;

    p = ngx_pnalloc(pool, value->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, value->data, value->len);
    p[value->len] = '\0';

    return ngx_campaign_http_add(o, name, (char *) p);
}


/* application/x-www-form-urlencoded: all but "*-._", letters, digits */

static void
ngx_campaign_http_form(ngx_campaign_out_t *o, u_char *s, size_t len)
{
    u_char   c, buf[3];
    size_t   i;

    static u_char  hex[] = "0123456789ABCDEF";

    for (i = 0; i < len; i++) {
        c = s[i];

        if (ngx_campaign_isalnum(c)
            || c == '*' || c == '-' || c == '.' || c == '_')
        {
            ngx_campaign_out_raw(o, &s[i], 1);
            continue;
        }

        if (c == ' ') {
            ngx_campaign_out_literal(o, "+");
            continue;
        }

        buf[0] = '%';
        buf[1] = hex[c >> 4];
        buf[2] = hex[c & 0xf];

        ngx_campaign_out_raw(o, buf, 3);
    }
}


/*
 * What the fields render against: the recipient's data (profile and
 * context, by reference), the rendered content, the recipient, the
 * message.
 */

static cJSON *
ngx_campaign_http_data(ngx_campaign_message_t *m, const cJSON *data,
    ngx_campaign_rendered_t *r, size_t n, const char *language)
{
    u_char                     id[NGX_CAMPAIGN_EXECUTION_ID_LEN + 1];
    size_t                     i;
    cJSON                     *root, *o, *item, *group;
    ngx_campaign_recipient_t  *rcp;
    ngx_campaign_execution_t  *e;

    e = m->execution;
    rcp = m->recipient;

    root = cJSON_CreateObject();
    if (root == NULL) {
        return NULL;
    }

    for (item = data ? data->child : NULL; item; item = item->next) {
        if (!cJSON_AddItemReferenceToObject(root, item->string, item)) {
            goto failed;
        }
    }

    o = cJSON_AddObjectToObject(root, "content");
    if (o == NULL) {
        goto failed;
    }

    for (i = 0; i < n; i++) {
        if (r[i].group) {
            group = cJSON_GetObjectItemCaseSensitive(o, r[i].group);

            if (group == NULL) {
                group = cJSON_AddObjectToObject(o, r[i].group);
                if (group == NULL) {
                    goto failed;
                }
            }

        } else {
            group = o;
        }

        if (ngx_campaign_http_add(group, r[i].key, (char *) r[i].text)
            != NGX_OK)
        {
            goto failed;
        }
    }

    o = cJSON_AddObjectToObject(root, "recipient");
    if (o == NULL
        || ngx_campaign_http_add(o, "userId", rcp->user_id) != NGX_OK
        || ngx_campaign_http_add(o, "namespace", rcp->namespace) != NGX_OK
        || ngx_campaign_http_add(o, "address", rcp->address) != NGX_OK
        || ngx_campaign_http_add(o, "platform", rcp->platform) != NGX_OK
        || ngx_campaign_http_add(o, "appID", rcp->app_id) != NGX_OK)
    {
        goto failed;
    }

    ngx_memcpy(id, e->id, NGX_CAMPAIGN_EXECUTION_ID_LEN);
    id[NGX_CAMPAIGN_EXECUTION_ID_LEN] = '\0';

    o = cJSON_AddObjectToObject(root, "message");
    if (o == NULL
        || ngx_campaign_http_add_str(o, "id", &m->idempotency_key, e->pool)
           != NGX_OK
        || ngx_campaign_http_add(o, "executionId", (char *) id) != NGX_OK
        || ngx_campaign_http_add(o, "campaignId", e->campaign->id) != NGX_OK
        || ngx_campaign_http_add(o, "language", language) != NGX_OK)
    {
        goto failed;
    }

    if (m->unsubscribe_url.len
        && ngx_campaign_http_add_str(o, "unsubscribeUrl", &m->unsubscribe_url,
                                     e->pool)
           != NGX_OK)
    {
        goto failed;
    }

    return root;

failed:

    cJSON_Delete(root);
    return NULL;
}


static ngx_int_t
ngx_campaign_http_render(ngx_campaign_message_t *m, const cJSON *data,
    ngx_campaign_rendered_t *r, size_t n, const char *language)
{
    u_char                     *text;
    size_t                      len;
    cJSON                      *root;
    ngx_uint_t                  i;
    ngx_pool_t                 *pool;
    ngx_campaign_out_t          o;
    ngx_campaign_alloc_t        a;
    ngx_campaign_http_conf_t   *hc;
    ngx_campaign_http_field_t  *f;

    hc = m->execution->gateway->connector->conf;
    pool = m->execution->pool;

    root = ngx_campaign_http_data(m, data, r, n, language);
    if (root == NULL) {
        return NGX_ERROR;
    }

    ngx_campaign_pool_alloc(&a, pool);
    ngx_campaign_out_init(&o, pool, 512);

    if (hc->json) {
        ngx_campaign_out_literal(&o, "{");
    }

    f = hc->fields.elts;

    for (i = 0; i < hc->fields.nelts; i++) {

        if (ngx_campaign_template_render(f[i].template, root, &a, &text, &len)
            != 0)
        {
            cJSON_Delete(root);
            return NGX_ERROR;
        }

        if (hc->json) {
            if (i) {
                ngx_campaign_out_literal(&o, ",");
            }

            ngx_campaign_out_string(&o, f[i].name.data, f[i].name.len);
            ngx_campaign_out_literal(&o, ":");
            ngx_campaign_out_string(&o, text, len);
            continue;
        }

        if (i) {
            ngx_campaign_out_literal(&o, "&");
        }

        ngx_campaign_http_form(&o, f[i].name.data, f[i].name.len);
        ngx_campaign_out_literal(&o, "=");
        ngx_campaign_http_form(&o, text, len);
    }

    cJSON_Delete(root);

    if (hc->json) {
        ngx_campaign_out_literal(&o, "}");
    }

    if (o.failed) {
        return NGX_ERROR;
    }

    m->payload.data = o.start;
    m->payload.len = o.pos - o.start;

    return NGX_OK;
}


static ngx_int_t
ngx_campaign_http_prepare(ngx_campaign_transfer_t *t,
    ngx_campaign_message_t *m)
{
    ngx_campaign_connector_t  *cn = t->connector;
    ngx_campaign_http_conf_t  *hc = cn->conf;

    ngx_str_t   *h;
    ngx_uint_t   i;

    curl_easy_setopt(t->easy, CURLOPT_URL, cn->url.data);
    curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");

    if (ngx_campaign_transfer_body(t, m->payload.data, m->payload.len, 0)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_campaign_transfer_header(t, "Content-Type: %s",
                                     hc->json
                                     ? "application/json"
                                     : "application/x-www-form-urlencoded")
        != NGX_OK
        || ngx_campaign_transfer_header(t, "Idempotency-Key: %V",
                                        &m->idempotency_key)
           != NGX_OK
        || ngx_campaign_transfer_header(t, "X-Campaign-Attempt: %ui",
                                        m->attempts)
           != NGX_OK
        || ngx_campaign_transfer_header(t, "Expect:") != NGX_OK)
    {
        return NGX_ERROR;
    }

    h = hc->headers.elts;

    for (i = 0; i < hc->headers.nelts; i++) {
        if (ngx_campaign_transfer_header(t, "%V", &h[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (hc->user.data) {
        curl_easy_setopt(t->easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
        curl_easy_setopt(t->easy, CURLOPT_USERNAME, hc->user.data);
        curl_easy_setopt(t->easy, CURLOPT_PASSWORD, hc->password.data);
    }

    return NGX_OK;
}


/*
 * 2xx: accepted; an invalid_answer: the address; 408, 429 and 5xx, or no
 * answer at all: transient; any other: permanent.
 */

static ngx_campaign_send_e
ngx_campaign_http_result(ngx_campaign_transfer_t *t, ngx_str_t *reason)
{
    ngx_campaign_http_conf_t  *hc = t->connector->conf;

    ngx_uint_t                    i;
    ngx_campaign_http_invalid_t  *inv;

    if (t->result != CURLE_OK) {
        return ngx_campaign_connector_no_answer(t, reason, NULL);
    }

    if (t->code >= 200 && t->code < 300) {
        return NGX_CAMPAIGN_SEND_ACCEPTED;
    }

    ngx_campaign_connector_reason(t->pool, reason, NULL,
                                  t->answer ? t->answer : (u_char *) "",
                                  t->answer_len);

    inv = hc->invalid.elts;

    for (i = 0; i < hc->invalid.nelts; i++) {
        if ((ngx_uint_t) t->code != inv[i].code) {
            continue;
        }

        if (inv[i].match.len == 0
            || (t->answer
                && ngx_strlcasestrn(t->answer, t->answer + t->answer_len,
                                    inv[i].match.data, inv[i].match.len - 1)
                   != NULL))
        {
            return NGX_CAMPAIGN_SEND_INVALID;
        }
    }

    if (t->code == 408 || t->code == 429 || t->code >= 500) {
        return NGX_CAMPAIGN_SEND_TRANSIENT;
    }

    return NGX_CAMPAIGN_SEND_PERMANENT;
}
