#include "diag/providers.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/*
 * Every value below was checked against the provider's own page named in
 * `source` / `limits.source`. A limit the provider does not publish is 0:
 * the sending engine treats these numbers as hard ceilings, so a guessed
 * number would be worse than none (the engine still backs off on 4xx).
 *
 * Domain entries are lower-case. An entry starting with '.' matches any
 * subdomain of what follows (".onmicrosoft.com" matches
 * "contoso.onmicrosoft.com"); every other entry matches exactly, so
 * "mail.gmail.com" or "gmail.com.evil.example" never pick a preset.
 */

/* RFC 1035: 253 characters for a name without its trailing dot, 63 a label. */
#define NAME_MAX_LEN 253
#define LABEL_MAX_LEN 63
/*
 * Longest input examined: an RFC 5321 local part (64) + '@' + a domain with a
 * trailing dot (254), with room for the quoting a display form may carry.
 * Anything longer is not an address a user typed, and is refused unread.
 */
#define ADDRESS_MAX_LEN 512

#define NO_ENDPOINT {NULL, 0, PROVIDER_SEC_NONE}

/* ---- Microsoft 365 -------------------------------------------------------- */

/* Tenants' initial domains; custom domains are recognised by MX later
 * (*.mail.protection.outlook.com), not here. */
static const char *const m365_domains[] = {"onmicrosoft.com", ".onmicrosoft.com", NULL};
static const char *const m365_old_hosts[] = {NULL};

/* ---- Outlook.com ---------------------------------------------------------- */

/*
 * Microsoft publishes no list of its consumer domains; this is the list
 * Thunderbird's ISPDB (ispdb/hotmail.com.xml) ships for Outlook.com, plus
 * passport.com (Microsoft Passport, the account system's original name).
 */
static const char *const outlook_domains[] = {
    "outlook.com", "hotmail.com", "live.com", "msn.com", "passport.com",
    "windowslive.com", "livemail.tw",
    "outlook.at", "outlook.be", "outlook.cl", "outlook.cz", "outlook.de",
    "outlook.dk", "outlook.es", "outlook.fr", "outlook.hu", "outlook.ie",
    "outlook.in", "outlook.it", "outlook.jp", "outlook.kr", "outlook.lv",
    "outlook.my", "outlook.ph", "outlook.pt", "outlook.sa", "outlook.sg",
    "outlook.sk", "outlook.co.id", "outlook.co.il", "outlook.co.th",
    "outlook.com.ar", "outlook.com.au", "outlook.com.br", "outlook.com.gr",
    "outlook.com.tr", "outlook.com.vn",
    "hotmail.be", "hotmail.ca", "hotmail.cl", "hotmail.cz", "hotmail.de",
    "hotmail.dk", "hotmail.es", "hotmail.fi", "hotmail.fr", "hotmail.gr",
    "hotmail.hu", "hotmail.it", "hotmail.lt", "hotmail.lv", "hotmail.my",
    "hotmail.nl", "hotmail.no", "hotmail.ph", "hotmail.rs", "hotmail.se",
    "hotmail.sg", "hotmail.sk", "hotmail.co.id", "hotmail.co.il",
    "hotmail.co.in", "hotmail.co.jp", "hotmail.co.kr", "hotmail.co.th",
    "hotmail.co.uk", "hotmail.co.za", "hotmail.com.ar", "hotmail.com.au",
    "hotmail.com.br", "hotmail.com.hk", "hotmail.com.tr", "hotmail.com.tw",
    "hotmail.com.vn",
    "live.at", "live.be", "live.ca", "live.cl", "live.cn", "live.de",
    "live.dk", "live.fi", "live.fr", "live.hk", "live.ie", "live.in",
    "live.it", "live.jp", "live.nl", "live.no", "live.ru", "live.se",
    "live.co.jp", "live.co.kr", "live.co.uk", "live.co.za", "live.com.ar",
    "live.com.au", "live.com.mx", "live.com.my", "live.com.ph",
    "live.com.pt", "live.com.sg",
    NULL,
};
/*
 * The names Microsoft's settings page gave before it moved IMAP/POP to
 * outlook.office365.com, and the Windows Live Hotmail era names still found
 * in old client configurations. They identify the provider; never dialled.
 */
static const char *const outlook_old_hosts[] = {
    "imap-mail.outlook.com", "pop-mail.outlook.com", "smtp.live.com",
    "pop3.live.com", NULL,
};

/* ---- Gmail ---------------------------------------------------------------- */

static const char *const gmail_domains[] = {"gmail.com", "googlemail.com", NULL};
static const char *const gmail_old_hosts[] = {NULL};

