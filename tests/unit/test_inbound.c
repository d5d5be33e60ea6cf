/* engine/inbound: one message that came back to a sending mailbox —
 * classified, matched to what was sent (strict, recipient, probable, token)
 * and its effects applied in one transaction — against a temporary store
 * holding an account, a mailbox "mb", campaigns, leads, their enrollments,
 * the step-1 message sent to each and its send-log row. No network. Every
 * case checks the outcome AND the store afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_tmpdir.h"

#include "engine/campaign.h"
#include "engine/inbound.h"
#include "engine/render.h"
#include "engine/store.h"

static struct store *st;
static unsigned char key[32];
static struct inbound_cfg cfg;
static int64_t now;
static int64_t camp;      /* default stop_on: reply, bounce, unsubscribe */
static int64_t camp_ooo;  /* stop_on has auto_reply */
static int64_t camp_co;   /* stop_company_on_reply: true */

#define SPEC_HEAD                                                                  \
    "window: { start: \"00:00\", end: \"23:59\", days: everyday }\n"               \
    "gap: { min: 1, max: 1 }\n"
#define SPEC_TAIL                                                                  \
    "unsubscribe:\n"                                                               \
    "  text: \"Reply unsubscribe to stop.\"\n"                                     \
    "  mailto: unsub@fleet.test\n"                                                 \
    "postal_address: \"Inbound Test Ltd, 1 Loop St\"\n"                            \
    "steps:\n"                                                                     \
    "  - subject: \"Quick question\"\n"                                            \
    "    body: \"Hi {{first_name|there}}, a short note.\"\n"                       \
    "  - delay: 1 day\n"                                                           \
    "    body: \"Following up on my note.\"\n"

static const char spec_default[] = "name: c1\n" SPEC_HEAD SPEC_TAIL;
static const char spec_ooo[] = "name: ooo\n" SPEC_HEAD
                               "stop_on: [reply, bounce, unsubscribe, auto_reply]\n" SPEC_TAIL;
static const char spec_co[] = "name: co\n" SPEC_HEAD "stop_company_on_reply: true\n" SPEC_TAIL;

#define THREAD "Quick question"

/* ---- the world ------------------------------------------------------------------------ */

static int64_t campaign(const char *name, const char *spec)
{
    struct mf_err e;
    /* the spec must parse: inbound silently falls back to the default
     * stop_on when it does not, which would hide what a case tests */
    struct campaign_spec *cs = NULL;
    if (campaign_parse(spec, strlen(spec), name, &cs, &e) != MF_OK) {
        fprintf(stderr, "campaign %s: %s\n", name, e.detail);
        return 0;
    }
    int nsteps = (int)cs->nsteps;
    campaign_free(cs);
    int64_t id = 0;
    if (store_campaign_put(st, name, spec, nsteps, &id, &e) != MF_OK ||
        store_campaign_set_status(st, id, "active", "", &e) != MF_OK) {
        fprintf(stderr, "campaign %s: %s\n", name, e.detail);
        return 0;
    }
    return id;
}

static int setup(void **state)
{
    (void)state;
    if (tmpdir_make("inbound") != 0)
        return -1;
    char db[300];
    snprintf(db, sizeof db, "%s/store.db", dir);
    struct mf_err e;
    st = store_open(db, &e);
    if (!st) {
        fprintf(stderr, "store_open: %s\n", e.detail);
        return -1;
    }
    now = (int64_t)time(NULL);
    struct store_account a = {.port = 587};
    snprintf(a.name, sizeof a.name, "mb");
    snprintf(a.host, sizeof a.host, "smtp.fleet.test");
    snprintf(a.security, sizeof a.security, "starttls");
    snprintf(a.user, sizeof a.user, "me@fleet.test");
    snprintf(a.from_addr, sizeof a.from_addr, "me@fleet.test");
    snprintf(a.password_env, sizeof a.password_env, "MB_PW");
    struct store_mailbox m = {.per_minute = 30, .rcpt_per_day = 10000, .max_connections = 3,
                              .daily_cap = 1000, .started_at = now - 30 * 86400};
    snprintf(m.account, sizeof m.account, "mb");
    snprintf(m.timezone, sizeof m.timezone, "UTC");
    if (store_account_put(st, &a, false, &e) != MF_OK || store_mailbox_put(st, &m, &e) != MF_OK) {
        fprintf(stderr, "setup: %s\n", e.detail);
        return -1;
    }
    camp = campaign("c1", spec_default);
    camp_ooo = campaign("ooo", spec_ooo);
    camp_co = campaign("co", spec_co);
    if (!camp || !camp_ooo || !camp_co || render_unsub_key(st, key, &e) != MF_OK)
        return -1;
    memset(&cfg, 0, sizeof cfg);
    cfg.st = st;
    cfg.unsub_key = key;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_close(st);
    st = NULL;
    return tmpdir_remove();
}

struct lead {
    int64_t id, enrollment_id, outbox_id;
};

static int first_enrollment(void *ctx, const struct store_enrollment *en)
{
    struct store_enrollment *want = ctx;
    if (en->campaign_id == want->campaign_id) {
        *want = *en;
        return 1;
    }
    return 0;
}

/* The lead's enrollment in a campaign (fails the test when there is none). */
static struct store_enrollment enrollment_of(int64_t lead, int64_t campaign_id)
{
    struct store_enrollment en;
    memset(&en, 0, sizeof en);
    en.campaign_id = campaign_id;
    struct mf_err e;
    assert_int_equal(store_enrollments_of_lead(st, lead, first_enrollment, &en, &e), MF_OK);
    assert_true(en.id > 0);
    return en;
}

/* A lead at address, enrolled in campaign_id, to whom mailbox "mb" sent step
 * 1 as message_id: the outbox row is `sent`, the send log has it, and the
 * enrollment waits for step 2 in the thread THREAD. */
