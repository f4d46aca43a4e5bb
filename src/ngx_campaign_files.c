
/*
 * Copyright (C) ngx_campaign developers
 */


#include <ngx_config.h>
#include <ngx_core.h>

#if (NGX_LINUX)
#include <sys/xattr.h>
#endif

#include "ngx_campaign_module.h"


/*
 * The files that the worker processes write in the request path
 * (campaign_state_file, campaign_unsubscribe_file): FILE.tmp is created
 * in FILE's directory and renamed over FILE, under a lock on FILE.lock.
 * nginx opens its own logs as the master, before it drops its
 * privileges; these files are written later, by the workers' user, and a
 * directory that user cannot write would only show at the first stop or
 * unsubscribe, as a "crit" in the log.  So, when nginx reads its
 * configuration (and on nginx -t), the master tells at once.
 *
 * It is a warning, not an error: the zone still holds what the file
 * would, until a restart, and the check reads mode bits, which a POSIX
 * ACL (then nothing is said) or a security module may override.
 */


#define NGX_CAMPAIGN_FILES_GROUPS  64


typedef struct {
    ngx_uid_t                    uid;
    ngx_gid_t                    gid;
    const char                  *name;
    ngx_uint_t                   self;        /* the master's own user */
    int                          ngroups;
    gid_t                        groups[NGX_CAMPAIGN_FILES_GROUPS];
} ngx_campaign_files_user_t;


static void ngx_campaign_files_user(ngx_cycle_t *cycle,
    ngx_campaign_files_user_t *u);
static ngx_int_t ngx_campaign_files_may(ngx_campaign_files_user_t *u,
    u_char *path, int want);


void
ngx_campaign_files_check(ngx_cycle_t *cycle, const char *directive,
    ngx_str_t *file, ngx_str_t *dir, ngx_str_t *lock, const char *loss)
{
    u_char                     *p, *last, saved;
    ngx_int_t                   rc;
    ngx_file_info_t             fi;
    ngx_campaign_files_user_t   u;

    ngx_campaign_files_user(cycle, &u);

    /* every directory above FILE's is entered */

    last = dir->data + dir->len;

    for (p = dir->data + 1; p < last; p++) {
        if (*p != '/') {
            continue;
        }

        saved = *p;
        *p = '\0';
        rc = ngx_campaign_files_may(&u, dir->data, X_OK);
        *p = saved;

        if (rc == NGX_DECLINED) {
            *p = '\0';
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                          "%s \"%V\": user \"%s\" of the worker processes "
                          "cannot enter \"%s\": %s",
                          directive, file, u.name, dir->data, loss);
            *p = saved;
            return;
        }
    }

    if (ngx_file_info(dir->data, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, ngx_errno,
                      "%s \"%V\": the directory \"%V\" cannot be found: "
                      "%s", directive, file, dir, loss);
        return;
    }

    /* FILE.tmp is created there, and renamed */

    if (ngx_campaign_files_may(&u, dir->data, W_OK | X_OK) == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "%s \"%V\": user \"%s\" of the worker processes "
                      "cannot create files in \"%V\": %s",
                      directive, file, u.name, dir, loss);
        return;
    }

    if (ngx_campaign_files_may(&u, lock->data, R_OK | W_OK) == NGX_DECLINED)
    {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "%s \"%V\": user \"%s\" of the worker processes "
                      "cannot open \"%V\" to write: %s",
                      directive, file, u.name, lock, loss);
    }
}


/* the user the workers will run as: "user", when the master is root */

static void
ngx_campaign_files_user(ngx_cycle_t *cycle, ngx_campaign_files_user_t *u)
{
    struct passwd    *pw;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    u->uid = geteuid();
    u->gid = getegid();
    u->self = 1;
    u->ngroups = 0;

    if (u->uid == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT
        && ccf->user != 0)
    {
        u->uid = ccf->user;
        u->gid = ccf->group;
        u->self = 0;
    }

    pw = getpwuid(u->uid);
    u->name = (pw && pw->pw_name) ? pw->pw_name : "(unknown)";

    if (u->self || pw == NULL) {
        return;
    }

    u->ngroups = NGX_CAMPAIGN_FILES_GROUPS;

    if (getgrouplist(pw->pw_name, u->gid, u->groups, &u->ngroups) == -1) {
        /* more groups than kept: the primary group only */
        u->groups[0] = u->gid;
        u->ngroups = 1;
    }
}


/*
 * NGX_OK: the user may; NGX_DECLINED: it may not; NGX_ERROR: cannot tell
 * (no such file, a file with an ACL)
 */

static ngx_int_t
ngx_campaign_files_may(ngx_campaign_files_user_t *u, u_char *path, int want)
{
    int              i, bits;
    ngx_file_info_t  fi;

    if (u->self) {

        /* the master's user: the kernel tells, read-only mounts too */

        if (access((char *) path, want) == 0) {
            return NGX_OK;
        }

        return (ngx_errno == NGX_ENOENT) ? NGX_ERROR : NGX_DECLINED;
    }

    if (ngx_file_info(path, &fi) == NGX_FILE_ERROR) {
        return NGX_ERROR;
    }

#if (NGX_LINUX)
    if (getxattr((char *) path, "system.posix_acl_access", NULL, 0) > 0) {
        return NGX_ERROR;
    }
#endif

    if (fi.st_uid == u->uid) {
        bits = fi.st_mode >> 6;

    } else {
        bits = fi.st_mode;

        for (i = 0; i < u->ngroups; i++) {
            if (fi.st_gid == u->groups[i]) {
                bits = fi.st_mode >> 3;
                break;
            }
        }
    }

    /* R_OK, W_OK and X_OK are the "other" bits: 4, 2, 1 */

    return ((bits & want) == want) ? NGX_OK : NGX_DECLINED;
}
