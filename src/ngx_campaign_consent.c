
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_campaign_module.h"


/*
 * Consent and unsubscribes, for marketing messages only: transactional
 * ones are never held back by them.
 *
 * Once a recipient's profile is known (inline or looked up), its message
 * is settled "no_consent" when the profile's consent says "n" (AEP's
 * consents.marketing.{channel,any}.val, or the campaign's
 * "consentField"), and "suppressed" when its address is in the channel's
 * suppression list: the files of campaign_suppression_list, read with
 * the configuration, and the addresses that unsubscribed, kept in
 * campaign_zone (never evicted) and in campaign_unsubscribe_file.
 *
 * With campaign_unsubscribe_url and campaign_unsubscribe_key, every
 * marketing message has an unsubscribe URL signed with HMAC-SHA256 over
 * its channel, address and expiry: the template variable
 * {{unsubscribeUrl}}, and for e-mail the RFC 8058 headers of the gateway
 * payload.  The location of "campaign_unsubscribe" takes the one-click
 * POST and shows a confirmation page on GET.
 */


#define NGX_CAMPAIGN_ADDRESS_MAX     NGX_CAMPAIGN_CONSENT_ADDRESS_MAX
#define NGX_CAMPAIGN_UNSUB_KEY_MIN   32
#define NGX_CAMPAIGN_UNSUB_KEY_MAX   256
#define NGX_CAMPAIGN_UNSUB_SIG_LEN   43      /* base64url of 32 bytes */
#define NGX_CAMPAIGN_UNSUB_EXPIRY    (60 * 86400)
#define NGX_CAMPAIGN_DIGEST_PREFIX   "sha256:"
#define NGX_CAMPAIGN_DIGEST_LEN      (sizeof(NGX_CAMPAIGN_DIGEST_PREFIX) - 1 \
                                      + 43)


struct ngx_campaign_consent_s {
    ngx_array_t                  lists[NGX_CAMPAIGN_CHANNEL_COUNT];

    ngx_str_t                    file;        /* campaign_unsubscribe_file */
    ngx_str_t                    tmp;
    ngx_str_t                    lock;
    ngx_str_t                    dir;
    ngx_array_t                  seeds;       /* its keys, read at start */

    u_char                       key[NGX_CAMPAIGN_UNSUB_KEY_MAX];
    size_t                       key_len;

    ngx_str_t                    url;         /* campaign_unsubscribe_url */
    time_t                       expiry;

    ngx_uint_t                   endpoint;    /* campaign_unsubscribe */
};


typedef struct {
    ngx_campaign_channel_e       channel;
    ngx_str_t                    address;     /* normalized */
    time_t                       expires;
} ngx_campaign_unsub_link_t;


static ngx_campaign_consent_t *ngx_campaign_consent_conf(ngx_conf_t *cf);
static ngx_int_t ngx_campaign_consent_channel(ngx_str_t *name);
static ngx_int_t ngx_campaign_consent_read(ngx_conf_t *cf, ngx_str_t *file,
    ngx_str_t *text);
static ngx_int_t ngx_campaign_consent_address(ngx_campaign_channel_e ch,
    u_char *src, size_t len, u_char *dst);
static ngx_int_t ngx_campaign_consent_list_form(ngx_campaign_channel_e ch,
    u_char *src, size_t len, ngx_str_t *dst);
static int ngx_campaign_consent_cmp(const void *one, const void *two);
static ngx_uint_t ngx_campaign_consent_says_no(cJSON *profile,
    const char *path);
static void ngx_campaign_consent_suppression_key(ngx_str_t *key,
    u_char *buf, ngx_campaign_channel_e channel, ngx_str_t *address);
static ngx_int_t ngx_campaign_consent_url(ngx_campaign_message_t *m,
    ngx_campaign_consent_t *cc, ngx_str_t *address);
static void ngx_campaign_consent_sign(ngx_campaign_consent_t *cc,
    ngx_campaign_channel_e channel, ngx_str_t *address, time_t expires,
    u_char *sig);
static ngx_int_t ngx_campaign_unsubscribe_handler(ngx_http_request_t *r);
static ngx_int_t ngx_campaign_unsubscribe_link(ngx_http_request_t *r,
    ngx_campaign_consent_t *cc, ngx_campaign_unsub_link_t *link,
    ngx_int_t *rc);
static ngx_int_t ngx_campaign_unsubscribe_args(ngx_http_request_t *r,
    ngx_str_t *arg);
static ngx_int_t ngx_campaign_unsubscribe_page(ngx_http_request_t *r,
    ngx_campaign_unsub_link_t *link);
static ngx_int_t ngx_campaign_unsubscribe_post(ngx_http_request_t *r,
    ngx_campaign_consent_t *cc, ngx_campaign_unsub_link_t *link);
static ngx_int_t ngx_campaign_unsubscribe_persist(ngx_campaign_consent_t *cc,
    ngx_campaign_store_t *store, ngx_pool_t *pool, ngx_log_t *log);
static void ngx_campaign_out_html(ngx_campaign_out_t *o, u_char *s,
    size_t len);
static ngx_int_t ngx_campaign_unsub_page(ngx_http_request_t *r,
    ngx_campaign_out_t *o);


static ngx_str_t  ngx_campaign_html_type =
    ngx_string("text/html; charset=utf-8");


/*
 * An address, as the suppression lists and the unsubscribe URLs take it:
 * RFC 5322's atext, "." and "@" (e-mail), "+" and digits (SMS), ":" (push
 * tokens).  No space, quote, angle bracket, backslash, control or
 * non-ASCII byte: it can go in a header, a log line or a page.
 */

static ngx_uint_t
ngx_campaign_consent_allowed(u_char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
        || (ch >= '0' && ch <= '9'))
    {
        return 1;
    }

    return ngx_strchr("!#$%&'*+/=?^_`{|}~.@:-", ch) != NULL && ch != '\0';
}


