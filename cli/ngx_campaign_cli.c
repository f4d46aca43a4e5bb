
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * ngx-campaign: the engine without nginx, for authors and CI.
 *
 *     ngx-campaign lint DIR [--fragments DIR]
 *     ngx-campaign render TEMPLATE DATA [--partial NAME=FILE]... [--text]
 *     ngx-campaign preview DIR CAMPAIGN_ID [--profile FILE]
 *                          [--context FILE] [--fragments DIR]
 *     ngx-campaign key NAME SCOPE...
 *
 * It reads and checks campaign files with the very code nginx runs when it
 * reads its configuration, so a clean lint is a clean "nginx -t", and a
 * preview is what the module's preview endpoint answers.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ngx_campaign_arena.h"
#include "ngx_campaign_content.h"
#include "ngx_campaign_definition.h"
#include "ngx_campaign_template.h"


#ifndef NGX_CAMPAIGN_VERSION
#define NGX_CAMPAIGN_VERSION  "0.1.0"
#endif

#define NGX_CAMPAIGN_CLI_OK        0
#define NGX_CAMPAIGN_CLI_PROBLEM   1
#define NGX_CAMPAIGN_CLI_USAGE     2

#define NGX_CAMPAIGN_CLI_KEY_BYTES 32
#define NGX_CAMPAIGN_CLI_KEY_NAME  64


typedef struct {
    const char                   *name;
    size_t                        name_len;
    const char                   *file;
    u_char                       *src;
    size_t                        len;
} ngx_campaign_cli_partial_t;


typedef struct {
    ngx_campaign_cli_partial_t   *partials;
    size_t                        npartials;
} ngx_campaign_cli_partials_t;


static int ngx_campaign_cli_lint(ngx_campaign_alloc_t *a, int argc,
    char **argv);
static int ngx_campaign_cli_render(ngx_campaign_alloc_t *a, int argc,
    char **argv);
static int ngx_campaign_cli_read_partials(ngx_campaign_alloc_t *a,
    ngx_campaign_cli_partials_t *partials, char **specs, size_t n);
static ngx_campaign_template_t *ngx_campaign_cli_compile(
    ngx_campaign_alloc_t *a, const char *file, const u_char *src,
    size_t len, ngx_campaign_escape_e escape,
    ngx_campaign_cli_partials_t *partials);
static int ngx_campaign_cli_partial(void *data, const u_char *name,
    size_t len, const u_char **src, size_t *src_len);
static int ngx_campaign_cli_no_partial(void *data, const u_char *name,
    size_t len, const u_char **src, size_t *src_len);
static int ngx_campaign_cli_preview(ngx_campaign_alloc_t *a, int argc,
    char **argv);
static cJSON *ngx_campaign_cli_read_object(ngx_campaign_alloc_t *a,
    const char *file);
static cJSON *ngx_campaign_cli_read_json(ngx_campaign_alloc_t *a,
    const char *file);
static int ngx_campaign_cli_key(int argc, char **argv);
static int ngx_campaign_cli_key_scope(const char *scope, unsigned *seen);
static void ngx_campaign_cli_problem(void *data, const char *file,
    const char *field, size_t line, size_t column, const char *message);
static int ngx_campaign_cli_option(int argc, char **argv, int *i,
    const char *name, const char **value);
static int ngx_campaign_cli_usage_error(const char *fmt, const char *arg);
static int ngx_campaign_cli_locate(const char *file, const char *field,
    size_t line, size_t column, size_t *fline, size_t *fcolumn);
static void ngx_campaign_cli_usage(FILE *f);


static const char  *ngx_campaign_cli_name = "ngx-campaign";


