/* mail/classify: every fixture in tests/fixtures/mail, the reason tables,
 * threading ids, the JSON shape, and hostile input staying bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unit_fixture.h"

#include "mail/classify.h"
#include "util/buf.h"

/* ---- fixtures --------------------------------------------------------------------- */

static void classify_ok(const char *raw, size_t len, struct classify_result *r)
{
    struct mf_err e;
    enum mf_rc rc = classify_message(raw, len, r, &e);
    if (rc != MF_OK)
        fail_msg("classify_message: %s (%s)", mf_rc_name(rc), e.detail);
}

static void classify_file(const char *name, struct classify_result *r)
{
    size_t len;
    char *raw = load_fixture(name, &len);
    classify_ok(raw, len, r);
    free(raw);
}

/* What each fixture must give. For bounces and complaints the one
 * recipient (every fixture has at most one). */
struct want {
    const char *file;
    const char *kind;
    const char *address;       /* NULL: no recipient */
    const char *status, *action;
    bool hard;
    const char *reason;
    const char *diag_has;      /* a substring of the diagnostic */
    const char *original;      /* original_message_id, "" none */
    const char *in_reply_to;   /* "" none */
    size_t nrefs;
};

#define ID(x) "<" x ">"
static const struct want wants[] = {
    {"postfix-user-unknown.eml", "bounce", "nobody@example.org", "5.1.1", "failed", true,
     "userunknown", "User unknown in virtual mailbox table",
     ID("k2j5m7q9r3t5v7x2z4b6d8f3h5.sdgvk0@fleet.example"), "", 0},
    {"postfix-relay-denied.eml", "bounce", "buyer@shop.example.net", "5.7.1", "failed", false,
     "norelaying", "Relay access denied", ID("p4r6t8v2x4z6b2d4f6h8j2l4n6.sdgwnd@fleet.example"),
     "", 0},
    {"exim-failed.eml", "bounce", "lost@example.org", "5.1.1", "failed", true, "userunknown",
     "SMTP error from remote mail server after RCPT TO",
     ID("c3e5g7j9l3n5q7s9u3w5y7a2c4.sdgxq5@fleet.example"), "", 0},
    {"sendmail-user-unknown.eml", "bounce", "gone@example.org", "5.1.1", "failed", true,
     "userunknown", "550 5.1.1 <gone@example.org>... User unknown",
     ID("d4f6h8k2m4p6r8t2v4x6z8b3d5.sdgz1u@fleet.example"), "", 0},
    {"qmail-no-mailbox.eml", "bounce", "nouser@example.org", "5.1.1", "failed", true,
     "userunknown", "no mailbox here by that name",
     ID("e5g7j3l5n7q3s5u7w3y5a7c2e4.sdh0a9@fleet.example"), "", 0},
    {"exchange-online-5.1.10.eml", "bounce", "nobody@fabrikam.example", "5.1.10", "failed", true,
     "userunknown", "RESOLVER.ADR.RecipientNotFound",
     ID("f6h8k4m6p8r4t6v8x4z6b8d3f5.sdh1c2@fleet.example"),
     ID("f6h8k4m6p8r4t6v8x4z6b8d3f5.sdh1c2@fleet.example"), 1},
    {"exchange-online-5.7.708.eml", "bounce", "lea@contoso.example", "5.7.708", "failed", false,
     "blocked", "traffic not accepted from this IP",
     ID("g7j3l5n7q3s5u7w3y5a7c2e4g6.sdhk7r@fleet.example"),
     ID("g7j3l5n7q3s5u7w3y5a7c2e4g6.sdhk7r@fleet.example"), 2},
    {"gmail-nosuchuser.eml", "bounce", "nobody.here@gmail.com", "5.1.1", "failed", true,
     "userunknown", "tried to reach does not exist",
     ID("j2l4n6q8s2u4w6y8a2c4e6g8j3.sdh2m4@mail.gmail.com"),
     ID("j2l4n6q8s2u4w6y8a2c4e6g8j3.sdh2m4@mail.gmail.com"), 1},
    {"yahoo-554.eml", "bounce", "nobody.here@yahoo.com", "5.1.1", "failed", true, "userunknown",
     "554 delivery error: dd This user doesn't have a yahoo.com account",
     ID("k3m5p7r3t5v7x3z5b7d2f4h6k8.sdh3n5@mail.yahoo.com"), "", 0},
    {"amazon-ses.eml", "bounce", "ghost@example.net", "5.1.1", "failed", true, "userunknown",
     "User unknown in relay recipient table", ID("l4n6q8s4u6w8y4a6c8e3g5j7l2.sdh4p6@fleet.example"),
     "", 0},
    {"opensmtpd-user-unknown.eml", "bounce", "nobody@example.org", "5.1.1", "failed", true,
     "userunknown", "User unknown in local recipient table",
     ID("m5p7r3t5v7x3z5b7d2f4h6k8m3.sdh5q7@fleet.example"), "", 0},
    {"mailbox-full-5.2.2.eml", "bounce", "full@example.org", "5.2.2", "failed", false,
     "mailboxfull", "Mailbox full", ID("n6q8s4u6w8y4a6c8e3g5j7l2n4.sdh6r8@fleet.example"), "", 0},
    {"mailbox-full-4.2.2-delayed.eml", "bounce", "busy@example.org", "4.2.2", "delayed", false,
     "mailboxfull", "Mailbox is full, try again later",
     ID("p7r3t5v7x3z5b7d2f4h6k8m3p5.sdh7s9@fleet.example"), "", 0},
    {"global-dsn-utf8.eml", "bounce", "j\xc3\xb6rg@b\xc3\xbcro.example", "5.1.1", "failed", true,
     "userunknown", "User unknown", ID("q8s4u6w8y4a6c8e3g5j7l2n4q6.sdh8t2@fleet.example"), "", 0},
    {"arf-complaint.eml", "complaint", "lead.one@isp.example", "", "", false, "feedback",
     "feedback type abuse", ID("r3t5v7x3z5b7d2f4h6k8m3p5r7.sdh9u3@fleet.example"), "", 0},
    {"ooo-auto-submitted.eml", "auto-reply", NULL, NULL, NULL, false, NULL, NULL, "",
     ID("s4u6w8y4a6c8e3g5j7l2n4q6s8.sdhav4@fleet.example"), 1},
    {"ooo-german-subject.eml", "auto-reply", NULL, NULL, NULL, false, NULL, NULL, "",
     ID("t5v7x3z5b7d2f4h6k8m3p5r7t2.sdhbw5@fleet.example"), 0},
    {"ooo-french-subject.eml", "auto-reply", NULL, NULL, NULL, false, NULL, NULL, "",
     ID("u6w8y4a6c8e3g5j7l2n4q6s8u3.sdhcx6@fleet.example"), 1},
    {"reply-quoting-ooo.eml", "reply", NULL, NULL, NULL, false, NULL, NULL, "",
     ID("a7c9e2g4j6l8n2q4s6u8w2y4a6c8e3g5@contoso.example"), 2},
    {"reply-in-reply-to.eml", "reply", NULL, NULL, NULL, false, NULL, NULL, "",
     ID("v7x3z5b7d2f4h6k8m3p5r7t2v4.sdhdy7@fleet.example"), 0},
    {"reply-references.eml", "reply", NULL, NULL, NULL, false, NULL, NULL, "", "", 1},
    {"reply-both.eml", "reply", NULL, NULL, NULL, false, NULL, NULL, "",
     ID("x3z5b7d2f4h6k8m3p5r7t2v4x6.sdhf2a@fleet.example"), 2},
    {"unsubscribe-reply.eml", "unsubscribe", NULL, NULL, NULL, false, NULL, NULL, "",
     ID("z5b7d2f4h6k8m3p5r7t2v4x6z8.sdhg3b@fleet.example"), 1},
    {"unsubscribe-mailto.eml", "unsubscribe", NULL, NULL, NULL, false, NULL, NULL, "", "", 0},
    {"newsletter.eml", "other", NULL, NULL, NULL, false, NULL, NULL, "", "", 0},
    {"stranger.eml", "reply", NULL, NULL, NULL, false, NULL, NULL, "", "", 0},
};

