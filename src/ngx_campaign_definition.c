
/*
 * Copyright (C) ngx_campaign developers
 */


#include <sys/types.h>
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ngx_campaign_definition.h"
#include "ngx_campaign_limits.h"


#define NGX_CAMPAIGN_LENGTH_MAX      2147483647
#define NGX_CAMPAIGN_FILE_MAX        (4 * 1024 * 1024)
#define NGX_CAMPAIGN_NAME_MAX        64      /* ids and fragment names */

#define NGX_CAMPAIGN_DEFAULT_LANGUAGE  "en"

#define ngx_campaign_alpha(c)                                               \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define ngx_campaign_digit(c)        ((c) >= '0' && (c) <= '9')
#define NGX_CAMPAIGN_FRAGMENT_SUFFIX   ".mustache"

#define NGX_CAMPAIGN_PATH_LEN        256
#define NGX_CAMPAIGN_MESSAGE_LEN     512
#define NGX_CAMPAIGN_QUOTE_LEN       64


/* flags of a known key */
#define NGX_CAMPAIGN_KEY_REQUIRED    0x01
#define NGX_CAMPAIGN_KEY_HTML        0x02
#define NGX_CAMPAIGN_KEY_GROUP       0x04     /* an object of templates */


typedef struct {
    const char                        *name;
    unsigned                           flags;     /* NGX_CAMPAIGN_KEY_* */
} ngx_campaign_key_t;


/* a piece usable as the partial {{> name}} */

typedef struct {
    const char                        *name;
    const u_char                      *src;
    size_t                             len;
    const char                        *file;      /* a shared one's path */
    unsigned                           broken:1;  /* reported already */
} ngx_campaign_fragment_t;


typedef struct {
    ngx_campaign_alloc_t              *alloc;
    const char                        *file;
    ngx_campaign_definition_error_pt   error;
    void                              *data;
    size_t                             nerrors;

    ngx_campaign_fragment_t           *shared;    /* of fragments_dir */
    size_t                             nshared;
    ngx_campaign_fragment_t           *own;       /* of the campaign */
    size_t                             nown;

    unsigned                           nomem:1;
    unsigned                           broken:1;  /* a partial was */
    unsigned                           invalid:1; /* reported elsewhere */
} ngx_campaign_definition_ctx_t;


static void ngx_campaign_definition_ctx_init(
    ngx_campaign_definition_ctx_t *ctx, ngx_campaign_alloc_t *a,
    const char *file, ngx_campaign_definition_error_pt error, void *data);
static ngx_campaign_t *ngx_campaign_definition_parse_text(
    ngx_campaign_definition_ctx_t *ctx, const u_char *text, size_t len);
static cJSON *ngx_campaign_definition_json(ngx_campaign_definition_ctx_t *ctx,
    const u_char *text, size_t len);
static void ngx_campaign_definition_syntax_error(
    ngx_campaign_definition_ctx_t *ctx, const u_char *text, size_t len,
    const char *end);
static size_t ngx_campaign_definition_culprit(const u_char *text,
    size_t pos);
static int ngx_campaign_definition_in_object(const u_char *text,
    size_t pos);
static void ngx_campaign_definition_position(const u_char *text,
    size_t pos, size_t *line, size_t *column);
static ngx_campaign_t *ngx_campaign_definition_campaign(
    ngx_campaign_definition_ctx_t *ctx, const cJSON *root);
static const char *ngx_campaign_definition_id(
    ngx_campaign_definition_ctx_t *ctx, const cJSON *root);
static const char *ngx_campaign_definition_text(
    ngx_campaign_definition_ctx_t *ctx, const cJSON *obj, const char *path,
    const char *key, int required, int nonempty);
static int ngx_campaign_definition_enum(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *obj, const char *path, const char *key, int required,
    const char *const *names);
static void ngx_campaign_definition_schedule(
    ngx_campaign_definition_ctx_t *ctx, const cJSON *root,
    ngx_campaign_t *c);
static int ngx_campaign_definition_bound(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *schedule, const char *key, time_t *t);
static int ngx_campaign_definition_rfc3339(const char *s, long long *t);
static int ngx_campaign_definition_digits(const char **p, size_t n);
static long long ngx_campaign_definition_days(long long y, int m, int d);
static void ngx_campaign_definition_throttle(
    ngx_campaign_definition_ctx_t *ctx, const cJSON *root,
    ngx_campaign_t *c);
static int ngx_campaign_definition_bounded(
    ngx_campaign_definition_ctx_t *ctx, const cJSON *obj, const char *path,
    const char *key, int required, unsigned max, const char *unit,
    unsigned *v);
static void ngx_campaign_definition_consent_field(
    ngx_campaign_definition_ctx_t *ctx, const cJSON *root, int marketing,
    ngx_campaign_t *c);
static void ngx_campaign_definition_frequency_cap(
    ngx_campaign_definition_ctx_t *ctx, const cJSON *root, int marketing,
    ngx_campaign_t *c);
static void ngx_campaign_definition_schema(
    ngx_campaign_definition_ctx_t *ctx, const cJSON *root,
    ngx_campaign_t *c);
static void ngx_campaign_definition_rule(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *rule, const char *path, ngx_campaign_field_t *f);
static void ngx_campaign_definition_pattern(
    ngx_campaign_definition_ctx_t *ctx, const cJSON *item, const char *path,
    ngx_campaign_field_t *f);
static void ngx_campaign_pcre2_code_free(void *data);
static void ngx_campaign_pcre2_match_data_free(void *data);
static void ngx_campaign_definition_shared(
    ngx_campaign_definition_ctx_t *ctx, const char *dir);
static void ngx_campaign_definition_fragments(
    ngx_campaign_definition_ctx_t *ctx, const cJSON *root);
static int ngx_campaign_definition_name(const char *s, size_t len);
static void ngx_campaign_definition_check_fragment(
    ngx_campaign_definition_ctx_t *ctx, ngx_campaign_fragment_t *f,
    const char *field);
static ngx_campaign_template_t *ngx_campaign_definition_compile(
    ngx_campaign_definition_ctx_t *ctx, const char *field,
    const u_char *src, size_t len, ngx_campaign_escape_e escape);
static int ngx_campaign_definition_partial(void *data, const u_char *name,
    size_t len, const u_char **src, size_t *src_len);
static ngx_campaign_fragment_t *ngx_campaign_definition_find(
    ngx_campaign_fragment_t *list, size_t n, const u_char *name, size_t len);
static int ngx_campaign_definition_partial_empty(void *data,
    const u_char *name, size_t len, const u_char **src, size_t *src_len);
static void ngx_campaign_definition_content(
    ngx_campaign_definition_ctx_t *ctx, const cJSON *root,
    ngx_campaign_t *c);
static void ngx_campaign_definition_group(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *group, const char *path, const char *name,
    ngx_campaign_t *c);
static void ngx_campaign_definition_template(
    ngx_campaign_definition_ctx_t *ctx, const cJSON *item, const char *path,
    const char *key, const char *group, ngx_campaign_escape_e escape,
    ngx_campaign_t *c);
static const char *ngx_campaign_definition_default_language(
    ngx_campaign_definition_ctx_t *ctx, const cJSON *root);
static int ngx_campaign_definition_language_tag(const char *s);
static void ngx_campaign_definition_languages(
    ngx_campaign_definition_ctx_t *ctx, const cJSON *root,
    const char *default_tag, ngx_campaign_t *c);
static ngx_campaign_content_t *ngx_campaign_definition_translation(
    ngx_campaign_definition_ctx_t *ctx, const cJSON *lang, const char *path,
    const cJSON *content, ngx_campaign_t *c);
static void ngx_campaign_definition_override(
    ngx_campaign_definition_ctx_t *ctx, const cJSON *item,
    const char *field, const char *key, const char *group,
    ngx_campaign_escape_e escape, ngx_campaign_content_t *entries,
    size_t n);
static void ngx_campaign_definition_check_keys(
    ngx_campaign_definition_ctx_t *ctx, const cJSON *obj, const char *path,
    const ngx_campaign_key_t *known, const char *where);
static const cJSON *ngx_campaign_definition_member(
    ngx_campaign_definition_ctx_t *ctx, const cJSON *obj, const char *path,
    const char *key, int type, int required);
static int ngx_campaign_definition_integer(const cJSON *item, double min,
    double max);
static const char *ngx_campaign_json_type_name(int type);
static void ngx_campaign_definition_join(char *buf, const char *path,
    const char *key);
static void ngx_campaign_definition_quote(char *buf, size_t size,
    const char *s, size_t len);
static void *ngx_campaign_definition_alloc(
    ngx_campaign_definition_ctx_t *ctx, size_t size);
static void ngx_campaign_definition_nomem(
    ngx_campaign_definition_ctx_t *ctx);
static char *ngx_campaign_definition_strdup(
    ngx_campaign_definition_ctx_t *ctx, const char *s);
static void ngx_campaign_definition_report(
    ngx_campaign_definition_ctx_t *ctx, const char *field,
    const char *fmt, ...);
static void ngx_campaign_definition_report_at(
    ngx_campaign_definition_ctx_t *ctx, const char *field, size_t line,
    size_t column, const char *fmt, ...);
static void ngx_campaign_definition_vreport(
    ngx_campaign_definition_ctx_t *ctx, const char *field, size_t line,
    size_t column, const char *fmt, va_list args);
static const char **ngx_campaign_definition_list_dir(
    ngx_campaign_definition_ctx_t *ctx, const char *dir, const char *suffix,
    size_t *n);
static u_char *ngx_campaign_definition_read(
    ngx_campaign_definition_ctx_t *ctx, const char *path, size_t *len);
static int ngx_campaign_definition_cmp_paths(const void *one,
    const void *two);


static const ngx_campaign_key_t  ngx_campaign_top_keys[] = {
    { "id", 0 },
    { "name", 0 },
    { "description", 0 },
    { "type", 0 },
    { "status", 0 },
    { "channel", 0 },
    { "namespace", 0 },
    { "schedule", 0 },
    { "throttle", 0 },
    { "frequencyCap", 0 },
    { "consentField", 0 },
    { "context", 0 },
    { "content", 0 },
    { "defaultLanguage", 0 },
    { "languages", 0 },
    { "fragments", 0 },
    { NULL, 0 }
};


static const ngx_campaign_key_t  ngx_campaign_schedule_keys[] = {
    { "start", 0 },
    { "end", 0 },
    { NULL, 0 }
};


static const ngx_campaign_key_t  ngx_campaign_throttle_keys[] = {
    { "rate", 0 },
    { "burst", 0 },
    { NULL, 0 }
};


static const ngx_campaign_key_t  ngx_campaign_frequency_cap_keys[] = {
    { "optOut", 0 },
    { NULL, 0 }
};


static const ngx_campaign_key_t  ngx_campaign_rule_keys[] = {
    { "type", 0 },
    { "required", 0 },
    { "pattern", 0 },
    { "maxLength", 0 },
    { NULL, 0 }
};


/* the content of each channel, in payload order */