int
main(int argc, char **argv)
{
    int                    rc;
    const char            *command;
    ngx_campaign_arena_t   arena;

    if (argc < 2) {
        ngx_campaign_cli_usage(stderr);
        return NGX_CAMPAIGN_CLI_USAGE;
    }

    command = argv[1];

    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0
        || strcmp(command, "help") == 0)
    {
        ngx_campaign_cli_usage(stdout);
        return NGX_CAMPAIGN_CLI_OK;
    }

    if (strcmp(command, "--version") == 0) {
        printf("%s %s\n", ngx_campaign_cli_name, NGX_CAMPAIGN_VERSION);
        return NGX_CAMPAIGN_CLI_OK;
    }

    ngx_campaign_arena_init(&arena, NGX_CAMPAIGN_ARENA_CHUNK_SIZE);

    if (strcmp(command, "lint") == 0) {
        rc = ngx_campaign_cli_lint(&arena.alloc, argc - 2, argv + 2);

    } else if (strcmp(command, "render") == 0) {
        rc = ngx_campaign_cli_render(&arena.alloc, argc - 2, argv + 2);

    } else if (strcmp(command, "preview") == 0) {
        rc = ngx_campaign_cli_preview(&arena.alloc, argc - 2, argv + 2);

    } else if (strcmp(command, "key") == 0) {
        rc = ngx_campaign_cli_key(argc - 2, argv + 2);

    } else {
        rc = ngx_campaign_cli_usage_error("unknown command \"%s\"", command);
    }

    ngx_campaign_arena_destroy(&arena);

    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "%s: cannot write the output\n",
                ngx_campaign_cli_name);
        return NGX_CAMPAIGN_CLI_PROBLEM;
    }

    return rc;
}


/* every campaign file of DIR checked as nginx checks it, one line each */

static int
ngx_campaign_cli_lint(ngx_campaign_alloc_t *a, int argc, char **argv)
{
    int               i, rc;
    size_t            n, nerrors;
    const char       *dir, *fragments;
    ngx_campaign_t  **campaigns;

    dir = NULL;
    fragments = NULL;

    for (i = 0; i < argc; i++) {
        rc = ngx_campaign_cli_option(argc, argv, &i, "--fragments",
                                     &fragments);
        if (rc != 0) {
            if (rc < 0) {
                return NGX_CAMPAIGN_CLI_USAGE;
            }

            continue;
        }

        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return ngx_campaign_cli_usage_error("lint: unknown option \"%s\"",
                                                argv[i]);
        }

        if (dir != NULL) {
            return ngx_campaign_cli_usage_error("lint: unexpected \"%s\"",
                                                argv[i]);
        }

        dir = argv[i];
    }

    if (dir == NULL) {
        return ngx_campaign_cli_usage_error("lint: no directory%s", "");
    }

    nerrors = ngx_campaign_definition_load_dir(a, dir, fragments, &campaigns,
                                               &n, ngx_campaign_cli_problem,
                                               stdout);
    if (nerrors) {
        fprintf(stderr, "%s: %zu problem%s in %s\n", ngx_campaign_cli_name,
                nerrors, (nerrors == 1) ? "" : "s", dir);
        return NGX_CAMPAIGN_CLI_PROBLEM;
    }

    fprintf(stderr, "%s: %zu campaign%s in %s, no problems\n",
            ngx_campaign_cli_name, n, (n == 1) ? "" : "s", dir);

    return NGX_CAMPAIGN_CLI_OK;
}


/* one template rendered with Mustache's defaults: HTML escaping for {{ }} */