static void check_want(const struct want *w, const struct classify_result *r)
{
    if (strcmp(classify_kind_name(r->kind), w->kind) != 0)
        fail_msg("%s: kind %s (%s), want %s", w->file, classify_kind_name(r->kind), r->why,
                 w->kind);
    assert_true(r->why[0]);
    if (!w->address) {
        assert_int_equal(r->nrcpts, 0);
    } else {
        if (r->nrcpts != 1)
            fail_msg("%s: %zu recipients", w->file, r->nrcpts);
        const struct classify_rcpt *c = &r->rcpts[0];
        assert_string_equal(c->address, w->address);
        assert_string_equal(c->status, w->status);
        assert_string_equal(c->action, w->action);
        if (c->hard != w->hard)
            fail_msg("%s: hard %d", w->file, c->hard);
        assert_string_equal(c->reason, w->reason);
        if (!strstr(c->diagnostic, w->diag_has))
            fail_msg("%s: diagnostic [%s] lacks [%s]", w->file, c->diagnostic, w->diag_has);
    }
    assert_string_equal(r->original_message_id, w->original);
    assert_string_equal(r->in_reply_to, w->in_reply_to);
    if (r->nreferences != w->nrefs)
        fail_msg("%s: %zu references", w->file, r->nreferences);
}

