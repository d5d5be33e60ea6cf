/* diag/providers: the preset table's facts, the lookups, hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "diag/providers.h"

static const struct provider *must_id(const char *id)
{
    const struct provider *p = providers_by_id(id);
    assert_non_null(p);
    return p;
}

static void assert_endpoint(const struct provider_endpoint *e, const char *host, int port,
                            enum provider_security sec)
{
    if (!host) {
        assert_null(e->host);
        return;
    }
    assert_non_null(e->host);
    assert_string_equal(e->host, host);
    assert_int_equal(e->port, port);
    assert_int_equal(e->security, sec);
}

static int has_name(const char *const *list, const char *name)
{
    for (; list && *list; list++)
        if (strcmp(*list, name) == 0)
            return 1;
    return 0;
}

static void test_m365_exact(void **state)
{
    (void)state;
    const struct provider *p = must_id("m365");
    assert_string_equal(p->name, "Microsoft 365 (Exchange Online)");
    assert_endpoint(&p->smtp, "smtp.office365.com", 587, PROVIDER_SEC_STARTTLS);
    assert_endpoint(&p->smtp_alt, NULL, 0, PROVIDER_SEC_NONE); /* no 465 */
    assert_endpoint(&p->imap, "outlook.office365.com", 993, PROVIDER_SEC_TLS);
    assert_endpoint(&p->pop3, "outlook.office365.com", 995, PROVIDER_SEC_TLS);
    assert_int_equal(p->signin, PROVIDER_SIGNIN_OAUTH);
    assert_non_null(p->signin_note);
    assert_non_null(strstr(p->signin_note, "December 2026"));
    assert_int_equal(p->limits.messages_per_minute, 30);
    assert_int_equal(p->limits.recipients_per_day, 10000);
    assert_int_equal(p->limits.recipients_per_message, 500);
    assert_int_equal(p->limits.max_connections, 3);
    assert_int_equal(p->limits.messages_per_day, 0);
    assert_non_null(strstr(p->limits.source, "Exchange Online limits"));
    assert_true(has_name(p->domains, "onmicrosoft.com"));
    /* tenant addresses live on a subdomain of onmicrosoft.com */
    assert_ptr_equal(providers_for_address("ops@contoso.onmicrosoft.com"), p);
    assert_ptr_equal(providers_for_address("ops@Contoso.OnMicrosoft.com."), p);
    assert_null(providers_for_address("ops@contoso.onmicrosoft.com.evil.example"));
    assert_null(providers_for_address("ops@evilonmicrosoft.com"));
}

