
/*
 * Copyright (C) ngx_campaign developers
 */


#include <float.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_campaign_template.h"


/*
 * A template compiles into an array of ops ended by HALT.  Rendering walks
 * the array once, without recursion: a section is a pair of jumps.
 *
 *     {{#items}}<li>{{name}}</li>{{/items}}
 *
 *     0  SECTION      items   jump 5    falsey: past the section
 *     1  TEXT         "<li>"
 *     2  VALUE        name
 *     3  TEXT         "</li>"
 *     4  SECTION_END          jump 1    another list item: the body again
 *     5  HALT
 *
 * Names are split into segments at compile time.  Later tags fit the same
 * scheme: an else branch is a jump, a block helper another op type, a
 * partial an op pointing to another compiled template, "../" or "@index"
 * another name type; the delimiters are parser state, not constants.
 */


typedef enum {
    NGX_CAMPAIGN_OP_HALT = 0,
    NGX_CAMPAIGN_OP_TEXT,
    NGX_CAMPAIGN_OP_VALUE,
    NGX_CAMPAIGN_OP_SECTION,
    NGX_CAMPAIGN_OP_SECTION_END,
    NGX_CAMPAIGN_OP_INVERTED
} ngx_campaign_template_op_e;


typedef enum {
    NGX_CAMPAIGN_NAME_TOP = 0,        /* ".": the top of the context stack */
    NGX_CAMPAIGN_NAME_PATH            /* "a.b.c" */
} ngx_campaign_template_name_e;


typedef struct {
    const u_char                    *data;
    size_t                           len;
} ngx_campaign_template_str_t;


typedef struct {
    ngx_campaign_template_name_e     type;
    size_t                           nsegments;
    ngx_campaign_template_str_t     *segments;
} ngx_campaign_template_name_t;


typedef struct {
    ngx_campaign_template_op_e       type;
    ngx_campaign_escape_e            escape;     /* VALUE */
    size_t                           jump;       /* op index */
    const u_char                    *text;       /* TEXT */
    size_t                           len;
    ngx_campaign_template_name_t    *name;       /* VALUE, sections */
} ngx_campaign_template_op_t;


struct ngx_campaign_template_s {
    ngx_campaign_template_op_t      *ops;
    ngx_campaign_template_ref_t     *refs;
    size_t                           nrefs;

    /* to size the output buffer */
    size_t                           text_len;
    size_t                           nvalues;
};


/* a growing array; the old elements are left in the pool */
typedef struct {
    void                            *elts;
    size_t                           nelts;
    size_t                           nalloc;
    size_t                           size;
} ngx_campaign_template_array_t;


/* a section open while compiling */
typedef struct {
    ngx_campaign_template_op_e       type;
    size_t                           op;
    const u_char                    *name;
    size_t                           name_len;
    size_t                           line;
    size_t                           column;
} ngx_campaign_template_open_t;


typedef struct {
    ngx_campaign_alloc_t            *alloc;
    ngx_campaign_template_error_t   *err;
    ngx_campaign_escape_e            escape;

    const u_char                    *start;
    const u_char                    *end;
    const u_char                    *text;       /* static text pending */

    /* turns positions into lines and columns, moving forward only */
    const u_char                    *cursor;
    size_t                           line;
    size_t                           column;

    /* the delimiters are state so that set delimiters can change them */
    const u_char                    *open;
    size_t                           open_len;
    const u_char                    *close;
    size_t                           close_len;

    ngx_campaign_template_array_t    ops;
    ngx_campaign_template_array_t    refs;
    size_t                           text_len;
    size_t                           nvalues;

    ngx_campaign_template_open_t     sections[NGX_CAMPAIGN_TEMPLATE_MAX_DEPTH];
    size_t                           depth;
} ngx_campaign_template_parser_t;


/* a tag as read from the source */
typedef struct {
    u_char                           sigil;      /* '#', '/', '{', ... */
    const u_char                    *start;      /* its open delimiter */
    const u_char                    *end;        /* past its close */
    const u_char                    *name;       /* trimmed content */
    size_t                           name_len;
    size_t                           line;
    size_t                           column;
} ngx_campaign_template_tag_t;


typedef struct {
    const cJSON                     *value;
    unsigned                         list;       /* value is a list item */
} ngx_campaign_template_frame_t;


typedef struct {
    ngx_campaign_alloc_t            *alloc;
    u_char                          *start;
    u_char                          *pos;
    u_char                          *end;
    size_t                           steps;

    /* the context stack: the data, then one frame per open section */
    ngx_campaign_template_frame_t    frames[NGX_CAMPAIGN_TEMPLATE_MAX_DEPTH
                                            + 1];
    size_t                           nframes;
} ngx_campaign_template_render_t;