static void test_fixtures(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof wants / sizeof *wants; i++) {
        struct classify_result r;
        classify_file(wants[i].file, &r);
        check_want(&wants[i], &r);
        classify_result_free(&r);
        classify_result_free(&r); /* twice is fine */
    }
}

/* The same messages with the other line ending give the same results. */
static void test_line_endings(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof wants / sizeof *wants; i++) {
        size_t len;
        char *raw = load_fixture(wants[i].file, &len);
        bool crlf = strstr(raw, "\r\n") != NULL;
        char *other = malloc(len * 2 + 1);
        assert_non_null(other);
        size_t o = 0;
        for (size_t k = 0; k < len; k++) {
            if (crlf && raw[k] == '\r' && k + 1 < len && raw[k + 1] == '\n')
                continue;
            if (!crlf && raw[k] == '\n')
                other[o++] = '\r';
            other[o++] = raw[k];
        }
        struct classify_result r;
        classify_ok(other, o, &r);
        check_want(&wants[i], &r);
        classify_result_free(&r);
        free(other);
        free(raw);
    }
}

static void test_fixture_details(void **state)
{
    (void)state;
    struct classify_result r;
    classify_file("unsubscribe-mailto.eml", &r);
    assert_string_equal(r.unsubscribe_token, "v1.Zm9vYmFyLWJhei1xdXV4LTEyMzQ1Njc4OTA");
    assert_string_equal(r.from, "lead.two@gmail.com");
    classify_result_free(&r);

    classify_file("reply-both.eml", &r);
    assert_string_equal(r.references[0], ID("y4a6c8e3g5j7l2n4q6s8u3w5y7.sdb2c4@fleet.example"));
    assert_string_equal(r.references[1], ID("x3z5b7d2f4h6k8m3p5r7t2v4x6.sdhf2a@fleet.example"));
    assert_string_equal(r.subject, "Re: Following up");
    classify_result_free(&r);

    classify_file("reply-references.eml", &r);
    assert_string_equal(r.references[0], ID("w8y4a6c8e3g5j7l2n4q6s8u3w5.sdhez8@fleet.example"));
    classify_result_free(&r);

    classify_file("ooo-french-subject.eml", &r); /* encoded word, NBSP before the colon */
    assert_string_equal(r.subject, "R\xc3\xa9ponse automatique\xc2\xa0: Petite question");
    classify_result_free(&r);

    classify_file("exim-failed.eml", &r); /* Auto-Submitted on a bounce */
    assert_string_equal(r.from, "mailer-daemon@mail.fleet.example");
    assert_string_equal(r.message_id, ID("E1s6pXa-000Bq2-0T@mail.fleet.example"));
    assert_non_null(strstr(r.why, "Exim"));
    classify_result_free(&r);

    classify_file("stranger.eml", &r);
    assert_string_equal(r.why, "a person's message outside any thread");
    classify_result_free(&r);
}

/* ---- synthetic messages ------------------------------------------------------------ */

static const char dsn_head[] =
    "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
    "Subject: Undelivered Mail Returned to Sender\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n"
    "\n--B\nContent-Type: text/plain\n\nnotice\n"
    "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n";

/* A DSN with one recipient group (fields as given), classified into r. */
static void dsn(const char *group, struct classify_result *r)
{
    struct mf_buf b;
    mf_buf_init(&b, 1 << 20);
    assert_int_equal(mf_buf_printf(&b, "%s%s\n--B--\n", dsn_head, group), MF_OK);
    classify_ok(mf_buf_data(&b), mf_buf_len(&b), r);
    mf_buf_free(&b);
    assert_int_equal(r->kind, CLASSIFY_BOUNCE);
    assert_int_equal(r->nrcpts, 1);
}

static void expect_reason(const char *group, const char *status, const char *reason, bool hard)
{
    struct classify_result r;
    dsn(group, &r);
    if (strcmp(r.rcpts[0].reason, reason) || strcmp(r.rcpts[0].status, status) ||
        r.rcpts[0].hard != hard)
        fail_msg("[%s]: %s %s %s, want %s %s %s", group, r.rcpts[0].status, r.rcpts[0].reason,
                 r.rcpts[0].hard ? "hard" : "soft", status, reason, hard ? "hard" : "soft");
    classify_result_free(&r);
}

