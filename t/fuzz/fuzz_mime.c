
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * libFuzzer target over ngx_campaign_mime_build(): whatever the rendered
 * values hold, the message has CRLF line ends only, no line over 998
 * bytes, no body line over 76, and exactly the headers it means to have,
 * each once: nothing a value holds starts a header of its own.
 *
 * The input is the fields, NUL-separated, in this order: the from
 * address's display name, the replyTo's, the recipient's address, the
 * subject, text, html, message id and unsubscribe URL; a field that is
 * missing is left out (NULL).  A recipient's address that
 * ngx_campaign_mime_address() takes must make a message.
 *
 *     clang -g -O1 -fsanitize=fuzzer,address -D_DEFAULT_SOURCE -Isrc \
 *         src/ngx_campaign_mime.c src/ngx_campaign_arena.c \
 *         t/fuzz/fuzz_mime.c -o build/fuzz_mime
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ngx_campaign_mime.h"
#include "ngx_campaign_arena.h"


#define FUZZ_FIELDS  8


static const char  *fuzz_headers[] = {
    "Date", "From", "To", "Reply-To", "Subject", "Message-ID",
    "List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version",
    "Content-Type", "Content-Transfer-Encoding", NULL
};


/* the header section: known names, each once, and their continuations */

static void
fuzz_check_headers(const char *p, const char *end)
{
    size_t       i, n;
    unsigned     seen[sizeof(fuzz_headers) / sizeof(fuzz_headers[0])];
    const char  *eol;

    memset(seen, 0, sizeof(seen));

    for ( /* void */ ; p < end; p = eol + 2) {
        eol = strstr(p, "\r\n");

        if (*p == ' ') {
            continue;
        }

        for (i = 0; fuzz_headers[i]; i++) {
            n = strlen(fuzz_headers[i]);

            if ((size_t) (eol - p) > n && strncasecmp(p, fuzz_headers[i], n)
                == 0 && p[n] == ':')
            {
                break;
            }
        }

        if (fuzz_headers[i] == NULL || seen[i]++) {
            abort();
        }
    }
}


static void
fuzz_check(const char *msg, size_t len)
{
    const char  *p, *eol, *body, *last;

    if (strlen(msg) != len) {
        abort();
    }

    last = msg + len;

    body = strstr(msg, "\r\n\r\n");
    if (body == NULL) {
        abort();
    }

    fuzz_check_headers(msg, body + 2);

    for (p = msg; p < last; p = eol + 2) {
        eol = strstr(p, "\r\n");

        if (eol == NULL
            || memchr(p, '\n', eol - p) != NULL
            || memchr(p, '\r', eol - p) != NULL
            || eol - p > 998
            || (p > body && eol - p > 76))
        {
            abort();
        }
    }
}


/* "name <address>": the name is the input's, the address a good one */

static const char *
fuzz_mailbox(ngx_campaign_arena_t *arena, const char *name,
    const char *address)
{
    char    *p;
    size_t   n;

    if (name == NULL) {
        return address;
    }

    n = strlen(name) + strlen(address) + 4;

    p = ngx_campaign_alloc(&arena->alloc, n);
    if (p == NULL) {
        abort();
    }

    snprintf(p, n, "%s <%s>", name, address);

    return p;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                    valid;
    char                  *copy, *field[FUZZ_FIELDS], *p, *end;
    size_t                 i, len;
    u_char                *out;
    const char            *error;
    ngx_campaign_arena_t   arena;
    ngx_campaign_mime_t    in;

    copy = malloc(size + 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);
    copy[size] = '\0';

    p = copy;
    end = copy + size;

    for (i = 0; i < FUZZ_FIELDS; i++) {
        field[i] = (p <= end) ? p : NULL;
        p = (p <= end) ? p + strlen(p) + 1 : p;
    }

    ngx_campaign_arena_init(&arena, 0);

    memset(&in, 0, sizeof(ngx_campaign_mime_t));

    in.from = fuzz_mailbox(&arena, field[0], "a@acme.example");
    in.reply_to = fuzz_mailbox(&arena, field[1], "r@acme.example");
    in.to = field[2] ? field[2] : "eve@example.com";
    in.subject = field[3];
    in.text = field[4];
    in.html = field[5];
    in.message_id = field[6];
    in.unsubscribe = field[7];
    in.date = "Mon, 30 Nov 2026 14:44:31 +0000";

    valid = ngx_campaign_mime_address(in.to, strlen(in.to));

    error = NULL;

    switch (ngx_campaign_mime_build(&arena.alloc, &in, &out, &len, &error)) {

    case 0:
        fuzz_check((char *) out, len);
        break;

    case -2:
        if (error == NULL
            || (valid && strcmp(error, "bad recipient address") == 0))
        {
            abort();
        }
        break;

    default:
        abort();
    }

    ngx_campaign_arena_destroy(&arena);
    free(copy);

    return 0;
}