static ngx_campaign_consent_t *
ngx_campaign_consent_conf(ngx_conf_t *cf)
{
    ngx_uint_t                 i;
    ngx_campaign_consent_t    *cc;
    ngx_campaign_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_campaign_module);

    if (cmcf->consent) {
        return cmcf->consent;
    }

    cc = ngx_pcalloc(cf->pool, sizeof(ngx_campaign_consent_t));
    if (cc == NULL) {
        return NULL;
    }

    for (i = 0; i < NGX_CAMPAIGN_CHANNEL_COUNT; i++) {
        if (ngx_array_init(&cc->lists[i], cf->pool, 4, sizeof(ngx_str_t))
            != NGX_OK)
        {
            return NULL;
        }
    }

    if (ngx_array_init(&cc->seeds, cf->pool, 4, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NULL;
    }

    cc->expiry = NGX_CAMPAIGN_UNSUB_EXPIRY;

    cmcf->consent = cc;

    return cc;
}


static ngx_int_t
ngx_campaign_consent_channel(ngx_str_t *name)
{
    ngx_uint_t   i;
    const char  *s;

    for (i = 0; i < NGX_CAMPAIGN_CHANNEL_COUNT; i++) {
        s = ngx_campaign_channel_name((ngx_campaign_channel_e) i);

        if (name->len == ngx_strlen(s)
            && ngx_strncmp(name->data, s, name->len) == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


/* the whole file, in cf->temp_pool */

static ngx_int_t
ngx_campaign_consent_read(ngx_conf_t *cf, ngx_str_t *file, ngx_str_t *text)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_file_t       f;
    ngx_file_info_t  fi;

    fd = ngx_open_file(file->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        if (ngx_errno == NGX_ENOENT) {
            return NGX_DECLINED;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", file);
        return NGX_ERROR;
    }

    ngx_memzero(&f, sizeof(ngx_file_t));
    f.fd = fd;
    f.name = *file;
    f.log = cf->log;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", file);
        goto failed;
    }

    text->len = ngx_file_size(&fi);
    text->data = ngx_pnalloc(cf->temp_pool, text->len + 1);
    if (text->data == NULL) {
        goto failed;
    }

    n = ngx_read_file(&f, text->data, text->len, 0);

    if (n == NGX_ERROR || (size_t) n != text->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cannot read \"%V\"", file);
        goto failed;
    }

    (void) ngx_close_file(fd);

    return NGX_OK;

failed:

    (void) ngx_close_file(fd);

    return NGX_ERROR;
}


/*
 * Checks an address against the alphabet, and writes it to dst (of at
 * least len bytes) as lists keep it: e-mail addresses in lower case, so
 * that they compare case-insensitively.
 */

static ngx_int_t
ngx_campaign_consent_address(ngx_campaign_channel_e ch, u_char *src,
    size_t len, u_char *dst)
{
    size_t  i;

    if (len == 0 || len > NGX_CAMPAIGN_ADDRESS_MAX) {
        return NGX_ERROR;
    }

    for (i = 0; i < len; i++) {
        if (!ngx_campaign_consent_allowed(src[i])) {
            return NGX_ERROR;
        }

        dst[i] = (ch == NGX_CAMPAIGN_CHANNEL_EMAIL) ? ngx_tolower(src[i])
                                                    : src[i];
    }

    return NGX_OK;
}


/*
 * An address as the suppression lists and the unsubscribe links hold it,
 * in dst->data (NGX_CAMPAIGN_ADDRESS_MAX bytes): the address, normalized,
 * when it is at most 254 characters of the alphabet; otherwise "sha256:"
 * and the base64url SHA-256 of its bytes.  Only a push token can be such
 * an address (e-mail addresses and phone numbers are held to the
 * alphabet when a trigger is read); its digest is still found in a list,
 * still signed in a link, so "suppressed" still means "never sent".  An
 * address that starts with "sha256:" is hashed as well: none can pose as
 * the digest of another.
 */

static ngx_int_t
ngx_campaign_consent_list_form(ngx_campaign_channel_e ch, u_char *src,
    size_t len, ngx_str_t *dst)
{
    u_char        md[EVP_MAX_MD_SIZE];
    ngx_str_t     in, out;
    unsigned int  n;

    if (ngx_campaign_consent_address(ch, src, len, dst->data) == NGX_OK
        && (len < sizeof(NGX_CAMPAIGN_DIGEST_PREFIX) - 1
            || ngx_strncmp(dst->data, NGX_CAMPAIGN_DIGEST_PREFIX,
                           sizeof(NGX_CAMPAIGN_DIGEST_PREFIX) - 1)
               != 0))
    {
        dst->len = len;
        return NGX_OK;
    }

    if (len == 0
        || EVP_Digest(src, len, md, &n, EVP_sha256(), NULL) != 1
        || n != 32)
    {
        return NGX_ERROR;
    }

    in.data = md;
    in.len = 32;
    out.data = ngx_cpymem(dst->data, NGX_CAMPAIGN_DIGEST_PREFIX,
                          sizeof(NGX_CAMPAIGN_DIGEST_PREFIX) - 1);

    ngx_encode_base64url(&out, &in);

    dst->len = NGX_CAMPAIGN_DIGEST_LEN;

    return NGX_OK;
}


/* campaign_suppression_list CHANNEL FILE: an address a line, "#" comments */

char *
ngx_campaign_suppression_list(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char                  *p, *last, *eol, *start, *end;
    ngx_int_t                ch, rc;
    ngx_str_t               *value, file, text, *a, address;
    ngx_uint_t               line;
    ngx_campaign_consent_t  *cc;
    u_char                   buf[NGX_CAMPAIGN_ADDRESS_MAX];

    value = cf->args->elts;

    ch = ngx_campaign_consent_channel(&value[1]);
    if (ch == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown channel \"%V\" (allowed: email, sms, "
                           "push)", &value[1]);
        return NGX_CONF_ERROR;
    }

    cc = ngx_campaign_consent_conf(cf);
    if (cc == NULL) {
        return NGX_CONF_ERROR;
    }

    file = value[2];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    rc = ngx_campaign_consent_read(cf, &file, &text);

    if (rc == NGX_DECLINED) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "suppression list \"%V\" does not exist", &file);
        return NGX_CONF_ERROR;
    }

    if (rc != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    p = text.data;
    last = text.data + text.len;

    for (line = 1; p < last; line++, p = eol + 1) {
        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        start = p;
        end = eol;

        while (start < end && (*start == ' ' || *start == '\t')) {
            start++;
        }

        while (end > start
               && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        {
            end--;
        }

        if (start == end || *start == '#') {
            continue;
        }

        a = ngx_array_push(&cc->lists[ch]);
        if (a == NULL) {
            return NGX_CONF_ERROR;
        }

        /* a push token of any length or byte is kept as its digest */

        address.data = buf;
        address.len = end - start;

        rc = (ch == NGX_CAMPAIGN_CHANNEL_PUSH)
             ? ngx_campaign_consent_list_form(ch, start, address.len,
                                              &address)
             : ngx_campaign_consent_address(ch, start, address.len, buf);

        if (rc != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "suppression list \"%V\", line %ui: not an "
                               "address (at most %d characters of "
                               "[A-Za-z0-9!#$%%&'*+/=?^_`{|}~.@:-])",
                               &file, line, NGX_CAMPAIGN_ADDRESS_MAX);
            return NGX_CONF_ERROR;
        }

        a->len = address.len;
        a->data = ngx_pstrdup(cf->pool, &address);
        if (a->data == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * campaign_unsubscribe_file FILE: the addresses that unsubscribed, a
 * "channel address" line each, rewritten whole (temporary file, fsync,
 * rename) at each unsubscribe; read at start into campaign_zone.
 */

char *
ngx_campaign_unsubscribe_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char                  *p, *last, *eol, *sp;
    ngx_int_t                ch, rc;
    ngx_str_t               *value, text, name, *key;
    ngx_uint_t               line;
    ngx_campaign_consent_t  *cc;
    u_char                   buf[NGX_CAMPAIGN_ADDRESS_MAX];
    ngx_str_t                address;

    ch = NGX_ERROR;

    cc = ngx_campaign_consent_conf(cf);
    if (cc == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cc->file.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    cc->file = value[1];

    if (ngx_conf_full_name(cf->cycle, &cc->file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cc->tmp.len = cc->file.len + sizeof(".tmp") - 1;
    cc->tmp.data = ngx_pnalloc(cf->pool, cc->tmp.len + 1);
    cc->lock.len = cc->file.len + sizeof(".lock") - 1;
    cc->lock.data = ngx_pnalloc(cf->pool, cc->lock.len + 1);
    cc->dir.data = ngx_pstrdup(cf->pool, &cc->file);

    if (cc->tmp.data == NULL || cc->lock.data == NULL || cc->dir.data == NULL)
    {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(cc->tmp.data, "%V.tmp%Z", &cc->file);
    ngx_sprintf(cc->lock.data, "%V.lock%Z", &cc->file);

    for (p = cc->dir.data + cc->file.len; p > cc->dir.data && p[-1] != '/';
         p--)
    {
        /* void */
    }

    cc->dir.len = (p > cc->dir.data + 1) ? (size_t) (p - cc->dir.data - 1)
                                          : 1;
    cc->dir.data[cc->dir.len] = '\0';

    rc = ngx_campaign_consent_read(cf, &cc->file, &text);

    if (rc == NGX_DECLINED) {
        return NGX_CONF_OK;                 /* nobody unsubscribed yet */
    }

    if (rc != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    p = text.data;
    last = text.data + text.len;

    for (line = 1; p < last; line++, p = eol + 1) {
        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        if (p == eol) {
            continue;
        }

        sp = ngx_strlchr(p, eol, ' ');

        if (sp != NULL) {
            name.data = p;
            name.len = sp - p;
            ch = ngx_campaign_consent_channel(&name);
        }

        if (sp == NULL || ch == NGX_ERROR
            || ngx_campaign_consent_address(ch, sp + 1, eol - sp - 1, buf)
               != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "campaign_unsubscribe_file \"%V\", line %ui: "
                               "not \"CHANNEL ADDRESS\"", &cc->file, line);
            return NGX_CONF_ERROR;
        }

        address.data = buf;
        address.len = eol - sp - 1;

        key = ngx_array_push(&cc->seeds);
        if (key == NULL) {
            return NGX_CONF_ERROR;
        }

        key->data = ngx_pnalloc(cf->pool, 2 + 8 + address.len);
        if (key->data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_campaign_consent_suppression_key(key, key->data,
                                             (ngx_campaign_channel_e) ch,
                                             &address);
    }

    return NGX_CONF_OK;
}


/* campaign_unsubscribe_key FILE: the HMAC key, never logged */

char *
ngx_campaign_unsubscribe_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_int_t                rc;
    ngx_str_t               *value, file, text;
    ngx_campaign_consent_t  *cc;

    cc = ngx_campaign_consent_conf(cf);
    if (cc == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cc->key_len) {
        return "is duplicate";
    }

    value = cf->args->elts;
    file = value[1];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    rc = ngx_campaign_consent_read(cf, &file, &text);

    if (rc == NGX_DECLINED) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unsubscribe key file \"%V\" does not exist",
                           &file);
        return NGX_CONF_ERROR;
    }

    if (rc != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* a trailing newline is no part of the key */

    while (text.len
           && (text.data[text.len - 1] == '\n'
               || text.data[text.len - 1] == '\r'))
    {
        text.len--;
    }

    if (text.len < NGX_CAMPAIGN_UNSUB_KEY_MIN
        || text.len > NGX_CAMPAIGN_UNSUB_KEY_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unsubscribe key file \"%V\" must hold %d to %d "
                           "bytes, found %uz", &file,
                           NGX_CAMPAIGN_UNSUB_KEY_MIN,
                           NGX_CAMPAIGN_UNSUB_KEY_MAX, text.len);
        ngx_explicit_memzero(text.data, text.len);
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(cc->key, text.data, text.len);
    cc->key_len = text.len;

    ngx_explicit_memzero(text.data, text.len);

    return NGX_CONF_OK;
}


/* campaign_unsubscribe_url URL: where the unsubscribe location is seen */

char *
ngx_campaign_unsubscribe_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char                  *p;
    ngx_str_t               *value;
    ngx_campaign_consent_t  *cc;

    cc = ngx_campaign_consent_conf(cf);
    if (cc == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cc->url.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "https://", 8) != 0
        && ngx_strncmp(value[1].data, "http://", 7) != 0)
    {
        return "must start with \"https://\" or \"http://\"";
    }

    /* it goes into a header between "<" and ">" */

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '<' || *p == '>'
            || *p == '"' || *p == '\\' || *p == '#')
        {
            return "must be a URL of printable ASCII, with no space, "
                   "quote, angle bracket, backslash nor fragment";
        }
    }

    cc->url = value[1];

    return NGX_CONF_OK;
}


/* campaign_unsubscribe_expiry TIME: how long a link stays valid */

char *
ngx_campaign_unsubscribe_expiry(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    time_t                   t;
    ngx_str_t               *value;
    ngx_campaign_consent_t  *cc;

    cc = ngx_campaign_consent_conf(cf);
    if (cc == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    t = ngx_parse_time(&value[1], 1);

    if (t == (time_t) NGX_ERROR || t < 60) {
        return "must be a time of at least 1m";
    }

    cc->expiry = t;

    return NGX_CONF_OK;
}


/* campaign_unsubscribe: this location takes one-click unsubscribes */

char *
ngx_campaign_unsubscribe(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_campaign_consent_t    *cc;
    ngx_http_core_loc_conf_t  *clcf;

    cc = ngx_campaign_consent_conf(cf);
    if (cc == NULL) {
        return NGX_CONF_ERROR;
    }

    cc->endpoint = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_campaign_unsubscribe_handler;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_campaign_consent_init(ngx_conf_t *cf)
{
    ngx_uint_t                 i;
    ngx_campaign_consent_t    *cc;
    ngx_campaign_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_campaign_module);
    cc = cmcf->consent;

    if (cc == NULL) {
        return NGX_OK;
    }

    for (i = 0; i < NGX_CAMPAIGN_CHANNEL_COUNT; i++) {
        ngx_qsort(cc->lists[i].elts, cc->lists[i].nelts, sizeof(ngx_str_t),
                  ngx_campaign_consent_cmp);
    }

    if ((cc->url.len == 0) != (cc->key_len == 0)) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"campaign_unsubscribe_url\" and "
                      "\"campaign_unsubscribe_key\" go together");
        return NGX_ERROR;
    }

    if (cc->endpoint && (cc->key_len == 0 || cc->file.len == 0)) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"campaign_unsubscribe\" needs "
                      "\"campaign_unsubscribe_key\" and "
                      "\"campaign_unsubscribe_file\"");
        return NGX_ERROR;
    }

    if ((cc->endpoint || cc->file.len) && cmcf->store == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "unsubscribes are kept in \"campaign_zone\", which "
                      "is missing");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static int