static int
ngx_campaign_cli_render(ngx_campaign_alloc_t *a, int argc, char **argv)
{
    int                           i, rc, nargs, failed;
    char                        **specs;
    cJSON                        *data;
    u_char                       *src, *out;
    size_t                        len, out_len, nspecs;
    const char                   *args[2], *spec;
    ngx_campaign_escape_e         escape;
    ngx_campaign_template_t      *tpl;
    ngx_campaign_cli_partials_t   partials;

    nargs = 0;
    nspecs = 0;
    escape = NGX_CAMPAIGN_ESCAPE_HTML;

    specs = ngx_campaign_alloc(a, (argc + 1) * sizeof(char *));
    if (specs == NULL) {
        fprintf(stderr, "%s: out of memory\n", ngx_campaign_cli_name);
        return NGX_CAMPAIGN_CLI_PROBLEM;
    }

    for (i = 0; i < argc; i++) {
        rc = ngx_campaign_cli_option(argc, argv, &i, "--partial", &spec);
        if (rc != 0) {
            if (rc < 0) {
                return NGX_CAMPAIGN_CLI_USAGE;
            }

            if (strchr(spec, '=') == NULL || spec[0] == '=') {
                return ngx_campaign_cli_usage_error("render: --partial takes "
                                                    "NAME=FILE, not \"%s\"",
                                                    spec);
            }

            specs[nspecs++] = (char *) spec;
            continue;
        }

        if (strcmp(argv[i], "--text") == 0) {
            escape = NGX_CAMPAIGN_ESCAPE_NONE;
            continue;
        }

        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return ngx_campaign_cli_usage_error("render: unknown option "
                                                "\"%s\"", argv[i]);
        }

        if (nargs == 2) {
            return ngx_campaign_cli_usage_error("render: unexpected \"%s\"",
                                                argv[i]);
        }

        args[nargs++] = argv[i];
    }

    if (nargs != 2) {
        return ngx_campaign_cli_usage_error("render: needs a template file "
                                            "and a data file%s", "");
    }

    /* every file is read and checked, so one run reports every problem */

    failed = (ngx_campaign_cli_read_partials(a, &partials, specs, nspecs)
              != 0);

    src = ngx_campaign_definition_read_file(a, args[0], &len,
                                            ngx_campaign_cli_problem, stderr);

    tpl = NULL;

    if (src != NULL) {
        tpl = ngx_campaign_cli_compile(a, args[0], src, len, escape,
                                       failed ? NULL : &partials);
    }

    data = ngx_campaign_cli_read_json(a, args[1]);

    if (failed || tpl == NULL || data == NULL) {
        cJSON_Delete(data);
        return NGX_CAMPAIGN_CLI_PROBLEM;
    }

    rc = ngx_campaign_template_render(tpl, data, a, &out, &out_len);

    cJSON_Delete(data);

    if (rc != 0) {
        fprintf(stderr, "%s: rendering failed: out of memory or over the "
                "limits\n", args[0]);
        return NGX_CAMPAIGN_CLI_PROBLEM;
    }

    fwrite(out, 1, out_len, stdout);

    return NGX_CAMPAIGN_CLI_OK;
}


/*
 * Reads the --partial files, and checks each one's own syntax (with the
 * partials it includes taken as empty) so that a mistake in a partial is
 * reported in its file, once.  0, or -1 after reporting every problem.
 */

static int
ngx_campaign_cli_read_partials(ngx_campaign_alloc_t *a,
    ngx_campaign_cli_partials_t *partials, char **specs, size_t n)
{
    int                             failed;
    size_t                          i;
    const char                     *eq;
    ngx_campaign_cli_partial_t     *p;
    ngx_campaign_template_opts_t    opts;
    ngx_campaign_template_error_t   err;

    memset(partials, 0, sizeof(ngx_campaign_cli_partials_t));

    partials->partials = ngx_campaign_alloc(a, (n + 1)
                                     * sizeof(ngx_campaign_cli_partial_t));
    if (partials->partials == NULL) {
        fprintf(stderr, "%s: out of memory\n", ngx_campaign_cli_name);
        return -1;
    }

    failed = 0;

    for (i = 0; i < n; i++) {
        eq = strchr(specs[i], '=');

        p = &partials->partials[partials->npartials];
        memset(p, 0, sizeof(ngx_campaign_cli_partial_t));

        p->name = specs[i];
        p->name_len = eq - specs[i];
        p->file = eq + 1;

        p->src = ngx_campaign_definition_read_file(a, p->file, &p->len,
                                                   ngx_campaign_cli_problem,
                                                   stderr);
        if (p->src == NULL) {
            failed = 1;
            continue;
        }

        partials->npartials++;

        memset(&opts, 0, sizeof(ngx_campaign_template_opts_t));
        memset(&err, 0, sizeof(ngx_campaign_template_error_t));

        opts.escape = NGX_CAMPAIGN_ESCAPE_HTML;
        opts.partial = ngx_campaign_cli_no_partial;

        if (ngx_campaign_template_compile_opts(a, p->src, p->len, &opts, &err)
            == NULL)
        {
            failed = 1;

            err.message[sizeof(err.message) - 1] = '\0';
            ngx_campaign_cli_problem(stderr, p->file, NULL, err.line,
                                     err.column,
                                     err.message[0] ? err.message
                                                    : "out of memory");
        }
    }

    return failed ? -1 : 0;
}


