
/*
 * Copyright (C) ngx_campaign developers
 */


#ifndef _NGX_CAMPAIGN_CONTENT_H_INCLUDED_
#define _NGX_CAMPAIGN_CONTENT_H_INCLUDED_


#include <sys/types.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "ngx_campaign_alloc.h"
#include "ngx_campaign_definition.h"


/*
 * A campaign's content for one recipient: the language chosen, every
 * template rendered, and the JSON that a gateway payload and the preview
 * carry.  The module and the command-line tool both go through here, so
 * that a preview shows exactly what a gateway would get.
 *
 * data is what templates render against: {"profile": ..., "context": ...}.
 */


/* one rendered entry of ngx_campaign_t's content, in payload order */

typedef struct {
    const char                  *key;
    const char                  *group;     /* NULL, or "data" for push */
    u_char                      *text;      /* NUL-terminated */
    size_t                       len;
} ngx_campaign_rendered_t;


/*
 * The tag of the language to send, one of the campaign's: the language
 * asked for is data's context.language when it is a string, else the
 * profile's preferredLanguage, else its person.preferredLanguage.  It is
 * matched without regard to case ("_" counts as "-"), the whole tag first,
 * then its primary subtag ("fr-CA" gets "fr").  The campaign's default
 * language when nothing is asked for or nothing matches.
 */

const char *ngx_campaign_content_language(const ngx_campaign_t *c,
    const cJSON *data);

/*
 * Renders the chosen language's content: out receives c->ncontent entries
 * (n), language (if not NULL) the language's tag.  0, or -1 when out of
 * memory or when a template hits a rendering limit.
 */

int ngx_campaign_content_render(ngx_campaign_alloc_t *a,
    const ngx_campaign_t *c, const cJSON *data, const char **language,
    ngx_campaign_rendered_t **out, size_t *n);

/*
 * The JSON object of rendered entries, {"key":"text",...,"group":{...}},
 * every string JSON-escaped; NUL-terminated, len does not count the NUL.
 * 0, or -1 when out of memory.
 */

int ngx_campaign_content_json(ngx_campaign_alloc_t *a,
    const ngx_campaign_rendered_t *r, size_t n, u_char **json, size_t *len);

/*
 * ngx_campaign_content_render() and ngx_campaign_content_json() in one,
 * the same bytes, at about half the cost: what a gateway payload needs.
 * 0, or -1 when out of memory or when a template hits a rendering limit
 * (the output limit then counts JSON-escaped bytes).
 */

int ngx_campaign_content_render_json(ngx_campaign_alloc_t *a,
    const ngx_campaign_t *c, const cJSON *data, const char **language,
    u_char **json, size_t *len);

/*
 * The preview of a campaign for data, the same bytes for the module's
 * preview endpoint and the command-line tool:
 *
 *     {"campaignId":"...","channel":"email","language":"fr","content":{...}}
 */

int ngx_campaign_content_preview(ngx_campaign_alloc_t *a,
    const ngx_campaign_t *c, const cJSON *data, u_char **json, size_t *len);


#endif /* _NGX_CAMPAIGN_CONTENT_H_INCLUDED_ */
