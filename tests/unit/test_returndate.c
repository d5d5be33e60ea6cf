/* mail/returndate: the return day an out-of-office reply states, in English,
 * German, French, Spanish, Dutch, Italian and Portuguese; ambiguous numeric
 * dates; past and far dates; quoted text; HTML-only bodies; charsets and
 * transfer encodings; messages without a date; the fixtures of
 * tests/fixtures/mail. Most cases arrive on Friday 2026-11-20 10:00 UTC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "unit_fixture.h"

#include "mail/returndate.h"
#include "util/tz.h"

#define FRI_20_NOV_2026 1795168800  /* Friday 2026-11-20 10:00 UTC */
#define MON_20_APR_2026 1776679200  /* Monday 2026-04-20 10:00 UTC */
#define ZONE "Europe/Berlin"

static int64_t midnight(int y, int m, int d, const char *zone)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_isdst = -1};
    return mf_tz_mktime(zone, &tm);
}

/* A day, or {0} for "not found". */
struct day {
    int y, m, d;
};
#define NONE ((struct day){0, 0, 0})
#define DAY(y, m, d) ((struct day){y, m, d})

static void check(enum mf_rc rc, const struct returndate *r, const struct mf_err *e,
                  struct day want, const char *zone, const char *what)
{
    if (!want.y) {
        if (rc != MF_ENOTFOUND || r->at || r->lang || r->phrase[0])
            fail_msg("%s: want not found, got %s %04d-%02d-%02d (\"%s\")", what,
                     mf_rc_name(rc), r->year, r->month, r->day, r->phrase);
        return;
    }
    if (rc != MF_OK)
        fail_msg("%s: want %04d-%02d-%02d, got %s: %s", what, want.y, want.m, want.d,
                 mf_rc_name(rc), e->detail);
    if (r->year != want.y || r->month != want.m || r->day != want.d)
        fail_msg("%s: want %04d-%02d-%02d, got %04d-%02d-%02d (\"%s\")", what, want.y, want.m,
                 want.d, r->year, r->month, r->day, r->phrase);
    assert_int_equal(r->at, midnight(want.y, want.m, want.d, zone));
    assert_non_null(r->lang);
    assert_true(r->phrase[0] != '\0');
}

static void text_is(const char *text, int64_t arrived, struct day want)
{
    struct returndate r;
    struct mf_err e;
    mf_err_clear(&e);
    enum mf_rc rc = returndate_in_text(text, strlen(text), arrived, ZONE, &r, &e);
    check(rc, &r, &e, want, ZONE, text);
}

/* A message: these headers, then the body as given. */
#define HDRS                                                                       \
    "From: Lea Lead <lea@contoso.example>\r\n"                                     \
    "To: Anna Sender <anna@fleet.example>\r\n"                                     \
    "Subject: Automatic reply: Quick question\r\n"                                 \
    "Auto-Submitted: auto-replied\r\n"                                             \
    "Message-ID: <ooo-1@contoso.example>\r\n"                                      \
    "MIME-Version: 1.0\r\n"

static void message_is(const char *raw, int64_t arrived, const char *zone, struct day want)
{
    struct returndate r;
    struct mf_err e;
    mf_err_clear(&e);
    enum mf_rc rc = returndate_find(raw, strlen(raw), arrived, zone, &r, &e);
    check(rc, &r, &e, want, zone, raw);
}

/* ---- English ------------------------------------------------------------------------- */

