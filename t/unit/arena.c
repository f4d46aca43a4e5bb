#include "ngx_campaign_arena.c"
