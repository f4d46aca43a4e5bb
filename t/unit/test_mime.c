
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * The e-mail the SMTP connector sends: its headers, its quoted-printable
 * parts, and what becomes of rendered values that try to add a header.
 * Every message built here is also checked line by line: CRLF only, no
 * line over 998 bytes, no body line over 76.
 */


#include <sys/types.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ngx_campaign_mime.h"
#include "ngx_campaign_arena.h"


static ngx_campaign_arena_t  arena;
static char                  value[8192];


static int
setup(void **state)
{
    (void) state;

    ngx_campaign_arena_init(&arena, 0);

    return 0;
}


static int
teardown(void **state)
{
    (void) state;

    ngx_campaign_arena_destroy(&arena);

    return 0;
}


/* lines end in CRLF, none is longer than 998 bytes, body lines than 76 */

static void
check_lines(const char *msg)
{
    const char  *p, *eol, *body;

    body = strstr(msg, "\r\n\r\n");
    assert_non_null(body);

    for (p = msg; *p; p = eol + 2) {
        eol = strstr(p, "\r\n");
        assert_non_null(eol);

        assert_null(memchr(p, '\n', eol - p));
        assert_null(memchr(p, '\r', eol - p));
        assert_true(eol - p <= 998);

        if (p > body) {
            assert_true(eol - p <= 76);
        }
    }
}


static ngx_campaign_mime_t
message(void)
{
    ngx_campaign_mime_t  in;

    memset(&in, 0, sizeof(ngx_campaign_mime_t));

    in.from = "Acme Accounts <accounts@acme.example>";
    in.to = "eve@example.com";
    in.subject = "Hello";
    in.text = "Hi";
    in.date = "Mon, 30 Nov 2026 14:44:31 +0000";
    in.message_id = "m1";

    return in;
}


static char *
build(const ngx_campaign_mime_t *in)
{
    u_char      *out;
    size_t       len;
    const char  *error;

    error = NULL;

    if (ngx_campaign_mime_build(&arena.alloc, in, &out, &len, &error) != 0) {
        print_message("build failed: %s\n", error ? error : "");
        fail();
    }

    assert_int_equal(strlen((char *) out), len);

    check_lines((char *) out);

    return (char *) out;
}


static const char *
build_error(const ngx_campaign_mime_t *in)
{
    u_char      *out;
    size_t       len;
    const char  *error;

    error = NULL;

    assert_int_equal(ngx_campaign_mime_build(&arena.alloc, in, &out, &len,
                                             &error),
                     -2);
    assert_non_null(error);

    return error;
}


/*
 * The header "name" unfolded, or NULL; fails when there are two: the
 * header section ends at the first empty line.
 */

static const char *
header(const char *msg, const char *name)
{
    size_t       n, len;
    const char  *p, *eol, *found;

    n = strlen(name);
    found = NULL;

    for (p = msg; strncmp(p, "\r\n", 2) != 0; p = eol + 2) {
        eol = strstr(p, "\r\n");

        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            assert_null(found);
            found = p;
        }
    }

    if (found == NULL) {
        return NULL;
    }

    p = found + n + 1;

    while (*p == ' ') {
        p++;
    }

    len = 0;

    for ( ;; ) {
        eol = strstr(p, "\r\n");
        memcpy(value + len, p, eol - p);
        len += eol - p;
        p = eol + 2;

        if (*p != ' ' && *p != '\t') {
            break;
        }
    }

    value[len] = '\0';

    return value;
}


static size_t
base64_decode(const char *p, size_t len, char *out)
{
    int          bits, n;
    size_t       i, o;
    const char  *d;

    static const char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    bits = 0;
    n = 0;
    o = 0;

    for (i = 0; i < len && p[i] != '='; i++) {
        d = strchr(alphabet, p[i]);
        assert_non_null(d);

        bits = (bits << 6) | (int) (d - alphabet);
        n += 6;

        if (n >= 8) {
            n -= 8;
            out[o++] = (char) ((bits >> n) & 0xff);
        }
    }

    return o;
}


/*
 * An unfolded header value of encoded-words, decoded; each word must hold
 * whole UTF-8 sequences.
 */