ngx_campaign_consent_cmp(const void *one, const void *two)
{
    const ngx_str_t  *a = one;
    const ngx_str_t  *b = two;

    if (a->len != b->len) {
        return (a->len < b->len) ? -1 : 1;
    }

    return ngx_memcmp(a->data, b->data, a->len);
}


/* the unsubscribes of campaign_unsubscribe_file go into the zone */

ngx_int_t
ngx_campaign_consent_seed(ngx_cycle_t *cycle)
{
    ngx_str_t                 *key;
    ngx_uint_t                 i;
    ngx_campaign_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_campaign_module);

    if (cmcf == NULL || cmcf->consent == NULL || cmcf->store == NULL) {
        return NGX_OK;
    }

    if (cmcf->consent->file.len) {
        ngx_campaign_files_check(cycle, "campaign_unsubscribe_file",
                                 &cmcf->consent->file, &cmcf->consent->dir,
                                 &cmcf->consent->lock,
                                 "an unsubscribe will not outlast a "
                                 "restart");
    }

    key = cmcf->consent->seeds.elts;

    for (i = 0; i < cmcf->consent->seeds.nelts; i++) {
        if (ngx_campaign_store_suppress(cmcf->store, &key[i], cycle->log)
            == NGX_ERROR)
        {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                          "campaign: no room for the unsubscribes of "
                          "\"%V\" in campaign_zone", &cmcf->consent->file);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A marketing message, once its profile is known: NGX_CAMPAIGN_OUTCOME_NONE
 * when it may be sent (with its unsubscribe URL, and {{unsubscribeUrl}}
 * in the template data until ngx_campaign_consent_done()), or the outcome
 * that settles it.
 */

ngx_campaign_outcome_e
ngx_campaign_consent_check(ngx_campaign_message_t *m)
{
    u_char                     buf[NGX_CAMPAIGN_ADDRESS_MAX];
    cJSON                     *url;
    ngx_str_t                  address;
    ngx_campaign_t            *c;
    ngx_campaign_outcome_e     outcome;
    ngx_campaign_consent_t    *cc;
    ngx_campaign_recipient_t  *rcp;
    ngx_campaign_main_conf_t  *cmcf;

    c = m->execution->campaign;
    rcp = m->recipient;

    if (c->type != NGX_CAMPAIGN_MARKETING) {
        return NGX_CAMPAIGN_OUTCOME_NONE;
    }

    cmcf = ngx_http_get_module_main_conf(m->execution->request,
                                         ngx_http_campaign_module);
    cc = cmcf->consent;

    address.data = buf;
    address.len = 0;

    outcome = ngx_campaign_consent_held(cmcf, c, rcp, &address);

    if (outcome != NGX_CAMPAIGN_OUTCOME_NONE || cc == NULL
        || address.len == 0 || cc->url.len == 0)
    {
        return outcome;
    }

    if (ngx_campaign_consent_url(m, cc, &address) != NGX_OK) {
        return NGX_CAMPAIGN_OUTCOME_RENDER;
    }

    /* malloc'd, out of the trigger's tree: ngx_campaign_consent_done() */

    url = cJSON_CreateString((char *) m->unsubscribe_url.data);

    if (url == NULL || !cJSON_AddItemToObject(rcp->data, "unsubscribeUrl",
                                              url))
    {
        cJSON_Delete(url);
        return NGX_CAMPAIGN_OUTCOME_RENDER;
    }

    return NGX_CAMPAIGN_OUTCOME_NONE;
}


/*
 * A marketing recipient held back by its consent (in its profile, when
 * the profile is known) or by a suppression list: NO_CONSENT, SUPPRESSED,
 * RENDER (its address cannot be checked), or NONE with *address (of
 * NGX_CAMPAIGN_ADDRESS_MAX bytes) as the lists hold it, when there are
 * lists.  Audience executions ask before a batch takes its tokens.
 */

ngx_campaign_outcome_e
ngx_campaign_consent_held(ngx_campaign_main_conf_t *cmcf, ngx_campaign_t *c,
    ngx_campaign_recipient_t *rcp, ngx_str_t *address)
{
    u_char                   kbuf[NGX_CAMPAIGN_ADDRESS_MAX + 16];
    char                     path[64];
    cJSON                   *profile;
    ngx_str_t                key, *found;
    ngx_campaign_consent_t  *cc;

    profile = cJSON_GetObjectItemCaseSensitive(rcp->data, "profile");

    if (c->consent_field) {
        if (ngx_campaign_consent_says_no(profile, c->consent_field)) {
            return NGX_CAMPAIGN_OUTCOME_NO_CONSENT;
        }

    } else {
        ngx_snprintf((u_char *) path, sizeof(path),
                     "consents.marketing.%s.val%Z",
                     ngx_campaign_channel_name(c->channel));

        if (ngx_campaign_consent_says_no(profile, path)
            || ngx_campaign_consent_says_no(profile,
                                            "consents.marketing.any.val"))
        {
            return NGX_CAMPAIGN_OUTCOME_NO_CONSENT;
        }
    }

    cc = cmcf->consent;

    if (cc == NULL || rcp->address == NULL) {
        return NGX_CAMPAIGN_OUTCOME_NONE;
    }

    if (ngx_campaign_consent_list_form(c->channel, (u_char *) rcp->address,
                                       ngx_strlen(rcp->address), address)
        != NGX_OK)
    {
        /* not checked against the lists: not sent */
        address->len = 0;
        return NGX_CAMPAIGN_OUTCOME_RENDER;
    }

    found = bsearch(address, cc->lists[c->channel].elts,
                    cc->lists[c->channel].nelts, sizeof(ngx_str_t),
                    ngx_campaign_consent_cmp);

    if (found) {
        return NGX_CAMPAIGN_OUTCOME_SUPPRESSED;
    }

    if (cmcf->store) {
        ngx_campaign_consent_suppression_key(&key, kbuf, c->channel,
                                             address);

        if (ngx_campaign_store_suppressed(cmcf->store, &key)) {
            return NGX_CAMPAIGN_OUTCOME_SUPPRESSED;
        }
    }

    return NGX_CAMPAIGN_OUTCOME_NONE;
}


void
ngx_campaign_consent_done(ngx_campaign_message_t *m)
{
    if (m->recipient && m->recipient->data) {
        cJSON_DeleteItemFromObjectCaseSensitive(m->recipient->data,
                                                "unsubscribeUrl");
    }
}


/* the value at a dotted path is "n" (case-insensitive) */

static ngx_uint_t
ngx_campaign_consent_says_no(cJSON *profile, const char *path)
{
    char         name[64];
    size_t       len;
    const char  *p, *dot;
    cJSON       *item;

    item = profile;

    for (p = path; item && *p; p = *dot ? dot + 1 : dot) {
        dot = ngx_strchr(p, '.');
        if (dot == NULL) {
            dot = p + ngx_strlen(p);
        }

        len = dot - p;

        if (len >= sizeof(name) || !cJSON_IsObject(item)) {
            return 0;
        }

        ngx_memcpy(name, p, len);
        name[len] = '\0';

        item = cJSON_GetObjectItemCaseSensitive(item, name);
    }

    /* "n", and Adobe Experience Platform's "dn" (default no) */

    if (!cJSON_IsString(item)) {
        return 0;
    }

    p = item->valuestring;

    if (p[0] == 'd' || p[0] == 'D') {
        p++;
    }

    return (p[0] == 'n' || p[0] == 'N') && p[1] == '\0';
}


/* "u:" channel "\n" address; buf of at least address->len + 16 bytes */

static void
ngx_campaign_consent_suppression_key(ngx_str_t *key, u_char *buf,
    ngx_campaign_channel_e channel, ngx_str_t *address)
{
    key->data = buf;
    key->len = ngx_sprintf(buf, "u:%s\n%V",
                           ngx_campaign_channel_name(channel), address)
               - buf;
}


/* URL?c=CHANNEL&a=ADDRESS&e=EXPIRES&s=SIGNATURE, with a final NUL */

static ngx_int_t
ngx_campaign_consent_url(ngx_campaign_message_t *m,
    ngx_campaign_consent_t *cc, ngx_str_t *address)
{
    u_char          *p, sig[NGX_CAMPAIGN_UNSUB_SIG_LEN + 1];
    time_t           expires;
    ngx_campaign_t  *c;

    c = m->execution->campaign;
    expires = ngx_time() + cc->expiry;

    ngx_campaign_consent_sign(cc, c->channel, address, expires, sig);

    p = ngx_pnalloc(m->execution->pool,
                    cc->url.len + sizeof("?c=&a=&e=&s=") + 8
                    + 3 * address->len + NGX_TIME_T_LEN
                    + NGX_CAMPAIGN_UNSUB_SIG_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    m->unsubscribe_url.data = p;

    p = ngx_sprintf(p, "%V%cc=%s&a=", &cc->url,
                    ngx_strlchr(cc->url.data, cc->url.data + cc->url.len,
                                '?')
                    ? '&' : '?',
                    ngx_campaign_channel_name(c->channel));

    p = (u_char *) ngx_escape_uri(p, address->data, address->len,
                                  NGX_ESCAPE_URI_COMPONENT);

    p = ngx_sprintf(p, "&e=%T&s=%*s", expires,
                    (size_t) NGX_CAMPAIGN_UNSUB_SIG_LEN, sig);

    m->unsubscribe_url.len = p - m->unsubscribe_url.data;
    *p = '\0';

    return NGX_OK;
}


/* HMAC-SHA256 over "channel\naddress\nexpires", base64url, NUL-terminated */

static void
ngx_campaign_consent_sign(ngx_campaign_consent_t *cc,
    ngx_campaign_channel_e channel, ngx_str_t *address, time_t expires,
    u_char *sig)
{
    u_char        msg[NGX_CAMPAIGN_ADDRESS_MAX + 64], *p;
    u_char        md[EVP_MAX_MD_SIZE];
    ngx_str_t     src, dst;
    unsigned int  len;

    p = ngx_sprintf(msg, "%s\n%V\n%T", ngx_campaign_channel_name(channel),
                    address, expires);

    len = 0;

    if (HMAC(EVP_sha256(), cc->key, (int) cc->key_len, msg, p - msg, md,
             &len)
        == NULL || len != 32)
    {
        /* cannot happen with SHA-256; a link that verifies nothing */
        ngx_memzero(md, 32);
    }

    src.data = md;
    src.len = 32;
    dst.data = sig;

    ngx_encode_base64url(&dst, &src);

    sig[dst.len] = '\0';
}


/*
 * The one-click unsubscribe location.  GET (and HEAD): a confirmation
 * page whose form posts the same link; POST: the address is suppressed.
 * A link that is not one of ours is 400, one whose signature does not
 * verify 403, one that expired 403; the answers to a good link say
 * nothing of whether the address was known.
 */

static ngx_int_t
ngx_campaign_unsubscribe_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_campaign_main_conf_t   *cmcf;
    ngx_campaign_unsub_link_t   link;

    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD | NGX_HTTP_POST))) {
        return ngx_campaign_not_allowed(r, "GET, HEAD, POST");
    }

    /* RFC 8058's body, "List-Unsubscribe=One-Click", changes nothing */

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    if (ngx_campaign_unsubscribe_link(r, cmcf->consent, &link, &rc)
        != NGX_OK)
    {
        return rc;                          /* refused, answered */
    }

    if (r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD)) {
        return ngx_campaign_unsubscribe_page(r, &link);
    }

    return ngx_campaign_unsubscribe_post(r, cmcf->consent, &link);
}