/* ---- Yahoo ---------------------------------------------------------------- */

/*
 * Thunderbird's ISPDB list for Yahoo (ispdb/yahoo.com.xml) minus cox.net (an
 * ISP whose mail Yahoo hosts, not a Yahoo address). yahoo.co.jp is left out
 * on purpose: Yahoo! JAPAN is a separate service with other servers.
 */
static const char *const yahoo_domains[] = {
    "yahoo.com", "ymail.com", "rocketmail.com", "myyahoo.com",
    "yahoo.ca", "yahoo.de", "yahoo.es", "yahoo.fr", "yahoo.it", "yahoo.se",
    "yahoo.co.in", "yahoo.co.nz", "yahoo.co.uk", "yahoo.com.ar",
    "yahoo.com.au", "yahoo.com.br", "yahoo.com.mx",
    NULL,
};
static const char *const yahoo_old_hosts[] = {NULL};

/* ---- iCloud --------------------------------------------------------------- */

static const char *const icloud_domains[] = {"icloud.com", "me.com", "mac.com", NULL};
static const char *const icloud_old_hosts[] = {NULL};

/* ---- Zoho ----------------------------------------------------------------- */

/*
 * Only the US data centre's address domains: accounts in other regions
 * (zohomail.eu, zohomail.in, ...) live on other servers (smtp.zoho.eu, ...),
 * so claiming them here would send their users to the wrong host.
 */
static const char *const zoho_domains[] = {"zoho.com", "zohomail.com", NULL};
static const char *const zoho_old_hosts[] = {NULL};

/* ---- Fastmail ------------------------------------------------------------- */

/* The domains Fastmail offers for new addresses (fastmail.com, the historic
 * fastmail.fm, and its country and generic variants). */
static const char *const fastmail_domains[] = {
    "fastmail.com", "fastmail.fm", "fastmail.cn", "fastmail.co.uk",
    "fastmail.com.au", "fastmail.de", "fastmail.es", "fastmail.fr",
    "fastmail.im", "fastmail.in", "fastmail.jp", "fastmail.mx",
    "fastmail.net", "fastmail.nl", "fastmail.org", "fastmail.se",
    "fastmail.to", "fastmail.tw", "fastmail.uk", "fastmail.us",
    "messagingengine.com",
    NULL,
};
/* Fastmail's servers were once named after its platform, MessagingEngine. */
static const char *const fastmail_old_hosts[] = {"mail.messagingengine.com", NULL};

/* ---- generic -------------------------------------------------------------- */

static const char *const no_names[] = {NULL};

/* ---- the table ------------------------------------------------------------ */

/*
 * Order matters in one place: outlook.office365.com serves both Microsoft
 * presets, and providers_by_host answers with the first owner, m365. Both
 * are Microsoft, which is all a caller of providers_by_host acts on.
 */
