/* engine/plan: on a small store that exercises every limit (per-minute,
 * rolling 24 h messages and recipients, tenant cap, daily cap, ramp, gap,
 * backoff, pause), windows in several time zones, follow-ups, a missing
 * merge field, suppression, inactive leads and a queued outbox, the plan
 * must list exactly the messages, minutes and mailboxes that the engine in
 * simulate mode sends over the same 72 hours (a weekend among them) on a
 * copy of the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define TMPDIR_NAME "plan"
#include "unit_ok.h"
#include "unit_tmpdir.h"

#include "engine/engine.h"
#include "engine/plan.h"

#define START 1767852000LL /* Thursday 2026-01-08 06:00 UTC */
#define HOURS 72

static struct mf_err e;

/* ---- the store ------------------------------------------------------------------------- */

struct mb {
    const char *name, *tz, *tenant, *status;
    int per_minute, rcpt_per_day, daily_cap, ramp_start, ramp_days;
    int64_t started_at, backoff_until, next_send_at;
};

static void add_mailbox(struct store *st, const struct mb *m)
{
    struct store_account a = {.port = 25};
    snprintf(a.name, sizeof a.name, "%s", m->name);
    snprintf(a.host, sizeof a.host, "127.0.0.1");
    snprintf(a.security, sizeof a.security, "none");
    snprintf(a.auth, sizeof a.auth, "none");
    snprintf(a.from_addr, sizeof a.from_addr, "%s@fleet.test", m->name);
    OK(store_account_put(st, &a, false, &e));
    struct store_mailbox s = {.per_minute = m->per_minute, .rcpt_per_day = m->rcpt_per_day,
                              .max_connections = 3, .daily_cap = m->daily_cap,
                              .ramp_start = m->ramp_start, .ramp_days = m->ramp_days,
                              .started_at = m->started_at ? m->started_at : START - 30 * 86400,
                              .backoff_until = m->backoff_until,
                              .backoff_s = m->backoff_until ? 120 : 0,
                              .next_send_at = m->next_send_at};
    snprintf(s.account, sizeof s.account, "%s", m->name);
    snprintf(s.timezone, sizeof s.timezone, "%s", m->tz);
    snprintf(s.tenant, sizeof s.tenant, "%s", m->tenant ? m->tenant : "");
    snprintf(s.status, sizeof s.status, "%s", m->status ? m->status : "active");
    OK(store_mailbox_put(st, &s, &e));
}

static const struct mb mailboxes[] = {
    /* the most spare capacity: takes first touches until its per-minute limit */
    {.name = "a", .tz = "UTC", .per_minute = 2, .rcpt_per_day = 10000, .daily_cap = 55},
    /* ramp day 2 (allowance 40), day 3 (60) starts during the plan */
    {.name = "b", .tz = "Europe/Paris", .per_minute = 30, .rcpt_per_day = 10000,
     .daily_cap = 100, .ramp_start = 20, .ramp_days = 5, .started_at = START - 86400 - 3600},
    /* one tenant, 3 external recipients a day between them: the most spare
     * capacity, when the tenant lets them */
    {.name = "c", .tz = "America/New_York", .tenant = "T", .per_minute = 30,
     .rcpt_per_day = 10000, .daily_cap = 300},
    {.name = "d", .tz = "", .tenant = "T", .per_minute = 30, .rcpt_per_day = 10000,
     .daily_cap = 300},
    {.name = "e", .tz = "UTC", .status = "paused", .per_minute = 30, .rcpt_per_day = 10000,
     .daily_cap = 500},
    {.name = "f", .tz = "Asia/Tokyo", .per_minute = 30, .rcpt_per_day = 10000,
     .daily_cap = 55, .backoff_until = START + 7200},
    {.name = "g", .tz = "UTC", .per_minute = 30, .rcpt_per_day = 10000, .daily_cap = 15,
     .next_send_at = START + 900},
    /* the provider's recipient limit, nearly used up by yesterday's sends */
    {.name = "h", .tz = "UTC", .per_minute = 30, .rcpt_per_day = 4, .daily_cap = 50},
    /* one send a few seconds ago and one queued: at its per-minute limit */
    {.name = "i", .tz = "UTC", .per_minute = 2, .rcpt_per_day = 10000, .daily_cap = 58},
    /* a tenant of one message a day, nothing sent yet */
    {.name = "j", .tz = "UTC", .tenant = "U", .per_minute = 30, .rcpt_per_day = 10000,
     .daily_cap = 400},
    {.name = "k", .tz = "UTC", .tenant = "U", .per_minute = 30, .rcpt_per_day = 10000,
     .daily_cap = 400},
};