static int ngx_campaign_template_parse_tag(ngx_campaign_template_parser_t *p,
    const u_char *start);
static int ngx_campaign_template_read_tag(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag);
static int ngx_campaign_template_standalone(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag, const u_char **text_end,
    const u_char **next);
static int ngx_campaign_template_open_section(
    ngx_campaign_template_parser_t *p, ngx_campaign_template_tag_t *tag,
    ngx_campaign_template_op_e type);
static int ngx_campaign_template_close_section(
    ngx_campaign_template_parser_t *p, ngx_campaign_template_tag_t *tag);
static ngx_campaign_template_op_t *ngx_campaign_template_add_named(
    ngx_campaign_template_parser_t *p, ngx_campaign_template_tag_t *tag,
    ngx_campaign_template_op_e type, unsigned section);
static ngx_campaign_template_name_t *ngx_campaign_template_split_name(
    ngx_campaign_template_parser_t *p, ngx_campaign_template_tag_t *tag);
static int ngx_campaign_template_add_text(ngx_campaign_template_parser_t *p,
    const u_char *end);
static ngx_campaign_template_op_t *ngx_campaign_template_add_op(
    ngx_campaign_template_parser_t *p, ngx_campaign_template_op_e type);
static void *ngx_campaign_template_array_push(ngx_campaign_alloc_t *a,
    ngx_campaign_template_array_t *array);
static const u_char *ngx_campaign_template_find(const u_char *start,
    const u_char *end, const u_char *s, size_t len);
static void ngx_campaign_template_locate(ngx_campaign_template_parser_t *p,
    const u_char *pos, size_t *line, size_t *column);
static void ngx_campaign_template_error(ngx_campaign_template_parser_t *p,
    size_t line, size_t column, const char *fmt, ...);

static const cJSON *ngx_campaign_template_lookup(
    ngx_campaign_template_render_t *r,
    const ngx_campaign_template_name_t *name);
static const cJSON *ngx_campaign_template_member(
    ngx_campaign_template_render_t *r, const cJSON *object,
    const ngx_campaign_template_str_t *key);
static int ngx_campaign_template_truthy(const cJSON *value);
static int ngx_campaign_template_write_value(
    ngx_campaign_template_render_t *r, const cJSON *value,
    ngx_campaign_escape_e escape);
static int ngx_campaign_template_write_html(ngx_campaign_template_render_t *r,
    const u_char *s, size_t len);
static size_t ngx_campaign_template_format_number(double d, u_char *buf);
static u_char *ngx_campaign_template_sprint_uint(u_char *buf,
    unsigned long long u, size_t width);
static int ngx_campaign_template_write(ngx_campaign_template_render_t *r,
    const u_char *s, size_t len);
static int ngx_campaign_template_reserve(ngx_campaign_template_render_t *r,
    size_t len);


#define NGX_CAMPAIGN_TEMPLATE_OK      0
#define NGX_CAMPAIGN_TEMPLATE_ERROR  -1

#define ngx_campaign_template_space(c)                                      \
    ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n')

/* a name segment shown in a message is cut to this many bytes */
#define NGX_CAMPAIGN_TEMPLATE_SHOWN_NAME  64

#define ngx_campaign_template_shown(len)                                    \
    ((int) ((len) < NGX_CAMPAIGN_TEMPLATE_SHOWN_NAME                        \
            ? (len) : NGX_CAMPAIGN_TEMPLATE_SHOWN_NAME))


static const u_char  ngx_campaign_template_default_open[] = "{{";
static const u_char  ngx_campaign_template_default_close[] = "}}";


/* the length of each byte's HTML escape; 0: copied as it is */
static const u_char  ngx_campaign_template_html_len[256] = {
    ['"'] = sizeof("&quot;") - 1,
    ['&'] = sizeof("&amp;") - 1,
    ['\''] = sizeof("&#39;") - 1,
    ['<'] = sizeof("&lt;") - 1,
    ['>'] = sizeof("&gt;") - 1
};