static ngx_campaign_template_t *
ngx_campaign_cli_compile(ngx_campaign_alloc_t *a, const char *file,
    const u_char *src, size_t len, ngx_campaign_escape_e escape,
    ngx_campaign_cli_partials_t *partials)
{
    ngx_campaign_template_t        *tpl;
    ngx_campaign_template_opts_t    opts;
    ngx_campaign_template_error_t   err;

    memset(&opts, 0, sizeof(ngx_campaign_template_opts_t));
    memset(&err, 0, sizeof(ngx_campaign_template_error_t));

    /* without partials (some are broken) only its own syntax is checked */

    opts.escape = escape;
    opts.partial = partials ? ngx_campaign_cli_partial
                            : ngx_campaign_cli_no_partial;
    opts.partial_data = partials;

    tpl = ngx_campaign_template_compile_opts(a, src, len, &opts, &err);
    if (tpl != NULL) {
        return tpl;
    }

    err.message[sizeof(err.message) - 1] = '\0';

    ngx_campaign_cli_problem(stderr, file, NULL, err.line, err.column,
                             err.message[0] ? err.message : "out of memory");
    return NULL;
}


static int
ngx_campaign_cli_partial(void *data, const u_char *name, size_t len,
    const u_char **src, size_t *src_len)
{
    ngx_campaign_cli_partials_t *partials = data;

    size_t                       i;
    ngx_campaign_cli_partial_t  *p;

    /* the last --partial of a name wins, as later options usually do */

    for (i = partials->npartials; i > 0; i--) {
        p = &partials->partials[i - 1];

        if (p->name_len == len && memcmp(p->name, name, len) == 0) {
            *src = p->src;
            *src_len = p->len;
            return 0;
        }
    }

    return -1;
}


static int
ngx_campaign_cli_no_partial(void *data, const u_char *name, size_t len,
    const u_char **src, size_t *src_len)
{
    (void) data;
    (void) name;
    (void) len;

    *src = (const u_char *) "";
    *src_len = 0;

    return 0;
}


/* what the module's preview endpoint answers, newline-terminated */

