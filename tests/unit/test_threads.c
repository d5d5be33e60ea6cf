/* engine: the threads a sequence writes, run in simulate mode over a week.
 * A follow-up answers the message before it (In-Reply-To, References with
 * the thread's first message, "Re: " and the thread's subject); a step with
 * new_thread starts its own thread, and the follow-up after it answers that
 * one, not the first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define TMPDIR_NAME "threads"
#include "unit_ok.h"
#include "unit_tmpdir.h"

#include "engine/engine.h"

#define START 1767852000LL /* Thursday 2026-01-08 06:00 UTC */

static struct mf_err e;

static const char campaign[] =
    "name: threads\n"
    "window: { start: \"00:00\", end: \"23:59\", days: everyday }\n"
    "gap: { min: 1, max: 1 }\n"
    "unsubscribe: { text: \"Reply stop.\" }\n"
    "postal_address: \"Test Ltd\"\n"
    "steps:\n"
    "  - subject: \"First question\"\n"
    "    body: \"One.\"\n"
    "  - delay: 1 day\n"
    "    body: \"Two.\"\n"
    "  - delay: 1 day\n"
    "    new_thread: true\n"
    "    subject: \"Another matter\"\n"
    "    body: \"Three.\"\n"
    "  - delay: 1 day\n"
    "    body: \"Four.\"\n";

static int64_t clock_now(void *ctx)
{
    return *(int64_t *)ctx;
}

/* The value of header name in raw ("" when absent), unfolded. */
static void header(const char *raw, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    size_t n = strlen(name);
    for (const char *p = raw; p && *p && !(p[0] == '\r' && p[1] == '\n'); ) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            size_t len = 0;
            while (*v == ' ')
                v++;
            while (*v && len + 1 < size) {
                if (v[0] == '\r' && v[1] == '\n' && v[2] != ' ' && v[2] != '\t')
                    break;
                if (*v != '\r' && *v != '\n')
                    out[len++] = *v == '\t' ? ' ' : *v;
                v++;
            }
            out[len] = '\0';
            return;
        }
        p = strstr(p, "\r\n");
        p = p ? p + 2 : NULL;
    }
}

struct msg {
    char id[256], subject[256], irt[256], refs[600];
};

static void read_step(struct store *st, int64_t outbox_id, int step, struct msg *m)
{
    struct store_outbox o;
    OK(store_outbox_get(st, outbox_id, &o, &e));
    assert_int_equal(o.step, step);
    assert_string_equal(o.state, "sent");
    char *raw = strndup(o.raw, o.raw_len);
    assert_non_null(raw);
    header(raw, "Message-ID", m->id, sizeof m->id);
    header(raw, "Subject", m->subject, sizeof m->subject);
    header(raw, "In-Reply-To", m->irt, sizeof m->irt);
    header(raw, "References", m->refs, sizeof m->refs);
    assert_string_equal(m->id, o.message_id);
    free(raw);
    store_outbox_clear(&o);
}

static void test_follow_ups_thread_under_the_latest_new_thread(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/t.db", dir);
    struct store *st = store_open(path, &e);
    assert_non_null(st);
    struct store_account a = {.port = 25};
    snprintf(a.name, sizeof a.name, "mb");
    snprintf(a.host, sizeof a.host, "127.0.0.1");
    snprintf(a.security, sizeof a.security, "none");
    snprintf(a.auth, sizeof a.auth, "none");
    snprintf(a.from_addr, sizeof a.from_addr, "mb@fleet.test");
    OK(store_account_put(st, &a, false, &e));
    struct store_mailbox m = {.per_minute = 30, .rcpt_per_day = 10000, .max_connections = 3,
                              .daily_cap = 100, .started_at = START - 30 * 86400};
    snprintf(m.account, sizeof m.account, "mb");
    snprintf(m.timezone, sizeof m.timezone, "UTC");
    snprintf(m.status, sizeof m.status, "active");
    OK(store_mailbox_put(st, &m, &e));
    int64_t camp = 0, lead = 0;
    OK(store_campaign_put(st, "threads", campaign, 4, &camp, &e));
    OK(store_campaign_set_status(st, camp, "active", "", &e));
    bool ins = false;
    OK(store_lead_add(st, "ann@leads.test", "leads.test", "{}", "UTC", &lead, &ins, &e));
    OK(store_enroll(st, camp, lead, START, &ins, &e));

    int64_t now = START;
    struct engine_cfg cfg = {.st = st, .simulate = true, .clock = clock_now, .clock_ctx = &now};
    struct engine *en = engine_new(&cfg, &e);
    assert_non_null(en);
    for (int hour = 0; hour < 6 * 24; hour++, now += 3600) {
        int queued = 0;
        int64_t next = 0;
        OK(engine_tick(en, &queued, &next, &e));
        OK(engine_flush(en, &e));
    }
    engine_free(en);

    struct msg s[4];
    for (int i = 0; i < 4; i++)
        read_step(st, i + 1, i, &s[i]);
    /* step 1 starts the thread */
    assert_string_equal(s[0].subject, "First question");
    assert_string_equal(s[0].irt, "");
    /* step 2 answers it */
    assert_string_equal(s[1].subject, "Re: First question");
    assert_string_equal(s[1].irt, s[0].id);
    assert_string_equal(s[1].refs, s[0].id);
    /* step 3 starts a thread of its own */
    assert_string_equal(s[2].subject, "Another matter");
    assert_string_equal(s[2].irt, "");
    assert_string_equal(s[2].refs, "");
    /* step 4 answers step 3, in step 3's thread */
    assert_string_equal(s[3].subject, "Re: Another matter");
    assert_string_equal(s[3].irt, s[2].id);
    assert_string_equal(s[3].refs, s[2].id);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_follow_ups_thread_under_the_latest_new_thread),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
