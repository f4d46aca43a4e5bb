
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "ngx_campaign_jwt.h"


/*
 * JWS compact serialization (RFC 7515) with the two algorithms of RFC 7518
 * that push services ask for.  OpenSSL gives an ECDSA signature as a DER
 * SEQUENCE of two INTEGERs; JOSE wants R and S as two 32-byte big-endian
 * numbers, one after the other.
 */


#define NGX_CAMPAIGN_JWT_MAX_SIG  1024    /* RSA keys of up to 8192 bits */
#define NGX_CAMPAIGN_JWT_P256     32      /* bytes of R, of S */


static int ngx_campaign_jwt_no_password(char *buf, int size, int rwflag,
    void *data);
static char *ngx_campaign_jwt_check(ngx_conf_t *cf, ngx_str_t *file,
    ngx_campaign_jwt_key_t *key);
static void ngx_campaign_jwt_free(void *data);
static ngx_int_t ngx_campaign_jwt_raw_ecdsa(u_char *sig, size_t *len);
static void ngx_campaign_jwt_error(ngx_log_t *log, const char *what);
static const char *ngx_campaign_jwt_reason(unsigned long err);


char *
ngx_campaign_jwt_key(ngx_conf_t *cf, ngx_str_t *file, ngx_str_t *pem,
    ngx_campaign_jwt_alg_e alg, ngx_campaign_jwt_key_t *key)
{
    BIO                 *bio;
    char                *rc;
    EVP_PKEY            *pkey;
    unsigned long        err;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    bio = BIO_new_mem_buf(pem->data, (int) pem->len);
    if (bio == NULL) {
        return NGX_CONF_ERROR;
    }

    /* an encrypted key is refused, not prompted for on the terminal */

    pkey = PEM_read_bio_PrivateKey(bio, NULL, ngx_campaign_jwt_no_password,
                                   NULL);
    BIO_free(bio);

    if (pkey == NULL) {
        err = ERR_peek_last_error();
        ERR_clear_error();

        /* OpenSSL's reason names what is wrong, never the key's bytes */

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" holds no PEM private key that can be "
                           "read (%s)", file,
                           ngx_campaign_jwt_reason(err));
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_campaign_jwt_free;
    cln->data = pkey;

    key->pkey = pkey;
    key->alg = alg;

    rc = ngx_campaign_jwt_check(cf, file, key);

    ERR_clear_error();

    return rc;
}


static int
ngx_campaign_jwt_no_password(char *buf, int size, int rwflag, void *data)
{
    return -1;
}


static char *
ngx_campaign_jwt_check(ngx_conf_t *cf, ngx_str_t *file,
    ngx_campaign_jwt_key_t *key)
{
    int  curve;

    if (key->alg == NGX_CAMPAIGN_JWT_RS256) {

        if (EVP_PKEY_base_id(key->pkey) != EVP_PKEY_RSA) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" is not an RSA private key", file);
            return NGX_CONF_ERROR;
        }

        if (EVP_PKEY_bits(key->pkey) < 2048
            || EVP_PKEY_size(key->pkey) > NGX_CAMPAIGN_JWT_MAX_SIG)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the RSA key in \"%V\" has %d bits, "
                               "2048 to 8192 are needed",
                               file, EVP_PKEY_bits(key->pkey));
            return NGX_CONF_ERROR;
        }

        key->sig_len = EVP_PKEY_size(key->pkey);

        return NGX_CONF_OK;
    }

    curve = NID_undef;

    if (EVP_PKEY_base_id(key->pkey) == EVP_PKEY_EC) {
#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
        char  name[64];

        if (EVP_PKEY_get_group_name(key->pkey, name, sizeof(name), NULL)) {
            curve = OBJ_sn2nid(name);
        }
#else
        curve = EC_GROUP_get_curve_name(
                    EC_KEY_get0_group(EVP_PKEY_get0_EC_KEY(key->pkey)));
#endif
    }

    if (curve != NID_X9_62_prime256v1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not an EC P-256 private key", file);
        return NGX_CONF_ERROR;
    }

    key->sig_len = 2 * NGX_CAMPAIGN_JWT_P256;

    return NGX_CONF_OK;
}