static int
ngx_campaign_cli_preview(ngx_campaign_alloc_t *a, int argc, char **argv)
{
    int               i, rc, nargs;
    cJSON            *data, *profile, *context;
    size_t            j, n, nerrors, len;
    u_char           *json;
    const char       *args[2], *fragments, *profile_file, *context_file;
    ngx_campaign_t  **campaigns, *c;

    nargs = 0;
    fragments = NULL;
    profile_file = NULL;
    context_file = NULL;

    for (i = 0; i < argc; i++) {
        rc = ngx_campaign_cli_option(argc, argv, &i, "--fragments",
                                     &fragments);
        if (rc == 0) {
            rc = ngx_campaign_cli_option(argc, argv, &i, "--profile",
                                         &profile_file);
        }

        if (rc == 0) {
            rc = ngx_campaign_cli_option(argc, argv, &i, "--context",
                                         &context_file);
        }

        if (rc < 0) {
            return NGX_CAMPAIGN_CLI_USAGE;
        }

        if (rc > 0) {
            continue;
        }

        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return ngx_campaign_cli_usage_error("preview: unknown option "
                                                "\"%s\"", argv[i]);
        }

        if (nargs == 2) {
            return ngx_campaign_cli_usage_error("preview: unexpected \"%s\"",
                                                argv[i]);
        }

        args[nargs++] = argv[i];
    }

    if (nargs != 2) {
        return ngx_campaign_cli_usage_error("preview: needs a directory and "
                                            "a campaign id%s", "");
    }

    nerrors = ngx_campaign_definition_load_dir(a, args[0], fragments,
                                               &campaigns, &n,
                                               ngx_campaign_cli_problem,
                                               stderr);
    if (nerrors) {
        fprintf(stderr, "%s: %zu problem%s in %s\n", ngx_campaign_cli_name,
                nerrors, (nerrors == 1) ? "" : "s", args[0]);
        return NGX_CAMPAIGN_CLI_PROBLEM;
    }

    c = NULL;

    for (j = 0; j < n; j++) {
        if (strcmp(campaigns[j]->id, args[1]) == 0) {
            c = campaigns[j];
            break;
        }
    }

    if (c == NULL) {
        fprintf(stderr, "%s: no campaign \"%s\" in %s\n",
                ngx_campaign_cli_name, args[1], args[0]);
        return NGX_CAMPAIGN_CLI_PROBLEM;
    }

    /* {"profile": ..., "context": ...}, each {} when not given */

    profile = profile_file ? ngx_campaign_cli_read_object(a, profile_file)
                           : cJSON_CreateObject();
    context = context_file ? ngx_campaign_cli_read_object(a, context_file)
                           : cJSON_CreateObject();
    data = cJSON_CreateObject();

    if (profile == NULL || context == NULL || data == NULL) {
        cJSON_Delete(profile);
        cJSON_Delete(context);
        cJSON_Delete(data);
        return NGX_CAMPAIGN_CLI_PROBLEM;
    }

    cJSON_AddItemToObject(data, "profile", profile);
    cJSON_AddItemToObject(data, "context", context);

    rc = ngx_campaign_content_preview(a, c, data, &json, &len);

    cJSON_Delete(data);

    if (rc != 0) {
        fprintf(stderr, "%s: rendering \"%s\" failed: out of memory or over "
                "the limits\n", c->file, c->id);
        return NGX_CAMPAIGN_CLI_PROBLEM;
    }

    fwrite(json, 1, len, stdout);
    fputc('\n', stdout);

    return NGX_CAMPAIGN_CLI_OK;
}


/* a profile or a context: a JSON object, as a trigger must carry them */

static cJSON *
ngx_campaign_cli_read_object(ngx_campaign_alloc_t *a, const char *file)
{
    cJSON  *json;

    json = ngx_campaign_cli_read_json(a, file);

    if (json != NULL && !cJSON_IsObject(json)) {
        fprintf(stderr, "%s: must be a JSON object\n", file);
        cJSON_Delete(json);
        return NULL;
    }

    return json;
}


static cJSON *
ngx_campaign_cli_read_json(ngx_campaign_alloc_t *a, const char *file)
{
    u_char  *text;
    size_t   len;

    text = ngx_campaign_definition_read_file(a, file, &len,
                                             ngx_campaign_cli_problem,
                                             stderr);
    if (text == NULL) {
        return NULL;
    }

    return ngx_campaign_definition_parse_json(a, file, text, len,
                                              ngx_campaign_cli_problem,
                                              stderr);
}


/* "file:line:col: field: message", as compilers and editors expect */

static void
ngx_campaign_cli_problem(void *data, const char *file, const char *field,
    size_t line, size_t column, const char *message)
{
    FILE    *f;
    size_t   fline, fcolumn;

    f = data;

    fputs(file ? file : ngx_campaign_cli_name, f);

    /*
     * A field's problem is put where the field is in the file; for a
     * template, where the mistake is inside it.  A JSON syntax error has
     * its file position already.
     */

    if (field && file
        && ngx_campaign_cli_locate(file, field, line, column, &fline,
                                   &fcolumn)
           == 0)
    {
        fprintf(f, ":%zu:%zu: %s: %s\n", fline, fcolumn, field, message);
        return;
    }

    if (line && field == NULL) {
        fprintf(f, ":%zu:%zu", line, column);
    }

    fputs(": ", f);

    if (field) {
        fprintf(f, "%s: ", field);

        if (line) {
            fprintf(f, "line %zu, column %zu: ", line, column);
        }
    }

    fprintf(f, "%s\n", message);
}


