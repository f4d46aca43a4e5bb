
/*
 * Copyright (C) ngx_campaign developers
 */


#ifndef _NGX_CAMPAIGN_DEFINITION_H_INCLUDED_
#define _NGX_CAMPAIGN_DEFINITION_H_INCLUDED_


#include <sys/types.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "ngx_campaign_alloc.h"
#include "ngx_campaign_template.h"


/*
 * A campaign definition: one JSON file, read and compiled while nginx reads
 * its configuration.  Everything here lives as long as the configuration
 * (the allocator is backed by the cycle pool) and is read-only afterwards.
 */


typedef enum {
    NGX_CAMPAIGN_CHANNEL_EMAIL = 0,
    NGX_CAMPAIGN_CHANNEL_SMS,
    NGX_CAMPAIGN_CHANNEL_PUSH,
    NGX_CAMPAIGN_CHANNEL_COUNT
} ngx_campaign_channel_e;


typedef enum {
    NGX_CAMPAIGN_TRANSACTIONAL = 0,
    NGX_CAMPAIGN_MARKETING
} ngx_campaign_type_e;


typedef enum {
    NGX_CAMPAIGN_DRAFT = 0,
    NGX_CAMPAIGN_LIVE,
    NGX_CAMPAIGN_STOPPED,
    NGX_CAMPAIGN_ARCHIVED
} ngx_campaign_status_e;


typedef enum {
    NGX_CAMPAIGN_FIELD_ANY = 0,
    NGX_CAMPAIGN_FIELD_STRING,
    NGX_CAMPAIGN_FIELD_NUMBER,
    NGX_CAMPAIGN_FIELD_INTEGER,
    NGX_CAMPAIGN_FIELD_BOOLEAN,
    NGX_CAMPAIGN_FIELD_OBJECT,
    NGX_CAMPAIGN_FIELD_ARRAY
} ngx_campaign_field_type_e;


/* one entry of a campaign's context schema ("context": {"name": {...}}) */

typedef struct {
    const char                  *name;         /* top-level context key */
    ngx_campaign_field_type_e    type;
    unsigned                     required:1;
    size_t                       max_length;   /* code points; 0: none */
    const char                  *pattern_src;  /* as written, or NULL */
    pcre2_code                  *pattern;      /* JIT-compiled, or NULL */
    pcre2_match_data            *match_data;
} ngx_campaign_field_t;


/*
 * One piece of rendered content.  key is the JSON key it gets in the
 * gateway payload's "content" object; group is NULL or the name of the
 * nested object it belongs to (push "data").
 */

typedef struct {
    const char                  *key;
    const char                  *group;
    ngx_campaign_template_t     *tpl;
} ngx_campaign_content_t;


/*
 * The content of one language: the same entries, keys and order as the
 * campaign's content, with the fields a language does not give taken from
 * the default language's content when the file is read, so that rendering
 * never merges anything.
 */

typedef struct {
    const char                  *tag;           /* "fr", "pt-BR" */
    ngx_campaign_content_t      *content;       /* ncontent entries */
} ngx_campaign_language_t;


