
/*
 * Copyright (C) ngx_campaign developers
 */


#include <float.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_campaign_template.h"
#include "ngx_campaign_expr.h"
#include "ngx_campaign_json.h"


/*
 * A template compiles into an array of ops ended by HALT.  Rendering walks
 * the array without recursion: a block is a few jumps, a fragment (a
 * partial) a call into another compiled template.
 *
 *     {{#each items}}<li>{{name}}</li>{{else}}none{{/each}}
 *
 *     0  EACH         items   jump 6    nothing to iterate: the else part
 *     1  TEXT         "<li>"
 *     2  VALUE        name
 *     3  TEXT         "</li>"
 *     4  END                  jump 1    another item: the body again
 *     5  JUMP                 jump 7
 *     6  TEXT         "none"
 *     7  HALT
 *
 * A Mustache section is the same with SECTION; #with is WITH, a block
 * that pushes a context without iterating; #if, #unless, {{else if}} and
 * {%#if %} are IF or EXPR_IF ops jumping to the next branch when false.
 * Names are resolved to a kind (a path up the context stack, one context
 * such as "this.a" or "../a", "@index" ...) and split into segments at
 * compile time; block parameters become one of those too.
 *
 * Each fragment compiles once, whatever the number of tags including it;
 * a PARTIAL op calls it, so that a fragment may include itself and the
 * data ends the recursion (or the call limit does).  The indentation of a
 * standalone partial tag is written at render time before each line of
 * the fragment: ops know whether they start a line of their source.
 */


typedef enum {
    NGX_CAMPAIGN_OP_HALT = 0,
    NGX_CAMPAIGN_OP_TEXT,
    NGX_CAMPAIGN_OP_VALUE,
    NGX_CAMPAIGN_OP_EXPR,            /* {%= expr %} */
    NGX_CAMPAIGN_OP_SECTION,
    NGX_CAMPAIGN_OP_INVERTED,
    NGX_CAMPAIGN_OP_EACH,
    NGX_CAMPAIGN_OP_WITH,
    NGX_CAMPAIGN_OP_END,             /* of a section, #each or #with body */
    NGX_CAMPAIGN_OP_IF,              /* #if, #unless, {{else if}} */
    NGX_CAMPAIGN_OP_EXPR_IF,         /* {%#if %}, {%else if %} */
    NGX_CAMPAIGN_OP_JUMP,
    NGX_CAMPAIGN_OP_PARTIAL
} ngx_campaign_template_op_e;


typedef enum {
    NGX_CAMPAIGN_NAME_PATH = 0,      /* "a.b": "a" up the context stack */
    NGX_CAMPAIGN_NAME_CONTEXT,       /* ".", "this.a", "../a", "item.a" */
    NGX_CAMPAIGN_NAME_ROOT,          /* "@root.a" */
    NGX_CAMPAIGN_NAME_INDEX,         /* "@index" */
    NGX_CAMPAIGN_NAME_KEY,           /* "@key", "i" of "as |item i|" */
    NGX_CAMPAIGN_NAME_FIRST,
    NGX_CAMPAIGN_NAME_LAST
} ngx_campaign_template_name_e;


/* the kinds of blocks open while compiling */
typedef enum {
    NGX_CAMPAIGN_BLOCK_SECTION = 0,
    NGX_CAMPAIGN_BLOCK_INVERTED,
    NGX_CAMPAIGN_BLOCK_IF,
    NGX_CAMPAIGN_BLOCK_UNLESS,
    NGX_CAMPAIGN_BLOCK_EACH,
    NGX_CAMPAIGN_BLOCK_WITH,
    NGX_CAMPAIGN_BLOCK_EXPR_IF
} ngx_campaign_template_block_e;


/* the tags as the parser tells them apart */
typedef enum {
    NGX_CAMPAIGN_TAG_VALUE = 0,      /* {{name}} */
    NGX_CAMPAIGN_TAG_RAW,            /* {{{name}}}, {{& name}} */
    NGX_CAMPAIGN_TAG_COMMENT,
    NGX_CAMPAIGN_TAG_DELIMITERS,
    NGX_CAMPAIGN_TAG_PARTIAL,
    NGX_CAMPAIGN_TAG_OPEN,           /* {{#name}}, {{^name}}, {{#if a}} */
    NGX_CAMPAIGN_TAG_ELSE,           /* {{else}}, {{else if a}} */
    NGX_CAMPAIGN_TAG_CLOSE,
    NGX_CAMPAIGN_TAG_EXPR,           /* {%= expr %} */
    NGX_CAMPAIGN_TAG_EXPR_OPEN,      /* {%#if expr %} */
    NGX_CAMPAIGN_TAG_EXPR_ELSE,      /* {%else%}, {%else if expr %} */
    NGX_CAMPAIGN_TAG_EXPR_CLOSE      /* {%/if%} */
} ngx_campaign_template_tag_e;


/* "up" of a data variable: the nearest iteration */
#define NGX_CAMPAIGN_TEMPLATE_NEAREST  ((size_t) -1)

/* no op to patch */
#define NGX_CAMPAIGN_TEMPLATE_NONE     ((size_t) -1)


typedef struct {
    ngx_campaign_template_name_e     type;
    size_t                           up;        /* contexts to go up */
    size_t                           nsegments;
    const ngx_campaign_segment_t    *segments;
} ngx_campaign_template_name_t;


/* {{#each list as |item index|}} */
typedef struct {
    ngx_campaign_segment_t           item;
    ngx_campaign_segment_t           index;     /* len 0: none */
} ngx_campaign_template_params_t;


typedef struct {
    ngx_campaign_template_op_e       type;
    ngx_campaign_escape_e            escape;     /* VALUE, EXPR */
    unsigned                         bol:1;      /* starts a source line */
    unsigned                         standalone:1;   /* PARTIAL */
    unsigned                         negate:1;   /* IF of #unless */
    size_t                           jump;       /* op index */
    const u_char                    *text;       /* TEXT; PARTIAL: indent */
    size_t                           len;
    const u_char                    *json;       /* TEXT, JSON-escaped */
    size_t                           json_len;
    ngx_campaign_template_name_t    *name;       /* VALUE, blocks */

    union {
        const ngx_campaign_template_t         *partial;
        const ngx_campaign_expr_t             *expr;
        const ngx_campaign_template_params_t  *params;   /* EACH, WITH */
    } u;
} ngx_campaign_template_op_t;


struct ngx_campaign_template_s {
    ngx_campaign_template_op_t      *ops;
    ngx_campaign_template_ref_t     *refs;
    size_t                           nrefs;

    /* to size the output buffer */
    size_t                           text_len;
    size_t                           json_len;   /* text_len, escaped */
    size_t                           nvalues;
};


/* a growing array; the old elements are left in the pool */
typedef struct {
    void                            *elts;
    size_t                           nelts;
    size_t                           nalloc;
    size_t                           size;
} ngx_campaign_template_array_t;


typedef struct {
    ngx_campaign_segment_t           name;       /* a copy */
    const u_char                    *src;        /* the caller's */
    size_t                           src_len;
    ngx_campaign_template_t         *tpl;        /* compiled after */

    /* the tag of the root template that needs it, for errors */
    size_t                           line;
    size_t                           column;
} ngx_campaign_template_fragment_t;


/* what the root template and its fragments share while compiling */
typedef struct {
    ngx_campaign_alloc_t                 *alloc;
    const ngx_campaign_template_opts_t   *opts;
    ngx_campaign_template_array_t         fragments;
} ngx_campaign_template_compiler_t;


/* a block open while compiling */
typedef struct {
    ngx_campaign_template_block_e           type;
    size_t                                  op;        /* its first op */
    size_t                                  pending;   /* its jump: the
                                                          next branch */
    size_t                                  jumps;     /* JUMPs to the end,
                                                          chained, + 1 */
    const u_char                           *name;      /* "items", "if" */
    size_t                                  name_len;
    size_t                                  line;
    size_t                                  column;
    const ngx_campaign_template_params_t   *params;
    unsigned                                in_else:1; /* {{else}} seen */
    unsigned                                in_chain:1;  /* past the body */
} ngx_campaign_template_open_t;


typedef struct {
    ngx_campaign_template_compiler_t   *compiler;
    ngx_campaign_alloc_t               *alloc;
    ngx_campaign_template_error_t      *err;
    ngx_campaign_escape_e               escape;

    /* a fragment: the tag of the root template that needs it; 0: root */
    size_t                              root_line;
    size_t                              root_column;

    const u_char                       *start;
    const u_char                       *end;
    const u_char                       *text;     /* static text pending */
    const u_char                       *expr;     /* the next "{%" */

    /* turns positions into lines and columns, moving forward only */
    const u_char                       *cursor;
    size_t                              line;
    size_t                              column;

    /* the delimiters are state so that set delimiters can change them */
    const u_char                       *open;
    size_t                              open_len;
    const u_char                       *close;
    size_t                              close_len;

    ngx_campaign_template_array_t       ops;
    ngx_campaign_template_array_t       refs;
    size_t                              text_len;
    size_t                              json_len;
    size_t                              nvalues;
    unsigned                            bol:1;    /* the next op starts a
                                                     line */

    ngx_campaign_template_open_t        blocks[
                                            NGX_CAMPAIGN_TEMPLATE_MAX_DEPTH];
    size_t                              depth;
} ngx_campaign_template_parser_t;


/* a tag as read from the source */
typedef struct {
    ngx_campaign_template_tag_e      type;
    ngx_campaign_template_block_e    block;      /* OPEN */
    u_char                           sigil;      /* '#', '/', '{', ... */
    const u_char                    *start;      /* its open delimiter */
    const u_char                    *end;        /* past its close */
    const u_char                    *name;       /* trimmed content */
    size_t                           name_len;
    const u_char                    *arg;        /* a helper's path, an
                                                    expression */
    size_t                           arg_len;
    const u_char                    *params;     /* "as |item i|" */
    size_t                           params_len;
    size_t                           line;
    size_t                           column;
} ngx_campaign_template_tag_t;


typedef struct {
    const cJSON                            *value;
    const ngx_campaign_template_params_t   *params;  /* #each, #with */
    size_t                                  index;
    unsigned                                iter:1;  /* an element */
    unsigned                                object:1;  /* an object's */
} ngx_campaign_template_frame_t;


/* a fragment being rendered */
typedef struct {
    const ngx_campaign_template_t   *tpl;        /* to return to */
    size_t                           pc;
    const u_char                    *indent;     /* of a standalone tag */
    size_t                           indent_len;
    size_t                           first;      /* the first call whose
                                                    indent applies */
    unsigned                         indented:1;
} ngx_campaign_template_call_t;


