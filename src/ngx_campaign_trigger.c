
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_campaign_json.h"
#include "ngx_campaign_trigger.h"


#define NGX_CAMPAIGN_MAX_REQUEST_ID  256
#define NGX_CAMPAIGN_MAX_EMAIL       254

/* above this every double is an integer */
#define NGX_CAMPAIGN_EXACT_INTEGER   9007199254740992.0

/* room for "/recipients/N/channelData/pushInfo" whatever N's size */
#define NGX_CAMPAIGN_BASE_LEN        80

/* objects up to this many members are checked for duplicates pairwise */
#define NGX_CAMPAIGN_PAIRWISE        16

/* the index of a recipient that is the whole document (an audience line) */
#define NGX_CAMPAIGN_TRIGGER_ALONE   ((size_t) -1)


/*
 * Shared by the checks of one call: problems are appended as they are
 * found, and running out of memory is remembered rather than returned
 * through every level.
 */

typedef struct {
    ngx_campaign_alloc_t        *a;
    ngx_campaign_problems_t     *problems;
    unsigned                     nomem:1;
    unsigned                     too_large:1;
    size_t                       duplicates;
} ngx_campaign_trigger_ctx_t;


/*
 * Where the duplicate-name walk is: a chain of the parents' member names
 * or array indexes, on the stack, made into a JSON pointer only when a
 * duplicate is found.
 */

typedef struct ngx_campaign_trigger_path_s  ngx_campaign_trigger_path_t;

struct ngx_campaign_trigger_path_s {
    const ngx_campaign_trigger_path_t  *parent;
    const char                         *key;     /* NULL: in an array */
    size_t                              index;
};


typedef struct {
    const char                  *key;
    size_t                       index;
} ngx_campaign_trigger_member_t;


static int ngx_campaign_problems_vadd(ngx_campaign_alloc_t *a,
    ngx_campaign_problems_t *problems, const char *base, const char *key,
    const char *fmt, va_list args);
static char *ngx_campaign_trigger_pointer(ngx_campaign_alloc_t *a,
    const char *base, const char *key);
static void ngx_campaign_trigger_fail(ngx_campaign_trigger_ctx_t *ctx,
    const char *base, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static void ngx_campaign_trigger_start(ngx_campaign_trigger_ctx_t *ctx,
    ngx_campaign_alloc_t *a, ngx_campaign_problems_t *problems);
static void ngx_campaign_trigger_reset(ngx_campaign_problems_t *problems);
static int ngx_campaign_trigger_finish(ngx_campaign_trigger_ctx_t *ctx);
static int ngx_campaign_trigger_compile_patterns(void);
static int ngx_campaign_trigger_own(ngx_campaign_trigger_ctx_t *ctx,
    cJSON *tree);
static cJSON *ngx_campaign_trigger_document(ngx_campaign_trigger_ctx_t *ctx,
    const u_char *body, size_t len, size_t max_depth);

static void ngx_campaign_trigger_scan(ngx_campaign_trigger_ctx_t *ctx,
    const u_char *p, size_t len, size_t max_depth);
static const char *ngx_campaign_trigger_check_escape(const u_char *p,
    size_t n);
static size_t ngx_campaign_utf8_sequence(const u_char *p, size_t n);
static size_t ngx_campaign_utf8_count(const char *s);
static void ngx_campaign_trigger_malformed(ngx_campaign_trigger_ctx_t *ctx,
    const u_char *p, size_t offset, const char *what);

static void ngx_campaign_trigger_duplicates(ngx_campaign_trigger_ctx_t *ctx,
    const cJSON *item, const ngx_campaign_trigger_path_t *path);
static void ngx_campaign_trigger_duplicates_sorted(
    ngx_campaign_trigger_ctx_t *ctx, const cJSON *object,
    const ngx_campaign_trigger_path_t *path);
static int ngx_campaign_trigger_member_cmp(const void *one, const void *two);
static void ngx_campaign_trigger_duplicate(ngx_campaign_trigger_ctx_t *ctx,
    const ngx_campaign_trigger_path_t *path, const char *key);
static size_t ngx_campaign_trigger_path_len(
    const ngx_campaign_trigger_path_t *path);
static char *ngx_campaign_trigger_path_write(char *d,
    const ngx_campaign_trigger_path_t *path);
static char *ngx_campaign_trigger_index(char *d, size_t n);
static void ngx_campaign_trigger_base(char *buf, size_t n,
    const char *suffix);
static void ngx_campaign_trigger_members(const cJSON *obj,
    const char *const *names, size_t n, cJSON **found);

static void ngx_campaign_trigger_json_cleanup(void *data);
static void ngx_campaign_trigger_pooled_cleanup(void *data);
static cJSON *ngx_campaign_trigger_preview_data(
    ngx_campaign_trigger_ctx_t *ctx, cJSON *root);
static void ngx_campaign_trigger_check_root(ngx_campaign_trigger_ctx_t *ctx,
    cJSON *root, const ngx_campaign_trigger_limits_t *limits,
    ngx_campaign_trigger_t *t);
static ngx_campaign_recipient_t *ngx_campaign_trigger_check_recipients(
    ngx_campaign_trigger_ctx_t *ctx, cJSON *recipients, size_t *n);
static void ngx_campaign_trigger_check_recipient(
    ngx_campaign_trigger_ctx_t *ctx, cJSON *item, size_t n,
    ngx_campaign_recipient_t *r);
static void ngx_campaign_trigger_check_channel_data(
    ngx_campaign_trigger_ctx_t *ctx, cJSON *channel_data, size_t n);
static const char *ngx_campaign_trigger_string(
    ngx_campaign_trigger_ctx_t *ctx, cJSON *item, const char *base,
    const char *key, unsigned required);
static const char *ngx_campaign_trigger_identifier(
    ngx_campaign_trigger_ctx_t *ctx, cJSON *item, const char *base,
    const char *key, const char *(*check)(const char *s));
static cJSON *ngx_campaign_trigger_object(ngx_campaign_trigger_ctx_t *ctx,
    cJSON *item, const char *base, const char *key);
static size_t ngx_campaign_trigger_json_size(const cJSON *item);
static size_t ngx_campaign_trigger_string_size(const char *s);
static size_t ngx_campaign_trigger_int_size(int n);
static cJSON *ngx_campaign_trigger_data(ngx_campaign_trigger_ctx_t *ctx,
    cJSON *profile, cJSON *top, cJSON *own);
static int ngx_campaign_trigger_key_cmp(const void *one, const void *two);

static void ngx_campaign_trigger_check_channel(
    ngx_campaign_trigger_ctx_t *ctx, ngx_campaign_recipient_t *r,
    size_t n, ngx_campaign_channel_e channel);
static void ngx_campaign_trigger_check_context(
    ngx_campaign_trigger_ctx_t *ctx, const ngx_campaign_t *campaign,
    size_t n, cJSON *own, cJSON *top, u_char *checked);
static void ngx_campaign_trigger_check_field(ngx_campaign_trigger_ctx_t *ctx,
    const ngx_campaign_field_t *f, const cJSON *value, const char *base);
static int ngx_campaign_trigger_is_integer(const cJSON *item);
static int ngx_campaign_trigger_match(pcre2_code *re,
    pcre2_match_data *md, const char *s, size_t len);
static pcre2_code *ngx_campaign_trigger_compile(const char *pattern,
    pcre2_match_data **md);
static const char *ngx_campaign_trigger_type_name(const cJSON *item);


/*
 * A practical address: an RFC 5322 dot-atom local part and a domain of at
 * least two RFC 1035 labels.  Quoted local parts and address literals are
 * legal but left out, as most providers' APIs refuse them.  The length
 * (254 at most) is checked before matching.
 */

static const char  ngx_campaign_trigger_email_pattern[] =
    "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
    "(?:\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    "@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+"
    "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\z";

static const char  ngx_campaign_trigger_e164_pattern[] =
    "^\\+[1-9][0-9]{7,14}\\z";


static pcre2_code        *ngx_campaign_trigger_email_re;
static pcre2_match_data  *ngx_campaign_trigger_email_md;
static pcre2_code        *ngx_campaign_trigger_e164_re;
static pcre2_match_data  *ngx_campaign_trigger_e164_md;


/*
 * The identifier alphabets, as bits of a byte's entry: namespaces take
 * A-Z a-z 0-9 _ -, userIds also @ . + : = ~ (RFC 3986 unreserved
 * characters and a few sub-delims that no lookup path treats specially).
 */

#define NGX_CAMPAIGN_NAMESPACE_CHAR  1
#define NGX_CAMPAIGN_USER_ID_CHAR    2

static const u_char  ngx_campaign_identifier_chars[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
 /*    !  "  #  $  %  &  '  (  )  *  +  ,  -  .  / */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 3, 2, 0,
 /* 0  1  2  3  4  5  6  7  8  9  :  ;  <  =  >  ? */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 0, 0, 2, 0, 0,
 /* @  A  B  C  D  E  F  G  H  I  J  K  L  M  N  O */
    2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
 /* P  Q  R  S  T  U  V  W  X  Y  Z  [  \  ]  ^  _ */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 3,
 /* `  a  b  c  d  e  f  g  h  i  j  k  l  m  n  o */
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
 /* p  q  r  s  t  u  v  w  x  y  z  {  |  }  ~    */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 2, 0,
    /* 0x80 - 0xff: none */
};


int
ngx_campaign_trigger_init(void)
{
    /* before any tree is parsed: see ngx_campaign_json.h */
    ngx_campaign_json_hooks_init();

    return ngx_campaign_trigger_compile_patterns();
}


const char *
ngx_campaign_namespace_check(const char *s)
{
    const u_char  *p;

    if (*s == '\0') {
        return "must not be empty";
    }

    for (p = (const u_char *) s; *p; p++) {
        if (!(ngx_campaign_identifier_chars[*p] & NGX_CAMPAIGN_NAMESPACE_CHAR))
        {
            return "must contain only the characters A-Z a-z 0-9 _ -";
        }
    }

    if (p - (const u_char *) s > NGX_CAMPAIGN_MAX_NAMESPACE) {
        return "must be at most 64 characters";
    }

    return NULL;
}


const char *
ngx_campaign_user_id_check(const char *s)
{
    const u_char  *p;
    unsigned       dots;

    if (*s == '\0') {
        return "must not be empty";
    }

    dots = 0;

    for (p = (const u_char *) s; *p; p++) {
        if (!(ngx_campaign_identifier_chars[*p] & NGX_CAMPAIGN_USER_ID_CHAR)) {
            return "must contain only the characters "
                   "A-Z a-z 0-9 @ . _ - + : = ~";
        }

        if (*p == '.' && p[1] == '.') {
            dots = 1;
        }
    }

    /* nothing that a path could take for "." or ".." */

    if (*s == '.') {
        return "must not start with \".\"";
    }

    if (dots) {
        return "must not contain \"..\"";
    }

    if (p - (const u_char *) s > NGX_CAMPAIGN_MAX_USER_ID) {
        return "must be at most 255 characters";
    }

    return NULL;
}


int
ngx_campaign_namespace_valid(const char *s)
{
    return ngx_campaign_namespace_check(s) == NULL;
}


int
ngx_campaign_user_id_valid(const char *s)
{
    return ngx_campaign_user_id_check(s) == NULL;
}


static int
ngx_campaign_trigger_compile_patterns(void)
{
    if (ngx_campaign_trigger_email_re == NULL) {
        ngx_campaign_trigger_email_re = ngx_campaign_trigger_compile(
                                            ngx_campaign_trigger_email_pattern,
                                            &ngx_campaign_trigger_email_md);
        if (ngx_campaign_trigger_email_re == NULL) {
            return -1;
        }
    }

    if (ngx_campaign_trigger_e164_re == NULL) {
        ngx_campaign_trigger_e164_re = ngx_campaign_trigger_compile(
                                            ngx_campaign_trigger_e164_pattern,
                                            &ngx_campaign_trigger_e164_md);
        if (ngx_campaign_trigger_e164_re == NULL) {
            return -1;
        }
    }

    return 0;
}


static pcre2_code *
ngx_campaign_trigger_compile(const char *pattern, pcre2_match_data **md)
{
    int          err;
    PCRE2_SIZE   off;
    pcre2_code  *re;

    re = pcre2_compile((PCRE2_SPTR) pattern, PCRE2_ZERO_TERMINATED, 0,
                       &err, &off, NULL);
    if (re == NULL) {
        return NULL;
    }

    /* without JIT support the interpreter does the same job, slower */
    (void) pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);

    *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (*md == NULL) {
        pcre2_code_free(re);
        return NULL;
    }

    return re;
}