static void test_english(void **state)
{
    (void)state;
    int64_t a = FRI_20_NOV_2026;
    /* until X: back the day after X; a weekday is the next one after arrival */
    text_is("I am out of the office until Monday, with limited access to email.", a,
            DAY(2026, 11, 24));
    text_is("I'm away until 5 December.", a, DAY(2026, 12, 6));
    text_is("On leave till December 5th and back after that.", a, DAY(2026, 12, 6));
    text_is("Out of office through Friday, December 4, 2026.", a, DAY(2026, 12, 5));
    text_is("I am out from Monday 30 November to Friday 4 December.", a, DAY(2026, 12, 5));
    text_is("I'm away from 1-5 December, with no access to email.", a, DAY(2026, 12, 6));
    /* back on X: that day */
    text_is("Thanks for your mail. I'm returning on 2026-12-05.", a, DAY(2026, 12, 5));
    text_is("I will be back on Tuesday 8th.", a, DAY(2026, 12, 8));
    text_is("I will be back in the office on Monday, 30 November.", a, DAY(2026, 11, 30));
    text_is("I return to the office on Dec. 1 and will reply then.", a, DAY(2026, 12, 1));
    text_is("Back tomorrow!", a, DAY(2026, 11, 21));
    text_is("I'm out today, back on Friday.", a, DAY(2026, 11, 27)); /* not today */
    text_is("I'll be back on Monday at 9.", a, DAY(2026, 11, 23));  /* not "the 9th" */
    text_is("Back on Wednesday, the 2nd.", a, DAY(2026, 12, 2));
    text_is("I will get back to you after 3 December.", a, DAY(2026, 12, 4));
    /* the same word on a wrapped line */
    text_is("I am on holiday and will be back on\nWednesday 2 December 2026.", a,
            DAY(2026, 12, 2));
}

/* ---- the other languages ------------------------------------------------------------ */

static void test_german(void **state)
{
    (void)state;
    int64_t a = FRI_20_NOV_2026;
    text_is("Ich bin bis zum 5.12. nicht im Büro.", a, DAY(2026, 12, 6));
    text_is("Ich bin bis einschließlich 5. Dezember nicht erreichbar.", a, DAY(2026, 12, 6));
    text_is("Ab dem 8.12. bin ich wieder für Sie da.", a, DAY(2026, 12, 8));
    text_is("Ich bin am Montag, 30.11.2026 wieder im Büro.", a, DAY(2026, 11, 30));
    text_is("Vielen Dank. Ich bin vom 23.-27.11. im Urlaub.", a, DAY(2026, 11, 28));
    text_is("BIS ZUM 5. DEZEMBER BIN ICH NICHT IM BÜRO.", a, DAY(2026, 12, 6));
    text_is("Ich befinde mich bis einschl. 27.11. im Urlaub.", a, DAY(2026, 11, 28));
    /* "ab" without "wieder" is when the absence starts */
    text_is("Ab 1. Dezember bin ich im Urlaub.", a, NONE);
    /* a time, not a date */
    text_is("Ich bin heute bis 17.00 Uhr erreichbar.", a, NONE);
}

static void test_french_spanish(void **state)
{
    (void)state;
    int64_t a = FRI_20_NOV_2026;
    text_is("Je suis absente jusqu'au 5 décembre inclus.", a, DAY(2026, 12, 6));
    text_is("Je suis absent jusqu\xe2\x80\x99" "au lundi 7 D\xc3\x89" "CEMBRE.", a,
            DAY(2026, 12, 8));
    text_is("Je serai de retour le 8 décembre.", a, DAY(2026, 12, 8));
    text_is("Absent du 1er au 5 décembre.", a, DAY(2026, 12, 6));
    text_is("À partir du 30 novembre, je serai de retour au bureau.", a, DAY(2026, 11, 30));
    text_is("Estaré fuera de la oficina hasta el 5 de diciembre.", a, DAY(2026, 12, 6));
    text_is("Estaré de vuelta el lunes.", a, DAY(2026, 11, 23));
    text_is("Estoy de vacaciones del 1 al 5 de diciembre de 2026.", a, DAY(2026, 12, 6));
}

static void test_dutch_italian_portuguese(void **state)
{
    (void)state;
    int64_t a = FRI_20_NOV_2026;
    text_is("Ik ben afwezig tot en met 5 december.", a, DAY(2026, 12, 6));
    text_is("Ik ben t/m vrijdag 4 december niet op kantoor.", a, DAY(2026, 12, 5));
    text_is("Ik ben terug op maandag.", a, DAY(2026, 11, 23));
    text_is("Vanaf 30 november ben ik weer bereikbaar.", a, DAY(2026, 11, 30));
    text_is("Sarò fuori ufficio fino al 5 dicembre.", a, DAY(2026, 12, 6));
    text_is("Rientrerò in ufficio l'8 dicembre.", a, DAY(2026, 12, 8));
    text_is("Estarei ausente até 5 de dezembro.", a, DAY(2026, 12, 6));
    text_is("Estarei de volta na segunda-feira.", a, DAY(2026, 11, 23));
    text_is("Regresso a 30 de novembro.", a, DAY(2026, 11, 30));
    text_is("Sono in ferie dal 23 al 27 novembre.", a, DAY(2026, 11, 28));
}