static const struct provider table[] = {
    {
        .id = "m365",
        .name = "Microsoft 365 (Exchange Online)",
        .domains = m365_domains,
        /* STARTTLS on 587 only: Exchange Online offers no implicit TLS on 465. */
        .smtp = {"smtp.office365.com", 587, PROVIDER_SEC_STARTTLS},
        .smtp_alt = NO_ENDPOINT,
        .imap = {"outlook.office365.com", 993, PROVIDER_SEC_TLS},
        .pop3 = {"outlook.office365.com", 995, PROVIDER_SEC_TLS},
        .old_hosts = m365_old_hosts,
        .signin = PROVIDER_SIGNIN_OAUTH,
        .signin_note =
            "Sign in with OAuth 2.0 (XOAUTH2). Basic auth (a password) for SMTP AUTH "
            "is being retired: Microsoft disables it by default for existing tenants "
            "at the end of December 2026 (message center MC786329). App passwords "
            "work only where per-user MFA allows them.",
        .limits = {
            .messages_per_minute = 30,
            .recipients_per_day = 10000,
            .messages_per_day = 0,
            .recipients_per_message = 500,
            .max_connections = 3,
            .source = "Exchange Online limits (Sending limits); Message storage and "
                      "concurrent connection throttling for SMTP Authenticated Submission",
        },
        .notes =
            "Authenticated SMTP must be enabled for the mailbox (Microsoft 365 admin "
            "center > user > Mail > Manage email apps). 500 recipients per message is "
            "the default; an admin can raise it to 1,000. A 4th concurrent connection "
            "gets 432 4.3.2. Custom domains are recognised by MX "
            "(*.mail.protection.outlook.com).",
        .source = "How to set up a multifunction device or application to send email "
                  "using Microsoft 365 or Office 365; Settings for POP and IMAP access "
                  "for Office 365 for business",
    },
    {
        .id = "outlook",
        .name = "Outlook.com (personal Microsoft account)",
        .domains = outlook_domains,
        .smtp = {"smtp-mail.outlook.com", 587, PROVIDER_SEC_STARTTLS},
        .smtp_alt = NO_ENDPOINT,
        .imap = {"outlook.office365.com", 993, PROVIDER_SEC_TLS},
        .pop3 = {"outlook.office365.com", 995, PROVIDER_SEC_TLS},
        .old_hosts = outlook_old_hosts,
        .signin = PROVIDER_SIGNIN_OAUTH,
        .signin_note =
            "Microsoft ended password (basic auth) sign-in for third-party apps on "
            "Outlook.com personal accounts (announced for 16 September 2024): a "
            "refused password means the app must sign in with OAuth 2.0.",
        .limits = {
            .messages_per_minute = 0,
            .recipients_per_day = 5000,
            .messages_per_day = 0,
            .recipients_per_message = 500,
            .max_connections = 0,
            .source = "Sending limits in Outlook.com",
        },
        .notes =
            "The published limits are for Microsoft 365 subscribers: 5,000 recipients "
            "a day, 500 per message, and at most 1,000 a day to people never written "
            "to before. Free and new accounts get lower limits Microsoft does not "
            "publish. POP and IMAP are off by default: Settings > Mail > Forwarding "
            "and IMAP.",
        .source = "POP, IMAP, and SMTP settings for Outlook.com",
    },
    {
        .id = "gmail",
        .name = "Gmail / Google Workspace",
        .domains = gmail_domains,
        .smtp = {"smtp.gmail.com", 587, PROVIDER_SEC_STARTTLS},
        .smtp_alt = {"smtp.gmail.com", 465, PROVIDER_SEC_TLS},
        .imap = {"imap.gmail.com", 993, PROVIDER_SEC_TLS},
        .pop3 = {"pop.gmail.com", 995, PROVIDER_SEC_TLS},
        .old_hosts = gmail_old_hosts,
        .signin = PROVIDER_SIGNIN_OAUTH,
        .signin_note =
            "Sign in with OAuth 2.0 (XOAUTH2). The account password is refused "
            "(\"less secure apps\" are gone); an app password works only with 2-Step "
            "Verification on, and in Workspace only if the admin allows it.",
        .limits = {
            .messages_per_minute = 0,
            .recipients_per_day = 500,
            .messages_per_day = 0,
            .recipients_per_message = 100,
            .max_connections = 0,
            .source = "Gmail Help: Gmail sending limits (personal accounts); Gmail "
                      "sending limits in Google Workspace (100 recipients per message "
                      "sent via SMTP)",
        },
        .notes =
            "These are a personal account's limits. Google Workspace allows more: "
            "2,000 messages a day (500 on trial accounts) and 10,000 recipients a "
            "day, still 100 recipients per message over SMTP. Custom domains on "
            "Workspace are recognised by MX.",
        .source = "IMAP, POP, and SMTP (Gmail developer guide); Read Gmail messages "
                  "on other email clients using POP",
    },
    {
        .id = "yahoo",
        .name = "Yahoo Mail",
        .domains = yahoo_domains,
        .smtp = {"smtp.mail.yahoo.com", 465, PROVIDER_SEC_TLS},
        .smtp_alt = {"smtp.mail.yahoo.com", 587, PROVIDER_SEC_STARTTLS},
        .imap = {"imap.mail.yahoo.com", 993, PROVIDER_SEC_TLS},
        .pop3 = {"pop.mail.yahoo.com", 995, PROVIDER_SEC_TLS},
        .old_hosts = yahoo_old_hosts,
        .signin = PROVIDER_SIGNIN_APP_PASSWORD,
        .signin_note =
            "Generate an app password (Yahoo Account security > Generate app "
            "password) and use it instead of the account password, which mail apps "
            "cannot use.",
        .limits = {0, 0, 0, 0, 0, NULL},
        .notes =
            "Yahoo publishes no sending limits for personal Yahoo Mail (the 500 a day "
            "and 100 per message on its help pages are for Yahoo Small Business "
            "mail). yahoo.co.jp is Yahoo! JAPAN, a separate service.",
        .source = "IMAP server settings for Yahoo Mail; POP access settings for Yahoo "
                  "Mail",
    },
    {
        .id = "icloud",
        .name = "iCloud Mail",
        .domains = icloud_domains,
        .smtp = {"smtp.mail.me.com", 587, PROVIDER_SEC_STARTTLS},
        .smtp_alt = NO_ENDPOINT,
        .imap = {"imap.mail.me.com", 993, PROVIDER_SEC_TLS},
        .pop3 = NO_ENDPOINT, /* iCloud Mail does not offer POP */
        .old_hosts = icloud_old_hosts,
        .signin = PROVIDER_SIGNIN_APP_PASSWORD,
        .signin_note =
            "Use an app-specific password (Apple Account > Sign-In and Security > "
            "App-Specific Passwords; needs two-factor authentication). The Apple "
            "Account password is refused.",
        .limits = {
            .messages_per_minute = 0,
            .recipients_per_day = 1000,
            .messages_per_day = 1000,
            .recipients_per_message = 500,
            .max_connections = 0,
            .source = "Mailbox size and message sending limits in iCloud",
        },
        .notes =
            "No POP3. The IMAP user name is usually the part of the address before "
            "the @ (try the full address if that fails); SMTP wants the full address.",
        .source = "iCloud Mail server settings for other email client apps",
    },
    {
        .id = "zoho",
        .name = "Zoho Mail",
        .domains = zoho_domains,
        .smtp = {"smtp.zoho.com", 465, PROVIDER_SEC_TLS},
        .smtp_alt = {"smtp.zoho.com", 587, PROVIDER_SEC_STARTTLS},
        .imap = {"imap.zoho.com", 993, PROVIDER_SEC_TLS},
        .pop3 = {"pop.zoho.com", 995, PROVIDER_SEC_TLS},
        .old_hosts = zoho_old_hosts,
        .signin = PROVIDER_SIGNIN_APP_PASSWORD,
        .signin_note =
            "The account password works only while two-factor authentication is "
            "off; with it on (recommended) use an application-specific password.",
        .limits = {0, 0, 0, 0, 0, NULL},
        .notes =
            "Servers depend on the account's data centre: smtp/imap/pop.zoho.eu "
            "(EU), .zoho.in (India), .zoho.com.au (Australia), and so on. "
            "Organisation (custom-domain) accounts use smtppro/imappro/poppro.zoho.* "
            "instead. Enable IMAP or POP access in Zoho Mail settings first. Zoho "
            "publishes no per-mailbox SMTP sending limits.",
        .source = "Zoho Mail help: SMTP Server Configuration; Access via IMAP; POP "
                  "configuration details",
    },
    {
        .id = "fastmail",
        .name = "Fastmail",
        .domains = fastmail_domains,
        .smtp = {"smtp.fastmail.com", 465, PROVIDER_SEC_TLS},
        .smtp_alt = {"smtp.fastmail.com", 587, PROVIDER_SEC_STARTTLS},
        .imap = {"imap.fastmail.com", 993, PROVIDER_SEC_TLS},
        .pop3 = {"pop.fastmail.com", 995, PROVIDER_SEC_TLS},
        .old_hosts = fastmail_old_hosts,
        .signin = PROVIDER_SIGNIN_APP_PASSWORD,
        .signin_note =
            "Every IMAP, POP or SMTP client needs its own app password (Settings > "
            "Privacy & Security); the regular password is refused.",
        .limits = {0, 0, 0, 0, 0, NULL},
        .notes =
            "Custom domains hosted at Fastmail are recognised by MX. Sending limits "
            "are fair-use limits on Fastmail's Account limits page, not encoded here.",
        .source = "Fastmail help: Server names and ports; IMAP, POP, and SMTP",
    },
    {
        .id = "generic",
        .name = "Any SMTP/IMAP host",
        .domains = no_names,
        .smtp = NO_ENDPOINT,
        .smtp_alt = NO_ENDPOINT,
        .imap = NO_ENDPOINT,
        .pop3 = NO_ENDPOINT,
        .old_hosts = no_names,
        .signin = PROVIDER_SIGNIN_PASSWORD,
        .signin_note = "User name and password as the host's administrator set them.",
        .limits = {0, 0, 0, 0, 0, NULL},
        .notes =
            "Give --host. Usual ports: submission 587 with STARTTLS or 465 with "
            "implicit TLS; IMAP 993 and POP3 995 with implicit TLS (143 and 110 with "
            "STARTTLS where TLS is not implicit).",
        .source = "RFC 8314 (Use of TLS for Email Submission and Access)",
    },
};

