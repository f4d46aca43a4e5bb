
/*
 * Copyright (C) ngx_campaign developers
 */


#ifndef _NGX_CAMPAIGN_JWT_H_INCLUDED_
#define _NGX_CAMPAIGN_JWT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/evp.h>


/*
 * JSON Web Tokens signed with a private key, for the connectors that
 * authenticate with one: APNs (ES256, the team's .p8 key) and FCM (RS256,
 * a service account's key, for the OAuth2 assertion).  Keys are read at
 * configuration time; a worker signs with the copy it inherits.
 */


typedef enum {
    NGX_CAMPAIGN_JWT_ES256 = 0,           /* ECDSA P-256, SHA-256 */
    NGX_CAMPAIGN_JWT_RS256                /* RSASSA-PKCS1-v1_5, SHA-256 */
} ngx_campaign_jwt_alg_e;


typedef struct {
    EVP_PKEY                    *pkey;    /* freed with cf->pool */
    ngx_campaign_jwt_alg_e       alg;
    size_t                       sig_len; /* the signature's, raw */
} ngx_campaign_jwt_key_t;


/*
 * The private key in pem, a PEM PKCS#8 (or traditional) key that must suit
 * alg; file names it in errors, which never show the key.
 */
char *ngx_campaign_jwt_key(ngx_conf_t *cf, ngx_str_t *file, ngx_str_t *pem,
    ngx_campaign_jwt_alg_e alg, ngx_campaign_jwt_key_t *key);

/* the length of a token for a header and claims of these lengths */
size_t ngx_campaign_jwt_size(ngx_campaign_jwt_key_t *key, size_t header,
    size_t claims);

/*
 * header.claims.signature, each base64url-encoded, into buf (of at least
 * ngx_campaign_jwt_size()); returns the end, or NULL (logged) if OpenSSL
 * fails.
 */
u_char *ngx_campaign_jwt_sign(ngx_campaign_jwt_key_t *key, u_char *buf,
    ngx_str_t *header, ngx_str_t *claims, ngx_log_t *log);


#endif /* _NGX_CAMPAIGN_JWT_H_INCLUDED_ */