/* ---- numeric dates ------------------------------------------------------------------- */

static void test_numeric(void **state)
{
    (void)state;
    /* day first: 12/05/2026 is 12 May */
    text_is("I will be back on 12/05/2026.", MON_20_APR_2026, DAY(2026, 5, 12));
    text_is("Back on 12/05.", MON_20_APR_2026, DAY(2026, 5, 12));
    text_is("Back on 12-05-26.", MON_20_APR_2026, DAY(2026, 5, 12));
    /* ...even when that is past: a stale reply is not read month first */
    text_is("I will be back on 12/05/2026.", FRI_20_NOV_2026, NONE);
    /* month first only when day first cannot be: 12/25 */
    text_is("I am out until 12/25/2026.", FRI_20_NOV_2026, DAY(2026, 12, 26));
    text_is("I am out until 12/25.", FRI_20_NOV_2026, DAY(2026, 12, 26));
    /* dotted dates are always day first; "12.30" is no date */
    text_is("Zurück am 1.12.2026.", FRI_20_NOV_2026, DAY(2026, 12, 1));
    text_is("I'm out until 12.30 today.", FRI_20_NOV_2026, NONE);
    text_is("Available until 9.12 am only.", FRI_20_NOV_2026, NONE);
    /* year first */
    text_is("Returning 2026-11-30.", FRI_20_NOV_2026, DAY(2026, 11, 30));
    text_is("Back on 2026-02-30.", FRI_20_NOV_2026, NONE); /* no such day */
}

/* ---- what is not a return date ------------------------------------------------------- */

static void test_past_far_none(void **state)
{
    (void)state;
    int64_t a = FRI_20_NOV_2026;
    text_is("I was out until 5 May 2026.", a, NONE);
    /* no year: this year's 5 May has passed, and next year's is not close: a
     * stale reply; in December, January is close */
    text_is("I am out until 5 May.", a, NONE);
    text_is("I am out until 10 January.", a, DAY(2027, 1, 11));
    text_is("I am on parental leave until 30 June 2027.", a, NONE);
    /* 180 days is the limit: 19 May 2027 is, 20 May 2027 is not */
    text_is("I am back on 19 May 2027.", a, DAY(2027, 5, 19));
    text_is("I am back on 20 May 2027.", a, NONE);
    /* until today: back tomorrow; back today: nothing to wait for */
    text_is("I am out until 20 November.", a, DAY(2026, 11, 21));
    text_is("I am back on 20 November.", a, NONE);
    /* no date */
    text_is("Thank you for your email. I am out of the office with limited access to "
            "email and will respond as soon as possible.",
            a, NONE);
    text_is("I am away until further notice.", a, NONE);
    text_is("I will reply to your message when I return.", a, NONE);
    text_is("Call me back at 555 1234.", a, NONE);
    text_is("", a, NONE);
    /* "until further notice" names no day, whatever comes later */
    text_is("I'm out until further notice. My colleague Dana covers until Friday.", a, NONE);
    text_is("Absent jusqu'à nouvel ordre. Contactez Marie jusqu'au 27 novembre.", a, NONE);
    text_is("Ich bin bis auf Weiteres nicht erreichbar.", a, NONE);
    /* opening hours are no absence; a later "back" still counts */
    text_is("We answer from 9 to 5, Monday to Friday.", a, NONE);
    text_is("Unsere Geschäftszeiten: Montag bis Freitag von 9 bis 17 Uhr.", a, NONE);
    text_is("Nous sommes joignables du lundi au vendredi.", a, NONE);
    text_is("I'm out Monday to Wednesday, back Thursday.", a, DAY(2026, 11, 26));
    /* the first cue with a date decides, even when that date is past */
    text_is("I was away until 2 November 2026; from now on I am back on 1 December.", a,
            NONE);
}

/* ---- which text is read ------------------------------------------------------------------ */

