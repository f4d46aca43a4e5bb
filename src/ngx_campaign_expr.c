
/*
 * Copyright (C) ngx_campaign developers
 */


/* memmem(): a GNU and BSD extension, nginx itself builds with _GNU_SOURCE */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  1
#endif

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_campaign_expr.h"


/*
 * A compiled expression is a tree of nodes, evaluated by recursion: the
 * compiler keeps the tree within NGX_CAMPAIGN_EXPR_MAX_DEPTH levels.
 */

typedef enum {
    NGX_CAMPAIGN_EXPR_LITERAL = 0,
    NGX_CAMPAIGN_EXPR_PATH,
    NGX_CAMPAIGN_EXPR_CALL,
    NGX_CAMPAIGN_EXPR_NOT,
    NGX_CAMPAIGN_EXPR_NEG,
    NGX_CAMPAIGN_EXPR_FALLBACK,
    NGX_CAMPAIGN_EXPR_OR,
    NGX_CAMPAIGN_EXPR_AND,
    NGX_CAMPAIGN_EXPR_EQ,
    NGX_CAMPAIGN_EXPR_NE,
    NGX_CAMPAIGN_EXPR_LT,
    NGX_CAMPAIGN_EXPR_LE,
    NGX_CAMPAIGN_EXPR_GT,
    NGX_CAMPAIGN_EXPR_GE,
    NGX_CAMPAIGN_EXPR_ADD,
    NGX_CAMPAIGN_EXPR_SUB,
    NGX_CAMPAIGN_EXPR_MUL,
    NGX_CAMPAIGN_EXPR_DIV,
    NGX_CAMPAIGN_EXPR_MOD
} ngx_campaign_expr_op_e;


typedef enum {
    NGX_CAMPAIGN_EXPR_TOK_END = 0,
    NGX_CAMPAIGN_EXPR_TOK_ERROR,
    NGX_CAMPAIGN_EXPR_TOK_NUMBER,
    NGX_CAMPAIGN_EXPR_TOK_STRING,
    NGX_CAMPAIGN_EXPR_TOK_NAME,
    NGX_CAMPAIGN_EXPR_TOK_TRUE,
    NGX_CAMPAIGN_EXPR_TOK_FALSE,
    NGX_CAMPAIGN_EXPR_TOK_NULL,
    NGX_CAMPAIGN_EXPR_TOK_LPAREN,
    NGX_CAMPAIGN_EXPR_TOK_RPAREN,
    NGX_CAMPAIGN_EXPR_TOK_COMMA,
    NGX_CAMPAIGN_EXPR_TOK_FALLBACK,
    NGX_CAMPAIGN_EXPR_TOK_OR,
    NGX_CAMPAIGN_EXPR_TOK_AND,
    NGX_CAMPAIGN_EXPR_TOK_NOT,
    NGX_CAMPAIGN_EXPR_TOK_EQ,
    NGX_CAMPAIGN_EXPR_TOK_NE,
    NGX_CAMPAIGN_EXPR_TOK_LT,
    NGX_CAMPAIGN_EXPR_TOK_LE,
    NGX_CAMPAIGN_EXPR_TOK_GT,
    NGX_CAMPAIGN_EXPR_TOK_GE,
    NGX_CAMPAIGN_EXPR_TOK_PLUS,
    NGX_CAMPAIGN_EXPR_TOK_MINUS,
    NGX_CAMPAIGN_EXPR_TOK_STAR,
    NGX_CAMPAIGN_EXPR_TOK_SLASH,
    NGX_CAMPAIGN_EXPR_TOK_PERCENT
} ngx_campaign_expr_token_e;


/* the type a node is known to have at compile time, if any */
#define NGX_CAMPAIGN_EXPR_DYNAMIC  -1


typedef struct {
    const u_char                        *data;
    size_t                               len;
} ngx_campaign_expr_str_t;


typedef struct {
    ngx_campaign_alloc_t                *alloc;
    ngx_campaign_expr_lookup_pt          lookup;
    void                                *ctx;
    size_t                               used;     /* string bytes built */
} ngx_campaign_expr_eval_t;


typedef int (*ngx_campaign_expr_function_pt)(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result);


/*
 * The kinds of arguments, one letter each: S a string, N a number, C a
 * string, an array or an object (anything countable), A an array, X any
 * value.  With variadic set the last kind repeats.
 */

typedef struct {
    const char                          *name;
    const char                          *params;
    unsigned                             variadic;
    ngx_campaign_value_type_e            result;
    ngx_campaign_expr_function_pt        handler;
} ngx_campaign_expr_function_t;


typedef struct ngx_campaign_expr_node_s  ngx_campaign_expr_node_t;

struct ngx_campaign_expr_node_s {
    ngx_campaign_expr_op_e               op;
    int                                  type;     /* or _DYNAMIC */
    size_t                               depth;
    const u_char                        *pos;      /* in the source */

    ngx_campaign_value_t                 value;    /* a literal */

    ngx_campaign_segment_t              *segments; /* a path */
    size_t                               nsegments;

    const ngx_campaign_expr_function_t  *function;
    ngx_campaign_expr_node_t           **args;     /* operands, arguments */
    size_t                               nargs;
};


struct ngx_campaign_expr_s {
    ngx_campaign_expr_node_t            *root;
};


typedef struct {
    ngx_campaign_expr_token_e            type;
    const u_char                        *start;
    const u_char                        *end;
    double                               number;
    ngx_campaign_expr_str_t              string;   /* unescaped */
} ngx_campaign_expr_token_t;


typedef struct {
    ngx_campaign_alloc_t                *alloc;
    ngx_campaign_template_error_t       *err;

    const u_char                        *start;
    const u_char                        *pos;
    const u_char                        *end;
    size_t                               line;
    size_t                               column;

    ngx_campaign_expr_token_t            tok;
    size_t                               depth;
    unsigned                             failed;
} ngx_campaign_expr_parser_t;


static void ngx_campaign_expr_next(ngx_campaign_expr_parser_t *p);
static void ngx_campaign_expr_lex_number(ngx_campaign_expr_parser_t *p);
static void ngx_campaign_expr_lex_string(ngx_campaign_expr_parser_t *p);
static void ngx_campaign_expr_lex_name(ngx_campaign_expr_parser_t *p);
static ngx_campaign_expr_node_t *ngx_campaign_expr_parse_fallback(
    ngx_campaign_expr_parser_t *p);
static ngx_campaign_expr_node_t *ngx_campaign_expr_parse_or(
    ngx_campaign_expr_parser_t *p);
static ngx_campaign_expr_node_t *ngx_campaign_expr_parse_and(
    ngx_campaign_expr_parser_t *p);
static ngx_campaign_expr_node_t *ngx_campaign_expr_parse_not(
    ngx_campaign_expr_parser_t *p);
static ngx_campaign_expr_node_t *ngx_campaign_expr_parse_comparison(
    ngx_campaign_expr_parser_t *p);
static ngx_campaign_expr_node_t *ngx_campaign_expr_parse_additive(
    ngx_campaign_expr_parser_t *p);
static ngx_campaign_expr_node_t *ngx_campaign_expr_parse_multiplicative(
    ngx_campaign_expr_parser_t *p);
static ngx_campaign_expr_node_t *ngx_campaign_expr_parse_unary(
    ngx_campaign_expr_parser_t *p);
static ngx_campaign_expr_node_t *ngx_campaign_expr_parse_primary(
    ngx_campaign_expr_parser_t *p);
static ngx_campaign_expr_node_t *ngx_campaign_expr_parse_path(
    ngx_campaign_expr_parser_t *p);
static ngx_campaign_expr_node_t *ngx_campaign_expr_parse_call(
    ngx_campaign_expr_parser_t *p);
static int ngx_campaign_expr_check_args(ngx_campaign_expr_parser_t *p,
    ngx_campaign_expr_node_t *call);
static void ngx_campaign_expr_describe(const ngx_campaign_expr_node_t *node,
    char *buf, size_t size);
static const char *ngx_campaign_expr_suggest(const u_char *name,
    size_t len);
static ngx_campaign_expr_node_t *ngx_campaign_expr_node(
    ngx_campaign_expr_parser_t *p, ngx_campaign_expr_op_e op,
    const u_char *pos, size_t nargs);
static ngx_campaign_expr_node_t *ngx_campaign_expr_binary(
    ngx_campaign_expr_parser_t *p, ngx_campaign_expr_op_e op,
    const u_char *pos, ngx_campaign_expr_node_t *left,
    ngx_campaign_expr_node_t *right);
static int ngx_campaign_expr_enter(ngx_campaign_expr_parser_t *p);
static void ngx_campaign_expr_unexpected(ngx_campaign_expr_parser_t *p);
static void ngx_campaign_expr_quote(const u_char *s, size_t len, char *buf,
    size_t size);
static void ngx_campaign_expr_error(ngx_campaign_expr_parser_t *p,
    const u_char *pos, const char *fmt, ...);
static void ngx_campaign_expr_no_memory(ngx_campaign_expr_parser_t *p);

static int ngx_campaign_expr_eval_node(ngx_campaign_expr_eval_t *ev,
    const ngx_campaign_expr_node_t *node, ngx_campaign_value_t *v);
static int ngx_campaign_expr_eval_call(ngx_campaign_expr_eval_t *ev,
    const ngx_campaign_expr_node_t *node, ngx_campaign_value_t *v);
static int ngx_campaign_expr_arithmetic(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_expr_op_e op, const ngx_campaign_value_t *a,
    const ngx_campaign_value_t *b, ngx_campaign_value_t *v);
static int ngx_campaign_expr_compare(ngx_campaign_expr_op_e op,
    const ngx_campaign_value_t *a, const ngx_campaign_value_t *b);
static int ngx_campaign_expr_equal(const ngx_campaign_value_t *a,
    const ngx_campaign_value_t *b);
static int ngx_campaign_expr_number(const ngx_campaign_value_t *v,
    double *d);
static int ngx_campaign_expr_text(ngx_campaign_expr_eval_t *ev,
    const ngx_campaign_value_t *v, ngx_campaign_expr_str_t *s);
static u_char *ngx_campaign_expr_buffer(ngx_campaign_expr_eval_t *ev,
    size_t len);
static void ngx_campaign_expr_set_string(ngx_campaign_value_t *v,
    const u_char *data, size_t len);
static void ngx_campaign_expr_set_number(ngx_campaign_value_t *v, double d);
static size_t ngx_campaign_expr_number_text(double d, u_char *buf);
static size_t ngx_campaign_expr_json_scalar(const cJSON *item, u_char *buf,
    const u_char **text);
static size_t ngx_campaign_expr_utf8_len(const u_char *p, const u_char *end);
static size_t ngx_campaign_expr_utf8_count(const u_char *p, size_t len);
static size_t ngx_campaign_expr_convert_char(const u_char *p,
    const u_char *end, u_char *out, int upper);
static uint32_t ngx_campaign_expr_convert_case(uint32_t c, int upper);

static int ngx_campaign_expr_lower_case(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result);
static int ngx_campaign_expr_upper_case(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result);
static int ngx_campaign_expr_change_case(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *arg, ngx_campaign_value_t *result, int upper,
    int first);
static int ngx_campaign_expr_capitalize(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result);
static int ngx_campaign_expr_trim(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result);
static int ngx_campaign_expr_concat(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result);
static int ngx_campaign_expr_contains(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result);
static int ngx_campaign_expr_starts_with(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result);
static int ngx_campaign_expr_ends_with(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result);
static int ngx_campaign_expr_length(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result);
static int ngx_campaign_expr_is_empty(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result);
static int ngx_campaign_expr_replace(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result);
static int ngx_campaign_expr_mask(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result);
static int ngx_campaign_expr_join(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result);
static int ngx_campaign_expr_format_number(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result);
static int ngx_campaign_expr_encode64(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result);