static void test_outlook_exact(void **state)
{
    (void)state;
    const struct provider *p = must_id("outlook");
    assert_string_equal(p->name, "Outlook.com (personal Microsoft account)");
    assert_endpoint(&p->smtp, "smtp-mail.outlook.com", 587, PROVIDER_SEC_STARTTLS);
    assert_endpoint(&p->smtp_alt, NULL, 0, PROVIDER_SEC_NONE);
    assert_endpoint(&p->imap, "outlook.office365.com", 993, PROVIDER_SEC_TLS);
    assert_endpoint(&p->pop3, "outlook.office365.com", 995, PROVIDER_SEC_TLS);
    assert_true(has_name(p->old_hosts, "imap-mail.outlook.com"));
    assert_true(has_name(p->old_hosts, "pop-mail.outlook.com"));
    assert_int_equal(p->signin, PROVIDER_SIGNIN_OAUTH);
    assert_non_null(strstr(p->signin_note, "OAuth"));
    assert_non_null(strstr(p->signin_note, "password"));
    assert_int_equal(p->limits.recipients_per_day, 5000);
    assert_int_equal(p->limits.recipients_per_message, 500);
    assert_int_equal(p->limits.messages_per_minute, 0); /* not published */
    assert_int_equal(p->limits.max_connections, 0);
    assert_string_equal(p->limits.source, "Sending limits in Outlook.com");
    assert_string_equal(p->source, "POP, IMAP, and SMTP settings for Outlook.com");
    const char *const must[] = {"outlook.com", "hotmail.com", "live.com", "msn.com",
                                "passport.com", "hotmail.co.uk", "outlook.fr",
                                "live.de", "hotmail.it", "outlook.es"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        assert_true(has_name(p->domains, must[i]));
}

static void test_every_preset_complete(void **state)
{
    (void)state;
    size_t n = 0;
    const struct provider *all = providers_all(&n);
    assert_non_null(all);
    assert_int_equal(n, 8);
    assert_ptr_equal(providers_all(NULL), all);
    for (size_t i = 0; i < n; i++) {
        const struct provider *p = &all[i];
        assert_non_null(p->id);
        assert_non_null(p->name);
        assert_non_null(p->signin_note);
        assert_non_null(p->source);
        assert_ptr_equal(providers_by_id(p->id), p);
        for (size_t j = i + 1; j < n; j++)
            assert_true(strcasecmp(p->id, all[j].id) != 0);
        const struct provider_limits *l = &p->limits;
        if (l->messages_per_minute || l->recipients_per_day || l->messages_per_day ||
            l->recipients_per_message || l->max_connections)
            assert_non_null(l->source); /* every number names its page */
        if (strcmp(p->id, "generic") == 0) {
            assert_null(p->smtp.host);
            assert_null(p->imap.host);
            assert_int_equal(p->signin, PROVIDER_SIGNIN_PASSWORD);
            assert_non_null(p->notes);
            continue;
        }
        assert_non_null(p->smtp.host);
        assert_true(p->smtp.port > 0);
        assert_int_not_equal(p->smtp.security, PROVIDER_SEC_NONE);
        assert_non_null(p->imap.host);
        assert_int_equal(p->imap.port, 993);
        assert_non_null(p->domains);
        assert_non_null(p->domains[0]);
        /* an alternative port is the same host with the other security */
        if (p->smtp_alt.host) {
            assert_string_equal(p->smtp_alt.host, p->smtp.host);
            assert_int_not_equal(p->smtp_alt.port, p->smtp.port);
            assert_int_not_equal(p->smtp_alt.security, p->smtp.security);
        }
    }
}

static void test_other_presets(void **state)
{
    (void)state;
    const struct provider *p = must_id("gmail");
    assert_endpoint(&p->smtp, "smtp.gmail.com", 587, PROVIDER_SEC_STARTTLS);
    assert_endpoint(&p->smtp_alt, "smtp.gmail.com", 465, PROVIDER_SEC_TLS);
    assert_endpoint(&p->imap, "imap.gmail.com", 993, PROVIDER_SEC_TLS);
    assert_endpoint(&p->pop3, "pop.gmail.com", 995, PROVIDER_SEC_TLS);
    assert_int_equal(p->signin, PROVIDER_SIGNIN_OAUTH);
    assert_int_equal(p->limits.recipients_per_day, 500);

    p = must_id("yahoo");
    assert_endpoint(&p->smtp, "smtp.mail.yahoo.com", 465, PROVIDER_SEC_TLS);
    assert_endpoint(&p->smtp_alt, "smtp.mail.yahoo.com", 587, PROVIDER_SEC_STARTTLS);
    assert_endpoint(&p->pop3, "pop.mail.yahoo.com", 995, PROVIDER_SEC_TLS);
    assert_int_equal(p->signin, PROVIDER_SIGNIN_APP_PASSWORD);

    p = must_id("icloud");
    assert_endpoint(&p->smtp, "smtp.mail.me.com", 587, PROVIDER_SEC_STARTTLS);
    assert_endpoint(&p->imap, "imap.mail.me.com", 993, PROVIDER_SEC_TLS);
    assert_null(p->pop3.host);
    assert_int_equal(p->signin, PROVIDER_SIGNIN_APP_PASSWORD);
    assert_int_equal(p->limits.messages_per_day, 1000);
    assert_int_equal(p->limits.recipients_per_message, 500);

    p = must_id("zoho");
    assert_endpoint(&p->smtp, "smtp.zoho.com", 465, PROVIDER_SEC_TLS);
    assert_endpoint(&p->smtp_alt, "smtp.zoho.com", 587, PROVIDER_SEC_STARTTLS);
    assert_non_null(strstr(p->notes, "zoho.eu"));

    p = must_id("fastmail");
    assert_endpoint(&p->smtp, "smtp.fastmail.com", 465, PROVIDER_SEC_TLS);
    assert_endpoint(&p->pop3, "pop.fastmail.com", 995, PROVIDER_SEC_TLS);
    assert_int_equal(p->signin, PROVIDER_SIGNIN_APP_PASSWORD);
}

static void test_domains_map(void **state)
{
    (void)state;
    static const struct {
        const char *in, *id;
    } cases[] = {
        {"me@gmail.com", "gmail"},          {"Me@GMail.COM", "gmail"},
        {"me@gmail.com.", "gmail"},         {"googlemail.com", "gmail"},
        {"GMAIL.COM", "gmail"},             {"@gmail.com", "gmail"},
        {"\"a@b\"@gmail.com", "gmail"},     {"x@hotmail.co.uk", "outlook"},
        {"x@outlook.fr", "outlook"},        {"x@live.de", "outlook"},
        {"x@hotmail.it", "outlook"},        {"x@Outlook.ES.", "outlook"},
        {"x@msn.com", "outlook"},           {"x@passport.com", "outlook"},
        {"x@live.com", "outlook"},          {"x@yahoo.com", "yahoo"},
        {"x@ymail.com", "yahoo"},           {"x@rocketmail.com", "yahoo"},
        {"x@yahoo.co.uk", "yahoo"},         {"x@yahoo.fr", "yahoo"},
        {"x@icloud.com", "icloud"},         {"x@me.com", "icloud"},
        {"x@mac.com", "icloud"},            {"x@zoho.com", "zoho"},
        {"x@zohomail.com", "zoho"},         {"x@fastmail.com", "fastmail"},
        {"x@fastmail.fm", "fastmail"},      {"x@t.onmicrosoft.com", "m365"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct provider *p = providers_for_address(cases[i].in);
        if (!p)
            fail_msg("%s: no preset", cases[i].in);
        if (strcmp(p->id, cases[i].id) != 0)
            fail_msg("%s: got %s, want %s", cases[i].in, p->id, cases[i].id);
    }
}

static void test_unknown_domains(void **state)
{
    (void)state;
    const char *const unknown[] = {
        "me@example.com",   "contoso.com",        "gmail",
        "mail.gmail.com",   "gmail.com.evil.org", "evilgmail.com",
        "x@yahoo.co.jp",    "x@zohomail.eu",      "x@gmail.co",
        "x@outlook",        "x@office365.com",    "x@smtp.office365.com",
    };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        if (providers_for_address(unknown[i]))
            fail_msg("%s should have no preset", unknown[i]);
}

static void test_aliases(void **state)
{
    (void)state;
    assert_string_equal(must_id("office365")->id, "m365");
    assert_string_equal(must_id("O365")->id, "m365");
    assert_string_equal(must_id("M365")->id, "m365");
    assert_string_equal(must_id("hotmail")->id, "outlook");
    assert_string_equal(must_id("Live")->id, "outlook");
    assert_string_equal(must_id("OUTLOOK")->id, "outlook");
    assert_string_equal(must_id("google")->id, "gmail");
    assert_string_equal(must_id("Gmail")->id, "gmail");
    assert_string_equal(must_id("generic")->id, "generic");
    assert_null(providers_by_id("aol"));
    assert_null(providers_by_id("m365 "));
    assert_null(providers_by_id(""));
    assert_null(providers_by_id(NULL));
}

static void test_hosts(void **state)
{
    (void)state;
    const struct provider *m365 = must_id("m365"), *outlook = must_id("outlook");
    assert_ptr_equal(providers_by_host("smtp.office365.com"), m365);
    assert_ptr_equal(providers_by_host("SMTP.Office365.COM."), m365);
    /* shared by both Microsoft presets; the table order answers m365 */
    assert_ptr_equal(providers_by_host("outlook.office365.com"), m365);
    assert_true(providers_owns_host(outlook, "outlook.office365.com"));
    assert_ptr_equal(providers_by_host("smtp-mail.outlook.com"), outlook);
    assert_ptr_equal(providers_by_host("imap-mail.outlook.com"), outlook);
    assert_ptr_equal(providers_by_host("Pop-Mail.Outlook.com"), outlook);
    assert_false(providers_owns_host(m365, "imap-mail.outlook.com"));
    assert_string_equal(providers_by_host("smtp.gmail.com")->id, "gmail");
    assert_string_equal(providers_by_host("pop.mail.yahoo.com")->id, "yahoo");
    assert_string_equal(providers_by_host("imap.mail.me.com")->id, "icloud");
    assert_string_equal(providers_by_host("smtp.zoho.com")->id, "zoho");
    assert_string_equal(providers_by_host("imap.fastmail.com")->id, "fastmail");
    assert_null(providers_by_host("smtp.example.com"));
    assert_null(providers_by_host("office365.com"));
    assert_null(providers_by_host("xsmtp.office365.com"));
    assert_null(providers_by_host(""));
    assert_null(providers_by_host(NULL));
    assert_false(providers_owns_host(NULL, "smtp.gmail.com"));
    assert_false(providers_owns_host(m365, NULL));
    assert_false(providers_owns_host(must_id("generic"), "smtp.example.com"));
}

static void test_hostile_input(void **state)
{
    (void)state;
    const char *const junk[] = {
        "",        "@",           "a@",        "@@@",          "a@b@",
        ".",       "..",          "a@.",       "a@.gmail.com", "a@gmail..com",
        "a@gmail.com..", "a@gm ail.com", "a@gmail.com\n", "a@gmail.com>",
        "a@g\xc3\xa9mail.com",   "a@-\x01",   "a@gmail.com/x",
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        if (providers_for_address(junk[i]))
            fail_msg("junk #%zu matched a preset", i);
        assert_null(providers_by_host(junk[i]));
        assert_null(providers_by_id(junk[i]));
    }
    assert_null(providers_for_address(NULL));

    /* very long input: refused without a read past its end (ASan watches) */
    size_t big = 100000;
    char *s = malloc(big + 1);
    assert_non_null(s);
    memset(s, 'a', big);
    s[big] = '\0';
    assert_null(providers_for_address(s));
    assert_null(providers_by_host(s));
    assert_null(providers_by_id(s));
    memcpy(s + big - 10, "@gmail.com", 10); /* a real domain, far too long an address */
    assert_null(providers_for_address(s));
    memset(s, '@', big);
    assert_null(providers_for_address(s));
    memset(s, '.', big);
    assert_null(providers_for_address(s));
    assert_null(providers_by_host(s));

    /* a 254-character domain and a 64-character label are over the limits */
    memset(s, 'a', big);
    for (size_t i = 63; i < 254; i += 64)
        s[i] = '.';
    s[254] = '\0';
    assert_null(providers_for_address(s));
    assert_null(providers_by_host(s));
    memcpy(s, "x@", 2);
    memset(s + 2, 'b', 64);
    memcpy(s + 66, ".gmail.com", sizeof ".gmail.com");
    assert_null(providers_for_address(s));
    free(s);
}

/* No domain may pick two presets: each one listed must lead back to its owner,
 * which also catches an exact name that another preset's suffix covers. */
static void test_no_domain_in_two_presets(void **state)
{
    (void)state;
    size_t n = 0;
    const struct provider *all = providers_all(&n);
    for (size_t i = 0; i < n; i++) {
        for (const char *const *d = all[i].domains; d && *d; d++) {
            for (const char *c = *d; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    fail_msg("%s: table names must be lower-case", *d);
            size_t len = strlen(*d);
            assert_true(len > 0 && (*d)[len - 1] != '.');
            for (size_t j = 0; j < n; j++)
                for (const char *const *e = all[j].domains; e && *e; e++)
                    if (e != d && strcmp(*d, *e) == 0)
                        fail_msg("%s listed in %s and %s", *d, all[i].id, all[j].id);
            const char *addr = (*d)[0] == '.' ? "x.test" : "";
            char buf[300];
            snprintf(buf, sizeof buf, "user@%s%s", addr, *d);
            const struct provider *p = providers_for_address(buf);
            if (p != &all[i])
                fail_msg("%s: led to %s, listed in %s", buf, p ? p->id : "nothing",
                         all[i].id);
        }
    }
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(providers_security_name(PROVIDER_SEC_NONE), "none");
    assert_string_equal(providers_security_name(PROVIDER_SEC_STARTTLS), "starttls");
    assert_string_equal(providers_security_name(PROVIDER_SEC_TLS), "tls");
    assert_string_equal(providers_security_name((enum provider_security)42), "unknown");
    assert_string_equal(providers_signin_name(PROVIDER_SIGNIN_PASSWORD), "password");
    assert_string_equal(providers_signin_name(PROVIDER_SIGNIN_APP_PASSWORD),
                        "app-password");
    assert_string_equal(providers_signin_name(PROVIDER_SIGNIN_OAUTH), "oauth");
    assert_string_equal(providers_signin_name((enum provider_signin)-1), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_m365_exact),
        cmocka_unit_test(test_outlook_exact),
        cmocka_unit_test(test_every_preset_complete),
        cmocka_unit_test(test_other_presets),
        cmocka_unit_test(test_domains_map),
        cmocka_unit_test(test_unknown_domains),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_hosts),
        cmocka_unit_test(test_hostile_input),
        cmocka_unit_test(test_no_domain_in_two_presets),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
