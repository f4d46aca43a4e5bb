
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_campaign_connector.h"
#include "ngx_campaign_content.h"
#include "ngx_campaign_mime.h"


/*
 * The SMTP connector: an e-mail campaign's messages as RFC 5322 messages
 * (ngx_campaign_mime.c) sent to a relay by libcurl, one MAIL FROM, one
 * RCPT TO and one DATA per attempt, on sessions libcurl keeps open and
 * reuses.
 *
 *     campaign_connector  relay  smtp {
 *         url        smtp://mail.example.com:587;
 *         starttls   required;
 *         auth_file  /etc/nginx/smtp-relay.secret;
 *         from       bounces@acme.example;
 *     }
 *
 * The relay's last reply decides the outcome: 2xx accepted, 4xx
 * transient, 5xx permanent, a refused recipient (550, 551, 553 or a
 * 5.1.x enhanced code on RCPT TO) an invalid address.
 */


#define NGX_CAMPAIGN_SMTP_STARTTLS_OFF       1
#define NGX_CAMPAIGN_SMTP_STARTTLS_OPTIONAL  2
#define NGX_CAMPAIGN_SMTP_STARTTLS_REQUIRED  3

/* the last reply line kept for the outcome's reason */
#define NGX_CAMPAIGN_SMTP_REPLY_MAX          256


typedef struct {
    ngx_uint_t                   starttls;    /* NGX_CONF_UNSET_UINT */
    ngx_str_t                    auth_file;
    ngx_str_t                    auth;        /* "AUTH=PLAIN", "" */
    ngx_str_t                    from;        /* the envelope's, or "" */
    ngx_str_t                    helo;

    /* made at "}": NUL-terminated */
    ngx_str_t                    url;
    ngx_str_t                    user;
    ngx_str_t                    password;
} ngx_campaign_smtp_conf_t;


/* what render() leaves for prepare(): NUL-terminated addresses */

typedef struct {
    u_char                      *from;
    u_char                      *rcpt;
} ngx_campaign_smtp_envelope_t;


static void *ngx_campaign_smtp_create_conf(ngx_conf_t *cf,
    ngx_campaign_connector_t *cn);
static char *ngx_campaign_smtp_directive(ngx_conf_t *cf,
    ngx_campaign_connector_t *cn);
static char *ngx_campaign_smtp_init_conf(ngx_conf_t *cf,
    ngx_campaign_connector_t *cn);
static char *ngx_campaign_smtp_credentials(ngx_conf_t *cf,
    ngx_campaign_smtp_conf_t *scf);
static ngx_int_t ngx_campaign_smtp_render(ngx_campaign_message_t *m,
    const cJSON *data, ngx_campaign_rendered_t *r, size_t n,
    const char *language);
static ngx_int_t ngx_campaign_smtp_prepare(ngx_campaign_transfer_t *t,
    ngx_campaign_message_t *m);
static size_t ngx_campaign_smtp_reply(char *buf, size_t size, size_t n,
    void *data);
static ngx_campaign_send_e ngx_campaign_smtp_result(
    ngx_campaign_transfer_t *t, ngx_str_t *reason);
static ngx_uint_t ngx_campaign_smtp_refused_recipient(
    ngx_campaign_transfer_t *t);


ngx_campaign_connector_type_t  ngx_campaign_connector_smtp = {
    ngx_string("smtp"),
    1 << NGX_CAMPAIGN_CHANNEL_EMAIL,

    ngx_campaign_smtp_create_conf,
    ngx_campaign_smtp_directive,
    ngx_campaign_smtp_init_conf,

    ngx_campaign_smtp_render,

    NULL,
    ngx_campaign_smtp_prepare,
    ngx_campaign_smtp_result,

    NULL,
    NULL
};


