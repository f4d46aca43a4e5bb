
/*
 * Copyright (C) ngx_campaign developers
 */


#include <stdint.h>
#include <string.h>

#include "ngx_campaign_json.h"


/*
 * Eight bytes at a time: a word has a byte to escape when one of its
 * bytes is below 0x20, or is '"' or '\\' (the classic "has a zero byte"
 * and "has a byte less than n" tricks, exact for n <= 128).
 */

#define NGX_CAMPAIGN_ONES    0x0101010101010101ULL
#define NGX_CAMPAIGN_HIGHS   0x8080808080808080ULL

#define ngx_campaign_has_zero(x)                                             \
    (((x) - NGX_CAMPAIGN_ONES) & ~(x) & NGX_CAMPAIGN_HIGHS)

#define ngx_campaign_has_less(x, n)                                          \
    (((x) - NGX_CAMPAIGN_ONES * (n)) & ~(x) & NGX_CAMPAIGN_HIGHS)

#define ngx_campaign_word_plain(x)                                           \
    (!(ngx_campaign_has_less(x, 0x20)                                        \
       | ngx_campaign_has_zero((x) ^ (NGX_CAMPAIGN_ONES * '"'))              \
       | ngx_campaign_has_zero((x) ^ (NGX_CAMPAIGN_ONES * '\\'))))


static const u_char *ngx_campaign_json_plain_run(const u_char *p,
    const u_char *end);


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


static const u_char *
ngx_campaign_json_plain_run(const u_char *p, const u_char *end)
{
    uint64_t  x;

    while (end - p >= 8) {
        memcpy(&x, p, 8);

        if (!ngx_campaign_word_plain(x)) {
            break;
        }

        p += 8;
    }

    while (p < end && ngx_campaign_json_growth[*p] == 0) {
        p++;
    }

    return p;
}


size_t
ngx_campaign_json_escaped_len(const u_char *src, size_t len)
{
    size_t        n;
    const u_char  *end;

    n = len;
    end = src + len;

    for ( ;; ) {
        src = ngx_campaign_json_plain_run(src, end);

        if (src == end) {
            return n;
        }

        n += ngx_campaign_json_growth[*src++];
    }
}


u_char *
ngx_campaign_json_escape(u_char *dst, const u_char *src, size_t len)
{
    u_char        c;
    const u_char  *end, *run;

    end = src + len;

    while (src < end) {

        run = src;
        src = ngx_campaign_json_plain_run(src, end);

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