typedef struct {
    ngx_campaign_alloc_t            *alloc;
    u_char                          *start;
    u_char                          *pos;
    u_char                          *end;
    size_t                           steps;
    unsigned                         json:1;     /* JSON-escaped output */

    /* the context stack: the data, then one frame per open block */
    ngx_campaign_template_frame_t    frames[
                                         NGX_CAMPAIGN_TEMPLATE_MAX_CONTEXTS];
    size_t                           nframes;

    ngx_campaign_template_call_t     calls[NGX_CAMPAIGN_TEMPLATE_MAX_CALLS
                                           + 1];
    size_t                           ncalls;
} ngx_campaign_template_render_t;


static int ngx_campaign_template_parse(ngx_campaign_template_compiler_t *c,
    ngx_campaign_template_t *tpl, const u_char *src, size_t len,
    ngx_campaign_template_error_t *err, size_t root_line,
    size_t root_column);
static const u_char *ngx_campaign_template_next(
    ngx_campaign_template_parser_t *p, unsigned *expr);
static int ngx_campaign_template_read_tag(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag);
static int ngx_campaign_template_read_open(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag);
static int ngx_campaign_template_read_expr_tag(
    ngx_campaign_template_parser_t *p, ngx_campaign_template_tag_t *tag);
static int ngx_campaign_template_check_name(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag, const u_char *s, size_t len);
static int ngx_campaign_template_tag(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag);
static int ngx_campaign_template_standalone(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag, const u_char **text_end,
    const u_char **next);
static int ngx_campaign_template_delimiters(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag);
static int ngx_campaign_template_partial(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag, unsigned standalone,
    const u_char *indent);
static int ngx_campaign_template_open_block(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag);
static int ngx_campaign_template_else(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag);
static int ngx_campaign_template_close_block(
    ngx_campaign_template_parser_t *p, ngx_campaign_template_tag_t *tag);
static int ngx_campaign_template_condition(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag, unsigned negate);
static ngx_campaign_template_params_t *ngx_campaign_template_params(
    ngx_campaign_template_parser_t *p, ngx_campaign_template_tag_t *tag,
    unsigned with_index);
static const ngx_campaign_expr_t *ngx_campaign_template_expr(
    ngx_campaign_template_parser_t *p, ngx_campaign_template_tag_t *tag);
static void ngx_campaign_template_describe(ngx_campaign_template_open_t *open,
    char *buf, size_t size);
static ngx_campaign_template_op_t *ngx_campaign_template_add_named(
    ngx_campaign_template_parser_t *p, ngx_campaign_template_tag_t *tag,
    const u_char *s, size_t len, ngx_campaign_template_op_e type,
    unsigned section);
static ngx_campaign_template_name_t *ngx_campaign_template_name(
    ngx_campaign_template_parser_t *p, ngx_campaign_template_tag_t *tag,
    const u_char *s, size_t len);
static int ngx_campaign_template_split(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag, const u_char *s, size_t len,
    ngx_campaign_template_name_t *name);
static int ngx_campaign_template_special(const ngx_campaign_segment_t *first,
    ngx_campaign_template_name_t *name);
static int ngx_campaign_template_escape_texts(
    ngx_campaign_template_parser_t *p);
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
static void ngx_campaign_template_error(ngx_campaign_template_error_t *err,
    size_t line, size_t column, const char *fmt, ...);

static int ngx_campaign_template_run(const ngx_campaign_template_t *tpl,
    const cJSON *data, ngx_campaign_alloc_t *a, unsigned json, u_char **out,
    size_t *out_len);
static int ngx_campaign_template_push(ngx_campaign_template_render_t *r,
    const cJSON *value, const ngx_campaign_template_params_t *params,
    unsigned iterate);
static void ngx_campaign_template_call(ngx_campaign_template_render_t *r,
    const ngx_campaign_template_op_t *op);
static int ngx_campaign_template_write_indent(
    ngx_campaign_template_render_t *r);
static int ngx_campaign_template_write_lines(
    ngx_campaign_template_render_t *r, const u_char *s, size_t len);
static int ngx_campaign_template_eval(ngx_campaign_template_render_t *r,
    const ngx_campaign_template_op_t *op, ngx_campaign_value_t *value);
static const cJSON *ngx_campaign_template_expr_lookup(void *ctx,
    const ngx_campaign_segment_t *segments, size_t n);
static const cJSON *ngx_campaign_template_lookup(
    ngx_campaign_template_render_t *r,
    const ngx_campaign_template_name_t *name, cJSON *scratch);
static const cJSON *ngx_campaign_template_member(
    ngx_campaign_template_render_t *r, const cJSON *object,
    const ngx_campaign_segment_t *key);
static int ngx_campaign_template_truthy(const cJSON *value);
static int ngx_campaign_template_helper_truthy(const cJSON *value);
static int ngx_campaign_template_write_value(
    ngx_campaign_template_render_t *r, const cJSON *value,
    ngx_campaign_escape_e escape);
static int ngx_campaign_template_write_html(ngx_campaign_template_render_t *r,
    const u_char *s, size_t len);
static size_t ngx_campaign_template_format_number(double d, u_char *buf);
static u_char *ngx_campaign_template_sprint_uint(u_char *buf,
    unsigned long long u, size_t width);
static const u_char *ngx_campaign_template_entity(u_char c);
static int ngx_campaign_template_write_text(
    ngx_campaign_template_render_t *r, const u_char *s, size_t len);
static void ngx_campaign_template_write_short(
    ngx_campaign_template_render_t *r, const u_char *s, size_t len,
    unsigned html);
static int ngx_campaign_template_write(ngx_campaign_template_render_t *r,
    const u_char *s, size_t len);
static int ngx_campaign_template_grow(ngx_campaign_template_render_t *r,
    size_t len);


#define NGX_CAMPAIGN_TEMPLATE_OK      0
#define NGX_CAMPAIGN_TEMPLATE_ERROR  -1

#define ngx_campaign_template_space(c)                                      \
    ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n')

#define ngx_campaign_template_line_start(p, s)                              \
    ((s) == (p)->start || (s)[-1] == '\n')

/* room for len more bytes and the final NUL, growing the output if not */
#define ngx_campaign_template_reserve(r, len)                               \
    ((size_t) ((r)->end - (r)->pos) > (len)                                 \
     ? 0 : ngx_campaign_template_grow(r, len))

/*
 * A value this short is JSON-escaped byte by byte when there is room for
 * the worst case: a byte escapes into at most six in a JSON string, \u00XX.
 */
#define NGX_CAMPAIGN_TEMPLATE_SHORT  64

#define ngx_campaign_template_short(r, len)                                 \
    ((len) <= NGX_CAMPAIGN_TEMPLATE_SHORT                                   \
     && (len) < (size_t) ((r)->end - (r)->pos) / 6)

#define ngx_campaign_template_equal(s, len, lit)                            \
    ((len) == sizeof(lit) - 1 && memcmp(s, lit, sizeof(lit) - 1) == 0)

/* a name segment shown in a message is cut to this many bytes */
#define NGX_CAMPAIGN_TEMPLATE_SHOWN_NAME  64

#define ngx_campaign_template_shown(len)                                    \
    ((int) ((len) < NGX_CAMPAIGN_TEMPLATE_SHOWN_NAME                        \
            ? (len) : NGX_CAMPAIGN_TEMPLATE_SHOWN_NAME))


static const u_char  ngx_campaign_template_default_open[] = "{{";
static const u_char  ngx_campaign_template_default_close[] = "}}";


/* the block helpers, by ngx_campaign_template_block_e */
static const char  *ngx_campaign_template_helpers[] = {
    NULL, NULL, "if", "unless", "each", "with", NULL
};


/* the length of each byte's HTML escape; 0: copied as it is */
static const u_char  ngx_campaign_template_html_len[256] = {
    ['"'] = sizeof("&quot;") - 1,
    ['&'] = sizeof("&amp;") - 1,
    ['\''] = sizeof("&#39;") - 1,
    ['<'] = sizeof("&lt;") - 1,
    ['>'] = sizeof("&gt;") - 1
};


/* what a byte of a value needs: an HTML entity, JSON escaping, both */

#define NGX_CAMPAIGN_TEMPLATE_HTML  1
#define NGX_CAMPAIGN_TEMPLATE_JSON  2

static const u_char  ngx_campaign_template_escapes[256] = {
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    0, 0, 3, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0,    /* " & ' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0,    /* < > */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,    /* \ */
    /* 0x60 - 0xff: nothing to escape */
};


ngx_campaign_template_t *
ngx_campaign_template_compile(ngx_campaign_alloc_t *a, const u_char *src,
    size_t len, ngx_campaign_escape_e escape,
    ngx_campaign_template_error_t *err)
{
    ngx_campaign_template_opts_t  opts;

    opts.escape = escape;
    opts.partial = NULL;
    opts.partial_data = NULL;

    return ngx_campaign_template_compile_opts(a, src, len, &opts, err);
}


ngx_campaign_template_t *
ngx_campaign_template_compile_opts(ngx_campaign_alloc_t *a,
    const u_char *src, size_t len, const ngx_campaign_template_opts_t *opts,
    ngx_campaign_template_error_t *err)
{
    size_t                              i;
    ngx_campaign_template_t            *tpl;
    ngx_campaign_template_error_t       own, inner;
    ngx_campaign_template_compiler_t    c;
    ngx_campaign_template_fragment_t    f;

    if (err == NULL) {
        err = &own;
    }

    memset(err, 0, sizeof(ngx_campaign_template_error_t));

    if (opts->escape != NGX_CAMPAIGN_ESCAPE_NONE
        && opts->escape != NGX_CAMPAIGN_ESCAPE_HTML)
    {
        ngx_campaign_template_error(err, 0, 0, "unknown escape mode %d",
                                    (int) opts->escape);
        return NULL;
    }

    memset(&c, 0, sizeof(ngx_campaign_template_compiler_t));

    c.alloc = a;
    c.opts = opts;
    c.fragments.size = sizeof(ngx_campaign_template_fragment_t);

    tpl = ngx_campaign_alloc(a, sizeof(ngx_campaign_template_t));
    if (tpl == NULL) {
        ngx_campaign_template_error(err, 0, 0, "out of memory");
        return NULL;
    }

    if (ngx_campaign_template_parse(&c, tpl, src, len, err, 0, 0)
        != NGX_CAMPAIGN_TEMPLATE_OK)
    {
        return NULL;
    }

    /* the fragments, in the order first needed; the array grows meanwhile */

    for (i = 0; i < c.fragments.nelts; i++) {
        f = ((ngx_campaign_template_fragment_t *) c.fragments.elts)[i];

        memset(&inner, 0, sizeof(ngx_campaign_template_error_t));

        if (ngx_campaign_template_parse(&c, f.tpl, f.src, f.src_len, &inner,
                                        f.line, f.column)
            == NGX_CAMPAIGN_TEMPLATE_OK)
        {
            continue;
        }

        if (inner.line == 0) {
            /* out of memory: not the fragment's fault */
            *err = inner;
            return NULL;
        }

        ngx_campaign_template_error(err, f.line, f.column,
                                    "in fragment \"%.*s\": line %zu, "
                                    "column %zu: %s",
                                    ngx_campaign_template_shown(f.name.len),
                                    f.name.data, inner.line, inner.column,
                                    inner.message);
        return NULL;
    }

    return tpl;
}