ngx_campaign_template_t *
ngx_campaign_template_compile(ngx_campaign_alloc_t *a, const u_char *src,
    size_t len, ngx_campaign_escape_e escape,
    ngx_campaign_template_error_t *err)
{
    u_char                          *copy;
    const u_char                    *tag;
    ngx_campaign_template_t         *tpl;
    ngx_campaign_template_open_t    *open;
    ngx_campaign_template_parser_t   p;

    memset(&p, 0, sizeof(ngx_campaign_template_parser_t));

    p.alloc = a;
    p.err = err;
    p.escape = escape;

    if (err != NULL) {
        memset(err, 0, sizeof(ngx_campaign_template_error_t));
    }

    if (escape != NGX_CAMPAIGN_ESCAPE_NONE
        && escape != NGX_CAMPAIGN_ESCAPE_HTML)
    {
        ngx_campaign_template_error(&p, 0, 0, "unknown escape mode %d",
                                    (int) escape);
        return NULL;
    }

    copy = ngx_campaign_alloc(a, len + 1);
    if (copy == NULL) {
        goto nomem;
    }

    if (len) {
        memcpy(copy, src, len);
    }

    copy[len] = '\0';

    p.start = copy;
    p.end = copy + len;
    p.text = copy;
    p.cursor = copy;
    p.line = 1;
    p.column = 1;

    p.open = ngx_campaign_template_default_open;
    p.open_len = sizeof(ngx_campaign_template_default_open) - 1;
    p.close = ngx_campaign_template_default_close;
    p.close_len = sizeof(ngx_campaign_template_default_close) - 1;

    p.ops.size = sizeof(ngx_campaign_template_op_t);
    p.refs.size = sizeof(ngx_campaign_template_ref_t);

    for ( ;; ) {
        tag = ngx_campaign_template_find(p.text, p.end, p.open, p.open_len);
        if (tag == NULL) {
            break;
        }

        if (ngx_campaign_template_parse_tag(&p, tag)
            != NGX_CAMPAIGN_TEMPLATE_OK)
        {
            return NULL;
        }
    }

    if (p.depth) {
        open = &p.sections[p.depth - 1];
        ngx_campaign_template_error(&p, open->line, open->column,
                                    "unclosed section \"%.*s\"",
                                    ngx_campaign_template_shown(
                                        open->name_len),
                                    open->name);
        return NULL;
    }

    if (ngx_campaign_template_add_text(&p, p.end) != NGX_CAMPAIGN_TEMPLATE_OK
        || ngx_campaign_template_add_op(&p, NGX_CAMPAIGN_OP_HALT) == NULL)
    {
        return NULL;
    }

    tpl = ngx_campaign_alloc(a, sizeof(ngx_campaign_template_t));
    if (tpl == NULL) {
        goto nomem;
    }

    tpl->ops = p.ops.elts;
    tpl->refs = p.refs.elts;
    tpl->nrefs = p.refs.nelts;
    tpl->text_len = p.text_len;
    tpl->nvalues = p.nvalues;

    return tpl;

nomem:

    ngx_campaign_template_error(&p, 0, 0, "out of memory");
    return NULL;
}


const ngx_campaign_template_ref_t *
ngx_campaign_template_refs(const ngx_campaign_template_t *tpl, size_t *n)
{
    *n = tpl->nrefs;
    return tpl->refs;
}