static const ngx_campaign_key_t  ngx_campaign_email_keys[] = {
    { "from", NGX_CAMPAIGN_KEY_REQUIRED },
    { "replyTo", 0 },
    { "subject", NGX_CAMPAIGN_KEY_REQUIRED },
    { "html", NGX_CAMPAIGN_KEY_HTML },
    { "text", 0 },
    { NULL, 0 }
};


static const ngx_campaign_key_t  ngx_campaign_sms_keys[] = {
    { "from", 0 },
    { "body", NGX_CAMPAIGN_KEY_REQUIRED },
    { NULL, 0 }
};


static const ngx_campaign_key_t  ngx_campaign_push_keys[] = {
    { "title", NGX_CAMPAIGN_KEY_REQUIRED },
    { "body", NGX_CAMPAIGN_KEY_REQUIRED },
    { "sound", 0 },                       /* APNs aps.sound, FCM's */
    { "badge", 0 },                       /* APNs aps.badge: an integer */
    { "data", NGX_CAMPAIGN_KEY_GROUP },
    { NULL, 0 }
};


static const ngx_campaign_key_t  *ngx_campaign_content_keys[] = {
    ngx_campaign_email_keys,
    ngx_campaign_sms_keys,
    ngx_campaign_push_keys
};


/* indexed by the enums of ngx_campaign_definition.h */

static const char  *ngx_campaign_types[] = {
    "transactional", "marketing", NULL
};

static const char  *ngx_campaign_statuses[] = {
    "draft", "live", "stopped", "archived", NULL
};

static const char  *ngx_campaign_channels[] = {
    "email", "sms", "push", NULL
};

static const char  *ngx_campaign_field_types[] = {
    "any", "string", "number", "integer", "boolean", "object", "array", NULL
};


static void
ngx_campaign_definition_ctx_init(ngx_campaign_definition_ctx_t *ctx,
    ngx_campaign_alloc_t *a, const char *file,
    ngx_campaign_definition_error_pt error, void *data)
{
    memset(ctx, 0, sizeof(ngx_campaign_definition_ctx_t));

    ctx->alloc = a;
    ctx->file = file;
    ctx->error = error;
    ctx->data = data;
}


ngx_campaign_t *
ngx_campaign_definition_parse(ngx_campaign_alloc_t *a, const char *file,
    const u_char *text, size_t len, ngx_campaign_definition_error_pt error,
    void *data)
{
    ngx_campaign_definition_ctx_t  ctx;

    ngx_campaign_definition_ctx_init(&ctx, a, file, error, data);

    return ngx_campaign_definition_parse_text(&ctx, text, len);
}


size_t
ngx_campaign_definition_load_dir(ngx_campaign_alloc_t *a, const char *dir,
    const char *fragments_dir, ngx_campaign_t ***campaigns, size_t *n,
    ngx_campaign_definition_error_pt error, void *data)
{
    size_t                          i, j, len, npaths, ncampaigns;
    u_char                         *text;
    const char                    **paths;
    ngx_campaign_t                 *c, **list;
    ngx_campaign_definition_ctx_t   ctx;

    ngx_campaign_definition_ctx_init(&ctx, a, dir, error, data);

    *campaigns = NULL;
    *n = 0;

    if (fragments_dir != NULL) {
        ngx_campaign_definition_shared(&ctx, fragments_dir);
        ctx.file = dir;
    }

    paths = ngx_campaign_definition_list_dir(&ctx, dir, ".json", &npaths);
    if (paths == NULL || npaths == 0) {
        return ctx.nerrors;
    }

    qsort(paths, npaths, sizeof(const char *),
          ngx_campaign_definition_cmp_paths);

    list = ngx_campaign_definition_alloc(&ctx,
                                         npaths * sizeof(ngx_campaign_t *));
    if (list == NULL) {
        return ctx.nerrors;
    }

    ncampaigns = 0;

    for (i = 0; i < npaths; i++) {
        ctx.file = paths[i];

        text = ngx_campaign_definition_read(&ctx, paths[i], &len);
        if (text == NULL) {
            continue;
        }

        c = ngx_campaign_definition_parse_text(&ctx, text, len);
        if (c == NULL) {
            continue;
        }

        for (j = 0; j < ncampaigns; j++) {
            if (strcmp(list[j]->id, c->id) == 0) {
                ngx_campaign_definition_report(&ctx, "id",
                                      "duplicate id \"%s\", already defined "
                                      "in %s", c->id, list[j]->file);
                break;
            }
        }

        if (j == ncampaigns) {
            list[ncampaigns++] = c;
        }
    }

    *campaigns = list;
    *n = ncampaigns;

    return ctx.nerrors;
}


u_char *
ngx_campaign_definition_read_file(ngx_campaign_alloc_t *a, const char *path,
    size_t *len, ngx_campaign_definition_error_pt error, void *data)
{
    ngx_campaign_definition_ctx_t  ctx;

    ngx_campaign_definition_ctx_init(&ctx, a, path, error, data);

    return ngx_campaign_definition_read(&ctx, path, len);
}


cJSON *
ngx_campaign_definition_parse_json(ngx_campaign_alloc_t *a, const char *file,
    const u_char *text, size_t len, ngx_campaign_definition_error_pt error,
    void *data)
{
    ngx_campaign_definition_ctx_t  ctx;

    ngx_campaign_definition_ctx_init(&ctx, a, file, error, data);

    return ngx_campaign_definition_json(&ctx, text, len);
}


const char *
ngx_campaign_channel_name(ngx_campaign_channel_e channel)
{
    if ((unsigned) channel >= NGX_CAMPAIGN_CHANNEL_COUNT) {
        return "unknown";
    }

    return ngx_campaign_channels[channel];
}


const char *
ngx_campaign_status_name(ngx_campaign_status_e status)
{
    if ((unsigned) status > NGX_CAMPAIGN_ARCHIVED) {
        return "unknown";
    }

    return ngx_campaign_statuses[status];
}


static ngx_campaign_t *
ngx_campaign_definition_parse_text(ngx_campaign_definition_ctx_t *ctx,
    const u_char *text, size_t len)
{
    size_t           nerrors;
    cJSON           *root;
    ngx_campaign_t  *c;

    nerrors = ctx->nerrors;
    ctx->nomem = 0;
    ctx->invalid = 0;
    ctx->own = NULL;
    ctx->nown = 0;

    root = ngx_campaign_definition_json(ctx, text, len);
    if (root == NULL) {
        return NULL;
    }

    if (!cJSON_IsObject(root)) {
        ngx_campaign_definition_report(ctx, NULL,
                                   "must be a JSON object, found %s",
                                   ngx_campaign_json_type_name(root->type));
        cJSON_Delete(root);
        return NULL;
    }

    c = ngx_campaign_definition_campaign(ctx, root);

    /* the campaign's fragments point into the tree */

    ctx->own = NULL;
    ctx->nown = 0;

    cJSON_Delete(root);

    return (ctx->nerrors == nerrors && !ctx->invalid) ? c : NULL;
}


static cJSON *
ngx_campaign_definition_json(ngx_campaign_definition_ctx_t *ctx,
    const u_char *text, size_t len)
{
    size_t       pos, line, column;
    cJSON       *root;
    const char  *end;

    if (len == 0) {
        ngx_campaign_definition_report(ctx, NULL, "empty file");
        return NULL;
    }

    end = NULL;
    root = cJSON_ParseWithLengthOpts((const char *) text, len, &end, 0);

    if (root == NULL) {
        ngx_campaign_definition_syntax_error(ctx, text, len, end);
        return NULL;
    }

    for (pos = (const u_char *) end - text; pos < len; pos++) {
        if (text[pos] != ' ' && text[pos] != '\t' && text[pos] != '\n'
            && text[pos] != '\r')
        {
            ngx_campaign_definition_position(text, pos, &line, &column);
            ngx_campaign_definition_report_at(ctx, NULL, line, column,
                                      "JSON syntax error: unexpected data "
                                      "after the %s",
                                      cJSON_IsObject(root)
                                      ? "campaign object" : "JSON value");
            cJSON_Delete(root);
            return NULL;
        }
    }

    return root;
}


static void
ngx_campaign_definition_syntax_error(ngx_campaign_definition_ctx_t *ctx,
    const u_char *text, size_t len, const char *end)
{
    char         snippet[NGX_CAMPAIGN_QUOTE_LEN + 8];
    size_t       pos, prev, n, line, column;
    u_char      *copy;
    cJSON       *root;
    const char  *end2;

    pos = (end != NULL) ? (size_t) ((const u_char *) end - text) : 0;

    if (pos >= len) {
        pos = len - 1;
    }

    /*
     * cJSON puts an error found at the end of the input on the last byte;
     * parsing again with a byte that no JSON text may hold appended tells
     * a truncated file from a mistake in its last byte.
     */

    if (pos == len - 1) {
        copy = ngx_campaign_definition_alloc(ctx, len + 1);
        if (copy == NULL) {
            return;
        }

        memcpy(copy, text, len);
        copy[len] = '\x01';

        end2 = NULL;
        root = cJSON_ParseWithLengthOpts((const char *) copy, len + 1, &end2,
                                         0);
        cJSON_Delete(root);

        if (end2 != NULL && (const u_char *) end2 - copy >= (ssize_t) pos) {
            pos = (const u_char *) end2 - copy;
        }
    }

    pos = ngx_campaign_definition_culprit(text, pos);

    ngx_campaign_definition_position(text, pos, &line, &column);

    if (pos >= len) {
        ngx_campaign_definition_report_at(ctx, NULL, line, column,
                                          "JSON syntax error: unexpected "
                                          "end of file");
        return;
    }

    for (prev = pos; prev > 0 && text[prev - 1] <= ' '; prev--) {
        /* void */
    }

    if ((text[pos] == '}' || text[pos] == ']')
        && prev > 0 && text[prev - 1] == ',')
    {
        ngx_campaign_definition_report_at(ctx, NULL, line, column,
                                          "JSON syntax error: trailing "
                                          "comma before \"%c\"", text[pos]);
        return;
    }

    for (n = 0; pos + n < len && n < 16; n++) {
        if (text[pos + n] == '\n' || text[pos + n] == '\r') {
            break;
        }
    }

    if (n == 0) {
        ngx_campaign_definition_report_at(ctx, NULL, line, column,
                                          "JSON syntax error at the end of "
                                          "the line");
        return;
    }

    ngx_campaign_definition_quote(snippet, sizeof(snippet),
                                  (const char *) text + pos, n);
    ngx_campaign_definition_report_at(ctx, NULL, line, column,
                                      "JSON syntax error near %s", snippet);
}


/*
 * cJSON points one byte past the culprit when an object key is not
 * a string: {"a": 1,} or {a: 1}.  Only a key may follow "," in an object,
 * and a key or "}" may follow "{", so a byte that follows them (and is not
 * the quote that opens a key) is the culprit.
 */