static struct lead lead_sent(const char *address, int64_t campaign_id, const char *message_id)
{
    struct lead l = {0};
    struct mf_err e;
    bool ins = false;
    const char *domain = strchr(address, '@') + 1;
    assert_int_equal(store_lead_add(st, address, domain, "{\"first_name\":\"Pat\"}", "", &l.id,
                                    &ins, &e), MF_OK);
    assert_int_equal(store_enroll(st, campaign_id, l.id, now - 3600, &ins, &e), MF_OK);
    assert_true(ins);
    struct store_enrollment en = enrollment_of(l.id, campaign_id);
    l.enrollment_id = en.id;
    snprintf(en.mailbox, sizeof en.mailbox, "mb");
    snprintf(en.thread_id, sizeof en.thread_id, "%s", message_id);
    snprintf(en.thread_subject, sizeof en.thread_subject, THREAD);
    snprintf(en.last_message_id, sizeof en.last_message_id, "%s", message_id);
    snprintf(en.state, sizeof en.state, "active");
    en.next_step = 1;
    en.next_due = now + 86400;
    assert_int_equal(store_enrollment_update(st, &en, &e), MF_OK);
    char raw[600];
    int n = snprintf(raw, sizeof raw,
                     "From: me@fleet.test\r\nTo: %s\r\nSubject: " THREAD "\r\n"
                     "Message-ID: %s\r\n\r\nHi Pat, a short note.\r\n", address, message_id);
    struct store_outbox ob;
    memset(&ob, 0, sizeof ob);
    ob.enrollment_id = en.id;
    ob.step = 0;
    snprintf(ob.mailbox, sizeof ob.mailbox, "mb");
    snprintf(ob.message_id, sizeof ob.message_id, "%s", message_id);
    snprintf(ob.sender, sizeof ob.sender, "me@fleet.test");
    snprintf(ob.rcpt, sizeof ob.rcpt, "%s", address);
    snprintf(ob.subject, sizeof ob.subject, THREAD);
    ob.raw = raw;
    ob.raw_len = (size_t)n;
    assert_int_equal(store_outbox_add(st, &ob, &l.outbox_id, &e), MF_OK);
    assert_int_equal(store_outbox_set_state(st, l.outbox_id, "sent", NULL, true, &e), MF_OK);
    assert_int_equal(store_sendlog_add(st, "mb", "", (now - 3600) * 1000, 1, 1, l.outbox_id, &e),
                     MF_OK);
    return l;
}

/* ---- looking at the store ---------------------------------------------------------------- */

static void lead_status(int64_t lead, const char *want)
{
    struct store_lead l;
    struct mf_err e;
    assert_int_equal(store_lead_get(st, lead, &l, &e), MF_OK);
    assert_string_equal(l.status, want);
    store_lead_clear(&l);
}

/* The enrollment's state; a stopped one's reason names the event. */
static void enrollment_is(int64_t lead, int64_t campaign_id, const char *state,
                          int64_t event_id)
{
    struct store_enrollment en = enrollment_of(lead, campaign_id);
    if (strcmp(en.state, state) != 0)
        fail_msg("lead %lld in campaign %lld: enrollment %s (reason \"%s\"), want %s",
                 (long long)lead, (long long)campaign_id, en.state, en.reason, state);
    if (event_id) {
        char tag[64];
        snprintf(tag, sizeof tag, "(event %lld)", (long long)event_id);
        if (!strstr(en.reason, tag))
            fail_msg("enrollment reason \"%s\" does not name %s", en.reason, tag);
    }
}

static bool suppressed(const char *address, char *reason, size_t size)
{
    bool yes = false;
    struct mf_err e;
    const char *domain = strchr(address, '@') + 1;
    assert_int_equal(store_suppressed(st, address, domain, &yes, reason, size, &e), MF_OK);
    return yes;
}

static int64_t events_of_kind(const char *kind)
{
    int64_t n = -1;
    struct mf_err e;
    assert_int_equal(store_events_count(st, kind, "", 0, 0, &n, &e), MF_OK);
    return n;
}

static int count_inbox(void *ctx, const struct store_event *ev)
{
    (void)ev;
    (*(int *)ctx)++;
    return 0;
}

/* Events made from mail (all kinds, or replies only). */
static int inbox(bool all)
{
    int n = 0;
    struct mf_err e;
    assert_int_equal(store_inbox(st, all, 0, 0, count_inbox, &n, &e), MF_OK);
    return n;
}

static struct store_event event(int64_t id)
{
    struct store_event ev;
    struct mf_err e;
    assert_int_equal(store_event_get(st, id, &ev, &e), MF_OK);
    return ev;
}

static struct inbound_outcome process(const char *msg)
{
    struct inbound_outcome o;
    struct mf_err e;
    mf_err_clear(&e);
    enum mf_rc rc = inbound_process(&cfg, "mb", msg, strlen(msg), now, &o, &e);
    if (rc != MF_OK)
        fail_msg("inbound_process: %s: %s", mf_rc_name(rc), e.detail);
    return o;
}

/* ---- messages ----------------------------------------------------------------------------- */

/* A person's message: from, extra header lines (each ending in \r\n), body. */
static const char *person(char *buf, size_t size, const char *from, const char *msgid,
                          const char *subject, const char *headers, const char *body)
{
    snprintf(buf, size,
             "From: Someone <%s>\r\nTo: me@fleet.test\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\n"
             "Subject: %s\r\nMessage-ID: %s\r\n%s\r\n%s\r\n", from, subject, msgid, headers, body);
    return buf;
}

/* An RFC 3464 report: recipient group fields and, when original is not
 * NULL, the original message's headers naming that Message-ID. */
static const char *dsn(char *buf, size_t size, const char *msgid, const char *group,
                       const char *rcpt, const char *original)
{
    char orig[400] = "";
    if (original)
        snprintf(orig, sizeof orig,
                 "--BND\nContent-Type: text/rfc822-headers\n\n"
                 "From: me@fleet.test\nTo: %s\nSubject: " THREAD "\nMessage-ID: %s\n\n",
                 rcpt, original);
    snprintf(buf, size,
             "From: MAILER-DAEMON@mx.remote.test (Mail Delivery System)\n"
             "To: me@fleet.test\n"
             "Subject: Undelivered Mail Returned to Sender\n"
             "Date: Mon, 3 Mar 2025 10:00:00 +0000\n"
             "Message-ID: %s\n"
             "Auto-Submitted: auto-replied\n"
             "MIME-Version: 1.0\n"
             "Content-Type: multipart/report; report-type=delivery-status; boundary=\"BND\"\n"
             "\n"
             "--BND\nContent-Type: text/plain\n\n"
             "This is the mail system at host mx.remote.test.\n"
             "I'm sorry to have to inform you that your message could not\n"
             "be delivered to one or more recipients.\n\n"
             "--BND\nContent-Type: message/delivery-status\n\n"
             "Reporting-MTA: dns; mx.remote.test\n"
             "Arrival-Date: Mon, 3 Mar 2025 09:59:58 +0000\n\n"
             "%s\n"
             "%s"
             "--BND--\n", msgid, group, orig);
    return buf;
}