static const char alpha[] =
    "name: alpha\n"
    "window: { start: \"09:00\", end: \"17:00\", days: [mon, tue, wed, thu, fri] }\n"
    "gap: { min: 120, max: 120 }\n"
    "unsubscribe: { text: \"Reply stop.\" }\n"
    "postal_address: \"Test Ltd\"\n"
    "steps:\n"
    "  - subject: \"Hi {{first_name|there}}\"\n"
    "    body: \"About {{company|your company}}.\"\n"
    "  - delay: 1 day\n"
    "    body: \"Following up.\"\n";

/* the first subject variant needs the company: leads without one that
 * draw it are skipped */
static const char beta[] =
    "name: beta\n"
    "window: { start: \"00:00\", end: \"23:59\", days: everyday }\n"
    "gap: { min: 45, max: 45 }\n"
    "unsubscribe: { text: \"Reply stop.\" }\n"
    "postal_address: \"Test Ltd\"\n"
    "steps:\n"
    "  - subject: [\"A question for {{company}}\", \"Hello {{first_name|you}}\"]\n"
    "    body: \"Hi.\"\n"
    "  - delay: 1 business day\n"
    "    body: \"Again.\"\n"
    "  - delay: 2 days\n"
    "    new_thread: true\n"
    "    subject: \"Last one\"\n"
    "    body: \"Bye.\"\n";

static const char gamma_[] =
    "name: gamma\n"
    "unsubscribe: { text: \"Reply stop.\" }\n"
    "postal_address: \"Test Ltd\"\n"
    "steps:\n"
    "  - subject: \"Paused\"\n"
    "    body: \"Never.\"\n";

/* its own time zone field, a one-second gap (per-minute limits bite), and
 * a field every lead needs */
static const char delta[] =
    "name: delta\n"
    "timezone_field: tz\n"
    "window: { start: \"08:00\", end: \"12:00\", days: everyday }\n"
    "gap: { min: 1, max: 1 }\n"
    "unsubscribe: { text: \"Reply stop.\" }\n"
    "postal_address: \"Test Ltd\"\n"
    "steps:\n"
    "  - subject: \"News from {{city}}\"\n"
    "    body: \"Hi.\"\n";

static int64_t add_campaign(struct store *st, const char *name, const char *yaml, int steps,
                            bool active)
{
    int64_t id = 0;
    OK(store_campaign_put(st, name, yaml, steps, &id, &e));
    if (active)
        OK(store_campaign_set_status(st, id, "active", "", &e));
    return id;
}

#define NLEADS 220

static int64_t add_lead(struct store *st, int i)
{
    static const char *const zones[] = {"America/New_York", "Asia/Tokyo", "UTC", "",
                                        "Mars/Phobos", "Europe/Paris"};
    char addr[64], fields[256], domain[32];
    snprintf(domain, sizeof domain, "%s", i >= 10 && i < 13 ? "blocked.test" : "leads.test");
    snprintf(addr, sizeof addr, "lead%d@%s", i, domain);
    const char *zone = zones[i % 6];
    int n = snprintf(fields, sizeof fields, "{\"first_name\":\"L%d\"", i);
    if (i % 7)
        n += snprintf(fields + n, sizeof fields - (size_t)n, ",\"company\":\"C%d\"", i);
    if (i % 5 != 1)
        n += snprintf(fields + n, sizeof fields - (size_t)n, ",\"city\":\"%s\"",
                      i % 5 == 2 ? "  " : "Lyon");
    if (i % 4 == 0)
        n += snprintf(fields + n, sizeof fields - (size_t)n, ",\"tz\":\"%s\"",
                      zones[(i / 4) % 6]);
    snprintf(fields + n, sizeof fields - (size_t)n, "}");
    int64_t id = 0;
    bool ins = false;
    OK(store_lead_add(st, addr, domain, fields, zone, &id, &ins, &e));
    return id;
}