static void test_reasons(void **state)
{
    (void)state;
    /* a generic Status gives way to the precise code in the diagnostic */
    expect_reason("Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.0.0\n"
                  "Diagnostic-Code: smtp; 550 5.1.1 <a@x.example>: user unknown\n",
                  "5.1.1", "userunknown", true);
    /* no status at all: the reply code's class and the reason's usual code */
    expect_reason("Final-Recipient: rfc822; a@x.example\nAction: failed\n"
                  "Diagnostic-Code: smtp; 550 No such user here\n",
                  "5.1.1", "userunknown", true);
    expect_reason("Final-Recipient: rfc822; a@x.example\n"
                  "Diagnostic-Code: smtp; 421 too many connections from your IP\n",
                  "4.4.5", "toomanyconn", false);
    /* the sender's problem, even with "domain not found" in it */
    expect_reason("Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.1.8\n"
                  "Diagnostic-Code: smtp; 553 5.1.8 <me@fleet.example>: Sender address "
                  "rejected: Domain not found\n",
                  "5.1.8", "rejected", false);
    expect_reason("Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.7.1\n"
                  "Diagnostic-Code: smtp; 554 5.7.1 Service unavailable; Client host "
                  "[198.51.100.7] blocked using zen.spamhaus.org\n",
                  "5.7.1", "blocked", false);
    expect_reason("Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.7.1\n"
                  "Diagnostic-Code: smtp; 550 5.7.1 Our system has detected that this message "
                  "is likely unsolicited mail\n",
                  "5.7.1", "spamdetected", false);
    expect_reason("Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.7.26\n"
                  "Diagnostic-Code: smtp; 550 5.7.26 Unauthenticated email is not accepted\n",
                  "5.7.26", "securityerror", false);
    expect_reason("Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.4.1\n"
                  "Diagnostic-Code: smtp; 550 5.4.1 Recipient address rejected: Access denied. "
                  "AS(201806281)\n",
                  "5.4.1", "userunknown", true);
    expect_reason("Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.1.2\n"
                  "Diagnostic-Code: X-Postfix; Host or domain name not found. Name service "
                  "error for name=x.example type=MX: Host not found\n",
                  "5.1.2", "hostunknown", true);
    expect_reason("Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.2.1\n"
                  "Diagnostic-Code: smtp; 550 5.2.1 The email account that you tried to reach "
                  "is disabled\n",
                  "5.2.1", "suspend", false);
    expect_reason("Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.4.7\n"
                  "Diagnostic-Code: X-Postfix; delivery temporarily suspended: connection timed "
                  "out\n",
                  "5.4.7", "expired", false);
    expect_reason("Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.7.509\n"
                  "Diagnostic-Code: smtp; 550 5.7.509 Access denied, sending domain fleet.example "
                  "does not pass DMARC verification\n",
                  "5.7.509", "securityerror", false);
    expect_reason("Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.3.4\n"
                  "Diagnostic-Code: smtp; 552 5.3.4 Error: message file too big\n",
                  "5.3.4", "mesgtoobig", false);
    /* unknown words with a 5.x.x: undefined, hard; with 4.x.x: soft */
    expect_reason("Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.9.9\n"
                  "Diagnostic-Code: smtp; 550 computer says no\n",
                  "5.9.9", "undefined", true);
    expect_reason("Final-Recipient: rfc822; a@x.example\nAction: delayed\nStatus: 4.1.1\n"
                  "Diagnostic-Code: smtp; 450 4.1.1 user unknown (try again)\n",
                  "4.1.1", "userunknown", false);
    /* an IP address is not a status code; an Original-Recipient alone is enough */
    expect_reason("Original-Recipient: rfc822;b@x.example\nAction: failed\n"
                  "Diagnostic-Code: smtp; host 192.0.2.55 said: 552 quota exceeded\n",
                  "5.2.2", "mailboxfull", false);

    /* success only: a DSN, but not a bounce */
    struct classify_result r;
    struct mf_buf b;
    mf_buf_init(&b, 1 << 16);
    assert_int_equal(mf_buf_printf(&b, "%sFinal-Recipient: rfc822; a@x.example\nAction: "
                                       "delivered\nStatus: 2.0.0\n\n--B--\n", dsn_head), MF_OK);
    classify_ok(mf_buf_data(&b), mf_buf_len(&b), &r);
    assert_int_equal(r.kind, CLASSIFY_OTHER);
    assert_string_equal(r.rcpts[0].reason, "delivered");
    assert_false(r.rcpts[0].hard);
    classify_result_free(&r);
    mf_buf_free(&b);

    assert_true(classify_reason_known("userunknown"));
    assert_true(classify_reason_known("feedback"));
    assert_false(classify_reason_known("nonsense"));
    assert_false(classify_reason_known(NULL));
    assert_string_equal(classify_kind_name(CLASSIFY_AUTO_REPLY), "auto-reply");
    assert_string_equal(classify_kind_name(CLASSIFY_KIND_COUNT), "invalid");
}

static void expect_kind(const char *msg, enum classify_kind kind)
{
    struct classify_result r;
    classify_ok(msg, strlen(msg), &r);
    if (r.kind != kind)
        fail_msg("kind %s (%s), want %s for:\n%s", classify_kind_name(r.kind), r.why,
                 classify_kind_name(kind), msg);
    classify_result_free(&r);
}

