
/*
 * Copyright (C) ngx_campaign developers
 */


#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ngx_campaign_mime.h"


/*
 * Quoted-printable never writes "=_", so no body can hold a line that
 * starts with "--" and the boundary: one fixed boundary serves all.
 */
#define NGX_CAMPAIGN_MIME_BOUNDARY  "=_ngx_campaign_alternative"

/* text bytes in one encoded-word: 56 base64 characters, 68 in all */
#define NGX_CAMPAIGN_MIME_EW_BYTES  42

/* a quoted-printable line: 75 characters, and "=" when it goes on */
#define NGX_CAMPAIGN_MIME_QP_LINE   75

/* beyond this a header value is encoded-words, which fold anywhere */
#define NGX_CAMPAIGN_MIME_WORD_MAX  70

/* Message-ID: so much of the idempotency key, hex-escaped at worst */
#define NGX_CAMPAIGN_MIME_ID_MAX    200

/* List-Unsubscribe's URL, percent-encoded: its line under 998 bytes */
#define NGX_CAMPAIGN_MIME_URL_MAX   900


/* the message is written twice: to count its bytes, then to copy them */

typedef struct {
    u_char                    *buf;        /* NULL: counting */
    size_t                     len;
} ngx_campaign_mime_out_t;


typedef struct {
    ngx_campaign_mailbox_t     from;
    ngx_campaign_mailbox_t     reply_to;   /* address NULL: none */
    const char                *to;
    size_t                     to_len;
    const char                *domain;
    size_t                     domain_len;
    u_char                    *subject;    /* NULL: none */
    size_t                     subject_len;
    u_char                    *date;
    size_t                     date_len;
    const char                *message_id; /* NULL: none */
    size_t                     message_id_len;
    const char                *unsubscribe;
    size_t                     unsubscribe_len;
    const char                *text;
    const char                *html;
} ngx_campaign_mime_msg_t;


static int ngx_campaign_mime_clean(ngx_campaign_alloc_t *a, const char *s,
    size_t len, u_char **out, size_t *n);
static int ngx_campaign_mime_domain(const char *p, size_t len);
static int ngx_campaign_mime_atext(u_char c);
static void ngx_campaign_mime_write(ngx_campaign_mime_out_t *o,
    const ngx_campaign_mime_msg_t *msg);
static void ngx_campaign_mime_mailbox_header(ngx_campaign_mime_out_t *o,
    const char *header, const ngx_campaign_mailbox_t *mb);
static void ngx_campaign_mime_subject(ngx_campaign_mime_out_t *o,
    const u_char *p, size_t len);
static void ngx_campaign_mime_encoded_words(ngx_campaign_mime_out_t *o,
    const u_char *p, size_t len);
static void ngx_campaign_mime_message_id(ngx_campaign_mime_out_t *o,
    const ngx_campaign_mime_msg_t *msg);
static void ngx_campaign_mime_url(ngx_campaign_mime_out_t *o,
    const char *p, size_t len);
static void ngx_campaign_mime_part(ngx_campaign_mime_out_t *o,
    const char *type, const char *text);
static void ngx_campaign_mime_qp(ngx_campaign_mime_out_t *o,
    const u_char *p, size_t len);
static void ngx_campaign_mime_put(ngx_campaign_mime_out_t *o,
    const void *p, size_t len);
static void ngx_campaign_mime_hex(ngx_campaign_mime_out_t *o, u_char prefix,
    u_char c);


#define ngx_campaign_mime_literal(o, s)                                      \
    ngx_campaign_mime_put(o, s, sizeof(s) - 1)


static const char  ngx_campaign_mime_base64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static const char  ngx_campaign_mime_hexdigits[] = "0123456789ABCDEF";