static size_t
ngx_campaign_definition_culprit(const u_char *text, size_t pos)
{
    u_char  c, before;
    size_t  q;

    if (pos < 2) {
        return pos;
    }

    c = text[pos - 1];

    if (c == '"' || c <= ' ') {
        return pos;
    }

    for (q = pos - 1; q > 0 && text[q - 1] <= ' '; q--) {
        /* void */
    }

    if (q == 0) {
        return pos;
    }

    before = text[q - 1];

    if ((before == '{' && c != '}')
        || (before == ',' && ngx_campaign_definition_in_object(text, q)))
    {
        return pos - 1;
    }

    return pos;
}


/* whether text up to pos, accepted by cJSON, leaves an object open last */

static int
ngx_campaign_definition_in_object(const u_char *text, size_t pos)
{
    int     in_string;
    size_t  i, depth;
    u_char  open[CJSON_NESTING_LIMIT + 1];

    depth = 0;
    in_string = 0;

    for (i = 0; i < pos; i++) {

        if (in_string) {
            if (text[i] == '\\') {
                i++;

            } else if (text[i] == '"') {
                in_string = 0;
            }

            continue;
        }

        switch (text[i]) {

        case '"':
            in_string = 1;
            break;

        case '{':
        case '[':
            if (depth < sizeof(open)) {
                open[depth] = text[i];
            }

            depth++;
            break;

        case '}':
        case ']':
            if (depth > 0) {
                depth--;
            }

            break;
        }
    }

    return depth > 0 && depth <= sizeof(open) && open[depth - 1] == '{';
}


/*
 * 1-based line and column of a byte offset; the column counts characters
 * (UTF-8 sequences), as editors show it, and a byte order mark is not one.
 */

static void
ngx_campaign_definition_position(const u_char *text, size_t pos,
    size_t *line, size_t *column)
{
    size_t  i;

    *line = 1;
    *column = 1;

    i = 0;

    if (pos >= 3 && text[0] == 0xef && text[1] == 0xbb && text[2] == 0xbf) {
        i = 3;
    }

    for ( /* void */ ; i < pos; i++) {

        if (text[i] == '\n') {
            (*line)++;
            *column = 1;

        } else if ((text[i] & 0xc0) != 0x80) {
            (*column)++;
        }
    }
}


static ngx_campaign_t *
ngx_campaign_definition_campaign(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *root)
{
    int              v, type;
    const char      *language;
    ngx_campaign_t  *c;

    c = ngx_campaign_definition_alloc(ctx, sizeof(ngx_campaign_t));
    if (c == NULL) {
        return NULL;
    }

    memset(c, 0, sizeof(ngx_campaign_t));

    if (ctx->file != NULL) {
        c->file = ngx_campaign_definition_strdup(ctx, ctx->file);
    }

    ngx_campaign_definition_check_keys(ctx, root, NULL, ngx_campaign_top_keys,
                                       "");

    c->id = ngx_campaign_definition_id(ctx, root);
    c->name = ngx_campaign_definition_text(ctx, root, NULL, "name", 1, 1);
    c->description = ngx_campaign_definition_text(ctx, root, NULL,
                                                  "description", 0, 0);
    c->namespace = ngx_campaign_definition_text(ctx, root, NULL,
                                                "namespace", 0, 1);

    type = ngx_campaign_definition_enum(ctx, root, NULL, "type", 1,
                                        ngx_campaign_types);
    c->type = (type < 0) ? NGX_CAMPAIGN_TRANSACTIONAL
                         : (ngx_campaign_type_e) type;

    v = ngx_campaign_definition_enum(ctx, root, NULL, "status", 1,
                                     ngx_campaign_statuses);
    c->status = (v < 0) ? NGX_CAMPAIGN_DRAFT : (ngx_campaign_status_e) v;

    v = ngx_campaign_definition_enum(ctx, root, NULL, "channel", 1,
                                     ngx_campaign_channels);
    c->channel = (v < 0) ? NGX_CAMPAIGN_CHANNEL_COUNT
                         : (ngx_campaign_channel_e) v;

    ngx_campaign_definition_schedule(ctx, root, c);
    ngx_campaign_definition_throttle(ctx, root, c);

    /* when the type is wrong, whether it may be capped is not known */

    ngx_campaign_definition_frequency_cap(ctx, root,
                                          (type < 0) ? -1
                                          : (type == NGX_CAMPAIGN_MARKETING),
                                          c);
    ngx_campaign_definition_consent_field(ctx, root,
                                          (type < 0) ? -1
                                          : (type == NGX_CAMPAIGN_MARKETING),
                                          c);
    ngx_campaign_definition_schema(ctx, root, c);

    /* the partials that the templates of content and languages include */

    ngx_campaign_definition_fragments(ctx, root);

    language = ngx_campaign_definition_default_language(ctx, root);

    ngx_campaign_definition_content(ctx, root, c);
    ngx_campaign_definition_languages(ctx, root, language, c);

    return c;
}


static const char *
ngx_campaign_definition_id(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *root)
{
    char          quoted[NGX_CAMPAIGN_QUOTE_LEN + 8];
    size_t        len;
    const cJSON  *item;

    item = ngx_campaign_definition_member(ctx, root, NULL, "id", cJSON_String,
                                          1);
    if (item == NULL) {
        return NULL;
    }

    len = strlen(item->valuestring);

    if (!ngx_campaign_definition_name(item->valuestring, len)) {
        ngx_campaign_definition_quote(quoted, sizeof(quoted),
                                      item->valuestring, len);
        ngx_campaign_definition_report(ctx, "id",
                                       "must match [A-Za-z0-9._-]{1,64}, "
                                       "found %s", quoted);
        return NULL;
    }

    return ngx_campaign_definition_strdup(ctx, item->valuestring);
}


static const char *
ngx_campaign_definition_text(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *obj, const char *path, const char *key, int required,
    int nonempty)
{
    char          field[NGX_CAMPAIGN_PATH_LEN];
    const cJSON  *item;

    item = ngx_campaign_definition_member(ctx, obj, path, key, cJSON_String,
                                          required);
    if (item == NULL) {
        return NULL;
    }

    if (nonempty && item->valuestring[0] == '\0') {
        ngx_campaign_definition_join(field, path, key);
        ngx_campaign_definition_report(ctx, field, "must not be empty");
        return NULL;
    }

    return ngx_campaign_definition_strdup(ctx, item->valuestring);
}


/* the index of the value in names, or -1 when absent or reported */

static int
ngx_campaign_definition_enum(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *obj, const char *path, const char *key, int required,
    const char *const *names)
{
    int           i;
    char          field[NGX_CAMPAIGN_PATH_LEN];
    char          quoted[NGX_CAMPAIGN_QUOTE_LEN + 8];
    char          allowed[NGX_CAMPAIGN_MESSAGE_LEN / 2];
    size_t        n;
    const cJSON  *item;

    item = ngx_campaign_definition_member(ctx, obj, path, key, cJSON_String,
                                          required);
    if (item == NULL) {
        return -1;
    }

    for (i = 0; names[i] != NULL; i++) {
        if (strcmp(item->valuestring, names[i]) == 0) {
            return i;
        }
    }

    n = 0;
    allowed[0] = '\0';

    for (i = 0; names[i] != NULL && n < sizeof(allowed); i++) {
        n += snprintf(allowed + n, sizeof(allowed) - n, "%s\"%s\"",
                      (i == 0) ? "" : ", ", names[i]);
    }

    ngx_campaign_definition_quote(quoted, sizeof(quoted), item->valuestring,
                                  strlen(item->valuestring));
    ngx_campaign_definition_join(field, path, key);
    ngx_campaign_definition_report(ctx, field, "must be one of %s, found %s",
                                   allowed, quoted);

    return -1;
}


static void
ngx_campaign_definition_schedule(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *root, ngx_campaign_t *c)
{
    int           has_start, has_end;
    const cJSON  *schedule;

    schedule = ngx_campaign_definition_member(ctx, root, NULL, "schedule",
                                              cJSON_Object, 0);
    if (schedule == NULL) {
        return;
    }

    ngx_campaign_definition_check_keys(ctx, schedule, "schedule",
                                       ngx_campaign_schedule_keys, "");

    has_start = ngx_campaign_definition_bound(ctx, schedule, "start",
                                              &c->start);
    has_end = ngx_campaign_definition_bound(ctx, schedule, "end", &c->end);

    if (has_start && has_end && c->start >= c->end) {
        ngx_campaign_definition_report(ctx, "schedule.end",
                                       "must be later than schedule.start");
    }
}


/* 1 when the bound is present and valid */

static int
ngx_campaign_definition_bound(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *schedule, const char *key, time_t *t)
{
    int           rc;
    char          field[NGX_CAMPAIGN_PATH_LEN];
    char          quoted[NGX_CAMPAIGN_QUOTE_LEN + 8];
    long long     v;
    const cJSON  *item;

    item = ngx_campaign_definition_member(ctx, schedule, "schedule", key,
                                          cJSON_String, 0);
    if (item == NULL) {
        return 0;
    }

    ngx_campaign_definition_join(field, "schedule", key);

    rc = ngx_campaign_definition_rfc3339(item->valuestring, &v);

    if (rc != 0) {
        ngx_campaign_definition_quote(quoted, sizeof(quoted),
                                      item->valuestring,
                                      strlen(item->valuestring));
        ngx_campaign_definition_report(ctx, field,
                                       "must be an RFC 3339 date and time "
                                       "such as \"2026-01-01T00:00:00Z\" or "
                                       "\"2026-01-01T09:00:00+02:00\", "
                                       "found %s", quoted);
        return 0;
    }

    /* 0 means "no bound", and a time_t may have 32 bits */

    if (v <= 0 || (long long) (time_t) v != v) {
        ngx_campaign_definition_report(ctx, field,
                                       "must be later than "
                                       "1970-01-01T00:00:00Z and fit the "
                                       "system's time_t");
        return 0;
    }

    *t = (time_t) v;

    return 1;
}


/*
 * RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm), "T" and
 * "Z" in either case; fractions of a second are dropped.  0 on success.
 */

