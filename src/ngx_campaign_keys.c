
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ngx_campaign_module.h"


/*
 * API keys: "campaign_api_keys FILE" names a file of key names, the
 * SHA-256 of each key and its scopes.  The file holds no secret; a key
 * presented in "X-API-Key" or "Authorization: Bearer" is hashed and
 * compared with every hash in constant time.  The key itself is never
 * kept, logged nor passed on.
 */


#define NGX_CAMPAIGN_KEY_HASH_LEN     32
#define NGX_CAMPAIGN_KEY_MAX_NAME     64
#define NGX_CAMPAIGN_KEY_SCOPES       4      /* trigger, preview, read, stop */


typedef struct {
    ngx_str_t                    name;
    u_char                       hash[NGX_CAMPAIGN_KEY_HASH_LEN];

    /*
     * per scope: NULL, not granted; an empty array, every campaign;
     * else the campaign id patterns it covers
     */
    ngx_array_t                 *scopes[NGX_CAMPAIGN_KEY_SCOPES];
} ngx_campaign_key_t;


struct ngx_campaign_keys_s {
    ngx_str_t                    file;
    ngx_array_t                  keys;        /* ngx_campaign_key_t */
};


static char *ngx_campaign_keys_read(ngx_conf_t *cf, ngx_campaign_keys_t *keys);
static char *ngx_campaign_keys_line(ngx_conf_t *cf, ngx_campaign_keys_t *keys,
    ngx_uint_t line, u_char *p, u_char *last);
static char *ngx_campaign_keys_scope(ngx_conf_t *cf, ngx_campaign_key_t *key,
    ngx_str_t *word);
static ngx_int_t ngx_campaign_keys_presented(ngx_http_request_t *r,
    ngx_str_t *key);
static ngx_campaign_key_t *ngx_campaign_keys_find(ngx_campaign_keys_t *keys,
    ngx_str_t *presented);
static ngx_uint_t ngx_campaign_keys_covers(ngx_array_t *patterns,
    ngx_str_t *id);
static ngx_uint_t ngx_campaign_keys_glob(u_char *p, u_char *pl, u_char *s,
    u_char *sl);
static ngx_int_t ngx_campaign_keys_unauthorized(ngx_http_request_t *r,
    const char *detail);


static ngx_str_t  ngx_campaign_keys_scope_names[] = {
    ngx_string("trigger"),
    ngx_string("preview"),
    ngx_string("read"),
    ngx_string("stop")
};

static ngx_str_t  ngx_campaign_keys_header = ngx_string("X-API-Key");
static ngx_str_t  ngx_campaign_keys_bearer = ngx_string("Bearer ");
static ngx_str_t  ngx_campaign_keys_sha256 = ngx_string("sha256:");


/* campaign_api_keys FILE | off */

char *
ngx_campaign_keys_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t             *value;
    ngx_campaign_keys_t  **field, *keys;

    field = (ngx_campaign_keys_t **) (p + cmd->offset);

    if (*field != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        *field = NULL;
        return NGX_CONF_OK;
    }

    keys = ngx_pcalloc(cf->pool, sizeof(ngx_campaign_keys_t));
    if (keys == NULL) {
        return NGX_CONF_ERROR;
    }

    keys->file = value[1];

    if (ngx_conf_full_name(cf->cycle, &keys->file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&keys->keys, cf->pool, 4, sizeof(ngx_campaign_key_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_campaign_keys_read(cf, keys) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    *field = keys;

    return NGX_CONF_OK;
}


static char *
ngx_campaign_keys_read(ngx_conf_t *cf, ngx_campaign_keys_t *keys)
{
    char             *rv;
    u_char           *text, *p, *eol, *last;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_uint_t        line;
    ngx_file_info_t   fi;

    fd = ngx_open_file(keys->file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &keys->file);
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_ERROR;
    text = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", &keys->file);
        goto done;
    }

    if (ngx_file_size(&fi) > 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is larger than 1 MB", &keys->file);
        goto done;
    }

    text = ngx_alloc((size_t) ngx_file_size(&fi) + 1, cf->log);
    if (text == NULL) {
        goto done;
    }

    n = ngx_read_fd(fd, text, (size_t) ngx_file_size(&fi));
    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%V\" failed", &keys->file);
        goto done;
    }

    last = text + n;
    line = 0;

    for (p = text; p < last; p = eol + 1) {
        line++;

        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        if (ngx_campaign_keys_line(cf, keys, line, p, eol) != NGX_CONF_OK) {
            goto done;
        }
    }

    rv = NGX_CONF_OK;

done:

    if (text) {
        ngx_free(text);
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", &keys->file);
    }

    return rv;
}