static void
ngx_campaign_jwt_free(void *data)
{
    EVP_PKEY_free(data);
}


size_t
ngx_campaign_jwt_size(ngx_campaign_jwt_key_t *key, size_t header,
    size_t claims)
{
    return ngx_base64_encoded_length(header) + 1
           + ngx_base64_encoded_length(claims) + 1
           + ngx_base64_encoded_length(key->sig_len);
}


u_char *
ngx_campaign_jwt_sign(ngx_campaign_jwt_key_t *key, u_char *buf,
    ngx_str_t *header, ngx_str_t *claims, ngx_log_t *log)
{
    size_t       len;
    u_char       sig[NGX_CAMPAIGN_JWT_MAX_SIG];
    ngx_int_t    rc;
    ngx_str_t    dst, src;
    EVP_MD_CTX  *ctx;

    dst.data = buf;
    ngx_encode_base64url(&dst, header);
    dst.data[dst.len] = '.';

    dst.data += dst.len + 1;
    ngx_encode_base64url(&dst, claims);

    /* the signing input: the two parts and the dot between them */

    len = sizeof(sig);

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        ngx_campaign_jwt_error(log, "EVP_MD_CTX_new()");
        return NULL;
    }

    rc = NGX_OK;

    if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key->pkey) != 1) {
        ngx_campaign_jwt_error(log, "EVP_DigestSignInit()");
        rc = NGX_ERROR;

    } else if (EVP_DigestSign(ctx, sig, &len, buf,
                              dst.data + dst.len - buf)
               != 1)
    {
        ngx_campaign_jwt_error(log, "EVP_DigestSign()");
        rc = NGX_ERROR;
    }

    EVP_MD_CTX_free(ctx);

    if (rc != NGX_OK) {
        return NULL;
    }

    if (key->alg == NGX_CAMPAIGN_JWT_ES256
        && ngx_campaign_jwt_raw_ecdsa(sig, &len) != NGX_OK)
    {
        ngx_campaign_jwt_error(log, "d2i_ECDSA_SIG()");
        return NULL;
    }

    dst.data[dst.len] = '.';
    dst.data += dst.len + 1;

    src.data = sig;
    src.len = len;
    ngx_encode_base64url(&dst, &src);

    return dst.data + dst.len;
}


/* DER ECDSA-Sig-Value to R || S, in place */

static ngx_int_t
ngx_campaign_jwt_raw_ecdsa(u_char *sig, size_t *len)
{
    u_char          raw[2 * NGX_CAMPAIGN_JWT_P256];
    ngx_int_t       rc;
    ECDSA_SIG      *es;
    const u_char   *p;
    const BIGNUM   *r, *s;

    p = sig;

    es = d2i_ECDSA_SIG(NULL, &p, (long) *len);
    if (es == NULL) {
        return NGX_ERROR;
    }

    ECDSA_SIG_get0(es, &r, &s);

    rc = (BN_bn2binpad(r, raw, NGX_CAMPAIGN_JWT_P256) < 0
          || BN_bn2binpad(s, raw + NGX_CAMPAIGN_JWT_P256,
                          NGX_CAMPAIGN_JWT_P256) < 0)
         ? NGX_ERROR : NGX_OK;

    ECDSA_SIG_free(es);

    if (rc == NGX_OK) {
        ngx_memcpy(sig, raw, sizeof(raw));
        *len = sizeof(raw);
    }

    return rc;
}


static void
ngx_campaign_jwt_error(ngx_log_t *log, const char *what)
{
    unsigned long  err;

    err = ERR_peek_last_error();
    ERR_clear_error();

    ngx_log_error(NGX_LOG_ALERT, log, 0,
                  "campaign: signing a token: %s failed (%s)", what,
                  ngx_campaign_jwt_reason(err));
}


static const char *
ngx_campaign_jwt_reason(unsigned long err)
{
    const char  *reason;

    reason = err ? ERR_reason_error_string(err) : NULL;

    return reason ? reason : "no reason given";
}