int
ngx_campaign_mime_address(const char *p, size_t len)
{
    size_t  i, at;

    if (len == 0 || len > 254) {
        return 0;
    }

    at = len;

    for (i = 0; i < len; i++) {
        if (p[i] == '@') {
            at = i;
            break;
        }
    }

    if (at == 0 || at > 64 || at == len) {
        return 0;
    }

    /* a dot-atom: atoms of atext joined by single dots */

    for (i = 0; i < at; i++) {
        if (p[i] == '.') {
            if (i == 0 || i == at - 1 || p[i - 1] == '.') {
                return 0;
            }

            continue;
        }

        if (!ngx_campaign_mime_atext((u_char) p[i])) {
            return 0;
        }
    }

    return ngx_campaign_mime_domain(p + at + 1, len - at - 1);
}


int
ngx_campaign_mime_mailbox(ngx_campaign_alloc_t *a, const char *s,
    ngx_campaign_mailbox_t *mb)
{
    u_char  *p, *q, *name;
    size_t   len, lt, i, n;

    if (ngx_campaign_mime_clean(a, s, strlen(s), &p, &len) != 0) {
        return -1;
    }

    mb->name = "";
    mb->name_len = 0;
    mb->address = (const char *) p;
    mb->address_len = len;

    if (len && p[len - 1] == '>') {

        for (lt = len - 1; lt > 0 && p[lt - 1] != '<'; lt--) {
            /* void */
        }

        if (lt == 0) {
            return -2;
        }

        mb->address = (const char *) p + lt;
        mb->address_len = len - 1 - lt;

        n = lt - 1;

        while (n && p[n - 1] == ' ') {
            n--;
        }

        name = p;

        if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {

            /* a quoted-string: its text, unescaped in place */

            q = p;

            for (i = 1; i < n - 1; i++) {
                if (p[i] == '\\' && i + 1 < n - 1) {
                    i++;
                }

                *q++ = p[i];
            }

            n = q - p;
        }

        mb->name = (const char *) name;
        mb->name_len = n;
    }

    return ngx_campaign_mime_address(mb->address, mb->address_len) ? 0 : -2;
}


int
ngx_campaign_mime_build(ngx_campaign_alloc_t *a,
    const ngx_campaign_mime_t *in, u_char **out, size_t *len,
    const char **error)
{
    int                       rc;
    const char               *at;
    ngx_campaign_mime_msg_t   msg;
    ngx_campaign_mime_out_t   o;

    memset(&msg, 0, sizeof(ngx_campaign_mime_msg_t));

    if (in->from == NULL) {
        *error = "no from address";
        return -2;
    }

    rc = ngx_campaign_mime_mailbox(a, in->from, &msg.from);
    if (rc != 0) {
        *error = "bad from address";
        return rc;
    }

    if (in->reply_to && in->reply_to[0]) {
        rc = ngx_campaign_mime_mailbox(a, in->reply_to, &msg.reply_to);
        if (rc != 0) {
            *error = "bad replyTo address";
            return rc;
        }
    }

    if (in->to == NULL
        || !ngx_campaign_mime_address(in->to, strlen(in->to)))
    {
        *error = "bad recipient address";
        return -2;
    }

    msg.to = in->to;
    msg.to_len = strlen(in->to);

    if (in->date == NULL || strlen(in->date) > 64) {
        *error = "bad date";
        return -2;
    }

    if (ngx_campaign_mime_clean(a, in->date, strlen(in->date), &msg.date,
                                &msg.date_len)
        != 0)
    {
        return -1;
    }

    if (in->subject
        && ngx_campaign_mime_clean(a, in->subject, strlen(in->subject),
                                   &msg.subject, &msg.subject_len)
           != 0)
    {
        return -1;
    }

    if (in->domain) {
        msg.domain = in->domain;
        msg.domain_len = strlen(in->domain);

        if (!ngx_campaign_mime_domain(msg.domain, msg.domain_len)) {
            *error = "bad Message-ID domain";
            return -2;
        }

    } else {
        at = memchr(msg.from.address, '@', msg.from.address_len);
        msg.domain = at + 1;
        msg.domain_len = msg.from.address + msg.from.address_len - at - 1;
    }

    if (in->message_id && in->message_id[0]) {
        msg.message_id = in->message_id;
        msg.message_id_len = strlen(in->message_id);

        if (msg.message_id_len > NGX_CAMPAIGN_MIME_ID_MAX) {
            msg.message_id_len = NGX_CAMPAIGN_MIME_ID_MAX;
        }
    }

    if (in->unsubscribe && in->unsubscribe[0]) {
        msg.unsubscribe = in->unsubscribe;
        msg.unsubscribe_len = strlen(in->unsubscribe);

        o.buf = NULL;
        o.len = 0;

        ngx_campaign_mime_url(&o, msg.unsubscribe, msg.unsubscribe_len);

        if (o.len > NGX_CAMPAIGN_MIME_URL_MAX) {
            *error = "unsubscribe URL too long";
            return -2;
        }
    }

    msg.text = in->text;
    msg.html = in->html;

    o.buf = NULL;
    o.len = 0;

    ngx_campaign_mime_write(&o, &msg);

    o.buf = ngx_campaign_alloc(a, o.len + 1);
    if (o.buf == NULL) {
        return -1;
    }

    *len = o.len;
    o.len = 0;

    ngx_campaign_mime_write(&o, &msg);

    o.buf[o.len] = '\0';
    *out = o.buf;

    return 0;
}