static const ngx_campaign_expr_function_t  ngx_campaign_expr_functions[] = {
    { "lowerCase", "S", 0, NGX_CAMPAIGN_VALUE_STRING,
      ngx_campaign_expr_lower_case },
    { "upperCase", "S", 0, NGX_CAMPAIGN_VALUE_STRING,
      ngx_campaign_expr_upper_case },
    { "capitalize", "S", 0, NGX_CAMPAIGN_VALUE_STRING,
      ngx_campaign_expr_capitalize },
    { "trim", "S", 0, NGX_CAMPAIGN_VALUE_STRING, ngx_campaign_expr_trim },
    { "concat", "X", 1, NGX_CAMPAIGN_VALUE_STRING,
      ngx_campaign_expr_concat },
    { "contains", "SS", 0, NGX_CAMPAIGN_VALUE_BOOLEAN,
      ngx_campaign_expr_contains },
    { "startsWith", "SS", 0, NGX_CAMPAIGN_VALUE_BOOLEAN,
      ngx_campaign_expr_starts_with },
    { "endsWith", "SS", 0, NGX_CAMPAIGN_VALUE_BOOLEAN,
      ngx_campaign_expr_ends_with },
    { "length", "C", 0, NGX_CAMPAIGN_VALUE_NUMBER,
      ngx_campaign_expr_length },
    { "isEmpty", "X", 0, NGX_CAMPAIGN_VALUE_BOOLEAN,
      ngx_campaign_expr_is_empty },
    { "replace", "SSS", 0, NGX_CAMPAIGN_VALUE_STRING,
      ngx_campaign_expr_replace },
    { "mask", "SNN", 0, NGX_CAMPAIGN_VALUE_STRING, ngx_campaign_expr_mask },
    { "join", "AS", 0, NGX_CAMPAIGN_VALUE_STRING, ngx_campaign_expr_join },
    { "formatNumber", "NN", 0, NGX_CAMPAIGN_VALUE_STRING,
      ngx_campaign_expr_format_number },
    { "encode64", "S", 0, NGX_CAMPAIGN_VALUE_STRING,
      ngx_campaign_expr_encode64 },
    { NULL, NULL, 0, NGX_CAMPAIGN_VALUE_NULL, NULL }
};


static const char  *ngx_campaign_expr_type_names[] = {
    "null", "boolean", "number", "string", "array or object"
};


static const u_char  ngx_campaign_expr_base64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


#define ngx_campaign_expr_is_space(c)                                       \
    ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n')

#define ngx_campaign_expr_is_digit(c)  ((c) >= '0' && (c) <= '9')

#define ngx_campaign_expr_is_alpha(c)                                       \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))

/* a path segment: profile, first-name, @index, 0; UTF-8 names too */
#define ngx_campaign_expr_is_segment(c)                                     \
    (ngx_campaign_expr_is_alpha(c) || ngx_campaign_expr_is_digit(c)         \
     || (c) == '_' || (c) == '-' || (c) == '@' || (c) >= 0x80)

/* a path starts as a name does: not with a digit nor with a minus */
#define ngx_campaign_expr_is_name_start(c)                                  \
    (ngx_campaign_expr_is_alpha(c) || (c) == '_' || (c) == '@'              \
     || (c) >= 0x80)


ngx_campaign_expr_t *
ngx_campaign_expr_compile(ngx_campaign_alloc_t *a, const u_char *src,
    size_t len, size_t line, size_t column,
    ngx_campaign_template_error_t *err)
{
    u_char                      *copy;
    ngx_campaign_expr_t         *e;
    ngx_campaign_expr_parser_t   p;

    memset(&p, 0, sizeof(ngx_campaign_expr_parser_t));

    p.alloc = a;
    p.err = err;
    p.line = line;
    p.column = column;

    /* literals and path segments point into a copy: src may go away */

    copy = ngx_campaign_alloc(a, len + 1);
    if (copy == NULL) {
        ngx_campaign_expr_no_memory(&p);
        return NULL;
    }

    memcpy(copy, src, len);
    copy[len] = '\0';

    p.start = copy;
    p.pos = copy;
    p.end = copy + len;

    e = ngx_campaign_alloc(a, sizeof(ngx_campaign_expr_t));
    if (e == NULL) {
        ngx_campaign_expr_no_memory(&p);
        return NULL;
    }

    ngx_campaign_expr_next(&p);

    if (p.tok.type == NGX_CAMPAIGN_EXPR_TOK_END) {
        ngx_campaign_expr_error(&p, p.tok.start, "empty expression");
        return NULL;
    }

    e->root = ngx_campaign_expr_parse_fallback(&p);
    if (e->root == NULL) {
        return NULL;
    }

    if (p.tok.type != NGX_CAMPAIGN_EXPR_TOK_END) {
        ngx_campaign_expr_unexpected(&p);
        return NULL;
    }

    return e;
}


/* the lexer: reads the token at p->pos into p->tok */

static void
ngx_campaign_expr_next(ngx_campaign_expr_parser_t *p)
{
    u_char                      c, c1;
    ngx_campaign_expr_token_e   type;

    if (p->failed) {
        p->tok.type = NGX_CAMPAIGN_EXPR_TOK_ERROR;
        return;
    }

    while (p->pos < p->end && ngx_campaign_expr_is_space(*p->pos)) {
        p->pos++;
    }

    p->tok.start = p->pos;

    if (p->pos == p->end) {
        p->tok.type = NGX_CAMPAIGN_EXPR_TOK_END;
        p->tok.end = p->pos;
        return;
    }

    c = *p->pos;
    c1 = (p->end - p->pos > 1) ? p->pos[1] : '\0';

    if (ngx_campaign_expr_is_digit(c)) {
        ngx_campaign_expr_lex_number(p);
        return;
    }

    if (c == '"' || c == '\'') {
        ngx_campaign_expr_lex_string(p);
        return;
    }

    if (ngx_campaign_expr_is_name_start(c)
        || (c == '.' && c1 == '.' && p->end - p->pos > 2 && p->pos[2] == '/'))
    {
        ngx_campaign_expr_lex_name(p);
        return;
    }

    p->pos++;

    switch (c) {

    case '(':
        type = NGX_CAMPAIGN_EXPR_TOK_LPAREN;
        break;

    case ')':
        type = NGX_CAMPAIGN_EXPR_TOK_RPAREN;
        break;

    case ',':
        type = NGX_CAMPAIGN_EXPR_TOK_COMMA;
        break;

    case '+':
        type = NGX_CAMPAIGN_EXPR_TOK_PLUS;
        break;

    case '-':
        type = NGX_CAMPAIGN_EXPR_TOK_MINUS;
        break;

    case '*':
        type = NGX_CAMPAIGN_EXPR_TOK_STAR;
        break;

    case '/':
        type = NGX_CAMPAIGN_EXPR_TOK_SLASH;
        break;

    case '%':
        type = NGX_CAMPAIGN_EXPR_TOK_PERCENT;
        break;

    case '?':
        if (c1 != ':') {
            goto unexpected;
        }

        p->pos++;
        type = NGX_CAMPAIGN_EXPR_TOK_FALLBACK;
        break;

    case '|':
        if (c1 != '|') {
            goto unexpected;
        }

        p->pos++;
        type = NGX_CAMPAIGN_EXPR_TOK_OR;
        break;

    case '&':
        if (c1 != '&') {
            goto unexpected;
        }

        p->pos++;
        type = NGX_CAMPAIGN_EXPR_TOK_AND;
        break;

    case '!':
        if (c1 == '=') {
            p->pos++;
            type = NGX_CAMPAIGN_EXPR_TOK_NE;

        } else {
            type = NGX_CAMPAIGN_EXPR_TOK_NOT;
        }

        break;

    case '=':
        if (c1 == '=') {
            p->pos++;
        }

        type = NGX_CAMPAIGN_EXPR_TOK_EQ;
        break;

    case '<':
        if (c1 == '=') {
            p->pos++;
            type = NGX_CAMPAIGN_EXPR_TOK_LE;

        } else {
            type = NGX_CAMPAIGN_EXPR_TOK_LT;
        }

        break;

    case '>':
        if (c1 == '=') {
            p->pos++;
            type = NGX_CAMPAIGN_EXPR_TOK_GE;

        } else {
            type = NGX_CAMPAIGN_EXPR_TOK_GT;
        }

        break;

    default:
        goto unexpected;
    }

    p->tok.type = type;
    p->tok.end = p->pos;

    return;

unexpected:

    p->tok.type = NGX_CAMPAIGN_EXPR_TOK_ERROR;
    p->tok.end = p->tok.start
                 + ngx_campaign_expr_utf8_len(p->tok.start, p->end);

    ngx_campaign_expr_unexpected(p);
}


static void
ngx_campaign_expr_lex_number(ngx_campaign_expr_parser_t *p)
{
    char           *buf;
    char            text[48];
    size_t          len;
    const u_char   *s;

    s = p->pos;

    while (s < p->end && ngx_campaign_expr_is_digit(*s)) {
        s++;
    }

    if (s + 1 < p->end && *s == '.' && ngx_campaign_expr_is_digit(s[1])) {
        s++;

        while (s < p->end && ngx_campaign_expr_is_digit(*s)) {
            s++;
        }
    }

    if (s < p->end && (ngx_campaign_expr_is_segment(*s) || *s == '.')) {

        /* "1.2.3", "12px", "1.": show all of it */

        while (s < p->end && (ngx_campaign_expr_is_segment(*s) || *s == '.'))
        {
            s += ngx_campaign_expr_utf8_len(s, p->end);
        }

        ngx_campaign_expr_quote(p->pos, s - p->pos, text, sizeof(text));
        ngx_campaign_expr_error(p, p->pos, "invalid number %s", text);
        p->tok.type = NGX_CAMPAIGN_EXPR_TOK_ERROR;
        return;
    }

    len = s - p->pos;

    buf = ngx_campaign_alloc(p->alloc, len + 1);
    if (buf == NULL) {
        ngx_campaign_expr_no_memory(p);
        p->tok.type = NGX_CAMPAIGN_EXPR_TOK_ERROR;
        return;
    }

    memcpy(buf, p->pos, len);
    buf[len] = '\0';

    p->tok.number = strtod(buf, NULL);

    if (p->tok.number - p->tok.number != 0) {
        ngx_campaign_expr_quote(p->pos, len, text, sizeof(text));
        ngx_campaign_expr_error(p, p->pos, "number %s is out of range",
                                text);
        p->tok.type = NGX_CAMPAIGN_EXPR_TOK_ERROR;
        return;
    }

    p->tok.type = NGX_CAMPAIGN_EXPR_TOK_NUMBER;
    p->tok.end = s;
    p->pos = s;
}


