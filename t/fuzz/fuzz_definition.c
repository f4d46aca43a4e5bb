
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * libFuzzer target over ngx_campaign_definition_parse(): the input is the
 * text of one campaign file.  Every problem must come with a message, and
 * a file that parses must be complete enough for the module to use.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_campaign_definition.h"
#include "ngx_campaign_arena.h"


static void ngx_campaign_fuzz_error(void *data, const char *file,
    const char *field, size_t line, size_t column, const char *message);


/* the input, for the positions of the problems reported on it */
static const uint8_t  *ngx_campaign_fuzz_text;
static size_t          ngx_campaign_fuzz_len;


int
LLVMFuzzerTestOneInput(const uint8_t *input, size_t size)
{
    size_t                 i, problems;
    ngx_campaign_t        *c;
    ngx_campaign_arena_t   arena;

    ngx_campaign_arena_init(&arena, 0);

    problems = 0;

    ngx_campaign_fuzz_text = input;
    ngx_campaign_fuzz_len = size;

    c = ngx_campaign_definition_parse(&arena.alloc, "fuzz.json", input,
                                      size, ngx_campaign_fuzz_error,
                                      &problems);

    if ((c == NULL) != (problems != 0)) {
        abort();
    }

    if (c) {
        if (c->id == NULL || c->name == NULL || c->ncontent == 0
            || c->channel >= NGX_CAMPAIGN_CHANNEL_COUNT)
        {
            abort();
        }

        for (i = 0; i < c->ncontent; i++) {
            if (c->content[i].key == NULL || c->content[i].tpl == NULL) {
                abort();
            }
        }

        for (i = 0; i < c->nfields; i++) {
            if (c->fields[i].name == NULL) {
                abort();
            }
        }
    }

    ngx_campaign_arena_destroy(&arena);

    return 0;
}


static void
ngx_campaign_fuzz_error(void *data, const char *file, const char *field,
    size_t line, size_t column, const char *message)
{
    size_t  *problems = data;

    size_t  fline, fcolumn;

    if (file == NULL || message == NULL || message[0] == '\0') {
        abort();
    }

    /* what lint does with every problem: find it in the file */

    if (field != NULL
        && ngx_campaign_definition_locate(ngx_campaign_fuzz_text,
                                          ngx_campaign_fuzz_len, field, line,
                                          column, &fline, &fcolumn)
           == 0
        && (fline == 0 || fcolumn == 0))
    {
        abort();
    }

    (*problems)++;
}
