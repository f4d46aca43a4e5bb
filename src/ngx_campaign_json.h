
/*
 * Copyright (C) ngx_campaign developers
 */


#ifndef _NGX_CAMPAIGN_JSON_H_INCLUDED_
#define _NGX_CAMPAIGN_JSON_H_INCLUDED_


#include <sys/types.h>
#include <stddef.h>


/*
 * JSON string escaping for what the module writes: answers, problems and
 * gateway payloads.  Rendered text is placed into a payload only through
 * these, so a profile value can never break out of its string.
 */

size_t ngx_campaign_json_escaped_len(const u_char *src, size_t len);
u_char *ngx_campaign_json_escape(u_char *dst, const u_char *src, size_t len);


#endif /* _NGX_CAMPAIGN_JSON_H_INCLUDED_ */