static const char *hard_group(char *buf, size_t size, const char *rcpt)
{
    snprintf(buf, size,
             "Final-Recipient: rfc822; %s\nOriginal-Recipient: rfc822; %s\n"
             "Action: failed\nStatus: 5.1.1\n"
             "Diagnostic-Code: smtp; 550 5.1.1 <%s>: Recipient address rejected: "
             "User unknown in virtual mailbox table\n", rcpt, rcpt, rcpt);
    return buf;
}

static const char *soft_group(char *buf, size_t size, const char *rcpt)
{
    snprintf(buf, size,
             "Final-Recipient: rfc822; %s\nAction: failed\nStatus: 4.2.2\n"
             "Diagnostic-Code: smtp; 452 4.2.2 <%s>: Mailbox full\n", rcpt, rcpt);
    return buf;
}

/* ---- 1 + 2: a strict reply, and the same message again --------------------------------- */

static void test_reply_strict_then_duplicate(void **state)
{
    (void)state;
    struct lead l = lead_sent("ann@one.test", camp, "<m1@mf.test>");
    char msg[2000];
    person(msg, sizeof msg, "ann@one.test", "<r1@one.test>", "Re: " THREAD,
           "In-Reply-To: <m1@mf.test>\r\nReferences: <m1@mf.test>\r\n",
           "Sounds good, call me on Tuesday.\r\n\r\nAnn");
    struct inbound_outcome o = process(msg);
    assert_int_equal(o.kind, CLASSIFY_REPLY);
    assert_string_equal(o.matched, "strict");
    assert_false(o.duplicate);
    assert_true(o.event_id > 0);
    assert_int_equal(o.lead_id, l.id);
    assert_false(o.paused);
    assert_true(o.note[0] != '\0');
    lead_status(l.id, "replied");
    enrollment_is(l.id, camp, "stopped", o.event_id);
    assert_false(suppressed("ann@one.test", NULL, 0)); /* a reply is not an opt-out */

    struct store_event ev = event(o.event_id);
    assert_string_equal(ev.kind, "reply");
    assert_string_equal(ev.matched, "strict");
    assert_true(ev.inbound);
    assert_int_equal(ev.lead_id, l.id);
    assert_int_equal(ev.campaign_id, camp);
    assert_int_equal(ev.outbox_id, l.outbox_id);
    assert_int_equal(ev.step, 1);
    assert_int_equal(ev.at, now);
    assert_string_equal(ev.mailbox, "mb");
    assert_string_equal(ev.sender, "ann@one.test");
    assert_string_equal(ev.subject, "Re: " THREAD);
    assert_string_equal(ev.lead, "ann@one.test");
    assert_string_equal(ev.campaign, "c1");
    char *raw = NULL;
    size_t len = 0;
    struct mf_err e;
    assert_int_equal(store_event_raw(st, o.event_id, &raw, &len, &e), MF_OK);
    assert_int_equal(len, strlen(msg));
    assert_memory_equal(raw, msg, len);
    free(raw);
    assert_int_equal(events_of_kind("reply"), 1);
    assert_int_equal(inbox(false), 1);
    assert_int_equal(inbox(true), 1);

    /* 2. the same message again (another folder, a rescan): nothing more */
    struct inbound_outcome again = process(msg);
    assert_true(again.duplicate);
    assert_int_equal(again.event_id, 0);
    assert_int_equal(events_of_kind("reply"), 1);
    assert_int_equal(inbox(true), 1);
    lead_status(l.id, "replied");
    enrollment_is(l.id, camp, "stopped", o.event_id);

    /* the same message with LF line ends and without a Message-ID: the key is
     * a hash of the header block, stable on a second sighting */
    struct lead l2 = lead_sent("bea@one.test", camp, "<m1b@mf.test>");
    const char *nomid = "From: bea@one.test\nTo: me@fleet.test\nSubject: Re: " THREAD "\n"
                        "In-Reply-To: <m1b@mf.test>\n\nYes please.\n";
    o = process(nomid);
    assert_int_equal(o.kind, CLASSIFY_REPLY);
    assert_true(o.event_id > 0);
    assert_false(o.duplicate);
    lead_status(l2.id, "replied");
    again = process(nomid);
    assert_true(again.duplicate);
    assert_int_equal(again.event_id, 0);
    assert_int_equal(events_of_kind("reply"), 2);
}

/* ---- 3: References only, ours last ------------------------------------------------------- */

static void test_reply_references(void **state)
{
    (void)state;
    struct lead l = lead_sent("cal@three.test", camp, "<m3@mf.test>");
    struct lead other = lead_sent("dee@three.test", camp, "<m3b@mf.test>");
    /* a long reply: the event keeps INBOUND_RAW_MAX octets of it */
    size_t big = INBOUND_RAW_MAX + 10000;
    char *msg = malloc(big + 1000);
    assert_non_null(msg);
    char *body = malloc(big);
    assert_non_null(body);
    for (size_t i = 0; i < big - 1; i++)
        body[i] = (i % 72 == 71) ? '\n' : 'x';
    body[big - 1] = '\0';
    person(msg, big + 1000, "cal@three.test", "<r3@three.test>", "Re: " THREAD,
           "References: <a1@elsewhere.test> <b2@elsewhere.test> <m3@mf.test>\r\n", body);
    struct inbound_outcome o = process(msg);
    assert_int_equal(o.kind, CLASSIFY_REPLY);
    assert_string_equal(o.matched, "strict");
    assert_true(o.event_id > 0);
    assert_int_equal(o.lead_id, l.id);
    lead_status(l.id, "replied");
    enrollment_is(l.id, camp, "stopped", o.event_id);
    struct store_event ev = event(o.event_id);
    assert_int_equal(ev.outbox_id, l.outbox_id);
    char *raw = NULL;
    size_t len = 0;
    struct mf_err e;
    assert_int_equal(store_event_raw(st, o.event_id, &raw, &len, &e), MF_OK);
    assert_int_equal(len, INBOUND_RAW_MAX);
    assert_memory_equal(raw, msg, len);
    free(raw);
    free(body);
    free(msg);
    /* the other lead of the campaign is untouched */
    lead_status(other.id, "active");
    enrollment_is(other.id, camp, "active", 0);
}

/* ---- 4: a stranger --------------------------------------------------------------------- */