static void
ngx_campaign_expr_lex_string(ngx_campaign_expr_parser_t *p)
{
    u_char         quote, *d, *buf;
    char           text[48];
    const u_char  *s, *close;

    quote = *p->pos;

    /* find the closing quote and check the escapes on the way */

    for (close = p->pos + 1; close < p->end && *close != quote; close++) {

        if (*close != '\\') {
            continue;
        }

        if (++close == p->end) {
            break;
        }

        if (*close != '"' && *close != '\'' && *close != '\\'
            && *close != 'n' && *close != 't')
        {
            ngx_campaign_expr_quote(close - 1,
                                    1 + ngx_campaign_expr_utf8_len(close,
                                                                   p->end),
                                    text, sizeof(text));
            ngx_campaign_expr_error(p, close - 1,
                                    "unknown escape %s in a string", text);
            p->tok.type = NGX_CAMPAIGN_EXPR_TOK_ERROR;
            return;
        }
    }

    if (close == p->end) {
        ngx_campaign_expr_error(p, p->pos, "unterminated string");
        p->tok.type = NGX_CAMPAIGN_EXPR_TOK_ERROR;
        return;
    }

    /* the unescaped string is never longer than its source */

    buf = ngx_campaign_alloc(p->alloc, close - p->pos);
    if (buf == NULL) {
        ngx_campaign_expr_no_memory(p);
        p->tok.type = NGX_CAMPAIGN_EXPR_TOK_ERROR;
        return;
    }

    d = buf;

    for (s = p->pos + 1; s < close; s++) {

        if (*s != '\\') {
            *d++ = *s;
            continue;
        }

        switch (*++s) {

        case 'n':
            *d++ = '\n';
            break;

        case 't':
            *d++ = '\t';
            break;

        default:
            *d++ = *s;
            break;
        }
    }

    p->tok.type = NGX_CAMPAIGN_EXPR_TOK_STRING;
    p->tok.string.data = buf;
    p->tok.string.len = d - buf;
    p->tok.end = close + 1;
    p->pos = close + 1;
}


/* a path, a function name or a keyword */

static void
ngx_campaign_expr_lex_name(ngx_campaign_expr_parser_t *p)
{
    size_t          len;
    const u_char   *s;

    s = p->pos;

    while (p->end - s > 2 && s[0] == '.' && s[1] == '.' && s[2] == '/') {
        s += 3;
    }

    if (s == p->end || !ngx_campaign_expr_is_segment(*s)) {
        ngx_campaign_expr_error(p, s, "expected a name after \"../\"");
        p->tok.type = NGX_CAMPAIGN_EXPR_TOK_ERROR;
        return;
    }

    for ( ;; ) {
        while (s < p->end && ngx_campaign_expr_is_segment(*s)) {
            s++;
        }

        if (p->end - s > 1 && s[0] == '.'
            && ngx_campaign_expr_is_segment(s[1]))
        {
            s++;
            continue;
        }

        break;
    }

    p->tok.type = NGX_CAMPAIGN_EXPR_TOK_NAME;
    p->tok.end = s;

    len = s - p->pos;

    if (len == 3 && memcmp(p->pos, "and", 3) == 0) {
        p->tok.type = NGX_CAMPAIGN_EXPR_TOK_AND;

    } else if (len == 2 && memcmp(p->pos, "or", 2) == 0) {
        p->tok.type = NGX_CAMPAIGN_EXPR_TOK_OR;

    } else if (len == 3 && memcmp(p->pos, "not", 3) == 0) {
        p->tok.type = NGX_CAMPAIGN_EXPR_TOK_NOT;

    } else if (len == 4 && memcmp(p->pos, "true", 4) == 0) {
        p->tok.type = NGX_CAMPAIGN_EXPR_TOK_TRUE;

    } else if (len == 5 && memcmp(p->pos, "false", 5) == 0) {
        p->tok.type = NGX_CAMPAIGN_EXPR_TOK_FALSE;

    } else if (len == 4 && memcmp(p->pos, "null", 4) == 0) {
        p->tok.type = NGX_CAMPAIGN_EXPR_TOK_NULL;
    }

    p->pos = s;
}


/* left ?: right, right-associative: a ?: b ?: "x" */

static ngx_campaign_expr_node_t *
ngx_campaign_expr_parse_fallback(ngx_campaign_expr_parser_t *p)
{
    const u_char              *pos;
    ngx_campaign_expr_node_t  *left, *right, *node;

    if (ngx_campaign_expr_enter(p) != 0) {
        return NULL;
    }

    left = ngx_campaign_expr_parse_or(p);
    if (left == NULL) {
        return NULL;
    }

    if (p->tok.type != NGX_CAMPAIGN_EXPR_TOK_FALLBACK) {
        p->depth--;
        return left;
    }

    pos = p->tok.start;
    ngx_campaign_expr_next(p);

    right = ngx_campaign_expr_parse_fallback(p);
    if (right == NULL) {
        return NULL;
    }

    node = ngx_campaign_expr_binary(p, NGX_CAMPAIGN_EXPR_FALLBACK, pos, left,
                                    right);
    if (node == NULL) {
        return NULL;
    }

    if (left->type == right->type) {
        node->type = left->type;
    }

    p->depth--;

    return node;
}


static ngx_campaign_expr_node_t *
ngx_campaign_expr_parse_or(ngx_campaign_expr_parser_t *p)
{
    const u_char              *pos;
    ngx_campaign_expr_node_t  *left, *right;

    left = ngx_campaign_expr_parse_and(p);

    while (left && p->tok.type == NGX_CAMPAIGN_EXPR_TOK_OR) {
        pos = p->tok.start;
        ngx_campaign_expr_next(p);

        right = ngx_campaign_expr_parse_and(p);
        if (right == NULL) {
            return NULL;
        }

        left = ngx_campaign_expr_binary(p, NGX_CAMPAIGN_EXPR_OR, pos, left,
                                        right);
    }

    return left;
}


static ngx_campaign_expr_node_t *
ngx_campaign_expr_parse_and(ngx_campaign_expr_parser_t *p)
{
    const u_char              *pos;
    ngx_campaign_expr_node_t  *left, *right;

    left = ngx_campaign_expr_parse_not(p);

    while (left && p->tok.type == NGX_CAMPAIGN_EXPR_TOK_AND) {
        pos = p->tok.start;
        ngx_campaign_expr_next(p);

        right = ngx_campaign_expr_parse_not(p);
        if (right == NULL) {
            return NULL;
        }

        left = ngx_campaign_expr_binary(p, NGX_CAMPAIGN_EXPR_AND, pos, left,
                                        right);
    }

    return left;
}


static ngx_campaign_expr_node_t *
ngx_campaign_expr_parse_not(ngx_campaign_expr_parser_t *p)
{
    const u_char              *pos;
    ngx_campaign_expr_node_t  *node, *operand;

    if (p->tok.type != NGX_CAMPAIGN_EXPR_TOK_NOT) {
        return ngx_campaign_expr_parse_comparison(p);
    }

    if (ngx_campaign_expr_enter(p) != 0) {
        return NULL;
    }

    pos = p->tok.start;
    ngx_campaign_expr_next(p);

    operand = ngx_campaign_expr_parse_not(p);
    if (operand == NULL) {
        return NULL;
    }

    node = ngx_campaign_expr_binary(p, NGX_CAMPAIGN_EXPR_NOT, pos, operand,
                                    NULL);

    p->depth--;

    return node;
}


static ngx_campaign_expr_node_t *
ngx_campaign_expr_parse_comparison(ngx_campaign_expr_parser_t *p)
{
    const u_char              *pos;
    ngx_campaign_expr_op_e     op;
    ngx_campaign_expr_node_t  *left, *right, *node;

    left = ngx_campaign_expr_parse_additive(p);
    if (left == NULL) {
        return NULL;
    }

    switch (p->tok.type) {

    case NGX_CAMPAIGN_EXPR_TOK_EQ:
        op = NGX_CAMPAIGN_EXPR_EQ;
        break;

    case NGX_CAMPAIGN_EXPR_TOK_NE:
        op = NGX_CAMPAIGN_EXPR_NE;
        break;

    case NGX_CAMPAIGN_EXPR_TOK_LT:
        op = NGX_CAMPAIGN_EXPR_LT;
        break;

    case NGX_CAMPAIGN_EXPR_TOK_LE:
        op = NGX_CAMPAIGN_EXPR_LE;
        break;

    case NGX_CAMPAIGN_EXPR_TOK_GT:
        op = NGX_CAMPAIGN_EXPR_GT;
        break;

    case NGX_CAMPAIGN_EXPR_TOK_GE:
        op = NGX_CAMPAIGN_EXPR_GE;
        break;

    default:
        return left;
    }

    pos = p->tok.start;
    ngx_campaign_expr_next(p);

    right = ngx_campaign_expr_parse_additive(p);
    if (right == NULL) {
        return NULL;
    }

    node = ngx_campaign_expr_binary(p, op, pos, left, right);
    if (node == NULL) {
        return NULL;
    }

    /* "a < b < c" compares a boolean with c: surely not what was meant */

    if (p->tok.type >= NGX_CAMPAIGN_EXPR_TOK_EQ
        && p->tok.type <= NGX_CAMPAIGN_EXPR_TOK_GE)
    {
        ngx_campaign_expr_error(p, p->tok.start,
                                "comparisons do not chain, "
                                "join them with \"and\"");
        return NULL;
    }

    return node;
}


static ngx_campaign_expr_node_t *
ngx_campaign_expr_parse_additive(ngx_campaign_expr_parser_t *p)
{
    const u_char              *pos;
    ngx_campaign_expr_op_e     op;
    ngx_campaign_expr_node_t  *left, *right;

    left = ngx_campaign_expr_parse_multiplicative(p);

    while (left && (p->tok.type == NGX_CAMPAIGN_EXPR_TOK_PLUS
                    || p->tok.type == NGX_CAMPAIGN_EXPR_TOK_MINUS))
    {
        op = (p->tok.type == NGX_CAMPAIGN_EXPR_TOK_PLUS)
             ? NGX_CAMPAIGN_EXPR_ADD : NGX_CAMPAIGN_EXPR_SUB;
        pos = p->tok.start;
        ngx_campaign_expr_next(p);

        right = ngx_campaign_expr_parse_multiplicative(p);
        if (right == NULL) {
            return NULL;
        }

        left = ngx_campaign_expr_binary(p, op, pos, left, right);
    }

    return left;
}


static ngx_campaign_expr_node_t *
ngx_campaign_expr_parse_multiplicative(ngx_campaign_expr_parser_t *p)
{
    const u_char              *pos;
    ngx_campaign_expr_op_e     op;
    ngx_campaign_expr_node_t  *left, *right;

    left = ngx_campaign_expr_parse_unary(p);

    for ( ;; ) {
        if (left == NULL) {
            return NULL;
        }

        switch (p->tok.type) {

        case NGX_CAMPAIGN_EXPR_TOK_STAR:
            op = NGX_CAMPAIGN_EXPR_MUL;
            break;

        case NGX_CAMPAIGN_EXPR_TOK_SLASH:
            op = NGX_CAMPAIGN_EXPR_DIV;
            break;

        case NGX_CAMPAIGN_EXPR_TOK_PERCENT:
            op = NGX_CAMPAIGN_EXPR_MOD;
            break;

        default:
            return left;
        }

        pos = p->tok.start;
        ngx_campaign_expr_next(p);

        right = ngx_campaign_expr_parse_unary(p);
        if (right == NULL) {
            return NULL;
        }

        left = ngx_campaign_expr_binary(p, op, pos, left, right);
    }
}


static ngx_campaign_expr_node_t *
ngx_campaign_expr_parse_unary(ngx_campaign_expr_parser_t *p)
{
    const u_char              *pos;
    ngx_campaign_expr_node_t  *node, *operand;

    if (p->tok.type != NGX_CAMPAIGN_EXPR_TOK_MINUS) {
        return ngx_campaign_expr_parse_primary(p);
    }

    if (ngx_campaign_expr_enter(p) != 0) {
        return NULL;
    }

    pos = p->tok.start;
    ngx_campaign_expr_next(p);

    operand = ngx_campaign_expr_parse_unary(p);
    if (operand == NULL) {
        return NULL;
    }

    p->depth--;

    /* -1 is a literal: mask(s, -1, 2) is checked as one */

    if (operand->op == NGX_CAMPAIGN_EXPR_LITERAL
        && operand->value.type == NGX_CAMPAIGN_VALUE_NUMBER)
    {
        operand->value.u.number = -operand->value.u.number;
        operand->pos = pos;
        return operand;
    }

    node = ngx_campaign_expr_binary(p, NGX_CAMPAIGN_EXPR_NEG, pos, operand,
                                    NULL);

    return node;
}


