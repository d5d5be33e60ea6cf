/* engine/campaign: the campaign file parser — a full round trip, defaults,
 * variants and weights, the weighted pick, and one case per error class
 * with its exact FILE:LINE:COL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/campaign.h"

/* Lines 1-3: the required top-level keys; lines 4-6: a minimal step 1. */
#define HEAD "name: t\nunsubscribe: {text: bye}\npostal_address: here\n"
#define STEP1 "steps:\n  - subject: s\n    body: b\n"

static struct campaign_spec *parse_ok(const char *yaml)
{
    struct campaign_spec *c = NULL;
    struct mf_err e;
    mf_err_clear(&e);
    enum mf_rc rc = campaign_parse(yaml, strlen(yaml), "t.yaml", &c, &e);
    if (rc != MF_OK)
        fail_msg("unexpected error: %s", e.detail);
    assert_non_null(c);
    return c;
}

/* Parses yaml, expects rc and a detail starting with "t.yaml:POS: " and
 * containing want. */
static void parse_bad(const char *yaml, enum mf_rc want_rc, const char *pos,
                      const char *want)
{
    struct campaign_spec *c = (struct campaign_spec *)1;
    struct mf_err e;
    mf_err_clear(&e);
    enum mf_rc rc = campaign_parse(yaml, strlen(yaml), "t.yaml", &c, &e);
    assert_null(c);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "t.yaml:%s: ", pos);
    if (rc != want_rc || e.rc != want_rc ||
        strncmp(e.detail, prefix, strlen(prefix)) || !strstr(e.detail, want))
        fail_msg("rc %s, want %s; detail \"%s\", want prefix \"%s\" and \"%s\"",
                 mf_rc_name(rc), mf_rc_name(want_rc), e.detail, prefix, want);
    assert_int_equal(e.layer, MF_LAYER_LOCAL);
}

static const char FULL[] =
    "# every field set, none at its default\n"
    "name: q4-outreach.v2_b\n"
    "from_name: \"Dana from Contoso\"\n"
    "timezone_field: tz\n"
    "window:\n"
    "  start: \"08:30\"\n"
    "  end: 18:45\n"
    "  days: [sat, Sun, monday]\n"
    "gap: { min: 5, max: 86400 }\n"
    "stop_on: [reply, unsubscribe, auto_reply, complaint]\n"
    "stop_company_on_reply: true\n"
    "unsubscribe:\n"
    "  text: \"If you'd rather not hear from me, reply \\\"unsubscribe\\\".\"\n"
    "  url: https://go.example.com/u\n"
    "  mailto: unsubscribe@example.com\n"
    "postal_address: |\n"
    "  Contoso Ltd\n"
    "  1 Main St, Springfield\n"
    "html: yes\n"
    "steps:\n"
    "  - subject:\n"
    "      - \"{Quick|Short} question, {{first_name|there}}\"\n"
    "      - { text: \"Idea for {{company}}\", weight: 2 }\n"
    "    body: |\n"
    "      Hi {{first_name|there}},\n"
    "\n"
    "      \tline two\n"
    "  - delay: 3 business days\n"
    "    body: \"short bump\"\n"
    "  - delay: 5 days\n"
    "    new_thread: true\n"
    "    subject: Last note\n"
    "    body:\n"
    "      - one\n"
    "      - text: two\n"
    "        weight: 1000\n"
    "  - delay: 2d\n"
    "    new_thread: false\n"
    "    body: b4\n"
    "  - delay: 1bd\n"
    "    body: b5\n"
    "  - delay: 365 Days\n"
    "    body: b6\n"
    "  - delay: 1  business   day\n"
    "    body: b7\n";