static void test_quoted(void **state)
{
    (void)state;
    int64_t a = FRI_20_NOV_2026;
    /* a person's reply quoting an out-of-office */
    text_is("Hi Anna, Lea is away, what did you need?\n\n> I am out of the office until "
            "Monday.\n",
            a, NONE);
    text_is("Happy to talk.\n\nOn Fri, 20 Nov 2026 at 09:00, Lea <lea@contoso.example>\n"
            "wrote:\n\nI am back on 30 November.\n",
            a, NONE);
    text_is("Happy to talk.\n-----Original Message-----\nI am back on 30 November.\n", a,
            NONE);
    text_is("Danke!\n\nVon: Lea\nGesendet: Freitag\nIch bin bis zum 5.12. nicht im Büro.\n",
            a, NONE);
    /* only the first 30 non-blank lines count */
    char many[2048] = "";
    for (int i = 0; i < 30; i++)
        strcat(many, "A line of text.\n\n");
    strcat(many, "I am back on 30 November.\n");
    text_is(many, a, NONE);
    many[strlen(many) - 45] = '\0'; /* 29 lines + the date line */
    strcat(many, "I am back on 30 November.\n");
    text_is(many, a, DAY(2026, 11, 30));
}

static void test_messages(void **state)
{
    (void)state;
    int64_t a = FRI_20_NOV_2026;
    /* quoted-printable latin-1 */
    message_is(HDRS "Content-Type: text/plain; charset=iso-8859-1\r\n"
                    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                    "Ich bin bis einschlie=DFlich 5. Dezember nicht im B=FCro.\r\n",
               a, ZONE, DAY(2026, 12, 6));
    /* base64 UTF-8 ("Je serai de retour le 8 décembre.") */
    message_is(HDRS "Content-Type: text/plain; charset=utf-8\r\n"
                    "Content-Transfer-Encoding: base64\r\n\r\n"
                    "SmUgc2VyYWkgZGUgcmV0b3VyIGxlIDggZMOpY2VtYnJlLg==\r\n",
               a, ZONE, DAY(2026, 12, 8));
    /* the answer is midnight in the zone given */
    message_is(HDRS "Content-Type: text/plain\r\n\r\nI am back on 30 November.\r\n", a,
               "America/New_York", DAY(2026, 11, 30));
    message_is(HDRS "Content-Type: text/plain\r\n\r\nI am back on 30 November.\r\n", a, NULL,
               DAY(2026, 11, 30) /* UTC */);
    /* multipart/alternative: the plain part is read, not the HTML */
    message_is(HDRS "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"
                    "--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                    "<p>I am back on 1 December.</p>\r\n"
                    "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                    "I am back on 2 December.\r\n--b1--\r\n",
               a, ZONE, DAY(2026, 12, 2));
    /* a text attachment and an enclosed message are not the reply's words */
    message_is(HDRS "Content-Type: multipart/mixed; boundary=\"b2\"\r\n\r\n"
                    "--b2\r\nContent-Type: text/plain\r\n"
                    "Content-Disposition: attachment; filename=\"a.txt\"\r\n\r\n"
                    "I am back on 1 December.\r\n"
                    "--b2\r\nContent-Type: message/rfc822\r\n\r\n"
                    "From: x@y.example\r\nSubject: old\r\n\r\nI am back on 3 December.\r\n"
                    "--b2--\r\n",
               a, ZONE, NONE);
    /* no date at all */
    message_is(HDRS "Content-Type: text/plain\r\n\r\nThank you for your message.\r\n", a, ZONE,
               NONE);
    message_is("not a message at all", a, ZONE, NONE);
    message_is("", a, ZONE, NONE);
    /* an mbox "From " line first */
    message_is("From lea@contoso.example Fri Nov 20 10:00:00 2026\n" HDRS
               "Content-Type: text/plain\r\n\r\nBack on Monday.\r\n",
               a, ZONE, DAY(2026, 11, 23));
}

