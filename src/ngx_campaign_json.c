
/*
 * Copyright (C) ngx_campaign developers
 */


#include <string.h>

#include "ngx_campaign_json.h"


/*
 * How many bytes each byte grows by when escaped: 0 for most, 1 for the
 * two-character escapes, 5 for the other control characters (\u00XX).
 * Payloads are mostly text that needs nothing: runs of it are copied whole.
 */

static const u_char  ngx_campaign_json_growth[256] = {
    5, 5, 5, 5, 5, 5, 5, 5, 1, 1, 1, 5, 1, 1, 5, 5,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    /* 0x60 - 0xff: nothing to escape */
};

static const char  ngx_campaign_hex[] = "0123456789abcdef";


size_t
ngx_campaign_json_escaped_len(const u_char *src, size_t len)
{
    size_t        n;
    const u_char  *end;

    n = len;

    for (end = src + len; src < end; src++) {
        n += ngx_campaign_json_growth[*src];
    }

    return n;
}


u_char *
ngx_campaign_json_escape(u_char *dst, const u_char *src, size_t len)
{
    u_char        c;
    const u_char  *end, *run;

    end = src + len;

    while (src < end) {

        for (run = src; src < end; src++) {
            if (ngx_campaign_json_growth[*src]) {
                break;
            }
        }

        memcpy(dst, run, src - run);
        dst += src - run;

        if (src == end) {
            break;
        }

        c = *src++;
        *dst++ = '\\';

        switch (c) {

        case '"':  *dst++ = '"'; break;
        case '\\': *dst++ = '\\'; break;
        case '\n': *dst++ = 'n'; break;
        case '\r': *dst++ = 'r'; break;
        case '\t': *dst++ = 't'; break;
        case '\b': *dst++ = 'b'; break;
        case '\f': *dst++ = 'f'; break;

        default:
            *dst++ = 'u'; *dst++ = '0'; *dst++ = '0';
            *dst++ = ngx_campaign_hex[c >> 4];
            *dst++ = ngx_campaign_hex[c & 0xf];
        }
    }

    return dst;
}