static ngx_campaign_expr_node_t *
ngx_campaign_expr_parse_primary(ngx_campaign_expr_parser_t *p)
{
    ngx_campaign_expr_node_t  *node;

    switch (p->tok.type) {

    case NGX_CAMPAIGN_EXPR_TOK_NUMBER:
        node = ngx_campaign_expr_node(p, NGX_CAMPAIGN_EXPR_LITERAL,
                                      p->tok.start, 0);
        if (node == NULL) {
            return NULL;
        }

        ngx_campaign_expr_set_number(&node->value, p->tok.number);
        break;

    case NGX_CAMPAIGN_EXPR_TOK_STRING:
        node = ngx_campaign_expr_node(p, NGX_CAMPAIGN_EXPR_LITERAL,
                                      p->tok.start, 0);
        if (node == NULL) {
            return NULL;
        }

        ngx_campaign_expr_set_string(&node->value, p->tok.string.data,
                                     p->tok.string.len);
        break;

    case NGX_CAMPAIGN_EXPR_TOK_TRUE:
    case NGX_CAMPAIGN_EXPR_TOK_FALSE:
        node = ngx_campaign_expr_node(p, NGX_CAMPAIGN_EXPR_LITERAL,
                                      p->tok.start, 0);
        if (node == NULL) {
            return NULL;
        }

        node->value.type = NGX_CAMPAIGN_VALUE_BOOLEAN;
        node->value.u.boolean = (p->tok.type == NGX_CAMPAIGN_EXPR_TOK_TRUE);
        break;

    case NGX_CAMPAIGN_EXPR_TOK_NULL:
        node = ngx_campaign_expr_node(p, NGX_CAMPAIGN_EXPR_LITERAL,
                                      p->tok.start, 0);
        if (node == NULL) {
            return NULL;
        }

        node->value.type = NGX_CAMPAIGN_VALUE_NULL;
        break;

    case NGX_CAMPAIGN_EXPR_TOK_NAME:
        return ngx_campaign_expr_parse_path(p);

    case NGX_CAMPAIGN_EXPR_TOK_LPAREN:
        ngx_campaign_expr_next(p);

        node = ngx_campaign_expr_parse_fallback(p);
        if (node == NULL) {
            return NULL;
        }

        if (p->tok.type != NGX_CAMPAIGN_EXPR_TOK_RPAREN) {
            ngx_campaign_expr_error(p, p->tok.start, "expected \")\"");
            return NULL;
        }

        ngx_campaign_expr_next(p);

        return node;

    default:
        ngx_campaign_expr_unexpected(p);
        return NULL;
    }

    node->type = node->value.type;

    ngx_campaign_expr_next(p);

    return node;
}


static ngx_campaign_expr_node_t *
ngx_campaign_expr_parse_path(ngx_campaign_expr_parser_t *p)
{
    size_t                     n;
    const u_char              *s, *seg, *name;
    ngx_campaign_segment_t    *segments;
    ngx_campaign_expr_node_t  *node;

    s = p->pos;

    while (s < p->end && ngx_campaign_expr_is_space(*s)) {
        s++;
    }

    if (s < p->end && *s == '(') {
        return ngx_campaign_expr_parse_call(p);
    }

    /* "../../a.b": "..", "..", "a", "b" */

    n = 0;

    for (name = p->tok.start; name[0] == '.'; name += 3) {
        n++;
    }

    n++;

    for (s = name; s < p->tok.end; s++) {
        if (*s == '.') {
            n++;
        }
    }

    node = ngx_campaign_expr_node(p, NGX_CAMPAIGN_EXPR_PATH, p->tok.start, 0);
    if (node == NULL) {
        return NULL;
    }

    segments = ngx_campaign_alloc(p->alloc,
                                  n * sizeof(ngx_campaign_segment_t));
    if (segments == NULL) {
        ngx_campaign_expr_no_memory(p);
        return NULL;
    }

    node->segments = segments;
    node->nsegments = n;

    n = 0;

    for (s = p->tok.start; s < name; s += 3) {
        segments[n].data = s;
        segments[n].len = 2;
        n++;
    }

    for (seg = name, s = name; s <= p->tok.end; s++) {
        if (s == p->tok.end || *s == '.') {
            segments[n].data = seg;
            segments[n].len = s - seg;
            n++;
            seg = s + 1;
        }
    }

    ngx_campaign_expr_next(p);

    return node;
}


static ngx_campaign_expr_node_t *
ngx_campaign_expr_parse_call(ngx_campaign_expr_parser_t *p)
{
    char                                 text[48];
    size_t                               n, len;
    const char                          *hint;
    const u_char                        *name;
    ngx_campaign_expr_node_t            *node, *arg;
    ngx_campaign_expr_node_t           **args, **grown;
    const ngx_campaign_expr_function_t  *f;

    name = p->tok.start;
    len = p->tok.end - p->tok.start;

    for (f = ngx_campaign_expr_functions; f->name; f++) {
        if (strlen(f->name) == len && memcmp(f->name, name, len) == 0) {
            break;
        }
    }

    if (f->name == NULL) {
        ngx_campaign_expr_quote(name, len, text, sizeof(text));
        hint = ngx_campaign_expr_suggest(name, len);

        if (hint) {
            ngx_campaign_expr_error(p, name, "unknown function %s "
                                    "(did you mean \"%s\"?)", text, hint);

        } else {
            ngx_campaign_expr_error(p, name, "unknown function %s", text);
        }

        return NULL;
    }

    ngx_campaign_expr_next(p);      /* the name */
    ngx_campaign_expr_next(p);      /* "(" */

    /* the arguments are gathered in a list, then copied to an array */

    n = 0;
    args = NULL;

    if (p->tok.type != NGX_CAMPAIGN_EXPR_TOK_RPAREN) {

        for ( ;; ) {
            arg = ngx_campaign_expr_parse_fallback(p);
            if (arg == NULL) {
                return NULL;
            }

            if ((n & (n - 1)) == 0) {
                /* full at 0, 1, 2, 4, 8 ...: double */

                grown = ngx_campaign_alloc(p->alloc, (n ? 2 * n : 1)
                                       * sizeof(ngx_campaign_expr_node_t *));
                if (grown == NULL) {
                    ngx_campaign_expr_no_memory(p);
                    return NULL;
                }

                if (n) {
                    memcpy(grown, args,
                           n * sizeof(ngx_campaign_expr_node_t *));
                }

                args = grown;
            }

            args[n++] = arg;

            if (p->tok.type == NGX_CAMPAIGN_EXPR_TOK_RPAREN) {
                break;
            }

            if (p->tok.type != NGX_CAMPAIGN_EXPR_TOK_COMMA) {
                ngx_campaign_expr_error(p, p->tok.start,
                                        "expected \",\" or \")\"");
                return NULL;
            }

            ngx_campaign_expr_next(p);
        }
    }

    node = ngx_campaign_expr_node(p, NGX_CAMPAIGN_EXPR_CALL, name, 0);
    if (node == NULL) {
        return NULL;
    }

    node->function = f;
    node->args = args;
    node->nargs = n;
    node->type = f->result;

    for (n = 0; n < node->nargs; n++) {
        if (node->args[n]->depth >= node->depth) {
            node->depth = node->args[n]->depth + 1;
        }
    }

    if (node->depth > NGX_CAMPAIGN_EXPR_MAX_DEPTH) {
        ngx_campaign_expr_error(p, name, "expression nested too deeply "
                                "(more than %d levels)",
                                NGX_CAMPAIGN_EXPR_MAX_DEPTH);
        return NULL;
    }

    if (ngx_campaign_expr_check_args(p, node) != 0) {
        return NULL;
    }

    ngx_campaign_expr_next(p);      /* ")" */

    return node;
}


/*
 * Argument types are checked where they are known now: literals and
 * function results.  Paths, and operators over them, are converted when
 * evaluated.
 */

static int
ngx_campaign_expr_check_args(ngx_campaign_expr_parser_t *p,
    ngx_campaign_expr_node_t *call)
{
    int                                  ok;
    char                                 found[80];
    u_char                               kind;
    size_t                               i, nparams;
    double                               d;
    const char                          *expected;
    ngx_campaign_expr_node_t            *arg;
    const ngx_campaign_expr_function_t  *f;

    f = call->function;
    nparams = strlen(f->params);

    if (call->nargs < nparams || (call->nargs > nparams && !f->variadic)) {
        ngx_campaign_expr_error(p, call->pos,
                                "function \"%s\" takes %s%zu argument%s, "
                                "found %zu", f->name,
                                f->variadic ? "at least " : "", nparams,
                                nparams == 1 ? "" : "s", call->nargs);
        return -1;
    }

    for (i = 0; i < call->nargs; i++) {
        arg = call->args[i];
        kind = f->params[i < nparams ? i : nparams - 1];

        if (arg->type == NGX_CAMPAIGN_EXPR_DYNAMIC
            || (arg->op != NGX_CAMPAIGN_EXPR_LITERAL
                && arg->op != NGX_CAMPAIGN_EXPR_CALL))
        {
            continue;
        }

        switch (kind) {

        case 'S':
            ok = (arg->type == NGX_CAMPAIGN_VALUE_STRING
                  || arg->type == NGX_CAMPAIGN_VALUE_NULL);
            expected = "a string";
            break;

        case 'N':
            ok = (arg->type == NGX_CAMPAIGN_VALUE_NUMBER);
            expected = "a number";
            break;

        case 'C':
            ok = (arg->type == NGX_CAMPAIGN_VALUE_STRING
                  || arg->type == NGX_CAMPAIGN_VALUE_NULL);
            expected = "a string, an array or an object";
            break;

        case 'A':
            ok = (arg->type == NGX_CAMPAIGN_VALUE_NULL);
            expected = "an array";
            break;

        default: /* 'X' */
            ok = 1;
            expected = NULL;
            break;
        }

        if (!ok) {
            ngx_campaign_expr_describe(arg, found, sizeof(found));
            ngx_campaign_expr_error(p, arg->pos, "%s: argument %zu must be "
                                    "%s, found %s", f->name, i + 1,
                                    expected, found);
            return -1;
        }
    }

    /* printf would take any precision, the language promises 0 to 10 */

    if (f->handler == ngx_campaign_expr_format_number
        && call->args[1]->op == NGX_CAMPAIGN_EXPR_LITERAL)
    {
        d = call->args[1]->value.u.number;

        if (d < 0 || d > 10 || d != (double) (int) d) {
            ngx_campaign_expr_describe(call->args[1], found, sizeof(found));
            ngx_campaign_expr_error(p, call->args[1]->pos,
                                    "formatNumber: argument 2 must be "
                                    "a whole number from 0 to 10, found %s",
                                    found);
            return -1;
        }
    }

    return 0;
}


/* "string "a"", "number 5", "null", "string (result of upperCase())" */