int
ngx_campaign_problems_add(ngx_campaign_alloc_t *a,
    ngx_campaign_problems_t *problems, const char *base, const char *key,
    const char *fmt, ...)
{
    int      rc;
    va_list  args;

    va_start(args, fmt);
    rc = ngx_campaign_problems_vadd(a, problems, base, key, fmt, args);
    va_end(args);

    return rc;
}


static int
ngx_campaign_problems_vadd(ngx_campaign_alloc_t *a,
    ngx_campaign_problems_t *problems, const char *base, const char *key,
    const char *fmt, va_list args)
{
    int                      n;
    char                    *message, *pointer;
    size_t                   nalloc;
    va_list                  copy;
    ngx_campaign_problem_t  *items;

    pointer = ngx_campaign_trigger_pointer(a, base, key);
    if (pointer == NULL) {
        return -1;
    }

    va_copy(copy, args);
    n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);

    if (n < 0) {
        return -1;
    }

    message = ngx_campaign_alloc(a, (size_t) n + 1);
    if (message == NULL) {
        return -1;
    }

    (void) vsnprintf(message, (size_t) n + 1, fmt, args);

    if (problems->nitems == problems->nalloc) {
        nalloc = problems->nalloc ? 2 * problems->nalloc : 8;

        items = ngx_campaign_alloc(a, nalloc * sizeof(ngx_campaign_problem_t));
        if (items == NULL) {
            return -1;
        }

        if (problems->nitems) {
            memcpy(items, problems->items,
                   problems->nitems * sizeof(ngx_campaign_problem_t));
        }

        problems->items = items;
        problems->nalloc = nalloc;
    }

    problems->items[problems->nitems].pointer = pointer;
    problems->items[problems->nitems].message = message;
    problems->nitems++;

    return 0;
}


/* base is a pointer already, key a raw member name (RFC 6901, 4) */

static char *
ngx_campaign_trigger_pointer(ngx_campaign_alloc_t *a, const char *base,
    const char *key)
{
    char        *pointer, *d;
    size_t       len;
    const char  *s;

    len = strlen(base);

    if (key != NULL) {
        len++;

        for (s = key; *s; s++) {
            len += (*s == '~' || *s == '/') ? 2 : 1;
        }
    }

    pointer = ngx_campaign_alloc(a, len + 1);
    if (pointer == NULL) {
        return NULL;
    }

    d = pointer;
    len = strlen(base);
    memcpy(d, base, len);
    d += len;

    if (key != NULL) {
        *d++ = '/';

        for (s = key; *s; s++) {
            if (*s == '~') {
                *d++ = '~';
                *d++ = '0';

            } else if (*s == '/') {
                *d++ = '~';
                *d++ = '1';

            } else {
                *d++ = *s;
            }
        }
    }

    *d = '\0';

    return pointer;
}


static void
ngx_campaign_trigger_fail(ngx_campaign_trigger_ctx_t *ctx, const char *base,
    const char *key, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);

    if (ngx_campaign_problems_vadd(ctx->a, ctx->problems, base, key, fmt,
                                   args)
        != 0)
    {
        ctx->nomem = 1;
    }

    va_end(args);
}


static void
ngx_campaign_trigger_start(ngx_campaign_trigger_ctx_t *ctx,
    ngx_campaign_alloc_t *a, ngx_campaign_problems_t *problems)
{
    ngx_campaign_trigger_reset(problems);

    ctx->a = a;
    ctx->problems = problems;
    ctx->nomem = 0;
    ctx->too_large = 0;
    ctx->duplicates = 0;
}


static void
ngx_campaign_trigger_reset(ngx_campaign_problems_t *problems)
{
    problems->items = NULL;
    problems->nitems = 0;
    problems->nalloc = 0;
    problems->status = 0;
}


static int
ngx_campaign_trigger_finish(ngx_campaign_trigger_ctx_t *ctx)
{
    if (ctx->nomem) {
        return -2;
    }

    if (ctx->problems->nitems == 0) {
        return 0;
    }

    /* too large is what a client must fix first */
    ctx->problems->status = ctx->too_large ? 413 : 400;

    return -1;
}


/*
 * The body as a JSON document, or NULL with the problem recorded: empty,
 * invalid UTF-8, too deep, malformed, followed by more than white space,
 * or with a duplicate member name.  The tree is freed with the
 * allocator.  The caller is inside ngx_campaign_json_enter(): cJSON
 * allocates from the allocator.
 */