static void test_kinds(void **state)
{
    (void)state;
    expect_kind("From: a@x.example\nSubject: Re: hi\nX-Autoreply: yes\n\nAway.\n",
                CLASSIFY_AUTO_REPLY);
    expect_kind("From: a@x.example\nSubject: Re: hi\nX-Autorespond: on\n\nAway.\n",
                CLASSIFY_AUTO_REPLY);
    expect_kind("From: a@x.example\nSubject: Re: hi\nPrecedence: auto_reply\n\nAway.\n",
                CLASSIFY_AUTO_REPLY);
    expect_kind("From: a@x.example\nSubject: Re: hi\nAuto-Submitted: no\n\nThanks!\n",
                CLASSIFY_REPLY);
    expect_kind("From: a@x.example\nSubject: Re: hi\n\nThis is an automatic reply. I am away.\n",
                CLASSIFY_AUTO_REPLY);
    expect_kind("From: a@x.example\nSubject: Re: hi\n\nThanks.\n\n> This is an automatic "
                "reply.\n", CLASSIFY_REPLY);
    expect_kind("From: a@x.example\nSubject: Risposta automatica: Domanda\n\nAssente.\n",
                CLASSIFY_AUTO_REPLY);
    expect_kind("From: a@x.example\nSubject: Automatisch antwoord: Vraag\n\nAfwezig.\n",
                CLASSIFY_AUTO_REPLY);
    expect_kind("From: a@x.example\nSubject: =?utf-8?q?Respuesta_autom=C3=A1tica=3A_Hola?=\n\n"
                "Fuera.\n", CLASSIFY_AUTO_REPLY);
    expect_kind("From: a@x.example\nSubject: =?utf-8?q?Resposta_autom=C3=A1tica=3A_Ol=C3=A1?=\n\n"
                "Fora.\n", CLASSIFY_AUTO_REPLY);
    /* auto-generated list mail is other; auto-generated alone is an auto-reply */
    expect_kind("From: n@x.example\nSubject: Digest\nAuto-Submitted: auto-generated\n"
                "List-Id: <l.x.example>\n\nNews.\n", CLASSIFY_OTHER);
    expect_kind("From: n@x.example\nSubject: Ticket received\nAuto-Submitted: auto-generated\n\n"
                "We got it.\n", CLASSIFY_AUTO_REPLY);
    expect_kind("From: noreply@x.example\nSubject: Your invoice\n\nAttached.\n", CLASSIFY_OTHER);
    expect_kind("From: a@x.example\nSubject: Re: hi\n\nSTOP\n", CLASSIFY_UNSUBSCRIBE);
    expect_kind("From: a@x.example\nSubject: Re: hi\n\nBitte abmelden.\n", CLASSIFY_UNSUBSCRIBE);
    expect_kind("From: a@x.example\nSubject: Unsubscribe\n\n\n", CLASSIFY_UNSUBSCRIBE);
    expect_kind("From: a@x.example\nSubject: Re: hi\n\nPlease don't stop, this is great.\n\n"
                "On Mon, Bob <b@y.example> wrote:\n> unsubscribe\n", CLASSIFY_REPLY);
    /* a read receipt */
    expect_kind("From: a@x.example\nSubject: Read: hi\nMIME-Version: 1.0\nContent-Type: "
                "multipart/report; report-type=disposition-notification; boundary=M\n\n--M\n"
                "Content-Type: text/plain\n\nRead.\n--M\nContent-Type: message/disposition-"
                "notification\n\nDisposition: manual-action/MDN-sent-manually; displayed\n"
                "--M--\n", CLASSIFY_AUTO_REPLY);
    /* a forwarded bounce is a person's message, not a bounce */
    expect_kind("From: colleague@fleet.example\nSubject: Fwd: Undelivered Mail\nMIME-Version: "
                "1.0\nContent-Type: multipart/mixed; boundary=F\n\n--F\nContent-Type: "
                "text/plain\n\nWhat is this?\n--F\nContent-Type: message/rfc822\n\n"
                "From: MAILER-DAEMON@mx.example.net\nSubject: Undelivered Mail Returned to "
                "Sender\nContent-Type: multipart/report; report-type=delivery-status; "
                "boundary=B\n\n--B\nContent-Type: message/delivery-status\n\n"
                "Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.1.1\n--B--\n"
                "--F--\n", CLASSIFY_REPLY);
    /* a null sender and a bounce subject, with the notice in an unknown shape */
    expect_kind("Return-Path: <>\nFrom: someone@x.example\nSubject: Delivery Failure\n\n"
                "Could not deliver.\n", CLASSIFY_BOUNCE);
    /* not a message */
    expect_kind("", CLASSIFY_OTHER);
    expect_kind("just some words\nwithout a header\n", CLASSIFY_OTHER);
}

/* ---- hostile input -------------------------------------------------------------------- */