/* the file a problem names, read once for all its problems */

static int
ngx_campaign_cli_locate(const char *file, const char *field, size_t line,
    size_t column, size_t *fline, size_t *fcolumn)
{
    long         size;
    FILE        *f;

    static char    *path;
    static u_char  *text;
    static size_t   len;

    if (path == NULL || strcmp(path, file) != 0) {
        free(path);
        free(text);
        path = NULL;
        text = NULL;

        f = fopen(file, "rb");
        if (f == NULL) {
            return -1;
        }

        if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
            || fseek(f, 0, SEEK_SET) != 0)
        {
            fclose(f);
            return -1;
        }

        text = malloc((size_t) size + 1);
        path = strdup(file);

        if (text == NULL || path == NULL
            || fread(text, 1, (size_t) size, f) != (size_t) size)
        {
            fclose(f);
            free(text);
            free(path);
            text = NULL;
            path = NULL;
            return -1;
        }

        fclose(f);
        len = (size_t) size;
    }

    return ngx_campaign_definition_locate(text, len, field, line, column,
                                          fline, fcolumn);
}


/*
 * A new API key: 32 random bytes, base64url, after "ncm_".  The key goes
 * to stdout, once: only its SHA-256 is kept, in the keys file line that
 * goes to stderr ("2>>api-keys" appends it).
 */

static int
ngx_campaign_cli_key(int argc, char **argv)
{
    int             i;
    char            key[4 + 44];
    size_t          n, len;
    unsigned        seen, bits, value;
    unsigned int    mdlen;
    unsigned char   raw[NGX_CAMPAIGN_CLI_KEY_BYTES], md[EVP_MAX_MD_SIZE];

    static const char  b64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    if (argc < 2) {
        return ngx_campaign_cli_usage_error("key: needs a name and at least "
                                            "one scope%s", "");
    }

    len = strlen(argv[0]);

    if (len == 0 || len > NGX_CAMPAIGN_CLI_KEY_NAME
        || strspn(argv[0], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvw"
                           "xyz0123456789-_.") != len)
    {
        return ngx_campaign_cli_usage_error("key: invalid name \"%s\": at "
                                            "most 64 letters, digits, \"-\", "
                                            "\"_\" or \".\"", argv[0]);
    }

    seen = 0;

    for (i = 1; i < argc; i++) {
        if (ngx_campaign_cli_key_scope(argv[i], &seen) != 0) {
            return ngx_campaign_cli_usage_error("key: invalid scope \"%s\": "
                                                "one of trigger, preview, "
                                                "read, stop, each at most "
                                                "once, optionally with \"=\" "
                                                "and campaign id patterns",
                                                argv[i]);
        }
    }

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        fprintf(stderr, "%s: no random bytes for a key\n",
                ngx_campaign_cli_name);
        return NGX_CAMPAIGN_CLI_PROBLEM;
    }

    memcpy(key, "ncm_", 4);
    len = 4;
    bits = 0;
    value = 0;

    for (n = 0; n < sizeof(raw); n++) {
        value = (value << 8) | raw[n];
        bits += 8;

        while (bits >= 6) {
            bits -= 6;
            key[len++] = b64url[(value >> bits) & 0x3f];
        }
    }

    if (bits) {
        key[len++] = b64url[(value << (6 - bits)) & 0x3f];
    }

    if (EVP_Digest(key, len, md, &mdlen, EVP_sha256(), NULL) != 1) {
        fprintf(stderr, "%s: SHA-256 failed\n", ngx_campaign_cli_name);
        return NGX_CAMPAIGN_CLI_PROBLEM;
    }

    printf("%.*s\n", (int) len, key);

    fprintf(stderr, "%s  sha256:", argv[0]);

    for (n = 0; n < mdlen; n++) {
        fprintf(stderr, "%02x", md[n]);
    }

    for (i = 1; i < argc; i++) {
        fprintf(stderr, "  %s", argv[i]);
    }

    fprintf(stderr, "\n");

    memset(key, 0, sizeof(key));
    memset(raw, 0, sizeof(raw));

    return NGX_CAMPAIGN_CLI_OK;
}