static void
ngx_campaign_expr_describe(const ngx_campaign_expr_node_t *node, char *buf,
    size_t size)
{
    char                         text[48];
    u_char                       number[32];
    size_t                       len;
    const ngx_campaign_value_t  *v;

    v = &node->value;

    if (node->op == NGX_CAMPAIGN_EXPR_CALL) {
        snprintf(buf, size, "%s (result of %s())",
                 ngx_campaign_expr_type_names[node->type],
                 node->function->name);
        return;
    }

    switch (v->type) {

    case NGX_CAMPAIGN_VALUE_BOOLEAN:
        snprintf(buf, size, "boolean %s", v->u.boolean ? "true" : "false");
        break;

    case NGX_CAMPAIGN_VALUE_NUMBER:
        len = ngx_campaign_expr_number_text(v->u.number, number);
        snprintf(buf, size, "number %.*s", (int) len, number);
        break;

    case NGX_CAMPAIGN_VALUE_STRING:
        ngx_campaign_expr_quote(v->u.string.data, v->u.string.len, text,
                                sizeof(text));
        snprintf(buf, size, "string %s", text);
        break;

    default:
        snprintf(buf, size, "null");
        break;
    }
}


/* the function meant: same letters in another case, or a typo or two */

static const char *
ngx_campaign_expr_suggest(const u_char *name, size_t len)
{
    u_char                               a, b;
    size_t                               i, j, flen, best_distance;
    size_t                               row[32], diagonal, above, cost;
    const char                          *best;
    const ngx_campaign_expr_function_t  *f;

    if (len >= 32) {
        return NULL;
    }

    best = NULL;
    best_distance = 3;

    for (f = ngx_campaign_expr_functions; f->name; f++) {
        flen = strlen(f->name);

        if (flen == len) {
            for (i = 0; i < len; i++) {
                a = name[i] | 0x20;
                b = (u_char) f->name[i] | 0x20;

                if (a != b || !ngx_campaign_expr_is_alpha(name[i])) {
                    break;
                }
            }

            if (i == len) {
                return f->name;
            }
        }

        /* Levenshtein distance, one row at a time */

        for (j = 0; j <= len; j++) {
            row[j] = j;
        }

        for (i = 1; i <= flen; i++) {
            diagonal = row[0];
            row[0] = i;

            for (j = 1; j <= len; j++) {
                above = row[j];
                cost = ((u_char) f->name[i - 1] == name[j - 1]) ? 0 : 1;

                row[j] = diagonal + cost;

                if (above + 1 < row[j]) {
                    row[j] = above + 1;
                }

                if (row[j - 1] + 1 < row[j]) {
                    row[j] = row[j - 1] + 1;
                }

                diagonal = above;
            }
        }

        if (row[len] < best_distance && row[len] < flen) {
            best_distance = row[len];
            best = f->name;
        }
    }

    return best;
}


static ngx_campaign_expr_node_t *
ngx_campaign_expr_node(ngx_campaign_expr_parser_t *p,
    ngx_campaign_expr_op_e op, const u_char *pos, size_t nargs)
{
    ngx_campaign_expr_node_t  *node;

    node = ngx_campaign_alloc(p->alloc, sizeof(ngx_campaign_expr_node_t)
                              + nargs * sizeof(ngx_campaign_expr_node_t *));
    if (node == NULL) {
        ngx_campaign_expr_no_memory(p);
        return NULL;
    }

    memset(node, 0, sizeof(ngx_campaign_expr_node_t));

    node->op = op;
    node->type = NGX_CAMPAIGN_EXPR_DYNAMIC;
    node->depth = 1;
    node->pos = pos;

    if (nargs) {
        node->args = (ngx_campaign_expr_node_t **) (node + 1);
        node->nargs = nargs;
    }

    return node;
}


/* an operator node over one or two operands */

static ngx_campaign_expr_node_t *
ngx_campaign_expr_binary(ngx_campaign_expr_parser_t *p,
    ngx_campaign_expr_op_e op, const u_char *pos,
    ngx_campaign_expr_node_t *left, ngx_campaign_expr_node_t *right)
{
    ngx_campaign_expr_node_t  *node;

    node = ngx_campaign_expr_node(p, op, pos, right ? 2 : 1);
    if (node == NULL) {
        return NULL;
    }

    node->args[0] = left;
    node->depth = left->depth + 1;

    if (right) {
        node->args[1] = right;

        if (right->depth >= left->depth) {
            node->depth = right->depth + 1;
        }
    }

    if (node->depth > NGX_CAMPAIGN_EXPR_MAX_DEPTH) {
        ngx_campaign_expr_error(p, pos, "expression nested too deeply "
                                "(more than %d levels)",
                                NGX_CAMPAIGN_EXPR_MAX_DEPTH);
        return NULL;
    }

    switch (op) {

    case NGX_CAMPAIGN_EXPR_NOT:
    case NGX_CAMPAIGN_EXPR_OR:
    case NGX_CAMPAIGN_EXPR_AND:
    case NGX_CAMPAIGN_EXPR_EQ:
    case NGX_CAMPAIGN_EXPR_NE:
    case NGX_CAMPAIGN_EXPR_LT:
    case NGX_CAMPAIGN_EXPR_LE:
    case NGX_CAMPAIGN_EXPR_GT:
    case NGX_CAMPAIGN_EXPR_GE:
        node->type = NGX_CAMPAIGN_VALUE_BOOLEAN;
        break;

    case NGX_CAMPAIGN_EXPR_ADD:
        if (left->type == NGX_CAMPAIGN_VALUE_STRING
            || right->type == NGX_CAMPAIGN_VALUE_STRING)
        {
            node->type = NGX_CAMPAIGN_VALUE_STRING;
        }

        break;

    default:
        break;
    }

    return node;
}


/* parentheses, operators and calls nest: each level costs C stack */

static int
ngx_campaign_expr_enter(ngx_campaign_expr_parser_t *p)
{
    if (++p->depth > NGX_CAMPAIGN_EXPR_MAX_DEPTH) {
        ngx_campaign_expr_error(p, p->tok.start, "expression nested too "
                                "deeply (more than %d levels)",
                                NGX_CAMPAIGN_EXPR_MAX_DEPTH);
        return -1;
    }

    return 0;
}


static void
ngx_campaign_expr_unexpected(ngx_campaign_expr_parser_t *p)
{
    char           text[48];
    const u_char  *s;

    if (p->failed) {
        return;
    }

    s = p->tok.start;

    if (s == p->end) {
        ngx_campaign_expr_error(p, s, "unexpected end of expression");
        return;
    }

    if (*s < 0x20 || *s == 0x7f) {
        ngx_campaign_expr_error(p, s, "unexpected character 0x%02x", *s);
        return;
    }

    if (*s >= 0x80 && p->tok.type == NGX_CAMPAIGN_EXPR_TOK_ERROR
        && ngx_campaign_expr_utf8_len(s, p->end) == 1)
    {
        ngx_campaign_expr_error(p, s, "unexpected byte 0x%02x", *s);
        return;
    }

    ngx_campaign_expr_quote(s, p->tok.end - s, text, sizeof(text));
    ngx_campaign_expr_error(p, s, "unexpected %s", text);
}


/*
 * Quotes source text for a message, cut at a character boundary when too
 * long; control characters would garble a log line and are shown as "?".
 */

static void
ngx_campaign_expr_quote(const u_char *s, size_t len, char *buf, size_t size)
{
    char           *d, *last;
    size_t          n;
    const u_char   *end;

    d = buf;
    last = buf + size - sizeof("\"...\"");
    end = s + len;

    *d++ = '"';

    while (s < end) {
        n = ngx_campaign_expr_utf8_len(s, end);

        if ((size_t) (last - d) < n) {
            memcpy(d, "...", 3);
            d += 3;
            break;
        }

        if (n == 1 && (*s < 0x20 || *s >= 0x7f)) {
            *d++ = '?';

        } else {
            memcpy(d, s, n);
            d += n;
        }

        s += n;
    }

    *d++ = '"';
    *d = '\0';
}


/*
 * The first error is the one reported.  Its position is counted in
 * characters from the start of the expression, whose place in the
 * template the caller gave.
 */

static void
ngx_campaign_expr_error(ngx_campaign_expr_parser_t *p, const u_char *pos,
    const char *fmt, ...)
{
    size_t         line, column;
    va_list        args;
    const u_char  *s;

    if (p->failed) {
        return;
    }

    p->failed = 1;

    if (p->err == NULL) {
        return;
    }

    line = p->line;
    column = p->column;

    for (s = p->start; s < pos; s++) {
        if (*s == '\n') {
            line++;
            column = 1;

        } else if ((*s & 0xc0) != 0x80) {
            column++;
        }
    }

    p->err->line = line;
    p->err->column = column;

    va_start(args, fmt);
    vsnprintf(p->err->message, sizeof(p->err->message), fmt, args);
    va_end(args);
}


static void
ngx_campaign_expr_no_memory(ngx_campaign_expr_parser_t *p)
{
    if (p->failed) {
        return;
    }

    p->failed = 1;

    if (p->err) {
        p->err->line = 0;
        p->err->column = 0;
        snprintf(p->err->message, sizeof(p->err->message), "out of memory");
    }
}


int
ngx_campaign_expr_eval(const ngx_campaign_expr_t *e,
    ngx_campaign_expr_lookup_pt lookup, void *ctx, ngx_campaign_alloc_t *a,
    ngx_campaign_value_t *result)
{
    ngx_campaign_expr_eval_t  ev;

    ev.alloc = a;
    ev.lookup = lookup;
    ev.ctx = ctx;
    ev.used = 0;

    result->type = NGX_CAMPAIGN_VALUE_NULL;

    return ngx_campaign_expr_eval_node(&ev, e->root, result);
}


static int
ngx_campaign_expr_eval_node(ngx_campaign_expr_eval_t *ev,
    const ngx_campaign_expr_node_t *node, ngx_campaign_value_t *v)
{
    int                   truthy;
    double                d;
    const cJSON          *json;
    ngx_campaign_value_t  left, right;

    switch (node->op) {

    case NGX_CAMPAIGN_EXPR_LITERAL:
        *v = node->value;
        return 0;

    case NGX_CAMPAIGN_EXPR_PATH:
        json = ev->lookup ? ev->lookup(ev->ctx, node->segments,
                                       node->nsegments)
                          : NULL;
        ngx_campaign_value_from_json(json, v);
        return 0;

    case NGX_CAMPAIGN_EXPR_CALL:
        return ngx_campaign_expr_eval_call(ev, node, v);

    case NGX_CAMPAIGN_EXPR_NOT:
        if (ngx_campaign_expr_eval_node(ev, node->args[0], &left) != 0) {
            return -1;
        }

        v->type = NGX_CAMPAIGN_VALUE_BOOLEAN;
        v->u.boolean = !ngx_campaign_value_truthy(&left);
        return 0;

    case NGX_CAMPAIGN_EXPR_NEG:
        if (ngx_campaign_expr_eval_node(ev, node->args[0], &left) != 0) {
            return -1;
        }

        if (ngx_campaign_expr_number(&left, &d) == 0) {
            ngx_campaign_expr_set_number(v, -d);

        } else {
            v->type = NGX_CAMPAIGN_VALUE_NULL;
        }

        return 0;

    case NGX_CAMPAIGN_EXPR_FALLBACK:
        if (ngx_campaign_expr_eval_node(ev, node->args[0], v) != 0) {
            return -1;
        }

        if (v->type == NGX_CAMPAIGN_VALUE_NULL
            || (v->type == NGX_CAMPAIGN_VALUE_STRING && v->u.string.len == 0))
        {
            return ngx_campaign_expr_eval_node(ev, node->args[1], v);
        }

        return 0;

    case NGX_CAMPAIGN_EXPR_OR:
    case NGX_CAMPAIGN_EXPR_AND:
        if (ngx_campaign_expr_eval_node(ev, node->args[0], &left) != 0) {
            return -1;
        }

        truthy = ngx_campaign_value_truthy(&left);

        if (truthy == (node->op == NGX_CAMPAIGN_EXPR_AND)) {
            if (ngx_campaign_expr_eval_node(ev, node->args[1], &right) != 0)
            {
                return -1;
            }

            truthy = ngx_campaign_value_truthy(&right);
        }

        v->type = NGX_CAMPAIGN_VALUE_BOOLEAN;
        v->u.boolean = truthy;
        return 0;

    default:
        break;
    }

    /* the binary operators evaluate both operands */

    if (ngx_campaign_expr_eval_node(ev, node->args[0], &left) != 0
        || ngx_campaign_expr_eval_node(ev, node->args[1], &right) != 0)
    {
        return -1;
    }

    switch (node->op) {

    case NGX_CAMPAIGN_EXPR_EQ:
    case NGX_CAMPAIGN_EXPR_NE:
    case NGX_CAMPAIGN_EXPR_LT:
    case NGX_CAMPAIGN_EXPR_LE:
    case NGX_CAMPAIGN_EXPR_GT:
    case NGX_CAMPAIGN_EXPR_GE:
        v->type = NGX_CAMPAIGN_VALUE_BOOLEAN;
        v->u.boolean = ngx_campaign_expr_compare(node->op, &left, &right);
        return 0;

    default:
        return ngx_campaign_expr_arithmetic(ev, node->op, &left, &right, v);
    }
}