void
ngx_campaign_mime_date(char buf[NGX_CAMPAIGN_MIME_DATE_LEN], time_t t)
{
    struct tm  tm;

    static const char  *days[] = {
        "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
    };

    static const char  *months[] = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun",
        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
    };

    gmtime_r(&t, &tm);

    /* the C locale's strftime("%a, %d %b %Y ..."), whatever the locale */

    snprintf(buf, NGX_CAMPAIGN_MIME_DATE_LEN,
             "%s, %02d %s %04d %02d:%02d:%02d +0000",
             days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}


/*
 * A header value's text: every run of control characters (CR and LF
 * first) one space, and no space at either end.
 */

static int
ngx_campaign_mime_clean(ngx_campaign_alloc_t *a, const char *s, size_t len,
    u_char **out, size_t *n)
{
    u_char  *p, c;
    size_t   i, j;

    p = ngx_campaign_alloc(a, len + 1);
    if (p == NULL) {
        return -1;
    }

    j = 0;

    for (i = 0; i < len; i++) {
        c = (u_char) s[i];

        if (c < 0x20 || c == 0x7f) {
            c = ' ';

            while (i + 1 < len
                   && ((u_char) s[i + 1] < 0x20 || s[i + 1] == 0x7f))
            {
                i++;
            }
        }

        if (c == ' ' && j == 0) {
            continue;
        }

        p[j++] = c;
    }

    while (j && p[j - 1] == ' ') {
        j--;
    }

    p[j] = '\0';

    *out = p;
    *n = j;

    return 0;
}


/* at least two labels of letters, digits and inner hyphens */

static int
ngx_campaign_mime_domain(const char *p, size_t len)
{
    u_char  c;
    size_t  i, label, labels;

    if (len == 0 || len > 253) {
        return 0;
    }

    label = 0;
    labels = 1;

    for (i = 0; i < len; i++) {
        c = (u_char) p[i];

        if (c == '.') {
            if (label == 0 || p[i - 1] == '-') {
                return 0;
            }

            label = 0;
            labels++;
            continue;
        }

        if (c == '-') {
            if (label == 0) {
                return 0;
            }

        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                     || (c >= '0' && c <= '9')))
        {
            return 0;
        }

        if (++label > 63) {
            return 0;
        }
    }

    return label && p[len - 1] != '-' && labels >= 2;
}


static int
ngx_campaign_mime_atext(u_char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9'))
    {
        return 1;
    }

    return c != '\0' && strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL;
}