static void *
ngx_campaign_smtp_create_conf(ngx_conf_t *cf, ngx_campaign_connector_t *cn)
{
    ngx_campaign_smtp_conf_t  *scf;

    scf = ngx_pcalloc(cf->pool, sizeof(ngx_campaign_smtp_conf_t));
    if (scf == NULL) {
        return NULL;
    }

    scf->starttls = NGX_CONF_UNSET_UINT;

    return scf;
}


static char *
ngx_campaign_smtp_directive(ngx_conf_t *cf, ngx_campaign_connector_t *cn)
{
    ngx_str_t                 *value, *field;
    ngx_uint_t                 i;
    ngx_campaign_smtp_conf_t  *scf;

    scf = cn->conf;
    value = cf->args->elts;

    if (ngx_strcmp(value[0].data, "starttls") == 0) {

        if (cf->args->nelts != 2) {
            goto arguments;
        }

        if (scf->starttls != NGX_CONF_UNSET_UINT) {
            return "is duplicate";
        }

        if (ngx_strcmp(value[1].data, "required") == 0) {
            scf->starttls = NGX_CAMPAIGN_SMTP_STARTTLS_REQUIRED;

        } else if (ngx_strcmp(value[1].data, "optional") == 0) {
            scf->starttls = NGX_CAMPAIGN_SMTP_STARTTLS_OPTIONAL;

        } else if (ngx_strcmp(value[1].data, "off") == 0) {
            scf->starttls = NGX_CAMPAIGN_SMTP_STARTTLS_OFF;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\" in \"starttls\": "
                               "it is \"required\", \"optional\" or \"off\"",
                               &value[1]);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[0].data, "auth") == 0) {
        field = &scf->auth;

    } else if (ngx_strcmp(value[0].data, "auth_file") == 0) {
        field = &scf->auth_file;

    } else if (ngx_strcmp(value[0].data, "from") == 0) {
        field = &scf->from;

    } else if (ngx_strcmp(value[0].data, "helo") == 0) {
        field = &scf->helo;

    } else {
        return NGX_CAMPAIGN_CONNECTOR_UNKNOWN;
    }

    if (cf->args->nelts != 2) {
        goto arguments;
    }

    if (field->data) {
        return "is duplicate";
    }

    *field = value[1];

    if (field == &scf->auth) {

        /* libcurl's login options: the SASL mechanism, and no other */

        if (ngx_strcmp(value[1].data, "plain") == 0) {
            ngx_str_set(field, "AUTH=PLAIN");

        } else if (ngx_strcmp(value[1].data, "login") == 0) {
            ngx_str_set(field, "AUTH=LOGIN");

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\" in \"auth\": "
                               "it is \"plain\" or \"login\"", &value[1]);
            return NGX_CONF_ERROR;
        }

    } else if (field == &scf->auth_file) {
        if (ngx_conf_full_name(cf->cycle, field, 1) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

    } else if (field == &scf->from) {
        if (!ngx_campaign_mime_address((char *) field->data, field->len)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid address \"%V\" in \"from\"", field);
            return NGX_CONF_ERROR;
        }

    } else {

        /* the URL's path: libcurl's EHLO name */

        for (i = 0; i < field->len; i++) {
            if (!(ngx_campaign_isalnum(field->data[i])
                  || field->data[i] == '-' || field->data[i] == '.'))
            {
                break;
            }
        }

        if (i == 0 || i < field->len || field->len > 253) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid host name \"%V\" in \"helo\"",
                               field);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;

arguments:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid number of arguments in \"%V\"", &value[0]);
    return NGX_CONF_ERROR;
}


/*
 * smtp:// talks STARTTLS when the relay offers it, unless told; smtps://
 * is TLS from the start.  The EHLO name is the URL's path for libcurl.
 */

