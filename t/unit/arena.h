#include "ngx_campaign_arena.h"