static char *
decode_words(const char *v)
{
    char        *out, *w;
    size_t       len, n, i;
    const char  *end;

    out = malloc(strlen(v) + 1);
    assert_non_null(out);

    len = 0;

    while (*v) {
        assert_true(strncmp(v, "=?UTF-8?B?", 10) == 0);
        v += 10;

        end = strstr(v, "?=");
        assert_non_null(end);

        w = out + len;
        n = base64_decode(v, end - v, w);

        assert_true(((u_char) w[0] & 0xc0) != 0x80);

        for (i = n; i > 0 && ((u_char) w[i - 1] & 0xc0) == 0x80; i--) {
            /* void */
        }

        if (i > 0 && (u_char) w[i - 1] >= 0xc0) {
            assert_int_equal(n - i + 1,
                             ((u_char) w[i - 1] >= 0xf0) ? 4
                             : ((u_char) w[i - 1] >= 0xe0) ? 3 : 2);
        }

        len += n;
        v = end + 2;

        while (*v == ' ') {
            v++;
        }
    }

    out[len] = '\0';

    return out;
}


/* a quoted-printable body back to its text, CRLF line ends kept */

static char *
decode_qp(const char *p, size_t len)
{
    char    *out;
    size_t   i, o;

    out = malloc(len + 1);
    assert_non_null(out);

    o = 0;

    for (i = 0; i < len; i++) {
        if (p[i] != '=') {
            out[o++] = p[i];
            continue;
        }

        if (p[i + 1] == '\r' && p[i + 2] == '\n') {
            i += 2;
            continue;
        }

        assert_non_null(strchr("0123456789ABCDEF", p[i + 1]));
        assert_non_null(strchr("0123456789ABCDEF", p[i + 2]));

        out[o++] = (char) strtol((char []) { p[i + 1], p[i + 2], 0 }, NULL,
                                 16);
        i += 2;
    }

    out[o] = '\0';

    return out;
}


/* the body of a single-part message */

static const char *
body(const char *msg)
{
    const char  *p;

    p = strstr(msg, "\r\n\r\n");
    assert_non_null(p);

    return p + 4;
}


static void
test_multipart(void **state)
{
    char                 *msg;
    ngx_campaign_mime_t   in;

    (void) state;

    in = message();
    in.reply_to = "support@acme.example";
    in.html = "<p>Hi</p>";
    in.text = "Hi";
    in.message_id = "req-1:user 7";

    msg = build(&in);

    assert_string_equal(msg,
        "Date: Mon, 30 Nov 2026 14:44:31 +0000\r\n"
        "From: Acme Accounts <accounts@acme.example>\r\n"
        "To: eve@example.com\r\n"
        "Reply-To: support@acme.example\r\n"
        "Subject: Hello\r\n"
        "Message-ID: <req-1=3Auser=207@acme.example>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/alternative;\r\n"
        " boundary=\"=_ngx_campaign_alternative\"\r\n"
        "\r\n"
        "--=_ngx_campaign_alternative\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
        "Hi\r\n"
        "--=_ngx_campaign_alternative\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
        "<p>Hi</p>\r\n"
        "--=_ngx_campaign_alternative--\r\n");
}


static void
test_single_part(void **state)
{
    char                 *msg;
    ngx_campaign_mime_t   in;

    (void) state;

    in = message();
    in.text = NULL;
    in.html = "<b>only</b>";

    msg = build(&in);

    assert_string_equal(header(msg, "Content-Type"),
                        "text/html; charset=utf-8");
    assert_string_equal(header(msg, "Content-Transfer-Encoding"),
                        "quoted-printable");
    assert_string_equal(body(msg), "<b>only</b>\r\n");

    in.html = NULL;
    in.text = "only text";

    msg = build(&in);

    assert_string_equal(header(msg, "Content-Type"),
                        "text/plain; charset=utf-8");
    assert_null(strstr(msg, "multipart"));
    assert_string_equal(body(msg), "only text\r\n");
}


/* the issue's example: a first name that carries a Bcc header */