static void test_full_round_trip(void **state)
{
    (void)state;
    struct campaign_spec *c = parse_ok(FULL);
    assert_string_equal(c->name, "q4-outreach.v2_b");
    assert_string_equal(c->from_name, "Dana from Contoso");
    assert_string_equal(c->timezone_field, "tz");
    assert_int_equal(c->window_start_min, 8 * 60 + 30);
    assert_int_equal(c->window_end_min, 18 * 60 + 45);
    assert_int_equal(c->days_mask, (1u << 6) | (1u << 0) | (1u << 1));
    assert_int_equal(c->gap_min_s, 5);
    assert_int_equal(c->gap_max_s, 86400);
    assert_int_equal(c->stop_mask, CAMPAIGN_STOP_REPLY | CAMPAIGN_STOP_UNSUBSCRIBE |
                                       CAMPAIGN_STOP_AUTO_REPLY |
                                       CAMPAIGN_STOP_COMPLAINT);
    assert_true(c->stop_company_on_reply);
    assert_true(c->html);
    assert_string_equal(c->unsub_text,
                        "If you'd rather not hear from me, reply \"unsubscribe\".");
    assert_string_equal(c->unsub_url, "https://go.example.com/u");
    assert_string_equal(c->unsub_mailto, "unsubscribe@example.com");
    assert_string_equal(c->postal_address, "Contoso Ltd\n1 Main St, Springfield\n");
    assert_int_equal(c->nsteps, 7);

    const struct campaign_step *s = &c->steps[0];
    assert_int_equal(s->line, 21);
    assert_int_equal(s->delay_days, 0);
    assert_false(s->business_days);
    assert_true(s->new_thread);
    assert_int_equal(s->nsubjects, 2);
    assert_string_equal(s->subjects[0].text, "{Quick|Short} question, {{first_name|there}}");
    assert_int_equal(s->subjects[0].weight, 1);
    assert_int_equal(s->subjects[0].line, 22);
    assert_string_equal(s->subjects[1].text, "Idea for {{company}}");
    assert_int_equal(s->subjects[1].weight, 2);
    assert_int_equal(s->subjects[1].line, 23);
    assert_int_equal(s->nbodies, 1);
    assert_string_equal(s->bodies[0].text, "Hi {{first_name|there}},\n\n\tline two\n");
    assert_int_equal(s->bodies[0].line, 24);

    s = &c->steps[1];
    assert_int_equal(s->line, 28);
    assert_int_equal(s->delay_days, 3);
    assert_true(s->business_days);
    assert_false(s->new_thread);
    assert_int_equal(s->nsubjects, 0);
    assert_null(s->subjects);
    assert_int_equal(s->nbodies, 1);
    assert_string_equal(s->bodies[0].text, "short bump");

    s = &c->steps[2];
    assert_int_equal(s->delay_days, 5);
    assert_false(s->business_days);
    assert_true(s->new_thread);
    assert_int_equal(s->nsubjects, 1);
    assert_string_equal(s->subjects[0].text, "Last note");
    assert_int_equal(s->nbodies, 2);
    assert_string_equal(s->bodies[0].text, "one");
    assert_int_equal(s->bodies[0].weight, 1);
    assert_string_equal(s->bodies[1].text, "two");
    assert_int_equal(s->bodies[1].weight, 1000);
    assert_int_equal(s->bodies[1].line, 35);

    assert_int_equal(c->steps[3].delay_days, 2);
    assert_false(c->steps[3].business_days);
    assert_false(c->steps[3].new_thread);
    assert_int_equal(c->steps[4].delay_days, 1);
    assert_true(c->steps[4].business_days);
    assert_int_equal(c->steps[5].delay_days, 365);
    assert_int_equal(c->steps[6].delay_days, 1);
    assert_true(c->steps[6].business_days);
    assert_string_equal(c->steps[6].bodies[0].text, "b7");
    campaign_free(c);
}

static void test_defaults(void **state)
{
    (void)state;
    struct campaign_spec *c = parse_ok(HEAD STEP1);
    assert_string_equal(c->name, "t");
    assert_null(c->from_name);
    assert_string_equal(c->timezone_field, "timezone");
    assert_int_equal(c->window_start_min, 9 * 60);
    assert_int_equal(c->window_end_min, 17 * 60);
    assert_int_equal(c->days_mask, 0x3e); /* Mon..Fri */
    assert_int_equal(c->gap_min_s, 60);
    assert_int_equal(c->gap_max_s, 190);
    assert_int_equal(c->stop_mask, CAMPAIGN_STOP_REPLY | CAMPAIGN_STOP_BOUNCE |
                                       CAMPAIGN_STOP_UNSUBSCRIBE);
    assert_false(c->stop_company_on_reply);
    assert_false(c->defer_on_auto_reply);
    assert_false(c->html);
    assert_string_equal(c->unsub_text, "bye");
    assert_null(c->unsub_url);
    assert_null(c->unsub_mailto);
    assert_string_equal(c->postal_address, "here");
    assert_int_equal(c->nsteps, 1);
    assert_int_equal(c->steps[0].nsubjects, 1);
    assert_int_equal(c->steps[0].subjects[0].weight, 1);
    assert_int_equal(c->steps[0].subjects[0].line, 5);
    assert_int_equal(c->steps[0].line, 5);
    campaign_free(c);

    /* partial window / gap keep the other defaults; null optionals are unset;
     * "weekdays" / "everyday"; step 1 with "delay: 0" */
    c = parse_ok(HEAD "from_name: ~\nwindow: {end: \"12:00\", days: everyday}\n"
                      "gap: {max: 500}\nhtml:\n"
                      "steps:\n  - delay: 0\n    subject: s\n    body: b\n");
    assert_null(c->from_name);
    assert_int_equal(c->window_start_min, 9 * 60);
    assert_int_equal(c->window_end_min, 12 * 60);
    assert_int_equal(c->days_mask, 0x7f);
    assert_int_equal(c->gap_min_s, 60);
    assert_int_equal(c->gap_max_s, 500);
    assert_false(c->html);
    campaign_free(c);
    c = parse_ok(HEAD "window: {days: [weekdays, sat]}\n"
                      "steps:\n  - delay: 0 days\n    subject: s\n    body: b\n");
    assert_int_equal(c->days_mask, 0x7e);
    assert_int_equal(c->steps[0].delay_days, 0);
    campaign_free(c);
}