static char *
ngx_campaign_smtp_init_conf(ngx_conf_t *cf, ngx_campaign_connector_t *cn)
{
    u_char                    *p, *host;
    ngx_uint_t                 tls;
    ngx_campaign_smtp_conf_t  *scf;

    scf = cn->conf;

    if (cn->url.len > sizeof("smtp://") - 1
        && ngx_strncasecmp(cn->url.data, (u_char *) "smtp://", 7) == 0)
    {
        tls = 0;
        host = cn->url.data + 7;

    } else if (cn->url.len > sizeof("smtps://") - 1
               && ngx_strncasecmp(cn->url.data, (u_char *) "smtps://", 8)
                  == 0)
    {
        tls = 1;
        host = cn->url.data + 8;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "campaign_connector \"%V\": the url of an smtp "
                           "connector is smtp://HOST[:PORT] or "
                           "smtps://HOST[:PORT]", &cn->name);
        return NGX_CONF_ERROR;
    }

    if (scf->starttls == NGX_CONF_UNSET_UINT) {
        scf->starttls = NGX_CAMPAIGN_SMTP_STARTTLS_OPTIONAL;

    } else if (tls) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "campaign_connector \"%V\": \"starttls\" is for "
                           "smtp:// URLs, smtps:// is TLS from the start",
                           &cn->name);
        return NGX_CONF_ERROR;
    }

    if (tls) {
        scf->starttls = NGX_CAMPAIGN_SMTP_STARTTLS_REQUIRED;
    }

    p = ngx_strlchr(host, cn->url.data + cn->url.len, '/');

    if (scf->helo.len && p && p + 1 < cn->url.data + cn->url.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "campaign_connector \"%V\": \"helo\" and a path "
                           "in the url both name the EHLO host", &cn->name);
        return NGX_CONF_ERROR;
    }

    if (p == NULL) {
        p = cn->url.data + cn->url.len;
    }

    scf->url.data = ngx_pnalloc(cf->pool, cn->url.len + 2 + scf->helo.len);
    if (scf->url.data == NULL) {
        return NGX_CONF_ERROR;
    }

    if (scf->helo.len) {
        p = ngx_sprintf(scf->url.data, "%*s/%V", (size_t) (p - cn->url.data),
                        cn->url.data, &scf->helo);

    } else {
        p = ngx_cpymem(scf->url.data, cn->url.data, cn->url.len);
    }

    scf->url.len = p - scf->url.data;
    *p = '\0';

    if (scf->auth.len && scf->auth_file.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "campaign_connector \"%V\": \"auth\" needs "
                           "\"auth_file\"", &cn->name);
        return NGX_CONF_ERROR;
    }

    if (scf->auth_file.len == 0) {
        return NGX_CONF_OK;
    }

    if (scf->starttls == NGX_CAMPAIGN_SMTP_STARTTLS_OFF) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "campaign_connector \"%V\": credentials are sent "
                           "in clear with \"starttls off\"", &cn->name);
    }

    return ngx_campaign_smtp_credentials(cf, scf);
}


/* "user:password", the password after the first ":" */

static char *
ngx_campaign_smtp_credentials(ngx_conf_t *cf, ngx_campaign_smtp_conf_t *scf)
{
    char       *rv;
    u_char     *colon;
    ngx_str_t   secret;

    rv = ngx_campaign_connector_read_secret(cf, &scf->auth_file, &secret);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    colon = ngx_strlchr(secret.data, secret.data + secret.len, ':');

    if (colon == NULL || colon == secret.data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"auth_file\" \"%V\" does not hold "
                           "\"user:password\"", &scf->auth_file);
        return NGX_CONF_ERROR;
    }

    scf->user.len = colon - secret.data;
    scf->user.data = ngx_pnalloc(cf->pool, scf->user.len + 1);

    scf->password.len = secret.data + secret.len - colon - 1;
    scf->password.data = ngx_pnalloc(cf->pool, scf->password.len + 1);

    if (scf->user.data == NULL || scf->password.data == NULL) {
        return NGX_CONF_ERROR;
    }

    *ngx_cpymem(scf->user.data, secret.data, scf->user.len) = '\0';
    *ngx_cpymem(scf->password.data, colon + 1, scf->password.len) = '\0';

    return NGX_CONF_OK;
}