static cJSON *
ngx_campaign_trigger_document(ngx_campaign_trigger_ctx_t *ctx,
    const u_char *body, size_t len, size_t max_depth)
{
    size_t       offset, nproblems;
    cJSON       *root;
    const char  *end;

    if (len == 0) {
        ngx_campaign_trigger_fail(ctx, "", NULL, "request body is empty");
        return NULL;
    }

    /*
     * cJSON recurses once per nesting level and takes any byte sequence
     * into its strings: both are settled here, before it runs.
     */

    ngx_campaign_trigger_scan(ctx, body, len, max_depth);

    if (ctx->nomem || ctx->problems->nitems) {
        return NULL;
    }

    /*
     * Not NUL-terminated: with require_null_terminated cJSON would look
     * for a NUL inside len, so trailing bytes are checked here instead.
     */

    end = NULL;
    nproblems = ctx->problems->nitems;
    root = cJSON_ParseWithLengthOpts((const char *) body, len, &end, 0);

    if (root == NULL) {
        offset = (end != NULL) ? (size_t) (end - (const char *) body) : 0;
        ngx_campaign_trigger_malformed(ctx, body, offset, NULL);
        return NULL;
    }

    if (ngx_campaign_trigger_own(ctx, root) != 0) {
        return NULL;
    }

    for (offset = (size_t) (end - (const char *) body);
         offset < len;
         offset++)
    {
        if (body[offset] != ' ' && body[offset] != '\t'
            && body[offset] != '\n' && body[offset] != '\r')
        {
            ngx_campaign_trigger_malformed(ctx, body, offset, NULL);
            return NULL;
        }
    }

    /* I-JSON: a reader may take either of two same-named members */

    ngx_campaign_trigger_duplicates(ctx, root, NULL);

    if (ctx->nomem || ctx->problems->nitems != nproblems) {
        return NULL;
    }

    return root;
}


/*
 * The tree goes with the allocator.  Under the engine's hooks it is in
 * the pool already, and only what was malloc'd and put into it later
 * needs freeing.
 */

static int
ngx_campaign_trigger_own(ngx_campaign_trigger_ctx_t *ctx, cJSON *tree)
{
    void  (*handler)(void *data);

    handler = ngx_campaign_json_hooked() ? ngx_campaign_trigger_pooled_cleanup
                                         : ngx_campaign_trigger_json_cleanup;

    if (ngx_campaign_cleanup(ctx->a, handler, tree) != 0) {
        cJSON_Delete(tree);
        ctx->nomem = 1;
        return -1;
    }

    return 0;
}


static void
ngx_campaign_trigger_json_cleanup(void *data)
{
    cJSON_Delete(data);
}


static void
ngx_campaign_trigger_pooled_cleanup(void *data)
{
    /* no malloc'd cJSON block anywhere: none in this tree either */

    if (ngx_campaign_json_live() != 0) {
        cJSON_Delete(data);
    }
}


int
ngx_campaign_trigger_parse_object(ngx_campaign_alloc_t *a,
    const u_char *body, size_t len, cJSON **object,
    ngx_campaign_problems_t *problems)
{
    cJSON                       *root;
    ngx_campaign_json_scope_t    scope;
    ngx_campaign_trigger_ctx_t   ctx;

    *object = NULL;
    ngx_campaign_trigger_start(&ctx, a, problems);

    ngx_campaign_json_enter(&scope, a);

    root = ngx_campaign_trigger_document(&ctx, body, len,
                                         NGX_CAMPAIGN_MAX_DEPTH);

    if (ngx_campaign_json_leave(&scope) != 0) {
        return -2;
    }

    if (root != NULL && !cJSON_IsObject(root)) {
        ngx_campaign_trigger_fail(&ctx, "", NULL,
                                  "must be an object, found %s",
                                  ngx_campaign_trigger_type_name(root));
        root = NULL;
    }

    *object = root;

    return ngx_campaign_trigger_finish(&ctx);
}


int
ngx_campaign_trigger_parse_preview(ngx_campaign_alloc_t *a,
    const u_char *body, size_t len, cJSON **data,
    ngx_campaign_problems_t *problems)
{
    int                          rc;
    cJSON                       *root, *wrapper;
    ngx_campaign_json_scope_t    scope;
    ngx_campaign_trigger_ctx_t   ctx;

    *data = NULL;
    ngx_campaign_trigger_start(&ctx, a, problems);

    ngx_campaign_json_enter(&scope, a);

    root = ngx_campaign_trigger_document(&ctx, body, len,
                                         NGX_CAMPAIGN_MAX_DEPTH);
    wrapper = NULL;

    if (root != NULL) {
        wrapper = ngx_campaign_trigger_preview_data(&ctx, root);
    }

    if (ngx_campaign_json_leave(&scope) != 0) {
        return -2;
    }

    rc = ngx_campaign_trigger_finish(&ctx);

    if (rc == 0) {
        *data = wrapper;
    }

    return rc;
}


/* {"profile": ..., "context": ...}, each an object, {} when absent */

static cJSON *
ngx_campaign_trigger_preview_data(ngx_campaign_trigger_ctx_t *ctx,
    cJSON *root)
{
    size_t        i;
    cJSON        *wrapper, *item;
    cJSON        *found[2];

    static const char  *members[] = { "profile", "context" };

    if (!cJSON_IsObject(root)) {
        ngx_campaign_trigger_fail(ctx, "", NULL,
                                  "must be an object, found %s",
                                  ngx_campaign_trigger_type_name(root));
        return NULL;
    }

    wrapper = cJSON_CreateObject();

    if (wrapper == NULL || ngx_campaign_trigger_own(ctx, wrapper) != 0) {
        ctx->nomem = 1;
        return NULL;
    }

    ngx_campaign_trigger_members(root, members, 2, found);

    for (i = 0; i < 2; i++) {
        item = found[i];

        if (item != NULL && !cJSON_IsNull(item) && !cJSON_IsObject(item)) {
            ngx_campaign_trigger_fail(ctx, "", members[i], "must be an "
                                      "object, found %s",
                                      ngx_campaign_trigger_type_name(item));
            continue;
        }

        if (item == NULL || cJSON_IsNull(item)) {
            item = cJSON_AddObjectToObject(wrapper, members[i]);

        } else if (!cJSON_AddItemReferenceToObject(wrapper, members[i],
                                                    item))
        {
            item = NULL;
        }

        if (item == NULL) {
            ctx->nomem = 1;
            return NULL;
        }
    }

    return wrapper;
}


int
ngx_campaign_trigger_parse(ngx_campaign_alloc_t *a, const u_char *body,
    size_t len, const ngx_campaign_trigger_limits_t *limits,
    ngx_campaign_trigger_t *t, ngx_campaign_problems_t *problems)
{
    size_t                       max_depth;
    cJSON                       *root;
    ngx_campaign_json_scope_t    scope;
    ngx_campaign_trigger_ctx_t   ctx;

    memset(t, 0, sizeof(ngx_campaign_trigger_t));
    ngx_campaign_trigger_start(&ctx, a, problems);

    max_depth = NGX_CAMPAIGN_MAX_DEPTH;

    if (limits != NULL && limits->max_depth) {
        max_depth = limits->max_depth;
    }

    /* the tree and the recipients' data objects come from the pool */

    ngx_campaign_json_enter(&scope, a);

    root = ngx_campaign_trigger_document(&ctx, body, len, max_depth);

    if (root != NULL) {
        t->root = root;
        ngx_campaign_trigger_check_root(&ctx, root, limits, t);
    }

    if (ngx_campaign_json_leave(&scope) != 0) {
        return -2;
    }

    return ngx_campaign_trigger_finish(&ctx);
}


/*
 * One pass over the raw body: UTF-8 validity (no overlongs, surrogates
 * or code points above U+10FFFF), nesting depth counted outside strings,
 * and what cJSON would let through but should not: raw control
 * characters (JSON forbids them) and "\u" escapes that decode to U+0000.
 *
 * Most bytes need nothing: the byte classes below let the loop skip runs
 * of them, inside strings and outside, and stop only where there is
 * something to do.
 */

#define NGX_CAMPAIGN_SCAN_IN   1     /* stops a run inside a string */
#define NGX_CAMPAIGN_SCAN_OUT  2     /* stops a run outside strings */

static const u_char  ngx_campaign_trigger_scan_class[256] = {
    /* control characters; outside strings \t \n \r are white space */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 3, 3, 1, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    /* '"' */
    0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* '[' '\\' ']' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 2, 0, 0,
    /* '{' '}' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 0,
    /* 0x80 - 0xff: UTF-8 sequences */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3
};


