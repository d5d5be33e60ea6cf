/* engine/placement, the parts that need no network: the pair rule, the
 * folder choice from a LIST result, the tally and the threshold, the delay
 * and matrix text, and a run recorded in a temporary store and read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/placement.h"
#include "engine/store.h"

static struct placement_party party(const char *account, const char *address,
                                    const char *tenant)
{
    struct placement_party p;
    memset(&p, 0, sizeof p);
    snprintf(p.account, sizeof p.account, "%s", account);
    snprintf(p.address, sizeof p.address, "%s", address);
    snprintf(p.tenant, sizeof p.tenant, "%s", tenant);
    return p;
}

static void test_pair_rule(void **state)
{
    (void)state;
    char why[256];
    struct placement_party s = party("sales1", "ann@contoso.com", "contoso");
    struct placement_party gmail = party("g", "seed@gmail.com", "");
    assert_true(placement_pair_ok(&s, &gmail, why, sizeof why));
    assert_string_equal(why, "");

    struct placement_party same = party("sales2", "bob@CONTOSO.com", "");
    assert_false(placement_pair_ok(&s, &same, why, sizeof why));
    assert_non_null(strstr(why, "same domain (contoso.com"));
    assert_non_null(strstr(why, "internal delivery says nothing about placement"));

    struct placement_party sub = party("eu", "eve@eu.contoso.com", "");
    assert_false(placement_pair_ok(&s, &sub, why, sizeof why));
    assert_non_null(strstr(why, "same domain (contoso.com / eu.contoso.com)"));
    assert_false(placement_pair_ok(&sub, &s, why, sizeof why));
    /* a suffix that is not a subdomain is another domain */
    struct placement_party other = party("x", "x@notcontoso.com", "");
    assert_true(placement_pair_ok(&s, &other, why, sizeof why));

    struct placement_party tenant = party("fab", "f@fabrikam.com", "contoso");
    assert_false(placement_pair_ok(&s, &tenant, why, sizeof why));
    assert_non_null(strstr(why, "same tenant (contoso)"));
    /* an empty tenant on both sides is no tenant */
    struct placement_party a = party("a", "a@a.test", ""), b = party("b", "b@b.test", "");
    assert_true(placement_pair_ok(&a, &b, why, sizeof why));

    assert_false(placement_pair_ok(&s, &s, why, sizeof why));
    assert_string_equal(why, "the seed is the sender itself");
    struct placement_party twin = party("other-name", "Ann@Contoso.com", "");
    assert_false(placement_pair_ok(&s, &twin, why, sizeof why));
    assert_string_equal(why, "the seed is the sender itself");
}