static void test_example_file(void **state)
{
    (void)state;
    /* examples/ next to tests/ in the source tree */
    char path[4096];
    snprintf(path, sizeof path, "%s", __FILE__);
    char *slash = strrchr(path, '/');
    if (!slash)
        skip();
    snprintf(slash, sizeof path - (size_t)(slash - path),
             "/../../examples/campaign.yaml");
    struct campaign_spec *c = NULL;
    struct mf_err e;
    if (campaign_load(path, &c, &e) != MF_OK)
        fail_msg("%s", e.detail);
    assert_string_equal(c->name, "q4-outreach");
    assert_int_equal(c->nsteps, 3);
    assert_int_equal(c->steps[0].nsubjects, 2);
    assert_int_equal(c->steps[0].subjects[1].weight, 2);
    assert_int_equal(c->steps[1].nsubjects, 0);
    assert_int_equal(c->steps[1].nbodies, 2);
    assert_true(c->steps[1].business_days);
    assert_true(c->steps[2].new_thread);
    assert_false(c->defer_on_auto_reply);
    assert_string_equal(c->unsub_url, "https://go.example.com/u");
    campaign_free(c);
}

static void test_load_errors(void **state)
{
    (void)state;
    struct campaign_spec *c = NULL;
    struct mf_err e;
    assert_int_equal(campaign_load("/nonexistent/c.yaml", &c, &e), MF_EIO);
    assert_null(c);
    assert_non_null(strstr(e.detail, "/nonexistent/c.yaml: cannot open"));

    char path[] = "/tmp/mf_campaign_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(HEAD STEP1, f);
    for (int i = 0; i < 60000; i++)
        fputs("# padding padding\n", f); /* 18 bytes each: over 1 MiB in all */
    fclose(f);
    assert_int_equal(campaign_load(path, &c, &e), MF_ELIMIT);
    assert_null(c);
    assert_non_null(strstr(e.detail, "over 1048576 bytes"));
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(HEAD STEP1, f);
    fclose(f);
    assert_int_equal(campaign_load(path, &c, &e), MF_OK);
    campaign_free(c);
    unlink(path);

    assert_int_equal(campaign_parse(NULL, 0, NULL, &c, &e), MF_EINVAL);
    campaign_free(NULL);
}