static void
ngx_campaign_trigger_scan(ngx_campaign_trigger_ctx_t *ctx, const u_char *p,
    size_t len, size_t max_depth)
{
    u_char       c, stop;
    size_t       i, n, depth;
    const char  *what;

    depth = 0;
    stop = NGX_CAMPAIGN_SCAN_OUT;

    for (i = 0; /* void */; i++) {

        if (stop == NGX_CAMPAIGN_SCAN_IN) {
            i = ngx_campaign_json_ascii_run(&p[i], &p[len]) - p;

        } else {
            while (i < len
                   && !(ngx_campaign_trigger_scan_class[p[i]] & stop))
            {
                i++;
            }
        }

        if (i == len) {
            return;
        }

        c = p[i];

        if (c >= 0x80) {
            n = ngx_campaign_utf8_sequence(&p[i], len - i);

            if (n == 0) {
                ngx_campaign_trigger_fail(ctx, "", NULL,
                                          "invalid UTF-8 at byte offset %zu",
                                          i);
                return;
            }

            i += n - 1;
            continue;
        }

        if (c < 0x20) {
            /* only those that stop a run: none is white space here */
            ngx_campaign_trigger_malformed(ctx, p, i,
                                           "unescaped control character");
            return;
        }

        if (stop == NGX_CAMPAIGN_SCAN_IN) {

            if (c == '"') {
                stop = NGX_CAMPAIGN_SCAN_OUT;
                continue;
            }

            /*
             * A backslash: the next byte is taken with it, unless it is a
             * control character or starts a UTF-8 sequence, which are
             * checked as such next (and which cJSON refuses anyway).
             */

            if (i + 1 == len || p[i + 1] < 0x20 || p[i + 1] >= 0x80) {
                continue;
            }

            if (p[i + 1] == 'u') {
                what = ngx_campaign_trigger_check_escape(&p[i + 2],
                                                         len - i - 2);
                if (what != NULL) {
                    ngx_campaign_trigger_malformed(ctx, p, i, what);
                    return;
                }
            }

            i++;
            continue;
        }

        switch (c) {

        case '"':
            stop = NGX_CAMPAIGN_SCAN_IN;
            break;

        case '{':
        case '[':
            if (++depth > max_depth) {
                ngx_campaign_trigger_fail(ctx, "", NULL,
                                          "nested deeper than %zu levels "
                                          "at byte offset %zu",
                                          max_depth, i);
                return;
            }

            break;

        default:   /* '}' ']' */
            if (depth > 0) {
                depth--;
            }
        }
    }
}


/*
 * cJSON decodes a "\u" escape with bad hex digits as U+0000, and U+0000
 * cuts a C string short: "a\u0000b" would be "a" to every reader.
 */

static const char *
ngx_campaign_trigger_check_escape(const u_char *p, size_t n)
{
    size_t    i;
    unsigned  zero;

    if (n < 4) {
        return "invalid \\u escape";
    }

    zero = 1;

    for (i = 0; i < 4; i++) {
        if (!isxdigit(p[i])) {
            return "invalid \\u escape";
        }

        if (p[i] != '0') {
            zero = 0;
        }
    }

    return zero ? "\\u0000 is not allowed in strings" : NULL;
}


/* the length of the valid UTF-8 sequence at p, 0 if it is not one */

static size_t
ngx_campaign_utf8_sequence(const u_char *p, size_t n)
{
    u_char  c, lo, hi;
    size_t  i, len;

    c = p[0];

    if (c < 0x80) {
        return 1;
    }

    /* continuation bytes, and 0xc0 0xc1 which only start overlongs */

    if (c < 0xc2) {
        return 0;
    }

    lo = 0x80;
    hi = 0xbf;

    if (c < 0xe0) {
        len = 2;

    } else if (c < 0xf0) {
        len = 3;

        if (c == 0xe0) {
            lo = 0xa0;                   /* overlong */

        } else if (c == 0xed) {
            hi = 0x9f;                   /* UTF-16 surrogates */
        }

    } else if (c < 0xf5) {
        len = 4;

        if (c == 0xf0) {
            lo = 0x90;                   /* overlong */

        } else if (c == 0xf4) {
            hi = 0x8f;                   /* above U+10FFFF */
        }

    } else {
        return 0;
    }

    if (n < len || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
    }

    return len;
}


/* code points of a valid UTF-8 string */

static size_t
ngx_campaign_utf8_count(const char *s)
{
    size_t  n;

    for (n = 0; *s; s++) {
        if (((u_char) *s & 0xc0) != 0x80) {
            n++;
        }
    }

    return n;
}


/* line and column (in characters) are what an editor shows a client */

static void
ngx_campaign_trigger_malformed(ngx_campaign_trigger_ctx_t *ctx,
    const u_char *p, size_t offset, const char *what)
{
    size_t  i, line, column;

    line = 1;
    column = 1;

    for (i = 0; i < offset; i++) {
        if (p[i] == '\n') {
            line++;
            column = 1;

        } else if ((p[i] & 0xc0) != 0x80) {
            column++;
        }
    }

    if (what == NULL) {
        ngx_campaign_trigger_fail(ctx, "", NULL,
                                  "malformed JSON at line %zu, column %zu",
                                  line, column);
        return;
    }

    ngx_campaign_trigger_fail(ctx, "", NULL,
                              "malformed JSON at line %zu, column %zu: %s",
                              line, column, what);
}


/*
 * Duplicate member names, anywhere in the tree, each reported once at its
 * second occurrence.  Small objects are checked pairwise; larger ones
 * (a profile may have thousands of members) by sorting their names, so
 * that no object costs more than O(n log n) comparisons.  The depth is
 * bounded by the scan, so recursion is too.
 */

static void
ngx_campaign_trigger_duplicates(ngx_campaign_trigger_ctx_t *ctx,
    const cJSON *item, const ngx_campaign_trigger_path_t *path)
{
    int                           type;
    size_t                        i, n, same;
    const char                   *key;
    const cJSON                  *child, *prev;
    ngx_campaign_trigger_path_t   here;

    type = item->type & 0xff;

    if (type != cJSON_Object && type != cJSON_Array) {
        return;
    }

    n = 0;

    if (type == cJSON_Object) {
        for (child = item->child;
             child != NULL && n <= NGX_CAMPAIGN_PAIRWISE;
             child = child->next)
        {
            n++;
        }

        if (n > NGX_CAMPAIGN_PAIRWISE) {
            ngx_campaign_trigger_duplicates_sorted(ctx, item, path);
            n = 0;
        }
    }

    here.parent = path;

    for (i = 0, child = item->child; child != NULL; i++, child = child->next)
    {
        if (ctx->nomem || ctx->duplicates >= NGX_CAMPAIGN_MAX_DUPLICATES) {
            return;
        }

        /* small objects pairwise, in the same pass */

        if (n && i) {
            key = child->string;
            same = 0;

            for (prev = item->child; prev != child; prev = prev->next) {
                if (prev->string[0] == key[0]
                    && strcmp(prev->string, key) == 0)
                {
                    same++;
                }
            }

            if (same == 1) {
                ngx_campaign_trigger_duplicate(ctx, path, key);
            }
        }

        if (child->child != NULL) {
            here.key = (type == cJSON_Object) ? child->string : NULL;
            here.index = i;

            ngx_campaign_trigger_duplicates(ctx, child, &here);
        }
    }
}


static void
ngx_campaign_trigger_duplicates_sorted(ngx_campaign_trigger_ctx_t *ctx,
    const cJSON *object, const ngx_campaign_trigger_path_t *path)
{
    size_t                          i, j, n;
    u_char                         *second;
    const cJSON                    *child;
    ngx_campaign_trigger_member_t  *m;

    n = 0;

    for (child = object->child; child != NULL; child = child->next) {
        n++;
    }

    m = ngx_campaign_alloc(ctx->a, n * sizeof(ngx_campaign_trigger_member_t));
    second = ngx_campaign_alloc(ctx->a, n);

    if (m == NULL || second == NULL) {
        ctx->nomem = 1;
        return;
    }

    for (i = 0, child = object->child; i < n; i++, child = child->next) {
        m[i].key = child->string;
        m[i].index = i;
    }

    /* by name, then by position: a run of equals starts with the first */

    qsort(m, n, sizeof(ngx_campaign_trigger_member_t),
          ngx_campaign_trigger_member_cmp);

    memset(second, 0, n);

    for (i = 1; i < n; i = j) {
        if (strcmp(m[i].key, m[i - 1].key) != 0) {
            j = i + 1;
            continue;
        }

        second[m[i].index] = 1;

        for (j = i + 1; j < n && strcmp(m[j].key, m[i].key) == 0; j++) {
            /* void */
        }

        j++;
    }

    /* reported in document order */

    for (i = 0, child = object->child; i < n; i++, child = child->next) {
        if (second[i]) {
            ngx_campaign_trigger_duplicate(ctx, path, child->string);
        }
    }
}


static int
ngx_campaign_trigger_member_cmp(const void *one, const void *two)
{
    int                                   rc;
    const ngx_campaign_trigger_member_t  *a, *b;

    a = one;
    b = two;

    rc = strcmp(a->key, b->key);

    if (rc != 0) {
        return rc;
    }

    return (a->index > b->index) - (a->index < b->index);
}