static void test_folders(void **state)
{
    (void)state;
    char inbox[64], junk[64];
    const struct imap_mailbox dovecot[] = {
        {"INBOX", '/', 0}, {"Drafts", '/', IMAP_MB_DRAFTS}, {"Junk", '/', IMAP_MB_JUNK},
        {"Sent", '/', IMAP_MB_SENT}, {"Trash", '/', IMAP_MB_TRASH},
    };
    placement_pick_folders(dovecot, 5, inbox, sizeof inbox, junk, sizeof junk);
    assert_string_equal(inbox, "INBOX");
    assert_string_equal(junk, "Junk");

    /* \Junk wins over a name; Outlook's "Junk Email" */
    const struct imap_mailbox outlook[] = {
        {"Inbox", '/', IMAP_MB_INBOX}, {"Spam", '/', 0}, {"Junk Email", '/', IMAP_MB_JUNK},
    };
    placement_pick_folders(outlook, 3, inbox, sizeof inbox, junk, sizeof junk);
    assert_string_equal(inbox, "Inbox");
    assert_string_equal(junk, "Junk Email");

    /* no special-use: by name, any case; Gmail's */
    const struct imap_mailbox gmail[] = {
        {"INBOX", '/', 0}, {"[Gmail]", '/', IMAP_MB_NOSELECT}, {"[Gmail]/spam", '/', 0},
    };
    placement_pick_folders(gmail, 3, inbox, sizeof inbox, junk, sizeof junk);
    assert_string_equal(junk, "[Gmail]/spam");

    /* a child of INBOX (Courier); a \Noselect one is not picked */
    const struct imap_mailbox courier[] = {
        {"INBOX", '.', 0}, {"INBOX.Bulk Mail", '.', IMAP_MB_NOSELECT},
        {"INBOX.Junk E-mail", '.', 0},
    };
    placement_pick_folders(courier, 3, inbox, sizeof inbox, junk, sizeof junk);
    assert_string_equal(junk, "INBOX.Junk E-mail");

    /* none at all; a quoted-unfriendly name is never picked; INBOX unlisted */
    const struct imap_mailbox none[] = {
        {"Archive", '/', IMAP_MB_ARCHIVE}, {"Sp\"am", '/', 0}, {"Junkyard", '/', 0},
    };
    placement_pick_folders(none, 3, inbox, sizeof inbox, junk, sizeof junk);
    assert_string_equal(inbox, "INBOX");
    assert_string_equal(junk, "");
    placement_pick_folders(NULL, 0, inbox, sizeof inbox, junk, sizeof junk);
    assert_string_equal(inbox, "INBOX");
}

static struct placement_pair pair(const char *sender, const char *seed,
                                  enum placement_result r, int64_t delay_ms, bool unread,
                                  const char *detail)
{
    struct placement_pair x;
    memset(&x, 0, sizeof x);
    snprintf(x.sender, sizeof x.sender, "%s", sender);
    snprintf(x.seed, sizeof x.seed, "%s", seed);
    snprintf(x.token, sizeof x.token, "00112233445566778899aabbccddeeff");
    x.result = r;
    x.delay_ms = delay_ms;
    x.seed_unread = unread;
    x.sent_at = r == PLACEMENT_NOT_SENT || r == PLACEMENT_REFUSED ? 0 : 1700000000;
    snprintf(x.folder, sizeof x.folder, "%s", r == PLACEMENT_INBOX ? "INBOX"
                                              : r == PLACEMENT_JUNK ? "Junk" : "");
    snprintf(x.detail, sizeof x.detail, "%s", detail ? detail : "");
    return x;
}