static int
ngx_campaign_definition_rfc3339(const char *s, long long *t)
{
    int          year, month, day, hour, min, sec, oh, om, sign, mdays;
    const char  *p;

    static const int  days[] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    p = s;

    year = ngx_campaign_definition_digits(&p, 4);
    if (year < 0 || *p++ != '-') {
        return -1;
    }

    month = ngx_campaign_definition_digits(&p, 2);
    if (month < 1 || month > 12 || *p++ != '-') {
        return -1;
    }

    day = ngx_campaign_definition_digits(&p, 2);

    mdays = days[month - 1];

    if (month == 2
        && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
    {
        mdays = 29;
    }

    if (day < 1 || day > mdays || (*p != 'T' && *p != 't')) {
        return -1;
    }

    p++;

    hour = ngx_campaign_definition_digits(&p, 2);
    if (hour < 0 || hour > 23 || *p++ != ':') {
        return -1;
    }

    min = ngx_campaign_definition_digits(&p, 2);
    if (min < 0 || min > 59 || *p++ != ':') {
        return -1;
    }

    /* 60 is a leap second */

    sec = ngx_campaign_definition_digits(&p, 2);
    if (sec < 0 || sec > 60) {
        return -1;
    }

    if (*p == '.') {
        p++;

        if (*p < '0' || *p > '9') {
            return -1;
        }

        while (*p >= '0' && *p <= '9') {
            p++;
        }
    }

    sign = 0;
    oh = 0;
    om = 0;

    if (*p == 'Z' || *p == 'z') {
        p++;

    } else if (*p == '+' || *p == '-') {
        sign = (*p++ == '+') ? 1 : -1;

        oh = ngx_campaign_definition_digits(&p, 2);
        if (oh < 0 || oh > 23 || *p++ != ':') {
            return -1;
        }

        om = ngx_campaign_definition_digits(&p, 2);
        if (om < 0 || om > 59) {
            return -1;
        }

    } else {
        return -1;
    }

    if (*p != '\0') {
        return -1;
    }

    *t = ngx_campaign_definition_days(year, month, day) * 86400
         + hour * 3600 + min * 60 + sec
         - sign * (oh * 3600 + om * 60);

    return 0;
}


/* exactly n decimal digits, or -1 */

static int
ngx_campaign_definition_digits(const char **p, size_t n)
{
    int          v;
    const char  *s;

    v = 0;

    for (s = *p; n; n--, s++) {
        if (*s < '0' || *s > '9') {
            return -1;
        }

        v = v * 10 + (*s - '0');
    }

    *p = s;

    return v;
}


/* days since 1970-01-01 of a proleptic Gregorian date */

static long long
ngx_campaign_definition_days(long long y, int m, int d)
{
    long long  era, yoe, doy, doe;

    y -= (m <= 2);
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


/*
 * "throttle": 100 (AJO's form: a rate, and a burst of one second of it) or
 * "throttle": {"rate": 100, "burst": 500}
 */

static void
ngx_campaign_definition_throttle(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *root, ngx_campaign_t *c)
{
    unsigned      rate, burst;
    const cJSON  *item;

    item = cJSON_GetObjectItemCaseSensitive(root, "throttle");
    if (item == NULL) {
        return;
    }

    if (cJSON_IsNumber(item)) {
        if (!ngx_campaign_definition_bounded(ctx, root, NULL, "throttle", 1,
                                             NGX_CAMPAIGN_THROTTLE_MAX,
                                             " (messages per second)",
                                             &rate))
        {
            return;
        }

        c->rate = rate;
        c->burst = rate;
        c->has_throttle = 1;

        return;
    }

    if (!cJSON_IsObject(item)) {
        ngx_campaign_definition_report(ctx, "throttle",
                                   "must be a number or an object, found %s",
                                   ngx_campaign_json_type_name(item->type));
        return;
    }

    ngx_campaign_definition_check_keys(ctx, item, "throttle",
                                       ngx_campaign_throttle_keys, "");

    if (!ngx_campaign_definition_bounded(ctx, item, "throttle", "rate", 1,
                                         NGX_CAMPAIGN_THROTTLE_MAX,
                                         " (messages per second)", &rate))
    {
        return;
    }

    burst = rate;

    if (cJSON_GetObjectItemCaseSensitive(item, "burst") != NULL
        && !ngx_campaign_definition_bounded(ctx, item, "throttle", "burst",
                                            0, NGX_CAMPAIGN_BURST_MAX,
                                            " (messages)", &burst))
    {
        return;
    }

    c->rate = rate;
    c->burst = burst;
    c->has_throttle = 1;
}


/* 1 with *v set when the member is an integer from 1 to max */

static int
ngx_campaign_definition_bounded(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *obj, const char *path, const char *key, int required,
    unsigned max, const char *unit, unsigned *v)
{
    char          field[NGX_CAMPAIGN_PATH_LEN];
    const cJSON  *item;

    item = ngx_campaign_definition_member(ctx, obj, path, key, cJSON_Number,
                                          required);
    if (item == NULL) {
        return 0;
    }

    if (!ngx_campaign_definition_integer(item, 1, max)) {
        ngx_campaign_definition_join(field, path, key);
        ngx_campaign_definition_report(ctx, field,
                                       "must be an integer from 1 to %u%s, "
                                       "found %g", max, unit,
                                       item->valuedouble);
        return 0;
    }

    *v = (unsigned) item->valuedouble;

    return 1;
}


/*
 * "frequencyCap": {"optOut": true} exempts a marketing campaign from the
 * frequency rules; a transactional campaign is never capped, so the field
 * there can only be a misunderstanding.  marketing is -1 when the type is
 * not known.
 */

static void
ngx_campaign_definition_frequency_cap(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *root, int marketing, ngx_campaign_t *c)
{
    const cJSON  *cap, *item;

    cap = ngx_campaign_definition_member(ctx, root, NULL, "frequencyCap",
                                         cJSON_Object, 0);
    if (cap == NULL) {
        return;
    }

    if (marketing == 0) {
        ngx_campaign_definition_report(ctx, "frequencyCap",
                                       "applies only to \"type\": "
                                       "\"marketing\": transactional "
                                       "messages are never capped");
        return;
    }

    ngx_campaign_definition_check_keys(ctx, cap, "frequencyCap",
                                       ngx_campaign_frequency_cap_keys, "");

    item = ngx_campaign_definition_member(ctx, cap, "frequencyCap", "optOut",
                                          cJSON_True | cJSON_False, 0);
    if (item != NULL) {
        c->cap_opt_out = cJSON_IsTrue(item) ? 1 : 0;
    }
}


/*
 * "consentField": "path.to.val", the profile field that says "n" when
 * the recipient did not consent to marketing messages; only marketing
 * messages ask for consent.
 */

static void
ngx_campaign_definition_consent_field(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *root, int marketing, ngx_campaign_t *c)
{
    const char   *p;
    const cJSON  *item;

    item = ngx_campaign_definition_member(ctx, root, NULL, "consentField",
                                          cJSON_String, 0);
    if (item == NULL) {
        return;
    }

    if (marketing == 0) {
        ngx_campaign_definition_report(ctx, "consentField",
                                       "applies only to \"type\": "
                                       "\"marketing\": transactional "
                                       "messages need no consent");
        return;
    }

    /* dot-separated names, none empty */

    for (p = item->valuestring; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'
              || (*p == '.' && p != item->valuestring && p[1] != '.'
                  && p[1] != '\0')))
        {
            break;
        }
    }

    if (p == item->valuestring || *p != '\0' || p - item->valuestring > 256)
    {
        ngx_campaign_definition_report(ctx, "consentField",
                                       "must be a dotted path of names "
                                       "([A-Za-z0-9_-]), such as "
                                       "\"consents.marketing.any.val\"");
        return;
    }

    c->consent_field = ngx_campaign_definition_strdup(ctx,
                                                      item->valuestring);
}


static void
ngx_campaign_definition_schema(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *root, ngx_campaign_t *c)
{
    char                   path[NGX_CAMPAIGN_PATH_LEN];
    size_t                 n;
    const cJSON           *schema, *rule;
    ngx_campaign_field_t  *f;

    schema = ngx_campaign_definition_member(ctx, root, NULL, "context",
                                            cJSON_Object, 0);
    if (schema == NULL) {
        return;
    }

    /* the keys are context field names: any is allowed, none twice */

    ngx_campaign_definition_check_keys(ctx, schema, "context", NULL, NULL);

    n = 0;

    for (rule = schema->child; rule != NULL; rule = rule->next) {
        n++;
    }

    if (n == 0) {
        return;
    }

    c->fields = ngx_campaign_definition_alloc(ctx,
                                          n * sizeof(ngx_campaign_field_t));
    if (c->fields == NULL) {
        return;
    }

    for (rule = schema->child; rule != NULL; rule = rule->next) {

        if (rule->string[0] == '\0') {
            ngx_campaign_definition_report(ctx, "context",
                                           "a context field name must not "
                                           "be empty");
            continue;
        }

        ngx_campaign_definition_join(path, "context", rule->string);

        if (!cJSON_IsObject(rule)) {
            ngx_campaign_definition_report(ctx, path,
                                   "must be an object (a field rule), "
                                   "found %s",
                                   ngx_campaign_json_type_name(rule->type));
            continue;
        }

        f = &c->fields[c->nfields++];
        memset(f, 0, sizeof(ngx_campaign_field_t));

        ngx_campaign_definition_rule(ctx, rule, path, f);
    }
}


static void
ngx_campaign_definition_rule(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *rule, const char *path, ngx_campaign_field_t *f)
{
    int           type;
    char          field[NGX_CAMPAIGN_PATH_LEN];
    const cJSON  *item;

    ngx_campaign_definition_check_keys(ctx, rule, path,
                                       ngx_campaign_rule_keys, "");

    f->name = ngx_campaign_definition_strdup(ctx, rule->string);

    /* an invalid "type" is reported once, not again by what depends on it */

    type = NGX_CAMPAIGN_FIELD_ANY;

    if (cJSON_GetObjectItemCaseSensitive(rule, "type") != NULL) {
        type = ngx_campaign_definition_enum(ctx, rule, path, "type", 0,
                                            ngx_campaign_field_types);
    }

    if (type >= 0) {
        f->type = (ngx_campaign_field_type_e) type;
    }

    item = ngx_campaign_definition_member(ctx, rule, path, "required",
                                          cJSON_True | cJSON_False, 0);
    if (item != NULL) {
        f->required = cJSON_IsTrue(item) ? 1 : 0;
    }

    item = ngx_campaign_definition_member(ctx, rule, path, "maxLength",
                                          cJSON_Number, 0);
    if (item != NULL) {
        ngx_campaign_definition_join(field, path, "maxLength");

        if (type >= 0 && type != NGX_CAMPAIGN_FIELD_STRING) {
            ngx_campaign_definition_report(ctx, field,
                                           "applies only to \"type\": "
                                           "\"string\", the type is \"%s\"",
                                           ngx_campaign_field_types[type]);

        } else if (!ngx_campaign_definition_integer(item, 1,
                                                    NGX_CAMPAIGN_LENGTH_MAX))
        {
            ngx_campaign_definition_report(ctx, field,
                                           "must be an integer from 1 to "
                                           "%d, found %g",
                                           NGX_CAMPAIGN_LENGTH_MAX,
                                           item->valuedouble);

        } else {
            f->max_length = (size_t) item->valuedouble;
        }
    }

    item = ngx_campaign_definition_member(ctx, rule, path, "pattern",
                                          cJSON_String, 0);
    if (item != NULL) {
        ngx_campaign_definition_join(field, path, "pattern");

        if (type >= 0 && type != NGX_CAMPAIGN_FIELD_STRING) {
            ngx_campaign_definition_report(ctx, field,
                                           "applies only to \"type\": "
                                           "\"string\", the type is \"%s\"",
                                           ngx_campaign_field_types[type]);

        } else {
            ngx_campaign_definition_pattern(ctx, item, field, f);
        }
    }
}