static int
ngx_campaign_expr_eval_call(ngx_campaign_expr_eval_t *ev,
    const ngx_campaign_expr_node_t *node, ngx_campaign_value_t *v)
{
    size_t                 i;
    ngx_campaign_value_t  *args, local[4];

    args = local;

    if (node->nargs > 4) {
        args = ngx_campaign_alloc(ev->alloc,
                                  node->nargs * sizeof(ngx_campaign_value_t));
        if (args == NULL) {
            return -1;
        }
    }

    for (i = 0; i < node->nargs; i++) {
        if (ngx_campaign_expr_eval_node(ev, node->args[i], &args[i]) != 0) {
            return -1;
        }
    }

    v->type = NGX_CAMPAIGN_VALUE_NULL;

    return node->function->handler(ev, args, node->nargs, v);
}


/*
 * "+" joins text when either side is a string; otherwise it adds, as the
 * other operators compute, numbers: an operand that is not one (nor a
 * string that reads as one), a division by zero or an overflow gives null.
 */

static int
ngx_campaign_expr_arithmetic(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_expr_op_e op, const ngx_campaign_value_t *a,
    const ngx_campaign_value_t *b, ngx_campaign_value_t *v)
{
    u_char                   *p;
    double                    x, y, r;
    ngx_campaign_expr_str_t   s, t;

    if (op == NGX_CAMPAIGN_EXPR_ADD
        && (a->type == NGX_CAMPAIGN_VALUE_STRING
            || b->type == NGX_CAMPAIGN_VALUE_STRING))
    {
        if (ngx_campaign_expr_text(ev, a, &s) != 0
            || ngx_campaign_expr_text(ev, b, &t) != 0)
        {
            return -1;
        }

        if (t.len == 0 || s.len == 0) {
            ngx_campaign_expr_set_string(v, s.len ? s.data : t.data,
                                         s.len + t.len);
            return 0;
        }

        p = ngx_campaign_expr_buffer(ev, s.len + t.len);
        if (p == NULL) {
            return -1;
        }

        memcpy(p, s.data, s.len);
        memcpy(p + s.len, t.data, t.len);

        ngx_campaign_expr_set_string(v, p, s.len + t.len);
        return 0;
    }

    v->type = NGX_CAMPAIGN_VALUE_NULL;

    if (ngx_campaign_expr_number(a, &x) != 0
        || ngx_campaign_expr_number(b, &y) != 0)
    {
        return 0;
    }

    switch (op) {

    case NGX_CAMPAIGN_EXPR_ADD:
        r = x + y;
        break;

    case NGX_CAMPAIGN_EXPR_SUB:
        r = x - y;
        break;

    case NGX_CAMPAIGN_EXPR_MUL:
        r = x * y;
        break;

    case NGX_CAMPAIGN_EXPR_DIV:
        if (y == 0) {
            return 0;
        }

        r = x / y;
        break;

    default: /* NGX_CAMPAIGN_EXPR_MOD */
        if (y == 0) {
            return 0;
        }

        r = fmod(x, y);
        break;
    }

    if (r - r == 0) {
        ngx_campaign_expr_set_number(v, r);
    }

    return 0;
}


/*
 * Numbers compare as numbers, strings byte by byte.  Values of different
 * types are never equal; they are ordered only when both read as numbers
 * ("10" > 9).  Null equals null only, and orders with nothing.
 */

static int
ngx_campaign_expr_compare(ngx_campaign_expr_op_e op,
    const ngx_campaign_value_t *a, const ngx_campaign_value_t *b)
{
    int     c;
    double  x, y;
    size_t  len;

    if (op == NGX_CAMPAIGN_EXPR_EQ) {
        return ngx_campaign_expr_equal(a, b);
    }

    if (op == NGX_CAMPAIGN_EXPR_NE) {
        return !ngx_campaign_expr_equal(a, b);
    }

    if (a->type == NGX_CAMPAIGN_VALUE_STRING
        && b->type == NGX_CAMPAIGN_VALUE_STRING)
    {
        len = a->u.string.len < b->u.string.len ? a->u.string.len
                                                : b->u.string.len;

        c = len ? memcmp(a->u.string.data, b->u.string.data, len) : 0;

        if (c == 0) {
            c = (a->u.string.len > b->u.string.len)
                - (a->u.string.len < b->u.string.len);
        }

    } else if (ngx_campaign_expr_number(a, &x) == 0
               && ngx_campaign_expr_number(b, &y) == 0)
    {
        c = (x > y) - (x < y);

    } else {
        return 0;
    }

    switch (op) {

    case NGX_CAMPAIGN_EXPR_LT:
        return c < 0;

    case NGX_CAMPAIGN_EXPR_LE:
        return c <= 0;

    case NGX_CAMPAIGN_EXPR_GT:
        return c > 0;

    default: /* NGX_CAMPAIGN_EXPR_GE */
        return c >= 0;
    }
}


static int
ngx_campaign_expr_equal(const ngx_campaign_value_t *a,
    const ngx_campaign_value_t *b)
{
    if (a->type != b->type) {
        return 0;
    }

    switch (a->type) {

    case NGX_CAMPAIGN_VALUE_NULL:
        return 1;

    case NGX_CAMPAIGN_VALUE_BOOLEAN:
        return !a->u.boolean == !b->u.boolean;

    case NGX_CAMPAIGN_VALUE_NUMBER:
        return a->u.number == b->u.number;

    case NGX_CAMPAIGN_VALUE_STRING:
        return a->u.string.len == b->u.string.len
               && (a->u.string.len == 0
                   || memcmp(a->u.string.data, b->u.string.data,
                             a->u.string.len) == 0);

    default: /* NGX_CAMPAIGN_VALUE_JSON */
        return cJSON_Compare(a->u.json, b->u.json, 1) ? 1 : 0;
    }
}


/* a number, or a string that is one: " 42 ", "-1.5", "2e3"; 0 if it is */

static int
ngx_campaign_expr_number(const ngx_campaign_value_t *v, double *d)
{
    char           buf[64];
    size_t         len;
    const u_char  *s, *end, *start;

    if (v->type == NGX_CAMPAIGN_VALUE_NUMBER) {
        *d = v->u.number;
        return 0;
    }

    if (v->type != NGX_CAMPAIGN_VALUE_STRING) {
        return -1;
    }

    s = v->u.string.data;
    end = s + v->u.string.len;

    while (s < end && ngx_campaign_expr_is_space(*s)) {
        s++;
    }

    while (end > s && ngx_campaign_expr_is_space(end[-1])) {
        end--;
    }

    /* JSON's number syntax, so that "0x1f", "inf" and "nan" are not */

    start = s;

    if (s < end && (*s == '-' || *s == '+')) {
        s++;
    }

    if (s == end || !ngx_campaign_expr_is_digit(*s)) {
        return -1;
    }

    while (s < end && ngx_campaign_expr_is_digit(*s)) {
        s++;
    }

    if (s < end && *s == '.') {
        if (++s == end || !ngx_campaign_expr_is_digit(*s)) {
            return -1;
        }

        while (s < end && ngx_campaign_expr_is_digit(*s)) {
            s++;
        }
    }

    if (s < end && (*s == 'e' || *s == 'E')) {
        if (++s < end && (*s == '-' || *s == '+')) {
            s++;
        }

        if (s == end || !ngx_campaign_expr_is_digit(*s)) {
            return -1;
        }

        while (s < end && ngx_campaign_expr_is_digit(*s)) {
            s++;
        }
    }

    len = end - start;

    if (s != end || len >= sizeof(buf)) {
        return -1;
    }

    memcpy(buf, start, len);
    buf[len] = '\0';

    *d = strtod(buf, NULL);

    return (*d - *d == 0) ? 0 : -1;
}


/* the text of an operand, counted against the evaluation's budget */

static int
ngx_campaign_expr_text(ngx_campaign_expr_eval_t *ev,
    const ngx_campaign_value_t *v, ngx_campaign_expr_str_t *s)
{
    if (ngx_campaign_value_text(v, ev->alloc, &s->data, &s->len) != 0) {
        return -1;
    }

    if (v->type != NGX_CAMPAIGN_VALUE_STRING) {
        ev->used += s->len;

        if (ev->used > NGX_CAMPAIGN_EXPR_MAX_EVAL) {
            return -1;
        }
    }

    return 0;
}


/* room for a string the evaluation builds, within its limits */

static u_char *
ngx_campaign_expr_buffer(ngx_campaign_expr_eval_t *ev, size_t len)
{
    if (len > NGX_CAMPAIGN_EXPR_MAX_STRING
        || len > NGX_CAMPAIGN_EXPR_MAX_EVAL - ev->used)
    {
        return NULL;
    }

    ev->used += len;

    return ngx_campaign_alloc(ev->alloc, len ? len : 1);
}


static void
ngx_campaign_expr_set_string(ngx_campaign_value_t *v, const u_char *data,
    size_t len)
{
    v->type = NGX_CAMPAIGN_VALUE_STRING;
    v->u.string.data = len ? data : (const u_char *) "";
    v->u.string.len = len;
}


static void
ngx_campaign_expr_set_number(ngx_campaign_value_t *v, double d)
{
    v->type = NGX_CAMPAIGN_VALUE_NUMBER;
    v->u.number = d;
}


int
ngx_campaign_value_truthy(const ngx_campaign_value_t *v)
{
    switch (v->type) {

    case NGX_CAMPAIGN_VALUE_BOOLEAN:
        return v->u.boolean != 0;

    case NGX_CAMPAIGN_VALUE_NUMBER:
        return v->u.number != 0 && v->u.number == v->u.number;

    case NGX_CAMPAIGN_VALUE_STRING:
        return v->u.string.len != 0;

    case NGX_CAMPAIGN_VALUE_JSON:
        return !cJSON_IsArray(v->u.json) || v->u.json->child != NULL;

    default:
        return 0;
    }
}


