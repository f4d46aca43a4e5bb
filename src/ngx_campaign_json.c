
/*
 * Copyright (C) ngx_campaign developers
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

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
static void *ngx_campaign_json_malloc(size_t size);
static void ngx_campaign_json_free(void *p);


/*
 * The header before every block of cJSON's.  The tag is in the 8 bytes
 * right before the block: where glibc keeps a malloc'd block's size,
 * which never equals either tag, so that a block malloc'd before the
 * hooks were installed is told apart.  16 bytes keep malloc's alignment.
 */

typedef struct {
    uint64_t                   unused;
    uint64_t                   tag;
} ngx_campaign_json_header_t;


#define NGX_CAMPAIGN_JSON_POOL    0x6c6f6f702d6e6763ULL    /* "cgn-pool" */
#define NGX_CAMPAIGN_JSON_MALLOC  0x6c6c616d2d6e6763ULL    /* "cgn-mall" */


static ngx_campaign_alloc_t  *ngx_campaign_json_current;
static size_t                 ngx_campaign_json_failures;
static size_t                 ngx_campaign_json_nmalloc;
static unsigned               ngx_campaign_json_installed;


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


/*
 * Which bytes of a word are below 0x20, '"', '\\' or non-ASCII: the high
 * bit of each such byte, and of no other (the exact forms of the tricks
 * above: no carry crosses a byte).
 */

#define NGX_CAMPAIGN_LOWS    0x7f7f7f7f7f7f7f7fULL

#define ngx_campaign_is_zero(y)                                              \
    (~((((y) & NGX_CAMPAIGN_LOWS) + NGX_CAMPAIGN_LOWS) | (y))               \
     & NGX_CAMPAIGN_HIGHS)

#define ngx_campaign_word_stops(x)                                           \
    ((~(((x) & NGX_CAMPAIGN_LOWS) + NGX_CAMPAIGN_ONES * (0x80 - 0x20))      \
      & NGX_CAMPAIGN_HIGHS)                                                  \
     | ngx_campaign_is_zero((x) ^ (NGX_CAMPAIGN_ONES * '"'))                 \
     | ngx_campaign_is_zero((x) ^ (NGX_CAMPAIGN_ONES * '\\'))              \
     | ((x) & NGX_CAMPAIGN_HIGHS))


const u_char *
ngx_campaign_json_ascii_run(const u_char *p, const u_char *end)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__)                             \
    && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__

    uint64_t  x, stops;

    while (end - p >= 8) {
        memcpy(&x, p, 8);

        stops = ngx_campaign_word_stops(x);

        if (stops) {
            /* the lowest address is the lowest byte */
            return p + (__builtin_ctzll(stops) >> 3);
        }

        p += 8;
    }

#endif

    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
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


/* short strings (member names, ids) are done faster a byte at a time */

size_t
ngx_campaign_json_escaped_strlen(const char *s)
{
    size_t         n;
    const u_char  *p;

    n = 0;

    for (p = (const u_char *) s; *p; p++) {
        n += 1 + ngx_campaign_json_growth[*p];
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


void
ngx_campaign_json_hooks_init(void)
{
    cJSON_Hooks  hooks;

    /* again is harmless: the same hooks, e.g. on each reload of nginx */

    hooks.malloc_fn = ngx_campaign_json_malloc;
    hooks.free_fn = ngx_campaign_json_free;
    cJSON_InitHooks(&hooks);

    ngx_campaign_json_installed = 1;
}


int
ngx_campaign_json_hooked(void)
{
    return ngx_campaign_json_installed;
}


void
ngx_campaign_json_enter(ngx_campaign_json_scope_t *scope,
    ngx_campaign_alloc_t *a)
{
    scope->prev = ngx_campaign_json_current;
    scope->failures = ngx_campaign_json_failures;

    ngx_campaign_json_current = a;
}


int
ngx_campaign_json_leave(ngx_campaign_json_scope_t *scope)
{
    ngx_campaign_json_current = scope->prev;

    return (ngx_campaign_json_failures != scope->failures) ? -1 : 0;
}


size_t
ngx_campaign_json_live(void)
{
    return ngx_campaign_json_nmalloc;
}


static void *
ngx_campaign_json_malloc(size_t size)
{
    ngx_campaign_json_header_t  *h;

    if (size > (size_t) -1 - sizeof(ngx_campaign_json_header_t)) {
        return NULL;
    }

    size += sizeof(ngx_campaign_json_header_t);

    if (ngx_campaign_json_current != NULL) {
        h = ngx_campaign_alloc(ngx_campaign_json_current, size);

        if (h == NULL) {
            /* cJSON says no more than "failed": remember why */
            ngx_campaign_json_failures++;
            return NULL;
        }

        h->tag = NGX_CAMPAIGN_JSON_POOL;

        return h + 1;
    }

    h = malloc(size);
    if (h == NULL) {
        return NULL;
    }

    h->tag = NGX_CAMPAIGN_JSON_MALLOC;
    ngx_campaign_json_nmalloc++;

    return h + 1;
}


static void
ngx_campaign_json_free(void *p)
{
    ngx_campaign_json_header_t  *h;

    if (p == NULL) {
        return;
    }

    h = (ngx_campaign_json_header_t *) p - 1;

    switch (h->tag) {

    case NGX_CAMPAIGN_JSON_POOL:
        return;

    case NGX_CAMPAIGN_JSON_MALLOC:
        h->tag = 0;
        ngx_campaign_json_nmalloc--;
        free(h);
        return;

    default:
        /* malloc'd before the hooks were installed */
        free(p);
    }
}