static void test_variant_errors(void **state)
{
    (void)state;
    parse_bad(HEAD "steps:\n  - subject: [a, {text: b, weight: 0}]\n    body: b\n",
              MF_ECONFIG, "5:36", "a whole number from 1 to 1000, not '0'");
    parse_bad(HEAD "steps:\n  - subject: [a, {weight: 2}]\n    body: b\n",
              MF_ECONFIG, "5:18", "variant 2 has no 'text'");
    parse_bad(HEAD "steps:\n  - subject: [a, {txt: x}]\n    body: b\n",
              MF_ECONFIG, "5:19", "unknown key 'txt' in the 'subject' of step 1 "
                                  "variant 2; did you mean 'text'?");
    parse_bad(HEAD "steps:\n  - subject: {text: a}\n    body: b\n", MF_ECONFIG,
              "5:14", "must be a string or a list of variants, not a mapping");
    parse_bad(HEAD "steps:\n  - subject: []\n    body: b\n", MF_ECONFIG, "5:14",
              "is an empty list");
    parse_bad(HEAD "steps:\n  - subject: [a, [b]]\n    body: b\n", MF_ECONFIG,
              "5:18", "variant 2 must be a string, not a list");
    parse_bad(HEAD "steps:\n  - subject: [a, b, c, d, e, f, g, h, i, j, k]\n"
                   "    body: b\n",
              MF_ELIMIT, "5:14", "has 11 variants; the limit is 10");
    parse_bad(HEAD "steps:\n  - subject: \"two\\nlines\"\n    body: b\n", MF_ECONFIG,
              "5:14", "must be one line");
    parse_bad(HEAD "steps:\n  - subject: |\n      a\n    body: b\n", MF_ECONFIG,
              "5:14", "must be one line");
    parse_bad(HEAD "steps:\n  - subject: \"a\\0b\"\n    body: b\n", MF_ECONFIG,
              "5:14", "the value holds a NUL character (\\0); remove it");
    parse_bad(HEAD "steps:\n  - subject: s\n    body: \"\\e[31m\"\n", MF_ECONFIG,
              "6:11", "control character 0x1b");
    parse_bad(HEAD "steps:\n  - subject: \"\"\n    body: b\n", MF_ECONFIG, "5:14",
              "the 'subject' of step 1 is empty");

    /* size limits: a subject over 998 bytes, a body over 64 KiB */
    size_t big = CAMPAIGN_MAX_TEXT + 10;
    char *y = malloc(big + 200);
    assert_non_null(y);
    int n = snprintf(y, 200, HEAD "steps:\n  - subject: ");
    memset(y + n, 'x', 999);
    strcpy(y + n + 999, "\n    body: b\n");
    parse_bad(y, MF_ELIMIT, "5:14", "is 999 bytes long; the limit is 998");
    n = snprintf(y, 200, HEAD "steps:\n  - subject: s\n    body: ");
    memset(y + n, 'x', big);
    strcpy(y + n + big, "\n");
    parse_bad(y, MF_ELIMIT, "6:11", "the limit is 65536");
    free(y);

    /* the whole input over 1 MiB */
    size_t huge = CAMPAIGN_MAX_FILE + 1;
    y = malloc(huge);
    assert_non_null(y);
    memset(y, '#', huge);
    struct campaign_spec *c = NULL;
    struct mf_err e;
    assert_int_equal(campaign_parse(y, huge, "t.yaml", &c, &e), MF_ELIMIT);
    assert_null(c);
    assert_non_null(strstr(e.detail, "t.yaml: the file is 1048577 bytes"));
    free(y);
}

static void test_key_errors(void **state)
{
    (void)state;
    /* unknown keys, with and without a suggestion */
    parse_bad(HEAD "steps:\n  - subject: s\n    body: b\n  - delay: 2 days\n"
                   "    subjct: x\n",
              MF_ECONFIG, "8:5", "unknown key 'subjct' in step 2; did you mean 'subject'?");
    parse_bad(HEAD "stop_on_reply: true\n" STEP1, MF_ECONFIG, "4:1",
              "unknown key 'stop_on_reply' in the campaign; the keys here are: name, ");
    parse_bad("nmae: t\n", MF_ECONFIG, "1:1", "did you mean 'name'?");
    parse_bad(HEAD "window: {strat: \"10:00\"}\n" STEP1, MF_ECONFIG, "4:10",
              "unknown key 'strat' in 'window'; did you mean 'start'?");
    parse_bad(HEAD "body: x\n" STEP1, MF_ECONFIG, "4:1",
              "'body' belongs to a step: indent it under 'steps:'");
    parse_bad("name: t\nunsubscribe: {text: bye, URL: https://a.b}\n", MF_ECONFIG,
              "2:26", "unknown key 'URL' in 'unsubscribe'; did you mean 'url'?");
    /* duplicate keys */
    parse_bad(HEAD "name: u\n" STEP1, MF_ECONFIG, "4:1",
              "duplicate key 'name' (first at line 1); remove one");
    parse_bad(HEAD "steps:\n  - subject: s\n    body: b\n    subject: t\n",
              MF_ECONFIG, "7:5", "duplicate key 'subject' (first at line 5)");
    /* a non-scalar key */
    parse_bad("? [a]\n: b\n", MF_ECONFIG, "1:3", "a key must be a plain name, not a list");
}