static void
ngx_campaign_trigger_duplicate(ngx_campaign_trigger_ctx_t *ctx,
    const ngx_campaign_trigger_path_t *path, const char *key)
{
    char  *base;

    if (ctx->duplicates >= NGX_CAMPAIGN_MAX_DUPLICATES) {
        return;
    }

    ctx->duplicates++;

    base = ngx_campaign_alloc(ctx->a, ngx_campaign_trigger_path_len(path)
                                      + 1);
    if (base == NULL) {
        ctx->nomem = 1;
        return;
    }

    *ngx_campaign_trigger_path_write(base, path) = '\0';

    ngx_campaign_trigger_fail(ctx, base, key, "duplicate member name \"%s\"",
                              key);
}


/* the length of the path as a JSON pointer, escaped per RFC 6901 */

static size_t
ngx_campaign_trigger_path_len(const ngx_campaign_trigger_path_t *path)
{
    size_t       len;
    const char  *s;

    len = 0;

    for ( /* void */ ; path != NULL; path = path->parent) {
        len++;

        if (path->key == NULL) {
            len += 20;                   /* the digits of any size_t */
            continue;
        }

        for (s = path->key; *s; s++) {
            len += (*s == '~' || *s == '/') ? 2 : 1;
        }
    }

    return len;
}


static char *
ngx_campaign_trigger_path_write(char *d,
    const ngx_campaign_trigger_path_t *path)
{
    const char  *s;

    if (path == NULL) {
        return d;
    }

    d = ngx_campaign_trigger_path_write(d, path->parent);

    *d++ = '/';

    if (path->key == NULL) {
        return ngx_campaign_trigger_index(d, path->index);
    }

    for (s = path->key; *s; s++) {
        if (*s == '~') {
            *d++ = '~';
            *d++ = '0';

        } else if (*s == '/') {
            *d++ = '~';
            *d++ = '1';

        } else {
            *d++ = *s;
        }
    }

    return d;
}


/* the decimal digits of n, without snprintf()'s cost on the hot path */

static char *
ngx_campaign_trigger_index(char *d, size_t n)
{
    char    digits[24], *p;
    size_t  len;

    p = digits + sizeof(digits);

    do {
        *--p = (char) ('0' + n % 10);
        n /= 10;
    } while (n);

    len = digits + sizeof(digits) - p;
    memcpy(d, p, len);

    return d + len;
}


/*
 * "/recipients/N" and suffix, in a buffer of NGX_CAMPAIGN_BASE_LEN; the
 * suffix alone for a recipient that is a document of its own.
 */

static void
ngx_campaign_trigger_base(char *buf, size_t n, const char *suffix)
{
    char  *d;

    if (n == NGX_CAMPAIGN_TRIGGER_ALONE) {
        strcpy(buf, suffix);
        return;
    }

    memcpy(buf, "/recipients/", sizeof("/recipients/") - 1);
    d = ngx_campaign_trigger_index(buf + sizeof("/recipients/") - 1, n);
    strcpy(d, suffix);
}


/*
 * The first member of each name, in one pass over the object rather than
 * a pass per name.
 */

static void
ngx_campaign_trigger_members(const cJSON *obj, const char *const *names,
    size_t n, cJSON **found)
{
    size_t       i;
    cJSON       *item;
    const char  *s;

    for (i = 0; i < n; i++) {
        found[i] = NULL;
    }

    for (item = obj->child; item != NULL; item = item->next) {
        s = item->string;

        for (i = 0; i < n; i++) {
            if (s[0] == names[i][0] && strcmp(s, names[i]) == 0) {
                if (found[i] == NULL) {
                    found[i] = item;
                }

                break;
            }
        }
    }
}


static void
ngx_campaign_trigger_check_root(ngx_campaign_trigger_ctx_t *ctx, cJSON *root,
    const ngx_campaign_trigger_limits_t *limits, ngx_campaign_trigger_t *t)
{
    cJSON                     *top;
    cJSON                     *found[4];
    size_t                     i, n, size, max_size, len;
    const char                *request_id, *campaign_id;
    ngx_campaign_recipient_t  *r;

    static const char         *members[] = {
        "requestId", "campaignId", "recipients", "context"
    };

    if (!cJSON_IsObject(root)) {
        ngx_campaign_trigger_fail(ctx, "", NULL,
                                  "must be an object, found %s",
                                  ngx_campaign_trigger_type_name(root));
        return;
    }

    ngx_campaign_trigger_members(root, members, 4, found);

    request_id = ngx_campaign_trigger_string(ctx, found[0], "", members[0],
                                             1);

    if (request_id != NULL) {
        len = strlen(request_id);

        if (len > NGX_CAMPAIGN_MAX_REQUEST_ID) {
            ngx_campaign_trigger_fail(ctx, "", members[0],
                                      "must be at most %d bytes, found %zu",
                                      NGX_CAMPAIGN_MAX_REQUEST_ID, len);
        }
    }

    campaign_id = ngx_campaign_trigger_string(ctx, found[1], "", members[1],
                                              1);

    r = ngx_campaign_trigger_check_recipients(ctx, found[2], &n);

    top = ngx_campaign_trigger_object(ctx, found[3], "", members[3]);

    /* as the compact JSON that a gateway payload would carry */

    size = top ? ngx_campaign_trigger_json_size(top) : 0;

    for (i = 0; i < n; i++) {
        if (r[i].context != NULL) {
            size += ngx_campaign_trigger_json_size(r[i].context);
        }
    }

    max_size = NGX_CAMPAIGN_MAX_CONTEXT_SIZE;

    if (limits != NULL && limits->max_context_size) {
        max_size = limits->max_context_size;
    }

    if (size > max_size) {
        ctx->too_large = 1;
        ngx_campaign_trigger_fail(ctx, "", "context",
                                  "context data must be at most %zu bytes, "
                                  "found %zu", max_size, size);
    }

    if (ctx->nomem || ctx->problems->nitems) {
        return;
    }

    for (i = 0; i < n; i++) {
        r[i].data = ngx_campaign_trigger_data(ctx, r[i].profile, top,
                                              r[i].context);
        if (r[i].data == NULL) {
            ctx->nomem = 1;
            return;
        }
    }

    t->request_id = request_id;
    t->campaign_id = campaign_id;
    t->recipients = r;
    t->nrecipients = n;
    t->context = top;
}


/*
 * The recipients, NULL with *n set to 0 unless the list has 1..20 items.
 * The items of an oversized list are not looked at, which keeps the
 * answer bounded.
 */

static ngx_campaign_recipient_t *
ngx_campaign_trigger_check_recipients(ngx_campaign_trigger_ctx_t *ctx,
    cJSON *recipients, size_t *n)
{
    int                        count;
    char                       base[NGX_CAMPAIGN_BASE_LEN];
    cJSON                     *item;
    size_t                     i, j;
    ngx_campaign_recipient_t  *r;

    *n = 0;

    if (recipients == NULL) {
        ngx_campaign_trigger_fail(ctx, "", "recipients", "is required");
        return NULL;
    }

    if (!cJSON_IsArray(recipients)) {
        ngx_campaign_trigger_fail(ctx, "", "recipients",
                                  "must be an array, found %s",
                                  ngx_campaign_trigger_type_name(recipients));
        return NULL;
    }

    count = cJSON_GetArraySize(recipients);

    if (count < 1 || count > NGX_CAMPAIGN_MAX_RECIPIENTS) {
        ngx_campaign_trigger_fail(ctx, "", "recipients",
                                  "must have between 1 and %d items, "
                                  "found %d",
                                  NGX_CAMPAIGN_MAX_RECIPIENTS, count);
        return NULL;
    }

    r = ngx_campaign_alloc(ctx->a,
                           (size_t) count * sizeof(ngx_campaign_recipient_t));
    if (r == NULL) {
        ctx->nomem = 1;
        return NULL;
    }

    memset(r, 0, (size_t) count * sizeof(ngx_campaign_recipient_t));

    for (i = 0, item = recipients->child;
         i < (size_t) count && item != NULL;
         i++, item = item->next)
    {
        ngx_campaign_trigger_check_recipient(ctx, item, i, &r[i]);
    }

    *n = i;

    for (i = 1; i < *n; i++) {
        if (r[i].user_id == NULL) {
            continue;
        }

        for (j = 0; j < i; j++) {
            if (r[j].user_id != NULL
                && strcmp(r[i].user_id, r[j].user_id) == 0)
            {
                ngx_campaign_trigger_base(base, i, "");
                ngx_campaign_trigger_fail(ctx, base, "userId",
                                          "is a duplicate of "
                                          "/recipients/%zu/userId", j);
                break;
            }
        }
    }

    return r;
}