static void
ngx_campaign_mime_write(ngx_campaign_mime_out_t *o,
    const ngx_campaign_mime_msg_t *msg)
{
    ngx_campaign_mime_literal(o, "Date: ");
    ngx_campaign_mime_put(o, msg->date, msg->date_len);
    ngx_campaign_mime_literal(o, "\r\n");

    ngx_campaign_mime_mailbox_header(o, "From: ", &msg->from);

    ngx_campaign_mime_literal(o, "To: ");
    ngx_campaign_mime_put(o, msg->to, msg->to_len);
    ngx_campaign_mime_literal(o, "\r\n");

    if (msg->reply_to.address) {
        ngx_campaign_mime_mailbox_header(o, "Reply-To: ", &msg->reply_to);
    }

    if (msg->subject) {
        ngx_campaign_mime_subject(o, msg->subject, msg->subject_len);
    }

    if (msg->message_id) {
        ngx_campaign_mime_message_id(o, msg);
    }

    if (msg->unsubscribe) {
        ngx_campaign_mime_literal(o, "List-Unsubscribe: <");
        ngx_campaign_mime_url(o, msg->unsubscribe, msg->unsubscribe_len);
        ngx_campaign_mime_literal(o, ">\r\n"
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
    }

    ngx_campaign_mime_literal(o, "MIME-Version: 1.0\r\n");

    if (msg->text && msg->html) {
        ngx_campaign_mime_literal(o,
            "Content-Type: multipart/alternative;\r\n"
            " boundary=\"" NGX_CAMPAIGN_MIME_BOUNDARY "\"\r\n"
            "\r\n"
            "--" NGX_CAMPAIGN_MIME_BOUNDARY "\r\n");

        ngx_campaign_mime_part(o, "text/plain", msg->text);

        ngx_campaign_mime_literal(o,
            "\r\n--" NGX_CAMPAIGN_MIME_BOUNDARY "\r\n");

        ngx_campaign_mime_part(o, "text/html", msg->html);

        ngx_campaign_mime_literal(o,
            "\r\n--" NGX_CAMPAIGN_MIME_BOUNDARY "--\r\n");

        return;
    }

    if (msg->html) {
        ngx_campaign_mime_part(o, "text/html", msg->html);

    } else {
        ngx_campaign_mime_part(o, "text/plain", msg->text ? msg->text : "");
    }

    ngx_campaign_mime_literal(o, "\r\n");
}


/*
 * "From: Name <address>": the name as it is when it is atoms, quoted
 * when it has specials, encoded-words when it has non-ASCII text or is
 * too long for one line.
 */

static void
ngx_campaign_mime_mailbox_header(ngx_campaign_mime_out_t *o,
    const char *header, const ngx_campaign_mailbox_t *mb)
{
    u_char   c;
    size_t   i;
    unsigned  atoms, ascii;

    ngx_campaign_mime_put(o, header, strlen(header));

    if (mb->name_len == 0) {
        ngx_campaign_mime_put(o, mb->address, mb->address_len);
        ngx_campaign_mime_literal(o, "\r\n");
        return;
    }

    atoms = 1;
    ascii = (mb->name_len <= NGX_CAMPAIGN_MIME_WORD_MAX);

    for (i = 0; i < mb->name_len; i++) {
        c = (u_char) mb->name[i];

        if (c >= 0x80) {
            ascii = 0;
        }

        if (c != ' ' && !ngx_campaign_mime_atext(c)) {
            atoms = 0;
        }
    }

    if (ascii && atoms) {
        ngx_campaign_mime_put(o, mb->name, mb->name_len);

    } else if (ascii) {
        ngx_campaign_mime_literal(o, "\"");

        for (i = 0; i < mb->name_len; i++) {
            if (mb->name[i] == '"' || mb->name[i] == '\\') {
                ngx_campaign_mime_literal(o, "\\");
            }

            ngx_campaign_mime_put(o, &mb->name[i], 1);
        }

        ngx_campaign_mime_literal(o, "\"");

    } else {
        ngx_campaign_mime_encoded_words(o, (const u_char *) mb->name,
                                        mb->name_len);
    }

    ngx_campaign_mime_literal(o, " <");
    ngx_campaign_mime_put(o, mb->address, mb->address_len);
    ngx_campaign_mime_literal(o, ">\r\n");
}


/*
 * Printable ASCII without "=?" is written as it is, folded before the
 * spaces that would take a line past 78 columns; anything else, or a word
 * too long to fold, as encoded-words.
 */

static void
ngx_campaign_mime_subject(ngx_campaign_mime_out_t *o, const u_char *p,
    size_t len)
{
    size_t  i, start, col, word;

    ngx_campaign_mime_literal(o, "Subject: ");

    word = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] > 0x7e
            || (p[i] == '=' && i + 1 < len && p[i + 1] == '?'))
        {
            word = NGX_CAMPAIGN_MIME_WORD_MAX + 1;
            break;
        }

        word = (p[i] == ' ' && i && p[i - 1] != ' ') ? 1 : word + 1;

        if (word > NGX_CAMPAIGN_MIME_WORD_MAX) {
            break;
        }
    }

    if (word > NGX_CAMPAIGN_MIME_WORD_MAX) {
        ngx_campaign_mime_encoded_words(o, p, len);
        ngx_campaign_mime_literal(o, "\r\n");
        return;
    }

    /* spaces and the word after them go on one line */

    col = sizeof("Subject: ") - 1;
    i = 0;

    while (i < len) {
        start = i;

        while (i < len && p[i] == ' ') {
            i++;
        }

        while (i < len && p[i] != ' ') {
            i++;
        }

        if (start && col + (i - start) > 78) {
            ngx_campaign_mime_literal(o, "\r\n");
            col = 0;
        }

        ngx_campaign_mime_put(o, p + start, i - start);
        col += i - start;
    }

    ngx_campaign_mime_literal(o, "\r\n");
}