/*
 * The message of one recipient: what the relay gets after DATA, and the
 * envelope.  An address out of the strict alphabet is the recipient's
 * invalid-address outcome (NGX_DECLINED), not a render failure.
 */

static ngx_int_t
ngx_campaign_smtp_render(ngx_campaign_message_t *m, const cJSON *data,
    ngx_campaign_rendered_t *r, size_t n, const char *language)
{
    int                            rc;
    char                           date[NGX_CAMPAIGN_MIME_DATE_LEN];
    size_t                         i, len;
    u_char                        *p;
    const char                    *address, *error;
    ngx_campaign_mime_t            in;
    ngx_campaign_alloc_t           a;
    ngx_campaign_mailbox_t         from;
    ngx_campaign_execution_t      *e;
    ngx_campaign_smtp_conf_t      *scf;
    ngx_campaign_smtp_envelope_t  *env;

    e = m->execution;
    scf = e->gateway->connector->conf;
    address = m->recipient->address;

    if (address == NULL
        || !ngx_campaign_mime_address(address, ngx_strlen(address)))
    {
        ngx_str_set(&m->reason, "the address is not a valid e-mail address");
        return NGX_DECLINED;
    }

    ngx_memzero(&in, sizeof(ngx_campaign_mime_t));

    for (i = 0; i < n; i++) {
        if (r[i].group) {
            continue;
        }

        if (ngx_strcmp(r[i].key, "from") == 0) {
            in.from = (char *) r[i].text;

        } else if (ngx_strcmp(r[i].key, "replyTo") == 0) {
            in.reply_to = (char *) r[i].text;

        } else if (ngx_strcmp(r[i].key, "subject") == 0) {
            in.subject = (char *) r[i].text;

        } else if (ngx_strcmp(r[i].key, "html") == 0) {
            in.html = (char *) r[i].text;

        } else if (ngx_strcmp(r[i].key, "text") == 0) {
            in.text = (char *) r[i].text;
        }
    }

    ngx_campaign_mime_date(date, ngx_time());

    in.to = address;
    in.date = date;

    in.message_id = (char *) ngx_pnalloc(e->pool, m->idempotency_key.len + 1);
    if (in.message_id == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem((u_char *) in.message_id, m->idempotency_key.data,
                m->idempotency_key.len) = '\0';

    if (m->unsubscribe_url.len) {
        p = ngx_pnalloc(e->pool, m->unsubscribe_url.len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        *ngx_cpymem(p, m->unsubscribe_url.data, m->unsubscribe_url.len) = 0;
        in.unsubscribe = (char *) p;
    }

    ngx_campaign_pool_alloc(&a, e->pool);

    error = "out of memory";

    rc = ngx_campaign_mime_build(&a, &in, &m->payload.data, &m->payload.len,
                                 &error);

    if (rc == 0 && scf->from.len == 0) {
        rc = ngx_campaign_mime_mailbox(&a, in.from, &from);
    }

    if (rc != 0) {
        ngx_log_error(NGX_LOG_WARN, e->log, 0,
                      "campaign: rendering message %V failed: %s",
                      &m->idempotency_key, error);
        m->reason.data = (u_char *) error;
        m->reason.len = ngx_strlen(error);
        return NGX_ERROR;
    }

    env = ngx_palloc(e->pool, sizeof(ngx_campaign_smtp_envelope_t));
    if (env == NULL) {
        return NGX_ERROR;
    }

    if (scf->from.len) {
        env->from = scf->from.data;

    } else {
        len = from.address_len;

        env->from = ngx_pnalloc(e->pool, len + 1);
        if (env->from == NULL) {
            return NGX_ERROR;
        }

        *ngx_cpymem(env->from, from.address, len) = '\0';
    }

    len = ngx_strlen(address);

    env->rcpt = ngx_pnalloc(e->pool, len + 1);
    if (env->rcpt == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(env->rcpt, address, len) = '\0';

    m->connector_data = env;

    return NGX_OK;
}


static ngx_int_t
ngx_campaign_smtp_prepare(ngx_campaign_transfer_t *t,
    ngx_campaign_message_t *m)
{
    long                           use_ssl;
    CURL                          *easy;
    ngx_campaign_smtp_conf_t      *scf;
    ngx_campaign_smtp_envelope_t  *env;

    scf = t->connector->conf;
    env = m->connector_data;
    easy = t->easy;

    t->recipients = curl_slist_append(NULL, (char *) env->rcpt);
    if (t->recipients == NULL) {
        return NGX_ERROR;
    }

    /*
     * the relay's last reply line, for the reason of a refusal; one byte
     * more for the NUL the engine's answer writer puts after what it keeps
     */

    t->answer = ngx_pnalloc(t->pool, NGX_CAMPAIGN_SMTP_REPLY_MAX + 1);
    if (t->answer == NULL) {
        return NGX_ERROR;
    }

    t->answer_len = 0;
    t->answer_max = NGX_CAMPAIGN_SMTP_REPLY_MAX;

    switch (scf->starttls) {

    case NGX_CAMPAIGN_SMTP_STARTTLS_REQUIRED:
        use_ssl = CURLUSESSL_ALL;
        break;

    case NGX_CAMPAIGN_SMTP_STARTTLS_OPTIONAL:
        use_ssl = CURLUSESSL_TRY;
        break;

    default: /* NGX_CAMPAIGN_SMTP_STARTTLS_OFF */
        use_ssl = CURLUSESSL_NONE;
    }

    /* libcurl copies strings it is given */

    if (curl_easy_setopt(easy, CURLOPT_URL, scf->url.data) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_MAIL_FROM, env->from) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, t->recipients)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_USE_SSL, use_ssl) != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION,
                            ngx_campaign_smtp_reply)
           != CURLE_OK
        || curl_easy_setopt(easy, CURLOPT_HEADERDATA, t) != CURLE_OK)
    {
        return NGX_ERROR;
    }

    if (scf->user.len
        && (curl_easy_setopt(easy, CURLOPT_USERNAME, scf->user.data)
            != CURLE_OK
            || curl_easy_setopt(easy, CURLOPT_PASSWORD, scf->password.data)
               != CURLE_OK))
    {
        return NGX_ERROR;
    }

    if (scf->auth.len
        && curl_easy_setopt(easy, CURLOPT_LOGIN_OPTIONS, scf->auth.data)
           != CURLE_OK)
    {
        return NGX_ERROR;
    }

    return ngx_campaign_transfer_body(t, m->payload.data, m->payload.len, 1);
}