static void test_missing_keys(void **state)
{
    (void)state;
    parse_bad("unsubscribe: {text: bye}\npostal_address: here\n" STEP1, MF_ECONFIG,
              "1:1", "the required key 'name' is missing");
    parse_bad("name: t\npostal_address: here\n" STEP1, MF_ECONFIG, "1:1",
              "the required key 'unsubscribe' is missing");
    parse_bad("name: t\nunsubscribe: {url: https://a.example}\n", MF_ECONFIG,
              "2:14", "'unsubscribe' has no 'text'");
    parse_bad("name: t\nunsubscribe: {text: bye}\n" STEP1, MF_ECONFIG, "1:1",
              "the required key 'postal_address' is missing; add e.g.");
    parse_bad(HEAD, MF_ECONFIG, "1:1", "the required key 'steps' is missing");
    parse_bad(HEAD "steps:\n  - body: b\n", MF_ECONFIG, "5:5",
              "step 1 has no 'subject'");
    parse_bad(HEAD "steps:\n  - subject: s\n", MF_ECONFIG, "5:5",
              "step 1 has no 'body'; add 'body: |'");
    parse_bad(HEAD STEP1 "  - delay: 1d\n    new_thread: true\n    body: b\n",
              MF_ECONFIG, "7:5",
              "step 2 starts a new thread (new_thread: true) and needs a 'subject'");
    parse_bad(HEAD STEP1 "  - delay: 1d\n    new_thread: true\n    subject:\n"
                         "    body: b\n",
              MF_ECONFIG, "9:13", "the 'subject' of step 2 is empty");
    parse_bad(HEAD "steps:\n  - subject: s\n    body:\n", MF_ECONFIG, "6:10",
              "the 'body' of step 1 is empty");
    parse_bad(HEAD "steps: []\n", MF_ECONFIG, "4:8", "'steps' is empty");
    parse_bad("name: \"\"\n", MF_ECONFIG, "1:7", "'name' is empty");
}

static void test_type_errors(void **state)
{
    (void)state;
    parse_bad(HEAD "from_name: {first: Dana}\n" STEP1, MF_ECONFIG, "4:12",
              "'from_name' must be a string, not a mapping; quote the text");
    parse_bad(HEAD "steps:\n  subject: s\n", MF_ECONFIG, "5:3",
              "'steps' must be a list, not a mapping; write it as [a, b]");
    parse_bad(HEAD "steps:\n  - just text\n", MF_ECONFIG, "5:5",
              "step 1 must be a mapping, not a string");
    parse_bad(HEAD "window: \"09:00-17:00\"\n" STEP1, MF_ECONFIG, "4:9",
              "'window' must be a mapping, not a string");
    parse_bad(HEAD "html: maybe\n" STEP1, MF_ECONFIG, "4:7",
              "'html' must be true or false, not 'maybe'");
    parse_bad(HEAD "stop_on: reply\n" STEP1, MF_ECONFIG, "4:10",
              "'stop_on' must be a list, not a string");
    parse_bad(HEAD "gap: {min: 1.5}\n" STEP1, MF_ECONFIG, "4:12",
              "'gap.min' must be a whole number from 1 to 86400, not '1.5'");
    parse_bad("- a\n- b\n", MF_ECONFIG, "1:1",
              "a campaign file is a mapping of keys (name:, steps:, ...), not a list");
    parse_bad("", MF_ECONFIG, "1:1", "the file is empty");
    parse_bad("# only a comment\n", MF_ECONFIG, "1:1", "the file is empty");
    parse_bad("name: T Q\n", MF_ECONFIG, "1:7", "'name' may only hold a-z, 0-9");
    parse_bad("name: t\ntimezone_field: lead tz\n", MF_ECONFIG, "2:17",
              "'timezone_field' names a lead field");
    parse_bad(HEAD "from_name: \"Dana\\r\\nBcc: x@y\"\n" STEP1, MF_ECONFIG, "4:12",
              "'from_name' contains the control character 0x0d");
}