/* RFC 2047 "B" words, one a line, none cutting a UTF-8 sequence */

static void
ngx_campaign_mime_encoded_words(ngx_campaign_mime_out_t *o, const u_char *p,
    size_t len)
{
    u_char  b[4];
    size_t  n, i;

    while (len) {
        n = len;

        if (n > NGX_CAMPAIGN_MIME_EW_BYTES) {
            n = NGX_CAMPAIGN_MIME_EW_BYTES;

            while (n > NGX_CAMPAIGN_MIME_EW_BYTES - 3
                   && (p[n] & 0xc0) == 0x80)
            {
                n--;
            }
        }

        ngx_campaign_mime_literal(o, "=?UTF-8?B?");

        for (i = 0; i < n; i += 3) {
            b[0] = ngx_campaign_mime_base64[p[i] >> 2];

            if (i + 1 == n) {
                b[1] = ngx_campaign_mime_base64[(p[i] & 3) << 4];
                b[2] = '=';
                b[3] = '=';

            } else if (i + 2 == n) {
                b[1] = ngx_campaign_mime_base64[((p[i] & 3) << 4)
                                                | (p[i + 1] >> 4)];
                b[2] = ngx_campaign_mime_base64[(p[i + 1] & 15) << 2];
                b[3] = '=';

            } else {
                b[1] = ngx_campaign_mime_base64[((p[i] & 3) << 4)
                                                | (p[i + 1] >> 4)];
                b[2] = ngx_campaign_mime_base64[((p[i + 1] & 15) << 2)
                                                | (p[i + 2] >> 6)];
                b[3] = ngx_campaign_mime_base64[p[i + 2] & 63];
            }

            ngx_campaign_mime_put(o, b, 4);
        }

        ngx_campaign_mime_literal(o, "?=");

        p += n;
        len -= n;

        if (len) {
            ngx_campaign_mime_literal(o, "\r\n ");
        }
    }
}