static void bounded(const struct classify_result *r)
{
    assert_true(r->nrcpts <= CLASSIFY_RCPTS_MAX);
    assert_true(r->nreferences <= CLASSIFY_REFS_MAX);
    assert_true(strlen(r->subject) < CLASSIFY_SUBJECT_SIZE);
    assert_true(strlen(r->why) < CLASSIFY_WHY_SIZE);
    for (const char *p = r->subject; *p; p++)
        assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
    for (size_t i = 0; i < r->nrcpts; i++) {
        assert_true(strlen(r->rcpts[i].diagnostic) < CLASSIFY_DIAG_SIZE);
        for (const char *p = r->rcpts[i].diagnostic; *p; p++)
            assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
    }
    json_t *j = classify_result_json(r, NULL);
    assert_non_null(j);
    json_decref(j);
}

static void test_hostile(void **state)
{
    (void)state;
    struct classify_result r;
    struct mf_buf b;

    /* 10000 header fields and a 4 MB subject: the header block is cut at
     * CLASSIFY_HEADER_MAX, the body is still read */
    mf_buf_init(&b, 64u << 20);
    mf_buf_adds(&b, "From: a@x.example\n");
    for (int i = 0; i < 10000; i++)
        mf_buf_printf(&b, "X-Junk-%d: %d\n", i, i);
    mf_buf_adds(&b, "Subject: ");
    for (int i = 0; i < 4 << 20; i++)
        mf_buf_add(&b, i % 70 == 69 ? "\n " : "x", i % 70 == 69 ? 2 : 1);
    mf_buf_adds(&b, "\n\nSTOP\n");
    classify_ok(mf_buf_data(&b), mf_buf_len(&b), &r);
    bounded(&r);
    assert_int_equal(strlen(r.subject), CLASSIFY_SUBJECT_SIZE - 1);
    assert_int_equal(r.kind, CLASSIFY_UNSUBSCRIBE);
    classify_result_free(&r);
    /* ...and with no body at all */
    mf_buf_reset(&b);
    mf_buf_adds(&b, "From: a@x.example\nIn-Reply-To: <a@x.example>\nX-Long: ");
    for (int i = 0; i < 1 << 20; i++)
        mf_buf_add(&b, "y", 1);
    classify_ok(mf_buf_data(&b), mf_buf_len(&b), &r);
    bounded(&r);
    assert_int_equal(r.kind, CLASSIFY_REPLY);
    assert_string_equal(r.in_reply_to, "<a@x.example>");
    classify_result_free(&r);
    mf_buf_free(&b);

    /* control characters, bidi overrides and broken UTF-8 in what is kept */
    const char *ctl = "From: a@x.example\nSubject: =?utf-8?q?a=01b=1Bc=E2=80=AEd=C2=85e=FFf?=\n"
                      "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-"
                      "status; boundary=B\n\n--B\nContent-Type: message/delivery-status\n\n"
                      "Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.1.1\n"
                      "Diagnostic-Code: smtp; 550 \x01\x7f\xc2\x9b\xe2\x80\xae\xff bad\n--B--\n";
    classify_ok(ctl, strlen(ctl), &r);
    bounded(&r);
    assert_null(strstr(r.subject, "\xe2\x80\xae"));
    assert_string_equal(r.rcpts[0].diagnostic, "550 ????? bad");
    classify_result_free(&r);

    /* broken MIME: no closing boundary, no boundary parameter, NUL bytes */
    const char broken[] = "From: MAILER-DAEMON@x.example\nSubject: Undelivered Mail Returned to "
                          "Sender\nContent-Type: multipart/report; report-type=delivery-status\n"
                          "\n--B\nContent-Type: message/delivery-status\n\nFinal-Recipient: "
                          "rfc822; a@\0x.example\nStatus: 5.1.1\n--B";
    classify_ok(broken, sizeof broken - 1, &r);
    bounded(&r);
    classify_result_free(&r);
    const char *unterminated = "From: MAILER-DAEMON@x.example\nContent-Type: multipart/report; "
                               "report-type=delivery-status; boundary=B\n\n--B\nContent-Type: "
                               "message/delivery-status\n\nFinal-Recipient: rfc822; a@x.example\n"
                               "Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 x";
    classify_ok(unterminated, strlen(unterminated), &r);
    assert_int_equal(r.kind, CLASSIFY_BOUNCE);
    assert_string_equal(r.rcpts[0].address, "a@x.example");
    classify_result_free(&r);

    /* 1000 recipients: CLASSIFY_RCPTS_MAX kept, the rest counted */
    mf_buf_init(&b, 8u << 20);
    mf_buf_adds(&b, dsn_head);
    for (int i = 0; i < 1000; i++)
        mf_buf_printf(&b, "Final-Recipient: rfc822; user%d@x.example\nAction: failed\n"
                          "Status: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unknown %d\n\n",
                      i, i);
    mf_buf_adds(&b, "--B--\n");
    classify_ok(mf_buf_data(&b), mf_buf_len(&b), &r);
    bounded(&r);
    assert_int_equal(r.kind, CLASSIFY_BOUNCE);
    assert_int_equal(r.nrcpts, CLASSIFY_RCPTS_MAX);
    assert_int_equal(r.rcpts_dropped, 1000 - CLASSIFY_RCPTS_MAX);
    assert_string_equal(r.rcpts[99].address, "user99@x.example");
    classify_result_free(&r);
    mf_buf_free(&b);

    /* a 100 KB diagnostic */
    mf_buf_init(&b, 1u << 20);
    mf_buf_adds(&b, dsn_head);
    mf_buf_adds(&b, "Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.2.2\n"
                    "Diagnostic-Code: smtp; 552");
    for (int i = 0; i < 2000; i++)
        mf_buf_adds(&b, "\n blah blah blah blah blah blah blah blah blah");
    mf_buf_adds(&b, "\n\n--B--\n");
    classify_ok(mf_buf_data(&b), mf_buf_len(&b), &r);
    bounded(&r);
    assert_string_equal(r.rcpts[0].reason, "mailboxfull");
    classify_result_free(&r);
    mf_buf_free(&b);

    /* nested reports: a report in a report, 3000 levels of multipart, 1000 enclosed messages */
    mf_buf_init(&b, 8u << 20);
    mf_buf_adds(&b, "From: MAILER-DAEMON@x.example\nSubject: Undelivered Mail Returned to Sender\n");
    for (int i = 0; i < 3000; i++)
        mf_buf_printf(&b, "Content-Type: multipart/report; report-type=delivery-status; "
                          "boundary=b%d\n\n--b%d\n", i, i);
    mf_buf_adds(&b, "Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822; "
                    "deep@x.example\nAction: failed\nStatus: 5.1.1\n");
    classify_ok(mf_buf_data(&b), mf_buf_len(&b), &r);
    bounded(&r);
    assert_int_equal(r.nrcpts, 0); /* too deep to be read */
    classify_result_free(&r);
    mf_buf_reset(&b);
    mf_buf_adds(&b, "From: a@x.example\nSubject: hi\n");
    for (int i = 0; i < 1000; i++)
        mf_buf_adds(&b, "Content-Type: message/rfc822\n\nMessage-ID: <n@x.example>\n");
    mf_buf_adds(&b, "\nbody\n");
    classify_ok(mf_buf_data(&b), mf_buf_len(&b), &r);
    bounded(&r);
    classify_result_free(&r);
    mf_buf_free(&b);

    /* 1000 references: the first and the latest kept */
    mf_buf_init(&b, 1u << 20);
    mf_buf_adds(&b, "From: a@x.example\nSubject: Re: hi\nReferences:");
    for (int i = 0; i < 1000; i++)
        mf_buf_printf(&b, "\n <ref%d@x.example>", i);
    mf_buf_adds(&b, "\nIn-Reply-To: <not-an-id> <ref999@x.example>\n\nok\n");
    classify_ok(mf_buf_data(&b), mf_buf_len(&b), &r);
    assert_int_equal(r.nreferences, CLASSIFY_REFS_MAX);
    assert_string_equal(r.references[0], "<ref0@x.example>");
    assert_string_equal(r.references[1], "<ref937@x.example>");
    assert_string_equal(r.references[CLASSIFY_REFS_MAX - 1], "<ref999@x.example>");
    assert_string_equal(r.in_reply_to, "<ref999@x.example>");
    classify_result_free(&r);
    mf_buf_free(&b);

    /* a text bounce with thousands of address lines */
    mf_buf_init(&b, 4u << 20);
    mf_buf_adds(&b, "From: MAILER-DAEMON@x.example\nSubject: failure notice\n\n"
                    "Hi. This is the qmail-send program at x.example.\n\n");
    for (int i = 0; i < 5000; i++)
        mf_buf_printf(&b, "<u%d@x.example>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n", i);
    classify_ok(mf_buf_data(&b), mf_buf_len(&b), &r);
    bounded(&r);
    assert_int_equal(r.nrcpts, CLASSIFY_RCPTS_MAX);
    assert_int_equal(r.rcpts_dropped, 5000 - CLASSIFY_RCPTS_MAX);
    assert_true(r.rcpts[0].hard);
    classify_result_free(&r);
    mf_buf_free(&b);

    /* found by fuzzing: a report that is both a feedback report and a
     * delivery status keeps only its complainers, and nothing is hard */
    const char *both = "From: fbl@isp.example\nSubject: report\nMIME-Version: 1.0\n"
                       "Content-Type: multipart/report; report-type=feedback-report; boundary=B\n"
                       "\n--B\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; "
                       "x@y.example\nAction: failed\nStatus: 5.1.1\n\n--B\nContent-Type: "
                       "message/feedback-report\n\nFeedback-Type: abuse\nOriginal-Rcpt-To: "
                       "<lead@isp.example>\n--B--\n";
    classify_ok(both, strlen(both), &r);
    assert_int_equal(r.kind, CLASSIFY_COMPLAINT);
    assert_int_equal(r.nrcpts, 1);
    assert_string_equal(r.rcpts[0].address, "lead@isp.example");
    assert_false(r.rcpts[0].hard);
    classify_result_free(&r);
    /* ...a report with no message header is not a bounce and lists nobody */
    const char *headless = "From n-Path: <x\nContent-Type: message/global-delivery-status\n\n"
                           "Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.1.1\n";
    classify_ok(headless, strlen(headless), &r);
    assert_int_equal(r.kind, CLASSIFY_OTHER);
    assert_int_equal(r.nrcpts, 0);
    classify_result_free(&r);
    /* ...an "address" that starts with '@' is none */
    const char *at = "From: MAILER-DAEMON@x.example\nSubject: failure notice\n\n<@com@ne-->:\n"
                     "550 no\n";
    classify_ok(at, strlen(at), &r);
    assert_int_equal(r.kind, CLASSIFY_BOUNCE);
    assert_int_equal(r.nrcpts, 0);
    classify_result_free(&r);

    /* ...an escaped ASCII letter is lowercased like the others */
    struct classify_result x;
    dsn("Final-Recipient: utf-8; J\\x{4C}\\x{f6}@B\\x{DC}ro.Example\nAction: failed\n"
        "Status: 5.1.1\n", &x);
    assert_string_equal(x.rcpts[0].address, "jl\xc3\xb6@b\xc3\x9cro.example");
    classify_result_free(&x);

    /* errors */
    struct mf_err e;
    assert_int_equal(classify_message(NULL, 1, &r, &e), MF_EINVAL);
    assert_int_equal(r.nrcpts, 0);
    assert_int_equal(classify_message("x", 1, NULL, &e), MF_EINVAL);
    assert_int_equal(classify_message("x", (size_t)CLASSIFY_INPUT_MAX + 1, &r, &e), MF_ELIMIT);
    assert_non_null(strstr(e.detail, "larger"));
    classify_result_free(NULL);
    assert_null(classify_result_json(NULL, NULL));
}