#define NPROVIDERS (sizeof table / sizeof table[0])

/* Short names people type for --provider. */
static const struct {
    const char *alias;
    const char *id;
} aliases[] = {
    {"office365", "m365"}, {"o365", "m365"}, {"microsoft365", "m365"},
    {"hotmail", "outlook"}, {"live", "outlook"},
    {"google", "gmail"},
};

/* ---- names ------------------------------------------------------------------ */

/*
 * Copies a domain or host name to out[] lower-cased, without one trailing
 * dot (the DNS root, "gmail.com." is "gmail.com"). Returns its length, or 0
 * when it is not a plausible name: empty, too long, an empty or over-long
 * label, or a character a host name cannot hold. No preset owns an IDN or
 * an underscore name, so refusing those loses nothing.
 */
static size_t normalise_name(const char *in, size_t n, char out[static NAME_MAX_LEN + 1])
{
    if (n > 0 && in[n - 1] == '.')
        n--;
    if (n == 0 || n > NAME_MAX_LEN)
        return 0;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
            label++;
        } else if (c >= 'A' && c <= 'Z') {
            c = (unsigned char)(c - 'A' + 'a');
            label++;
        } else {
            return 0;
        }
        if (label > LABEL_MAX_LEN)
            return 0;
        out[i] = (char)c;
    }
    if (label == 0)
        return 0;
    out[n] = '\0';
    return n;
}