static void
ngx_campaign_definition_pattern(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *item, const char *path, ngx_campaign_field_t *f)
{
    int                errcode;
    uint32_t           options;
    PCRE2_UCHAR        message[NGX_CAMPAIGN_MESSAGE_LEN / 2];
    pcre2_code        *code;
    PCRE2_SIZE         offset;
    pcre2_match_data  *match_data;

    options = PCRE2_UTF;

#ifdef PCRE2_MATCH_INVALID_UTF
    /* JIT matching does not check UTF-8: make invalid subjects safe */
    options |= PCRE2_MATCH_INVALID_UTF;
#endif

    code = pcre2_compile((PCRE2_SPTR) item->valuestring,
                         strlen(item->valuestring), options, &errcode,
                         &offset, NULL);

    if (code == NULL) {
        if (pcre2_get_error_message(errcode, message, sizeof(message)) < 0) {
            snprintf((char *) message, sizeof(message), "error %d", errcode);
        }

        ngx_campaign_definition_report(ctx, path,
                                       "invalid regular expression at "
                                       "offset %zu: %s",
                                       (size_t) offset, (char *) message);
        return;
    }

    if (ngx_campaign_cleanup(ctx->alloc, ngx_campaign_pcre2_code_free, code)
        != 0)
    {
        pcre2_code_free(code);
        ngx_campaign_definition_nomem(ctx);
        return;
    }

    /* without JIT support (an error here) the interpreter matches */

    (void) pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);

    match_data = pcre2_match_data_create_from_pattern(code, NULL);
    if (match_data == NULL) {
        ngx_campaign_definition_nomem(ctx);
        return;
    }

    if (ngx_campaign_cleanup(ctx->alloc, ngx_campaign_pcre2_match_data_free,
                             match_data)
        != 0)
    {
        pcre2_match_data_free(match_data);
        ngx_campaign_definition_nomem(ctx);
        return;
    }

    f->pattern_src = ngx_campaign_definition_strdup(ctx, item->valuestring);
    f->pattern = code;
    f->match_data = match_data;
}


static void
ngx_campaign_pcre2_code_free(void *data)
{
    pcre2_code_free(data);
}


static void
ngx_campaign_pcre2_match_data_free(void *data)
{
    pcre2_match_data_free(data);
}


/*
 * The shared fragments: every "NAME.mustache" file of the directory.  Each
 * is checked once here, not again in every campaign that includes it.
 */

static void
ngx_campaign_definition_shared(ngx_campaign_definition_ctx_t *ctx,
    const char *dir)
{
    char                      quoted[NGX_CAMPAIGN_QUOTE_LEN + 8];
    size_t                    i, len, npaths;
    u_char                   *text;
    const char               *base, **paths;
    ngx_campaign_fragment_t  *f;

    ctx->file = dir;

    paths = ngx_campaign_definition_list_dir(ctx, dir,
                                             NGX_CAMPAIGN_FRAGMENT_SUFFIX,
                                             &npaths);
    if (paths == NULL || npaths == 0) {
        return;
    }

    qsort(paths, npaths, sizeof(const char *),
          ngx_campaign_definition_cmp_paths);

    ctx->shared = ngx_campaign_definition_alloc(ctx, npaths
                                          * sizeof(ngx_campaign_fragment_t));
    if (ctx->shared == NULL) {
        return;
    }

    for (i = 0; i < npaths; i++) {
        ctx->file = paths[i];

        base = strrchr(paths[i], '/') + 1;
        len = strlen(base) - (sizeof(NGX_CAMPAIGN_FRAGMENT_SUFFIX) - 1);

        if (!ngx_campaign_definition_name(base, len)) {
            ngx_campaign_definition_quote(quoted, sizeof(quoted), base, len);
            ngx_campaign_definition_report(ctx, NULL,
                                           "a fragment name must match "
                                           "[A-Za-z0-9._-]{1,64}, found %s",
                                           quoted);
            continue;
        }

        f = &ctx->shared[ctx->nshared];
        memset(f, 0, sizeof(ngx_campaign_fragment_t));

        f->file = paths[i];
        f->name = ngx_campaign_definition_alloc(ctx, len + 1);
        if (f->name == NULL) {
            continue;
        }

        memcpy((char *) f->name, base, len);
        ((char *) f->name)[len] = '\0';

        text = ngx_campaign_definition_read(ctx, paths[i], &f->len);
        if (text == NULL) {
            continue;
        }

        f->src = text;
        ctx->nshared++;

        ngx_campaign_definition_check_fragment(ctx, f, NULL);
    }
}


/* the campaign's own "fragments": {"name": "template", ...} */

static void
ngx_campaign_definition_fragments(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *root)
{
    char                      field[NGX_CAMPAIGN_PATH_LEN];
    char                      quoted[NGX_CAMPAIGN_QUOTE_LEN + 8];
    size_t                    n;
    const cJSON              *fragments, *item;
    ngx_campaign_fragment_t  *f;

    fragments = ngx_campaign_definition_member(ctx, root, NULL, "fragments",
                                               cJSON_Object, 0);
    if (fragments == NULL) {
        return;
    }

    /* the keys are names the author chooses: any is allowed, none twice */

    ngx_campaign_definition_check_keys(ctx, fragments, "fragments", NULL,
                                       NULL);

    n = cJSON_GetArraySize(fragments);
    if (n == 0) {
        return;
    }

    ctx->own = ngx_campaign_definition_alloc(ctx,
                                        n * sizeof(ngx_campaign_fragment_t));
    if (ctx->own == NULL) {
        return;
    }

    for (item = fragments->child; item != NULL; item = item->next) {
        ngx_campaign_definition_join(field, "fragments", item->string);

        if (!ngx_campaign_definition_name(item->string,
                                          strlen(item->string)))
        {
            ngx_campaign_definition_quote(quoted, sizeof(quoted),
                                          item->string,
                                          strlen(item->string));
            ngx_campaign_definition_report(ctx, "fragments",
                                           "a fragment name must match "
                                           "[A-Za-z0-9._-]{1,64}, found %s",
                                           quoted);
            continue;
        }

        if (!cJSON_IsString(item)) {
            ngx_campaign_definition_report(ctx, field,
                                   "must be a string (a template), "
                                   "found %s",
                                   ngx_campaign_json_type_name(item->type));
            continue;
        }

        f = &ctx->own[ctx->nown++];
        memset(f, 0, sizeof(ngx_campaign_fragment_t));

        f->name = item->string;
        f->src = (const u_char *) item->valuestring;
        f->len = strlen(item->valuestring);

        ngx_campaign_definition_check_fragment(ctx, f, field);
    }
}


/* [A-Za-z0-9._-]{1,64}: a campaign id or a fragment name */

static int
ngx_campaign_definition_name(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > NGX_CAMPAIGN_NAME_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_'
              || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * A fragment's own syntax, with every partial it includes taken as empty:
 * a mistake is reported where it is written, once, and a template that
 * includes the fragment later is not reported again for it.  A shared
 * fragment is reported with its path as the file (field is NULL).
 */

static void
ngx_campaign_definition_check_fragment(ngx_campaign_definition_ctx_t *ctx,
    ngx_campaign_fragment_t *f, const char *field)
{
    ngx_campaign_template_opts_t    opts;
    ngx_campaign_template_error_t   err;

    memset(&opts, 0, sizeof(ngx_campaign_template_opts_t));
    memset(&err, 0, sizeof(ngx_campaign_template_error_t));

    opts.escape = NGX_CAMPAIGN_ESCAPE_HTML;
    opts.partial = ngx_campaign_definition_partial_empty;
    opts.partial_data = ctx;

    if (ngx_campaign_template_compile_opts(ctx->alloc, f->src, f->len, &opts,
                                           &err)
        != NULL)
    {
        return;
    }

    f->broken = 1;

    err.message[sizeof(err.message) - 1] = '\0';

    if (err.message[0] == '\0') {
        ngx_campaign_definition_nomem(ctx);
        return;
    }

    ngx_campaign_definition_report_at(ctx, field, err.line, err.column, "%s",
                                      err.message);
}


/*
 * A template of the campaign, with its partials resolved: the campaign's
 * own fragments first, then the shared ones.
 */

static ngx_campaign_template_t *
ngx_campaign_definition_compile(ngx_campaign_definition_ctx_t *ctx,
    const char *field, const u_char *src, size_t len,
    ngx_campaign_escape_e escape)
{
    ngx_campaign_template_t        *tpl;
    ngx_campaign_template_opts_t    opts;
    ngx_campaign_template_error_t   err;

    memset(&opts, 0, sizeof(ngx_campaign_template_opts_t));
    memset(&err, 0, sizeof(ngx_campaign_template_error_t));

    opts.escape = escape;
    opts.partial = ngx_campaign_definition_partial;
    opts.partial_data = ctx;

    ctx->broken = 0;

    tpl = ngx_campaign_template_compile_opts(ctx->alloc, src, len, &opts,
                                             &err);
    if (tpl != NULL) {
        return tpl;
    }

    /*
     * When a fragment it includes is broken (and reported already), the
     * template is reported only if it fails on its own too
     */

    if (ctx->broken) {
        opts.partial = ngx_campaign_definition_partial_empty;
        memset(&err, 0, sizeof(ngx_campaign_template_error_t));

        if (ngx_campaign_template_compile_opts(ctx->alloc, src, len, &opts,
                                               &err)
            != NULL)
        {
            ctx->invalid = 1;
            return NULL;
        }
    }

    err.message[sizeof(err.message) - 1] = '\0';

    if (err.message[0] == '\0') {
        ngx_campaign_definition_nomem(ctx);
        return NULL;
    }

    ngx_campaign_definition_report_at(ctx, field, err.line, err.column, "%s",
                                      err.message);
    return NULL;
}


static int
ngx_campaign_definition_partial(void *data, const u_char *name, size_t len,
    const u_char **src, size_t *src_len)
{
    ngx_campaign_definition_ctx_t *ctx = data;

    ngx_campaign_fragment_t  *f;

    f = ngx_campaign_definition_find(ctx->own, ctx->nown, name, len);

    if (f == NULL) {
        f = ngx_campaign_definition_find(ctx->shared, ctx->nshared, name,
                                         len);
        if (f == NULL) {
            return -1;
        }
    }

    if (f->broken) {
        ctx->broken = 1;
    }

    *src = f->src;
    *src_len = f->len;

    return 0;
}


static ngx_campaign_fragment_t *
ngx_campaign_definition_find(ngx_campaign_fragment_t *list, size_t n,
    const u_char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (strlen(list[i].name) == len
            && memcmp(list[i].name, name, len) == 0)
        {
            return &list[i];
        }
    }

    return NULL;
}


static int
ngx_campaign_definition_partial_empty(void *data, const u_char *name,
    size_t len, const u_char **src, size_t *src_len)
{
    (void) data;
    (void) name;
    (void) len;

    *src = (const u_char *) "";
    *src_len = 0;

    return 0;
}