/*
 * NGX_OK and the link, or NGX_DECLINED: the link is refused, the answer
 * sent, and *rc is what the handler returns
 */

static ngx_int_t
ngx_campaign_unsubscribe_link(ngx_http_request_t *r,
    ngx_campaign_consent_t *cc, ngx_campaign_unsub_link_t *link,
    ngx_int_t *rc)
{
    u_char      *dst, *src, sig[NGX_CAMPAIGN_UNSUB_SIG_LEN + 1];
    u_char       raw[3 * NGX_CAMPAIGN_ADDRESS_MAX];
    ngx_int_t    ch;
    ngx_str_t    c, a, e, s, arg[4];
    ngx_uint_t   i, status;
    const char  *detail;

    if (ngx_campaign_unsubscribe_args(r, arg) != NGX_OK) {
        status = NGX_HTTP_BAD_REQUEST;
        detail = "not an unsubscribe link: c, a, e and s must each be "
                 "given once";
        goto refused;
    }

    c = arg[0];
    a = arg[1];
    e = arg[2];
    s = arg[3];

    if (c.data == NULL || a.data == NULL || e.data == NULL || s.data == NULL)
    {
        status = NGX_HTTP_BAD_REQUEST;
        detail = "not an unsubscribe link: c, a, e and s are required";
        goto refused;
    }

    ch = ngx_campaign_consent_channel(&c);

    if (ch == NGX_ERROR) {
        status = NGX_HTTP_BAD_REQUEST;
        detail = "not an unsubscribe link: unknown channel";
        goto refused;
    }

    link->channel = (ngx_campaign_channel_e) ch;

    link->expires = (e.len && e.len <= 12) ? ngx_atotm(e.data, e.len)
                                           : NGX_ERROR;

    if (link->expires == NGX_ERROR) {
        status = NGX_HTTP_BAD_REQUEST;
        detail = "not an unsubscribe link: bad expiry";
        goto refused;
    }

    if (s.len != NGX_CAMPAIGN_UNSUB_SIG_LEN) {
        status = NGX_HTTP_BAD_REQUEST;
        detail = "not an unsubscribe link: bad signature";
        goto refused;
    }

    /* the address, decoded, then held to the alphabet */

    if (a.len == 0 || a.len > sizeof(raw)) {
        goto bad_address;
    }

    for (i = 0; i < a.len; i++) {
        raw[i] = (a.data[i] == '+') ? ' ' : a.data[i];
    }

    /* "+" in a query is a space (forms), "%2B" is "+" */

    src = raw;
    dst = ngx_pnalloc(r->pool, a.len);
    if (dst == NULL) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    link->address.data = dst;

    ngx_unescape_uri(&dst, &src, a.len, 0);

    link->address.len = dst - link->address.data;

    if (ngx_campaign_consent_address(link->channel, link->address.data,
                                     link->address.len, link->address.data)
        != NGX_OK)
    {
        goto bad_address;
    }

    ngx_campaign_consent_sign(cc, link->channel, &link->address,
                              link->expires, sig);

    if (CRYPTO_memcmp(sig, s.data, NGX_CAMPAIGN_UNSUB_SIG_LEN) != 0) {
        status = NGX_HTTP_FORBIDDEN;
        detail = "the unsubscribe link's signature does not verify";
        goto refused;
    }

    if (link->expires < ngx_time()) {
        status = NGX_HTTP_FORBIDDEN;
        detail = "the unsubscribe link has expired";
        goto refused;
    }

    return NGX_OK;

bad_address:

    status = NGX_HTTP_BAD_REQUEST;
    detail = "not an unsubscribe link: bad address";

refused:

    *rc = ngx_campaign_send_problem(r, status, detail, NULL);

    return NGX_DECLINED;
}