static int
ngx_campaign_template_parse_tag(ngx_campaign_template_parser_t *p,
    const u_char *start)
{
    const u_char                 *next, *text_end;
    ngx_campaign_template_op_t   *op;
    ngx_campaign_template_tag_t   tag;

    tag.start = start;

    if (ngx_campaign_template_read_tag(p, &tag) != NGX_CAMPAIGN_TEMPLATE_OK) {
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    if (ngx_campaign_template_standalone(p, &tag, &text_end, &next)) {
        /* the whole line goes: its indentation and its line ending */

    } else {
        text_end = tag.start;
        next = tag.end;
    }

    if (ngx_campaign_template_add_text(p, text_end)
        != NGX_CAMPAIGN_TEMPLATE_OK)
    {
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    p->text = next;

    switch (tag.sigil) {

    case '!':
        return NGX_CAMPAIGN_TEMPLATE_OK;

    case '#':
        return ngx_campaign_template_open_section(p, &tag,
                                                  NGX_CAMPAIGN_OP_SECTION);

    case '^':
        return ngx_campaign_template_open_section(p, &tag,
                                                  NGX_CAMPAIGN_OP_INVERTED);

    case '/':
        return ngx_campaign_template_close_section(p, &tag);

    case '>':
        ngx_campaign_template_error(p, tag.line, tag.column,
                                    "partials are not supported");
        return NGX_CAMPAIGN_TEMPLATE_ERROR;

    case '=':
        ngx_campaign_template_error(p, tag.line, tag.column,
                                    "set delimiters are not supported");
        return NGX_CAMPAIGN_TEMPLATE_ERROR;

    default: /* a value: ' ', '{', '&' */
        op = ngx_campaign_template_add_named(p, &tag, NGX_CAMPAIGN_OP_VALUE,
                                             0);
        if (op == NULL) {
            return NGX_CAMPAIGN_TEMPLATE_ERROR;
        }

        op->escape = (tag.sigil == ' ') ? p->escape : NGX_CAMPAIGN_ESCAPE_NONE;
        p->nvalues++;

        return NGX_CAMPAIGN_TEMPLATE_OK;
    }
}


static int
ngx_campaign_template_read_tag(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag)
{
    size_t         i, brace;
    const u_char  *s, *last, *content;

    ngx_campaign_template_locate(p, tag->start, &tag->line, &tag->column);

    content = tag->start + p->open_len;
    tag->sigil = ' ';

    if (content < p->end) {
        switch (*content) {
        case '{': case '&': case '#': case '^': case '/': case '!':
        case '>': case '=':
            tag->sigil = *content++;
            break;
        }
    }

    /* "{{{name}}}" ends with "}" before the close delimiter */
    brace = (tag->sigil == '{');

    for (s = content; (size_t) (p->end - s) >= brace + p->close_len; s++) {
        if ((brace == 0 || *s == '}')
            && memcmp(s + brace, p->close, p->close_len) == 0)
        {
            goto found;
        }
    }

    ngx_campaign_template_error(p, tag->line, tag->column,
                                "unclosed tag: no \"%s%.*s\" after \"%.*s%s\"",
                                brace ? "}" : "", (int) p->close_len, p->close,
                                (int) p->open_len, p->open,
                                brace ? "{" : "");
    return NGX_CAMPAIGN_TEMPLATE_ERROR;

found:

    tag->end = s + brace + p->close_len;

    if (tag->sigil == '!' || tag->sigil == '=') {
        /* a comment or delimiters: no name */
        return NGX_CAMPAIGN_TEMPLATE_OK;
    }

    last = s;

    while (content < last && ngx_campaign_template_space(*content)) {
        content++;
    }

    while (last > content && ngx_campaign_template_space(last[-1])) {
        last--;
    }

    tag->name = content;
    tag->name_len = last - content;

    if (tag->name_len == 0) {
        ngx_campaign_template_error(p, tag->line, tag->column,
                                    "empty tag name");
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    for (i = 0; i < tag->name_len; i++) {
        if (content[i] <= ' ' || content[i] == 0x7f) {
            ngx_campaign_template_error(p, tag->line, tag->column,
                                        "invalid character in tag name "
                                        "\"%.*s\"",
                                        ngx_campaign_template_shown(i),
                                        content);
            return NGX_CAMPAIGN_TEMPLATE_ERROR;
        }
    }

    return NGX_CAMPAIGN_TEMPLATE_OK;
}


/*
 * A section, inverted section, close or comment tag alone on its line,
 * with only spaces and tabs around it, takes the whole line with it.
 */

static int
ngx_campaign_template_standalone(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag, const u_char **text_end,
    const u_char **next)
{
    const u_char  *left, *right;

    switch (tag->sigil) {
    case '#': case '^': case '/': case '!':
        break;

    default:
        return 0;
    }

    /* nothing but indentation since the line start or the last tag */

    left = tag->start;

    while (left > p->text && (left[-1] == ' ' || left[-1] == '\t')) {
        left--;
    }

    if (left != p->start && left[-1] != '\n') {
        return 0;
    }

    right = tag->end;

    while (right < p->end && (*right == ' ' || *right == '\t')) {
        right++;
    }

    if (right == p->end) {
        /* the last line */

    } else if (*right == '\n') {
        right++;

    } else if (*right == '\r' && right + 1 < p->end && right[1] == '\n') {
        right += 2;

    } else {
        return 0;
    }

    *text_end = left;
    *next = right;

    return 1;
}


static int
ngx_campaign_template_open_section(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag, ngx_campaign_template_op_e type)
{
    ngx_campaign_template_open_t  *open;

    if (p->depth == NGX_CAMPAIGN_TEMPLATE_MAX_DEPTH) {
        ngx_campaign_template_error(p, tag->line, tag->column,
                                    "sections nested deeper than %d",
                                    NGX_CAMPAIGN_TEMPLATE_MAX_DEPTH);
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    if (ngx_campaign_template_add_named(p, tag, type, 1) == NULL) {
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    open = &p->sections[p->depth++];

    open->type = type;
    open->op = p->ops.nelts - 1;
    open->name = tag->name;
    open->name_len = tag->name_len;
    open->line = tag->line;
    open->column = tag->column;

    return NGX_CAMPAIGN_TEMPLATE_OK;
}


static int
ngx_campaign_template_close_section(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag)
{
    ngx_campaign_template_op_t    *ops, *end;
    ngx_campaign_template_open_t  *open;

    if (p->depth == 0) {
        ngx_campaign_template_error(p, tag->line, tag->column,
                                    "close tag \"%.*s\" without an open "
                                    "section",
                                    ngx_campaign_template_shown(tag->name_len),
                                    tag->name);
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    open = &p->sections[p->depth - 1];

    if (tag->name_len != open->name_len
        || memcmp(tag->name, open->name, open->name_len) != 0)
    {
        ngx_campaign_template_error(p, tag->line, tag->column,
                                    "close tag \"%.*s\" does not match "
                                    "section \"%.*s\" opened at line %zu, "
                                    "column %zu",
                                    ngx_campaign_template_shown(
                                        tag->name_len),
                                    tag->name,
                                    ngx_campaign_template_shown(
                                        open->name_len),
                                    open->name, open->line, open->column);
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    p->depth--;

    if (open->type == NGX_CAMPAIGN_OP_SECTION) {
        end = ngx_campaign_template_add_op(p, NGX_CAMPAIGN_OP_SECTION_END);
        if (end == NULL) {
            return NGX_CAMPAIGN_TEMPLATE_ERROR;
        }

        end->jump = open->op + 1;
    }

    ops = p->ops.elts;
    ops[open->op].jump = p->ops.nelts;

    return NGX_CAMPAIGN_TEMPLATE_OK;
}


static ngx_campaign_template_op_t *
ngx_campaign_template_add_named(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag, ngx_campaign_template_op_e type,
    unsigned section)
{
    ngx_campaign_template_op_t    *op;
    ngx_campaign_template_ref_t   *ref;
    ngx_campaign_template_name_t  *name;

    name = ngx_campaign_template_split_name(p, tag);
    if (name == NULL) {
        return NULL;
    }

    ref = ngx_campaign_template_array_push(p->alloc, &p->refs);
    if (ref == NULL) {
        ngx_campaign_template_error(p, 0, 0, "out of memory");
        return NULL;
    }

    ref->name = tag->name;
    ref->len = tag->name_len;
    ref->line = tag->line;
    ref->column = tag->column;
    ref->depth = p->depth;
    ref->section = section;

    op = ngx_campaign_template_add_op(p, type);
    if (op == NULL) {
        return NULL;
    }

    op->name = name;

    return op;
}


static ngx_campaign_template_name_t *
ngx_campaign_template_split_name(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag)
{
    size_t                          i, n;
    const u_char                   *s, *last, *dot;
    ngx_campaign_template_str_t    *segment;
    ngx_campaign_template_name_t   *name;

    name = ngx_campaign_alloc(p->alloc, sizeof(ngx_campaign_template_name_t));
    if (name == NULL) {
        goto nomem;
    }

    if (tag->name_len == 1 && tag->name[0] == '.') {
        name->type = NGX_CAMPAIGN_NAME_TOP;
        name->nsegments = 0;
        name->segments = NULL;
        return name;
    }

    last = tag->name + tag->name_len;

    n = 1;
    for (s = tag->name; s < last; s++) {
        n += (*s == '.');
    }

    name->type = NGX_CAMPAIGN_NAME_PATH;
    name->nsegments = n;
    name->segments = ngx_campaign_alloc(p->alloc, n
                                        * sizeof(ngx_campaign_template_str_t));
    if (name->segments == NULL) {
        goto nomem;
    }

    s = tag->name;

    for (i = 0; i < n; i++) {
        dot = memchr(s, '.', last - s);
        if (dot == NULL) {
            dot = last;
        }

        if (dot == s) {
            ngx_campaign_template_error(p, tag->line, tag->column,
                                        "empty segment in tag name \"%.*s\"",
                                        ngx_campaign_template_shown(
                                            tag->name_len),
                                        tag->name);
            return NULL;
        }

        segment = &name->segments[i];
        segment->data = s;
        segment->len = dot - s;

        s = dot + 1;
    }

    return name;

nomem:

    ngx_campaign_template_error(p, 0, 0, "out of memory");
    return NULL;
}


static int
ngx_campaign_template_add_text(ngx_campaign_template_parser_t *p,
    const u_char *end)
{
    ngx_campaign_template_op_t  *op;

    if (end == p->text) {
        return NGX_CAMPAIGN_TEMPLATE_OK;
    }

    op = ngx_campaign_template_add_op(p, NGX_CAMPAIGN_OP_TEXT);
    if (op == NULL) {
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    op->text = p->text;
    op->len = end - p->text;

    p->text_len += op->len;

    return NGX_CAMPAIGN_TEMPLATE_OK;
}


static ngx_campaign_template_op_t *
ngx_campaign_template_add_op(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_op_e type)
{
    ngx_campaign_template_op_t  *op;

    op = ngx_campaign_template_array_push(p->alloc, &p->ops);
    if (op == NULL) {
        ngx_campaign_template_error(p, 0, 0, "out of memory");
        return NULL;
    }

    memset(op, 0, sizeof(ngx_campaign_template_op_t));
    op->type = type;

    return op;
}


static void *
ngx_campaign_template_array_push(ngx_campaign_alloc_t *a,
    ngx_campaign_template_array_t *array)
{
    void    *elts;
    size_t   n;

    if (array->nelts == array->nalloc) {
        n = array->nalloc ? 2 * array->nalloc : 16;

        if (n > (size_t) -1 / array->size) {
            return NULL;
        }

        elts = ngx_campaign_alloc(a, n * array->size);
        if (elts == NULL) {
            return NULL;
        }

        if (array->nelts) {
            memcpy(elts, array->elts, array->nelts * array->size);
        }

        array->elts = elts;
        array->nalloc = n;
    }

    return (u_char *) array->elts + array->size * array->nelts++;
}


static const u_char *
ngx_campaign_template_find(const u_char *start, const u_char *end,
    const u_char *s, size_t len)
{
    const u_char  *last;

    if ((size_t) (end - start) < len) {
        return NULL;
    }

    last = end - len;

    for ( ;; ) {
        start = memchr(start, s[0], last - start + 1);

        if (start == NULL) {
            return NULL;
        }

        if (memcmp(start, s, len) == 0) {
            return start;
        }

        if (start++ == last) {
            return NULL;
        }
    }
}


static void
ngx_campaign_template_locate(ngx_campaign_template_parser_t *p,
    const u_char *pos, size_t *line, size_t *column)
{
    const u_char  *s;

    for (s = p->cursor; s < pos; s++) {
        if (*s == '\n') {
            p->line++;
            p->column = 1;

        } else if ((*s & 0xc0) != 0x80) {
            /* not a UTF-8 continuation byte: another character */
            p->column++;
        }
    }

    p->cursor = pos;

    *line = p->line;
    *column = p->column;
}


static void
ngx_campaign_template_error(ngx_campaign_template_parser_t *p, size_t line,
    size_t column, const char *fmt, ...)
{
    va_list  args;

    if (p->err == NULL) {
        return;
    }

    p->err->line = line;
    p->err->column = column;

    va_start(args, fmt);
    vsnprintf(p->err->message, sizeof(p->err->message), fmt, args);
    va_end(args);
}


int
ngx_campaign_template_render(const ngx_campaign_template_t *tpl,
    const cJSON *data, ngx_campaign_alloc_t *a, u_char **out,
    size_t *out_len)
{
    size_t                           pc, size;
    const cJSON                     *value;
    ngx_campaign_template_op_t      *op;
    ngx_campaign_template_frame_t   *frame;
    ngx_campaign_template_render_t   r;

    /* the static text and a guess for the values: usually one allocation */

    size = tpl->text_len + 32 * tpl->nvalues + 64;

    if (size > NGX_CAMPAIGN_TEMPLATE_MAX_OUTPUT + 1) {
        size = NGX_CAMPAIGN_TEMPLATE_MAX_OUTPUT + 1;
    }

    r.alloc = a;
    r.start = ngx_campaign_alloc(a, size);
    if (r.start == NULL) {
        return -1;
    }

    r.pos = r.start;
    r.end = r.start + size;
    r.steps = 0;

    r.frames[0].value = data;
    r.frames[0].list = 0;
    r.nframes = 1;

    pc = 0;

    for ( ;; ) {
        if (++r.steps > NGX_CAMPAIGN_TEMPLATE_MAX_STEPS) {
            return -1;
        }

        op = &tpl->ops[pc];

        switch (op->type) {

        case NGX_CAMPAIGN_OP_TEXT:
            if (ngx_campaign_template_write(&r, op->text, op->len) != 0) {
                return -1;
            }

            pc++;
            break;

        case NGX_CAMPAIGN_OP_VALUE:
            value = ngx_campaign_template_lookup(&r, op->name);

            if (ngx_campaign_template_write_value(&r, value, op->escape)
                != 0)
            {
                return -1;
            }

            pc++;
            break;

        case NGX_CAMPAIGN_OP_SECTION:
            value = ngx_campaign_template_lookup(&r, op->name);

            if (!ngx_campaign_template_truthy(value)) {
                pc = op->jump;
                break;
            }

            /* the compiler bounds the depth: no check needed here */

            frame = &r.frames[r.nframes++];

            if ((value->type & 0xff) == cJSON_Array) {
                frame->value = value->child;
                frame->list = 1;

            } else {
                frame->value = value;
                frame->list = 0;
            }

            pc++;
            break;

        case NGX_CAMPAIGN_OP_SECTION_END:
            frame = &r.frames[r.nframes - 1];

            if (frame->list && frame->value->next != NULL) {
                frame->value = frame->value->next;
                pc = op->jump;
                break;
            }

            r.nframes--;
            pc++;
            break;

        case NGX_CAMPAIGN_OP_INVERTED:
            value = ngx_campaign_template_lookup(&r, op->name);

            pc = ngx_campaign_template_truthy(value) ? op->jump : pc + 1;
            break;

        default: /* NGX_CAMPAIGN_OP_HALT */
            *r.pos = '\0';

            *out = r.start;
            *out_len = r.pos - r.start;

            return 0;
        }
    }
}


/*
 * The first segment resolves up the context stack, in the nearest object
 * that has it; the rest strictly inside the value found, as the Mustache
 * spec says: {{#a}}{{b.c}}{{/a}} does not look at the root's b when a has b.
 */

static const cJSON *
ngx_campaign_template_lookup(ngx_campaign_template_render_t *r,
    const ngx_campaign_template_name_t *name)
{
    size_t              i;
    const cJSON        *value, *context;

    if (name->type == NGX_CAMPAIGN_NAME_TOP) {
        return r->frames[r->nframes - 1].value;
    }

    value = NULL;

    for (i = r->nframes; i > 0; i--) {
        context = r->frames[i - 1].value;

        if (context != NULL && (context->type & 0xff) == cJSON_Object) {
            value = ngx_campaign_template_member(r, context,
                                                 &name->segments[0]);
            if (value != NULL) {
                break;
            }
        }
    }

    for (i = 1; i < name->nsegments && value != NULL; i++) {
        if ((value->type & 0xff) != cJSON_Object) {
            return NULL;
        }

        value = ngx_campaign_template_member(r, value, &name->segments[i]);
    }

    return value;
}


static const cJSON *
ngx_campaign_template_member(ngx_campaign_template_render_t *r,
    const cJSON *object, const ngx_campaign_template_str_t *key)
{
    size_t         i;
    const cJSON   *item;
    const u_char  *s;

    for (item = object->child; item != NULL; item = item->next) {
        r->steps++;

        s = (const u_char *) item->string;
        if (s == NULL) {
            continue;
        }

        /* the key ends at its NUL: stop there, not at the segment's end */

        for (i = 0; i < key->len; i++) {
            if (s[i] != key->data[i] || s[i] == '\0') {
                break;
            }
        }

        if (i == key->len && s[i] == '\0') {
            return item;
        }
    }

    return NULL;
}


/* falsey: missing, false, null, an empty list; "" and 0 are truthy */

static int
ngx_campaign_template_truthy(const cJSON *value)
{
    if (value == NULL) {
        return 0;
    }

    switch (value->type & 0xff) {

    case cJSON_Invalid:
    case cJSON_False:
    case cJSON_NULL:
        return 0;

    case cJSON_Array:
        return value->child != NULL;

    default:
        return 1;
    }
}


static int
ngx_campaign_template_write_value(ngx_campaign_template_render_t *r,
    const cJSON *value, ngx_campaign_escape_e escape)
{
    u_char         buf[32];
    size_t         len;
    const u_char  *s;

    if (value == NULL) {
        return 0;
    }

    switch (value->type & 0xff) {

    case cJSON_String:
        s = (const u_char *) value->valuestring;
        if (s == NULL) {
            return 0;
        }

        len = strlen((const char *) s);

        if (escape == NGX_CAMPAIGN_ESCAPE_HTML) {
            return ngx_campaign_template_write_html(r, s, len);
        }

        return ngx_campaign_template_write(r, s, len);

    case cJSON_Number:
        /* digits, "-", ".", "e", "+": nothing to escape */
        len = ngx_campaign_template_format_number(value->valuedouble, buf);
        return ngx_campaign_template_write(r, buf, len);

    case cJSON_True:
        return ngx_campaign_template_write(r, (const u_char *) "true",
                                           sizeof("true") - 1);

    case cJSON_False:
        return ngx_campaign_template_write(r, (const u_char *) "false",
                                           sizeof("false") - 1);

    default:
        /* null, objects and lists interpolate as nothing */
        return 0;
    }
}


static int
ngx_campaign_template_write_html(ngx_campaign_template_render_t *r,
    const u_char *s, size_t len)
{
    size_t         i, escaped;
    u_char        *d;
    const u_char  *entity;

    escaped = len;

    for (i = 0; i < len; i++) {
        if (ngx_campaign_template_html_len[s[i]]) {
            escaped += ngx_campaign_template_html_len[s[i]] - 1;
        }
    }

    if (escaped == len) {
        return ngx_campaign_template_write(r, s, len);
    }

    if (ngx_campaign_template_reserve(r, escaped) != 0) {
        return -1;
    }

    d = r->pos;

    for (i = 0; i < len; i++) {
        switch (s[i]) {
        case '"':  entity = (const u_char *) "&quot;"; break;
        case '&':  entity = (const u_char *) "&amp;"; break;
        case '\'': entity = (const u_char *) "&#39;"; break;
        case '<':  entity = (const u_char *) "&lt;"; break;
        case '>':  entity = (const u_char *) "&gt;"; break;

        default:
            *d++ = s[i];
            continue;
        }

        memcpy(d, entity, ngx_campaign_template_html_len[s[i]]);
        d += ngx_campaign_template_html_len[s[i]];
    }

    r->pos = d;

    return 0;
}


/*
 * Numbers print as JavaScript prints them, within reason: integers as
 * integers ("85", not "85.0"), other numbers with the fewest digits that
 * read back as the same double ("1.21", not "1.2099999999999999"), in
 * fixed notation when that takes at most 6 decimals, else as "%g" does
 * ("1e-7", "1e+21").  buf holds at least 32 bytes.
 */

static size_t
ngx_campaign_template_format_number(double d, u_char *buf)
{
    int                  precision;
    double               scaled;
    size_t               len, decimals;
    u_char              *p, *e;
    long long            n;
    unsigned long long   u, scale;

    if (d != d || d - d != 0) {
        /* NaN or infinity: not JSON numbers, print nothing as for null */
        return 0;
    }

    p = buf;

    if (d > -1e17 && d < 1e17 && (double) (long long) d == d) {
        n = (long long) d;
        u = (n < 0) ? 0ULL - (unsigned long long) n : (unsigned long long) n;

        if (n < 0) {
            *p++ = '-';
        }

        p = ngx_campaign_template_sprint_uint(p, u, 1);

        return p - buf;
    }

    /*
     * Most decimals have a few digits: "19.99" is 1999 / 100 when that
     * division gives d, which is exactly when strtod("19.99") does.  Below
     * 2^50 no other number with as many decimals reads back as d.
     */

    scale = 1;

    for (decimals = 1; decimals <= 6; decimals++) {
        scale *= 10;
        scaled = d * (double) scale;

        if (scaled <= -1125899906842624.0 || scaled >= 1125899906842624.0) {
            break;
        }

        n = (long long) (scaled < 0 ? scaled - 0.5 : scaled + 0.5);

        if ((double) n / (double) scale == d) {
            u = (n < 0) ? 0ULL - (unsigned long long) n
                        : (unsigned long long) n;

            if (n < 0) {
                *p++ = '-';
            }

            p = ngx_campaign_template_sprint_uint(p, u / scale, 1);
            *p++ = '.';
            p = ngx_campaign_template_sprint_uint(p, u % scale, decimals);

            return p - buf;
        }
    }

    /*
     * If fewer than 15 significant digits read back, "%.15g" prints those
     * digits: a double holds 15 of them exactly and "%g" drops zeros.
     * Subnormal doubles hold fewer.
     */

    precision = (d > -DBL_MIN && d < DBL_MIN) ? 1 : 15;

    for ( ;; ) {
        len = snprintf((char *) buf, 32, "%.*g", precision, d);

        if (precision == 17 || strtod((char *) buf, NULL) == d) {
            break;
        }

        precision++;
    }

    /* "1e-07" as "1e-7": the exponent has at least two digits in C */

    e = memchr(buf, 'e', len);

    if (e != NULL && e[2] == '0') {
        memmove(e + 2, e + 3, len - (e + 3 - buf));
        len--;
    }

    return len;
}


/* at least width digits, zero-padded */

static u_char *
ngx_campaign_template_sprint_uint(u_char *buf, unsigned long long u,
    size_t width)
{
    size_t   len;
    u_char  *p, digits[24];

    p = digits + sizeof(digits);

    do {
        *--p = (u_char) ('0' + u % 10);
        u /= 10;
    } while (u);

    while ((size_t) (digits + sizeof(digits) - p) < width) {
        *--p = '0';
    }

    len = digits + sizeof(digits) - p;
    memcpy(buf, p, len);

    return buf + len;
}


static int
ngx_campaign_template_write(ngx_campaign_template_render_t *r,
    const u_char *s, size_t len)
{
    if (ngx_campaign_template_reserve(r, len) != 0) {
        return -1;
    }

    memcpy(r->pos, s, len);
    r->pos += len;

    return 0;
}


/* room for len more bytes and the final NUL, within the output limit */

static int
ngx_campaign_template_reserve(ngx_campaign_template_render_t *r, size_t len)
{
    size_t   used, size;
    u_char  *start;

    if ((size_t) (r->end - r->pos) > len) {
        return 0;
    }

    used = r->pos - r->start;

    if (len > NGX_CAMPAIGN_TEMPLATE_MAX_OUTPUT - used) {
        return -1;
    }

    size = 2 * (size_t) (r->end - r->start);

    if (size < used + len + 1) {
        size = used + len + 1;
    }

    if (size > NGX_CAMPAIGN_TEMPLATE_MAX_OUTPUT + 1) {
        size = NGX_CAMPAIGN_TEMPLATE_MAX_OUTPUT + 1;
    }

    /* the old buffer stays in the pool */

    start = ngx_campaign_alloc(r->alloc, size);
    if (start == NULL) {
        return -1;
    }

    memcpy(start, r->start, used);

    r->start = start;
    r->pos = start + used;
    r->end = start + size;

    return 0;
}