/* "NAME sha256:HEX SCOPE..."; blank lines and "#" comments are skipped */

static char *
ngx_campaign_keys_line(ngx_conf_t *cf, ngx_campaign_keys_t *keys,
    ngx_uint_t line, u_char *p, u_char *last)
{
    u_char              *q, *h;
    ngx_int_t            hi, lo;
    ngx_str_t            word[2 + NGX_CAMPAIGN_KEY_SCOPES];
    ngx_uint_t           i, n;
    ngx_campaign_key_t  *key, *other;

    n = 0;

    while (p < last) {
        if (*p == ' ' || *p == '\t' || *p == '\r') {
            p++;
            continue;
        }

        if (*p == '#') {
            break;
        }

        if (n == 2 + NGX_CAMPAIGN_KEY_SCOPES) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\":%ui: too many words: a name, a hash "
                               "and at most %d scopes", &keys->file, line,
                               NGX_CAMPAIGN_KEY_SCOPES);
            return NGX_CONF_ERROR;
        }

        for (q = p; q < last && *q != ' ' && *q != '\t' && *q != '\r'; q++) {
            /* void */
        }

        word[n].data = p;
        word[n].len = q - p;
        n++;

        p = q;
    }

    if (n == 0) {
        return NGX_CONF_OK;
    }

    if (n < 3) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\":%ui: a key needs a name, a hash and at "
                           "least one scope", &keys->file, line);
        return NGX_CONF_ERROR;
    }

    /* the name: it appears in logs and answers, so a safe alphabet */

    if (word[0].len > NGX_CAMPAIGN_KEY_MAX_NAME) {
        goto bad_name;
    }

    for (i = 0; i < word[0].len; i++) {
        if (!(isalnum(word[0].data[i]) || word[0].data[i] == '-'
              || word[0].data[i] == '_' || word[0].data[i] == '.'))
        {
            goto bad_name;
        }
    }

    other = keys->keys.elts;

    for (i = 0; i < keys->keys.nelts; i++) {
        if (other[i].name.len == word[0].len
            && ngx_strncmp(other[i].name.data, word[0].data, word[0].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\":%ui: key \"%V\" is already defined",
                               &keys->file, line, &word[0]);
            return NGX_CONF_ERROR;
        }
    }

    key = ngx_array_push(&keys->keys);
    if (key == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(key, sizeof(ngx_campaign_key_t));

    key->name.data = ngx_pstrdup(cf->pool, &word[0]);
    if (key->name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    key->name.len = word[0].len;

    /* the hash */

    h = word[1].data + ngx_campaign_keys_sha256.len;

    if (word[1].len != ngx_campaign_keys_sha256.len
                       + 2 * NGX_CAMPAIGN_KEY_HASH_LEN
        || ngx_strncmp(word[1].data, ngx_campaign_keys_sha256.data,
                       ngx_campaign_keys_sha256.len) != 0)
    {
        goto bad_hash;
    }

    for (i = 0; i < NGX_CAMPAIGN_KEY_HASH_LEN; i++) {
        hi = ngx_hextoi(&h[2 * i], 1);
        lo = ngx_hextoi(&h[2 * i + 1], 1);

        if (hi == NGX_ERROR || lo == NGX_ERROR) {
            goto bad_hash;
        }

        key->hash[i] = (u_char) (hi << 4 | lo);
    }

    /* the scopes */

    for (i = 2; i < n; i++) {
        if (ngx_campaign_keys_scope(cf, key, &word[i]) != NGX_CONF_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\":%ui: invalid scope \"%V\": one of "
                               "trigger, preview, read, stop, each at most "
                               "once, optionally with \"=\" and a list of "
                               "campaign id patterns, such as "
                               "\"trigger=order-*,password-reset\"",
                               &keys->file, line, &word[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;

bad_name:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\":%ui: invalid key name \"%V\": at most %d "
                       "letters, digits, \"-\", \"_\" or \".\"",
                       &keys->file, line, &word[0], NGX_CAMPAIGN_KEY_MAX_NAME);
    return NGX_CONF_ERROR;

bad_hash:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\":%ui: invalid hash: \"sha256:\" and 64 hex "
                       "digits expected (ngx-campaign key prints them)",
                       &keys->file, line);
    return NGX_CONF_ERROR;
}


/* "trigger", or "trigger=order-*,password-reset" */

static char *
ngx_campaign_keys_scope(ngx_conf_t *cf, ngx_campaign_key_t *key,
    ngx_str_t *word)
{
    u_char       *p, *q, *last;
    ngx_str_t    *pattern, name;
    ngx_uint_t    s;
    ngx_array_t  *patterns;

    last = word->data + word->len;

    name.data = word->data;
    p = ngx_strlchr(word->data, last, '=');
    name.len = (p ? p : last) - word->data;

    for (s = 0; s < NGX_CAMPAIGN_KEY_SCOPES; s++) {
        if (name.len == ngx_campaign_keys_scope_names[s].len
            && ngx_strncmp(name.data, ngx_campaign_keys_scope_names[s].data,
                           name.len) == 0)
        {
            break;
        }
    }

    if (s == NGX_CAMPAIGN_KEY_SCOPES || key->scopes[s] != NULL) {
        return NGX_CONF_ERROR;
    }

    patterns = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    if (patterns == NULL) {
        return NGX_CONF_ERROR;
    }

    key->scopes[s] = patterns;

    if (p == NULL) {
        return NGX_CONF_OK;
    }

    for (p++; /* void */; p = q + 1) {
        q = ngx_strlchr(p, last, ',');
        if (q == NULL) {
            q = last;
        }

        if (q == p) {
            return NGX_CONF_ERROR;
        }

        pattern = ngx_array_push(patterns);
        if (pattern == NULL) {
            return NGX_CONF_ERROR;
        }

        pattern->len = q - p;
        pattern->data = ngx_pnalloc(cf->pool, pattern->len);
        if (pattern->data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(pattern->data, p, pattern->len);

        if (q == last) {
            break;
        }
    }

    return NGX_CONF_OK;
}


/*
 * NGX_OK when the request may go on; else NGX_DECLINED, with the answer
 * sent (401 or 403) in *answer.  scope is NGX_CAMPAIGN_SCOPE_*; id, when
 * not NULL, is the campaign the request acts on; NULL with the trigger
 * scope asks whether the key may trigger any campaign at all (its id is
 * in the body, checked again once it is read).
 */

ngx_int_t
ngx_campaign_keys_check(ngx_http_request_t *r, ngx_uint_t scope,
    ngx_str_t *id, ngx_int_t *answer)
{
    u_char                   *detail, *last;
    size_t                    len;
    ngx_str_t                 presented;
    ngx_campaign_key_t       *key;
    ngx_campaign_loc_conf_t  *cplcf;

    cplcf = ngx_http_get_module_loc_conf(r, ngx_http_campaign_module);

    if (cplcf->keys == NULL || scope == NGX_CAMPAIGN_SCOPE_OPEN) {
        return NGX_OK;
    }

    if (ngx_campaign_keys_presented(r, &presented) != NGX_OK) {
        *answer = ngx_campaign_keys_unauthorized(r, "an API key is required "
                                                 "(X-API-Key or "
                                                 "Authorization: Bearer)");
        return NGX_DECLINED;
    }

    key = ngx_campaign_keys_find(cplcf->keys, &presented);

    if (key == NULL) {
        *answer = ngx_campaign_keys_unauthorized(r, "unknown API key");
        return NGX_DECLINED;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "campaign: API key \"%V\"", &key->name);

    if (scope == NGX_CAMPAIGN_SCOPE_KEY
        || (key->scopes[scope]
            && (id == NULL
                || ngx_campaign_keys_covers(key->scopes[scope], id))))
    {
        return NGX_OK;
    }

    /* the name is of a safe alphabet: it may go to the log and the client */

    len = sizeof("API key \"\" has no \"\" scope for this campaign") - 1
          + key->name.len + ngx_campaign_keys_scope_names[scope].len;

    detail = ngx_pnalloc(r->pool, len + 1);
    if (detail == NULL) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    last = ngx_sprintf(detail, "API key \"%V\" has no \"%V\" scope",
                       &key->name, &ngx_campaign_keys_scope_names[scope]);

    if (key->scopes[scope] == NULL) {
        *last = '\0';
        *answer = ngx_campaign_refuse(r, NGX_HTTP_FORBIDDEN, (char *) detail,
                                      "", "");
        return NGX_DECLINED;
    }

    last = ngx_cpymem(last, " for this campaign", 18);
    *last = '\0';

    *answer = ngx_campaign_refuse(r, NGX_HTTP_FORBIDDEN, (char *) detail,
                                  scope == NGX_CAMPAIGN_SCOPE_TRIGGER
                                  ? "/campaignId" : "",
                                  "the campaign is outside the key's scope");
    return NGX_DECLINED;
}


/* the key of "X-API-Key: KEY", else of "Authorization: Bearer KEY" */

static ngx_int_t
ngx_campaign_keys_presented(ngx_http_request_t *r, ngx_str_t *key)
{
    u_char  *p, *last;

    if (ngx_campaign_header(r, &ngx_campaign_keys_header, key)) {
        return key->len ? NGX_OK : NGX_DECLINED;
    }

    if (r->headers_in.authorization == NULL) {
        return NGX_DECLINED;
    }

    p = r->headers_in.authorization->value.data;
    last = p + r->headers_in.authorization->value.len;

    if ((size_t) (last - p) <= ngx_campaign_keys_bearer.len
        || ngx_strncasecmp(p, ngx_campaign_keys_bearer.data,
                           ngx_campaign_keys_bearer.len) != 0)
    {
        return NGX_DECLINED;
    }

    for (p += ngx_campaign_keys_bearer.len; p < last && *p == ' '; p++) {
        /* void */
    }

    key->data = p;
    key->len = last - p;

    return key->len ? NGX_OK : NGX_DECLINED;
}


/*
 * The key whose hash is the presented key's: every hash is compared, each
 * in constant time, so the time taken says nothing of which bytes match.
 */

static ngx_campaign_key_t *
ngx_campaign_keys_find(ngx_campaign_keys_t *keys, ngx_str_t *presented)
{
    u_char               md[EVP_MAX_MD_SIZE];
    ngx_uint_t           i;
    unsigned int         len;
    ngx_campaign_key_t  *key, *found;

    if (EVP_Digest(presented->data, presented->len, md, &len, EVP_sha256(),
                   NULL)
        != 1
        || len != NGX_CAMPAIGN_KEY_HASH_LEN)
    {
        return NULL;
    }

    key = keys->keys.elts;
    found = NULL;

    for (i = 0; i < keys->keys.nelts; i++) {
        if (CRYPTO_memcmp(key[i].hash, md, NGX_CAMPAIGN_KEY_HASH_LEN) == 0) {
            found = &key[i];
        }
    }

    ngx_explicit_memzero(md, sizeof(md));

    return found;
}


static ngx_uint_t
ngx_campaign_keys_covers(ngx_array_t *patterns, ngx_str_t *id)
{
    ngx_str_t   *pattern;
    ngx_uint_t   i;

    if (patterns->nelts == 0) {
        return 1;
    }

    pattern = patterns->elts;

    for (i = 0; i < patterns->nelts; i++) {
        if (ngx_campaign_keys_glob(pattern[i].data,
                                   pattern[i].data + pattern[i].len,
                                   id->data, id->data + id->len))
        {
            return 1;
        }
    }

    return 0;
}


/* "*" matches any run of bytes, every other byte itself */

static ngx_uint_t
ngx_campaign_keys_glob(u_char *p, u_char *pl, u_char *s, u_char *sl)
{
    u_char  *star, *retry;

    star = NULL;
    retry = NULL;

    while (s < sl) {
        if (p < pl && *p == '*') {
            star = ++p;
            retry = s;
            continue;
        }

        if (p < pl && *p == *s) {
            p++;
            s++;
            continue;
        }

        if (star == NULL) {
            return 0;
        }

        /* let the last "*" take one byte more */

        p = star;
        s = ++retry;
    }

    while (p < pl && *p == '*') {
        p++;
    }

    return p == pl;
}


static ngx_int_t
ngx_campaign_keys_unauthorized(ngx_http_request_t *r, const char *detail)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    ngx_str_set(&h->value, "Bearer");

    return ngx_campaign_refuse(r, NGX_HTTP_UNAUTHORIZED, detail, "", "");
}


/*
 * For a list of campaigns: the patterns of the scope of the key that r
 * presented, once ngx_campaign_keys_check() has let it through, so that
 * a list shows only the campaigns the key covers.  NULL: every campaign
 * (keys are off, or the scope has no patterns).
 */

ngx_array_t *
ngx_campaign_keys_patterns(ngx_http_request_t *r, ngx_uint_t scope)
{
    ngx_str_t                 presented;
    ngx_campaign_key_t       *key;
    ngx_campaign_loc_conf_t  *cplcf;

    cplcf = ngx_http_get_module_loc_conf(r, ngx_http_campaign_module);

    if (cplcf->keys == NULL || scope >= NGX_CAMPAIGN_KEY_SCOPES
        || ngx_campaign_keys_presented(r, &presented) != NGX_OK)
    {
        return NULL;
    }

    key = ngx_campaign_keys_find(cplcf->keys, &presented);

    if (key == NULL || key->scopes[scope] == NULL
        || key->scopes[scope]->nelts == 0)
    {
        return NULL;
    }

    return key->scopes[scope];
}


ngx_uint_t
ngx_campaign_keys_match(ngx_array_t *patterns, ngx_str_t *id)
{
    return patterns == NULL || ngx_campaign_keys_covers(patterns, id);
}
