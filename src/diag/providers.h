/*
 * diag/providers — mail provider presets as data: servers, ports and
 * security for SMTP submission, IMAP and POP3, the preferred sign-in, and
 * the provider's published sending limits (which the sending engine
 * enforces as hard ceilings). Presets are chosen by id or looked up from an
 * address's domain.
 *
 * All pointers point into static tables: borrowed, never freed.
 */
#ifndef MF_DIAG_PROVIDERS_H
#define MF_DIAG_PROVIDERS_H

#include <stddef.h>

enum provider_security {
    PROVIDER_SEC_NONE = 0,    /* no endpoint */
    PROVIDER_SEC_STARTTLS,
    PROVIDER_SEC_TLS,         /* implicit TLS */
};

enum provider_signin {
    PROVIDER_SIGNIN_PASSWORD = 0,   /* plain password works */
    PROVIDER_SIGNIN_APP_PASSWORD,   /* an app password (2FA/MFA accounts) */
    PROVIDER_SIGNIN_OAUTH,          /* OAuth 2.0 (XOAUTH2); passwords refused or retiring */
};

struct provider_endpoint {
    const char *host;         /* NULL when the provider has no such service */
    int port;
    enum provider_security security;
};

struct provider_limits {
    int messages_per_minute;  /* 0 = not published */
    int recipients_per_day;
    int messages_per_day;
    int recipients_per_message;
    int max_connections;      /* concurrent SMTP connections per mailbox */
    const char *source;       /* the documentation the numbers come from */
};

struct provider {
    const char *id;           /* "m365", "outlook", "gmail", ... */
    const char *name;         /* "Microsoft 365 (Exchange Online)" */
    const char *const *domains;     /* NULL-terminated; address domains */
    struct provider_endpoint smtp;
    struct provider_endpoint smtp_alt;  /* the other submission port, if any */
    struct provider_endpoint imap;
    struct provider_endpoint pop3;
    const char *const *old_hosts;   /* NULL-terminated older names accepted */
    enum provider_signin signin;
    const char *signin_note;  /* one or two sentences for the user */
    struct provider_limits limits;
    const char *notes;        /* anything else a user must know, or NULL */
    const char *source;       /* settings documentation */
};

/* The whole table (borrowed); *count receives its length. */
const struct provider *providers_all(size_t *count);
/* By id, case-insensitive; NULL if unknown. Aliases: "office365" and
 * "o365" → m365, "hotmail"/"live" → outlook, "google" → gmail. */
const struct provider *providers_by_id(const char *id);
/* From an address ("me@hotmail.co.uk") or a bare domain; NULL when the
 * domain is not one a preset owns (custom domains need --provider). */
const struct provider *providers_for_address(const char *address);
/* True when host is one of the preset's server names (current or old). */
int providers_owns_host(const struct provider *p, const char *host);
/* The preset whose servers include host (e.g. smtp.office365.com → m365),
 * NULL if none. */
const struct provider *providers_by_host(const char *host);

const char *providers_security_name(enum provider_security s); /* "starttls" */
const char *providers_signin_name(enum provider_signin s);     /* "oauth" */

#endif