static void
ngx_campaign_definition_content(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *root, ngx_campaign_t *c)
{
    char                       path[NGX_CAMPAIGN_PATH_LEN];
    char                       where[32];
    size_t                     n;
    const cJSON               *content, *item;
    ngx_campaign_escape_e      escape;
    const ngx_campaign_key_t  *k, *keys;

    content = ngx_campaign_definition_member(ctx, root, NULL, "content",
                                             cJSON_Object, 1);

    /* which keys are allowed depends on a valid channel */

    if (content == NULL || c->channel >= NGX_CAMPAIGN_CHANNEL_COUNT) {
        return;
    }

    keys = ngx_campaign_content_keys[c->channel];

    snprintf(where, sizeof(where), " for channel \"%s\"",
             ngx_campaign_channels[c->channel]);

    ngx_campaign_definition_check_keys(ctx, content, "content", keys, where);

    n = 0;

    for (k = keys; k->name != NULL; k++) {
        item = cJSON_GetObjectItemCaseSensitive(content, k->name);

        if ((k->flags & NGX_CAMPAIGN_KEY_GROUP) && cJSON_IsObject(item)) {
            n += cJSON_GetArraySize(item);

        } else {
            n++;
        }
    }

    c->content = ngx_campaign_definition_alloc(ctx,
                                        n * sizeof(ngx_campaign_content_t));
    if (c->content == NULL) {
        return;
    }

    for (k = keys; k->name != NULL; k++) {
        ngx_campaign_definition_join(path, "content", k->name);

        if (k->flags & NGX_CAMPAIGN_KEY_GROUP) {
            item = ngx_campaign_definition_member(ctx, content, "content",
                                                  k->name, cJSON_Object, 0);
            if (item != NULL) {
                ngx_campaign_definition_group(ctx, item, path, k->name, c);
            }

            continue;
        }

        item = cJSON_GetObjectItemCaseSensitive(content, k->name);

        if (item == NULL && (k->flags & NGX_CAMPAIGN_KEY_REQUIRED)) {
            ngx_campaign_definition_report(ctx, path,
                                           "required field is missing "
                                           "(channel \"%s\")",
                                           ngx_campaign_channels[c->channel]);
            continue;
        }

        item = ngx_campaign_definition_member(ctx, content, "content",
                                              k->name, cJSON_String, 0);
        if (item == NULL) {
            continue;
        }

        escape = (k->flags & NGX_CAMPAIGN_KEY_HTML) ? NGX_CAMPAIGN_ESCAPE_HTML
                                                    : NGX_CAMPAIGN_ESCAPE_NONE;

        ngx_campaign_definition_template(ctx, item, path, k->name, NULL,
                                         escape, c);
    }

    if (c->channel == NGX_CAMPAIGN_CHANNEL_EMAIL
        && cJSON_GetObjectItemCaseSensitive(content, "html") == NULL
        && cJSON_GetObjectItemCaseSensitive(content, "text") == NULL)
    {
        ngx_campaign_definition_report(ctx, "content",
                                       "an e-mail needs \"html\", \"text\" "
                                       "or both");
    }
}


/* an object of templates, such as push "data": keys are the author's */

static void
ngx_campaign_definition_group(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *group, const char *path, const char *name,
    ngx_campaign_t *c)
{
    char          field[NGX_CAMPAIGN_PATH_LEN];
    const char   *key;
    const cJSON  *item;

    ngx_campaign_definition_check_keys(ctx, group, path, NULL, NULL);

    for (item = group->child; item != NULL; item = item->next) {
        ngx_campaign_definition_join(field, path, item->string);

        if (item->string[0] == '\0') {
            ngx_campaign_definition_report(ctx, path,
                                           "a key must not be empty");
            continue;
        }

        if (!cJSON_IsString(item)) {
            ngx_campaign_definition_report(ctx, field,
                                   "must be a string (a template), "
                                   "found %s",
                                   ngx_campaign_json_type_name(item->type));
            continue;
        }

        key = ngx_campaign_definition_strdup(ctx, item->string);
        if (key == NULL) {
            return;
        }

        ngx_campaign_definition_template(ctx, item, field, key, name,
                                         NGX_CAMPAIGN_ESCAPE_NONE, c);
    }
}


static void
ngx_campaign_definition_template(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *item, const char *path, const char *key, const char *group,
    ngx_campaign_escape_e escape, ngx_campaign_t *c)
{
    ngx_campaign_content_t   *entry;
    ngx_campaign_template_t  *tpl;

    tpl = ngx_campaign_definition_compile(ctx, path,
                                          (const u_char *) item->valuestring,
                                          strlen(item->valuestring), escape);
    if (tpl == NULL) {
        return;
    }

    entry = &c->content[c->ncontent++];

    entry->key = key;
    entry->group = group;
    entry->tpl = tpl;
}


/* "defaultLanguage", or NULL when it is wrong (reported) */

static const char *
ngx_campaign_definition_default_language(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *root)
{
    char          quoted[NGX_CAMPAIGN_QUOTE_LEN + 8];
    const cJSON  *item;

    item = ngx_campaign_definition_member(ctx, root, NULL, "defaultLanguage",
                                          cJSON_String, 0);
    if (item == NULL) {
        return cJSON_GetObjectItemCaseSensitive(root, "defaultLanguage")
               ? NULL : NGX_CAMPAIGN_DEFAULT_LANGUAGE;
    }

    if (!ngx_campaign_definition_language_tag(item->valuestring)) {
        ngx_campaign_definition_quote(quoted, sizeof(quoted),
                                      item->valuestring,
                                      strlen(item->valuestring));
        ngx_campaign_definition_report(ctx, "defaultLanguage",
                                       "must be a language tag such as "
                                       "\"en\", \"fr\" or \"pt-BR\" "
                                       "([A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*), "
                                       "found %s", quoted);
        return NULL;
    }

    return ngx_campaign_definition_strdup(ctx, item->valuestring);
}


/* a BCP 47 tag as campaigns write it: [A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})* */

static int
ngx_campaign_definition_language_tag(const char *s)
{
    size_t  n;

    for (n = 0; ngx_campaign_alpha(s[n]); n++) {
        /* void */
    }

    if (n < 2 || n > 3) {
        return 0;
    }

    s += n;

    while (*s == '-') {
        s++;

        for (n = 0; ngx_campaign_alpha(s[n]) || ngx_campaign_digit(s[n]); n++)
        {
            /* void */
        }

        if (n < 2 || n > 8) {
            return 0;
        }

        s += n;
    }

    return *s == '\0';
}


/*
 * "languages": {"fr": {...}, "de": {...}}, each the fields of "content"
 * that the language changes; the others fall back to "content"'s here.
 */

static void
ngx_campaign_definition_languages(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *root, const char *default_tag, ngx_campaign_t *c)
{
    char                      path[NGX_CAMPAIGN_PATH_LEN];
    char                      quoted[NGX_CAMPAIGN_QUOTE_LEN + 8];
    size_t                    n;
    const cJSON              *languages, *content, *item, *prev;
    ngx_campaign_content_t   *entries;
    ngx_campaign_language_t  *lang;

    languages = ngx_campaign_definition_member(ctx, root, NULL, "languages",
                                               cJSON_Object, 0);

    n = 1 + (languages ? cJSON_GetArraySize(languages) : 0);

    c->languages = ngx_campaign_definition_alloc(ctx,
                                        n * sizeof(ngx_campaign_language_t));
    if (c->languages == NULL) {
        return;
    }

    c->languages[0].tag = default_tag ? default_tag
                                      : NGX_CAMPAIGN_DEFAULT_LANGUAGE;
    c->languages[0].content = c->content;
    c->nlanguages = 1;

    if (languages == NULL) {
        return;
    }

    ngx_campaign_definition_check_keys(ctx, languages, "languages", NULL,
                                       NULL);

    /* which keys a language takes depends on a valid channel */

    content = cJSON_GetObjectItemCaseSensitive(root, "content");

    if (!cJSON_IsObject(content)
        || c->channel >= NGX_CAMPAIGN_CHANNEL_COUNT)
    {
        content = NULL;
    }

    for (item = languages->child; item != NULL; item = item->next) {
        ngx_campaign_definition_join(path, "languages", item->string);

        if (!ngx_campaign_definition_language_tag(item->string)) {
            ngx_campaign_definition_quote(quoted, sizeof(quoted),
                                          item->string,
                                          strlen(item->string));
            ngx_campaign_definition_report(ctx, path,
                                           "must be a language tag such as "
                                           "\"fr\" or \"pt-BR\" "
                                           "([A-Za-z]{2,3}"
                                           "(-[A-Za-z0-9]{2,8})*), "
                                           "found %s", quoted);
            continue;
        }

        if (default_tag != NULL && strcasecmp(item->string, default_tag) == 0)
        {
            ngx_campaign_definition_report(ctx, path,
                                           "is the default language "
                                           "(\"defaultLanguage\": \"%s\"), "
                                           "whose content is \"content\"",
                                           default_tag);
            continue;
        }

        /* tags are case-insensitive; a key written twice is reported */

        for (prev = languages->child; prev != item; prev = prev->next) {
            if (strcasecmp(prev->string, item->string) == 0) {
                break;
            }
        }

        if (prev != item) {
            if (strcmp(prev->string, item->string) != 0) {
                ngx_campaign_definition_report(ctx, path,
                                               "the same language as "
                                               "\"%s\"", prev->string);
            }

            continue;
        }

        if (!cJSON_IsObject(item)) {
            ngx_campaign_definition_report(ctx, path,
                                   "must be an object (the language's "
                                   "content), found %s",
                                   ngx_campaign_json_type_name(item->type));
            continue;
        }

        if (content == NULL) {
            continue;
        }

        entries = ngx_campaign_definition_translation(ctx, item, path,
                                                      content, c);
        if (entries == NULL) {
            continue;
        }

        lang = &c->languages[c->nlanguages++];

        lang->tag = ngx_campaign_definition_strdup(ctx, item->string);
        lang->content = entries;
    }
}


/*
 * A language's content: a copy of the default content's entries with the
 * language's templates in place of those it gives.  It may give only
 * fields that "content" has, so that every language has the same entries.
 */