static void
ngx_campaign_trigger_check_recipient(ngx_campaign_trigger_ctx_t *ctx,
    cJSON *item, size_t n, ngx_campaign_recipient_t *r)
{
    char                base[NGX_CAMPAIGN_BASE_LEN];
    cJSON              *found[6];
    const char         *type;

    static const char  *members[] = {
        "type", "userId", "namespace", "channelData", "profile", "context"
    };

    ngx_campaign_trigger_base(base, n, "");

    if (!cJSON_IsObject(item)) {
        ngx_campaign_trigger_fail(ctx, base, NULL,
                                  "must be an object, found %s",
                                  ngx_campaign_trigger_type_name(item));
        return;
    }

    ngx_campaign_trigger_members(item, members, 6, found);

    type = ngx_campaign_trigger_string(ctx, found[0], base, members[0], 1);

    if (type != NULL) {
        if (strcmp(type, "aep") != 0 && strcmp(type, "external") != 0) {
            ngx_campaign_trigger_fail(ctx, base, members[0],
                                      "must be \"aep\" or \"external\"");
        }

        r->type = type;
    }

    r->user_id = ngx_campaign_trigger_identifier(ctx, found[1], base,
                                                 members[1],
                                                 ngx_campaign_user_id_check);
    r->namespace = ngx_campaign_trigger_identifier(ctx, found[2], base,
                                                   members[2],
                                                ngx_campaign_namespace_check);

    r->channel_data = ngx_campaign_trigger_object(ctx, found[3], base,
                                                  members[3]);
    if (r->channel_data != NULL) {
        ngx_campaign_trigger_check_channel_data(ctx, r->channel_data, n);
    }

    r->profile = ngx_campaign_trigger_object(ctx, found[4], base,
                                             members[4]);
    r->context = ngx_campaign_trigger_object(ctx, found[5], base,
                                             members[5]);
}


static void
ngx_campaign_trigger_check_channel_data(ngx_campaign_trigger_ctx_t *ctx,
    cJSON *channel_data, size_t n)
{
    char                cd[NGX_CAMPAIGN_BASE_LEN];
    char                push[NGX_CAMPAIGN_BASE_LEN];
    cJSON              *found[3], *push_info;

    static const char  *members[] = {
        "emailAddress", "mobilePhoneNumber", "pushInfo"
    };
    static const char  *push_members[] = { "appID", "platform", "token" };

    ngx_campaign_trigger_base(cd, n, "/channelData");

    ngx_campaign_trigger_members(channel_data, members, 3, found);

    (void) ngx_campaign_trigger_string(ctx, found[0], cd, members[0], 0);
    (void) ngx_campaign_trigger_string(ctx, found[1], cd, members[1], 0);

    push_info = ngx_campaign_trigger_object(ctx, found[2], cd, members[2]);
    if (push_info == NULL) {
        return;
    }

    ngx_campaign_trigger_base(push, n, "/channelData/pushInfo");

    ngx_campaign_trigger_members(push_info, push_members, 3, found);

    (void) ngx_campaign_trigger_string(ctx, found[0], push, push_members[0],
                                       0);
    (void) ngx_campaign_trigger_string(ctx, found[1], push, push_members[1],
                                       0);
    (void) ngx_campaign_trigger_string(ctx, found[2], push, push_members[2],
                                       0);
}


/*
 * A member (item, NULL when absent) that must be a string.  A required
 * one must be there and not be empty; an optional one may be absent or
 * null, as clients serialising optional fields often send them.  NULL
 * unless a usable string.
 */

static const char *
ngx_campaign_trigger_string(ngx_campaign_trigger_ctx_t *ctx, cJSON *item,
    const char *base, const char *key, unsigned required)
{
    const u_char  *p;

    if (item == NULL || (!required && cJSON_IsNull(item))) {
        if (required) {
            ngx_campaign_trigger_fail(ctx, base, key, "is required");
        }

        return NULL;
    }

    if (!cJSON_IsString(item)) {
        ngx_campaign_trigger_fail(ctx, base, key,
                                  "must be a string, found %s",
                                  ngx_campaign_trigger_type_name(item));
        return NULL;
    }

    if (required && item->valuestring[0] == '\0') {
        ngx_campaign_trigger_fail(ctx, base, key, "must not be empty");
        return NULL;
    }

    /*
     * The required strings are identifiers: they end up in log lines and,
     * through variables, in gateway headers.
     */

    if (required) {
        for (p = (const u_char *) item->valuestring; *p; p++) {
            if (*p < 0x20 || *p == 0x7f) {
                ngx_campaign_trigger_fail(ctx, base, key, "must not contain "
                                          "control characters");
                return NULL;
            }
        }
    }

    return item->valuestring;
}


/* a required string of an identifier alphabet */

static const char *
ngx_campaign_trigger_identifier(ngx_campaign_trigger_ctx_t *ctx, cJSON *item,
    const char *base, const char *key, const char *(*check)(const char *s))
{
    const char  *message;

    if (item == NULL) {
        ngx_campaign_trigger_fail(ctx, base, key, "is required");
        return NULL;
    }

    if (!cJSON_IsString(item)) {
        ngx_campaign_trigger_fail(ctx, base, key,
                                  "must be a string, found %s",
                                  ngx_campaign_trigger_type_name(item));
        return NULL;
    }

    message = check(item->valuestring);

    if (message != NULL) {
        ngx_campaign_trigger_fail(ctx, base, key, "%s", message);
        return NULL;
    }

    return item->valuestring;
}


/* an optional member that must be an object; null counts as absent */

static cJSON *
ngx_campaign_trigger_object(ngx_campaign_trigger_ctx_t *ctx, cJSON *item,
    const char *base, const char *key)
{
    if (item == NULL || cJSON_IsNull(item)) {
        return NULL;
    }

    if (!cJSON_IsObject(item)) {
        ngx_campaign_trigger_fail(ctx, base, key,
                                  "must be an object, found %s",
                                  ngx_campaign_trigger_type_name(item));
        return NULL;
    }

    return item;
}


/*
 * The length of cJSON_PrintUnformatted(item) without printing it.  The
 * depth is bounded by the scan, so recursion is too.
 */

static size_t
ngx_campaign_trigger_json_size(const cJSON *item)
{
    char          buf[32];
    size_t        size;
    double        d;
    const cJSON  *child;

    switch (item->type & 0xff) {

    case cJSON_NULL:
    case cJSON_True:
        return 4;

    case cJSON_False:
        return 5;

    case cJSON_String:
        return ngx_campaign_trigger_string_size(item->valuestring);

    case cJSON_Number:
        d = item->valuedouble;

        if (isnan(d) || isinf(d)) {
            return 4;
        }

        if (d == (double) item->valueint) {
            return ngx_campaign_trigger_int_size(item->valueint);
        }

        size = (size_t) snprintf(buf, sizeof(buf), "%1.15g", d);

        if (strtod(buf, NULL) != d) {
            size = (size_t) snprintf(buf, sizeof(buf), "%1.17g", d);
        }

        return size;

    case cJSON_Array:
    case cJSON_Object:
        size = 2;

        for (child = item->child; child != NULL; child = child->next) {
            if (child != item->child) {
                size++;
            }

            if ((item->type & 0xff) == cJSON_Object) {
                size += ngx_campaign_trigger_string_size(child->string) + 1;
            }

            size += ngx_campaign_trigger_json_size(child);
        }

        return size;

    default:
        return 0;
    }
}


/* cJSON escapes as the engine does: "\n" and the like, or "\u00XX" */

static size_t
ngx_campaign_trigger_string_size(const char *s)
{
    if (s == NULL) {
        return 2;
    }

    return 2 + ngx_campaign_json_escaped_strlen(s);
}


static size_t
ngx_campaign_trigger_int_size(int n)
{
    size_t        size;
    unsigned int  u;

    size = 1;

    if (n < 0) {
        size++;
        u = 0U - (unsigned int) n;

    } else {
        u = (unsigned int) n;
    }

    while (u >= 10) {
        size++;
        u /= 10;
    }

    return size;
}


/*
 * {"profile": ..., "context": ...} made of references into the request's
 * tree: cJSON_Delete() of a reference frees only the reference and its
 * key, so this object and the tree are freed independently, in any order.
 */