static void enroll(struct store *st, int64_t camp, int64_t lead, int64_t due)
{
    bool ins = false;
    OK(store_enroll(st, camp, lead, due, &ins, &e));
}

/* Enrollment id (of lead) becomes step 2 of a thread its first touch from
 * mailbox started. */
static void as_follow_up(struct store *st, int64_t id, int64_t lead, const char *mailbox)
{
    struct store_enrollment en;
    OK(store_enrollment_get(st, id, &en, &e));
    assert_int_equal(en.lead_id, lead);
    snprintf(en.mailbox, sizeof en.mailbox, "%s", mailbox);
    en.next_step = 1;
    snprintf(en.thread_id, sizeof en.thread_id, "<t%lld@fleet.test>", (long long)id);
    snprintf(en.last_message_id, sizeof en.last_message_id, "%s", en.thread_id);
    snprintf(en.thread_subject, sizeof en.thread_subject, "Hi");
    OK(store_enrollment_update(st, &en, &e));
}

/* An enrollment of lead in camp with its first touch sent from mailbox. */
static int64_t follow_up(struct store *st, int64_t camp, int64_t lead, const char *mailbox)
{
    enroll(st, camp, lead, START);
    struct store_enrollment en;
    int64_t found = 0;
    for (int64_t id = 1; id < 1000 && !found; id++)
        if (store_enrollment_get(st, id, &en, &e) == MF_OK && en.campaign_id == camp &&
            en.lead_id == lead)
            found = id;
    assert_true(found > 0);
    as_follow_up(st, found, lead, mailbox);
    return found;
}

/* A message queued before the plan, its enrollment waiting for it. */
static void queued(struct store *st, int64_t enrollment, const char *mailbox, const char *rcpt)
{
    struct store_enrollment en;
    OK(store_enrollment_get(st, enrollment, &en, &e));
    struct store_outbox o = {.enrollment_id = enrollment, .step = en.next_step, .raw = "x",
                             .raw_len = 1};
    snprintf(o.mailbox, sizeof o.mailbox, "%s", mailbox);
    snprintf(o.message_id, sizeof o.message_id, "<q%lld@fleet.test>", (long long)enrollment);
    snprintf(o.sender, sizeof o.sender, "%s@fleet.test", mailbox);
    snprintf(o.rcpt, sizeof o.rcpt, "%s", rcpt);
    int64_t id = 0;
    OK(store_outbox_add(st, &o, &id, &e));
    snprintf(en.mailbox, sizeof en.mailbox, "%s", mailbox);
    snprintf(en.state, sizeof en.state, "sending");
    OK(store_enrollment_update(st, &en, &e));
}

