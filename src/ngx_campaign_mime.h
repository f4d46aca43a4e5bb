
/*
 * Copyright (C) ngx_campaign developers
 */


#ifndef _NGX_CAMPAIGN_MIME_H_INCLUDED_
#define _NGX_CAMPAIGN_MIME_H_INCLUDED_


#include <sys/types.h>
#include <stddef.h>

#include "ngx_campaign_alloc.h"


/*
 * The RFC 5322 message of an e-mail sent through SMTP: headers, and a
 * multipart/alternative body of a text/plain and a text/html part (or
 * the one part there is), both quoted-printable in UTF-8, lines ending in
 * CRLF and none longer than 76 bytes in bodies, 998 anywhere.
 *
 * Rendered values come from templates and profiles: whatever they hold,
 * nothing in them can add a header.  Every control character of a value
 * that goes into a header (CR and LF first) becomes a space, a run of
 * them one space; display names with specials are quoted, non-ASCII text
 * is in RFC 2047 encoded-words; addresses must be in the strict alphabet
 * of ngx_campaign_mime_address().
 *
 * Bodies are not dot-stuffed here: libcurl does it for SMTP uploads,
 * the first line included.
 */


/* every string is NUL-terminated; NULL: the header or part is left out */

typedef struct {
    const char                *from;         /* "Name <address>", address */
    const char                *reply_to;     /* the same */
    const char                *to;           /* an address */
    const char                *subject;
    const char                *text;         /* the text/plain part */
    const char                *html;         /* the text/html part */
    const char                *date;         /* RFC 5322, see below */
    const char                *message_id;   /* its left part */
    const char                *domain;       /* its right part: from's */
    const char                *unsubscribe;  /* marketing mail: a URL */
} ngx_campaign_mime_t;


/* a mailbox: "Acme <a@acme.example>" is "Acme" and "a@acme.example" */

typedef struct {
    const char                *name;         /* unquoted, may be "" */
    size_t                     name_len;
    const char                *address;
    size_t                     address_len;
} ngx_campaign_mailbox_t;


/* "Mon, 30 Nov 2026 14:44:31 +0000" and room for what int formats take */
#define NGX_CAMPAIGN_MIME_DATE_LEN  64


/*
 * 1 when p is an address of the strict alphabet: a dot-atom local part
 * of letters, digits and !#$%&'*+/=?^_`{|}~- (64 bytes at most), "@", a
 * domain of at least two labels of letters, digits and inner hyphens;
 * 254 bytes at most.  The trigger's e-mail pattern, without PCRE.
 */

int ngx_campaign_mime_address(const char *p, size_t len);

/*
 * Parses "address", "Name <address>" or "\"Name\" <address>", control
 * characters made spaces: 0; -1 when out of memory; -2 when the address
 * is not in the strict alphabet.
 */

int ngx_campaign_mime_mailbox(ngx_campaign_alloc_t *a, const char *s,
    ngx_campaign_mailbox_t *mb);

/*
 * The message: 0; -1 when out of memory; -2 when in says something that
 * cannot be sent (*error says what: "bad from address", ...).  out is
 * NUL-terminated, len does not count the NUL.
 */

int ngx_campaign_mime_build(ngx_campaign_alloc_t *a,
    const ngx_campaign_mime_t *in, u_char **out, size_t *len,
    const char **error);

/* "Mon, 30 Nov 2026 14:44:31 +0000" of a UTC time, into buf */

void ngx_campaign_mime_date(char buf[NGX_CAMPAIGN_MIME_DATE_LEN], time_t t);


#endif /* _NGX_CAMPAIGN_MIME_H_INCLUDED_ */