/* name is normalised (lower-case, no trailing dot); see the top of the file
 * for what a leading '.' in a pattern means. */
static bool domain_matches(const char *pattern, const char *name, size_t len)
{
    size_t plen = strlen(pattern);
    if (pattern[0] == '.')
        return len > plen && memcmp(name + len - plen, pattern, plen) == 0;
    return len == plen && memcmp(name, pattern, len) == 0;
}

static bool host_is(const char *known, const char *name)
{
    return known && strcasecmp(known, name) == 0;
}

/* ---- lookups ------------------------------------------------------------------ */

const struct provider *providers_all(size_t *count)
{
    if (count)
        *count = NPROVIDERS;
    return table;
}

const struct provider *providers_by_id(const char *id)
{
    if (!id || !*id)
        return NULL;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcasecmp(id, aliases[i].alias) == 0) {
            id = aliases[i].id;
            break;
        }
    for (size_t i = 0; i < NPROVIDERS; i++)
        if (strcasecmp(id, table[i].id) == 0)
            return &table[i];
    return NULL;
}

const struct provider *providers_for_address(const char *address)
{
    if (!address)
        return NULL;
    size_t n = strnlen(address, ADDRESS_MAX_LEN + 1);
    if (n == 0 || n > ADDRESS_MAX_LEN)
        return NULL;
    /* The domain follows the last '@': a quoted local part may hold one too.
     * No '@' at all means the caller gave a bare domain. */
    const char *domain = address;
    for (const char *at = memchr(address, '@', n); at;
         at = memchr(at + 1, '@', n - (size_t)(at + 1 - address)))
        domain = at + 1;
    char name[NAME_MAX_LEN + 1];
    size_t len = normalise_name(domain, n - (size_t)(domain - address), name);
    if (len == 0)
        return NULL;
    for (size_t i = 0; i < NPROVIDERS; i++) {
        const char *const *d = table[i].domains;
        for (; d && *d; d++)
            if (domain_matches(*d, name, len))
                return &table[i];
    }
    return NULL;
}

int providers_owns_host(const struct provider *p, const char *host)
{
    if (!p || !host)
        return 0;
    char name[NAME_MAX_LEN + 1];
    if (normalise_name(host, strnlen(host, NAME_MAX_LEN + 2), name) == 0)
        return 0;
    if (host_is(p->smtp.host, name) || host_is(p->smtp_alt.host, name) ||
        host_is(p->imap.host, name) || host_is(p->pop3.host, name))
        return 1;
    for (const char *const *h = p->old_hosts; h && *h; h++)
        if (host_is(*h, name))
            return 1;
    return 0;
}

const struct provider *providers_by_host(const char *host)
{
    for (size_t i = 0; i < NPROVIDERS; i++)
        if (providers_owns_host(&table[i], host))
            return &table[i];
    return NULL;
}

const char *providers_security_name(enum provider_security s)
{
    switch (s) {
    case PROVIDER_SEC_NONE:
        return "none";
    case PROVIDER_SEC_STARTTLS:
        return "starttls";
    case PROVIDER_SEC_TLS:
        return "tls";
    }
    return "unknown"; /* a value no enumerator names: a caller's bug, not ours to hide */
}

const char *providers_signin_name(enum provider_signin s)
{
    switch (s) {
    case PROVIDER_SIGNIN_PASSWORD:
        return "password";
    case PROVIDER_SIGNIN_APP_PASSWORD:
        return "app-password";
    case PROVIDER_SIGNIN_OAUTH:
        return "oauth";
    }
    return "unknown";
}