typedef struct {
    const char                  *id;
    const char                  *name;
    const char                  *description;
    const char                  *file;          /* the path it came from */
    const char                  *namespace;     /* identity namespace */

    ngx_campaign_type_e          type;
    ngx_campaign_status_e        status;
    ngx_campaign_channel_e       channel;

    time_t                       start;         /* 0: no start bound */
    time_t                       end;           /* 0: no end bound */

    /*
     * "throttle": a token bucket of rate tokens per second holding at
     * most burst (see ngx_campaign_limits.h); rate and burst are 0
     * without one
     */
    unsigned                     rate;          /* messages/s, 1..2000 */
    unsigned                     burst;         /* 1..100000 */
    unsigned                     has_throttle:1;

    /* a marketing campaign's "frequencyCap": {"optOut": true} */
    unsigned                     cap_opt_out:1;

    ngx_campaign_field_t        *fields;
    size_t                       nfields;

    ngx_campaign_content_t      *content;       /* in payload order */
    size_t                       ncontent;

    /*
     * languages[0] is the default language ("defaultLanguage", "en" when
     * not given), its content is content; the file's "languages" follow
     * in file order
     */
    ngx_campaign_language_t     *languages;
    size_t                       nlanguages;

    /* the module's counters in its shared memory zone, or NULL */
    void                        *metrics;
    void                        *audience_metrics;   /* marketing only */

    /*
     * the stop switch as this worker read it last, and how many flags
     * the zone had set then, plus 1 (0: never read)
     */
    unsigned long                switch_seen;
    unsigned                     stopped;
    time_t                       stopped_since;

    /*
     * a marketing campaign's "consentField": a dotted path into the
     * profile whose value "n" means no consent; NULL: AEP's consent
     * field group, consents.marketing.{channel,any}.val
     */
    const char                  *consent_field;
} ngx_campaign_t;


/*
 * Called once for every mistake found.  field is a dotted path into the
 * campaign file ("content.subject", "context.resetLink.pattern"), or NULL
 * for the file as a whole; line and column are 1-based positions in the
 * file for JSON syntax errors, or in the template for template errors
 * (then field names the template), 0 when unknown.
 */

typedef void (*ngx_campaign_definition_error_pt)(void *data,
    const char *file, const char *field, size_t line, size_t column,
    const char *message);


/*
 * Parses and compiles one campaign file's text.  Returns the campaign or
 * NULL after reporting every problem found through error().
 */

ngx_campaign_t *ngx_campaign_definition_parse(ngx_campaign_alloc_t *a,
    const char *file, const u_char *text, size_t len,
    ngx_campaign_definition_error_pt error, void *data);


/*
 * Loads every "*.json" file of a directory in name order.  Returns the
 * number of problems reported (0: all good); campaigns receives an array
 * of the campaigns that parsed, n their count.  Duplicate ids are an error
 * naming both files.
 *
 * fragments_dir (NULL: none) holds shared fragments, one "NAME.mustache"
 * file each, usable as the partial {{> NAME}} in every campaign; a
 * campaign's own "fragments" entry of the same name wins.  Mistakes in a
 * shared fragment are reported once, with its path as the file.
 */

size_t ngx_campaign_definition_load_dir(ngx_campaign_alloc_t *a,
    const char *dir, const char *fragments_dir, ngx_campaign_t ***campaigns,
    size_t *n, ngx_campaign_definition_error_pt error, void *data);


/*
 * Reads a file whole, as campaign files are read (at most 4 MB); NULL
 * after reporting why (with the path as the file).  The text is followed
 * by a NUL that len does not count.
 */

u_char *ngx_campaign_definition_read_file(ngx_campaign_alloc_t *a,
    const char *path, size_t *len, ngx_campaign_definition_error_pt error,
    void *data);


/*
 * Parses a JSON text as campaign files are parsed: a syntax error is
 * reported with its line and column, and nothing but whitespace may follow
 * the value.  The caller frees the result with cJSON_Delete().
 */

cJSON *ngx_campaign_definition_parse_json(ngx_campaign_alloc_t *a,
    const char *file, const u_char *text, size_t len,
    ngx_campaign_definition_error_pt error, void *data);


const char *ngx_campaign_channel_name(ngx_campaign_channel_e channel);
const char *ngx_campaign_status_name(ngx_campaign_status_e status);


/*
 * The file position (1-based line and column, in characters) of a field
 * named as the error callback names it, or with tline > 0 of the
 * character at tline:tcolumn of the template the field holds.  0, or -1
 * when the field is not found.
 */

int ngx_campaign_definition_locate(const u_char *text, size_t len,
    const char *field, size_t tline, size_t tcolumn, size_t *line,
    size_t *column);


#endif /* _NGX_CAMPAIGN_DEFINITION_H_INCLUDED_ */