int
ngx_campaign_value_text(const ngx_campaign_value_t *v,
    ngx_campaign_alloc_t *a, const u_char **text, size_t *len)
{
    u_char         *p, buf[32];
    size_t          n, size;
    const u_char   *s;
    const cJSON    *item;

    switch (v->type) {

    case NGX_CAMPAIGN_VALUE_BOOLEAN:
        *text = (const u_char *) (v->u.boolean ? "true" : "false");
        *len = v->u.boolean ? 4 : 5;
        return 0;

    case NGX_CAMPAIGN_VALUE_NUMBER:
        n = ngx_campaign_expr_number_text(v->u.number, buf);

        p = ngx_campaign_alloc(a, n ? n : 1);
        if (p == NULL) {
            return -1;
        }

        memcpy(p, buf, n);

        *text = p;
        *len = n;
        return 0;

    case NGX_CAMPAIGN_VALUE_STRING:
        *text = v->u.string.data;
        *len = v->u.string.len;
        return 0;

    case NGX_CAMPAIGN_VALUE_JSON:
        if (!cJSON_IsArray(v->u.json) || v->u.json->child == NULL) {
            break;
        }

        /* the scalars of an array, joined with ",": measure, then copy */

        size = 0;

        for (item = v->u.json->child; item; item = item->next) {
            size += ngx_campaign_expr_json_scalar(item, buf, &s)
                    + (item->next != NULL);

            if (size > NGX_CAMPAIGN_EXPR_MAX_STRING) {
                return -1;
            }
        }

        p = ngx_campaign_alloc(a, size ? size : 1);
        if (p == NULL) {
            return -1;
        }

        *text = p;
        *len = size;

        for (item = v->u.json->child; item; item = item->next) {
            n = ngx_campaign_expr_json_scalar(item, buf, &s);
            memcpy(p, s, n);
            p += n;

            if (item->next) {
                *p++ = ',';
            }
        }

        return 0;

    default:
        break;
    }

    *text = (const u_char *) "";
    *len = 0;

    return 0;
}


void
ngx_campaign_value_from_json(const cJSON *json, ngx_campaign_value_t *v)
{
    if (json == NULL) {
        v->type = NGX_CAMPAIGN_VALUE_NULL;

    } else if (cJSON_IsString(json) && json->valuestring) {
        ngx_campaign_expr_set_string(v, (const u_char *) json->valuestring,
                                     strlen(json->valuestring));

    } else if (cJSON_IsNumber(json)) {
        ngx_campaign_expr_set_number(v, json->valuedouble);

    } else if (cJSON_IsBool(json)) {
        v->type = NGX_CAMPAIGN_VALUE_BOOLEAN;
        v->u.boolean = cJSON_IsTrue(json) ? 1 : 0;

    } else if (cJSON_IsArray(json) || cJSON_IsObject(json)) {
        v->type = NGX_CAMPAIGN_VALUE_JSON;
        v->u.json = json;

    } else {
        v->type = NGX_CAMPAIGN_VALUE_NULL;
    }
}


/*
 * Integers print without decimals, other numbers as the shortest text
 * that reads back as the same double: 1.21, not 1.2100000000000000.
 * The buffer holds 32 bytes; NaN and infinities (not JSON) print nothing.
 */

static size_t
ngx_campaign_expr_number_text(double d, u_char *buf)
{
    int   precision, n, i;
    char  text[32];

    if (d - d != 0) {
        return 0;
    }

    if (d > -1e17 && d < 1e17 && d == (double) (long long) d) {
        return snprintf((char *) buf, 32, "%lld", (long long) d);
    }

    for (precision = 1; precision < 17; precision++) {
        snprintf(text, sizeof(text), "%.*g", precision, d);

        if (strtod(text, NULL) == d) {
            break;
        }
    }

    n = snprintf((char *) buf, 32, "%.*g", precision, d);

    /* nginx runs in the "C" locale; should another one have been set */

    for (i = 0; i < n; i++) {
        if (buf[i] == ',') {
            buf[i] = '.';
        }
    }

    return n;
}


/* the text of an array element as an array prints it */

static size_t
ngx_campaign_expr_json_scalar(const cJSON *item, u_char *buf,
    const u_char **text)
{
    ngx_campaign_value_t  v;

    if (cJSON_IsString(item) && item->valuestring) {
        *text = (const u_char *) item->valuestring;
        return strlen(item->valuestring);
    }

    if (cJSON_IsNumber(item)) {
        *text = buf;
        return ngx_campaign_expr_number_text(item->valuedouble, buf);
    }

    ngx_campaign_value_from_json(item, &v);

    if (v.type == NGX_CAMPAIGN_VALUE_BOOLEAN) {
        *text = (const u_char *) (v.u.boolean ? "true" : "false");
        return v.u.boolean ? 4 : 5;
    }

    *text = (const u_char *) "";
    return 0;
}


/*
 * The length of the UTF-8 character at p: 2 to 4 for a well-formed
 * sequence, 1 for ASCII and for any byte that does not start one, so that
 * code working character by character never splits a sequence.
 */

static size_t
ngx_campaign_expr_utf8_len(const u_char *p, const u_char *end)
{
    size_t  n, i;
    u_char  c;

    c = *p;

    if (c < 0xc2 || c > 0xf4) {
        return 1;
    }

    n = (c < 0xe0) ? 2 : (c < 0xf0) ? 3 : 4;

    if ((size_t) (end - p) < n) {
        return 1;
    }

    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 1;
        }
    }

    /* overlong, surrogate and beyond U+10FFFF forms */

    if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f)
        || (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
    {
        return 1;
    }

    return n;
}


static size_t
ngx_campaign_expr_utf8_count(const u_char *p, size_t len)
{
    size_t         n;
    const u_char  *end;

    n = 0;
    end = p + len;

    while (p < end) {
        p += ngx_campaign_expr_utf8_len(p, end);
        n++;
    }

    return n;
}


/*
 * Converts the character at p into out and returns its length, the same
 * in both: the case pairs handled are ASCII, Latin-1, Latin Extended-A,
 * Greek and Cyrillic, all one or two bytes long in both cases.  Other
 * characters, and bytes that are not UTF-8, are copied as they are.
 */

static size_t
ngx_campaign_expr_convert_char(const u_char *p, const u_char *end,
    u_char *out, int upper)
{
    size_t    n;
    uint32_t  c;

    n = ngx_campaign_expr_utf8_len(p, end);

    if (n == 1) {
        c = *p;

        if (c < 0x80) {
            c = ngx_campaign_expr_convert_case(c, upper);
        }

        *out = (u_char) c;
        return 1;
    }

    if (n != 2) {
        memcpy(out, p, n);
        return n;
    }

    c = ((uint32_t) (p[0] & 0x1f) << 6) | (p[1] & 0x3f);
    c = ngx_campaign_expr_convert_case(c, upper);

    out[0] = (u_char) (0xc0 | (c >> 6));
    out[1] = (u_char) (0x80 | (c & 0x3f));

    return 2;
}


static uint32_t
ngx_campaign_expr_convert_case(uint32_t c, int upper)
{
    int       is_upper, is_lower;
    uint32_t  other;

    is_upper = 0;
    is_lower = 0;
    other = c;

    if ((c >= 'A' && c <= 'Z') || (c >= 0xc0 && c <= 0xde && c != 0xd7)
        || (c >= 0x391 && c <= 0x3a9 && c != 0x3a2)
        || (c >= 0x410 && c <= 0x42f))
    {
        is_upper = 1;
        other = c + 0x20;

    } else if ((c >= 'a' && c <= 'z') || (c >= 0xe0 && c <= 0xfe && c != 0xf7)
               || (c >= 0x3b1 && c <= 0x3c9 && c != 0x3c2)
               || (c >= 0x430 && c <= 0x44f))
    {
        is_lower = 1;
        other = c - 0x20;

    } else if (c >= 0x400 && c <= 0x40f) {
        is_upper = 1;
        other = c + 0x50;

    } else if (c >= 0x450 && c <= 0x45f) {
        is_lower = 1;
        other = c - 0x50;

    } else if (c == 0x3c2) {
        /* the final sigma has no capital of its own */
        is_lower = 1;
        other = 0x3a3;

    } else if ((c >= 0x100 && c <= 0x12f) || (c >= 0x132 && c <= 0x137)
               || (c >= 0x14a && c <= 0x177))
    {
        /* Latin Extended-A pairs: capital even, small odd */
        is_upper = !(c & 1);
        is_lower = c & 1;
        other = c ^ 1;

    } else if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) {
        /* ... and here capital odd, small even */
        is_upper = c & 1;
        is_lower = !(c & 1);
        other = is_upper ? c + 1 : c - 1;
    }

    if ((upper && is_lower) || (!upper && is_upper)) {
        return other;
    }

    return c;
}


static int
ngx_campaign_expr_lower_case(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result)
{
    (void) n;

    return ngx_campaign_expr_change_case(ev, &args[0], result, 0, 0);
}


static int
ngx_campaign_expr_upper_case(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result)
{
    (void) n;

    return ngx_campaign_expr_change_case(ev, &args[0], result, 1, 0);
}


static int
ngx_campaign_expr_capitalize(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result)
{
    (void) n;

    return ngx_campaign_expr_change_case(ev, &args[0], result, 1, 1);
}


/* first: only the first character changes, as capitalize() wants */

static int
ngx_campaign_expr_change_case(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *arg, ngx_campaign_value_t *result, int upper,
    int first)
{
    size_t                    n;
    u_char                   *p, *d;
    const u_char             *s, *end;
    ngx_campaign_expr_str_t   text;

    if (ngx_campaign_expr_text(ev, arg, &text) != 0) {
        return -1;
    }

    if (text.len == 0) {
        ngx_campaign_expr_set_string(result, text.data, 0);
        return 0;
    }

    p = ngx_campaign_expr_buffer(ev, text.len);
    if (p == NULL) {
        return -1;
    }

    s = text.data;
    end = s + text.len;
    d = p;

    s += ngx_campaign_expr_convert_char(s, end, d, upper);
    d += s - text.data;

    if (first) {
        memcpy(d, s, end - s);

    } else {
        while (s < end) {
            n = ngx_campaign_expr_convert_char(s, end, d, upper);
            s += n;
            d += n;
        }
    }

    ngx_campaign_expr_set_string(result, p, text.len);

    return 0;
}


static int
ngx_campaign_expr_trim(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result)
{
    const u_char             *s, *end;
    ngx_campaign_expr_str_t   text;

    (void) n;

    if (ngx_campaign_expr_text(ev, &args[0], &text) != 0) {
        return -1;
    }

    s = text.data;
    end = s + text.len;

    while (s < end && (ngx_campaign_expr_is_space(*s) || *s == '\f'
                       || *s == '\v'))
    {
        s++;
    }

    while (end > s && (ngx_campaign_expr_is_space(end[-1]) || end[-1] == '\f'
                       || end[-1] == '\v'))
    {
        end--;
    }

    ngx_campaign_expr_set_string(result, s, end - s);

    return 0;
}


static int
ngx_campaign_expr_concat(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result)
{
    u_char                   *p;
    size_t                    i, size;
    ngx_campaign_expr_str_t   text;

    size = 0;

    for (i = 0; i < n; i++) {
        if (ngx_campaign_expr_text(ev, &args[i], &text) != 0) {
            return -1;
        }

        /* the texts of numbers are kept: measured once, copied once */

        ngx_campaign_expr_set_string(&args[i], text.data, text.len);

        size += text.len;

        if (size > NGX_CAMPAIGN_EXPR_MAX_STRING) {
            return -1;
        }
    }

    p = ngx_campaign_expr_buffer(ev, size);
    if (p == NULL) {
        return -1;
    }

    ngx_campaign_expr_set_string(result, p, size);

    for (i = 0; i < n; i++) {
        if (args[i].u.string.len) {
            memcpy(p, args[i].u.string.data, args[i].u.string.len);
            p += args[i].u.string.len;
        }
    }

    return 0;
}


