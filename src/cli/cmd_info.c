/* `mailfleet providers` and `mailfleet explain`: the knowledge, printed. */
#include <string.h>

#include "cli/cli.h"
#include "diag/explain.h"
#include "diag/providers.h"

static json_t *endpoint_json(const struct provider_endpoint *e)
{
    if (!e->host)
        return json_null();
    return json_pack("{s:s, s:i, s:s}", "host", e->host, "port", e->port,
                     "security", providers_security_name(e->security));
}

static void print_endpoint(const char *label, const struct provider_endpoint *e)
{
    if (e->host)
        printf("  %-6s %s:%d %s\n", label, e->host, e->port,
               providers_security_name(e->security));
}

int cmd_providers(const struct cli_global *g, int argc, char **argv)
{
    (void)g;
    bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
    if (argc > 1 && !json) {
        const struct provider *p = providers_by_id(argv[1]);
        if (!p && strchr(argv[1], '.'))
            p = providers_for_address(argv[1]);
        if (!p) {
            fprintf(stderr, "mailfleet: no preset for \"%s\"\n", argv[1]);
            return CLI_USAGE;
        }
        argc = 0; /* print just this one below */
        printf("%s (%s)\n", p->name, p->id);
        print_endpoint("smtp", &p->smtp);
        print_endpoint("smtp", &p->smtp_alt);
        print_endpoint("imap", &p->imap);
        print_endpoint("pop3", &p->pop3);
        printf("  sign-in: %s. %s\n", providers_signin_name(p->signin),
               p->signin_note ? p->signin_note : "");
        const struct provider_limits *l = &p->limits;
        if (l->messages_per_minute || l->recipients_per_day || l->messages_per_day)
            printf("  limits: %d messages/minute, %d recipients/day, %d messages/day, "
                   "%d recipients/message, %d connections (0 = not published)\n",
                   l->messages_per_minute, l->recipients_per_day, l->messages_per_day,
                   l->recipients_per_message, l->max_connections);
        if (p->notes)
            printf("  note: %s\n", p->notes);
        return CLI_OK;
    }
    size_t n;
    const struct provider *all = providers_all(&n);
    json_t *arr = json ? json_array() : NULL;
    if (!json)
        printf("%-9s %-38s %-30s %s\n", "ID", "NAME", "SMTP", "SIGN-IN");
    for (size_t i = 0; i < n; i++) {
        const struct provider *p = &all[i];
        if (json) {
            const struct provider_limits *l = &p->limits;
            json_array_append_new(arr, json_pack(
                "{s:s, s:s, s:o, s:o, s:o, s:o, s:s, s:{s:i, s:i, s:i, s:i, s:i}}",
                "id", p->id, "name", p->name, "smtp", endpoint_json(&p->smtp),
                "smtp_alt", endpoint_json(&p->smtp_alt), "imap", endpoint_json(&p->imap),
                "pop3", endpoint_json(&p->pop3), "signin",
                providers_signin_name(p->signin), "limits", "messages_per_minute",
                l->messages_per_minute, "recipients_per_day", l->recipients_per_day,
                "messages_per_day", l->messages_per_day, "recipients_per_message",
                l->recipients_per_message, "max_connections", l->max_connections));
            continue;
        }
        char smtp[80] = "-";
        if (p->smtp.host)
            snprintf(smtp, sizeof smtp, "%s:%d", p->smtp.host, p->smtp.port);
        printf("%-9s %-38s %-30s %s\n", p->id, p->name, smtp,
               providers_signin_name(p->signin));
    }
    if (json)
        cli_print_json(arr);
    else
        printf("\nmailfleet providers ID   shows a preset's servers, sign-in and limits.\n");
    return CLI_OK;
}

static const char explain_usage[] =
    "usage: mailfleet explain \"REPLY TEXT\" [--json]\n"
    "       mailfleet explain --list\n"
    "Explains an SMTP/IMAP/POP3 reply or error as servers send it, e.g.\n"
    "  mailfleet explain \"535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant\"\n";

int cmd_explain(const struct cli_global *g, int argc, char **argv)
{
    (void)g;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(explain_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "--list") == 0) {
        size_t n;
        const struct explain_entry *t = explain_table(&n);
        for (size_t i = 0; i < n; i++)
            printf("%-36s %3d %-9s %s\n", t[i].id, t[i].code,
                   t[i].enhanced ? t[i].enhanced : "-", t[i].pattern ? t[i].pattern : "");
        return CLI_OK;
    }
    bool json = argc > 2 && strcmp(argv[2], "--json") == 0;
    int code = 0;
    char enh[16] = "";
    const struct explain_entry *e = explain_text(argv[1], &code, enh);
    if (json) {
        json_t *o = json_pack("{s:i, s:s}", "code", code, "enhanced", enh);
        if (e)
            json_object_set_new(o, "explanation",
                                json_pack("{s:s, s:s, s:s, s:s}", "id", e->id, "cause",
                                          e->cause, "fix", e->fix, "source", e->source));
        cli_print_json(o);
        return e ? CLI_OK : CLI_DATAERR;
    }
    if (!e) {
        printf("No explanation known for that text. Codes 4xx are temporary (retry\n"
               "later), 5xx permanent; the enhanced code (x.y.z) narrows it down.\n");
        return CLI_DATAERR;
    }
    printf("%d %s -> %s\n\ncause: %s\nfix:   %s\nsee:   %s\n", code, enh[0] ? enh : "",
           e->id, e->cause, e->fix, e->source);
    return CLI_OK;
}