static ngx_campaign_content_t *
ngx_campaign_definition_translation(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *lang, const char *path, const cJSON *content,
    ngx_campaign_t *c)
{
    char                       field[NGX_CAMPAIGN_PATH_LEN];
    char                       entry[NGX_CAMPAIGN_PATH_LEN];
    char                       where[32];
    const cJSON               *item, *group, *sub;
    ngx_campaign_escape_e      escape;
    ngx_campaign_content_t    *entries;
    const ngx_campaign_key_t  *k, *keys;

    keys = ngx_campaign_content_keys[c->channel];

    snprintf(where, sizeof(where), " for channel \"%s\"",
             ngx_campaign_channels[c->channel]);

    ngx_campaign_definition_check_keys(ctx, lang, path, keys, where);

    entries = ngx_campaign_definition_alloc(ctx,
                               (c->ncontent + 1)
                               * sizeof(ngx_campaign_content_t));
    if (entries == NULL) {
        return NULL;
    }

    if (c->ncontent) {
        memcpy(entries, c->content,
               c->ncontent * sizeof(ngx_campaign_content_t));
    }

    for (k = keys; k->name != NULL; k++) {

        if (cJSON_GetObjectItemCaseSensitive(lang, k->name) == NULL) {
            continue;
        }

        ngx_campaign_definition_join(field, path, k->name);

        if (cJSON_GetObjectItemCaseSensitive(content, k->name) == NULL) {
            ngx_campaign_definition_report(ctx, field,
                                           "is not in \"content\": a "
                                           "language can only change the "
                                           "fields of the default content");
            continue;
        }

        if (!(k->flags & NGX_CAMPAIGN_KEY_GROUP)) {
            item = ngx_campaign_definition_member(ctx, lang, path, k->name,
                                                  cJSON_String, 0);
            if (item == NULL) {
                continue;
            }

            escape = (k->flags & NGX_CAMPAIGN_KEY_HTML)
                     ? NGX_CAMPAIGN_ESCAPE_HTML : NGX_CAMPAIGN_ESCAPE_NONE;

            ngx_campaign_definition_override(ctx, item, field, k->name, NULL,
                                             escape, entries, c->ncontent);
            continue;
        }

        group = ngx_campaign_definition_member(ctx, lang, path, k->name,
                                               cJSON_Object, 0);
        if (group == NULL) {
            continue;
        }

        ngx_campaign_definition_check_keys(ctx, group, field, NULL, NULL);

        item = cJSON_GetObjectItemCaseSensitive(content, k->name);

        for (sub = group->child; sub != NULL; sub = sub->next) {
            ngx_campaign_definition_join(entry, field, sub->string);

            if (!cJSON_IsObject(item)
                || cJSON_GetObjectItemCaseSensitive(item, sub->string)
                   == NULL)
            {
                ngx_campaign_definition_report(ctx, entry,
                                               "is not in \"content.%s\": "
                                               "a language can only change "
                                               "the fields of the default "
                                               "content", k->name);
                continue;
            }

            if (!cJSON_IsString(sub)) {
                ngx_campaign_definition_report(ctx, entry,
                                   "must be a string (a template), "
                                   "found %s",
                                   ngx_campaign_json_type_name(sub->type));
                continue;
            }

            ngx_campaign_definition_override(ctx, sub, entry, sub->string,
                                             k->name,
                                             NGX_CAMPAIGN_ESCAPE_NONE,
                                             entries, c->ncontent);
        }
    }

    return entries;
}


/* compiles item in place of the default's entry key (of group) */

static void
ngx_campaign_definition_override(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *item, const char *field, const char *key, const char *group,
    ngx_campaign_escape_e escape, ngx_campaign_content_t *entries, size_t n)
{
    size_t                    i;
    ngx_campaign_template_t  *tpl;

    tpl = ngx_campaign_definition_compile(ctx, field,
                                          (const u_char *) item->valuestring,
                                          strlen(item->valuestring), escape);
    if (tpl == NULL) {
        return;
    }

    /* not found: the default's entry failed, and was reported */

    for (i = 0; i < n; i++) {
        if (strcmp(entries[i].key, key) == 0
            && (group == NULL
                ? entries[i].group == NULL
                : entries[i].group != NULL
                  && strcmp(entries[i].group, group) == 0))
        {
            entries[i].tpl = tpl;
            return;
        }
    }
}


/*
 * Reports keys that appear twice and, when known is given, keys not in it
 * but for comments ("_..." and "$...").
 */

static void
ngx_campaign_definition_check_keys(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *obj, const char *path, const ngx_campaign_key_t *known,
    const char *where)
{
    char                       field[NGX_CAMPAIGN_PATH_LEN];
    char                       allowed[NGX_CAMPAIGN_MESSAGE_LEN / 2];
    size_t                     n;
    const cJSON               *item, *prev;
    const ngx_campaign_key_t  *k;

    allowed[0] = '\0';

    if (known != NULL) {
        n = 0;

        for (k = known; k->name != NULL && n < sizeof(allowed); k++) {
            n += snprintf(allowed + n, sizeof(allowed) - n, "%s%s",
                          (k == known) ? "" : ", ", k->name);
        }
    }

    for (item = obj->child; item != NULL; item = item->next) {
        ngx_campaign_definition_join(field, path, item->string);

        for (prev = obj->child; prev != item; prev = prev->next) {
            if (strcmp(prev->string, item->string) == 0) {
                ngx_campaign_definition_report(ctx, field, "duplicate key");
                break;
            }
        }

        if (known == NULL || prev != item
            || item->string[0] == '_' || item->string[0] == '$')
        {
            continue;
        }

        for (k = known; k->name != NULL; k++) {
            if (strcmp(k->name, item->string) == 0) {
                break;
            }
        }

        if (k->name == NULL) {
            ngx_campaign_definition_report(ctx, field,
                                           "unknown key%s (allowed: %s)",
                                           where, allowed);
        }
    }
}


/*
 * The member key of obj when present and of the type (a mask of cJSON
 * types); NULL when absent (reported if required) or of another type
 * (reported).
 */

static const cJSON *
ngx_campaign_definition_member(ngx_campaign_definition_ctx_t *ctx,
    const cJSON *obj, const char *path, const char *key, int type,
    int required)
{
    char          field[NGX_CAMPAIGN_PATH_LEN];
    const cJSON  *item;

    item = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (item != NULL && (item->type & 0xff & type)) {
        return item;
    }

    ngx_campaign_definition_join(field, path, key);

    if (item == NULL) {
        if (required) {
            ngx_campaign_definition_report(ctx, field,
                                           "required field is missing");
        }

        return NULL;
    }

    ngx_campaign_definition_report(ctx, field, "must be %s %s, found %s",
                                   (type & cJSON_Object) ? "an" : "a",
                                   ngx_campaign_json_type_name(type),
                                   ngx_campaign_json_type_name(item->type));
    return NULL;
}


static int
ngx_campaign_definition_integer(const cJSON *item, double min, double max)
{
    double  v;

    v = item->valuedouble;

    /* the range check first: the cast is defined only within it */

    return v >= min && v <= max && (double) (long long) v == v;
}


static const char *
ngx_campaign_json_type_name(int type)
{
    switch (type & 0xff) {

    case cJSON_False:
    case cJSON_True:
    case cJSON_True | cJSON_False:
        return "boolean";

    case cJSON_NULL:
        return "null";

    case cJSON_Number:
        return "number";

    case cJSON_String:
        return "string";

    case cJSON_Array:
        return "array";

    case cJSON_Object:
        return "object";

    default:
        return "invalid value";
    }
}


/* "path.key", cut to NGX_CAMPAIGN_PATH_LEN: only absurd names are that long */

static void
ngx_campaign_definition_join(char *buf, const char *path, const char *key)
{
    size_t  n, len;

    n = 0;

    if (path != NULL && path[0] != '\0') {
        n = strlen(path);

        if (n > NGX_CAMPAIGN_PATH_LEN - 2) {
            n = NGX_CAMPAIGN_PATH_LEN - 2;
        }

        memcpy(buf, path, n);
        buf[n++] = '.';
    }

    len = strlen(key);

    if (len > NGX_CAMPAIGN_PATH_LEN - 1 - n) {
        len = NGX_CAMPAIGN_PATH_LEN - 1 - n;
    }

    memcpy(buf + n, key, len);
    buf[n + len] = '\0';
}


/*
 * A value from the file quoted for a message: at most NGX_CAMPAIGN_QUOTE_LEN
 * bytes of it, control characters escaped, so a log line stays one line.
 */

static void
ngx_campaign_definition_quote(char *buf, size_t size, const char *s,
    size_t len)
{
    size_t  i, n;

    n = 0;
    buf[n++] = '"';

    /* room for an escape, the closing quote, "..." and the NUL */

    for (i = 0; i < len && n + 9 <= size; i++) {

        if ((u_char) s[i] < 0x20 || s[i] == 0x7f) {
            n += snprintf(buf + n, size - n, "\\x%02x", (u_char) s[i]);

        } else if (s[i] == '"' || s[i] == '\\') {
            buf[n++] = '\\';
            buf[n++] = s[i];

        } else {
            buf[n++] = s[i];
        }
    }

    buf[n++] = '"';

    if (i < len) {
        buf[n++] = '.';
        buf[n++] = '.';
        buf[n++] = '.';
    }

    buf[n] = '\0';
}


static void *
ngx_campaign_definition_alloc(ngx_campaign_definition_ctx_t *ctx,
    size_t size)
{
    void  *p;

    p = ngx_campaign_alloc(ctx->alloc, size);
    if (p == NULL) {
        ngx_campaign_definition_nomem(ctx);
    }

    return p;
}


/* reported once per file: what follows would only repeat it */

static void
ngx_campaign_definition_nomem(ngx_campaign_definition_ctx_t *ctx)
{
    if (!ctx->nomem) {
        ctx->nomem = 1;
        ngx_campaign_definition_report(ctx, NULL, "out of memory");
    }
}


static char *
ngx_campaign_definition_strdup(ngx_campaign_definition_ctx_t *ctx,
    const char *s)
{
    char    *p;
    size_t   len;

    len = strlen(s) + 1;

    p = ngx_campaign_definition_alloc(ctx, len);
    if (p == NULL) {
        return NULL;
    }

    return memcpy(p, s, len);
}


static void
ngx_campaign_definition_report(ngx_campaign_definition_ctx_t *ctx,
    const char *field, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ngx_campaign_definition_vreport(ctx, field, 0, 0, fmt, args);
    va_end(args);
}


static void
ngx_campaign_definition_report_at(ngx_campaign_definition_ctx_t *ctx,
    const char *field, size_t line, size_t column, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ngx_campaign_definition_vreport(ctx, field, line, column, fmt, args);
    va_end(args);
}


static void
ngx_campaign_definition_vreport(ngx_campaign_definition_ctx_t *ctx,
    const char *field, size_t line, size_t column, const char *fmt,
    va_list args)
{
    char  message[NGX_CAMPAIGN_MESSAGE_LEN];

    vsnprintf(message, sizeof(message), fmt, args);

    ctx->nerrors++;

    if (ctx->error != NULL) {
        ctx->error(ctx->data, ctx->file, field, line, column, message);
    }
}


/* the paths of the directory's regular "*suffix" files, in no order */