static struct store *build(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s/plan.db", dir);
    struct store *st = store_open(path, &e);
    assert_non_null(st);
    OK(store_tenant_put(st, "T", 3, &e));
    OK(store_tenant_put(st, "U", 1, &e));
    for (size_t i = 0; i < sizeof mailboxes / sizeof *mailboxes; i++)
        add_mailbox(st, &mailboxes[i]);
    /* yesterday's sends: a at its per-minute limit, h near its recipients,
     * the tenant full (one of them by g, before it left the tenant) */
    OK(store_sendlog_add(st, "a", "", (START - 50) * 1000, 1, 1, 0, &e));
    OK(store_sendlog_add(st, "a", "", (START - 20) * 1000, 1, 1, 0, &e));
    OK(store_sendlog_add(st, "a", "", (START - 3600 * 20) * 1000, 1, 1, 0, &e));
    OK(store_sendlog_add(st, "h", "", (START - 3600 * 23) * 1000, 3, 3, 0, &e));
    OK(store_sendlog_add(st, "c", "T", (START - 3600 * 22) * 1000, 1, 1, 0, &e));
    OK(store_sendlog_add(st, "d", "T", (START - 3600 * 2) * 1000, 1, 1, 0, &e));
    OK(store_sendlog_add(st, "g", "T", (START - 3600 * 3) * 1000, 1, 1, 0, &e));
    OK(store_sendlog_add(st, "i", "", (START - 10) * 1000, 1, 1, 0, &e));
    int64_t ca = add_campaign(st, "alpha", alpha, 2, true);
    int64_t cb = add_campaign(st, "beta", beta, 3, true);
    int64_t cg = add_campaign(st, "gamma", gamma_, 1, false);
    int64_t cd = add_campaign(st, "delta", delta, 1, true);
    int64_t lead[NLEADS];
    for (int i = 0; i < NLEADS; i++)
        lead[i] = add_lead(st, i);
    OK(store_suppress_add(st, "lead3@leads.test", "asked", &e));
    OK(store_suppress_add(st, "@blocked.test", "complained", &e));
    OK(store_lead_set_status(st, lead[5], "bounced", &e));
    for (int i = 0; i < 50; i++)
        enroll(st, ca, lead[i], i % 9 == 0 ? START + 3 * 3600 : 0);
    for (int i = 40; i < 100; i++)
        enroll(st, cb, lead[i], i % 11 == 0 ? START + 86400 : 0);
    for (int i = 0; i < 10; i++)
        enroll(st, cg, lead[i], 0);
    for (int i = 100; i < 136; i++)
        enroll(st, cd, lead[i], 0);
    for (int i = 140; i < NLEADS; i++) /* a first touch every 54 minutes */
        enroll(st, cb, lead[i], START + (i - 140) * 3240);
    follow_up(st, ca, lead[136], "c");
    follow_up(st, cb, lead[137], "zz"); /* its mailbox is gone: stops */
    queued(st, follow_up(st, cb, lead[138], "a"), "a", "lead138@leads.test");
    queued(st, follow_up(st, cd, lead[139], "e"), "e", "lead139@leads.test"); /* paused */
    queued(st, follow_up(st, ca, lead[45], "gone"), "gone", "lead45@leads.test");
    /* its success ends f's backoff at once */
    queued(st, follow_up(st, cb, lead[41], "f"), "f", "lead41@leads.test");
    queued(st, follow_up(st, cb, lead[42], "i"), "i", "lead42@leads.test");
    return st;
}

/* ---- the two runs ---------------------------------------------------------------------- */

struct sends {
    struct {
        int64_t at;
        char line[400];
        char mailbox[64];
    } v[4096];
    size_t n;
    int64_t *clock;
};

static void add(struct sends *s, int64_t at, const char *line, const char *mailbox)
{
    assert_true(s->n < sizeof s->v / sizeof *s->v);
    s->v[s->n].at = at;
    snprintf(s->v[s->n].line, sizeof s->v[s->n].line, "%s", line);
    snprintf(s->v[s->n].mailbox, sizeof s->v[s->n].mailbox, "%s", mailbox);
    s->n++;
}

static int on_send(void *ctx, const struct plan_send *p)
{
    char line[400];
    snprintf(line, sizeof line, "%s step %d to %s from %s", p->campaign, p->step, p->rcpt,
             p->mailbox);
    add(ctx, p->at, line, p->mailbox);
    return 0;
}

static int64_t clock_now(void *ctx)
{
    return *(int64_t *)ctx;
}

/* The engine's "sent CAMPAIGN step N to RCPT from MAILBOX" notes. */
static void on_note(void *ctx, const char *line)
{
    struct sends *s = ctx;
    if (strncmp(line, "sent ", 5) == 0)
        add(s, *s->clock, line + 5, strrchr(line, ' ') + 1);
}