static void test_step_errors(void **state)
{
    (void)state;
    parse_bad(HEAD "steps:\n  - delay: 2 days\n    subject: s\n    body: b\n",
              MF_ECONFIG, "5:12", "step 1 is sent at enrolment and takes no delay");
    parse_bad(HEAD STEP1 "  - body: b2\n", MF_ECONFIG, "7:5",
              "step 2 has no 'delay'; add e.g. 'delay: 3 days'");
    parse_bad(HEAD STEP1 "  - delay: three days\n    body: b2\n", MF_ECONFIG, "7:12",
              "the 'delay' of step 2 is 'three days'; write 'N days' or 'N business days'");
    parse_bad(HEAD STEP1 "  - delay: 3\n    body: b2\n", MF_ECONFIG, "7:12",
              "is '3'; write 'N days'");
    parse_bad(HEAD STEP1 "  - delay: 3 weeks\n    body: b2\n", MF_ECONFIG, "7:12",
              "is '3 weeks'");
    parse_bad(HEAD STEP1 "  - delay: 0 days\n    body: b2\n", MF_ECONFIG, "7:12",
              "must be from 1 to 365 days, not 0");
    parse_bad(HEAD STEP1 "  - delay: 366 days\n    body: b2\n", MF_ECONFIG, "7:12",
              "must be from 1 to 365 days, not 366");
    parse_bad(HEAD STEP1 "  - delay: [3 days]\n    body: b2\n", MF_ECONFIG, "7:12",
              "the 'delay' of step 2 must be a string, not a list");
    parse_bad(HEAD STEP1 "  - delay: 1 day\n    subject: Re-pitch\n    body: b2\n",
              MF_ECONFIG, "8:5",
              "step 2 follows up in the thread of the step before and takes no "
              "subject");
    parse_bad(HEAD STEP1 "  - delay: 1 day\n    new_thread: sure\n    body: b2\n",
              MF_ECONFIG, "8:17", "'new_thread' of step 2 must be true or false");

    char y[2048];
    int n = snprintf(y, sizeof y, HEAD STEP1);
    for (int i = 2; i <= 11; i++)
        n += snprintf(y + n, sizeof y - (size_t)n, "  - delay: 1d\n    body: b%d\n", i);
    parse_bad(y, MF_ELIMIT, "25:5", "a campaign has at most 10 steps; this is step 11");
    y[n - 28] = '\0'; /* drop step 11: 10 steps are fine */
    campaign_free(parse_ok(y));
}

static void test_value_errors(void **state)
{
    (void)state;
    parse_bad(HEAD "window: {start: 9am}\n" STEP1, MF_ECONFIG, "4:17",
              "'window.start' is '9am'; write a 24-hour time from 00:00 to 23:59 "
              "as \"HH:MM\"");
    parse_bad(HEAD "window:\n  end: \"24:00\"\n" STEP1, MF_ECONFIG, "5:8",
              "'window.end' is '24:00'");
    parse_bad(HEAD "window:\n  start: \"9:60\"\n" STEP1, MF_ECONFIG, "5:10", "is '9:60'");
    parse_bad(HEAD "window:\n  start: \"18:00\"\n  end: \"08:00\"\n" STEP1, MF_ECONFIG,
              "6:8", "'window.end' (08:00) must be after 'window.start' (18:00)");
    parse_bad(HEAD "window: {start: \"17:00\"}\n" STEP1, MF_ECONFIG, "4:9",
              "'window.end' (17:00) must be after 'window.start' (17:00)");
    parse_bad(HEAD "window: {days: [mon, funday]}\n" STEP1, MF_ECONFIG, "4:22",
              "'funday' is not a day; use mon, tue");
    parse_bad(HEAD "window: {days: \"mon, tue\"}\n" STEP1, MF_ECONFIG, "4:16",
              "(as a list: [mon, tue])");
    parse_bad(HEAD "window: {days: []}\n" STEP1, MF_ECONFIG, "4:16",
              "'window.days' is empty");
    parse_bad(HEAD "gap: {min: 200}\n" STEP1, MF_ECONFIG, "4:12",
              "'gap.min' (200 s) is more than 'gap.max' (190 s)");
    parse_bad(HEAD "gap: {min: 0}\n" STEP1, MF_ECONFIG, "4:12",
              "from 1 to 86400, not '0'");
    parse_bad(HEAD "gap: {max: 86401}\n" STEP1, MF_ECONFIG, "4:12", "not '86401'");
    parse_bad(HEAD "gap: {min: -5}\n" STEP1, MF_ECONFIG, "4:12", "not '-5'");
    parse_bad(HEAD "stop_on: [reply, bounced, unsubscribe]\n" STEP1, MF_ECONFIG,
              "4:18", "'bounced' is not a stop event; did you mean 'bounce'?");
    parse_bad(HEAD "stop_on: [reply, bounce]\n" STEP1, MF_ECONFIG, "4:10",
              "'stop_on' must include unsubscribe");
    parse_bad("name: t\nunsubscribe: {text: bye, url: \"http://go.example.com/u\"}\n",
              MF_ECONFIG, "2:31", "'unsubscribe.url' must be an https:// URL");
    parse_bad("name: t\nunsubscribe: {text: bye, url: \"https://\"}\n", MF_ECONFIG,
              "2:31", "must be an https:// URL");
    parse_bad("name: t\nunsubscribe: {text: bye, url: \"https://a b\"}\n", MF_ECONFIG,
              "2:31", "must be an https:// URL");
    char y[1200];
    int n = snprintf(y, sizeof y, "name: t\nunsubscribe: {text: bye, url: https://");
    memset(y + n, 'a', CAMPAIGN_MAX_URL - 7);
    strcpy(y + n + CAMPAIGN_MAX_URL - 7, "}\n");
    parse_bad(y, MF_ELIMIT, "2:31", "'unsubscribe.url' is 1025 bytes long; the limit is 1024");
    parse_bad("name: t\nunsubscribe: {text: bye, mailto: example.com}\n", MF_ECONFIG,
              "2:34", "'unsubscribe.mailto' must be a bare address");
    parse_bad("name: t\nunsubscribe: {text: bye, mailto: \"a b@example.com\"}\n",
              MF_ECONFIG, "2:34", "must be a bare address");
    parse_bad("name: t\nunsubscribe: {text: bye, mailto: \"mailto:u@example.com\"}\n",
              MF_ECONFIG, "2:34", "(without 'mailto:')");
}