/*
 * The values of c, a, e and s in arg[0..3] (data NULL when absent), or
 * NGX_DECLINED when one of them is given twice: nothing downstream (a
 * proxy, a log reader) may take another value than the one checked.
 * Names compare byte for byte, unlike ngx_http_arg(): "A" is not "a",
 * and is ignored, as any other parameter (a click tracker's) is.
 */

static ngx_int_t
ngx_campaign_unsubscribe_args(ngx_http_request_t *r, ngx_str_t *arg)
{
    u_char      *p, *last, *amp, *eq;
    ngx_uint_t   i;

    static const u_char  names[] = "caes";

    for (i = 0; i < 4; i++) {
        arg[i].data = NULL;
        arg[i].len = 0;
    }

    p = r->args.data;
    last = r->args.data + r->args.len;

    for ( /* void */ ; p < last; p = amp + 1) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        eq = ngx_strlchr(p, amp, '=');
        if (eq == NULL) {
            eq = amp;
        }

        if (eq - p != 1) {
            continue;
        }

        for (i = 0; i < 4 && *p != names[i]; i++) {
            /* void */
        }

        if (i == 4) {
            continue;
        }

        if (arg[i].data) {
            return NGX_DECLINED;
        }

        /* "a" alone is "a" with no value: refused by its check */

        arg[i].data = (eq < amp) ? eq + 1 : eq;
        arg[i].len = amp - arg[i].data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_campaign_unsubscribe_page(ngx_http_request_t *r,
    ngx_campaign_unsub_link_t *link)
{
    ngx_campaign_out_t  o;

    ngx_campaign_out_init(&o, r->pool, 1024 + 2 * r->args.len);

    ngx_campaign_out_literal(&o,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        "<title>Unsubscribe</title></head><body>\n"
        "<p>Stop marketing messages to <strong>");
    ngx_campaign_out_html(&o, link->address.data, link->address.len);
    ngx_campaign_out_literal(&o, "</strong>?</p>\n<form method=\"post\" "
                                 "action=\"?");
    ngx_campaign_out_html(&o, r->args.data, r->args.len);
    ngx_campaign_out_literal(&o,
        "\">\n<input type=\"hidden\" name=\"List-Unsubscribe\" "
        "value=\"One-Click\">\n<button type=\"submit\">Unsubscribe</button>"
        "\n</form>\n</body></html>\n");

    return ngx_campaign_unsub_page(r, &o);
}


static ngx_int_t
ngx_campaign_unsubscribe_post(ngx_http_request_t *r,
    ngx_campaign_consent_t *cc, ngx_campaign_unsub_link_t *link)
{
    u_char                     kbuf[NGX_CAMPAIGN_ADDRESS_MAX + 16];
    ngx_int_t                  rc;
    ngx_str_t                  key, *escaped;
    ngx_campaign_out_t         o;
    ngx_campaign_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_campaign_module);

    ngx_campaign_consent_suppression_key(&key, kbuf, link->channel,
                                         &link->address);

    rc = ngx_campaign_store_suppress(cmcf->store, &key, r->connection->log);

    if (rc == NGX_ERROR) {
        return ngx_campaign_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "the address could not be kept", "",
                                       "no room in campaign_zone");
    }

    escaped = ngx_campaign_log_escape(r->pool, link->address.data,
                                      link->address.len);

    if (rc == NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "campaign: \"%V\" unsubscribed from %s",
                      escaped ? escaped : &link->address,
                      ngx_campaign_channel_name(link->channel));
    }

    /*
     * The file is written again for an address the zone had already: an
     * earlier write may have failed, and a repeat answers as the first
     * did, in the same time.  The zone has it: a failure is logged, not
     * answered.
     */

    (void) ngx_campaign_unsubscribe_persist(cc, cmcf->store, r->pool,
                                            r->connection->log);

    ngx_campaign_out_init(&o, r->pool, 256);
    ngx_campaign_out_literal(&o,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        "<title>Unsubscribed</title></head><body>\n"
        "<p>You will receive no more marketing messages at this "
        "address.</p>\n</body></html>\n");

    return ngx_campaign_unsub_page(r, &o);
}