static void test_tally_threshold(void **state)
{
    (void)state;
    const struct placement_pair x[] = {
        pair("s1", "a", PLACEMENT_INBOX, 4000, false, NULL),
        pair("s1", "b", PLACEMENT_JUNK, 12000, false, NULL),
        pair("s1", "c", PLACEMENT_JUNK, 9000, false, NULL),
        pair("s1", "d", PLACEMENT_REFUSED, -1, false, "same domain"),
        pair("s1", "e", PLACEMENT_NOT_SENT, -1, false, "not sent: 554"),
        pair("s1", "f", PLACEMENT_MISSING, -1, true, "not looked for: IMAP down"),
        pair("s2", "a", PLACEMENT_INBOX, 3000, false, NULL),
        pair("s2", "b", PLACEMENT_MISSING, -1, false, "not found"),
        pair("s3", "a", PLACEMENT_REFUSED, -1, false, "same tenant"),
    };
    struct placement_tally t;
    placement_tally(x, 9, "s1", &t);
    assert_int_equal(t.inbox, 1);
    assert_int_equal(t.junk, 2);
    assert_int_equal(t.missing, 0);
    assert_int_equal(t.unread, 1);
    assert_int_equal(t.not_sent, 1);
    assert_int_equal(t.refused, 1);
    assert_int_equal(t.checked, 3);

    char reason[512];
    assert_true(placement_below(&t, 80, "s1", reason, sizeof reason));
    assert_string_equal(reason, "placement 1/3 inbox (2 junk, 0 missing) is below 80%: look at "
                                "the domain's SPF/DKIM/DMARC and content, then mailfleet "
                                "mailbox resume s1");
    assert_false(placement_below(&t, 0, "s1", reason, sizeof reason));   /* 0 = never */
    assert_false(placement_below(&t, 33, "s1", reason, sizeof reason));  /* 33.3% >= 33 */
    assert_true(placement_below(&t, 34, "s1", reason, sizeof reason));

    placement_tally(x, 9, "s2", &t);
    assert_int_equal(t.checked, 2);
    assert_int_equal(t.missing, 1);
    assert_false(placement_below(&t, 50, "s2", reason, sizeof reason));  /* exactly 50% */
    assert_true(placement_below(&t, 51, "s2", reason, sizeof reason));
    assert_non_null(strstr(reason, "placement 1/2 inbox (0 junk, 1 missing) is below 51%"));

    placement_tally(x, 9, "s3", &t); /* nothing checked: never paused */
    assert_int_equal(t.checked, 0);
    assert_false(placement_below(&t, 100, "s3", reason, sizeof reason));

    const struct placement_pair all_in[] = {pair("s", "a", PLACEMENT_INBOX, 1, false, NULL)};
    placement_tally(all_in, 1, "s", &t);
    assert_false(placement_below(&t, 100, "s", reason, sizeof reason));

    enum placement_result r;
    assert_true(placement_result_parse("not_sent", &r));
    assert_int_equal(r, PLACEMENT_NOT_SENT);
    assert_string_equal(placement_result_name(PLACEMENT_JUNK), "junk");
    assert_false(placement_result_parse("spam", &r));
}

static void test_delay_text(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(placement_delay_text(400, b, sizeof b), "0.4s");
    assert_string_equal(placement_delay_text(4050, b, sizeof b), "4.0s");
    assert_string_equal(placement_delay_text(12400, b, sizeof b), "12s");
    assert_string_equal(placement_delay_text(125000, b, sizeof b), "2m05s");
    assert_string_equal(placement_delay_text(3720000, b, sizeof b), "1h02m");
    assert_string_equal(placement_delay_text(-1, b, sizeof b), "?");
}

static void test_matrix(void **state)
{
    (void)state;
    const struct placement_pair x[] = {
        pair("sales1", "gmail-seed", PLACEMENT_INBOX, 4000, false, NULL),
        pair("sales1", "outlook", PLACEMENT_JUNK, 12000, false, NULL),
        pair("s2", "gmail-seed", PLACEMENT_MISSING, -1, false, "not found in INBOX or Junk"),
        pair("s2", "outlook", PLACEMENT_REFUSED, -1, false,
             "same domain (x.test): internal delivery says nothing about placement"),
        pair("s3", "outlook", PLACEMENT_NOT_SENT, -1, false, "not sent: SMTP h:25: 554 no"),
        pair("s3", "gmail-seed", PLACEMENT_MISSING, -1, true, "not looked for: IMAP down"),
    };
    struct mf_buf b;
    mf_buf_init(&b, 1 << 16);
    assert_int_equal(placement_matrix_text(x, 6, &b), MF_OK);
    const char *want =
        "SENDER \\ SEED  gmail-seed  outlook\n"
        "sales1         inbox 4.0s  junk 12s\n"
        "s2             missing     refused\n"
        "s3             unread      not sent\n"
        "\n"
        "sales1: 1/2 in the inbox (50%): 1 junk\n"
        "s2: 0/1 in the inbox (0%): 1 missing, 1 refused\n"
        "s3: nothing checked: 1 unread, 1 not sent\n"
        "\n"
        "s2 -> gmail-seed: missing: not found in INBOX or Junk\n"
        "s2 -> outlook: refused: same domain (x.test): internal delivery says nothing about "
        "placement\n"
        "s3 -> outlook: not sent: SMTP h:25: 554 no\n"
        "s3 -> gmail-seed: unread: not looked for: IMAP down\n";
    assert_string_equal(mf_buf_data(&b), want);

    /* a pair that does not exist (the sender is not its own seed) is "-" */
    const struct placement_pair y[] = {
        pair("a", "b", PLACEMENT_INBOX, 1000, false, NULL),
        pair("b", "a", PLACEMENT_INBOX, 2000, false, NULL),
    };
    mf_buf_reset(&b);
    assert_int_equal(placement_matrix_text(y, 2, &b), MF_OK);
    assert_string_equal(mf_buf_data(&b), "SENDER \\ SEED  b           a\n"
                                         "a              inbox 1.0s  -\n"
                                         "b              -           inbox 2.0s\n"
                                         "\n"
                                         "a: 1/1 in the inbox (100%)\n"
                                         "b: 1/1 in the inbox (100%)\n");
    mf_buf_reset(&b);
    assert_int_equal(placement_matrix_text(NULL, 0, &b), MF_OK);
    assert_string_equal(mf_buf_data(&b), "(no pairs)\n");
    mf_buf_free(&b);
}