static void test_auto_reply(void **state)
{
    (void)state;
    struct campaign_spec *c = parse_ok(HEAD "auto_reply: defer\n" STEP1);
    assert_true(c->defer_on_auto_reply);
    assert_int_equal(c->stop_mask, CAMPAIGN_STOP_REPLY | CAMPAIGN_STOP_BOUNCE |
                                       CAMPAIGN_STOP_UNSUBSCRIBE);
    campaign_free(c);
    c = parse_ok(HEAD "stop_on: [reply, unsubscribe]\nauto_reply: Defer\n" STEP1);
    assert_true(c->defer_on_auto_reply);
    campaign_free(c);
    /* ignore, and null, are the default; stopping stays stop_on's */
    c = parse_ok(HEAD "auto_reply: ignore\nstop_on: [reply, unsubscribe, auto_reply]\n" STEP1);
    assert_false(c->defer_on_auto_reply);
    assert_true(c->stop_mask & CAMPAIGN_STOP_AUTO_REPLY);
    campaign_free(c);
    c = parse_ok(HEAD "auto_reply: ~\n" STEP1);
    assert_false(c->defer_on_auto_reply);
    campaign_free(c);

    /* defer and stop_on's auto_reply contradict each other, in either order */
    parse_bad(HEAD "stop_on: [reply, unsubscribe, auto_reply]\nauto_reply: defer\n" STEP1,
              MF_ECONFIG, "5:13",
              "'auto_reply: defer' waits for the out-of-office's return date, but "
              "'stop_on' lists auto_reply (line 4), which ends the sequence; keep one: "
              "remove auto_reply from 'stop_on', or write auto_reply: ignore");
    parse_bad(HEAD "auto_reply: defer\nstop_on:\n  - unsubscribe\n  - auto_reply\n" STEP1,
              MF_ECONFIG, "4:13", "'stop_on' lists auto_reply (line 7)");
    /* values */
    parse_bad(HEAD "auto_reply: stop\n" STEP1, MF_ECONFIG, "4:13",
              "to stop a sequence on an out-of-office, list auto_reply in 'stop_on'");
    parse_bad(HEAD "auto_reply: defr\n" STEP1, MF_ECONFIG, "4:13",
              "'auto_reply' is 'defr'; did you mean 'defer'? use ignore (the sequence "
              "goes on) or defer");
    parse_bad(HEAD "auto_reply: yes\n" STEP1, MF_ECONFIG, "4:13",
              "'auto_reply' is 'yes'; use ignore");
    parse_bad(HEAD "auto_reply: [defer]\n" STEP1, MF_ECONFIG, "4:13",
              "'auto_reply' must be a string, not a list");
    parse_bad(HEAD "autoreply: defer\n" STEP1, MF_ECONFIG, "4:1",
              "unknown key 'autoreply' in the campaign; did you mean 'auto_reply'?");
}