/*
 * campaign_unsubscribe_file, rewritten whole from the zone: under a lock
 * on its ".lock" file, so that two workers write one after the other and
 * the second one's list has the first one's address; a temporary file,
 * synced, then renamed over it, then the directory synced.
 */

static ngx_int_t
ngx_campaign_unsubscribe_persist(ngx_campaign_consent_t *cc,
    ngx_campaign_store_t *store, ngx_pool_t *pool, ngx_log_t *log)
{
    u_char              *p, *nl;
    size_t               len;
    ssize_t              n;
    ngx_fd_t             fd, lock;
    ngx_err_t            err;
    ngx_int_t            rc;
    ngx_str_t           *key;
    ngx_uint_t           i;
    ngx_array_t          keys;
    ngx_campaign_out_t   o;

    if (ngx_array_init(&keys, pool, 16, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    lock = ngx_open_file(cc->lock.data, NGX_FILE_RDWR,
                         NGX_FILE_CREATE_OR_OPEN, NGX_FILE_DEFAULT_ACCESS);

    if (lock == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_open_file_n " \"%V\" failed", &cc->lock);
        return NGX_ERROR;
    }

    err = ngx_lock_fd(lock);

    if (err) {
        ngx_log_error(NGX_LOG_CRIT, log, err,
                      ngx_lock_fd_n " \"%V\" failed", &cc->lock);
        (void) ngx_close_file(lock);
        return NGX_ERROR;
    }

    rc = ngx_campaign_store_suppressions(store, pool, &keys);

    /* "u:email\nada@example.com" is written "email ada@example.com" */

    key = keys.elts;
    ngx_campaign_out_init(&o, pool, 64 + 64 * keys.nelts);

    for (i = 0; rc == NGX_OK && i < keys.nelts; i++) {
        nl = ngx_strlchr(key[i].data, key[i].data + key[i].len, '\n');

        if (key[i].len < 2 || nl == NULL) {
            continue;
        }

        ngx_campaign_out_raw(&o, key[i].data + 2, nl - key[i].data - 2);
        ngx_campaign_out_literal(&o, " ");
        ngx_campaign_out_raw(&o, nl + 1, key[i].data + key[i].len - nl - 1);
        ngx_campaign_out_literal(&o, "\n");
    }

    if (o.failed) {
        rc = NGX_ERROR;
    }

    fd = NGX_INVALID_FILE;

    if (rc == NGX_OK) {
        fd = ngx_open_file(cc->tmp.data, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                           NGX_FILE_DEFAULT_ACCESS);

        if (fd == NGX_INVALID_FILE) {
            ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                          ngx_open_file_n " \"%V\" failed", &cc->tmp);
            rc = NGX_ERROR;
        }
    }

    p = o.start;
    len = o.pos - o.start;

    while (rc == NGX_OK && len) {
        n = ngx_write_fd(fd, p, len);

        if (n == -1) {
            if (ngx_errno == NGX_EINTR) {
                continue;
            }

            ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                          ngx_write_fd_n " to \"%V\" failed", &cc->tmp);
            rc = NGX_ERROR;
            break;
        }

        p += n;
        len -= n;
    }

    if (rc == NGX_OK && fsync(fd) == -1) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      "fsync() \"%V\" failed", &cc->tmp);
        rc = NGX_ERROR;
    }

    if (fd != NGX_INVALID_FILE && ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &cc->tmp);
        rc = NGX_ERROR;
    }

    if (rc == NGX_OK
        && ngx_rename_file(cc->tmp.data, cc->file.data) == NGX_FILE_ERROR)
    {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_rename_file_n " \"%V\" to \"%V\" failed",
                      &cc->tmp, &cc->file);
        rc = NGX_ERROR;
    }

    if (rc != NGX_OK && fd != NGX_INVALID_FILE) {
        (void) ngx_delete_file(cc->tmp.data);
    }

    err = ngx_unlock_fd(lock);

    if (err) {
        ngx_log_error(NGX_LOG_ALERT, log, err,
                      ngx_unlock_fd_n " \"%V\" failed", &cc->lock);
    }

    (void) ngx_close_file(lock);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    /* the rename itself lasts once the directory is synced */

    fd = ngx_open_file(cc->dir.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_open_file_n " \"%V\" failed", &cc->dir);
        return NGX_ERROR;
    }

    if (fsync(fd) == -1) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      "fsync() \"%V\" failed", &cc->dir);
        rc = NGX_ERROR;
    }

    (void) ngx_close_file(fd);

    return rc;
}


/* text for an HTML page or attribute: & < > " ' as entities */

/* a page that names an address: for the person who asked, not a cache */

static ngx_int_t
ngx_campaign_unsub_page(ngx_http_request_t *r, ngx_campaign_out_t *o)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    return ngx_campaign_send_out(r, NGX_HTTP_OK, &ngx_campaign_html_type, o);
}


static void
ngx_campaign_out_html(ngx_campaign_out_t *o, u_char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        switch (s[i]) {

        case '&':
            ngx_campaign_out_literal(o, "&amp;");
            break;

        case '<':
            ngx_campaign_out_literal(o, "&lt;");
            break;

        case '>':
            ngx_campaign_out_literal(o, "&gt;");
            break;

        case '"':
            ngx_campaign_out_literal(o, "&quot;");
            break;

        case '\'':
            ngx_campaign_out_literal(o, "&#39;");
            break;

        default:
            ngx_campaign_out_raw(o, &s[i], 1);
        }
    }
}