static const char **
ngx_campaign_definition_list_dir(ngx_campaign_definition_ctx_t *ctx,
    const char *dir, const char *suffix, size_t *n)
{
    int              err;
    DIR             *d;
    char            *path;
    size_t           len, dlen, slen, nalloc;
    const char     **paths, **p;
    struct stat      st;
    struct dirent   *de;

    *n = 0;

    d = opendir(dir);
    if (d == NULL) {
        ngx_campaign_definition_report(ctx, NULL, "opendir() failed: %s",
                                       strerror(errno));
        return NULL;
    }

    dlen = strlen(dir);
    slen = strlen(suffix);

    while (dlen > 1 && dir[dlen - 1] == '/') {
        dlen--;
    }

    paths = NULL;
    nalloc = 0;

    for ( ;; ) {
        errno = 0;

        de = readdir(d);
        if (de == NULL) {
            err = errno;

            if (err != 0) {
                ngx_campaign_definition_report(ctx, NULL,
                                               "readdir() failed: %s",
                                               strerror(err));
            }

            break;
        }

        len = strlen(de->d_name);

        if (de->d_name[0] == '.'
            || len <= slen
            || strcmp(de->d_name + len - slen, suffix) != 0)
        {
            continue;
        }

        path = ngx_campaign_definition_alloc(ctx, dlen + 1 + len + 1);
        if (path == NULL) {
            break;
        }

        memcpy(path, dir, dlen);
        path[dlen] = '/';
        memcpy(path + dlen + 1, de->d_name, len + 1);

        /* stat(), not lstat(): a symlink to a campaign file is one */

        if (stat(path, &st) == -1) {
            ctx->file = path;
            ngx_campaign_definition_report(ctx, NULL, "stat() failed: %s",
                                           strerror(errno));
            ctx->file = dir;
            continue;
        }

        if (!S_ISREG(st.st_mode)) {
            continue;
        }

        /* the old array stays in the pool: at most as much as the last */

        if (*n == nalloc) {
            nalloc = nalloc ? nalloc * 2 : 16;

            p = ngx_campaign_definition_alloc(ctx,
                                              nalloc * sizeof(const char *));
            if (p == NULL) {
                break;
            }

            if (*n) {
                memcpy(p, paths, *n * sizeof(const char *));
            }

            paths = p;
        }

        paths[(*n)++] = path;
    }

    closedir(d);

    return paths;
}


static u_char *
ngx_campaign_definition_read(ngx_campaign_definition_ctx_t *ctx,
    const char *path, size_t *len)
{
    int           fd;
    u_char       *text;
    size_t        size;
    ssize_t       n;
    struct stat   st;

    fd = open(path, O_RDONLY);
    if (fd == -1) {
        ngx_campaign_definition_report(ctx, NULL, "open() failed: %s",
                                       strerror(errno));
        return NULL;
    }

    if (fstat(fd, &st) == -1) {
        ngx_campaign_definition_report(ctx, NULL, "fstat() failed: %s",
                                       strerror(errno));
        close(fd);
        return NULL;
    }

    if (st.st_size > NGX_CAMPAIGN_FILE_MAX) {
        ngx_campaign_definition_report(ctx, NULL,
                                       "file is too large: %lld bytes, "
                                       "at most %d",
                                       (long long) st.st_size,
                                       NGX_CAMPAIGN_FILE_MAX);
        close(fd);
        return NULL;
    }

    /* one byte more, to notice a file that grew past its fstat() size */

    size = (size_t) st.st_size;

    text = ngx_campaign_definition_alloc(ctx, size + 1);
    if (text == NULL) {
        close(fd);
        return NULL;
    }

    *len = 0;

    while (*len < size + 1) {
        n = read(fd, text + *len, size + 1 - *len);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            ngx_campaign_definition_report(ctx, NULL, "read() failed: %s",
                                           strerror(errno));
            close(fd);
            return NULL;
        }

        if (n == 0) {
            break;
        }

        *len += n;
    }

    close(fd);

    if (*len > size) {
        ngx_campaign_definition_report(ctx, NULL,
                                       "file changed while being read");
        return NULL;
    }

    text[*len] = '\0';

    return text;
}


static int
ngx_campaign_definition_cmp_paths(const void *one, const void *two)
{
    return strcmp(*(const char *const *) one, *(const char *const *) two);
}


/*
 * Where a field of a campaign file is in the file's text: the first
 * character of its value or, for a template (tline > 0), the character of
 * the template at tline:tcolumn inside the JSON string that holds it.
 * Positions are 1-based, columns count characters.  A small scanner of
 * its own: cJSON keeps no positions.
 */

static const u_char *ngx_campaign_locate_ws(const u_char *p,
    const u_char *end);
static const u_char *ngx_campaign_locate_skip(const u_char *p,
    const u_char *end, size_t depth);
static const u_char *ngx_campaign_locate_member(const u_char *p,
    const u_char *end, const char *path, size_t depth);
static const u_char *ngx_campaign_locate_element(const u_char *p,
    const u_char *end, const char *path, size_t depth);
static const u_char *ngx_campaign_locate_in_string(const u_char *p,
    const u_char *end, size_t tline, size_t tcolumn);


int
ngx_campaign_definition_locate(const u_char *text, size_t len,
    const char *field, size_t tline, size_t tcolumn, size_t *line,
    size_t *column)
{
    const u_char  *p, *end, *at;

    end = text + len;
    p = text;

    if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        p += 3;
    }

    p = ngx_campaign_locate_ws(p, end);
    if (p == end || *p != '{') {
        return -1;
    }

    at = ngx_campaign_locate_member(p, end, field, 0);
    if (at == NULL) {
        return -1;
    }

    if (tline) {
        at = ngx_campaign_locate_in_string(at, end, tline, tcolumn);
        if (at == NULL) {
            return -1;
        }
    }

    ngx_campaign_definition_position(text, at - text, line, column);

    return 0;
}


static const u_char *
ngx_campaign_locate_ws(const u_char *p, const u_char *end)
{
    while (p < end
           && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    return p;
}


/* past the JSON value at p, or NULL */

static const u_char *
ngx_campaign_locate_skip(const u_char *p, const u_char *end, size_t depth)
{
    u_char         close;
    const u_char  *start;

    if (p >= end || depth > 64) {
        return NULL;
    }

    if (*p == '"') {
        for (p++; p < end; p++) {
            if (*p == '\\') {
                p++;

            } else if (*p == '"') {
                return p + 1;
            }
        }

        return NULL;
    }

    if (*p == '{' || *p == '[') {
        close = (*p == '{') ? '}' : ']';
        p = ngx_campaign_locate_ws(p + 1, end);

        while (p < end && *p != close) {
            p = ngx_campaign_locate_skip(p, end, depth + 1);
            if (p == NULL) {
                return NULL;
            }

            p = ngx_campaign_locate_ws(p, end);

            if (p < end && (*p == ':' || *p == ',')) {
                p = ngx_campaign_locate_ws(p + 1, end);

            } else if (p < end && *p != close) {
                return NULL;
            }
        }

        return (p < end) ? p + 1 : NULL;
    }

    for (start = p;
         p < end && *p != ',' && *p != '}' && *p != ']' && *p != ':'
         && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r';
         p++)
    {
        /* void */
    }

    /* no value here: the text is not what the parser took it for */

    return (p > start) ? p : NULL;
}


/*
 * In the object at p, the value of the dotted path.  Keys may hold dots
 * themselves (fragment names do): every key the path starts with is tried.
 */

static const u_char *
ngx_campaign_locate_member(const u_char *p, const u_char *end,
    const char *path, size_t depth)
{
    size_t         klen, plen;
    const u_char  *key, *value, *found;

    if (depth > 64) {
        return NULL;
    }

    plen = strlen(path);
    p = ngx_campaign_locate_ws(p + 1, end);

    while (p < end && *p == '"') {
        key = p + 1;

        p = ngx_campaign_locate_skip(p, end, depth);
        if (p == NULL) {
            return NULL;
        }

        klen = (size_t) (p - key) - 1;

        p = ngx_campaign_locate_ws(p, end);
        if (p == end || *p != ':') {
            return NULL;
        }

        value = ngx_campaign_locate_ws(p + 1, end);

        if (klen <= plen && memcmp(key, path, klen) == 0) {

            if (klen == plen) {
                return value;
            }

            if (path[klen] == '.' && value < end && *value == '{') {
                found = ngx_campaign_locate_member(value, end,
                                                   path + klen + 1,
                                                   depth + 1);
                if (found) {
                    return found;
                }
            }

            if (path[klen] == '.' && value < end && *value == '[') {
                found = ngx_campaign_locate_element(value, end,
                                                    path + klen + 1,
                                                    depth + 1);
                if (found) {
                    return found;
                }
            }
        }

        p = ngx_campaign_locate_skip(value, end, depth);
        if (p == NULL) {
            return NULL;
        }

        p = ngx_campaign_locate_ws(p, end);

        if (p < end && *p == ',') {
            p = ngx_campaign_locate_ws(p + 1, end);
        }
    }

    return NULL;
}


/* in the array at p, the element whose index the path starts with */

static const u_char *
ngx_campaign_locate_element(const u_char *p, const u_char *end,
    const char *path, size_t depth)
{
    size_t       index, i;
    const char  *rest;

    if (depth > 64 || *path < '0' || *path > '9') {
        return NULL;
    }

    index = 0;

    for (rest = path; *rest >= '0' && *rest <= '9'; rest++) {
        index = index * 10 + (*rest - '0');

        if (index > 1000000) {
            return NULL;
        }
    }

    if (*rest != '\0' && *rest != '.') {
        return NULL;
    }

    p = ngx_campaign_locate_ws(p + 1, end);

    for (i = 0; i < index; i++) {
        if (p >= end || *p == ']') {
            return NULL;
        }

        p = ngx_campaign_locate_skip(p, end, depth);
        if (p == NULL) {
            return NULL;
        }

        p = ngx_campaign_locate_ws(p, end);
        if (p >= end || *p != ',') {
            return NULL;
        }

        p = ngx_campaign_locate_ws(p + 1, end);
    }

    if (p >= end || *p == ']') {
        return NULL;
    }

    if (*rest == '\0') {
        return p;
    }

    if (*p == '{') {
        return ngx_campaign_locate_member(p, end, rest + 1, depth + 1);
    }

    if (*p == '[') {
        return ngx_campaign_locate_element(p, end, rest + 1, depth + 1);
    }

    return NULL;
}


/*
 * The template is the string's value: "\n" in the file is one newline of
 * the template, "\u00e9" one character.
 */

static const u_char *
ngx_campaign_locate_in_string(const u_char *p, const u_char *end,
    size_t tline, size_t tcolumn)
{
    size_t  line, column;

    if (p >= end || *p != '"') {
        return NULL;
    }

    line = 1;
    column = 1;

    for (p++; p < end; ) {

        if (line == tline && column == tcolumn) {
            return p;
        }

        if (*p == '"') {
            return (line == tline) ? p : NULL;
        }

        if (*p == '\\' && p + 1 < end) {

            if (p[1] == 'n') {
                line++;
                column = 1;
                p += 2;
                continue;
            }

            if (p[1] == 'u') {
                /* a surrogate pair is one character */
                p += (p + 12 <= end && p[6] == '\\' && p[7] == 'u'
                      && (p[2] == 'd' || p[2] == 'D')
                      && (p[3] == '8' || p[3] == '9' || p[3] == 'a'
                          || p[3] == 'A' || p[3] == 'b' || p[3] == 'B'))
                     ? 12 : 6;

            } else {
                p += 2;
            }

            column++;
            continue;
        }

        /* one UTF-8 character */

        for (p++; p < end && (*p & 0xc0) == 0x80; p++) { /* void */ }

        column++;
    }

    return NULL;
}