/* ---- JSON ------------------------------------------------------------------------------- */

static void test_json(void **state)
{
    (void)state;
    struct classify_result r;
    classify_file("exchange-online-5.1.10.eml", &r);
    json_t *j = classify_result_json(&r, "<f6h8k4m6p8r4t6v8x4z6b8d3f5.sdh1c2@fleet.example>");
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 4);
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "bounce");
    assert_string_equal(json_string_value(json_object_get(j, "in_reply_to")),
                        "<f6h8k4m6p8r4t6v8x4z6b8d3f5.sdh1c2@fleet.example>");
    assert_string_equal(json_string_value(json_object_get(j, "matched")),
                        "<f6h8k4m6p8r4t6v8x4z6b8d3f5.sdh1c2@fleet.example>");
    json_t *list = json_object_get(j, "recipients");
    assert_int_equal(json_array_size(list), 1);
    json_t *c = json_array_get(list, 0);
    assert_int_equal(json_object_size(c), 6);
    const char *keys[] = {"address", "status", "action", "hard", "reason", "diagnostic"};
    for (size_t i = 0; i < 6; i++)
        assert_non_null(json_object_get(c, keys[i]));
    assert_string_equal(json_string_value(json_object_get(c, "address")),
                        "nobody@fabrikam.example");
    assert_string_equal(json_string_value(json_object_get(c, "status")), "5.1.10");
    assert_true(json_is_true(json_object_get(c, "hard")));
    json_decref(j);
    classify_result_free(&r);

    /* unknowns are null; the keys are still all there */
    classify_file("arf-complaint.eml", &r);
    j = classify_result_json(&r, NULL);
    assert_int_equal(json_object_size(j), 4);
    assert_true(json_is_null(json_object_get(j, "in_reply_to")));
    assert_true(json_is_null(json_object_get(j, "matched")));
    c = json_array_get(json_object_get(j, "recipients"), 0);
    assert_int_equal(json_object_size(c), 6);
    assert_true(json_is_null(json_object_get(c, "status")));
    assert_true(json_is_null(json_object_get(c, "action")));
    assert_true(json_is_false(json_object_get(c, "hard")));
    assert_string_equal(json_string_value(json_object_get(c, "reason")), "feedback");
    json_decref(j);
    classify_result_free(&r);

    classify_file("stranger.eml", &r);
    j = classify_result_json(&r, NULL);
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(s, "{\"kind\":\"reply\",\"recipients\":[],\"in_reply_to\":null,"
                           "\"matched\":null}");
    free(s);
    json_decref(j);
    classify_result_free(&r);
}

int main(void)
{
    find_fixtures();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_fixture_details),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