static void test_store_roundtrip(void **state)
{
    (void)state;
    char dir[] = "/tmp/mf-plc-XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/store.db", dir);
    struct mf_err err;
    struct store *st = store_open(path, &err);
    assert_non_null(st);
    assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
    struct placement_pair *x = NULL;
    size_t n = 0;
    int64_t run = 0;
    assert_int_equal(placement_load(st, 0, &x, &n, &run, &err), MF_ENOTFOUND);
    for (int r = 1; r <= 2; r++) {
        struct store_placement a = {.run_id = r, .sent_at = 1700000000, .delay_ms = 4200};
        snprintf(a.sender, sizeof a.sender, "s1");
        snprintf(a.seed, sizeof a.seed, "seed-%d", r);
        snprintf(a.token, sizeof a.token, "abc%d", r);
        snprintf(a.result, sizeof a.result, "inbox");
        snprintf(a.folder, sizeof a.folder, "INBOX");
        assert_int_equal(store_placement_add(st, &a, &err), MF_OK);
        struct store_placement b = {.run_id = r, .delay_ms = -1};
        snprintf(b.sender, sizeof b.sender, "s1");
        snprintf(b.seed, sizeof b.seed, "other");
        snprintf(b.result, sizeof b.result, "missing");
        snprintf(b.detail, sizeof b.detail, "not looked for: IMAP down");
        assert_int_equal(store_placement_add(st, &b, &err), MF_OK);
    }
    struct store_placement bad = {.run_id = 3};
    snprintf(bad.result, sizeof bad.result, "spam");
    assert_int_equal(store_placement_add(st, &bad, &err), MF_EINVAL);

    assert_int_equal(placement_load(st, 0, &x, &n, &run, &err), MF_OK);
    assert_int_equal(run, 2);
    assert_int_equal(n, 2);
    assert_string_equal(x[0].seed, "seed-2");
    assert_int_equal(x[0].result, PLACEMENT_INBOX);
    assert_int_equal(x[0].delay_ms, 4200);
    assert_int_equal(x[1].result, PLACEMENT_MISSING);
    assert_true(x[1].seed_unread);
    assert_int_equal(x[1].delay_ms, -1);
    free(x);
    assert_int_equal(placement_load(st, 1, &x, &n, &run, &err), MF_OK);
    assert_string_equal(x[0].seed, "seed-1");
    free(x);
    assert_int_equal(placement_load(st, 9, &x, &n, &run, &err), MF_ENOTFOUND);
    store_close(st);
    unlink(path);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pair_rule),
        cmocka_unit_test(test_folders),
        cmocka_unit_test(test_tally_threshold),
        cmocka_unit_test(test_delay_text),
        cmocka_unit_test(test_matrix),
        cmocka_unit_test(test_store_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
