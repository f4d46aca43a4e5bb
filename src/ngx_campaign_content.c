
/*
 * Copyright (C) ngx_campaign developers
 */


#include <string.h>

#include "ngx_campaign_content.h"
#include "ngx_campaign_json.h"


static int ngx_campaign_content_entries(ngx_campaign_alloc_t *a,
    const ngx_campaign_t *c, const cJSON *data, unsigned json,
    const char **language, ngx_campaign_rendered_t **out, size_t *n);
static int ngx_campaign_content_object(ngx_campaign_alloc_t *a,
    const ngx_campaign_rendered_t *r, size_t n, unsigned escaped,
    u_char **json, size_t *len);
static const ngx_campaign_language_t *ngx_campaign_content_choose(
    const ngx_campaign_t *c, const cJSON *data);
static const char *ngx_campaign_content_asked(const cJSON *data);
static const cJSON *ngx_campaign_content_member(const cJSON *obj,
    const char *key);
static int ngx_campaign_content_tag_is(const char *tag, const char *s,
    size_t len);
static size_t ngx_campaign_content_string_len(const char *s, size_t len);
static u_char *ngx_campaign_content_string(u_char *p, const char *s,
    size_t len);


const char *
ngx_campaign_content_language(const ngx_campaign_t *c, const cJSON *data)
{
    const ngx_campaign_language_t  *lang;

    lang = ngx_campaign_content_choose(c, data);

    return lang ? lang->tag : NULL;
}


int
ngx_campaign_content_render(ngx_campaign_alloc_t *a, const ngx_campaign_t *c,
    const cJSON *data, const char **language, ngx_campaign_rendered_t **out,
    size_t *n)
{
    return ngx_campaign_content_entries(a, c, data, 0, language, out, n);
}


int
ngx_campaign_content_json(ngx_campaign_alloc_t *a,
    const ngx_campaign_rendered_t *r, size_t n, u_char **json, size_t *len)
{
    return ngx_campaign_content_object(a, r, n, 0, json, len);
}


/*
 * Templates render straight into JSON-escaped text, their static text
 * escaped once when compiled: rendering and escaping the output after
 * would go over every byte of the content again.
 */

int
ngx_campaign_content_render_json(ngx_campaign_alloc_t *a,
    const ngx_campaign_t *c, const cJSON *data, const char **language,
    u_char **json, size_t *len)
{
    size_t                    n;
    ngx_campaign_rendered_t  *r;

    if (ngx_campaign_content_entries(a, c, data, 1, language, &r, &n) != 0) {
        return -1;
    }

    return ngx_campaign_content_object(a, r, n, 1, json, len);
}


/* json: the texts JSON-escaped, for ngx_campaign_content_object() */

static int
ngx_campaign_content_entries(ngx_campaign_alloc_t *a,
    const ngx_campaign_t *c, const cJSON *data, unsigned json,
    const char **language, ngx_campaign_rendered_t **out, size_t *n)
{
    int                             rc;
    size_t                          i;
    ngx_campaign_rendered_t        *r;
    const ngx_campaign_content_t   *content;
    const ngx_campaign_language_t  *lang;

    lang = ngx_campaign_content_choose(c, data);

    /* a campaign not made by the loader may have no languages */

    content = lang ? lang->content : c->content;

    r = ngx_campaign_alloc(a, (c->ncontent + 1)
                              * sizeof(ngx_campaign_rendered_t));
    if (r == NULL) {
        return -1;
    }

    for (i = 0; i < c->ncontent; i++) {
        r[i].key = content[i].key;
        r[i].group = content[i].group;

        rc = json ? ngx_campaign_template_render_json(content[i].tpl, data,
                                                      a, &r[i].text,
                                                      &r[i].len)
                  : ngx_campaign_template_render(content[i].tpl, data, a,
                                                 &r[i].text, &r[i].len);
        if (rc != 0) {
            return -1;
        }
    }

    if (language != NULL) {
        *language = lang ? lang->tag : NULL;
    }

    *out = r;
    *n = c->ncontent;

    return 0;
}


/*
 * The entries of a group (push "data") follow each other: the group's
 * object opens at its first entry and closes after its last.  escaped:
 * the texts are JSON-escaped already.
 */

static int
ngx_campaign_content_object(ngx_campaign_alloc_t *a,
    const ngx_campaign_rendered_t *r, size_t n, unsigned escaped,
    u_char **json, size_t *len)
{
    size_t       i, size;
    u_char      *p, *start;
    const char  *group;

    size = sizeof("{}");

    for (i = 0; i < n; i++) {
        size += ngx_campaign_content_string_len(r[i].key, strlen(r[i].key))
                + (escaped ? r[i].len + 2
                           : ngx_campaign_content_string_len(
                                 (const char *) r[i].text, r[i].len))
                + sizeof(",:") - 1;

        if (r[i].group != NULL) {
            size += ngx_campaign_content_string_len(r[i].group,
                                                    strlen(r[i].group))
                    + sizeof(",:{}") - 1;
        }
    }

    start = ngx_campaign_alloc(a, size);
    if (start == NULL) {
        return -1;
    }

    p = start;
    *p++ = '{';

    group = NULL;

    for (i = 0; i < n; i++) {

        if (group != NULL
            && (r[i].group == NULL || strcmp(group, r[i].group) != 0))
        {
            *p++ = '}';
            group = NULL;
        }

        if (i) {
            *p++ = ',';
        }

        if (r[i].group != NULL && group == NULL) {
            group = r[i].group;
            p = ngx_campaign_content_string(p, group, strlen(group));
            *p++ = ':';
            *p++ = '{';
        }

        p = ngx_campaign_content_string(p, r[i].key, strlen(r[i].key));
        *p++ = ':';

        if (escaped) {
            *p++ = '"';
            memcpy(p, r[i].text, r[i].len);
            p += r[i].len;
            *p++ = '"';

        } else {
            p = ngx_campaign_content_string(p, (const char *) r[i].text,
                                            r[i].len);
        }
    }

    if (group != NULL) {
        *p++ = '}';
    }

    *p++ = '}';
    *p = '\0';

    *json = start;
    *len = p - start;

    return 0;
}