static void
test_subject_injection(void **state)
{
    char                 *msg;
    ngx_campaign_mime_t   in;

    (void) state;

    in = message();
    in.subject = "Eve\r\nBcc: victim@example.com, here is your link";

    msg = build(&in);

    assert_string_equal(header(msg, "Subject"),
                        "Eve Bcc: victim@example.com, here is your link");
    assert_null(header(msg, "Bcc"));
    assert_null(strstr(msg, "\nBcc"));

    /* a lone LF, a lone CR, other controls, and at either end */

    in.subject = "\n\rA\nB\rC\tD\x01\x7f" "E\r\n";

    msg = build(&in);

    assert_string_equal(header(msg, "Subject"), "A B C D E");
}


static void
test_mailbox_injection(void **state)
{
    char                 *msg;
    ngx_campaign_mime_t   in;

    (void) state;

    in = message();
    in.from = "Eve\r\nBcc: victim@example.com <accounts@acme.example>";
    in.reply_to = "\"Acme, \\\"Support\\\"\" <support@acme.example>";

    msg = build(&in);

    assert_string_equal(header(msg, "From"),
                        "\"Eve Bcc: victim@example.com\""
                        " <accounts@acme.example>");
    assert_string_equal(header(msg, "Reply-To"),
                        "\"Acme, \\\"Support\\\"\" <support@acme.example>");
    assert_null(header(msg, "Bcc"));

    /* the address itself cannot carry one */

    in = message();
    in.from = "accounts@acme.example\r\nBcc: victim@example.com";
    assert_string_equal(build_error(&in), "bad from address");

    in = message();
    in.reply_to = "Support <support@acme.example>\nBcc: v@example.com";
    assert_string_equal(build_error(&in), "bad replyTo address");

    in = message();
    in.to = "eve@example.com\r\nBcc: victim@example.com";
    assert_string_equal(build_error(&in), "bad recipient address");
}


static void
test_encoded_words(void **state)
{
    char                 *msg, *text;
    const char           *v, *p, *eol;
    ngx_campaign_mime_t   in;

    static const char  subject[] =
        "Élodie, voici votre lien de réinitialisation — "
        "il expire dans 30 minutes 🔑 ça marche très bien";

    (void) state;

    in = message();
    in.subject = subject;
    in.from = "Équipe Acme <accounts@acme.example>";

    msg = build(&in);

    /* folded, every line under 78 columns */

    p = strstr(msg, "\r\nSubject: ") + 2;

    do {
        eol = strstr(p, "\r\n");
        assert_true(eol - p <= 78);
        p = eol + 2;
    } while (*p == ' ');

    v = header(msg, "Subject");
    assert_null(strchr(v, 0xc3));

    text = decode_words(v);
    assert_string_equal(text, subject);
    free(text);

    v = header(msg, "From");
    p = strstr(v, " <accounts@acme.example>");
    assert_non_null(p);
    assert_string_equal(p, " <accounts@acme.example>");
    value[p - v] = '\0';

    text = decode_words(v);
    assert_string_equal(text, "Équipe Acme");
    free(text);

    /* ASCII that would read as an encoded-word is encoded too */

    in.subject = "=?UTF-8?B?QmNjOg==?=";

    text = decode_words(header(build(&in), "Subject"));
    assert_string_equal(text, "=?UTF-8?B?QmNjOg==?=");
    free(text);
}


static void
test_long_subject(void **state)
{
    int                   i;
    char                 *msg, *text, subject[600], word[200];
    const char           *p, *eol;
    ngx_campaign_mime_t   in;

    (void) state;

    subject[0] = '\0';

    for (i = 0; i < 40; i++) {
        strcat(subject, i ? "  word" : "word");
        sprintf(subject + strlen(subject), "%d", i);
    }

    in = message();
    in.subject = subject;

    msg = build(&in);

    p = strstr(msg, "\r\nSubject: ") + 2;

    do {
        eol = strstr(p, "\r\n");
        assert_true(eol - p <= 79);
        p = eol + 2;
    } while (*p == ' ');

    assert_true(strstr(msg, "\r\n  word") != NULL);
    assert_string_equal(header(msg, "Subject"), subject);

    /* one word too long to fold: encoded-words, which fold anywhere */

    memset(word, 'x', sizeof(word) - 1);
    word[sizeof(word) - 1] = '\0';
    in.subject = word;

    msg = build(&in);

    text = decode_words(header(msg, "Subject"));
    assert_string_equal(text, word);
    free(text);
}