static void test_yaml_errors(void **state)
{
    (void)state;
    parse_bad("name: t\nsteps:\n  - subject: \"open\n", MF_ECONFIG, "4:1",
              "YAML syntax error: found unexpected end of stream while scanning "
              "a quoted scalar");
    parse_bad("name: t\n  bad: indent\n", MF_ECONFIG, "2:6",
              "YAML syntax error: mapping values are not allowed in this context");
    parse_bad("name: t\nsteps:\n  - subject: s\n   body: b\n", MF_ECONFIG, "4:4",
              "YAML syntax error");
    parse_bad("name: [t\n", MF_ECONFIG, "2:1", "YAML syntax error");
    /* anchors and aliases */
    parse_bad("name: &n t\npostal_address: *n\n", MF_ECONFIG, "1:7",
              "anchors (&name) and aliases (*name) are not supported");
    parse_bad("a: &a [x, x]\nb: [*a, *a]\n", MF_ECONFIG, "1:4", "anchors");
    parse_bad("name: t\npostal_address: *n\n", MF_ECONFIG, "2:17",
              "aliases (*name) are not supported");
}

static void test_yaml_structure(void **state)
{
    (void)state;
    parse_bad("name: !!binary dA==\n", MF_ECONFIG, "1:7",
              "the tag 'tag:yaml.org,2002:binary' is not supported");
    parse_bad("name: !custom t\n", MF_ECONFIG, "1:7", "the tag '!custom' is not supported");
    parse_bad(HEAD STEP1 "---\nname: u\n", MF_ECONFIG, "7:1",
              "a campaign file holds one YAML document");
    parse_bad("name: \"\\xff\"\n\xff\n", MF_ECONFIG, "2:1",
              "the file is not valid text (invalid leading UTF-8 octet)");
    /* !!str makes a plain value text; a quoted "true" is still a bool */
    struct campaign_spec *c = parse_ok("name: !!str 2024\nhtml: \"true\"\n"
                                       "unsubscribe: {text: bye}\n"
                                       "postal_address: here\n" STEP1);
    assert_string_equal(c->name, "2024");
    assert_true(c->html);
    campaign_free(c);
    /* nesting */
    char y[256];
    snprintf(y, sizeof y, "name: %s\n", "[[[[[[[[[[[[[[[[[[[[x]]]]]]]]]]]]]]]]]]]");
    parse_bad(y, MF_ELIMIT, "1:22", "nested too deeply");
}

static void test_pick_variant(void **state)
{
    (void)state;
    struct campaign_variant v[3] = {{"a", 1, 1}, {"b", 2, 2}, {"c", 7, 3}};
    unsigned count[3] = {0};
    for (uint64_t seed = 0; seed < 1000; seed++) {
        size_t i = campaign_pick_variant(v, 3, seed);
        assert_true(i < 3);
        assert_int_equal(i, campaign_pick_variant(v, 3, seed)); /* deterministic */
        count[i]++;
    }
    /* expected 100 / 200 / 700, within 5 points of 1000 */
    assert_in_range(count[0], 50, 150);
    assert_in_range(count[1], 150, 250);
    assert_in_range(count[2], 650, 750);

    struct campaign_variant eq[2] = {{"a", 1, 1}, {"b", 1, 2}};
    unsigned c0 = 0;
    for (uint64_t seed = 0; seed < 1000; seed++)
        c0 += campaign_pick_variant(eq, 2, seed * 0x100000001ull) == 0;
    assert_in_range(c0, 450, 550);

    struct campaign_variant zero[3] = {{"a", 0, 1}, {"b", 3, 2}, {"c", 0, 3}};
    for (uint64_t seed = 0; seed < 100; seed++)
        assert_int_equal(campaign_pick_variant(zero, 3, seed), 1);
    assert_int_equal(campaign_pick_variant(v, 1, 12345), 0);
    assert_int_equal(campaign_pick_variant(v, 0, 1), 0);
    assert_int_equal(campaign_pick_variant(NULL, 3, 1), 0);

    /* parsed weights feed the pick */
    struct campaign_spec *c = parse_ok(
        HEAD "steps:\n  - subject: [a, {text: b, weight: 3}]\n    body: b\n");
    unsigned nb = 0;
    for (uint64_t seed = 0; seed < 1000; seed++)
        nb += campaign_pick_variant(c->steps[0].subjects, c->steps[0].nsubjects,
                                    seed) == 1;
    assert_in_range(nb, 700, 800);
    campaign_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_round_trip),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_variant_errors),
        cmocka_unit_test(test_key_errors),
        cmocka_unit_test(test_missing_keys),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_step_errors),
        cmocka_unit_test(test_value_errors),
        cmocka_unit_test(test_auto_reply),
        cmocka_unit_test(test_yaml_errors),
        cmocka_unit_test(test_yaml_structure),
        cmocka_unit_test(test_pick_variant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