static cJSON *
ngx_campaign_trigger_data(ngx_campaign_trigger_ctx_t *ctx, cJSON *profile,
    cJSON *top, cJSON *own)
{
    cJSON        *data, *merged, *empty, *item;
    size_t        n;
    const char  **keys;

    data = cJSON_CreateObject();

    if (data == NULL || ngx_campaign_trigger_own(ctx, data) != 0) {
        return NULL;
    }

    if (profile != NULL) {
        if (!cJSON_AddItemReferenceToObject(data, "profile", profile)) {
            return NULL;
        }

    } else {
        empty = cJSON_CreateObject();

        if (!cJSON_AddItemToObject(data, "profile", empty)) {
            cJSON_Delete(empty);
            return NULL;
        }
    }

    merged = cJSON_CreateObject();

    if (!cJSON_AddItemToObject(data, "context", merged)) {
        cJSON_Delete(merged);
        return NULL;
    }

    /*
     * The recipient's keys, sorted: with thousands of keys on both sides
     * a lookup per top-level key in cJSON's lists would be quadratic.
     */

    n = 0;
    keys = NULL;

    if (top != NULL && own != NULL) {
        for (item = own->child; item != NULL; item = item->next) {
            n++;
        }

        if (n) {
            keys = ngx_campaign_alloc(ctx->a, n * sizeof(const char *));
            if (keys == NULL) {
                return NULL;
            }

            n = 0;

            for (item = own->child; item != NULL; item = item->next) {
                keys[n++] = item->string;
            }

            qsort(keys, n, sizeof(const char *),
                  ngx_campaign_trigger_key_cmp);
        }
    }

    for (item = top ? top->child : NULL; item != NULL; item = item->next) {
        if (n && bsearch(&item->string, keys, n, sizeof(const char *),
                         ngx_campaign_trigger_key_cmp)
                 != NULL)
        {
            continue;
        }

        if (!cJSON_AddItemReferenceToObject(merged, item->string, item)) {
            return NULL;
        }
    }

    for (item = own ? own->child : NULL; item != NULL; item = item->next) {
        if (!cJSON_AddItemReferenceToObject(merged, item->string, item)) {
            return NULL;
        }
    }

    return data;
}


static int
ngx_campaign_trigger_key_cmp(const void *one, const void *two)
{
    return strcmp(*(const char * const *) one, *(const char * const *) two);
}


int
ngx_campaign_trigger_validate(ngx_campaign_alloc_t *a,
    ngx_campaign_trigger_t *t, const ngx_campaign_t *campaign,
    ngx_campaign_problems_t *problems)
{
    char                         base[NGX_CAMPAIGN_BASE_LEN];
    size_t                       n;
    u_char                      *checked;
    ngx_campaign_recipient_t    *r;
    ngx_campaign_trigger_ctx_t   ctx;

    ngx_campaign_trigger_start(&ctx, a, problems);

    /* the patterns only: the hooks are installed before any parse or not */

    if (ngx_campaign_trigger_email_re == NULL
        && ngx_campaign_trigger_compile_patterns() != 0)
    {
        return -2;
    }

    /* which fields of the top-level context were checked already */

    checked = NULL;

    if (campaign->nfields) {
        checked = ngx_campaign_alloc(a, campaign->nfields);
        if (checked == NULL) {
            return -2;
        }

        memset(checked, 0, campaign->nfields);
    }

    for (n = 0; n < t->nrecipients; n++) {
        r = &t->recipients[n];

        ngx_campaign_trigger_check_channel(&ctx, r, n, campaign->channel);

        if (campaign->namespace != NULL && r->namespace != NULL
            && strcmp(campaign->namespace, r->namespace) != 0)
        {
            ngx_campaign_trigger_base(base, n, "");
            ngx_campaign_trigger_fail(&ctx, base, "namespace",
                                      "must be \"%s\" for this campaign",
                                      campaign->namespace);
        }

        ngx_campaign_trigger_check_context(&ctx, campaign, n, r->context,
                                           t->context, checked);
    }

    return ngx_campaign_trigger_finish(&ctx);
}


/*
 * The campaign's context schema against one recipient's merged context,
 * looked up key by key so that each problem points where the value came
 * from: the recipient's own context or the top-level one.
 */

static void
ngx_campaign_trigger_check_context(ngx_campaign_trigger_ctx_t *ctx,
    const ngx_campaign_t *campaign, size_t n, cJSON *own, cJSON *top,
    u_char *checked)
{
    char                         base[NGX_CAMPAIGN_BASE_LEN];
    cJSON                       *value;
    size_t                       i;
    const ngx_campaign_field_t  *f;

    ngx_campaign_trigger_base(base, n, "/context");

    for (i = 0; i < campaign->nfields; i++) {
        f = &campaign->fields[i];

        if (f->name == NULL) {
            continue;
        }

        value = own ? cJSON_GetObjectItemCaseSensitive(own, f->name) : NULL;

        if (value != NULL) {
            ngx_campaign_trigger_check_field(ctx, f, value, base);
            continue;
        }

        value = top ? cJSON_GetObjectItemCaseSensitive(top, f->name) : NULL;

        if (value != NULL) {

            /* the same value for every recipient: one answer will do */

            if (!checked[i]) {
                checked[i] = 1;
                ngx_campaign_trigger_check_field(ctx, f, value, "/context");
            }

            continue;
        }

        if (f->required) {
            ngx_campaign_trigger_fail(ctx, base, f->name, "is required");
        }
    }
}


static void
ngx_campaign_trigger_check_channel(ngx_campaign_trigger_ctx_t *ctx,
    ngx_campaign_recipient_t *r, size_t n, ngx_campaign_channel_e channel)
{
    char         cd[NGX_CAMPAIGN_BASE_LEN], push[NGX_CAMPAIGN_BASE_LEN];
    cJSON       *channel_data, *push_info;
    size_t       len;
    const char  *s;

    ngx_campaign_trigger_base(cd, n, "/channelData");

    channel_data = r->channel_data;

    switch (channel) {

    case NGX_CAMPAIGN_CHANNEL_EMAIL:
        s = cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(channel_data,
                                                 "emailAddress"));
        if (s == NULL) {
            ngx_campaign_trigger_fail(ctx, cd, "emailAddress", "is required");
            return;
        }

        len = strlen(s);

        if (len > NGX_CAMPAIGN_MAX_EMAIL
            || ngx_campaign_trigger_match(ngx_campaign_trigger_email_re,
                                          ngx_campaign_trigger_email_md,
                                          s, len)
               != 1)
        {
            ngx_campaign_trigger_fail(ctx, cd, "emailAddress",
                                      "must be an e-mail address");
            return;
        }

        r->address = s;
        return;

    case NGX_CAMPAIGN_CHANNEL_SMS:
        s = cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(channel_data,
                                                 "mobilePhoneNumber"));
        if (s == NULL) {
            ngx_campaign_trigger_fail(ctx, cd, "mobilePhoneNumber",
                                      "is required");
            return;
        }

        if (ngx_campaign_trigger_match(ngx_campaign_trigger_e164_re,
                                       ngx_campaign_trigger_e164_md,
                                       s, strlen(s))
            != 1)
        {
            ngx_campaign_trigger_fail(ctx, cd, "mobilePhoneNumber",
                                      "must be an E.164 phone number, "
                                      "such as +14155550100");
            return;
        }

        r->address = s;
        return;

    case NGX_CAMPAIGN_CHANNEL_PUSH:
        ngx_campaign_trigger_base(push, n, "/channelData/pushInfo");

        push_info = cJSON_GetObjectItemCaseSensitive(channel_data,
                                                     "pushInfo");
        push_info = cJSON_IsObject(push_info) ? push_info : NULL;

        s = cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(push_info, "token"));

        if (s == NULL) {
            ngx_campaign_trigger_fail(ctx, push, "token", "is required");

        } else if (*s == '\0') {
            ngx_campaign_trigger_fail(ctx, push, "token",
                                      "must not be empty");

        } else {
            r->address = s;
        }

        s = cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(push_info, "platform"));

        if (s == NULL) {
            ngx_campaign_trigger_fail(ctx, push, "platform", "is required");

        } else if (*s == '\0') {
            ngx_campaign_trigger_fail(ctx, push, "platform",
                                      "must not be empty");

        } else {
            r->platform = s;
        }

        r->app_id = cJSON_GetStringValue(
                        cJSON_GetObjectItemCaseSensitive(push_info, "appID"));
        return;

    default:
        return;
    }
}


