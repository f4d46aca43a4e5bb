
/*
 * Copyright (C) ngx_campaign developers
 */


#include "ngx_campaign_json.h"


static const char  ngx_campaign_hex[] = "0123456789abcdef";


size_t
ngx_campaign_json_escaped_len(const u_char *src, size_t len)
{
    size_t        n;
    const u_char  *end;

    n = len;

    for (end = src + len; src < end; src++) {

        switch (*src) {

        case '"': case '\\': case '\n': case '\r': case '\t':
        case '\b': case '\f':
            n++;
            break;

        default:
            if (*src < 0x20) {
                n += 5;     /* \u00XX */
            }
        }
    }

    return n;
}


u_char *
ngx_campaign_json_escape(u_char *dst, const u_char *src, size_t len)
{
    u_char        c;
    const u_char  *end;

    for (end = src + len; src < end; src++) {
        c = *src;

        switch (c) {

        case '"':  *dst++ = '\\'; *dst++ = '"'; break;
        case '\\': *dst++ = '\\'; *dst++ = '\\'; break;
        case '\n': *dst++ = '\\'; *dst++ = 'n'; break;
        case '\r': *dst++ = '\\'; *dst++ = 'r'; break;
        case '\t': *dst++ = '\\'; *dst++ = 't'; break;
        case '\b': *dst++ = '\\'; *dst++ = 'b'; break;
        case '\f': *dst++ = '\\'; *dst++ = 'f'; break;

        default:
            if (c < 0x20) {
                *dst++ = '\\'; *dst++ = 'u'; *dst++ = '0'; *dst++ = '0';
                *dst++ = ngx_campaign_hex[c >> 4];
                *dst++ = ngx_campaign_hex[c & 0xf];

            } else {
                *dst++ = c;
            }
        }
    }

    return dst;
}