static void
test_quoted_printable(void **state)
{
    char                 *msg, *text, line[300];
    const char           *b;
    ngx_campaign_mime_t   in;

    (void) state;

    memset(line, 'a', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\0';

    in = message();
    in.text = NULL;
    in.html = NULL;

    /* "=", trailing spaces, UTF-8, CRLF and LF, a lone CR, a dot line */

    in.text = "a=b  \n"
              ".\n"
              "..dots stay: libcurl stuffs them\r\n"
              "caf\xc3\xa9\ttab\t\n"
              "lone\rcr\n"
              "\n"
              "end";

    msg = build(&in);
    b = body(msg);

    assert_string_equal(b,
        "a=3Db =20\r\n"
        ".\r\n"
        "..dots stay: libcurl stuffs them\r\n"
        "caf=C3=A9\ttab=09\r\n"
        "lone=0Dcr\r\n"
        "\r\n"
        "end\r\n");

    text = decode_qp(b, strlen(b));
    assert_string_equal(text,
                        "a=b  \r\n.\r\n..dots stay: libcurl stuffs them\r\n"
                        "caf\xc3\xa9\ttab\t\r\nlone\rcr\r\n\r\nend\r\n");
    free(text);

    /* a long line: soft breaks, and no "=XX" cut by one */

    in.text = line;
    b = body(build(&in));

    assert_true(strncmp(b, "aaaa", 4) == 0);
    assert_non_null(strstr(b, "=\r\n"));

    text = decode_qp(b, strlen(b) - 2);
    assert_string_equal(text, line);
    free(text);

    memset(line, '=', 100);
    line[100] = '\0';

    b = body(build(&in));

    text = decode_qp(b, strlen(b) - 2);
    assert_string_equal(text, line);
    free(text);
}


static void
test_unsubscribe(void **state)
{
    char                 *msg, url[901];
    ngx_campaign_mime_t   in;

    (void) state;

    in = message();

    msg = build(&in);
    assert_null(header(msg, "List-Unsubscribe"));
    assert_null(header(msg, "List-Unsubscribe-Post"));

    in.unsubscribe = "https://acme.example/u?t=a b>\r\nBcc: v@example.com";

    msg = build(&in);

    assert_string_equal(header(msg, "List-Unsubscribe"),
                        "<https://acme.example/u?t=a%20b%3E%0D%0A"
                        "Bcc:%20v@example.com>");
    assert_string_equal(header(msg, "List-Unsubscribe-Post"),
                        "List-Unsubscribe=One-Click");
    assert_null(header(msg, "Bcc"));

    /* 900 bytes at most once percent-encoded (found by fuzz_mime) */

    memset(url, 'u', 900);
    url[900] = '\0';
    in.unsubscribe = url;
    assert_non_null(header(build(&in), "List-Unsubscribe"));

    memset(url, '\xbf', 301);
    url[301] = '\0';
    assert_string_equal(build_error(&in), "unsubscribe URL too long");
}


static void
test_message_id(void **state)
{
    char                 *msg;
    ngx_campaign_mime_t   in;

    (void) state;

    in = message();
    in.message_id = "k.1<>@\r\n";
    in.domain = "mail.acme.example";

    msg = build(&in);

    assert_string_equal(header(msg, "Message-ID"),
                        "<k=2E1=3C=3E=40=0D=0A@mail.acme.example>");

    in.domain = "bad domain";
    assert_string_equal(build_error(&in), "bad Message-ID domain");

    in.domain = NULL;
    in.message_id = NULL;

    msg = build(&in);
    assert_null(header(msg, "Message-ID"));
}


static void
test_addresses(void **state)
{
    size_t                   i;
    char                     local[80], address[300];
    ngx_campaign_mailbox_t   mb;

    static const char  *good[] = {
        "a@b.co",
        "first.last+tag@mail.acme.example",
        "o'brien@acme.example",
        "x!#$%&'*/=?^_`{|}~-@a-b.c1",
        NULL
    };

    static const char  *bad[] = {
        "",
        "a",
        "@acme.example",
        "a@",
        "a@localhost",
        "a@b..co",
        "a@-b.co",
        "a@b-.co",
        "a@b.co.",
        ".a@b.co",
        "a.@b.co",
        "a..b@b.co",
        "a b@b.co",
        "\"a\"@b.co",
        "a@[127.0.0.1]",
        "a(b)@b.co",
        "a<b>@b.co",
        "a,b@b.co",
        "a@b@b.co",
        "\xc3\xa9@b.co",
        "a@b.co\r\n",
        "a@b_c.co",
        NULL
    };

    (void) state;

    for (i = 0; good[i]; i++) {
        if (!ngx_campaign_mime_address(good[i], strlen(good[i]))) {
            print_message("refused: %s\n", good[i]);
            fail();
        }
    }

    for (i = 0; bad[i]; i++) {
        if (ngx_campaign_mime_address(bad[i], strlen(bad[i]))) {
            print_message("accepted: %s\n", bad[i]);
            fail();
        }
    }

    /* 64 bytes of local part, 254 in all */

    memset(local, 'a', 65);
    local[65] = '\0';
    sprintf(address, "%s@b.co", local + 1);
    assert_true(ngx_campaign_mime_address(address, strlen(address)));
    sprintf(address, "%s@b.co", local);
    assert_false(ngx_campaign_mime_address(address, strlen(address)));

    memset(address, 'a', 300);
    memcpy(address, "a@", 2);
    for (i = 60; i < 250; i += 60) {
        address[i] = '.';
    }
    address[254] = '\0';
    assert_true(ngx_campaign_mime_address(address, 254));
    address[254] = 'a';
    assert_false(ngx_campaign_mime_address(address, 255));

    assert_int_equal(ngx_campaign_mime_mailbox(&arena.alloc,
                                               " Acme  <a@acme.example> ",
                                               &mb), 0);
    assert_int_equal(mb.name_len, 4);
    assert_memory_equal(mb.name, "Acme", 4);
    assert_int_equal(mb.address_len, 14);
    assert_memory_equal(mb.address, "a@acme.example", 14);

    assert_int_equal(ngx_campaign_mime_mailbox(&arena.alloc,
                                               "a@acme.example", &mb), 0);
    assert_int_equal(mb.name_len, 0);
    assert_int_equal(mb.address_len, 14);

    assert_int_equal(ngx_campaign_mime_mailbox(&arena.alloc,
                                               "Acme a@acme.example>", &mb),
                     -2);
    assert_int_equal(ngx_campaign_mime_mailbox(&arena.alloc,
                                               "Acme <a@acme>", &mb), -2);
}


static void
test_date(void **state)
{
    char  buf[NGX_CAMPAIGN_MIME_DATE_LEN];

    (void) state;

    ngx_campaign_mime_date(buf, 0);
    assert_string_equal(buf, "Thu, 01 Jan 1970 00:00:00 +0000");

    ngx_campaign_mime_date(buf, 1796049871);
    assert_string_equal(buf, "Mon, 30 Nov 2026 14:44:31 +0000");
}


static void
test_out_of_memory(void **state)
{
    int                   rc;
    size_t                i, len;
    u_char               *out;
    const char           *error;
    ngx_campaign_mime_t   in;

    (void) state;

    in = message();
    in.reply_to = "support@acme.example";
    in.html = "<p>Hi</p>";

    for (i = 1; i < 100; i++) {
        arena.fail_at = arena.nallocs + i;

        rc = ngx_campaign_mime_build(&arena.alloc, &in, &out, &len, &error);

        if (rc == 0) {
            break;
        }

        assert_int_equal(rc, -1);
    }

    assert_true(i > 3);
    assert_non_null(strstr((char *) out, "<p>Hi</p>"));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_multipart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_part, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subject_injection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mailbox_injection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_encoded_words, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_long_subject, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quoted_printable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unsubscribe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_date, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_memory, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