static void test_stranger_ignored(void **state)
{
    (void)state;
    struct lead l = lead_sent("eve@four.test", camp, "<m4@mf.test>");
    char msg[2000];
    person(msg, sizeof msg, "someone@stranger.test", "<s4@stranger.test>", "Hello there", "",
           "Do you sell widgets?");
    struct inbound_outcome o = process(msg);
    assert_int_equal(o.kind, CLASSIFY_REPLY);
    assert_string_equal(o.matched, "");
    assert_false(o.duplicate);
    assert_int_equal(o.event_id, 0);
    assert_int_equal(o.lead_id, 0);
    /* even in our thread's words: not a lead, so no probable match */
    person(msg, sizeof msg, "someone@stranger.test", "<s4b@stranger.test>", "Re: " THREAD, "",
           "Who is this?");
    o = process(msg);
    assert_int_equal(o.event_id, 0);
    assert_int_equal(o.lead_id, 0);
    /* nothing stored, nothing changed */
    assert_int_equal(inbox(true), 0);
    assert_int_equal(events_of_kind("reply"), 0);
    lead_status(l.id, "active");
    enrollment_is(l.id, camp, "active", 0);
    assert_false(suppressed("someone@stranger.test", NULL, 0));
    assert_false(suppressed("eve@four.test", NULL, 0));
    /* not stored, so the same message later is not a duplicate either */
    o = process(msg);
    assert_false(o.duplicate);
}

/* ---- 5: probable --------------------------------------------------------------------------- */

static void test_probable(void **state)
{
    (void)state;
    struct lead l = lead_sent("fay@five.test", camp, "<m5@mf.test>");
    char msg[2000];
    /* from the lead, but about something else: not ours to act on */
    person(msg, sizeof msg, "fay@five.test", "<p5a@five.test>", "Lunch on Friday?", "",
           "Are you free?");
    struct inbound_outcome o = process(msg);
    assert_int_equal(o.event_id, 0);
    assert_string_equal(o.matched, "");
    assert_int_equal(inbox(true), 0);
    lead_status(l.id, "active");
    enrollment_is(l.id, camp, "active", 0);

    /* a client that drops In-Reply-To/References, subject "Re: " + the thread */
    person(msg, sizeof msg, "fay@five.test", "<p5b@five.test>", "RE: " THREAD, "",
           "Interested, tell me more.");
    o = process(msg);
    assert_int_equal(o.kind, CLASSIFY_REPLY);
    assert_string_equal(o.matched, "probable");
    assert_true(o.event_id > 0);
    assert_int_equal(o.lead_id, l.id);
    lead_status(l.id, "replied");
    enrollment_is(l.id, camp, "stopped", o.event_id);
    struct store_event ev = event(o.event_id);
    assert_string_equal(ev.matched, "probable");
    assert_string_equal(ev.kind, "reply");
    assert_int_equal(ev.campaign_id, camp);
    assert_int_equal(ev.step, 1);
    assert_int_equal(inbox(true), 1);
}

/* ---- 6: out of office ---------------------------------------------------------------------- */

static void test_auto_reply(void **state)
{
    (void)state;
    struct lead l = lead_sent("gus@six.test", camp, "<m6@mf.test>");
    struct lead lo = lead_sent("hal@six.test", camp_ooo, "<m6o@mf.test>");
    char msg[2000];
    person(msg, sizeof msg, "gus@six.test", "<a6@six.test>", "Automatic reply: " THREAD,
           "In-Reply-To: <m6@mf.test>\r\nAuto-Submitted: auto-replied\r\n",
           "I am out of the office until Monday.");
    struct inbound_outcome o = process(msg);
    assert_int_equal(o.kind, CLASSIFY_AUTO_REPLY);
    assert_string_equal(o.matched, "strict");
    assert_true(o.event_id > 0);
    assert_string_equal(event(o.event_id).kind, "auto-reply");
    /* the default stop_on has no auto-reply: the sequence goes on */
    lead_status(l.id, "active");
    enrollment_is(l.id, camp, "active", 0);
    assert_int_equal(events_of_kind("auto-reply"), 1);
    assert_int_equal(inbox(false), 0); /* the inbox of replies shows none */
    assert_int_equal(inbox(true), 1);

    /* a campaign whose stop_on has auto_reply stops; the lead stays active */
    person(msg, sizeof msg, "hal@six.test", "<a6o@six.test>", "Automatic reply: " THREAD,
           "In-Reply-To: <m6o@mf.test>\r\nAuto-Submitted: auto-replied\r\n",
           "I am out of the office until Monday.");
    o = process(msg);
    assert_int_equal(o.kind, CLASSIFY_AUTO_REPLY);
    assert_string_equal(o.matched, "strict");
    assert_true(o.event_id > 0);
    assert_int_equal(o.lead_id, lo.id);
    enrollment_is(lo.id, camp_ooo, "stopped", o.event_id);
    lead_status(lo.id, "active");
    assert_false(suppressed("hal@six.test", NULL, 0));
    assert_int_equal(events_of_kind("auto-reply"), 2);
}

/* ---- auto_reply: defer ------------------------------------------------------------------- */

static const char spec_defer[] = "name: defer\n" SPEC_HEAD "auto_reply: defer\n" SPEC_TAIL;

/* now + days as "D Month YYYY" (UTC, the C locale's English names), and the
 * unix time of that day's midnight UTC plus `plus` days. */