int
ngx_campaign_content_preview(ngx_campaign_alloc_t *a, const ngx_campaign_t *c,
    const cJSON *data, u_char **json, size_t *len)
{
    size_t       size, content_len;
    u_char      *p, *start, *content;
    const char  *language, *channel;

    if (ngx_campaign_content_render_json(a, c, data, &language, &content,
                                         &content_len)
        != 0)
    {
        return -1;
    }

    channel = ngx_campaign_channel_name(c->channel);

    size = sizeof("{\"campaignId\":,\"channel\":,\"language\":,"
                  "\"content\":}")
           + ngx_campaign_content_string_len(c->id, strlen(c->id))
           + ngx_campaign_content_string_len(channel, strlen(channel))
           + (language ? ngx_campaign_content_string_len(language,
                                                         strlen(language))
                       : sizeof("null") - 1)
           + content_len;

    start = ngx_campaign_alloc(a, size);
    if (start == NULL) {
        return -1;
    }

    p = start;

    memcpy(p, "{\"campaignId\":", sizeof("{\"campaignId\":") - 1);
    p += sizeof("{\"campaignId\":") - 1;
    p = ngx_campaign_content_string(p, c->id, strlen(c->id));

    memcpy(p, ",\"channel\":", sizeof(",\"channel\":") - 1);
    p += sizeof(",\"channel\":") - 1;
    p = ngx_campaign_content_string(p, channel, strlen(channel));

    memcpy(p, ",\"language\":", sizeof(",\"language\":") - 1);
    p += sizeof(",\"language\":") - 1;

    if (language != NULL) {
        p = ngx_campaign_content_string(p, language, strlen(language));

    } else {
        memcpy(p, "null", sizeof("null") - 1);
        p += sizeof("null") - 1;
    }

    memcpy(p, ",\"content\":", sizeof(",\"content\":") - 1);
    p += sizeof(",\"content\":") - 1;

    memcpy(p, content, content_len);
    p += content_len;

    *p++ = '}';
    *p = '\0';

    *json = start;
    *len = p - start;

    return 0;
}


static const ngx_campaign_language_t *
ngx_campaign_content_choose(const ngx_campaign_t *c, const cJSON *data)
{
    size_t       i, len, primary;
    const char  *asked;

    if (c->nlanguages == 0) {
        return NULL;
    }

    asked = ngx_campaign_content_asked(data);
    if (asked == NULL) {
        return &c->languages[0];
    }

    len = strlen(asked);

    for (i = 0; i < c->nlanguages; i++) {
        if (ngx_campaign_content_tag_is(c->languages[i].tag, asked, len)) {
            return &c->languages[i];
        }
    }

    primary = strcspn(asked, "-_");

    if (primary < len) {
        for (i = 0; i < c->nlanguages; i++) {
            if (ngx_campaign_content_tag_is(c->languages[i].tag, asked,
                                            primary))
            {
                return &c->languages[i];
            }
        }
    }

    return &c->languages[0];
}


/*
 * The trigger's context can ask for a language, the recipient's profile
 * gives the one preferred: XDM profiles carry it as
 * person.preferredLanguage, simpler ones at the top.
 */

static const char *
ngx_campaign_content_asked(const cJSON *data)
{
    const cJSON  *item, *profile;

    item = ngx_campaign_content_member(
               ngx_campaign_content_member(data, "context"), "language");

    if (cJSON_IsString(item)) {
        return item->valuestring;
    }

    profile = ngx_campaign_content_member(data, "profile");

    item = ngx_campaign_content_member(profile, "preferredLanguage");

    if (cJSON_IsString(item)) {
        return item->valuestring;
    }

    item = ngx_campaign_content_member(
               ngx_campaign_content_member(profile, "person"),
               "preferredLanguage");

    if (cJSON_IsString(item)) {
        return item->valuestring;
    }

    return NULL;
}


static const cJSON *
ngx_campaign_content_member(const cJSON *obj, const char *key)
{
    if (!cJSON_IsObject(obj)) {
        return NULL;
    }

    return cJSON_GetObjectItemCaseSensitive(obj, key);
}


/* whether tag is the len bytes of s, in any case, "_" taken as "-" */

static int
ngx_campaign_content_tag_is(const char *tag, const char *s, size_t len)
{
    size_t  i;
    u_char  t, c;

    for (i = 0; i < len; i++) {
        t = (u_char) tag[i];
        c = (u_char) s[i];

        if (t == '\0') {
            return 0;
        }

        t = (t >= 'A' && t <= 'Z') ? (u_char) (t | 0x20) : t;
        c = (c >= 'A' && c <= 'Z') ? (u_char) (c | 0x20) : c;
        c = (c == '_') ? '-' : c;

        if (t != c) {
            return 0;
        }
    }

    return tag[len] == '\0';
}


static size_t
ngx_campaign_content_string_len(const char *s, size_t len)
{
    return ngx_campaign_json_escaped_len((const u_char *) s, len) + 2;
}


static u_char *
ngx_campaign_content_string(u_char *p, const char *s, size_t len)
{
    *p++ = '"';
    p = ngx_campaign_json_escape(p, (const u_char *) s, len);
    *p++ = '"';

    return p;
}
