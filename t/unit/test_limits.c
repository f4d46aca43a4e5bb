
/*
 * Copyright (C) ngx_campaign developers
 */


/*
 * Sending limits: the token bucket of a campaign's throttle (refill,
 * burst, all-or-nothing takes, the wait to announce, clocks that go back
 * or jump far ahead), the UTC calendar windows of frequency caps, and the
 * frequency rule parser.
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "ngx_campaign_limits.h"


/* seconds since the epoch of a UTC date and time, by an independent path */

static int64_t
utc(int year, int month, int day, int hour, int minute, int second)
{
    int64_t  y, days;

    static const int  before[] = {
        0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334
    };

    days = 0;

    if (year >= 1970) {
        for (y = 1970; y < year; y++) {
            days += 365 + ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0);
        }

    } else {
        for (y = year; y < 1970; y++) {
            days -= 365 + ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0);
        }
    }

    days += before[month - 1] + day - 1;

    if (month > 2
        && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
    {
        days++;
    }

    return days * 86400 + hour * 3600 + minute * 60 + second;
}


/* the token bucket */


static void
test_bucket_starts_full(void **state)
{
    uint64_t               wait;
    ngx_campaign_bucket_t  b;

    (void) state;

    ngx_campaign_bucket_init(&b, 5, 1000);

    /* the whole burst at once, then nothing more at the same instant */

    assert_int_equal(ngx_campaign_bucket_take(&b, 10, 5, 5, 1000, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
    assert_int_equal(ngx_campaign_bucket_take(&b, 10, 5, 1, 1000, &wait),
                     NGX_CAMPAIGN_BUCKET_WAIT);
    assert_int_equal(wait, 100);

    /* a zeroed bucket is full once the clock is far enough from 0 */

    memset(&b, 0, sizeof(b));
    assert_int_equal(ngx_campaign_bucket_take(&b, 10, 5, 5, 500, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
    assert_int_equal(b.tokens, 0);
}


static void
test_bucket_refills_over_time(void **state)
{
    uint64_t               wait, now, sent;
    ngx_campaign_bucket_t  b;

    (void) state;

    /* 100 per second is one every 10 ms */

    ngx_campaign_bucket_init(&b, 1, 0);

    assert_int_equal(ngx_campaign_bucket_take(&b, 100, 1, 1, 0, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
    assert_int_equal(ngx_campaign_bucket_take(&b, 100, 1, 1, 9, &wait),
                     NGX_CAMPAIGN_BUCKET_WAIT);
    assert_int_equal(wait, 1);
    assert_int_equal(ngx_campaign_bucket_take(&b, 100, 1, 1, 10, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);

    /*
     * a sender that takes as soon as it may gets exactly the rate, even
     * when a token takes a fraction of a ms (1000 / 7): no drift
     */

    ngx_campaign_bucket_init(&b, 10, 0);

    assert_int_equal(ngx_campaign_bucket_take(&b, 7, 10, 10, 0, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);

    sent = 0;

    for (now = 1; now < 60000; now++) {
        if (ngx_campaign_bucket_take(&b, 7, 10, 1, now, &wait)
            == NGX_CAMPAIGN_BUCKET_OK)
        {
            sent++;
        }
    }

    assert_int_equal(sent, 7 * 59999 / 1000);
}


static void
test_bucket_burst_cap(void **state)
{
    uint64_t               wait;
    ngx_campaign_bucket_t  b;

    (void) state;

    ngx_campaign_bucket_init(&b, 10, 0);

    assert_int_equal(ngx_campaign_bucket_take(&b, 10, 10, 10, 0, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);

    /* an idle hour refills up to the burst, not beyond */

    assert_int_equal(ngx_campaign_bucket_take(&b, 10, 10, 10, 3600000,
                                              &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
    assert_int_equal(ngx_campaign_bucket_take(&b, 10, 10, 1, 3600000,
                                              &wait),
                     NGX_CAMPAIGN_BUCKET_WAIT);
    assert_int_equal(wait, 100);

    /* a burst lowered by a reload caps what was saved under the old one */

    ngx_campaign_bucket_init(&b, 100, 0);

    assert_int_equal(ngx_campaign_bucket_take(&b, 10, 3, 3, 0, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
    assert_int_equal(ngx_campaign_bucket_take(&b, 10, 3, 1, 0, &wait),
                     NGX_CAMPAIGN_BUCKET_WAIT);
}


static void
test_bucket_all_or_nothing(void **state)
{
    uint64_t               wait;
    ngx_campaign_bucket_t  b;

    (void) state;

    ngx_campaign_bucket_init(&b, 10, 0);

    assert_int_equal(ngx_campaign_bucket_take(&b, 10, 10, 7, 0, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);

    /* 3 left: 5 are refused and none taken, 3 still succeed */

    assert_int_equal(ngx_campaign_bucket_take(&b, 10, 10, 5, 0, &wait),
                     NGX_CAMPAIGN_BUCKET_WAIT);
    assert_int_equal(wait, 200);
    assert_int_equal(b.tokens, 3 * NGX_CAMPAIGN_BUCKET_SCALE);

    assert_int_equal(ngx_campaign_bucket_take(&b, 10, 10, 3, 0, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
    assert_int_equal(b.tokens, 0);

    /* taking nothing always succeeds */

    assert_int_equal(ngx_campaign_bucket_take(&b, 10, 10, 0, 0, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
}


static void
test_bucket_wait(void **state)
{
    uint64_t               wait;
    ngx_campaign_bucket_t  b;

    (void) state;

    /* 3 per second: a token every 333.33 ms, the wait rounds up */

    ngx_campaign_bucket_init(&b, 3, 0);

    assert_int_equal(ngx_campaign_bucket_take(&b, 3, 3, 3, 0, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
    assert_int_equal(ngx_campaign_bucket_take(&b, 3, 3, 1, 0, &wait),
                     NGX_CAMPAIGN_BUCKET_WAIT);
    assert_int_equal(wait, 334);

    /* one ms early is still refused, the announced instant succeeds */

    assert_int_equal(ngx_campaign_bucket_take(&b, 3, 3, 1, 333, &wait),
                     NGX_CAMPAIGN_BUCKET_WAIT);
    assert_int_equal(wait, 1);
    assert_int_equal(ngx_campaign_bucket_take(&b, 3, 3, 1, 334, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);

    /* the wait for several tokens, partly there already */

    ngx_campaign_bucket_init(&b, 10, 0);

    assert_int_equal(ngx_campaign_bucket_take(&b, 4, 10, 10, 0, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
    assert_int_equal(ngx_campaign_bucket_take(&b, 4, 10, 6, 500, &wait),
                     NGX_CAMPAIGN_BUCKET_WAIT);
    assert_int_equal(wait, 1000);
    assert_int_equal(ngx_campaign_bucket_take(&b, 4, 10, 6, 1500, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
}


static void
test_bucket_never(void **state)
{
    uint64_t               wait;
    ngx_campaign_bucket_t  b;

    (void) state;

    ngx_campaign_bucket_init(&b, 10, 0);

    /* more than the burst can never be taken, however long one waits */

    wait = 12345;
    assert_int_equal(ngx_campaign_bucket_take(&b, 10, 10, 11, 0, &wait),
                     NGX_CAMPAIGN_BUCKET_NEVER);
    assert_int_equal(wait, 0);
    assert_int_equal(b.tokens, 10 * NGX_CAMPAIGN_BUCKET_SCALE);

    assert_int_equal(ngx_campaign_bucket_take(&b, 10, 10, 11, UINT64_MAX,
                                              &wait),
                     NGX_CAMPAIGN_BUCKET_NEVER);

    /* exactly the burst can */

    assert_int_equal(ngx_campaign_bucket_take(&b, 10, 10, 10, 0, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
}


static void
test_bucket_clock_backwards(void **state)
{
    uint64_t               wait;
    ngx_campaign_bucket_t  b;

    (void) state;

    ngx_campaign_bucket_init(&b, 1, 10000);

    assert_int_equal(ngx_campaign_bucket_take(&b, 1, 1, 1, 10000, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);

    /* back by 5 s: no time passed, and the 5 s are waited for again */

    assert_int_equal(ngx_campaign_bucket_take(&b, 1, 1, 1, 5000, &wait),
                     NGX_CAMPAIGN_BUCKET_WAIT);
    assert_int_equal(wait, 6000);
    assert_int_equal(b.last, 10000);
    assert_int_equal(b.tokens, 0);

    assert_int_equal(ngx_campaign_bucket_take(&b, 1, 1, 1, 10999, &wait),
                     NGX_CAMPAIGN_BUCKET_WAIT);
    assert_int_equal(wait, 1);
    assert_int_equal(ngx_campaign_bucket_take(&b, 1, 1, 1, 11000, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);

    /* tokens that were there are still there when the clock goes back */

    ngx_campaign_bucket_init(&b, 2, 10000);

    assert_int_equal(ngx_campaign_bucket_take(&b, 1, 2, 1, 0, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
    assert_int_equal(ngx_campaign_bucket_take(&b, 1, 2, 1, 0, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
}


static void
test_bucket_huge_gaps(void **state)
{
    uint64_t               wait;
    ngx_campaign_bucket_t  b;

    (void) state;

    /* rate times the gap would overflow 64 bits: the bucket is just full */

    ngx_campaign_bucket_init(&b, 100000, 0);

    assert_int_equal(ngx_campaign_bucket_take(&b, 2000, 100000, 100000, 0,
                                              &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
    assert_int_equal(ngx_campaign_bucket_take(&b, 2000, 100000, 100000,
                                              UINT64_MAX / 2, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
    assert_int_equal(ngx_campaign_bucket_take(&b, 2000, 100000, 1,
                                              UINT64_MAX / 2, &wait),
                     NGX_CAMPAIGN_BUCKET_WAIT);
    assert_int_equal(wait, 1);

    assert_int_equal(ngx_campaign_bucket_take(&b, 2000, 100000, 100000,
                                              UINT64_MAX, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
    assert_int_equal(b.tokens, 0);
    assert_int_equal(b.last, UINT64_MAX);

    /* a gap whose product with the rate would wrap around to 0 */

    ngx_campaign_bucket_init(&b, 1, 0);

    assert_int_equal(ngx_campaign_bucket_take(&b, 2, 1, 1, 0, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
    assert_int_equal(ngx_campaign_bucket_take(&b, 2, 1, 1,
                                              (uint64_t) 1 << 63, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
}


static void
test_bucket_rate_extremes(void **state)
{
    int                    i;
    uint64_t               wait;
    ngx_campaign_bucket_t  b;

    (void) state;

    /* rate 1: one per second */

    ngx_campaign_bucket_init(&b, 1, 0);

    assert_int_equal(ngx_campaign_bucket_take(&b, 1, 1, 1, 0, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
    assert_int_equal(ngx_campaign_bucket_take(&b, 1, 1, 1, 1, &wait),
                     NGX_CAMPAIGN_BUCKET_WAIT);
    assert_int_equal(wait, 999);
    assert_int_equal(ngx_campaign_bucket_take(&b, 1, 1, 1, 1000, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);

    /* rate 2000: two per ms; a burst of 2000 lasts one second */

    ngx_campaign_bucket_init(&b, 2000, 0);

    for (i = 0; i < 2000; i++) {
        assert_int_equal(ngx_campaign_bucket_take(&b, 2000, 2000, 1, 0,
                                                  &wait),
                         NGX_CAMPAIGN_BUCKET_OK);
    }

    assert_int_equal(ngx_campaign_bucket_take(&b, 2000, 2000, 1, 0, &wait),
                     NGX_CAMPAIGN_BUCKET_WAIT);
    assert_int_equal(wait, 1);
    assert_int_equal(ngx_campaign_bucket_take(&b, 2000, 2000, 2, 1, &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
    assert_int_equal(ngx_campaign_bucket_take(&b, 2000, 2000, 1, 1, &wait),
                     NGX_CAMPAIGN_BUCKET_WAIT);
    assert_int_equal(ngx_campaign_bucket_take(&b, 2000, 2000, 2000, 1001,
                                              &wait),
                     NGX_CAMPAIGN_BUCKET_OK);
}


/* calendar windows */


static void
assert_window(int64_t now, ngx_campaign_window_e unit, uint64_t every,
    int64_t start, int64_t end)
{
    int64_t  s, e;

    s = ngx_campaign_window_start(now, unit, every);
    e = ngx_campaign_window_end(now, unit, every);

    if (s != start || e != end) {
        print_message("%lld, %s x%llu: [%lld, %lld), expected "
                      "[%lld, %lld)\n", (long long) now,
                      ngx_campaign_window_name(unit),
                      (unsigned long long) every, (long long) s,
                      (long long) e, (long long) start, (long long) end);
        fail();
    }
}


static void
test_window_hours(void **state)
{
    (void) state;

    assert_window(utc(2026, 3, 14, 15, 9, 26), NGX_CAMPAIGN_WINDOW_HOUR, 1,
                  utc(2026, 3, 14, 15, 0, 0), utc(2026, 3, 14, 16, 0, 0));

    /* the first and last second of an hour */

    assert_window(utc(2026, 3, 14, 15, 0, 0), NGX_CAMPAIGN_WINDOW_HOUR, 1,
                  utc(2026, 3, 14, 15, 0, 0), utc(2026, 3, 14, 16, 0, 0));
    assert_window(utc(2026, 3, 14, 15, 59, 59), NGX_CAMPAIGN_WINDOW_HOUR, 1,
                  utc(2026, 3, 14, 15, 0, 0), utc(2026, 3, 14, 16, 0, 0));

    /* 6 hours: 00-06, 06-12, 12-18, 18-24 every day */

    assert_window(utc(2026, 3, 14, 15, 9, 26), NGX_CAMPAIGN_WINDOW_HOUR, 6,
                  utc(2026, 3, 14, 12, 0, 0), utc(2026, 3, 14, 18, 0, 0));

    /* 5 hours from the epoch: across midnight, not aligned to days */

    assert_window(utc(1970, 1, 1, 23, 30, 0), NGX_CAMPAIGN_WINDOW_HOUR, 5,
                  utc(1970, 1, 1, 20, 0, 0), utc(1970, 1, 2, 1, 0, 0));

    /* the year's last hour */

    assert_window(utc(2026, 12, 31, 23, 59, 59), NGX_CAMPAIGN_WINDOW_HOUR, 1,
                  utc(2026, 12, 31, 23, 0, 0), utc(2027, 1, 1, 0, 0, 0));
}


static void
test_window_days(void **state)
{
    (void) state;

    assert_window(utc(2026, 3, 14, 15, 9, 26), NGX_CAMPAIGN_WINDOW_DAY, 1,
                  utc(2026, 3, 14, 0, 0, 0), utc(2026, 3, 15, 0, 0, 0));

    /* the leap day, and the day of a year that has none after it */

    assert_window(utc(2024, 2, 29, 12, 0, 0), NGX_CAMPAIGN_WINDOW_DAY, 1,
                  utc(2024, 2, 29, 0, 0, 0), utc(2024, 3, 1, 0, 0, 0));
    assert_window(utc(2100, 2, 28, 23, 59, 59), NGX_CAMPAIGN_WINDOW_DAY, 1,
                  utc(2100, 2, 28, 0, 0, 0), utc(2100, 3, 1, 0, 0, 0));

    /* every 2 days: day 0 and 1 of the epoch, 2 and 3, ... */

    assert_window(utc(1970, 1, 2, 10, 0, 0), NGX_CAMPAIGN_WINDOW_DAY, 2,
                  utc(1970, 1, 1, 0, 0, 0), utc(1970, 1, 3, 0, 0, 0));

    /* 2026-03-14 is day 20526 (even): it starts a 2-day block */

    assert_window(utc(2026, 3, 14, 0, 0, 0), NGX_CAMPAIGN_WINDOW_DAY, 2,
                  utc(2026, 3, 14, 0, 0, 0), utc(2026, 3, 16, 0, 0, 0));
    assert_window(utc(2026, 3, 15, 23, 59, 59), NGX_CAMPAIGN_WINDOW_DAY, 2,
                  utc(2026, 3, 14, 0, 0, 0), utc(2026, 3, 16, 0, 0, 0));
    assert_window(utc(2026, 3, 16, 0, 0, 0), NGX_CAMPAIGN_WINDOW_DAY, 2,
                  utc(2026, 3, 16, 0, 0, 0), utc(2026, 3, 18, 0, 0, 0));

    /* across a year's end: 2026-12-30 is day 20817, a multiple of 3 */

    assert_window(utc(2026, 12, 31, 18, 0, 0), NGX_CAMPAIGN_WINDOW_DAY, 3,
                  utc(2026, 12, 30, 0, 0, 0), utc(2027, 1, 2, 0, 0, 0));

    /* before the epoch, the blocks go on backwards */

    assert_window(utc(1969, 12, 31, 23, 0, 0), NGX_CAMPAIGN_WINDOW_DAY, 2,
                  utc(1969, 12, 30, 0, 0, 0), utc(1970, 1, 1, 0, 0, 0));
}


static void
test_window_weeks(void **state)
{
    (void) state;

    /* 2026-03-14 is a Saturday: its ISO week is Monday 9 to Monday 16 */

    assert_window(utc(2026, 3, 14, 15, 9, 26), NGX_CAMPAIGN_WINDOW_WEEK, 1,
                  utc(2026, 3, 9, 0, 0, 0), utc(2026, 3, 16, 0, 0, 0));

    /* Sunday 23:59:59 is the week's end, Monday 00:00 the next one */

    assert_window(utc(2026, 3, 15, 23, 59, 59), NGX_CAMPAIGN_WINDOW_WEEK, 1,
                  utc(2026, 3, 9, 0, 0, 0), utc(2026, 3, 16, 0, 0, 0));
    assert_window(utc(2026, 3, 16, 0, 0, 0), NGX_CAMPAIGN_WINDOW_WEEK, 1,
                  utc(2026, 3, 16, 0, 0, 0), utc(2026, 3, 23, 0, 0, 0));

    /* a week across a year's end: Monday 2025-12-29 */

    assert_window(utc(2026, 1, 1, 8, 0, 0), NGX_CAMPAIGN_WINDOW_WEEK, 1,
                  utc(2025, 12, 29, 0, 0, 0), utc(2026, 1, 5, 0, 0, 0));

    /* the epoch (a Thursday) is in the week of Monday 1969-12-29 */

    assert_window(0, NGX_CAMPAIGN_WINDOW_WEEK, 1,
                  utc(1969, 12, 29, 0, 0, 0), utc(1970, 1, 5, 0, 0, 0));

    /* 2 weeks counted from Monday 1970-01-05 */

    assert_window(utc(1970, 1, 18, 12, 0, 0), NGX_CAMPAIGN_WINDOW_WEEK, 2,
                  utc(1970, 1, 5, 0, 0, 0), utc(1970, 1, 19, 0, 0, 0));
    assert_window(utc(1970, 1, 19, 0, 0, 0), NGX_CAMPAIGN_WINDOW_WEEK, 2,
                  utc(1970, 1, 19, 0, 0, 0), utc(1970, 2, 2, 0, 0, 0));

    /* 2026-03-09 is 2931 weeks after 1970-01-05 (odd): its block is the
     * one of 2026-03-02 */

    assert_window(utc(2026, 3, 14, 15, 9, 26), NGX_CAMPAIGN_WINDOW_WEEK, 2,
                  utc(2026, 3, 2, 0, 0, 0), utc(2026, 3, 16, 0, 0, 0));

    /* a week that holds a leap day */

    assert_window(utc(2024, 2, 29, 0, 0, 0), NGX_CAMPAIGN_WINDOW_WEEK, 1,
                  utc(2024, 2, 26, 0, 0, 0), utc(2024, 3, 4, 0, 0, 0));
}


static void
test_window_months(void **state)
{
    (void) state;

    assert_window(utc(2026, 3, 14, 15, 9, 26), NGX_CAMPAIGN_WINDOW_MONTH, 1,
                  utc(2026, 3, 1, 0, 0, 0), utc(2026, 4, 1, 0, 0, 0));

    /* month ends of every length */

    assert_window(utc(2026, 1, 31, 23, 59, 59), NGX_CAMPAIGN_WINDOW_MONTH, 1,
                  utc(2026, 1, 1, 0, 0, 0), utc(2026, 2, 1, 0, 0, 0));
    assert_window(utc(2026, 2, 28, 23, 59, 59), NGX_CAMPAIGN_WINDOW_MONTH, 1,
                  utc(2026, 2, 1, 0, 0, 0), utc(2026, 3, 1, 0, 0, 0));
    assert_window(utc(2026, 4, 30, 23, 59, 59), NGX_CAMPAIGN_WINDOW_MONTH, 1,
                  utc(2026, 4, 1, 0, 0, 0), utc(2026, 5, 1, 0, 0, 0));
    assert_window(utc(2026, 5, 1, 0, 0, 0), NGX_CAMPAIGN_WINDOW_MONTH, 1,
                  utc(2026, 5, 1, 0, 0, 0), utc(2026, 6, 1, 0, 0, 0));

    /* February of leap and common years: 2024 and 2000 leap, 2100 not */

    assert_window(utc(2024, 2, 29, 23, 59, 59), NGX_CAMPAIGN_WINDOW_MONTH, 1,
                  utc(2024, 2, 1, 0, 0, 0), utc(2024, 3, 1, 0, 0, 0));
    assert_int_equal(ngx_campaign_window_end(utc(2024, 2, 10, 0, 0, 0),
                                             NGX_CAMPAIGN_WINDOW_MONTH, 1)
                     - utc(2024, 2, 1, 0, 0, 0), 29 * 86400);
    assert_int_equal(ngx_campaign_window_end(utc(2000, 2, 10, 0, 0, 0),
                                             NGX_CAMPAIGN_WINDOW_MONTH, 1)
                     - utc(2000, 2, 1, 0, 0, 0), 29 * 86400);
    assert_int_equal(ngx_campaign_window_end(utc(2100, 2, 10, 0, 0, 0),
                                             NGX_CAMPAIGN_WINDOW_MONTH, 1)
                     - utc(2100, 2, 1, 0, 0, 0), 28 * 86400);
    assert_window(utc(2100, 3, 1, 0, 0, 0), NGX_CAMPAIGN_WINDOW_MONTH, 1,
                  utc(2100, 3, 1, 0, 0, 0), utc(2100, 4, 1, 0, 0, 0));

    /* the year's end */

    assert_window(utc(2026, 12, 31, 23, 59, 59), NGX_CAMPAIGN_WINDOW_MONTH, 1,
                  utc(2026, 12, 1, 0, 0, 0), utc(2027, 1, 1, 0, 0, 0));
    assert_window(utc(2027, 1, 1, 0, 0, 0), NGX_CAMPAIGN_WINDOW_MONTH, 1,
                  utc(2027, 1, 1, 0, 0, 0), utc(2027, 2, 1, 0, 0, 0));

    /* 2 months from January 1970: Jan-Feb, Mar-Apr, ..., Nov-Dec */

    assert_window(utc(2026, 2, 28, 0, 0, 0), NGX_CAMPAIGN_WINDOW_MONTH, 2,
                  utc(2026, 1, 1, 0, 0, 0), utc(2026, 3, 1, 0, 0, 0));
    assert_window(utc(2026, 12, 31, 0, 0, 0), NGX_CAMPAIGN_WINDOW_MONTH, 2,
                  utc(2026, 11, 1, 0, 0, 0), utc(2027, 1, 1, 0, 0, 0));

    /* 5 months do not fit a year: 2026-03 is month 674, block 670-675 */

    assert_window(utc(2026, 3, 14, 0, 0, 0), NGX_CAMPAIGN_WINDOW_MONTH, 5,
                  utc(2025, 11, 1, 0, 0, 0), utc(2026, 4, 1, 0, 0, 0));

    /* 3 months: calendar quarters */

    assert_window(utc(2024, 2, 29, 12, 0, 0), NGX_CAMPAIGN_WINDOW_MONTH, 3,
                  utc(2024, 1, 1, 0, 0, 0), utc(2024, 4, 1, 0, 0, 0));

    /* before the epoch */

    assert_window(utc(1969, 12, 31, 23, 59, 59), NGX_CAMPAIGN_WINDOW_MONTH,
                  1, utc(1969, 12, 1, 0, 0, 0), utc(1970, 1, 1, 0, 0, 0));
    assert_window(utc(1900, 2, 15, 0, 0, 0), NGX_CAMPAIGN_WINDOW_MONTH, 1,
                  utc(1900, 2, 1, 0, 0, 0), utc(1900, 3, 1, 0, 0, 0));
}


static void
test_window_every_month_of_four_centuries(void **state)
{
    int      y, m;
    int64_t  start, next;

    (void) state;

    /* every month from 1970 to 2399 starts and ends on its first days */

    for (y = 1970; y < 2400; y++) {
        for (m = 1; m <= 12; m++) {
            start = utc(y, m, 1, 0, 0, 0);
            next = (m == 12) ? utc(y + 1, 1, 1, 0, 0, 0)
                             : utc(y, m + 1, 1, 0, 0, 0);

            assert_window(start, NGX_CAMPAIGN_WINDOW_MONTH, 1, start, next);
            assert_window(next - 1, NGX_CAMPAIGN_WINDOW_MONTH, 1, start,
                          next);
        }
    }
}


static void
test_window_every_bounds(void **state)
{
    (void) state;

    /* a multiplier of 0 is taken as 1 */

    assert_window(utc(2026, 3, 14, 15, 9, 26), NGX_CAMPAIGN_WINDOW_DAY, 0,
                  utc(2026, 3, 14, 0, 0, 0), utc(2026, 3, 15, 0, 0, 0));

    /* a huge one as the largest allowed, without overflowing */

    assert_int_equal(ngx_campaign_window_end(utc(2026, 3, 14, 0, 0, 0),
                                             NGX_CAMPAIGN_WINDOW_WEEK,
                                             UINT64_MAX)
                     - ngx_campaign_window_start(utc(2026, 3, 14, 0, 0, 0),
                                                 NGX_CAMPAIGN_WINDOW_WEEK,
                                                 UINT64_MAX),
                     (int64_t) NGX_CAMPAIGN_EVERY_MAX * 7 * 86400);
}


/* frequency rules */


typedef struct {
    char                   field[256];
    char                   message[512];
} problem_t;


static problem_t  problems[16];
static size_t     nproblems;


static void
collect(void *data, const char *file, const char *field, size_t line,
    size_t column, const char *message)
{
    problem_t  *p;

    (void) data;

    assert_string_equal(file, "rules.json");
    assert_int_equal(line, 0);
    assert_int_equal(column, 0);
    assert_true(nproblems < sizeof(problems) / sizeof(problems[0]));

    p = &problems[nproblems++];

    snprintf(p->field, sizeof(p->field), "%s", field ? field : "");
    snprintf(p->message, sizeof(p->message), "%s", message);
}


static size_t
parse_rule(const char *text, ngx_campaign_limits_rule_t *rule)
{
    char    buf[1024];
    cJSON  *obj;
    size_t  i, n;

    for (i = 0; text[i] != '\0' && i < sizeof(buf) - 1; i++) {
        buf[i] = (text[i] == '\'') ? '"' : text[i];
    }

    buf[i] = '\0';

    obj = cJSON_Parse(buf);
    assert_non_null(obj);

    nproblems = 0;
    n = ngx_campaign_limits_rule_parse(obj, "rules.json", "rules.0", rule,
                                       collect, NULL);
    cJSON_Delete(obj);

    assert_int_equal(n, nproblems);

    return n;
}


static void
assert_problem(const char *field, const char *what)
{
    size_t  i;

    for (i = 0; i < nproblems; i++) {
        if (strcmp(problems[i].field, field) == 0
            && strstr(problems[i].message, what) != NULL)
        {
            return;
        }
    }

    print_message("no problem \"%s\" at \"%s\" among:\n", what, field);

    for (i = 0; i < nproblems; i++) {
        print_message("  %s: %s\n", problems[i].field, problems[i].message);
    }

    fail();
}


static void
test_rule_valid(void **state)
{
    ngx_campaign_limits_rule_t  rule;

    (void) state;

    assert_int_equal(parse_rule("{'channel': 'email', 'max': 3,"
                                " 'window': 'day', 'every': 2,"
                                " '_why': 'a comment'}", &rule), 0);
    assert_int_equal(rule.channels, 1u << NGX_CAMPAIGN_CHANNEL_EMAIL);
    assert_int_equal(rule.max, 3);
    assert_int_equal(rule.window, NGX_CAMPAIGN_WINDOW_DAY);
    assert_int_equal(rule.every, 2);

    /* the channel defaults to any of them, every to 1 */

    assert_int_equal(parse_rule("{'max': 1, 'window': 'week'}", &rule), 0);
    assert_int_equal(rule.channels, NGX_CAMPAIGN_CHANNELS_ALL);
    assert_int_equal(rule.window, NGX_CAMPAIGN_WINDOW_WEEK);
    assert_int_equal(rule.every, 1);

    assert_int_equal(parse_rule("{'channel': 'any', 'max': 1000000,"
                                " 'window': 'month', 'every': 1000}",
                                &rule), 0);
    assert_int_equal(rule.channels, (1u << NGX_CAMPAIGN_CHANNEL_EMAIL)
                                    | (1u << NGX_CAMPAIGN_CHANNEL_SMS)
                                    | (1u << NGX_CAMPAIGN_CHANNEL_PUSH));
    assert_int_equal(rule.max, 1000000);
    assert_int_equal(rule.window, NGX_CAMPAIGN_WINDOW_MONTH);

    assert_int_equal(parse_rule("{'channel': 'sms', 'max': 2,"
                                " 'window': 'hour'}", &rule), 0);
    assert_int_equal(rule.channels, 1u << NGX_CAMPAIGN_CHANNEL_SMS);
    assert_int_equal(rule.window, NGX_CAMPAIGN_WINDOW_HOUR);

    assert_int_equal(parse_rule("{'channel': 'push', 'max': 2,"
                                " 'window': 'hour'}", &rule), 0);
    assert_int_equal(rule.channels, 1u << NGX_CAMPAIGN_CHANNEL_PUSH);
}


static void
test_rule_errors(void **state)
{
    ngx_campaign_limits_rule_t  rule;

    (void) state;

    /* every mistake at once, each at its field */

    assert_int_equal(parse_rule("{'channel': 'fax', 'max': 0,"
                                " 'window': 'fortnight', 'every': 1.5,"
                                " 'Max': 3}", &rule), 5);
    assert_problem("rules.0.channel", "must be one of \"email\", \"sms\", "
                   "\"push\", \"any\", found \"fax\"");
    assert_problem("rules.0.max", "must be an integer from 1 to 1000000, "
                   "found 0");
    assert_problem("rules.0.window", "must be one of \"hour\", \"day\", "
                   "\"week\", \"month\", found \"fortnight\"");
    assert_problem("rules.0.every", "must be an integer from 1 to 1000, "
                   "found 1.5");
    assert_problem("rules.0.Max", "unknown key (allowed: channel, max, "
                   "window, every)");

    assert_int_equal(parse_rule("{}", &rule), 2);
    assert_problem("rules.0.max", "required field is missing");
    assert_problem("rules.0.window", "required field is missing");

    assert_int_equal(parse_rule("{'channel': 1, 'max': '3',"
                                " 'window': null, 'every': 1001}", &rule),
                     4);
    assert_problem("rules.0.channel", "must be a string, found number");
    assert_problem("rules.0.max", "must be a number, found string");
    assert_problem("rules.0.window", "must be a string, found null");
    assert_problem("rules.0.every", "found 1001");

    assert_int_equal(parse_rule("{'max': 1, 'max': 2, 'window': 'day'}",
                                &rule), 1);
    assert_problem("rules.0.max", "duplicate key");

    assert_int_equal(parse_rule("[]", &rule), 1);
    assert_problem("rules.0", "must be an object (a frequency rule), "
                   "found array");

    /* a control character from the file does not break the log line */

    assert_int_equal(parse_rule("{'max': 1, 'window': 'da\\ny'}", &rule), 1);
    assert_problem("rules.0.window", "found \"da?y\"");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_bucket_starts_full),
        cmocka_unit_test(test_bucket_refills_over_time),
        cmocka_unit_test(test_bucket_burst_cap),
        cmocka_unit_test(test_bucket_all_or_nothing),
        cmocka_unit_test(test_bucket_wait),
        cmocka_unit_test(test_bucket_never),
        cmocka_unit_test(test_bucket_clock_backwards),
        cmocka_unit_test(test_bucket_huge_gaps),
        cmocka_unit_test(test_bucket_rate_extremes),
        cmocka_unit_test(test_window_hours),
        cmocka_unit_test(test_window_days),
        cmocka_unit_test(test_window_weeks),
        cmocka_unit_test(test_window_months),
        cmocka_unit_test(test_window_every_month_of_four_centuries),
        cmocka_unit_test(test_window_every_bounds),
        cmocka_unit_test(test_rule_valid),
        cmocka_unit_test(test_rule_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