static int
ngx_campaign_expr_contains(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result)
{
    ngx_campaign_expr_str_t  s, sub;

    (void) n;

    if (ngx_campaign_expr_text(ev, &args[0], &s) != 0
        || ngx_campaign_expr_text(ev, &args[1], &sub) != 0)
    {
        return -1;
    }

    result->type = NGX_CAMPAIGN_VALUE_BOOLEAN;
    result->u.boolean = (sub.len == 0
                         || memmem(s.data, s.len, sub.data, sub.len) != NULL);

    return 0;
}


static int
ngx_campaign_expr_starts_with(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result)
{
    ngx_campaign_expr_str_t  s, prefix;

    (void) n;

    if (ngx_campaign_expr_text(ev, &args[0], &s) != 0
        || ngx_campaign_expr_text(ev, &args[1], &prefix) != 0)
    {
        return -1;
    }

    result->type = NGX_CAMPAIGN_VALUE_BOOLEAN;
    result->u.boolean = (prefix.len <= s.len
                         && (prefix.len == 0
                             || memcmp(s.data, prefix.data, prefix.len) == 0));

    return 0;
}


static int
ngx_campaign_expr_ends_with(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result)
{
    ngx_campaign_expr_str_t  s, suffix;

    (void) n;

    if (ngx_campaign_expr_text(ev, &args[0], &s) != 0
        || ngx_campaign_expr_text(ev, &args[1], &suffix) != 0)
    {
        return -1;
    }

    result->type = NGX_CAMPAIGN_VALUE_BOOLEAN;
    result->u.boolean = (suffix.len <= s.len
                         && (suffix.len == 0
                             || memcmp(s.data + s.len - suffix.len,
                                       suffix.data, suffix.len) == 0));

    return 0;
}


/* characters of a string, elements of an array, members of an object */

static int
ngx_campaign_expr_length(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result)
{
    size_t                    count;
    const cJSON              *item;
    ngx_campaign_expr_str_t   text;

    (void) n;

    if (args[0].type == NGX_CAMPAIGN_VALUE_JSON) {
        count = 0;

        for (item = args[0].u.json->child; item; item = item->next) {
            count++;
        }

    } else {
        if (ngx_campaign_expr_text(ev, &args[0], &text) != 0) {
            return -1;
        }

        count = ngx_campaign_expr_utf8_count(text.data, text.len);
    }

    ngx_campaign_expr_set_number(result, (double) count);

    return 0;
}


static int
ngx_campaign_expr_is_empty(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result)
{
    (void) ev;
    (void) n;

    result->type = NGX_CAMPAIGN_VALUE_BOOLEAN;

    switch (args[0].type) {

    case NGX_CAMPAIGN_VALUE_NULL:
        result->u.boolean = 1;
        break;

    case NGX_CAMPAIGN_VALUE_STRING:
        result->u.boolean = (args[0].u.string.len == 0);
        break;

    case NGX_CAMPAIGN_VALUE_JSON:
        result->u.boolean = (args[0].u.json->child == NULL);
        break;

    default:
        result->u.boolean = 0;
        break;
    }

    return 0;
}


/* every occurrence, left to right, of a literal text; "" replaces none */

static int
ngx_campaign_expr_replace(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result)
{
    u_char                   *p, *d;
    size_t                    count, size;
    const u_char             *s, *end, *found;
    ngx_campaign_expr_str_t   text, from, to;

    (void) n;

    if (ngx_campaign_expr_text(ev, &args[0], &text) != 0
        || ngx_campaign_expr_text(ev, &args[1], &from) != 0
        || ngx_campaign_expr_text(ev, &args[2], &to) != 0)
    {
        return -1;
    }

    ngx_campaign_expr_set_string(result, text.data, text.len);

    if (from.len == 0 || from.len > text.len) {
        return 0;
    }

    count = 0;
    end = text.data + text.len;

    for (s = text.data;
         (found = memmem(s, end - s, from.data, from.len)) != NULL;
         s = found + from.len)
    {
        count++;
    }

    if (count == 0) {
        return 0;
    }

    /* text.len + count * (to.len - from.len), without overflow */

    if (to.len > from.len
        && (to.len - from.len) > NGX_CAMPAIGN_EXPR_MAX_STRING / count)
    {
        return -1;
    }

    size = text.len - count * from.len + count * to.len;

    p = ngx_campaign_expr_buffer(ev, size);
    if (p == NULL) {
        return -1;
    }

    d = p;

    for (s = text.data;
         (found = memmem(s, end - s, from.data, from.len)) != NULL;
         s = found + from.len)
    {
        memcpy(d, s, found - s);
        d += found - s;

        if (to.len) {
            memcpy(d, to.data, to.len);
            d += to.len;
        }
    }

    memcpy(d, s, end - s);

    ngx_campaign_expr_set_string(result, p, size);

    return 0;
}


/*
 * mask("123456789", 1, 2) is "1XXXXXX89": one X a character, whatever
 * its length in bytes.  Counts below zero are zero; with nothing left to
 * mask the string is unchanged; a count that is not a number gives null.
 */

static int
ngx_campaign_expr_mask(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result)
{
    u_char                   *p, *d;
    size_t                    count, i, keep_start, keep_end, size;
    double                    start, end;
    const u_char             *s, *last, *from, *to;
    ngx_campaign_expr_str_t   text;

    (void) n;

    if (ngx_campaign_expr_number(&args[1], &start) != 0
        || ngx_campaign_expr_number(&args[2], &end) != 0)
    {
        return 0;
    }

    if (ngx_campaign_expr_text(ev, &args[0], &text) != 0) {
        return -1;
    }

    count = ngx_campaign_expr_utf8_count(text.data, text.len);

    start = (start < 0) ? 0 : start;
    end = (end < 0) ? 0 : end;

    if (start + end >= (double) count) {
        ngx_campaign_expr_set_string(result, text.data, text.len);
        return 0;
    }

    keep_start = (size_t) start;
    keep_end = (size_t) end;

    /* from: past the characters kept at the start; to: the end kept */

    s = text.data;
    last = s + text.len;

    for (i = 0; i < keep_start; i++) {
        s += ngx_campaign_expr_utf8_len(s, last);
    }

    from = s;

    for (i = keep_start; i < count - keep_end; i++) {
        s += ngx_campaign_expr_utf8_len(s, last);
    }

    to = s;

    size = (from - text.data) + (count - keep_start - keep_end)
           + (last - to);

    p = ngx_campaign_expr_buffer(ev, size);
    if (p == NULL) {
        return -1;
    }

    d = p;

    memcpy(d, text.data, from - text.data);
    d += from - text.data;

    memset(d, 'X', count - keep_start - keep_end);
    d += count - keep_start - keep_end;

    memcpy(d, to, last - to);

    ngx_campaign_expr_set_string(result, p, size);

    return 0;
}


/*
 * The elements of an array as text (as value_text prints them) with the
 * separator between them; any other value is its own text.
 */

static int
ngx_campaign_expr_join(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result)
{
    u_char                   *p, buf[32];
    size_t                    size, len;
    const u_char             *s;
    const cJSON              *item;
    ngx_campaign_expr_str_t   sep, text;

    (void) n;

    if (ngx_campaign_expr_text(ev, &args[1], &sep) != 0) {
        return -1;
    }

    if (args[0].type != NGX_CAMPAIGN_VALUE_JSON
        || !cJSON_IsArray(args[0].u.json))
    {
        if (ngx_campaign_expr_text(ev, &args[0], &text) != 0) {
            return -1;
        }

        ngx_campaign_expr_set_string(result, text.data, text.len);
        return 0;
    }

    size = 0;

    for (item = args[0].u.json->child; item; item = item->next) {
        size += ngx_campaign_expr_json_scalar(item, buf, &s);

        if (item->next) {
            size += sep.len;
        }

        if (size > NGX_CAMPAIGN_EXPR_MAX_STRING) {
            return -1;
        }
    }

    p = ngx_campaign_expr_buffer(ev, size);
    if (p == NULL) {
        return -1;
    }

    ngx_campaign_expr_set_string(result, p, size);

    for (item = args[0].u.json->child; item; item = item->next) {
        len = ngx_campaign_expr_json_scalar(item, buf, &s);
        memcpy(p, s, len);
        p += len;

        if (item->next && sep.len) {
            memcpy(p, sep.data, sep.len);
            p += sep.len;
        }
    }

    return 0;
}


/*
 * Fixed decimals, "." as the decimal point, no grouping: 1234.5 with 2
 * decimals is "1234.50".  Decimals are clamped to 0..10 (the compiler
 * rejects literals outside); a value that is not a number gives null.
 */

static int
ngx_campaign_expr_format_number(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result)
{
    int      decimals, len, i;
    char     buf[400];
    double   d, places;
    u_char  *p;

    (void) n;

    if (ngx_campaign_expr_number(&args[0], &d) != 0
        || ngx_campaign_expr_number(&args[1], &places) != 0)
    {
        return 0;
    }

    decimals = (places < 0) ? 0 : (places > 10) ? 10 : (int) places;

    /* |d| < 1.8e308: 309 digits, a sign, a point and 10 decimals */

    len = snprintf(buf, sizeof(buf), "%.*f", decimals, d);

    if (len <= 0 || (size_t) len >= sizeof(buf)) {
        return 0;
    }

    /* C locales other than "C" may use a comma */

    for (i = 0; i < len; i++) {
        if (buf[i] == ',') {
            buf[i] = '.';
        }
    }

    /* -0.001 rounds to "0.00", not "-0.00" */

    if (buf[0] == '-' && strspn(buf + 1, "0.") == (size_t) len - 1) {
        memmove(buf, buf + 1, len--);
    }

    p = ngx_campaign_expr_buffer(ev, len);
    if (p == NULL) {
        return -1;
    }

    memcpy(p, buf, len);

    ngx_campaign_expr_set_string(result, p, len);

    return 0;
}


static int
ngx_campaign_expr_encode64(ngx_campaign_expr_eval_t *ev,
    ngx_campaign_value_t *args, size_t n, ngx_campaign_value_t *result)
{
    u_char                   *p, *d;
    size_t                    size;
    const u_char             *s, *end;
    ngx_campaign_expr_str_t   text;

    (void) n;

    if (ngx_campaign_expr_text(ev, &args[0], &text) != 0) {
        return -1;
    }

    if (text.len > NGX_CAMPAIGN_EXPR_MAX_STRING) {
        return -1;
    }

    size = (text.len + 2) / 3 * 4;

    p = ngx_campaign_expr_buffer(ev, size);
    if (p == NULL) {
        return -1;
    }

    s = text.data;
    end = s + text.len;
    d = p;

    while (end - s >= 3) {
        *d++ = ngx_campaign_expr_base64[s[0] >> 2];
        *d++ = ngx_campaign_expr_base64[((s[0] & 0x03) << 4) | (s[1] >> 4)];
        *d++ = ngx_campaign_expr_base64[((s[1] & 0x0f) << 2) | (s[2] >> 6)];
        *d++ = ngx_campaign_expr_base64[s[2] & 0x3f];
        s += 3;
    }

    if (end - s == 1) {
        *d++ = ngx_campaign_expr_base64[s[0] >> 2];
        *d++ = ngx_campaign_expr_base64[(s[0] & 0x03) << 4];
        *d++ = '=';
        *d++ = '=';

    } else if (end - s == 2) {
        *d++ = ngx_campaign_expr_base64[s[0] >> 2];
        *d++ = ngx_campaign_expr_base64[((s[0] & 0x03) << 4) | (s[1] >> 4)];
        *d++ = ngx_campaign_expr_base64[(s[1] & 0x0f) << 2];
        *d++ = '=';
    }

    ngx_campaign_expr_set_string(result, p, size);

    return 0;
}