static void run_engine_for(struct store *st, struct sends *out, int hours)
{
    struct store *copy = store_open_copy(st, &e);
    assert_non_null(copy);
    int64_t now = START;
    out->clock = &now;
    struct engine_cfg cfg = {.st = copy, .simulate = true, .clock = clock_now,
                             .clock_ctx = &now, .note = on_note, .note_ctx = out};
    struct engine *en = engine_new(&cfg, &e);
    assert_non_null(en);
    int requeued = 0, unknown = 0;
    OK(engine_recover(en, &requeued, &unknown, &e));
    while (now < START + hours * 3600) {
        int queued_n = 0;
        int64_t next = 0;
        OK(engine_tick(en, &queued_n, &next, &e));
        OK(engine_flush(en, &e));
        now += plan_step(queued_n, now, next);
    }
    engine_free(en);
    store_close(copy);
}

static void run_engine(struct store *st, struct sends *out)
{
    run_engine_for(st, out, HOURS);
}

static void assert_same_sends(const struct sends *planned, const struct sends *engine)
{
    assert_int_equal(planned->n, engine->n);
    for (size_t i = 0; i < planned->n; i++)
        if (planned->v[i].at != engine->v[i].at || strcmp(planned->v[i].line, engine->v[i].line))
            fail_msg("message %zu: plan %lld %s, engine %lld %s", i,
                     (long long)planned->v[i].at, planned->v[i].line,
                     (long long)engine->v[i].at, engine->v[i].line);
}

static long count_of(const struct sends *s, const char *mailbox)
{
    long n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += strcmp(s->v[i].mailbox, mailbox) == 0;
    return n;
}

static void test_plan_matches_the_engine(void **state)
{
    (void)state;
    struct store *st = build();
    static struct sends planned, engine;
    memset(&planned, 0, sizeof planned);
    memset(&engine, 0, sizeof engine);
    struct plan_cfg cfg = {.st = st, .start = START, .until = START + HOURS * 3600, .seed = 7,
                           .on_send = on_send, .ctx = &planned};
    struct plan_result res;
    OK(plan_run(&cfg, &res, &e));
    run_engine(st, &engine);
    assert_int_equal(res.sent, (long)planned.n);
    /* per mailbox first, for a readable failure */
    for (size_t m = 0; m < sizeof mailboxes / sizeof *mailboxes; m++)
        if (count_of(&planned, mailboxes[m].name) != count_of(&engine, mailboxes[m].name))
            fail_msg("mailbox %s: the plan sends %ld, the engine %ld", mailboxes[m].name,
                     count_of(&planned, mailboxes[m].name),
                     count_of(&engine, mailboxes[m].name));
    assert_same_sends(&planned, &engine);
    /* the scenario does what it is for */
    assert_true(planned.n > 100);
    assert_int_equal(count_of(&planned, "e"), 1);   /* paused: only its queued message */
    assert_true(count_of(&planned, "c") + count_of(&planned, "d") <= 5 + 5);
    assert_true(count_of(&planned, "f") > 0);
    assert_true(res.skipped > 0);
    store_close(st);
}

static int count_rows(void *ctx, const char *state, int64_t count)
{
    (void)state;
    *(int64_t *)ctx += count;
    return 0;
}

static void test_plan_only_reads(void **state)
{
    (void)state;
    struct store *st = build();
    int64_t before = 0, after = 0, latest = 0, latest_after = 0;
    OK(store_outbox_counts(st, count_rows, &before, &e));
    OK(store_sendlog_latest(st, &latest, &e));
    struct plan_cfg cfg = {.st = st, .start = START, .until = START + 6 * 3600};
    struct plan_result res;
    OK(plan_run(&cfg, &res, &e));
    assert_true(res.sent > 0);
    OK(store_outbox_counts(st, count_rows, &after, &e));
    OK(store_sendlog_latest(st, &latest_after, &e));
    assert_int_equal(before, after);
    assert_int_equal(latest, latest_after);
    store_close(st);
}

/* ---- a mailbox that cannot send does not starve the others --------------------------- */

static const struct mb held_mailboxes[] = {
    {.name = "p", .tz = "UTC", .status = "paused", .per_minute = 30, .rcpt_per_day = 10000,
     .daily_cap = 1000},
    {.name = "q", .tz = "UTC", .per_minute = 30, .rcpt_per_day = 10000, .daily_cap = 5},
    {.name = "m", .tz = "UTC", .per_minute = 30, .rcpt_per_day = 10000, .daily_cap = 1000},
};