/* a scope as campaign_api_keys reads it: "trigger" or "trigger=a-*,b" */

static int
ngx_campaign_cli_key_scope(const char *scope, unsigned *seen)
{
    size_t        len;
    unsigned      s;
    const char   *p;

    static const char  *names[] = { "trigger", "preview", "read", "stop" };

    p = strchr(scope, '=');
    len = p ? (size_t) (p - scope) : strlen(scope);

    for (s = 0; s < 4; s++) {
        if (strlen(names[s]) == len && strncmp(scope, names[s], len) == 0) {
            break;
        }
    }

    if (s == 4 || (*seen & (1u << s))) {
        return -1;
    }

    *seen |= 1u << s;

    if (p == NULL) {
        return 0;
    }

    /* a non-empty list of non-empty patterns, no blanks */

    for (p++; /* void */; p++) {
        len = strcspn(p, ",");

        if (len == 0 || strcspn(p, " \t\r\n#") < len) {
            return -1;
        }

        p += len;

        if (*p == '\0') {
            return 0;
        }
    }
}


/*
 * "--name VALUE" or "--name=VALUE" at argv[*i]: 1 (value set, *i moved
 * past it), 0 when argv[*i] is something else, -1 when the value is
 * missing (reported).
 */

static int
ngx_campaign_cli_option(int argc, char **argv, int *i, const char *name,
    const char **value)
{
    size_t       len;
    const char  *arg;

    arg = argv[*i];
    len = strlen(name);

    if (strncmp(arg, name, len) != 0) {
        return 0;
    }

    if (arg[len] == '=') {
        *value = arg + len + 1;
        return 1;
    }

    if (arg[len] != '\0') {
        return 0;
    }

    if (*i + 1 >= argc) {
        ngx_campaign_cli_usage_error("%s needs a value", name);
        return -1;
    }

    (*i)++;
    *value = argv[*i];

    return 1;
}


static int
ngx_campaign_cli_usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", ngx_campaign_cli_name);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n");

    ngx_campaign_cli_usage(stderr);

    return NGX_CAMPAIGN_CLI_USAGE;
}


static void
ngx_campaign_cli_usage(FILE *f)
{
    fprintf(f,
        "usage: ngx-campaign lint DIR [--fragments DIR]\n"
        "       ngx-campaign render TEMPLATE DATA [--partial NAME=FILE]... "
        "[--text]\n"
        "       ngx-campaign preview DIR CAMPAIGN_ID [--profile FILE] "
        "[--context FILE]\n"
        "                            [--fragments DIR]\n"
        "       ngx-campaign key NAME SCOPE...\n"
        "       ngx-campaign --help | --version\n"
        "\n"
        "lint     checks every campaign file of DIR as nginx does when it\n"
        "         reads its configuration; prints one line per problem,\n"
        "         FILE[:LINE:COL]: [FIELD: ]MESSAGE (for a template, LINE\n"
        "         and COL are in the template); exit status 1 if any\n"
        "render   renders the Mustache TEMPLATE file with the JSON DATA\n"
        "         file to stdout; {{ }} is HTML-escaped unless --text\n"
        "preview  prints what the preview endpoint answers for the\n"
        "         campaign, with the JSON PROFILE and CONTEXT objects\n"
        "key      makes a new API key: prints the key on stdout, once,\n"
        "         and its line for the campaign_api_keys file (NAME, its\n"
        "         SHA-256, the SCOPEs) on stderr; SCOPE is trigger,\n"
        "         preview, read or stop, with =PATTERN,... to name the\n"
        "         campaigns, e.g. 'trigger=order-*,password-reset'\n"
        "\n"
        "exit status: 0 success, 1 problems found, 2 usage error\n");
}