static void test_html(void **state)
{
    (void)state;
    int64_t a = FRI_20_NOV_2026;
    /* HTML only: entities, tags inside the phrase, style and comments skipped */
    message_is(HDRS "Content-Type: text/html; charset=utf-8\r\n\r\n"
                    "<html><head><style>p { } /* until 1 December */</style></head><body>\r\n"
                    "<!--[if mso]>back on 2 December<![endif]-->\r\n"
                    "<p>Bonjour,</p><p>Je suis absente jusqu&rsquo;au <b>5\r\n"
                    "d&eacute;cembre</b>&nbsp;inclus.</p></body></html>\r\n",
               a, ZONE, DAY(2026, 12, 6));
    message_is(HDRS "Content-Type: text/html\r\n\r\n"
                    "<div>Estar&#233; de vuelta el <span>lunes</span>.</div>\r\n",
               a, ZONE, DAY(2026, 11, 23));
    /* a reply quoting an out-of-office in a blockquote, and Outlook's header */
    message_is(HDRS "Content-Type: text/html\r\n\r\n"
                    "<div>Sure, call me.</div><blockquote><div>I am back on 1 December."
                    "</div></blockquote>\r\n",
               a, ZONE, NONE);
    message_is(HDRS "Content-Type: text/html\r\n\r\n"
                    "<div>Sure, call me.</div><hr><div><b>From:</b> Lea<br>"
                    "I am back on 1 December.</div>\r\n",
               a, ZONE, NONE);
}

/* ---- the fixtures ---------------------------------------------------------------------- */

static void test_fixtures(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        struct day want;
        const char *phrase, *lang;
    } cases[] = {
        /* all arrived on Wednesday 15 May 2024 */
        {"ooo-auto-submitted.eml", {2024, 5, 21}, "until monday, 20 may", "en"},
        {"ooo-french-subject.eml", {2024, 5, 23}, "jusqu'au 22 mai", "fr"},
        {"ooo-german-subject.eml", {2024, 5, 25}, "bis einschließlich 24. mai", "de"},
        {"reply-quoting-ooo.eml", {0, 0, 0}, NULL, NULL},
        {"reply-in-reply-to.eml", {0, 0, 0}, NULL, NULL},
        {"postfix-user-unknown.eml", {0, 0, 0}, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len;
        char *raw = load_fixture(cases[i].file, &len);
        struct returndate r;
        struct mf_err e;
        enum mf_rc rc = returndate_find(raw, len, 1715760000 /* 2024-05-15 08:00 UTC */,
                                        "Europe/Paris", &r, &e);
        check(rc, &r, &e, cases[i].want, "Europe/Paris", cases[i].file);
        if (cases[i].phrase) {
            assert_string_equal(r.phrase, cases[i].phrase);
            assert_string_equal(r.lang, cases[i].lang);
            assert_true(r.until);
        }
        free(raw);
    }
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct returndate r;
    struct mf_err e;
    assert_int_equal(returndate_find("x", 1, 0, ZONE, NULL, &e), MF_EINVAL);
    assert_int_equal(returndate_find(NULL, 5, 0, ZONE, &r, &e), MF_EINVAL);
    assert_int_equal(returndate_find(NULL, 0, 0, ZONE, &r, NULL), MF_ENOTFOUND);
    assert_int_equal(returndate_in_text(NULL, 3, 0, ZONE, &r, &e), MF_EINVAL);
    assert_int_equal(returndate_in_text(NULL, 0, 0, ZONE, &r, &e), MF_ENOTFOUND);
    /* a header block over the limit is not parsed */
    size_t n = CLASSIFY_HEADER_MAX + 64;
    char *big = malloc(n + 64);
    assert_non_null(big);
    memcpy(big, "X-Pad: ", 7);
    memset(big + 7, 'a', n - 7);
    strcpy(big + n, "\r\n\r\nBack on Monday.\r\n");
    assert_int_equal(returndate_find(big, strlen(big), FRI_20_NOV_2026, ZONE, &r, &e),
                     MF_ENOTFOUND);
    assert_non_null(strstr(e.detail, "header block"));
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_english),
        cmocka_unit_test(test_german),
        cmocka_unit_test(test_french_spanish),
        cmocka_unit_test(test_dutch_italian_portuguese),
        cmocka_unit_test(test_numeric),
        cmocka_unit_test(test_past_far_none),
        cmocka_unit_test(test_quoted),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_html),
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