static void
ngx_campaign_trigger_check_field(ngx_campaign_trigger_ctx_t *ctx,
    const ngx_campaign_field_t *f, const cJSON *value, const char *base)
{
    int          ok, rc;
    size_t       len;
    const char  *expected;

    switch (f->type) {

    case NGX_CAMPAIGN_FIELD_STRING:
        ok = cJSON_IsString(value);
        expected = "a string";
        break;

    case NGX_CAMPAIGN_FIELD_NUMBER:
        ok = cJSON_IsNumber(value);
        expected = "a number";
        break;

    case NGX_CAMPAIGN_FIELD_INTEGER:
        ok = ngx_campaign_trigger_is_integer(value);
        expected = "an integer";
        break;

    case NGX_CAMPAIGN_FIELD_BOOLEAN:
        ok = cJSON_IsBool(value);
        expected = "a boolean";
        break;

    case NGX_CAMPAIGN_FIELD_OBJECT:
        ok = cJSON_IsObject(value);
        expected = "an object";
        break;

    case NGX_CAMPAIGN_FIELD_ARRAY:
        ok = cJSON_IsArray(value);
        expected = "an array";
        break;

    default:
        ok = 1;
        expected = NULL;
    }

    if (!ok) {
        ngx_campaign_trigger_fail(ctx, base, f->name, "must be %s, found %s",
                                  expected,
                                  ngx_campaign_trigger_type_name(value));
        return;
    }

    /* as in JSON Schema, length and pattern constrain strings only */

    if (!cJSON_IsString(value)) {
        return;
    }

    if (f->max_length) {
        len = ngx_campaign_utf8_count(value->valuestring);

        if (len > f->max_length) {
            ngx_campaign_trigger_fail(ctx, base, f->name,
                                      "must be at most %zu characters, "
                                      "found %zu", f->max_length, len);
        }
    }

    if (f->pattern != NULL) {
        rc = ngx_campaign_trigger_match(f->pattern, f->match_data,
                                        value->valuestring,
                                        strlen(value->valuestring));
        if (rc == -2) {
            ctx->nomem = 1;

        } else if (rc != 1) {
            if (f->pattern_src != NULL) {
                ngx_campaign_trigger_fail(ctx, base, f->name,
                                          "must match the pattern %s",
                                          f->pattern_src);

            } else {
                ngx_campaign_trigger_fail(ctx, base, f->name,
                                          "must match the field's pattern");
            }
        }
    }
}


static int
ngx_campaign_trigger_is_integer(const cJSON *item)
{
    double  d;

    if (!cJSON_IsNumber(item)) {
        return 0;
    }

    d = item->valuedouble;

    if (isnan(d) || isinf(d)) {
        return 0;
    }

    if (d >= NGX_CAMPAIGN_EXACT_INTEGER || d <= -NGX_CAMPAIGN_EXACT_INTEGER) {
        return 1;
    }

    return (double) (long long) d == d;
}


/*
 * 1 on a match, 0 on none (a pattern that gives up on its match limit
 * does not match either), -2 when no match data could be had.  The
 * subject is valid UTF-8 (the scan saw to it), so the JIT fast path that
 * skips that check is safe.
 */

static int
ngx_campaign_trigger_match(pcre2_code *re, pcre2_match_data *md,
    const char *s, size_t len)
{
    int                rc;
    size_t             jit_size;
    pcre2_match_data  *own;

    own = NULL;

    if (md == NULL) {
        own = pcre2_match_data_create_from_pattern(re, NULL);
        if (own == NULL) {
            return -2;
        }

        md = own;
    }

    rc = PCRE2_ERROR_JIT_BADOPTION;

    if (pcre2_pattern_info(re, PCRE2_INFO_JITSIZE, &jit_size) == 0
        && jit_size > 0)
    {
        rc = pcre2_jit_match(re, (PCRE2_SPTR) s, len, 0, 0, md, NULL);
    }

    /* not JIT-compiled (or not for complete matches), or out of JIT stack */

    if (rc == PCRE2_ERROR_JIT_BADOPTION || rc == PCRE2_ERROR_JIT_STACKLIMIT) {
        rc = pcre2_match(re, (PCRE2_SPTR) s, len, 0, PCRE2_NO_JIT, md, NULL);
    }

    if (own != NULL) {
        pcre2_match_data_free(own);
    }

    return (rc >= 0) ? 1 : 0;
}


static const char *
ngx_campaign_trigger_type_name(const cJSON *item)
{
    switch (item->type & 0xff) {

    case cJSON_False:
    case cJSON_True:
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
        return "an unknown type";
    }
}


/*
 * Recipients one at a time, each a document of its own (the lines of an
 * audience): the same checks as the recipients of a unitary body, with
 * pointers relative to the recipient ("/channelData/emailAddress").
 */

int
ngx_campaign_trigger_parse_value(ngx_campaign_alloc_t *a, const u_char *body,
    size_t len, size_t max_depth, cJSON **value,
    ngx_campaign_problems_t *problems)
{
    ngx_campaign_json_scope_t    scope;
    ngx_campaign_trigger_ctx_t   ctx;

    ngx_campaign_trigger_start(&ctx, a, problems);

    ngx_campaign_json_enter(&scope, a);

    *value = ngx_campaign_trigger_document(&ctx, body, len,
                                           max_depth ? max_depth
                                                     : NGX_CAMPAIGN_MAX_DEPTH);

    if (ngx_campaign_json_leave(&scope) != 0) {
        *value = NULL;
        return -2;
    }

    return ngx_campaign_trigger_finish(&ctx);
}


size_t
ngx_campaign_trigger_context_size(const cJSON *context)
{
    return context ? ngx_campaign_trigger_json_size(context) : 0;
}


int
ngx_campaign_trigger_validate_recipient(ngx_campaign_alloc_t *a,
    cJSON *item, const ngx_campaign_recipient_rules_t *rules,
    ngx_campaign_recipient_t *r, ngx_campaign_problems_t *problems)
{
    size_t                       size, max_size;
    u_char                      *checked;
    const ngx_campaign_t        *campaign;
    ngx_campaign_json_scope_t    scope;
    ngx_campaign_trigger_ctx_t   ctx;

    memset(r, 0, sizeof(ngx_campaign_recipient_t));
    ngx_campaign_trigger_start(&ctx, a, problems);

    if (ngx_campaign_trigger_email_re == NULL
        && ngx_campaign_trigger_compile_patterns() != 0)
    {
        return -2;
    }

    campaign = rules->campaign;

    /* step one: the shape */

    ngx_campaign_trigger_check_recipient(&ctx, item,
                                         NGX_CAMPAIGN_TRIGGER_ALONE, r);

    if (ctx.nomem || ctx.problems->nitems) {
        return ngx_campaign_trigger_finish(&ctx);
    }

    size = rules->context_size
           + ngx_campaign_trigger_context_size(r->context);

    max_size = rules->max_context_size ? rules->max_context_size
                                       : NGX_CAMPAIGN_MAX_CONTEXT_SIZE;

    if (size > max_size) {
        ctx.too_large = 1;
        ngx_campaign_trigger_fail(&ctx, "", "context",
                                  "context data must be at most %zu bytes, "
                                  "found %zu", max_size, size);
        return ngx_campaign_trigger_finish(&ctx);
    }

    /* step two: the campaign; the shared context was checked by the caller */

    ngx_campaign_trigger_check_channel(&ctx, r, NGX_CAMPAIGN_TRIGGER_ALONE,
                                       campaign->channel);

    if (campaign->namespace != NULL && r->namespace != NULL
        && strcmp(campaign->namespace, r->namespace) != 0)
    {
        ngx_campaign_trigger_fail(&ctx, "", "namespace",
                                  "must be \"%s\" for this campaign",
                                  campaign->namespace);
    }

    checked = NULL;

    if (campaign->nfields) {
        checked = ngx_campaign_alloc(a, campaign->nfields);
        if (checked == NULL) {
            return -2;
        }

        memset(checked, 1, campaign->nfields);
    }

    ngx_campaign_trigger_check_context(&ctx, campaign,
                                       NGX_CAMPAIGN_TRIGGER_ALONE,
                                       r->context, rules->context, checked);

    if (ctx.nomem || ctx.problems->nitems) {
        return ngx_campaign_trigger_finish(&ctx);
    }

    ngx_campaign_json_enter(&scope, a);

    r->data = ngx_campaign_trigger_data(&ctx, r->profile, rules->context,
                                        r->context);

    if (ngx_campaign_json_leave(&scope) != 0 || r->data == NULL) {
        return -2;
    }

    return ngx_campaign_trigger_finish(&ctx);
}


/*
 * The context an audience execution shares with all its recipients,
 * checked once against the campaign's schema: the types of the fields it
 * has; a required field may still come from each recipient's own.
 */

int
ngx_campaign_trigger_validate_context(ngx_campaign_alloc_t *a,
    cJSON *context, const ngx_campaign_t *campaign,
    ngx_campaign_problems_t *problems)
{
    cJSON                       *value;
    size_t                       i;
    const ngx_campaign_field_t  *f;
    ngx_campaign_trigger_ctx_t   ctx;

    ngx_campaign_trigger_start(&ctx, a, problems);

    if (ngx_campaign_trigger_email_re == NULL
        && ngx_campaign_trigger_compile_patterns() != 0)
    {
        return -2;
    }

    for (i = 0; context != NULL && i < campaign->nfields; i++) {
        f = &campaign->fields[i];

        if (f->name == NULL) {
            continue;
        }

        value = cJSON_GetObjectItemCaseSensitive(context, f->name);

        if (value != NULL) {
            ngx_campaign_trigger_check_field(&ctx, f, value, "/context");
        }
    }

    return ngx_campaign_trigger_finish(&ctx);
}