static int64_t day_text(int days, int plus, char *buf, size_t size)
{
    time_t t = (time_t)(now + (int64_t)days * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%d %B %Y", &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    return (int64_t)timegm(&tm) + (int64_t)plus * 86400;
}

static void test_auto_reply_defer(void **state)
{
    (void)state;
    int64_t cd = campaign("defer", spec_defer);
    assert_true(cd > 0);
    struct lead l = lead_sent("ida@seven.test", cd, "<m7@mf.test>");
    char date[64], body[300], msg[2000];
    int64_t back = day_text(20, 1, date, sizeof date); /* until X: back the day after */
    snprintf(body, sizeof body, "I am out of the office until %s, with limited access.", date);
    person(msg, sizeof msg, "ida@seven.test", "<a7@seven.test>", "Automatic reply: " THREAD,
           "In-Reply-To: <m7@mf.test>\r\nAuto-Submitted: auto-replied\r\n", body);
    struct inbound_outcome o = process(msg);
    assert_int_equal(o.kind, CLASSIFY_AUTO_REPLY);
    struct store_enrollment en = enrollment_of(l.id, cd);
    assert_string_equal(en.state, "active");
    assert_int_equal(en.next_due, back);
    if (!strstr(o.note, "step 2 waits until then (UTC)"))
        fail_msg("note: %s", o.note);
    assert_non_null(strstr(event(o.event_id).detail, "step 2 waits until then"));

    /* an earlier return day moves nothing back; no date changes nothing */
    person(msg, sizeof msg, "ida@seven.test", "<a7b@seven.test>", "Automatic reply: " THREAD,
           "In-Reply-To: <m7@mf.test>\r\nAuto-Submitted: auto-replied\r\n",
           "I am back tomorrow.");
    o = process(msg);
    assert_int_equal(enrollment_of(l.id, cd).next_due, back);
    if (!strstr(o.note, "is due after that anyway"))
        fail_msg("note: %s", o.note);
    person(msg, sizeof msg, "ida@seven.test", "<a7c@seven.test>", "Automatic reply: " THREAD,
           "In-Reply-To: <m7@mf.test>\r\nAuto-Submitted: auto-replied\r\n",
           "I am out of the office until further notice.");
    o = process(msg);
    assert_int_equal(enrollment_of(l.id, cd).next_due, back);
    if (!strstr(o.note, "no return date to wait for"))
        fail_msg("note: %s", o.note);

    /* a campaign that ignores auto-replies keeps its next_due */
    struct lead li = lead_sent("jon@seven.test", camp, "<m7i@mf.test>");
    int64_t due = enrollment_of(li.id, camp).next_due;
    person(msg, sizeof msg, "jon@seven.test", "<a7i@seven.test>", "Automatic reply: " THREAD,
           "In-Reply-To: <m7i@mf.test>\r\nAuto-Submitted: auto-replied\r\n", body);
    o = process(msg);
    assert_int_equal(o.kind, CLASSIFY_AUTO_REPLY);
    assert_int_equal(enrollment_of(li.id, camp).next_due, due);
    assert_null(strstr(o.note, "waits"));

    /* a reply corrected by hand to an auto-reply: resumed, then deferred */
    struct lead lr = lead_sent("kim@seven.test", cd, "<m7r@mf.test>");
    back = day_text(30, 0, date, sizeof date); /* back on X: that day */
    snprintf(body, sizeof body, "Thanks, I'll read it when I am back on %s.", date);
    person(msg, sizeof msg, "kim@seven.test", "<a7r@seven.test>", "Re: " THREAD,
           "In-Reply-To: <m7r@mf.test>\r\n", body);
    o = process(msg);
    assert_int_equal(o.kind, CLASSIFY_REPLY);
    enrollment_is(lr.id, cd, "stopped", o.event_id);
    struct mf_err e;
    assert_int_equal(inbound_reclassify(&cfg, o.event_id, CLASSIFY_AUTO_REPLY, now, &o, &e),
                     MF_OK);
    en = enrollment_of(lr.id, cd);
    assert_string_equal(en.state, "active");
    assert_int_equal(en.next_due, back);
    if (!strstr(o.note, "step 2 waits until then"))
        fail_msg("note: %s", o.note);
}

/* ---- 7: a hard bounce ------------------------------------------------------------------------ */

static void test_hard_bounce(void **state)
{
    (void)state;
    struct lead l = lead_sent("ivy@seven.test", camp, "<m7@mf.test>");
    struct lead other = lead_sent("jon@seven.test", camp, "<m7b@mf.test>");
    char group[600], msg[4000], why[400];
    dsn(msg, sizeof msg, "<b7@mx.remote.test>", hard_group(group, sizeof group, "ivy@seven.test"),
        "ivy@seven.test", "<m7@mf.test>");
    struct inbound_outcome o = process(msg);
    assert_int_equal(o.kind, CLASSIFY_BOUNCE);
    assert_string_equal(o.matched, "strict");
    assert_true(o.event_id > 0);
    assert_int_equal(o.lead_id, l.id);
    assert_false(o.paused); /* 1 bounce in 2 sends: under the minimum sample */
    lead_status(l.id, "bounced");
    enrollment_is(l.id, camp, "stopped", o.event_id);
    assert_true(suppressed("ivy@seven.test", why, sizeof why));
    char tag[64];
    snprintf(tag, sizeof tag, "(event %lld)", (long long)o.event_id);
    assert_non_null(strstr(why, tag));
    struct store_event ev = event(o.event_id);
    assert_string_equal(ev.kind, "bounce");
    assert_string_equal(ev.matched, "strict");
    assert_int_equal(ev.outbox_id, l.outbox_id);
    assert_int_equal(ev.campaign_id, camp);
    assert_non_null(strstr(ev.detail, "ivy@seven.test"));
    assert_non_null(strstr(ev.detail, "5.1.1"));
    assert_int_equal(events_of_kind("bounce"), 1);
    /* the other lead goes on */
    lead_status(other.id, "active");
    enrollment_is(other.id, camp, "active", 0);
    assert_false(suppressed("jon@seven.test", NULL, 0));
    /* the same report again is one event */
    o = process(msg);
    assert_true(o.duplicate);
    assert_int_equal(events_of_kind("bounce"), 1);
}

/* ---- 8: soft bounces -------------------------------------------------------------------------- */

static void test_soft_bounces(void **state)
{
    (void)state;
    struct lead l = lead_sent("kim@eight.test", camp, "<m8@mf.test>");
    char group[600], msg[4000];

    /* a delay notice is recorded only: it does not count as a soft bounce */
    snprintf(group, sizeof group,
             "Final-Recipient: rfc822; kim@eight.test\nAction: delayed\nStatus: 4.4.7\n"
             "Diagnostic-Code: smtp; 451 4.4.7 delivery temporarily suspended\n"
             "Will-Retry-Until: Thu, 6 Mar 2025 10:00:00 +0000\n");
    dsn(msg, sizeof msg, "<d8@mx.remote.test>", group, "kim@eight.test", "<m8@mf.test>");
    struct inbound_outcome o = process(msg);
    assert_int_equal(o.kind, CLASSIFY_BOUNCE);
    assert_true(o.event_id > 0);
    assert_string_equal(event(o.event_id).kind, "delay");
    lead_status(l.id, "active");
    enrollment_is(l.id, camp, "active", 0);

    const char *ids[] = {"<s8a@mx.remote.test>", "<s8b@mx.remote.test>", "<s8c@mx.remote.test>"};
    for (int i = 0; i < 3; i++) {
        dsn(msg, sizeof msg, ids[i], soft_group(group, sizeof group, "kim@eight.test"),
            "kim@eight.test", "<m8@mf.test>");
        o = process(msg);
        assert_int_equal(o.kind, CLASSIFY_BOUNCE);
        assert_string_equal(o.matched, "strict");
        assert_false(o.duplicate);
        assert_true(o.event_id > 0);
        assert_int_equal(o.lead_id, l.id);
        struct store_event ev = event(o.event_id);
        if (i < INBOUND_SOFT_LIMIT - 1) {
            assert_string_equal(ev.kind, "soft-bounce");
            assert_false(suppressed("kim@eight.test", NULL, 0));
            lead_status(l.id, "active");
            enrollment_is(l.id, camp, "active", 0);
        } else {
            /* the limit: handled like a hard bounce, and counted as one */
            assert_string_equal(ev.kind, "bounce");
            assert_true(suppressed("kim@eight.test", NULL, 0));
            lead_status(l.id, "bounced");
            enrollment_is(l.id, camp, "stopped", o.event_id);
        }
    }
    assert_int_equal(events_of_kind("soft-bounce"), INBOUND_SOFT_LIMIT - 1);
    assert_int_equal(events_of_kind("bounce"), 1);
    assert_int_equal(events_of_kind("delay"), 1);
}

/* ---- 9: matched by recipient ------------------------------------------------------------------- */

static void test_bounce_by_recipient(void **state)
{
    (void)state;
    struct lead l = lead_sent("lou@nine.test", camp, "<m9@mf.test>");
    char group[600], msg[4000];
    /* no original headers, no Message-ID of ours anywhere */
    dsn(msg, sizeof msg, "<b9@mx.remote.test>", hard_group(group, sizeof group, "lou@nine.test"),
        NULL, NULL);
    struct inbound_outcome o = process(msg);
    assert_int_equal(o.kind, CLASSIFY_BOUNCE);
    assert_string_equal(o.matched, "recipient");
    assert_true(o.event_id > 0);
    assert_int_equal(o.lead_id, l.id);
    struct store_event ev = event(o.event_id);
    assert_string_equal(ev.kind, "bounce");
    assert_string_equal(ev.matched, "recipient");
    assert_int_equal(ev.outbox_id, l.outbox_id);
    assert_int_equal(ev.campaign_id, camp);
    lead_status(l.id, "bounced");
    assert_true(suppressed("lou@nine.test", NULL, 0));
    enrollment_is(l.id, camp, "stopped", o.event_id);

    /* a bounce for an address this mailbox never wrote to: ignored */
    dsn(msg, sizeof msg, "<b9x@mx.remote.test>",
        hard_group(group, sizeof group, "nobody@nine.test"), NULL, NULL);
    o = process(msg);
    assert_int_equal(o.kind, CLASSIFY_BOUNCE);
    assert_int_equal(o.event_id, 0);
    assert_int_equal(o.lead_id, 0);
    assert_string_equal(o.matched, "");
    assert_false(suppressed("nobody@nine.test", NULL, 0));
    assert_int_equal(inbox(true), 1);
}

/* ---- 10: a complaint (ARF) --------------------------------------------------------------------- */

static void test_complaint(void **state)
{
    (void)state;
    struct lead l = lead_sent("max@ten.test", camp, "<m10@mf.test>");
    const char *msg =
        "From: fbl@feedback.isp.test\r\n"
        "To: me@fleet.test\r\n"
        "Subject: FW: " THREAD "\r\n"
        "Date: Mon, 3 Mar 2025 10:00:00 +0000\r\n"
        "Message-ID: <arf10@feedback.isp.test>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=feedback-report; boundary=\"ARF\"\r\n"
        "\r\n"
        "--ARF\r\nContent-Type: text/plain\r\n\r\n"
        "This is an email abuse report for an email message received from IP 192.0.2.1.\r\n"
        "--ARF\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\n"
        "User-Agent: SomeGenerator/1.0\r\n"
        "Version: 1\r\n"
        "Original-Mail-From: <me@fleet.test>\r\n"
        "Original-Rcpt-To: <max@ten.test>\r\n"
        "Source-IP: 192.0.2.1\r\n"
        "\r\n"
        "--ARF\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        "From: me@fleet.test\r\n"
        "To: max@ten.test\r\n"
        "Subject: " THREAD "\r\n"
        "Message-ID: <m10@mf.test>\r\n"
        "\r\n"
        "--ARF--\r\n";
    struct inbound_outcome o = process(msg);
    assert_int_equal(o.kind, CLASSIFY_COMPLAINT);
    assert_string_equal(o.matched, "strict");
    assert_true(o.event_id > 0);
    assert_int_equal(o.lead_id, l.id);
    lead_status(l.id, "complained");
    assert_true(suppressed("max@ten.test", NULL, 0));
    enrollment_is(l.id, camp, "stopped", o.event_id);
    struct store_event ev = event(o.event_id);
    assert_string_equal(ev.kind, "complaint");
    assert_string_equal(ev.mailbox, "mb"); /* status shows complaints per mailbox */
    int64_t n = 0;
    struct mf_err e;
    assert_int_equal(store_events_count(st, "complaint", "mb", 0, 0, &n, &e), MF_OK);
    assert_int_equal(n, 1);
}

/* ---- 11: unsubscribe by mail -------------------------------------------------------------------- */

static void test_unsubscribe_token(void **state)
{
    (void)state;
    struct lead l = lead_sent("ned@eleven.test", camp, "<m11@mf.test>");
    char token[RENDER_TOKEN_SIZE], subject[200], msg[2000];
    render_unsub_token(key, l.id, camp, token, sizeof token);
    assert_true(strlen(token) > 0);

    /* a forged token (one character changed) from the lead: nothing */
    char forged[RENDER_TOKEN_SIZE];
    snprintf(forged, sizeof forged, "%s", token);
    forged[10] = forged[10] == 'A' ? 'B' : 'A';
    snprintf(subject, sizeof subject, "unsubscribe %s", forged);
    person(msg, sizeof msg, "ned@eleven.test", "<u11f@eleven.test>", subject, "", "");
    struct inbound_outcome o = process(msg);
    assert_int_equal(o.event_id, 0);
    assert_string_equal(o.matched, "");
    assert_false(suppressed("ned@eleven.test", NULL, 0));
    lead_status(l.id, "active");
    enrollment_is(l.id, camp, "active", 0);

    /* a sound token for a lead that does not exist: nothing */
    char ghost[RENDER_TOKEN_SIZE];
    render_unsub_token(key, l.id + 1000, camp, ghost, sizeof ghost);
    snprintf(subject, sizeof subject, "unsubscribe %s", ghost);
    person(msg, sizeof msg, "who@eleven.test", "<u11g@eleven.test>", subject, "", "");
    o = process(msg);
    assert_int_equal(o.event_id, 0);
    assert_int_equal(inbox(true), 0);

    /* without the key, tokens are not read */
    snprintf(subject, sizeof subject, "unsubscribe %s", token);
    person(msg, sizeof msg, "ned@eleven.test", "<u11n@eleven.test>", subject, "", "");
    struct inbound_cfg nokey = cfg;
    nokey.unsub_key = NULL;
    struct mf_err e;
    assert_int_equal(inbound_process(&nokey, "mb", msg, strlen(msg), now, &o, &e), MF_OK);
    assert_int_equal(o.event_id, 0);
    assert_false(suppressed("ned@eleven.test", NULL, 0));

    /* the real one, with no In-Reply-To, from another address even (a
     * forwarding alias): the token names the lead */
    person(msg, sizeof msg, "ned.alias@elsewhere.test", "<u11@eleven.test>", subject, "", "");
    o = process(msg);
    assert_int_equal(o.kind, CLASSIFY_UNSUBSCRIBE);
    assert_string_equal(o.matched, "token");
    assert_true(o.event_id > 0);
    assert_int_equal(o.lead_id, l.id);
    assert_true(suppressed("ned@eleven.test", NULL, 0));
    lead_status(l.id, "unsubscribed");
    enrollment_is(l.id, camp, "stopped", o.event_id);
    struct store_event ev = event(o.event_id);
    assert_string_equal(ev.kind, "unsubscribe");
    assert_string_equal(ev.matched, "token");
    assert_int_equal(ev.campaign_id, camp);
}

/* ---- 12: corrections ------------------------------------------------------------------------------ */

static void test_reclassify(void **state)
{
    (void)state;
    struct lead l = lead_sent("ola@twelve.test", camp, "<m12@mf.test>");
    char msg[2000];
    person(msg, sizeof msg, "ola@twelve.test", "<r12@twelve.test>", "Re: " THREAD,
           "In-Reply-To: <m12@mf.test>\r\n", "Thanks, I will look at it.");
    struct inbound_outcome o = process(msg);
    assert_int_equal(o.kind, CLASSIFY_REPLY);
    int64_t id = o.event_id;
    assert_true(id > 0);
    lead_status(l.id, "replied");
    enrollment_is(l.id, camp, "stopped", id);

    /* it was an auto-reply after all: the sequence resumes */
    struct mf_err e;
    mf_err_clear(&e);
    struct inbound_outcome c;
    assert_int_equal(inbound_reclassify(&cfg, id, CLASSIFY_AUTO_REPLY, now, &c, &e), MF_OK);
    assert_int_equal(c.event_id, id);
    assert_int_equal(c.lead_id, l.id);
    assert_int_equal(c.kind, CLASSIFY_AUTO_REPLY);
    lead_status(l.id, "active");
    enrollment_is(l.id, camp, "active", 0);
    struct store_event ev = event(id);
    assert_string_equal(ev.kind, "auto-reply");
    assert_true(ev.inbound);
    assert_int_equal(events_of_kind("reply"), 0);

    /* no, a reply: stopped again */
    assert_int_equal(inbound_reclassify(&cfg, id, CLASSIFY_REPLY, now, &c, &e), MF_OK);
    lead_status(l.id, "replied");
    enrollment_is(l.id, camp, "stopped", id);
    assert_string_equal(event(id).kind, "reply");

    /* a bounce corrected to a reply: its suppression goes */
    struct lead b = lead_sent("pia@twelve.test", camp, "<m12b@mf.test>");
    char group[600], report[4000];
    dsn(report, sizeof report, "<b12@mx.remote.test>",
        hard_group(group, sizeof group, "pia@twelve.test"), "pia@twelve.test", "<m12b@mf.test>");
    o = process(report);
    assert_true(o.event_id > 0);
    lead_status(b.id, "bounced");
    assert_true(suppressed("pia@twelve.test", NULL, 0));
    assert_int_equal(inbound_reclassify(&cfg, o.event_id, CLASSIFY_REPLY, now, &c, &e), MF_OK);
    assert_false(suppressed("pia@twelve.test", NULL, 0));
    lead_status(b.id, "replied");
    enrollment_is(b.id, camp, "stopped", o.event_id);
    /* ...and to other: nothing of either stays */
    assert_int_equal(inbound_reclassify(&cfg, o.event_id, CLASSIFY_OTHER, now, &c, &e), MF_OK);
    lead_status(b.id, "active");
    enrollment_is(b.id, camp, "active", 0);
    assert_false(suppressed("pia@twelve.test", NULL, 0));

    /* an event not made from mail cannot be corrected */
    bool ins = false;
    assert_int_equal(store_event_add(st, now, "sent", l.id, camp, "mb", l.outbox_id,
                                     "sent step 1", NULL, &ins, &e), MF_OK);
    assert_true(ins);
    /* its id: the newest event; events are numbered in order */
    int64_t sent_id = o.event_id + 1;
    assert_string_equal(event(sent_id).kind, "sent");
    assert_false(event(sent_id).inbound);
    mf_err_clear(&e);
    assert_int_equal(inbound_reclassify(&cfg, sent_id, CLASSIFY_REPLY, now, &c, &e), MF_EINVAL);
    assert_string_equal(event(sent_id).kind, "sent");
    lead_status(l.id, "replied");
    /* an unknown event, a kind out of range */
    assert_int_equal(inbound_reclassify(&cfg, 99999, CLASSIFY_REPLY, now, &c, &e), MF_ENOTFOUND);
    assert_int_equal(inbound_reclassify(&cfg, id, CLASSIFY_KIND_COUNT, now, &c, &e), MF_EINVAL);
    assert_string_equal(event(id).kind, "reply");
}

/* A correction undoes one event's effects, not a later event's: a sequence
 * that a later message would have stopped stays stopped.
 * The later event's stop does not re-tag a row already stopped, so the row
 * keeps the first event's "(event N)": the undo must still leave it stopped
 * because the lead is no longer active (or is suppressed). */
static void test_reclassify_keeps_later_effects(void **state)
{
    (void)state;
    struct lead l = lead_sent("zed@twelve.test", camp, "<mz@mf.test>");
    char msg[2000], token[RENDER_TOKEN_SIZE], subject[200];
    person(msg, sizeof msg, "zed@twelve.test", "<rz@twelve.test>", "Re: " THREAD,
           "In-Reply-To: <mz@mf.test>\r\n", "Maybe later.");
    struct inbound_outcome o = process(msg);
    int64_t reply_id = o.event_id;
    assert_true(reply_id > 0);
    /* then the lead unsubscribes */
    render_unsub_token(key, l.id, camp, token, sizeof token);
    snprintf(subject, sizeof subject, "unsubscribe %s", token);
    person(msg, sizeof msg, "zed@twelve.test", "<uz@twelve.test>", subject, "", "");
    o = process(msg);
    assert_string_equal(o.matched, "token");
    lead_status(l.id, "unsubscribed");
    /* the reply is corrected to an auto-reply: the opt-out still holds */
    struct inbound_outcome c;
    struct mf_err e;
    assert_int_equal(inbound_reclassify(&cfg, reply_id, CLASSIFY_AUTO_REPLY, now, &c, &e),
                     MF_OK);
    lead_status(l.id, "unsubscribed");
    assert_true(suppressed("zed@twelve.test", NULL, 0));
    enrollment_is(l.id, camp, "stopped", 0); /* FAILS today: "active" */

    /* the same with stop_company_on_reply: a's reply stops b, then b replies
     * too; correcting a's reply must not resume b */
    struct lead a = lead_sent("a@acme.test", camp_co, "<ma@mf.test>");
    struct lead b = lead_sent("b@acme.test", camp_co, "<mb@mf.test>");
    person(msg, sizeof msg, "a@acme.test", "<ra@acme.test>", "Re: " THREAD,
           "In-Reply-To: <ma@mf.test>\r\n", "Let's talk.");
    o = process(msg);
    int64_t a_id = o.event_id;
    enrollment_is(b.id, camp_co, "stopped", a_id);
    person(msg, sizeof msg, "b@acme.test", "<rb@acme.test>", "Re: " THREAD,
           "In-Reply-To: <mb@mf.test>\r\n", "Me too.");
    o = process(msg);
    assert_true(o.event_id > 0);
    lead_status(b.id, "replied");
    assert_int_equal(inbound_reclassify(&cfg, a_id, CLASSIFY_AUTO_REPLY, now, &c, &e), MF_OK);
    enrollment_is(a.id, camp_co, "active", 0);
    lead_status(b.id, "replied");
    enrollment_is(b.id, camp_co, "stopped", 0); /* FAILS today: "active" */
}

/* ---- 13: stop_company_on_reply ---------------------------------------------------------------------- */

static void test_company(void **state)
{
    (void)state;
    struct lead a = lead_sent("a@acme.test", camp_co, "<ma@mf.test>");
    struct lead b = lead_sent("b@acme.test", camp_co, "<mb@mf.test>");
    struct lead bc = lead_sent("c@acme.test", camp, "<mc@mf.test>"); /* another campaign */
    struct lead x = lead_sent("x@gmail.com", camp_co, "<mx@mf.test>");
    struct lead y = lead_sent("y@gmail.com", camp_co, "<my@mf.test>");
    char msg[2000];
    person(msg, sizeof msg, "a@acme.test", "<ra@acme.test>", "Re: " THREAD,
           "In-Reply-To: <ma@mf.test>\r\n", "Let's talk.");
    struct inbound_outcome o = process(msg);
    assert_int_equal(o.kind, CLASSIFY_REPLY);
    assert_true(o.event_id > 0);
    lead_status(a.id, "replied");
    enrollment_is(a.id, camp_co, "stopped", o.event_id);
    /* the colleague's sequence in that campaign stops; they did not reply */
    enrollment_is(b.id, camp_co, "stopped", o.event_id);
    lead_status(b.id, "active");
    assert_false(suppressed("b@acme.test", NULL, 0));
    /* the rule is the campaign's: another campaign's lead at acme goes on */
    enrollment_is(bc.id, camp, "active", 0);

    /* a correction undoes the colleague's stop too */
    struct inbound_outcome c;
    struct mf_err e;
    assert_int_equal(inbound_reclassify(&cfg, o.event_id, CLASSIFY_AUTO_REPLY, now, &c, &e),
                     MF_OK);
    enrollment_is(a.id, camp_co, "active", 0);
    enrollment_is(b.id, camp_co, "active", 0);
    assert_int_equal(inbound_reclassify(&cfg, o.event_id, CLASSIFY_REPLY, now, &c, &e), MF_OK);
    enrollment_is(b.id, camp_co, "stopped", o.event_id);

    /* gmail.com is a public provider: x's reply speaks only for x */
    person(msg, sizeof msg, "x@gmail.com", "<rx@gmail.com>", "Re: " THREAD,
           "In-Reply-To: <mx@mf.test>\r\n", "Sure.");
    o = process(msg);
    assert_int_equal(o.kind, CLASSIFY_REPLY);
    assert_true(o.event_id > 0);
    lead_status(x.id, "replied");
    enrollment_is(x.id, camp_co, "stopped", o.event_id);
    enrollment_is(y.id, camp_co, "active", 0);
    lead_status(y.id, "active");
}

/* ---- arguments ------------------------------------------------------------------------------------ */

static void test_bad_arguments(void **state)
{
    (void)state;
    struct inbound_outcome o;
    struct mf_err e;
    assert_int_equal(inbound_process(NULL, "mb", "x", 1, now, &o, &e), MF_EINVAL);
    assert_int_equal(inbound_process(&cfg, NULL, "x", 1, now, &o, &e), MF_EINVAL);
    assert_int_equal(inbound_process(&cfg, "mb", NULL, 1, now, &o, &e), MF_EINVAL);
    assert_int_equal(inbound_process(&cfg, "mb", "x", 1, now, NULL, &e), MF_EINVAL);
    /* not a message: other, nothing stored */
    assert_int_equal(inbound_process(&cfg, "mb", "", 0, now, &o, &e), MF_OK);
    assert_int_equal(o.kind, CLASSIFY_OTHER);
    assert_int_equal(o.event_id, 0);
    enum classify_kind k;
    assert_true(inbound_kind_parse("auto-reply", &k));
    assert_int_equal(k, CLASSIFY_AUTO_REPLY);
    assert_false(inbound_kind_parse("soft-bounce", &k));
    assert_false(inbound_kind_parse(NULL, &k));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_reply_strict_then_duplicate),
        T(test_reply_references),
        T(test_stranger_ignored),
        T(test_probable),
        T(test_auto_reply),
        T(test_auto_reply_defer),
        T(test_hard_bounce),
        T(test_soft_bounces),
        T(test_bounce_by_recipient),
        T(test_complaint),
        T(test_unsubscribe_token),
        T(test_reclassify),
        T(test_reclassify_keeps_later_effects),
        T(test_company),
        T(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