/*
 * "<key@domain>": the idempotency key is unique per message, and the
 * same for every attempt, so that a receiver can drop a duplicate; its
 * bytes other than letters, digits, "-" and "_" are "=XX".
 */

static void
ngx_campaign_mime_message_id(ngx_campaign_mime_out_t *o,
    const ngx_campaign_mime_msg_t *msg)
{
    u_char  c;
    size_t  i;

    ngx_campaign_mime_literal(o, "Message-ID: <");

    for (i = 0; i < msg->message_id_len; i++) {
        c = (u_char) msg->message_id[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '-' || c == '_')
        {
            ngx_campaign_mime_put(o, &c, 1);

        } else {
            ngx_campaign_mime_hex(o, '=', c);
        }
    }

    ngx_campaign_mime_literal(o, "@");
    ngx_campaign_mime_put(o, msg->domain, msg->domain_len);
    ngx_campaign_mime_literal(o, ">\r\n");
}


/* a URL between "<" and ">": what could end it is percent-encoded */

static void
ngx_campaign_mime_url(ngx_campaign_mime_out_t *o, const char *p, size_t len)
{
    u_char  c;
    size_t  i;

    for (i = 0; i < len; i++) {
        c = (u_char) p[i];

        if (c > 0x20 && c < 0x7f && c != '<' && c != '>' && c != '"') {
            ngx_campaign_mime_put(o, &c, 1);

        } else {
            ngx_campaign_mime_hex(o, '%', c);
        }
    }
}


static void
ngx_campaign_mime_part(ngx_campaign_mime_out_t *o, const char *type,
    const char *text)
{
    ngx_campaign_mime_literal(o, "Content-Type: ");
    ngx_campaign_mime_put(o, type, strlen(type));
    ngx_campaign_mime_literal(o, "; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n");

    ngx_campaign_mime_qp(o, (const u_char *) text, strlen(text));
}


/*
 * Quoted-printable (RFC 2045, 6.7): LF and CRLF are line breaks, CRLF
 * out; "=", bytes outside printable ASCII and a space or tab that ends a
 * line are "=XX"; lines longer than 75 characters go on after "=".
 */

static void
ngx_campaign_mime_qp(ngx_campaign_mime_out_t *o, const u_char *p,
    size_t len)
{
    u_char    c;
    size_t    i, col, n;
    unsigned  eol;

    col = 0;

    for (i = 0; i < len; i++) {
        c = p[i];

        if (c == '\n') {
            ngx_campaign_mime_literal(o, "\r\n");
            col = 0;
            continue;
        }

        if (c == '\r' && i + 1 < len && p[i + 1] == '\n') {
            continue;
        }

        eol = (i + 1 == len || p[i + 1] == '\n'
               || (p[i + 1] == '\r' && i + 2 < len && p[i + 2] == '\n'));

        if ((c > 0x20 && c < 0x7f && c != '=')
            || ((c == ' ' || c == '\t') && !eol))
        {
            n = 1;

        } else {
            n = 3;
        }

        if (col + n > NGX_CAMPAIGN_MIME_QP_LINE) {
            ngx_campaign_mime_literal(o, "=\r\n");
            col = 0;
        }

        if (n == 1) {
            ngx_campaign_mime_put(o, &c, 1);

        } else {
            ngx_campaign_mime_hex(o, '=', c);
        }

        col += n;
    }
}


static void
ngx_campaign_mime_put(ngx_campaign_mime_out_t *o, const void *p, size_t len)
{
    if (o->buf) {
        memcpy(o->buf + o->len, p, len);
    }

    o->len += len;
}


static void
ngx_campaign_mime_hex(ngx_campaign_mime_out_t *o, u_char prefix, u_char c)
{
    u_char  b[3];

    b[0] = prefix;
    b[1] = ngx_campaign_mime_hexdigits[c >> 4];
    b[2] = ngx_campaign_mime_hexdigits[c & 15];

    ngx_campaign_mime_put(o, b, 3);
}