static const char steady[] =
    "name: steady\n"
    "window: { start: \"00:00\", end: \"23:59\", days: everyday }\n"
    "gap: { min: 45, max: 45 }\n"
    "unsubscribe: { text: \"Reply stop.\" }\n"
    "postal_address: \"Test Ltd\"\n"
    "steps:\n"
    "  - subject: \"Hi\"\n"
    "    body: \"Hi.\"\n"
    "  - delay: 1 day\n"
    "    body: \"Again.\"\n";

/* Enrollment `id` (the store's next), a follow-up due at `due` from mailbox. */
static void held_follow_up(struct store *st, int64_t camp, int64_t id, const char *mailbox,
                           int64_t due)
{
    char addr[64];
    snprintf(addr, sizeof addr, "held%lld@leads.test", (long long)id);
    int64_t lead = 0;
    bool ins = false;
    OK(store_lead_add(st, addr, "leads.test", "{}", "UTC", &lead, &ins, &e));
    enroll(st, camp, lead, due);
    as_follow_up(st, id, lead, mailbox);
}

/* More due follow-ups of a paused mailbox (p) and of one at its daily cap
 * (q) than the engine reads per tick, older than those of a mailbox that
 * can send (m): m's go out all the same, in the plan as in the engine. */
static void test_held_mailboxes_do_not_starve_the_others(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/held.db", dir);
    struct store *st = store_open(path, &e);
    assert_non_null(st);
    for (size_t i = 0; i < sizeof held_mailboxes / sizeof *held_mailboxes; i++)
        add_mailbox(st, &held_mailboxes[i]);
    int64_t camp = add_campaign(st, "steady", steady, 2, true);
    int64_t id = 1;
    for (int i = 0; i < PLAN_DUE_BATCH + 100; i++)
        held_follow_up(st, camp, id++, "p", START - 7200);
    for (int i = 0; i < PLAN_DUE_BATCH + 100; i++)
        held_follow_up(st, camp, id++, "q", START - 3600);
    for (int i = 0; i < 20; i++)
        held_follow_up(st, camp, id++, "m", START - 60);
    static struct sends planned, engine;
    memset(&planned, 0, sizeof planned);
    memset(&engine, 0, sizeof engine);
    struct plan_cfg cfg = {.st = st, .start = START, .until = START + 2 * 3600, .seed = 7,
                           .on_send = on_send, .ctx = &planned};
    struct plan_result res;
    OK(plan_run(&cfg, &res, &e));
    run_engine_for(st, &engine, 2);
    assert_int_equal(count_of(&planned, "m"), 20);
    assert_int_equal(count_of(&planned, "q"), 5);
    assert_int_equal(count_of(&planned, "p"), 0);
    assert_same_sends(&planned, &engine);
    store_close(st);
}

static int stop_after_one(void *ctx, const struct plan_send *p)
{
    (void)p;
    return ++*(int *)ctx >= 1;
}

static void test_plan_stops_when_asked(void **state)
{
    (void)state;
    struct store *st = build();
    int seen = 0;
    struct plan_cfg cfg = {.st = st, .start = START, .until = START + HOURS * 3600,
                           .on_send = stop_after_one, .ctx = &seen};
    struct plan_result res;
    OK(plan_run(&cfg, &res, &e));
    assert_int_equal(seen, 1);
    assert_int_equal(res.sent, 1);
    store_close(st);
}

static void test_plan_step(void **state)
{
    (void)state;
    assert_int_equal(plan_step(3, 1000, 0), 15);
    assert_int_equal(plan_step(0, 1000, 0), 60);
    assert_int_equal(plan_step(0, 1000, 1005), 15);
    assert_int_equal(plan_step(0, 1000, 1300), 300);
    assert_int_equal(plan_step(0, 1000, 90000), 900);
    assert_int_equal(plan_step(0, 1000, 900), 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plan_matches_the_engine, tmpdir_setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_plan_only_reads, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_plan_stops_when_asked, tmpdir_setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_held_mailboxes_do_not_starve_the_others,
                                        tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test(test_plan_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