/*
 * libcurl hands each reply line of the relay to the "header" callback:
 * the last one is kept, but for QUIT's, which ends a session and says
 * nothing of the message.
 */

static size_t
ngx_campaign_smtp_reply(char *buf, size_t size, size_t n, void *data)
{
    size_t                    len;
    ngx_campaign_transfer_t  *t;

    t = data;
    len = size * n;

    if (len >= 4 && ngx_strncmp(buf, "221", 3) == 0
        && (buf[3] == ' ' || buf[3] == '-'))
    {
        return len;
    }

    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) {
        len--;
    }

    if (len > t->answer_max) {
        len = t->answer_max;
    }

    ngx_memcpy(t->answer, buf, len);
    t->answer_len = len;

    return size * n;
}


static ngx_campaign_send_e
ngx_campaign_smtp_result(ngx_campaign_transfer_t *t, ngx_str_t *reason)
{
    long                 code;
    const char          *prefix;
    ngx_campaign_send_e  kind;

    if (t->result == CURLE_OK) {
        return NGX_CAMPAIGN_SEND_ACCEPTED;
    }

    code = t->code;

    switch (t->result) {

    case CURLE_PEER_FAILED_VERIFICATION:

        /* a certificate that does not verify will not on a retry */

        ngx_campaign_connector_reason(t->pool, reason,
                                      "TLS: the relay's certificate "
                                      "verification failed: ",
                                      (u_char *) t->error,
                                      ngx_strlen(t->error));
        return NGX_CAMPAIGN_SEND_PERMANENT;

    case CURLE_USE_SSL_FAILED:
        ngx_campaign_connector_reason(t->pool, reason,
                                      "STARTTLS is required and failed: ",
                                      (u_char *) t->error,
                                      ngx_strlen(t->error));
        return NGX_CAMPAIGN_SEND_PERMANENT;

    case CURLE_SEND_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_LOGIN_DENIED:
    case CURLE_REMOTE_ACCESS_DENIED:

        if (code < 400 || code > 599) {
            break;
        }

        /* the relay refused: its reply says why */

        if (ngx_strncmp(t->error, "RCPT", 4) == 0) {
            prefix = "RCPT TO: ";

        } else if (ngx_strncmp(t->error, "MAIL", 4) == 0) {
            prefix = "MAIL FROM: ";

        } else if (ngx_strncmp(t->error, "DATA", 4) == 0) {
            prefix = "DATA: ";

        } else if (t->result == CURLE_LOGIN_DENIED) {
            prefix = "AUTH: ";

        } else if (t->result == CURLE_WEIRD_SERVER_REPLY
                   && t->error[0] == '\0')
        {
            prefix = "end of DATA: ";

        } else {
            prefix = "";
        }

        if (t->answer_len) {
            ngx_campaign_connector_reason(t->pool, reason, prefix,
                                          t->answer, t->answer_len);

        } else {
            ngx_campaign_connector_reason(t->pool, reason, prefix,
                                          (u_char *) t->error,
                                          ngx_strlen(t->error));
        }

        if (code < 500) {
            return NGX_CAMPAIGN_SEND_TRANSIENT;
        }

        if (ngx_campaign_smtp_refused_recipient(t)) {
            return NGX_CAMPAIGN_SEND_INVALID;
        }

        return NGX_CAMPAIGN_SEND_PERMANENT;

    default:
        break;
    }

    /*
     * No refusal: the relay could not be reached, or did not answer.  The
     * last reply (a 250 to MAIL FROM, say) is not the outcome's status:
     * without one, it is 502 or 504 as for a location gateway.
     */

    t->code = 0;
    kind = NGX_CAMPAIGN_SEND_TRANSIENT;

    switch (t->result) {

    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        prefix = "the relay cannot be reached: ";
        break;

    case CURLE_OPERATION_TIMEDOUT:
        prefix = "the relay did not answer in time: ";
        break;

    case CURLE_SSL_CONNECT_ERROR:
        prefix = "TLS handshake: ";
        break;

    case CURLE_LOGIN_DENIED:
        prefix = "AUTH: ";
        kind = NGX_CAMPAIGN_SEND_PERMANENT;
        break;

    default:
        prefix = "";
    }

    ngx_campaign_connector_reason(t->pool, reason, prefix,
                                  (u_char *) t->error, ngx_strlen(t->error));

    return kind;
}


/*
 * A 5xx on RCPT TO that says the mailbox does not exist: 550, 551 or
 * 553, unless an enhanced code says otherwise (5.7.1 is a policy), or
 * any 5.1.x ("bad destination mailbox address", RFC 3463).
 */

static ngx_uint_t
ngx_campaign_smtp_refused_recipient(ngx_campaign_transfer_t *t)
{
    u_char  *p, *last;

    if (ngx_strncmp(t->error, "RCPT", 4) != 0) {
        return 0;
    }

    p = t->answer;
    last = t->answer + t->answer_len;

    /* "550 5.1.1 <x@acme.example>: ..." or "550-5.1.1 ..." */

    if (last - p >= 9 && (p[3] == ' ' || p[3] == '-')
        && p[4] == '5' && p[5] == '.' && p[6] >= '0' && p[6] <= '9'
        && p[7] == '.')
    {
        return p[6] == '1';
    }

    return t->code == 550 || t->code == 551 || t->code == 553;
}