const ngx_campaign_template_ref_t *
ngx_campaign_template_refs(const ngx_campaign_template_t *tpl, size_t *n)
{
    *n = tpl->nrefs;
    return tpl->refs;
}


static int
ngx_campaign_template_parse(ngx_campaign_template_compiler_t *c,
    ngx_campaign_template_t *tpl, const u_char *src, size_t len,
    ngx_campaign_template_error_t *err, size_t root_line,
    size_t root_column)
{
    char                             what[NGX_CAMPAIGN_TEMPLATE_SHOWN_NAME
                                          + 32];
    u_char                          *copy;
    unsigned                         expr;
    const u_char                    *start;
    ngx_campaign_template_op_t      *halt;
    ngx_campaign_template_open_t    *open;
    ngx_campaign_template_tag_t      tag;
    ngx_campaign_template_parser_t   p;

    memset(&p, 0, sizeof(ngx_campaign_template_parser_t));

    p.compiler = c;
    p.alloc = c->alloc;
    p.err = err;
    p.escape = c->opts->escape;
    p.root_line = root_line;
    p.root_column = root_column;

    copy = ngx_campaign_alloc(c->alloc, len + 1);
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
    p.expr = ngx_campaign_template_find(copy, p.end, (const u_char *) "{%",
                                        2);

    /* a fragment starts with the default delimiters, as Mustache says */

    p.open = ngx_campaign_template_default_open;
    p.open_len = sizeof(ngx_campaign_template_default_open) - 1;
    p.close = ngx_campaign_template_default_close;
    p.close_len = sizeof(ngx_campaign_template_default_close) - 1;

    p.ops.size = sizeof(ngx_campaign_template_op_t);
    p.refs.size = sizeof(ngx_campaign_template_ref_t);

    for ( ;; ) {
        start = ngx_campaign_template_next(&p, &expr);
        if (start == NULL) {
            break;
        }

        memset(&tag, 0, sizeof(ngx_campaign_template_tag_t));
        tag.start = start;

        if ((expr ? ngx_campaign_template_read_expr_tag(&p, &tag)
                  : ngx_campaign_template_read_tag(&p, &tag))
            != NGX_CAMPAIGN_TEMPLATE_OK
            || ngx_campaign_template_tag(&p, &tag) != NGX_CAMPAIGN_TEMPLATE_OK)
        {
            return NGX_CAMPAIGN_TEMPLATE_ERROR;
        }
    }

    if (p.depth) {
        open = &p.blocks[p.depth - 1];
        ngx_campaign_template_describe(open, what, sizeof(what));
        ngx_campaign_template_error(err, open->line, open->column,
                                    "unclosed %s", what);
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    if (ngx_campaign_template_add_text(&p, p.end) != NGX_CAMPAIGN_TEMPLATE_OK)
    {
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    halt = ngx_campaign_template_add_op(&p, NGX_CAMPAIGN_OP_HALT);
    if (halt == NULL) {
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    /* the end of a fragment starts no line to indent */
    halt->bol = 0;

    if (ngx_campaign_template_escape_texts(&p) != NGX_CAMPAIGN_TEMPLATE_OK) {
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    tpl->ops = p.ops.elts;
    tpl->refs = p.refs.elts;
    tpl->nrefs = p.refs.nelts;
    tpl->text_len = p.text_len;
    tpl->json_len = p.json_len;
    tpl->nvalues = p.nvalues;

    return NGX_CAMPAIGN_TEMPLATE_OK;

nomem:

    ngx_campaign_template_error(err, 0, 0, "out of memory");
    return NGX_CAMPAIGN_TEMPLATE_ERROR;
}


/*
 * The next tag: the open delimiter or "{%", whichever comes first.  The
 * position of "{%" is kept: most templates have none.
 */

static const u_char *
ngx_campaign_template_next(ngx_campaign_template_parser_t *p, unsigned *expr)
{
    const u_char  *tag;

    tag = ngx_campaign_template_find(p->text, p->end, p->open, p->open_len);

    if (p->expr != NULL && p->expr < p->text) {
        p->expr = ngx_campaign_template_find(p->text, p->end,
                                             (const u_char *) "{%", 2);
    }

    if (p->expr != NULL && (tag == NULL || p->expr < tag)) {
        *expr = 1;
        return p->expr;
    }

    *expr = 0;

    return tag;
}


static int
ngx_campaign_template_read_tag(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag)
{
    size_t         plen;
    const u_char  *s, *last, *content, *prefix;

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

    /*
     * What ends the tag before the close delimiter: "}" in "{{{name}}}",
     * "=" in "{{=<% %>=}}", "--" in a Handlebars comment "{{!-- --}}",
     * which may hold "}}".
     */

    prefix = (const u_char *) "";
    plen = 0;

    switch (tag->sigil) {

    case '{':
        prefix = (const u_char *) "}";
        plen = 1;
        break;

    case '=':
        prefix = (const u_char *) "=";
        plen = 1;
        break;

    case '!':
        if (p->end - content >= 2 && content[0] == '-' && content[1] == '-') {
            for (s = content + 2; (size_t) (p->end - s) >= 2 + p->close_len;
                 s++)
            {
                if (s[0] == '-' && s[1] == '-'
                    && memcmp(s + 2, p->close, p->close_len) == 0)
                {
                    tag->end = s + 2 + p->close_len;
                    tag->type = NGX_CAMPAIGN_TAG_COMMENT;
                    return NGX_CAMPAIGN_TEMPLATE_OK;
                }
            }

            /* a Mustache comment that starts with "--" */
        }

        break;
    }

    for (s = content; (size_t) (p->end - s) >= plen + p->close_len; s++) {
        if (memcmp(s, prefix, plen) == 0
            && memcmp(s + plen, p->close, p->close_len) == 0)
        {
            goto found;
        }
    }

    ngx_campaign_template_error(p->err, tag->line, tag->column,
                                "unclosed tag: no \"%s%.*s\" after "
                                "\"%.*s%.*s\"",
                                prefix, (int) p->close_len, p->close,
                                (int) p->open_len, p->open,
                                tag->sigil == '{', "{");
    return NGX_CAMPAIGN_TEMPLATE_ERROR;

found:

    tag->end = s + plen + p->close_len;

    last = s;

    while (content < last && ngx_campaign_template_space(*content)) {
        content++;
    }

    while (last > content && ngx_campaign_template_space(last[-1])) {
        last--;
    }

    tag->name = content;
    tag->name_len = last - content;

    switch (tag->sigil) {

    case '!':
        tag->type = NGX_CAMPAIGN_TAG_COMMENT;
        return NGX_CAMPAIGN_TEMPLATE_OK;

    case '=':
        tag->type = NGX_CAMPAIGN_TAG_DELIMITERS;
        return NGX_CAMPAIGN_TEMPLATE_OK;

    case '{':
    case '&':
        tag->type = NGX_CAMPAIGN_TAG_RAW;
        break;

    case '>':
        tag->type = NGX_CAMPAIGN_TAG_PARTIAL;
        break;

    case '/':
        tag->type = NGX_CAMPAIGN_TAG_CLOSE;
        break;

    case '#':
    case '^':
        tag->type = NGX_CAMPAIGN_TAG_OPEN;
        tag->block = (tag->sigil == '#') ? NGX_CAMPAIGN_BLOCK_SECTION
                                         : NGX_CAMPAIGN_BLOCK_INVERTED;

        if (tag->name_len == 0) {
            break;
        }

        return ngx_campaign_template_read_open(p, tag);

    default: /* ' ' */
        tag->type = NGX_CAMPAIGN_TAG_VALUE;

        if (tag->name_len < 4 || memcmp(tag->name, "else", 4) != 0
            || (tag->name_len > 4 && !ngx_campaign_template_space(
                                          tag->name[4])))
        {
            break;
        }

        tag->type = NGX_CAMPAIGN_TAG_ELSE;

        if (tag->name_len == 4) {
            return NGX_CAMPAIGN_TEMPLATE_OK;
        }

        /* "else if path" */

        s = tag->name + 4;
        last = tag->name + tag->name_len;

        while (ngx_campaign_template_space(*s)) {
            s++;
        }

        if (last - s < 3 || s[0] != 'i' || s[1] != 'f'
            || !ngx_campaign_template_space(s[2]))
        {
            ngx_campaign_template_error(p->err, tag->line, tag->column,
                                        "\"else\" takes \"if path\", found "
                                        "\"%.*s\"",
                                        ngx_campaign_template_shown(last - s),
                                        s);
            return NGX_CAMPAIGN_TEMPLATE_ERROR;
        }

        for (s += 3; ngx_campaign_template_space(*s); s++) { /* void */ }

        tag->arg = s;
        tag->arg_len = last - s;
        tag->block = NGX_CAMPAIGN_BLOCK_IF;

        return ngx_campaign_template_check_name(p, tag, tag->arg,
                                                tag->arg_len);
    }

    return ngx_campaign_template_check_name(p, tag, tag->name,
                                            tag->name_len);
}


/*
 * {{#name}}, {{^name}}, or a block helper: {{#if path}}, {{#unless path}},
 * {{#each path}}, {{#each path as |item index|}}, {{#with path}}.
 */

static int
ngx_campaign_template_read_open(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag)
{
    size_t         i, n;
    const u_char  *s, *word, *last;

    last = tag->name + tag->name_len;

    for (s = tag->name; s < last && !ngx_campaign_template_space(*s); s++) {
        /* void */
    }

    word = tag->name;
    n = s - word;

    for (i = NGX_CAMPAIGN_BLOCK_IF; i <= NGX_CAMPAIGN_BLOCK_WITH; i++) {
        if (tag->sigil == '#'
            && n == strlen(ngx_campaign_template_helpers[i])
            && memcmp(word, ngx_campaign_template_helpers[i], n) == 0)
        {
            goto helper;
        }
    }

    tag->arg = tag->name;
    tag->arg_len = tag->name_len;

    return ngx_campaign_template_check_name(p, tag, tag->arg, tag->arg_len);

helper:

    tag->block = (ngx_campaign_template_block_e) i;

    while (s < last && ngx_campaign_template_space(*s)) {
        s++;
    }

    if (s == last) {
        ngx_campaign_template_error(p->err, tag->line, tag->column,
                                    "\"#%s\" needs a path",
                                    ngx_campaign_template_helpers[i]);
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    tag->arg = s;

    while (s < last && !ngx_campaign_template_space(*s)) {
        s++;
    }

    tag->arg_len = s - tag->arg;

    while (s < last && ngx_campaign_template_space(*s)) {
        s++;
    }

    if (s < last) {
        if (tag->block == NGX_CAMPAIGN_BLOCK_IF
            || tag->block == NGX_CAMPAIGN_BLOCK_UNLESS)
        {
            ngx_campaign_template_error(p->err, tag->line, tag->column,
                                        "\"#%s\" takes one path, found "
                                        "\"%.*s\"",
                                        ngx_campaign_template_helpers[i],
                                        ngx_campaign_template_shown(
                                            last - tag->arg),
                                        tag->arg);
            return NGX_CAMPAIGN_TEMPLATE_ERROR;
        }

        tag->params = s;
        tag->params_len = last - s;
    }

    return ngx_campaign_template_check_name(p, tag, tag->arg, tag->arg_len);
}


/*
 * {%= expr %}, {%#if expr %}, {%else if expr %}, {%else%}, {%/if%}.  The
 * tag ends at the first "%}" outside a string literal of the expression.
 */

static int
ngx_campaign_template_read_expr_tag(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag)
{
    u_char         quote;
    const u_char  *s, *last, *content;

    ngx_campaign_template_locate(p, tag->start, &tag->line, &tag->column);

    content = tag->start + 2;
    quote = 0;

    for (s = content; p->end - s >= 2; s++) {
        if (quote) {
            if (*s == '\\') {
                s++;

            } else if (*s == quote) {
                quote = 0;
            }

            continue;
        }

        if (*s == '"' || *s == '\'') {
            quote = *s;
            continue;
        }

        if (s[0] == '%' && s[1] == '}') {
            goto found;
        }
    }

    ngx_campaign_template_error(p->err, tag->line, tag->column,
                                "unclosed tag: no \"%%}\" after \"{%%\"%s",
                                quote ? " (in a string literal)" : "");
    return NGX_CAMPAIGN_TEMPLATE_ERROR;

found:

    tag->end = s + 2;
    last = s;

    tag->sigil = (content < last) ? *content : ' ';

    if (tag->sigil == '=' || tag->sigil == '#' || tag->sigil == '/') {
        content++;
    }

    while (content < last && ngx_campaign_template_space(*content)) {
        content++;
    }

    while (last > content && ngx_campaign_template_space(last[-1])) {
        last--;
    }

    tag->name = content;
    tag->name_len = last - content;

    switch (tag->sigil) {

    case '=':
        tag->type = NGX_CAMPAIGN_TAG_EXPR;
        tag->arg = content;
        tag->arg_len = last - content;
        break;

    case '/':
        if (!ngx_campaign_template_equal(content, tag->name_len, "if")) {
            goto unknown;
        }

        tag->type = NGX_CAMPAIGN_TAG_EXPR_CLOSE;
        return NGX_CAMPAIGN_TEMPLATE_OK;

    case '#':
        if (last - content < 2 || content[0] != 'i' || content[1] != 'f'
            || (last - content > 2
                && !ngx_campaign_template_space(content[2])))
        {
            goto unknown;
        }

        tag->type = NGX_CAMPAIGN_TAG_EXPR_OPEN;
        tag->block = NGX_CAMPAIGN_BLOCK_EXPR_IF;
        tag->arg = content + 2;
        break;

    default:
        if (ngx_campaign_template_equal(content, tag->name_len, "else")) {
            tag->type = NGX_CAMPAIGN_TAG_EXPR_ELSE;
            return NGX_CAMPAIGN_TEMPLATE_OK;
        }

        if (last - content < 7 || memcmp(content, "else", 4) != 0
            || !ngx_campaign_template_space(content[4]))
        {
            goto unknown;
        }

        for (s = content + 5; ngx_campaign_template_space(*s); s++) {
            /* void */
        }

        if (last - s < 2 || s[0] != 'i' || s[1] != 'f'
            || (last - s > 2 && !ngx_campaign_template_space(s[2])))
        {
            goto unknown;
        }

        tag->type = NGX_CAMPAIGN_TAG_EXPR_ELSE;
        tag->block = NGX_CAMPAIGN_BLOCK_EXPR_IF;
        tag->arg = s + 2;
        break;
    }

    while (tag->arg < last && ngx_campaign_template_space(*tag->arg)) {
        tag->arg++;
    }

    tag->arg_len = last - tag->arg;

    if (tag->arg_len == 0) {
        ngx_campaign_template_error(p->err, tag->line, tag->column,
                                    "empty expression");
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    return NGX_CAMPAIGN_TEMPLATE_OK;

unknown:

    ngx_campaign_template_error(p->err, tag->line, tag->column,
                                "unknown expression tag \"{%%%.*s%%}\": "
                                "expected {%%= expr %%}, {%%#if expr %%}, "
                                "{%%else if expr %%}, {%%else%%} or "
                                "{%%/if%%}",
                                ngx_campaign_template_shown(
                                    tag->end - 2 - (tag->start + 2)),
                                tag->start + 2);
    return NGX_CAMPAIGN_TEMPLATE_ERROR;
}


static int
ngx_campaign_template_check_name(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag, const u_char *s, size_t len)
{
    size_t  i;

    if (len == 0) {
        ngx_campaign_template_error(p->err, tag->line, tag->column,
                                    "empty tag name");
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    for (i = 0; i < len; i++) {
        if (s[i] <= ' ' || s[i] == 0x7f) {
            ngx_campaign_template_error(p->err, tag->line, tag->column,
                                        "invalid character in tag name "
                                        "\"%.*s\"",
                                        ngx_campaign_template_shown(i), s);
            return NGX_CAMPAIGN_TEMPLATE_ERROR;
        }
    }

    return NGX_CAMPAIGN_TEMPLATE_OK;
}


static int
ngx_campaign_template_tag(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag)
{
    unsigned                     standalone;
    const u_char                *next, *text_end;
    ngx_campaign_template_op_t  *op;

    switch (tag->type) {

    case NGX_CAMPAIGN_TAG_VALUE:
    case NGX_CAMPAIGN_TAG_RAW:
    case NGX_CAMPAIGN_TAG_EXPR:
        standalone = 0;
        break;

    default:
        standalone = ngx_campaign_template_standalone(p, tag, &text_end,
                                                      &next);
    }

    if (!standalone) {
        text_end = tag->start;
        next = tag->end;
    }

    /* standalone: the whole line goes, its indentation and line ending */

    if (ngx_campaign_template_add_text(p, text_end)
        != NGX_CAMPAIGN_TEMPLATE_OK)
    {
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    p->text = next;

    /* a tag that writes nothing at a line start hands its "bol" on */
    if (!standalone && ngx_campaign_template_line_start(p, tag->start)) {
        p->bol = 1;
    }

    switch (tag->type) {

    case NGX_CAMPAIGN_TAG_COMMENT:
        return NGX_CAMPAIGN_TEMPLATE_OK;

    case NGX_CAMPAIGN_TAG_DELIMITERS:
        return ngx_campaign_template_delimiters(p, tag);

    case NGX_CAMPAIGN_TAG_PARTIAL:
        return ngx_campaign_template_partial(p, tag, standalone, text_end);

    case NGX_CAMPAIGN_TAG_OPEN:
    case NGX_CAMPAIGN_TAG_EXPR_OPEN:
        return ngx_campaign_template_open_block(p, tag);

    case NGX_CAMPAIGN_TAG_ELSE:
    case NGX_CAMPAIGN_TAG_EXPR_ELSE:
        return ngx_campaign_template_else(p, tag);

    case NGX_CAMPAIGN_TAG_CLOSE:
    case NGX_CAMPAIGN_TAG_EXPR_CLOSE:
        return ngx_campaign_template_close_block(p, tag);

    case NGX_CAMPAIGN_TAG_EXPR:
        op = ngx_campaign_template_add_op(p, NGX_CAMPAIGN_OP_EXPR);
        if (op == NULL) {
            return NGX_CAMPAIGN_TEMPLATE_ERROR;
        }

        op->escape = p->escape;
        p->nvalues++;

        op->u.expr = ngx_campaign_template_expr(p, tag);

        return op->u.expr ? NGX_CAMPAIGN_TEMPLATE_OK
                          : NGX_CAMPAIGN_TEMPLATE_ERROR;

    default: /* NGX_CAMPAIGN_TAG_VALUE, NGX_CAMPAIGN_TAG_RAW */
        op = ngx_campaign_template_add_named(p, tag, tag->name,
                                             tag->name_len,
                                             NGX_CAMPAIGN_OP_VALUE, 0);
        if (op == NULL) {
            return NGX_CAMPAIGN_TEMPLATE_ERROR;
        }

        op->escape = (tag->type == NGX_CAMPAIGN_TAG_VALUE)
                     ? p->escape : NGX_CAMPAIGN_ESCAPE_NONE;
        p->nvalues++;

        return NGX_CAMPAIGN_TEMPLATE_OK;
    }
}


/*
 * A tag but a value alone on its line, with only spaces and tabs around
 * it, takes the whole line with it.
 */

static int
ngx_campaign_template_standalone(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag, const u_char **text_end,
    const u_char **next)
{
    const u_char  *left, *right;

    /* nothing but indentation since the line start or the last tag */

    left = tag->start;

    while (left > p->text && (left[-1] == ' ' || left[-1] == '\t')) {
        left--;
    }

    if (!ngx_campaign_template_line_start(p, left)) {
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


/* {{=<% %>=}}: two delimiters without spaces or "=" */

static int
ngx_campaign_template_delimiters(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag)
{
    const u_char  *s, *last, *open, *close;

    s = tag->name;
    last = s + tag->name_len;

    for (open = s; s < last && !ngx_campaign_template_space(*s); s++) {
        if (*s == '=') {
            goto invalid;
        }
    }

    if (s == open || s == last) {
        goto invalid;
    }

    p->open = open;
    p->open_len = s - open;

    while (ngx_campaign_template_space(*s)) {
        s++;
    }

    for (close = s; s < last; s++) {
        if (*s == '=' || ngx_campaign_template_space(*s)) {
            goto invalid;
        }
    }

    p->close = close;
    p->close_len = s - close;

    return NGX_CAMPAIGN_TEMPLATE_OK;

invalid:

    ngx_campaign_template_error(p->err, tag->line, tag->column,
                                "invalid delimiters \"%.*s\": expected two, "
                                "without spaces or \"=\", as in "
                                "{{=<%% %%>=}}",
                                ngx_campaign_template_shown(tag->name_len),
                                tag->name);
    return NGX_CAMPAIGN_TEMPLATE_ERROR;
}


/*
 * {{> name}}: the fragment is looked up now, so that a typo is an error
 * at its tag, and compiled once all of the including template is.
 */

static int
ngx_campaign_template_partial(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag, unsigned standalone,
    const u_char *indent)
{
    size_t                               i, src_len;
    u_char                              *name;
    const u_char                        *src;
    ngx_campaign_template_t             *tpl;
    ngx_campaign_template_op_t          *op;
    ngx_campaign_template_compiler_t    *c;
    ngx_campaign_template_fragment_t    *f;

    c = p->compiler;

    f = c->fragments.elts;

    for (i = 0; i < c->fragments.nelts; i++) {
        if (f[i].name.len == tag->name_len
            && memcmp(f[i].name.data, tag->name, tag->name_len) == 0)
        {
            tpl = f[i].tpl;
            goto found;
        }
    }

    if (c->opts->partial == NULL
        || c->opts->partial(c->opts->partial_data, tag->name, tag->name_len,
                            &src, &src_len)
           != 0)
    {
        ngx_campaign_template_error(p->err, tag->line, tag->column,
                                    "unknown fragment \"%.*s\"",
                                    ngx_campaign_template_shown(
                                        tag->name_len),
                                    tag->name);
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    name = ngx_campaign_alloc(p->alloc, tag->name_len);
    tpl = ngx_campaign_alloc(p->alloc, sizeof(ngx_campaign_template_t));
    f = ngx_campaign_template_array_push(p->alloc, &c->fragments);

    if (name == NULL || tpl == NULL || f == NULL) {
        ngx_campaign_template_error(p->err, 0, 0, "out of memory");
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    memcpy(name, tag->name, tag->name_len);
    memset(tpl, 0, sizeof(ngx_campaign_template_t));

    f->name.data = name;
    f->name.len = tag->name_len;
    f->src = src;
    f->src_len = src_len;
    f->tpl = tpl;
    f->line = p->root_line ? p->root_line : tag->line;
    f->column = p->root_line ? p->root_column : tag->column;

found:

    op = ngx_campaign_template_add_op(p, NGX_CAMPAIGN_OP_PARTIAL);
    if (op == NULL) {
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    op->u.partial = tpl;

    if (standalone) {
        op->standalone = 1;
        op->text = indent;
        op->len = tag->start - indent;
    }

    return NGX_CAMPAIGN_TEMPLATE_OK;
}


static int
ngx_campaign_template_open_block(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag)
{
    const ngx_campaign_template_params_t  *params;
    ngx_campaign_template_op_t            *op;
    ngx_campaign_template_open_t          *open;

    if (p->depth == NGX_CAMPAIGN_TEMPLATE_MAX_DEPTH) {
        ngx_campaign_template_error(p->err, tag->line, tag->column,
                                    "sections nested deeper than %d",
                                    NGX_CAMPAIGN_TEMPLATE_MAX_DEPTH);
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    params = NULL;

    switch (tag->block) {

    case NGX_CAMPAIGN_BLOCK_SECTION:
    case NGX_CAMPAIGN_BLOCK_INVERTED:
        if (ngx_campaign_template_add_named(p, tag, tag->arg, tag->arg_len,
                                            (tag->block
                                             == NGX_CAMPAIGN_BLOCK_SECTION)
                                            ? NGX_CAMPAIGN_OP_SECTION
                                            : NGX_CAMPAIGN_OP_INVERTED,
                                            1)
            == NULL)
        {
            return NGX_CAMPAIGN_TEMPLATE_ERROR;
        }

        break;

    case NGX_CAMPAIGN_BLOCK_EACH:
    case NGX_CAMPAIGN_BLOCK_WITH:
        if (tag->params) {
            params = ngx_campaign_template_params(p, tag,
                                                  tag->block
                                                  == NGX_CAMPAIGN_BLOCK_EACH);
            if (params == NULL) {
                return NGX_CAMPAIGN_TEMPLATE_ERROR;
            }
        }

        op = ngx_campaign_template_add_named(p, tag, tag->arg, tag->arg_len,
                                             (tag->block
                                              == NGX_CAMPAIGN_BLOCK_EACH)
                                             ? NGX_CAMPAIGN_OP_EACH
                                             : NGX_CAMPAIGN_OP_WITH,
                                             1);
        if (op == NULL) {
            return NGX_CAMPAIGN_TEMPLATE_ERROR;
        }

        op->u.params = params;
        break;

    default: /* if, unless, {%#if %} */
        if (ngx_campaign_template_condition(p, tag,
                                            tag->block
                                            == NGX_CAMPAIGN_BLOCK_UNLESS)
            != NGX_CAMPAIGN_TEMPLATE_OK)
        {
            return NGX_CAMPAIGN_TEMPLATE_ERROR;
        }
    }

    open = &p->blocks[p->depth++];

    open->type = tag->block;
    open->op = p->ops.nelts - 1;
    open->pending = open->op;
    open->jumps = 0;
    open->line = tag->line;
    open->column = tag->column;
    open->params = params;
    open->in_else = 0;
    open->in_chain = 0;

    if (tag->block <= NGX_CAMPAIGN_BLOCK_INVERTED) {
        open->name = tag->arg;
        open->name_len = tag->arg_len;

    } else {
        open->name = (const u_char *) ngx_campaign_template_helpers[
                                                               tag->block];
        open->name_len = open->name ? strlen((const char *) open->name) : 0;
    }

    return NGX_CAMPAIGN_TEMPLATE_OK;
}


/* an IF or EXPR_IF op, of a block or of {{else if}} */

static int
ngx_campaign_template_condition(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag, unsigned negate)
{
    const ngx_campaign_expr_t   *expr;
    ngx_campaign_template_op_t  *op;

    if (tag->block != NGX_CAMPAIGN_BLOCK_EXPR_IF) {
        op = ngx_campaign_template_add_named(p, tag, tag->arg, tag->arg_len,
                                             NGX_CAMPAIGN_OP_IF, 1);
        if (op == NULL) {
            return NGX_CAMPAIGN_TEMPLATE_ERROR;
        }

        op->negate = negate;

        return NGX_CAMPAIGN_TEMPLATE_OK;
    }

    op = ngx_campaign_template_add_op(p, NGX_CAMPAIGN_OP_EXPR_IF);
    if (op == NULL) {
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    expr = ngx_campaign_template_expr(p, tag);
    if (expr == NULL) {
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    /* the ops may have moved */
    ((ngx_campaign_template_op_t *) p->ops.elts)[p->ops.nelts - 1].u.expr =
        expr;

    return NGX_CAMPAIGN_TEMPLATE_OK;
}


/* "as |item|" or "as |item index|" */

static ngx_campaign_template_params_t *
ngx_campaign_template_params(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag, unsigned with_index)
{
    size_t                           i;
    const u_char                    *s, *last;
    ngx_campaign_segment_t          *param;
    ngx_campaign_template_params_t  *params;

    s = tag->params;
    last = s + tag->params_len;

    if (last - s < 4 || s[0] != 'a' || s[1] != 's'
        || !ngx_campaign_template_space(s[2]))
    {
        goto invalid;
    }

    for (s += 3; s < last && ngx_campaign_template_space(*s); s++) {
        /* void */
    }

    if (last - s < 2 || *s++ != '|' || last[-1] != '|') {
        goto invalid;
    }

    last--;

    params = ngx_campaign_alloc(p->alloc,
                                sizeof(ngx_campaign_template_params_t));
    if (params == NULL) {
        ngx_campaign_template_error(p->err, 0, 0, "out of memory");
        return NULL;
    }

    memset(params, 0, sizeof(ngx_campaign_template_params_t));

    for (i = 0; i < 2; i++) {
        while (s < last && ngx_campaign_template_space(*s)) {
            s++;
        }

        if (s == last) {
            break;
        }

        param = (i == 0) ? &params->item : &params->index;
        param->data = s;

        while (s < last && !ngx_campaign_template_space(*s)) {
            if (*s == '.' || *s == '/' || *s == '@' || *s == '|') {
                goto invalid;
            }

            s++;
        }

        param->len = s - param->data;
    }

    while (s < last && ngx_campaign_template_space(*s)) {
        s++;
    }

    if (params->item.len == 0 || s != last
        || (params->index.len && !with_index))
    {
        goto invalid;
    }

    return params;

invalid:

    ngx_campaign_template_error(p->err, tag->line, tag->column,
                                "invalid block parameters \"%.*s\": expected "
                                "%s",
                                ngx_campaign_template_shown(tag->params_len),
                                tag->params,
                                with_index ? "\"as |item|\" or "
                                             "\"as |item index|\""
                                           : "\"as |name|\"");
    return NULL;
}


static const ngx_campaign_expr_t *
ngx_campaign_template_expr(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag)
{
    size_t  line, column;

    ngx_campaign_template_locate(p, tag->arg, &line, &column);

    return ngx_campaign_expr_compile(p->alloc, tag->arg, tag->arg_len, line,
                                     column, p->err);
}


static int
ngx_campaign_template_else(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag)
{
    char                           what[NGX_CAMPAIGN_TEMPLATE_SHOWN_NAME
                                        + 32];
    unsigned                       expr;
    const char                    *shown;
    ngx_campaign_template_op_t    *op, *ops;
    ngx_campaign_template_open_t  *open;

    expr = (tag->type == NGX_CAMPAIGN_TAG_EXPR_ELSE);
    shown = expr ? (tag->arg ? "{%else if%}" : "{%else%}")
                 : (tag->arg ? "{{else if}}" : "{{else}}");

    if (p->depth == 0) {
        ngx_campaign_template_error(p->err, tag->line, tag->column,
                                    "\"%s\" outside a block", shown);
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    open = &p->blocks[p->depth - 1];
    ngx_campaign_template_describe(open, what, sizeof(what));

    if (open->type <= NGX_CAMPAIGN_BLOCK_INVERTED
        || expr != (open->type == NGX_CAMPAIGN_BLOCK_EXPR_IF))
    {
        ngx_campaign_template_error(p->err, tag->line, tag->column,
                                    "\"%s\" does not belong in %s opened at "
                                    "line %zu, column %zu", shown, what,
                                    open->line, open->column);
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    if (open->in_else) {
        ngx_campaign_template_error(p->err, tag->line, tag->column,
                                    "\"%s\" after \"%s\" in %s opened at "
                                    "line %zu, column %zu", shown,
                                    expr ? "{%else%}" : "{{else}}", what,
                                    open->line, open->column);
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    if (!open->in_chain
        && (open->type == NGX_CAMPAIGN_BLOCK_EACH
            || open->type == NGX_CAMPAIGN_BLOCK_WITH))
    {
        op = ngx_campaign_template_add_op(p, NGX_CAMPAIGN_OP_END);
        if (op == NULL) {
            return NGX_CAMPAIGN_TEMPLATE_ERROR;
        }

        op->jump = open->op + 1;
    }

    /* the branch before ends with a jump to the end of the block */

    op = ngx_campaign_template_add_op(p, NGX_CAMPAIGN_OP_JUMP);
    if (op == NULL) {
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    op->jump = open->jumps;
    open->jumps = p->ops.nelts;

    ops = p->ops.elts;
    ops[open->pending].jump = p->ops.nelts;

    /* no more context of the body, nor its block parameters */
    open->in_chain = 1;

    if (tag->arg == NULL) {
        open->in_else = 1;
        open->pending = NGX_CAMPAIGN_TEMPLATE_NONE;
        return NGX_CAMPAIGN_TEMPLATE_OK;
    }

    if (ngx_campaign_template_condition(p, tag, 0)
        != NGX_CAMPAIGN_TEMPLATE_OK)
    {
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    open->pending = p->ops.nelts - 1;

    return NGX_CAMPAIGN_TEMPLATE_OK;
}


static int
ngx_campaign_template_close_block(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag)
{
    char                           what[NGX_CAMPAIGN_TEMPLATE_SHOWN_NAME
                                        + 32];
    int                            shown_len;
    size_t                         i, next;
    unsigned                       match;
    const char                    *helper;
    const u_char                  *shown;
    ngx_campaign_template_op_t    *op, *ops;
    ngx_campaign_template_open_t  *open;

    if (tag->type == NGX_CAMPAIGN_TAG_EXPR_CLOSE) {
        shown = (const u_char *) "{%/if%}";
        shown_len = sizeof("{%/if%}") - 1;

    } else {
        shown = tag->name;
        shown_len = ngx_campaign_template_shown(tag->name_len);
    }

    if (p->depth == 0) {
        ngx_campaign_template_error(p->err, tag->line, tag->column,
                                    "close tag \"%.*s\" without an open "
                                    "section", shown_len, shown);
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    open = &p->blocks[p->depth - 1];

    if (tag->type == NGX_CAMPAIGN_TAG_EXPR_CLOSE) {
        match = (open->type == NGX_CAMPAIGN_BLOCK_EXPR_IF);

    } else if (open->type <= NGX_CAMPAIGN_BLOCK_INVERTED) {
        match = (tag->name_len == open->name_len
                 && memcmp(tag->name, open->name, open->name_len) == 0);

    } else {
        helper = ngx_campaign_template_helpers[open->type];
        match = (helper != NULL && tag->name_len == strlen(helper)
                 && memcmp(tag->name, helper, tag->name_len) == 0);
    }

    if (!match) {
        ngx_campaign_template_describe(open, what, sizeof(what));
        ngx_campaign_template_error(p->err, tag->line, tag->column,
                                    "close tag \"%.*s\" does not match %s "
                                    "opened at line %zu, column %zu",
                                    shown_len, shown, what, open->line,
                                    open->column);
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    p->depth--;

    if (!open->in_chain
        && (open->type == NGX_CAMPAIGN_BLOCK_SECTION
            || open->type == NGX_CAMPAIGN_BLOCK_EACH
            || open->type == NGX_CAMPAIGN_BLOCK_WITH))
    {
        op = ngx_campaign_template_add_op(p, NGX_CAMPAIGN_OP_END);
        if (op == NULL) {
            return NGX_CAMPAIGN_TEMPLATE_ERROR;
        }

        op->jump = open->op + 1;
    }

    ops = p->ops.elts;

    if (open->pending != NGX_CAMPAIGN_TEMPLATE_NONE) {
        ops[open->pending].jump = p->ops.nelts;
    }

    for (i = open->jumps; i; i = next) {
        next = ops[i - 1].jump;
        ops[i - 1].jump = p->ops.nelts;
    }

    return NGX_CAMPAIGN_TEMPLATE_OK;
}


/* section "items", block "#if", block "{%#if%}" */

static void
ngx_campaign_template_describe(ngx_campaign_template_open_t *open, char *buf,
    size_t size)
{
    switch (open->type) {

    case NGX_CAMPAIGN_BLOCK_SECTION:
    case NGX_CAMPAIGN_BLOCK_INVERTED:
        snprintf(buf, size, "section \"%.*s\"",
                 ngx_campaign_template_shown(open->name_len), open->name);
        break;

    case NGX_CAMPAIGN_BLOCK_EXPR_IF:
        snprintf(buf, size, "block \"{%%#if%%}\"");
        break;

    default:
        snprintf(buf, size, "block \"#%s\"",
                 ngx_campaign_template_helpers[open->type]);
    }
}


static ngx_campaign_template_op_t *
ngx_campaign_template_add_named(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag, const u_char *s, size_t len,
    ngx_campaign_template_op_e type, unsigned section)
{
    ngx_campaign_template_op_t    *op;
    ngx_campaign_template_ref_t   *ref;
    ngx_campaign_template_name_t  *name;

    name = ngx_campaign_template_name(p, tag, s, len);
    if (name == NULL) {
        return NULL;
    }

    ref = ngx_campaign_template_array_push(p->alloc, &p->refs);
    if (ref == NULL) {
        ngx_campaign_template_error(p->err, 0, 0, "out of memory");
        return NULL;
    }

    ref->name = s;
    ref->len = len;
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


/*
 * "a.b" resolves "a" up the context stack; ".", "this", "this.a", "../a",
 * "../../a", "@root.a" and block parameters start from one context;
 * "@index", "@key", "@first", "@last" are the nearest iteration's.
 */

static ngx_campaign_template_name_t *
ngx_campaign_template_name(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag, const u_char *s, size_t len)
{
    size_t                                  i, up;
    const u_char                           *last, *dot;
    ngx_campaign_template_open_t           *open;
    ngx_campaign_template_name_t           *name;
    const ngx_campaign_template_params_t   *params;

    name = ngx_campaign_alloc(p->alloc, sizeof(ngx_campaign_template_name_t));
    if (name == NULL) {
        ngx_campaign_template_error(p->err, 0, 0, "out of memory");
        return NULL;
    }

    memset(name, 0, sizeof(ngx_campaign_template_name_t));

    last = s + len;

    if (len == 1 && s[0] == '.') {
        name->type = NGX_CAMPAIGN_NAME_CONTEXT;
        return name;
    }

    while (last - s >= 2 && s[0] == '.' && s[1] == '.'
           && (last - s == 2 || s[2] == '/'))
    {
        name->type = NGX_CAMPAIGN_NAME_CONTEXT;
        name->up++;
        s += (last - s == 2) ? 2 : 3;
    }

    if (s == last) {
        if (name->up) {
            /* ".." */
            return name;
        }

        ngx_campaign_template_error(p->err, tag->line, tag->column,
                                    "empty tag name");
        return NULL;
    }

    if (ngx_campaign_template_split(p, tag, s, last - s, name)
        != NGX_CAMPAIGN_TEMPLATE_OK)
    {
        return NULL;
    }

    switch (ngx_campaign_template_special(&name->segments[0], name)) {

    case 1:
        name->segments++;
        name->nsegments--;
        break;

    case -1:
        dot = memchr(s, '.', last - s);
        ngx_campaign_template_error(p->err, tag->line, tag->column,
                                    "unknown data variable \"%.*s\"",
                                    ngx_campaign_template_shown(
                                        (dot ? dot : last) - s),
                                    s);
        return NULL;

    default:
        if (name->up) {
            break;
        }

        /* block parameters of the blocks around, the innermost first */

        up = 0;

        for (i = p->depth; i > 0; i--) {
            open = &p->blocks[i - 1];

            if (open->in_chain
                || (open->type != NGX_CAMPAIGN_BLOCK_SECTION
                    && open->type != NGX_CAMPAIGN_BLOCK_EACH
                    && open->type != NGX_CAMPAIGN_BLOCK_WITH))
            {
                /* no context of its own */
                continue;
            }

            params = open->params;

            if (params != NULL
                && name->segments[0].len == params->item.len
                && memcmp(name->segments[0].data, params->item.data,
                          params->item.len) == 0)
            {
                name->type = NGX_CAMPAIGN_NAME_CONTEXT;
                name->up = up;
                name->segments++;
                name->nsegments--;
                break;
            }

            if (params != NULL && params->index.len
                && name->segments[0].len == params->index.len
                && memcmp(name->segments[0].data, params->index.data,
                          params->index.len) == 0)
            {
                name->type = NGX_CAMPAIGN_NAME_KEY;
                name->up = up;
                name->segments++;
                name->nsegments--;
                break;
            }

            up++;
        }
    }

    return name;
}


static int
ngx_campaign_template_split(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_tag_t *tag, const u_char *s, size_t len,
    ngx_campaign_template_name_t *name)
{
    size_t                   i, n;
    const u_char            *last, *dot;
    ngx_campaign_segment_t  *segments;

    last = s + len;

    n = 1;
    for (dot = s; dot < last; dot++) {
        n += (*dot == '.');
    }

    segments = ngx_campaign_alloc(p->alloc,
                                  n * sizeof(ngx_campaign_segment_t));
    if (segments == NULL) {
        ngx_campaign_template_error(p->err, 0, 0, "out of memory");
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    for (i = 0; i < n; i++) {
        dot = memchr(s, '.', last - s);
        if (dot == NULL) {
            dot = last;
        }

        if (dot == s) {
            ngx_campaign_template_error(p->err, tag->line, tag->column,
                                        "empty segment in tag name \"%.*s\"",
                                        ngx_campaign_template_shown(
                                            tag->name_len),
                                        tag->name);
            return NGX_CAMPAIGN_TEMPLATE_ERROR;
        }

        segments[i].data = s;
        segments[i].len = dot - s;

        s = dot + 1;
    }

    name->segments = segments;
    name->nsegments = n;

    return NGX_CAMPAIGN_TEMPLATE_OK;
}


/*
 * "this", "@root", "@index", ... as the first segment of a name: sets its
 * type, returns 1; 0: an ordinary segment; -1: an unknown "@name".
 */

static int
ngx_campaign_template_special(const ngx_campaign_segment_t *first,
    ngx_campaign_template_name_t *name)
{
    const u_char  *s;

    s = first->data;

    if (ngx_campaign_template_equal(s, first->len, "this")) {
        name->type = NGX_CAMPAIGN_NAME_CONTEXT;
        return 1;
    }

    if (first->len == 0 || s[0] != '@' || name->up) {
        return 0;
    }

    if (ngx_campaign_template_equal(s, first->len, "@root")) {
        name->type = NGX_CAMPAIGN_NAME_ROOT;

    } else if (ngx_campaign_template_equal(s, first->len, "@index")) {
        name->type = NGX_CAMPAIGN_NAME_INDEX;

    } else if (ngx_campaign_template_equal(s, first->len, "@key")) {
        name->type = NGX_CAMPAIGN_NAME_KEY;

    } else if (ngx_campaign_template_equal(s, first->len, "@first")) {
        name->type = NGX_CAMPAIGN_NAME_FIRST;

    } else if (ngx_campaign_template_equal(s, first->len, "@last")) {
        name->type = NGX_CAMPAIGN_NAME_LAST;

    } else {
        return -1;
    }

    if (name->type != NGX_CAMPAIGN_NAME_ROOT) {
        name->up = NGX_CAMPAIGN_TEMPLATE_NEAREST;
    }

    return 1;
}


static int
ngx_campaign_template_add_text(ngx_campaign_template_parser_t *p,
    const u_char *end)
{
    unsigned                     bol;
    ngx_campaign_template_op_t  *op;

    if (end == p->text) {
        return NGX_CAMPAIGN_TEMPLATE_OK;
    }

    bol = p->bol || ngx_campaign_template_line_start(p, p->text);

    op = ngx_campaign_template_add_op(p, NGX_CAMPAIGN_OP_TEXT);
    if (op == NULL) {
        return NGX_CAMPAIGN_TEMPLATE_ERROR;
    }

    op->bol = bol;
    op->text = p->text;
    op->len = end - p->text;

    p->text_len += op->len;

    return NGX_CAMPAIGN_TEMPLATE_OK;
}


/*
 * The static text JSON-escaped once, for ngx_campaign_template_render_json():
 * a gateway payload then escapes only what comes from the data.  Text that
 * needs no escaping, most of it, is not copied.
 */

static int
ngx_campaign_template_escape_texts(ngx_campaign_template_parser_t *p)
{
    size_t                       i, len;
    u_char                      *json;
    ngx_campaign_template_op_t  *op;

    op = p->ops.elts;

    for (i = 0; i < p->ops.nelts; i++) {
        if (op[i].type != NGX_CAMPAIGN_OP_TEXT) {
            continue;
        }

        len = ngx_campaign_json_escaped_len(op[i].text, op[i].len);

        if (len == op[i].len) {
            op[i].json = op[i].text;

        } else {
            json = ngx_campaign_alloc(p->alloc, len);
            if (json == NULL) {
                ngx_campaign_template_error(p->err, 0, 0, "out of memory");
                return NGX_CAMPAIGN_TEMPLATE_ERROR;
            }

            ngx_campaign_json_escape(json, op[i].text, op[i].len);
            op[i].json = json;
        }

        op[i].json_len = len;
        p->json_len += len;
    }

    return NGX_CAMPAIGN_TEMPLATE_OK;
}


/* the first op after a line start takes "bol" */

static ngx_campaign_template_op_t *
ngx_campaign_template_add_op(ngx_campaign_template_parser_t *p,
    ngx_campaign_template_op_e type)
{
    ngx_campaign_template_op_t  *op;

    op = ngx_campaign_template_array_push(p->alloc, &p->ops);
    if (op == NULL) {
        ngx_campaign_template_error(p->err, 0, 0, "out of memory");
        return NULL;
    }

    memset(op, 0, sizeof(ngx_campaign_template_op_t));
    op->type = type;
    op->bol = p->bol;

    p->bol = 0;

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
ngx_campaign_template_error(ngx_campaign_template_error_t *err, size_t line,
    size_t column, const char *fmt, ...)
{
    va_list  args;

    err->line = line;
    err->column = column;

    va_start(args, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, args);
    va_end(args);
}


int
ngx_campaign_template_render(const ngx_campaign_template_t *tpl,
    const cJSON *data, ngx_campaign_alloc_t *a, u_char **out,
    size_t *out_len)
{
    return ngx_campaign_template_run(tpl, data, a, 0, out, out_len);
}


int
ngx_campaign_template_render_json(const ngx_campaign_template_t *tpl,
    const cJSON *data, ngx_campaign_alloc_t *a, u_char **out,
    size_t *out_len)
{
    return ngx_campaign_template_run(tpl, data, a, 1, out, out_len);
}


static int
ngx_campaign_template_run(const ngx_campaign_template_t *tpl,
    const cJSON *data, ngx_campaign_alloc_t *a, unsigned json, u_char **out,
    size_t *out_len)
{
    int                                    rc;
    cJSON                                  scratch;
    size_t                                 pc, size;
    unsigned                               indented;
    const cJSON                           *value;
    ngx_campaign_value_t                   result;
    ngx_campaign_template_op_t            *op, *ops;
    ngx_campaign_template_call_t          *call;
    ngx_campaign_template_frame_t         *frame;
    ngx_campaign_template_render_t         r;

    /* the static text and a guess for the values: usually one allocation */

    size = (json ? tpl->json_len : tpl->text_len) + 32 * tpl->nvalues + 64;

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
    r.json = json;

    r.frames[0].value = data;
    r.frames[0].params = NULL;
    r.frames[0].index = 0;
    r.frames[0].iter = 0;
    r.frames[0].object = 0;
    r.nframes = 1;

    r.calls[0].tpl = NULL;
    r.calls[0].pc = 0;
    r.calls[0].indent = NULL;
    r.calls[0].indent_len = 0;
    r.calls[0].first = 0;
    r.calls[0].indented = 0;
    r.ncalls = 1;

    indented = 0;
    ops = tpl->ops;
    pc = 0;

    for ( ;; ) {
        if (++r.steps > NGX_CAMPAIGN_TEMPLATE_MAX_STEPS) {
            return -1;
        }

        op = &ops[pc];

        if (indented && op->bol) {
            if (ngx_campaign_template_write_indent(&r) != 0) {
                return -1;
            }
        }

        switch (op->type) {

        case NGX_CAMPAIGN_OP_TEXT:
            if (indented) {
                rc = ngx_campaign_template_write_lines(&r, op->text, op->len);

            } else if (r.json) {
                rc = ngx_campaign_template_write(&r, op->json, op->json_len);

            } else {
                rc = ngx_campaign_template_write(&r, op->text, op->len);
            }

            if (rc != 0) {
                return -1;
            }

            pc++;
            break;

        case NGX_CAMPAIGN_OP_VALUE:
            value = ngx_campaign_template_lookup(&r, op->name, &scratch);

            if (ngx_campaign_template_write_value(&r, value, op->escape)
                != 0)
            {
                return -1;
            }

            pc++;
            break;

        case NGX_CAMPAIGN_OP_EXPR:
            if (ngx_campaign_template_eval(&r, op, &result) != 0) {
                return -1;
            }

            pc++;
            break;

        case NGX_CAMPAIGN_OP_SECTION:
            value = ngx_campaign_template_lookup(&r, op->name, &scratch);

            if (!ngx_campaign_template_truthy(value)) {
                pc = op->jump;
                break;
            }

            if (ngx_campaign_template_push(&r, value, NULL,
                                           (value->type & 0xff)
                                           == cJSON_Array)
                != 0)
            {
                return -1;
            }

            pc++;
            break;

        case NGX_CAMPAIGN_OP_EACH:
            value = ngx_campaign_template_lookup(&r, op->name, &scratch);

            if (value == NULL
                || ((value->type & 0xff) != cJSON_Array
                    && (value->type & 0xff) != cJSON_Object)
                || value->child == NULL)
            {
                /* nothing to iterate: the else part */
                pc = op->jump;
                break;
            }

            if (ngx_campaign_template_push(&r, value, op->u.params, 1) != 0) {
                return -1;
            }

            pc++;
            break;

        case NGX_CAMPAIGN_OP_WITH:
            value = ngx_campaign_template_lookup(&r, op->name, &scratch);

            /* Handlebars' isEmpty(): 0 is a context, "" is not */

            if (value == NULL
                || ((value->type & 0xff) != cJSON_Number
                    && !ngx_campaign_template_helper_truthy(value)))
            {
                pc = op->jump;
                break;
            }

            if (ngx_campaign_template_push(&r, value, op->u.params, 0) != 0) {
                return -1;
            }

            pc++;
            break;

        case NGX_CAMPAIGN_OP_END:
            frame = &r.frames[r.nframes - 1];

            if (frame->iter && frame->value->next != NULL) {
                frame->value = frame->value->next;
                frame->index++;
                pc = op->jump;
                break;
            }

            r.nframes--;
            pc++;
            break;

        case NGX_CAMPAIGN_OP_INVERTED:
            value = ngx_campaign_template_lookup(&r, op->name, &scratch);

            pc = ngx_campaign_template_truthy(value) ? op->jump : pc + 1;
            break;

        case NGX_CAMPAIGN_OP_IF:
            value = ngx_campaign_template_lookup(&r, op->name, &scratch);

            pc = (ngx_campaign_template_helper_truthy(value) != op->negate)
                 ? pc + 1 : op->jump;
            break;

        case NGX_CAMPAIGN_OP_EXPR_IF:
            if (ngx_campaign_template_eval(&r, op, &result) != 0) {
                return -1;
            }

            pc = ngx_campaign_value_truthy(&result) ? pc + 1 : op->jump;
            break;

        case NGX_CAMPAIGN_OP_JUMP:
            pc = op->jump;
            break;

        case NGX_CAMPAIGN_OP_PARTIAL:
            if (r.ncalls > NGX_CAMPAIGN_TEMPLATE_MAX_CALLS) {
                return -1;
            }

            call = &r.calls[r.ncalls++];

            call->tpl = tpl;
            call->pc = pc + 1;

            ngx_campaign_template_call(&r, op);

            indented = call->indented;
            tpl = op->u.partial;
            ops = tpl->ops;
            pc = 0;
            break;

        default: /* NGX_CAMPAIGN_OP_HALT */
            if (r.ncalls > 1) {
                call = &r.calls[--r.ncalls];

                tpl = call->tpl;
                ops = tpl->ops;
                pc = call->pc;
                indented = r.calls[r.ncalls - 1].indented;
                break;
            }

            *r.pos = '\0';

            *out = r.start;
            *out_len = r.pos - r.start;

            return 0;
        }
    }
}


/* a context: a section's, #each's or #with's value, or its first element */

static int
ngx_campaign_template_push(ngx_campaign_template_render_t *r,
    const cJSON *value, const ngx_campaign_template_params_t *params,
    unsigned iterate)
{
    ngx_campaign_template_frame_t  *frame;

    if (r->nframes == NGX_CAMPAIGN_TEMPLATE_MAX_CONTEXTS) {
        return -1;
    }

    frame = &r->frames[r->nframes++];

    frame->params = params;
    frame->index = 0;
    frame->iter = iterate;
    frame->object = iterate && (value->type & 0xff) == cJSON_Object;
    frame->value = iterate ? value->child : value;

    return 0;
}


/*
 * The indentation of a call: a standalone partial tag's adds to that of
 * the fragment it is in, another starts none, as Mustache's reference
 * implementation does by indenting the source of the fragment.
 */

static void
ngx_campaign_template_call(ngx_campaign_template_render_t *r,
    const ngx_campaign_template_op_t *op)
{
    ngx_campaign_template_call_t  *call, *caller;

    call = &r->calls[r->ncalls - 1];
    caller = call - 1;

    call->indent = op->text;
    call->indent_len = op->len;

    if (op->standalone) {
        call->first = caller->first;
        call->indented = caller->indented || op->len != 0;

    } else {
        call->first = r->ncalls - 1;
        call->indented = 0;
    }
}


static int
ngx_campaign_template_write_indent(ngx_campaign_template_render_t *r)
{
    size_t                         i;
    ngx_campaign_template_call_t  *call;

    for (i = r->calls[r->ncalls - 1].first; i < r->ncalls; i++) {
        call = &r->calls[i];

        if (call->indent_len
            && ngx_campaign_template_write_text(r, call->indent,
                                                call->indent_len)
               != 0)
        {
            return -1;
        }
    }

    return 0;
}


/* text in an indented fragment: each line that follows a newline too */

static int
ngx_campaign_template_write_lines(ngx_campaign_template_render_t *r,
    const u_char *s, size_t len)
{
    const u_char  *nl, *end;

    end = s + len;

    for ( ;; ) {
        nl = memchr(s, '\n', end - s);

        if (nl == NULL || nl + 1 == end) {
            return ngx_campaign_template_write_text(r, s, end - s);
        }

        if (ngx_campaign_template_write_text(r, s, nl + 1 - s) != 0
            || ngx_campaign_template_write_indent(r) != 0)
        {
            return -1;
        }

        s = nl + 1;
    }
}


/* {%= expr %} writes the value, {%#if expr %} leaves it in value */

static int
ngx_campaign_template_eval(ngx_campaign_template_render_t *r,
    const ngx_campaign_template_op_t *op, ngx_campaign_value_t *value)
{
    size_t         len;
    const u_char  *text;

    if (ngx_campaign_expr_eval(op->u.expr, ngx_campaign_template_expr_lookup,
                               r, r->alloc, value)
        != 0)
    {
        return -1;
    }

    if (op->type == NGX_CAMPAIGN_OP_EXPR_IF) {
        return 0;
    }

    if (ngx_campaign_value_text(value, r->alloc, &text, &len) != 0) {
        return -1;
    }

    if (op->escape == NGX_CAMPAIGN_ESCAPE_HTML) {
        return ngx_campaign_template_write_html(r, text, len);
    }

    return ngx_campaign_template_write_text(r, text, len);
}


/*
 * A path of an expression resolves as the same path in a {{tag}} would:
 * the expression engine splits "../a.b" into "..", "a", "b".
 */

static const cJSON *
ngx_campaign_template_expr_lookup(void *ctx,
    const ngx_campaign_segment_t *segments, size_t n)
{
    size_t                                  i, up;
    cJSON                                  *scratch;
    const ngx_campaign_template_params_t   *params;
    ngx_campaign_template_name_t            name;
    ngx_campaign_template_render_t         *r;

    r = ctx;

    memset(&name, 0, sizeof(ngx_campaign_template_name_t));

    while (n && ngx_campaign_template_equal(segments->data, segments->len,
                                            ".."))
    {
        name.type = NGX_CAMPAIGN_NAME_CONTEXT;
        name.up++;
        segments++;
        n--;
    }

    name.segments = segments;
    name.nsegments = n;

    if (n == 0) {
        return name.up ? ngx_campaign_template_lookup(r, &name, NULL) : NULL;
    }

    switch (ngx_campaign_template_special(segments, &name)) {

    case 1:
        name.segments++;
        name.nsegments--;
        break;

    case -1:
        return NULL;

    default:
        if (name.up) {
            break;
        }

        /* block parameters, the innermost first */

        up = 0;

        for (i = r->nframes; i > 1; i--, up++) {
            params = r->frames[i - 1].params;

            if (params == NULL) {
                continue;
            }

            if (segments->len == params->item.len
                && memcmp(segments->data, params->item.data, segments->len)
                   == 0)
            {
                name.type = NGX_CAMPAIGN_NAME_CONTEXT;

            } else if (params->index.len
                       && segments->len == params->index.len
                       && memcmp(segments->data, params->index.data,
                                 segments->len)
                          == 0)
            {
                name.type = NGX_CAMPAIGN_NAME_KEY;

            } else {
                continue;
            }

            name.up = up;
            name.segments++;
            name.nsegments--;
            break;
        }
    }

    scratch = NULL;

    if (name.type >= NGX_CAMPAIGN_NAME_INDEX) {
        scratch = ngx_campaign_alloc(r->alloc, sizeof(cJSON));
        if (scratch == NULL) {
            return NULL;
        }
    }

    return ngx_campaign_template_lookup(r, &name, scratch);
}


/*
 * A path's first segment resolves up the context stack, in the nearest
 * object that has it; the rest strictly inside the value found, as the
 * Mustache spec says: {{#a}}{{b.c}}{{/a}} does not look at the root's b
 * when a has b.  Other names start from one context.  The data variables
 * come as a value built in scratch.
 */

static const cJSON *
ngx_campaign_template_lookup(ngx_campaign_template_render_t *r,
    const ngx_campaign_template_name_t *name, cJSON *scratch)
{
    size_t                          i;
    const cJSON                    *value, *context;
    ngx_campaign_template_frame_t  *frame;

    switch (name->type) {

    case NGX_CAMPAIGN_NAME_PATH:
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

        i = 1;
        break;

    case NGX_CAMPAIGN_NAME_CONTEXT:
        if (name->up >= r->nframes) {
            return NULL;
        }

        value = r->frames[r->nframes - 1 - name->up].value;
        i = 0;
        break;

    case NGX_CAMPAIGN_NAME_ROOT:
        value = r->frames[0].value;
        i = 0;
        break;

    default:
        /* @index, @key, @first, @last of an iteration */

        frame = NULL;

        if (name->up == NGX_CAMPAIGN_TEMPLATE_NEAREST) {
            for (i = r->nframes; i > 1; i--) {
                if (r->frames[i - 1].iter) {
                    frame = &r->frames[i - 1];
                    break;
                }
            }

        } else if (name->up < r->nframes) {
            frame = &r->frames[r->nframes - 1 - name->up];
        }

        if (frame == NULL || !frame->iter || scratch == NULL) {
            return NULL;
        }

        memset(scratch, 0, sizeof(cJSON));

        switch (name->type) {

        case NGX_CAMPAIGN_NAME_KEY:
            if (frame->object) {
                scratch->type = cJSON_String;
                scratch->valuestring = frame->value->string;
                break;
            }

            /* an array's keys are its indexes */

            /* fall through */

        case NGX_CAMPAIGN_NAME_INDEX:
            scratch->type = cJSON_Number;
            scratch->valuedouble = (double) frame->index;
            scratch->valueint = (int) frame->index;
            break;

        case NGX_CAMPAIGN_NAME_FIRST:
            scratch->type = (frame->index == 0) ? cJSON_True : cJSON_False;
            break;

        default: /* NGX_CAMPAIGN_NAME_LAST */
            scratch->type = (frame->value->next == NULL) ? cJSON_True
                                                          : cJSON_False;
        }

        value = scratch;
        i = 0;
    }

    for ( /* void */ ; i < name->nsegments && value != NULL; i++) {
        if ((value->type & 0xff) != cJSON_Object) {
            return NULL;
        }

        value = ngx_campaign_template_member(r, value, &name->segments[i]);
    }

    return value;
}


static const cJSON *
ngx_campaign_template_member(ngx_campaign_template_render_t *r,
    const cJSON *object, const ngx_campaign_segment_t *key)
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

        /*
         * A segment holds no NUL (tag names and expression paths cannot):
         * a key shorter than it differs from it at its own NUL.
         */

        for (i = 0; i < key->len; i++) {
            if (s[i] != key->data[i]) {
                break;
            }
        }

        if (i == key->len && s[i] == '\0') {
            return item;
        }
    }

    return NULL;
}


/* Mustache: missing, false, null, an empty list; "" and 0 are truthy */

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


/* Handlebars' #if: "" and 0 are falsy too; {} is truthy */

static int
ngx_campaign_template_helper_truthy(const cJSON *value)
{
    if (value == NULL) {
        return 0;
    }

    switch (value->type & 0xff) {

    case cJSON_String:
        return value->valuestring != NULL && value->valuestring[0] != '\0';

    case cJSON_Number:
        return value->valuedouble != 0;

    default:
        return ngx_campaign_template_truthy(value);
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

        return ngx_campaign_template_write_text(r, s, len);

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
    const u_char  *run, *entity;

    if (r->json) {

        if (ngx_campaign_template_short(r, len)) {
            ngx_campaign_template_write_short(r, s, len, 1);
            return 0;
        }

        /* the entities need no JSON escaping, the runs between them may */

        run = s;

        for (i = 0; i < len; i++) {
            if (ngx_campaign_template_html_len[s[i]] == 0) {
                continue;
            }

            entity = ngx_campaign_template_entity(s[i]);
            escaped = ngx_campaign_template_html_len[s[i]];

            if (ngx_campaign_template_write_text(r, run, s + i - run) != 0
                || ngx_campaign_template_write(r, entity, escaped) != 0)
            {
                return -1;
            }

            run = s + i + 1;
        }

        return ngx_campaign_template_write_text(r, run, s + len - run);
    }

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
        if (ngx_campaign_template_html_len[s[i]] == 0) {
            *d++ = s[i];
            continue;
        }

        memcpy(d, ngx_campaign_template_entity(s[i]),
               ngx_campaign_template_html_len[s[i]]);
        d += ngx_campaign_template_html_len[s[i]];
    }

    r->pos = d;

    return 0;
}


static const u_char *
ngx_campaign_template_entity(u_char c)
{
    switch (c) {
    case '"':  return (const u_char *) "&quot;";
    case '&':  return (const u_char *) "&amp;";
    case '\'': return (const u_char *) "&#39;";
    case '<':  return (const u_char *) "&lt;";
    default:   return (const u_char *) "&gt;";
    }
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


/* text of the template or of the data: JSON-escaped when rendering so */

static int
ngx_campaign_template_write_text(ngx_campaign_template_render_t *r,
    const u_char *s, size_t len)
{
    if (!r->json) {
        return ngx_campaign_template_write(r, s, len);
    }

    if (ngx_campaign_template_short(r, len)) {
        ngx_campaign_template_write_short(r, s, len, 0);
        return 0;
    }

    if (ngx_campaign_template_reserve(r,
                                      ngx_campaign_json_escaped_len(s, len))
        != 0)
    {
        return -1;
    }

    r->pos = ngx_campaign_json_escape(r->pos, s, len);

    return 0;
}


/*
 * A short value into a JSON string byte by byte, which for a few bytes
 * costs less than looking for runs to copy whole; HTML entities need no
 * JSON escaping.  The room for the worst case is there.
 */

static void
ngx_campaign_template_write_short(ngx_campaign_template_render_t *r,
    const u_char *s, size_t len, unsigned html)
{
    u_char        *d, mask, what;
    const u_char  *end;

    d = r->pos;
    mask = html ? (NGX_CAMPAIGN_TEMPLATE_HTML | NGX_CAMPAIGN_TEMPLATE_JSON)
                : NGX_CAMPAIGN_TEMPLATE_JSON;

    for (end = s + len; s < end; s++) {
        what = ngx_campaign_template_escapes[*s] & mask;

        if (what == 0) {
            *d++ = *s;

        } else if (what & NGX_CAMPAIGN_TEMPLATE_HTML) {
            memcpy(d, ngx_campaign_template_entity(*s),
                   ngx_campaign_template_html_len[*s]);
            d += ngx_campaign_template_html_len[*s];

        } else {
            d = ngx_campaign_json_escape(d, s, 1);
        }
    }

    r->pos = d;
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


/* a larger output buffer, within the output limit */

static int
ngx_campaign_template_grow(ngx_campaign_template_render_t *r, size_t len)
{
    size_t   used, size;
    u_char  *start;

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
