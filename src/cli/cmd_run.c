/* `mailfleet run`, `status` and `plan`: the sending engine for people. */
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/secrets.h"
#include "cli/cli.h"
#include "engine/engine.h"
#include "engine/plan.h"
#include "engine/render.h"
#include "engine/placement_sched.h"
#include "engine/sched.h"
#include "engine/sync.h"
#include "util/clock.h"

static const char run_usage[] =
    "usage: mailfleet run [--until-idle] [--for SECONDS] [--cafile PEM] [--insecure]\n"
    "                     [--clock-speed N] [--no-gap] [--no-sync] [--poll SECONDS]\n"
    "                     [--batch N] [--no-placement]\n"
    "\n"
    "Sends the active campaigns: first touches spread over the mailboxes with\n"
    "the most spare capacity, follow-ups from the mailbox that sent the first\n"
    "touch, in its thread, inside each lead's send window, never over any\n"
    "limit (mailfleet status shows them). Ctrl-C or SIGTERM finishes what is in\n"
    "flight and stops; a crash loses nothing and never sends a message twice.\n"
    "\n"
    "  --until-idle       stop when every sequence is finished\n"
    "  --for SECONDS      stop after this long\n"
    "  --cafile PEM       extra CA certificates for the mail servers\n"
    "  --no-gap           no random gap between a mailbox's sends (benchmarks and\n"
    "                     tests against your own servers; limits still hold)\n"
    "  --no-sync          do not read the mailboxes over IMAP (mailfleet sync can,\n"
    "                     elsewhere); by default every mailbox with an IMAP server\n"
    "                     is watched, replies stop sequences at once, and a\n"
    "                     mailbox whose replies are unread holds its follow-ups\n"
    "  --poll SECONDS     full IMAP check interval (default 60; IDLE in between)\n"
    "  --no-placement     skip the campaigns' scheduled inbox-placement checks\n"
    "                     (their placement: key; see mailfleet placement --help)\n"
    "  --batch N          messages per connection, pipelined (default 200); 1 for\n"
    "                     servers that break on pipelined messages (Dovecot 2.3's\n"
    "                     submission service aborts the connection)\n"
    "  --clock-speed N    run the schedule N times faster than real time (demos,\n"
    "                     tests: windows, gaps, delays and ramps pass quickly;\n"
    "                     providers' real limits still hold at their servers)\n";

static struct sync *run_sync; /* the IMAP sync beside the sender, or NULL */

static bool run_followups_ok(void *ctx, const char *mailbox, int64_t now)
{
    (void)ctx;
    return !run_sync || sync_followups_ok(run_sync, mailbox, now);
}

struct fast_clock {
    int64_t start_wall;
    double start_ms;
    double speed;
};

static int64_t fast_now(void *ctx)
{
    struct fast_clock *c = ctx;
    return c->start_wall + (int64_t)((mf_now_ms() - c->start_ms) * c->speed / 1000.0);
}

static int64_t fast_now_ms(void *ctx)
{
    struct fast_clock *c = ctx;
    return c->start_wall * 1000 + (int64_t)((mf_now_ms() - c->start_ms) * c->speed);
}

static void print_note(void *ctx, const char *line)
{
    struct fast_clock *c = ctx;
    cli_print_stamped(c ? fast_now(c) : mf_wall_seconds(), line);
}

/* The IMAP sync on the engine's loop, on the engine's clock. */
static enum mf_rc start_sync(struct engine *en, struct store *st, struct secrets *sec,
                             const struct engine_cfg *ec, int poll, unsigned char *key,
                             struct mf_err *e)
{
    struct event_base *base;
    struct dns *dns;
    SSL_CTX *tls;
    enum mf_rc rc = engine_event_env(en, &base, &dns, &tls, e);
    if (rc == MF_OK)
        rc = render_unsub_key(st, key, e);
    if (rc != MF_OK)
        return rc;
    struct sync_cfg cfg = {.st = st, .sec = sec, .base = base, .dns = dns, .tls = tls,
                           .clock = ec->clock, .clock_ctx = ec->clock_ctx, .unsub_key = key,
                           .poll_s = poll, .note = ec->note, .note_ctx = ec->note_ctx};
    int watched = 0;
    run_sync = sync_new(&cfg, e);
    rc = run_sync ? sync_start(run_sync, &watched, e) : e->rc;
    if (rc == MF_OK && watched)
        printf("watching %d mailbox%s over IMAP for replies and bounces\n", watched,
               watched == 1 ? "" : "es");
    return rc;
}

static struct placement_sched *run_placement; /* the campaigns' placement checks */
static struct event *placement_timer;

static void placement_tick(evutil_socket_t fd, short what, void *ctx)
{
    (void)fd;
    (void)what;
    struct mf_err e;
    if (placement_sched_tick(run_placement, mf_wall_seconds(), &e) != MF_OK) {
        char line[600];
        snprintf(line, sizeof line, "placement: %s", e.detail);
        print_note(ctx, line);
    }
}

/* The campaigns' scheduled placement checks, on the engine's loop. */
static enum mf_rc start_placement(struct engine *en, struct store *st, struct secrets *sec,
                                  const struct engine_cfg *ec, struct mf_err *e)
{
    struct event_base *base;
    struct dns *dns;
    SSL_CTX *tls;
    enum mf_rc rc = engine_event_env(en, &base, &dns, &tls, e);
    if (rc != MF_OK)
        return rc;
    struct placement_sched_cfg cfg = {.st = st, .sec = sec, .base = base, .dns = dns,
                                      .tls = tls, .note = ec->note, .note_ctx = ec->note_ctx};
    if (!(run_placement = placement_sched_new(&cfg, e)))
        return e->rc;
    placement_timer = event_new(base, -1, EV_PERSIST, placement_tick, ec->note_ctx);
    struct timeval every = {.tv_sec = 5};
    if (!placement_timer || event_add(placement_timer, &every) != 0)
        return mf_err_set(e, MF_ENOMEM, MF_LAYER_INTERNAL, "cannot start a timer");
    placement_tick(-1, 0, ec->note_ctx);
    return MF_OK;
}

/* A check in flight is seen to its end (Ctrl-C abandons it) and saved. */
static void finish_placement(struct engine *en, const struct engine_cfg *ec)
{
    struct event_base *base;
    struct dns *dns;
    SSL_CTX *tls;
    struct mf_err e;
    if (!run_placement || engine_event_env(en, &base, &dns, &tls, &e) != MF_OK)
        return;
    if (placement_timer)
        event_free(placement_timer);
    placement_timer = NULL;
    if (placement_sched_running(run_placement) && !cli_stop)
        ec->note(ec->note_ctx, "waiting for the placement check to end (Ctrl-C abandons it)");
    bool abandoned = false;
    while (placement_sched_running(run_placement)) {
        if (cli_stop && !abandoned) {
            placement_sched_abandon(run_placement);
            abandoned = true;
        }
        cli_pump(base, 200);
    }
    placement_tick(-1, 0, ec->note_ctx); /* saves it */
}

/* Logs out of the IMAP sessions (a few seconds at most). */
static void stop_sync(struct engine *en)
{
    struct event_base *base;
    struct dns *dns;
    SSL_CTX *tls;
    struct mf_err e;
    if (!run_sync || engine_event_env(en, &base, &dns, &tls, &e) != MF_OK)
        return;
    sync_stop(run_sync);
    for (int64_t end = mf_now_ms() + 5000; sync_active(run_sync) && mf_now_ms() < end;)
        cli_pump(base, 100);
}

int cmd_run(const struct cli_global *g, int argc, char **argv)
{
    bool until_idle = false, insecure = false, no_gap = false, no_sync = false;
    bool no_placement = false;
    int poll = 0, batch = 0;
    const char *cafile = NULL;
    double speed = 1;
    long for_s = 0, speed_n = 1;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--until-idle"))
            until_idle = true;
        else if (!strcmp(argv[i], "--insecure"))
            insecure = true;
        else if (!strcmp(argv[i], "--no-gap"))
            no_gap = true;
        else if (!strcmp(argv[i], "--no-sync"))
            no_sync = true;
        else if (!strcmp(argv[i], "--no-placement"))
            no_placement = true;
        else if (!strcmp(argv[i], "--poll") && cli_int_arg(v, 5, 1500, &poll))
            i++;
        else if (!strcmp(argv[i], "--batch") && cli_int_arg(v, 1, 10000, &batch))
            i++;
        else if (!strcmp(argv[i], "--cafile") && v)
            cafile = argv[++i];
        else if (!strcmp(argv[i], "--for") && cli_long_arg(v, 1, 366L * 86400, &for_s))
            i++;
        else if (!strcmp(argv[i], "--clock-speed") && cli_long_arg(v, 1, 1000000, &speed_n))
            speed = (double)speed_n, i++;
        else {
            bool help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
            if (!help)
                fprintf(stderr, "mailfleet: run: bad or unknown option \"%s\" (or a value out "
                        "of range)\n", argv[i]);
            fputs(run_usage, help ? stdout : stderr);
            return help ? CLI_OK : CLI_USAGE;
        }
    }
    if (insecure)
        cli_warn_insecure("the mail servers' certificates");
    struct secrets *sec = NULL;
    struct store *st = cli_open_store_secrets(g, &sec);
    if (!st)
        return CLI_CONFIG;
    struct fast_clock clock = {.start_wall = mf_wall_seconds(), .start_ms = mf_now_ms(),
                               .speed = speed};
    struct engine_cfg cfg = {.st = st, .sec = sec, .cafile = cafile, .insecure = insecure,
                             .clock = speed > 1 ? fast_now : NULL,
                             .clock_ms = speed > 1 ? fast_now_ms : NULL, .clock_ctx = &clock,
                             .ignore_gap = no_gap, .batch = batch,
                             .note = print_note, .note_ctx = speed > 1 ? &clock : NULL,
                             .followups_ok = run_followups_ok};
    struct mf_err e;
    mf_err_clear(&e);
    struct engine *en = engine_new(&cfg, &e);
    int rc = CLI_OK;
    int requeued = 0, unknown = 0;
    unsigned char key[32];
    if (!en || engine_recover(en, &requeued, &unknown, &e) != MF_OK ||
        (!no_sync && start_sync(en, st, sec, &cfg, poll, key, &e) != MF_OK) ||
        (!no_placement && start_placement(en, st, sec, &cfg, &e) != MF_OK)) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
        rc = CLI_SOFTWARE;
    } else {
        cli_catch_stop();
        int64_t until = for_s ? fast_now(&clock) + (int64_t)(for_s * speed) : 0;
        if (engine_run(en, until, until_idle, &cli_stop, &e) != MF_OK) {
            fprintf(stderr, "mailfleet: %s\n", e.detail);
            rc = CLI_SOFTWARE;
        }
        finish_placement(en, &cfg);
        stop_sync(en);
        const struct engine_stats *s = engine_stats(en);
        printf("run ended%s: %ld sent, %ld deferred, %ld bounced, %ld refused, %ld unknown, "
               "%ld skipped, %ld mailbox pause%s\n", cli_stop ? " (signal)" : "", s->sent,
               s->deferred, s->bounced, s->failed, s->unknown, s->skipped, s->paused,
               s->paused == 1 ? "" : "s");
    }
    if (placement_timer)
        event_free(placement_timer);
    placement_timer = NULL;
    placement_sched_free(run_placement);
    run_placement = NULL;
    sync_free(run_sync);
    run_sync = NULL;
    engine_free(en);
    secrets_close(sec);
    store_close(st);
    return rc;
}

/* ---- status ---------------------------------------------------------------------------- */

struct status_ctx {
    struct store *st;
    int64_t now;
};

/* Under a mailbox: its IMAP sync's health, and what came back. */
static void status_comeback(struct status_ctx *s, const char *mailbox)
{
    struct mf_err e;
    struct store_imap im;
    char ago[48];
    if (store_imap_get(s->st, mailbox, &im, &e) != MF_OK)
        printf("    replies are not read: no IMAP server (mailfleet mailbox add %s "
               "--imap-host HOST)\n", mailbox);
    else if (im.sync_error[0] && im.error_at >= im.synced_at)
        printf("    IMAP sync failing: %s\n", im.sync_error);
    else if (!im.synced_at)
        printf("    replies read from %s:%d; not checked yet (mailfleet run or sync)\n",
               im.host, im.port);
    else
        printf("    replies read from %s:%d; last check %s ago%s\n", im.host, im.port,
               cli_duration((long)(s->now > im.synced_at ? s->now - im.synced_at : 0), ago,
                            sizeof ago),
               s->now - im.synced_at > 300 ? " (follow-ups wait while it is stale)" : "");
    int64_t bounces = 0, soft = 0, complaints = 0, replies = 0;
    store_events_count(s->st, "bounce", mailbox, 0, s->now - 7 * 86400, &bounces, &e);
    store_events_count(s->st, "soft-bounce", mailbox, 0, s->now - 7 * 86400, &soft, &e);
    store_events_count(s->st, "complaint", mailbox, 0, s->now - 30 * 86400, &complaints, &e);
    store_events_count(s->st, "reply", mailbox, 0, s->now - 7 * 86400, &replies, &e);
    if (bounces || soft || complaints || replies)
        printf("    last 7 days: %lld repl%s, %lld bounce%s, %lld soft bounce%s; "
               "complaints in 30 days: %lld%s\n", (long long)replies, replies == 1 ? "y" : "ies",
               (long long)bounces, bounces == 1 ? "" : "s", (long long)soft, soft == 1 ? "" : "s",
               (long long)complaints, complaints ? " (each one is a spam report: look at "
               "the list and the message)" : "");
}

static int status_mailbox(void *ctx, const struct store_mailbox *m)
{
    struct status_ctx *s = ctx;
    struct mf_err e;
    int64_t msgs24 = 0, rcpts24 = 0, msgs60 = 0, r60 = 0;
    store_sendlog_mailbox(s->st, m->account, (s->now - 86400) * 1000, &msgs24, &rcpts24, &e);
    store_sendlog_mailbox(s->st, m->account, (s->now - 60) * 1000, &msgs60, &r60, &e);
    struct sched_limits l = {.per_minute = m->per_minute, .rcpt_per_day = m->rcpt_per_day,
                             .max_connections = m->max_connections, .daily_cap = m->daily_cap,
                             .ramp_start = m->ramp_start, .ramp_days = m->ramp_days,
                             .started_at = m->started_at, .tenant_cap = -1};
    int allowance = sched_ramp_allowance(&l, s->now);
    long ramp_day = (long)((s->now - m->started_at) / 86400) + 1;
    char next[64] = "now";
    int64_t at = m->backoff_until > m->next_send_at ? m->backoff_until : m->next_send_at;
    if (strcmp(m->status, "active") != 0)
        snprintf(next, sizeof next, "paused");
    else if (at > s->now)
        snprintf(next, sizeof next, "in %s", cli_duration((long)(at - s->now), next + 40, 24));
    printf("%-30s %-7s %5lld/%-5d %3lld/%-3d %-8ld %-14s %s\n", m->account, m->status,
           (long long)msgs24, allowance, (long long)msgs60, m->per_minute,
           m->ramp_start && ramp_day <= m->ramp_days ? ramp_day : 0L, next,
           m->pause_reason[0] ? m->pause_reason
           : m->backoff_until > s->now ? "backing off after a temporary failure" : "");
    status_comeback(s, m->account);
    return 0;
}

static int status_campaign(void *ctx, int64_t campaign_id, const char *state, int step,
                           int64_t count)
{
    struct status_ctx *s = ctx;
    struct store_campaign c;
    struct mf_err e;
    if (store_campaign_by_id(s->st, campaign_id, &c, &e) != MF_OK)
        return 0;
    printf("  %-24s %-8s step %d  %lld\n", c.name, state, step + 1, (long long)count);
    store_campaign_clear(&c);
    return 0;
}

static int status_outbox(void *ctx, const char *state, int64_t count)
{
    (void)ctx;
    printf("  %-10s %lld%s\n", state, (long long)count,
           !strcmp(state, "unknown") ? "   <- may have been delivered: review with "
                                       "mailfleet outbox list unknown" : "");
    return 0;
}

int cmd_status(const struct cli_global *g, int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fputs("usage: mailfleet status\n\nPer mailbox: sent in the last 24 h / today's "
              "allowance (ramp or cap), sent in the last minute / the provider's limit, "
              "ramp day, next send, pause or backoff reason. Per campaign: sequences by state "
              "and step. The outbox by state.\n", stdout);
        return CLI_OK;
    }
    struct store *st = cli_open_store(g);
    if (!st)
        return CLI_CONFIG;
    struct status_ctx s = {.st = st, .now = mf_wall_seconds()};
    struct mf_err e;
    mf_err_clear(&e);
    /* a --clock-speed run leaves its simulated time behind: read the
     * windows from the later of the wall clock and the last send */
    int64_t latest_ms = 0;
    if (store_sendlog_latest(st, &latest_ms, &e) == MF_OK && latest_ms / 1000 > s.now)
        s.now = latest_ms / 1000;
    printf("%-30s %-7s %11s %7s %-8s %-14s %s\n", "MAILBOX", "STATUS", "24H/ALLOW",
           "MIN/LIM", "RAMPDAY", "NEXT SEND", "REASON");
    enum mf_rc rc = store_mailbox_list(st, status_mailbox, &s, &e);
    printf("\nCAMPAIGNS (sequences by state and next step)\n");
    if (rc == MF_OK)
        rc = store_enrollment_counts(st, status_campaign, &s, &e);
    printf("\nOUTBOX\n");
    if (rc == MF_OK)
        rc = store_outbox_counts(st, status_outbox, &s, &e);
    store_close(st);
    if (rc != MF_OK) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
        return CLI_IOERR;
    }
    return CLI_OK;
}

/* ---- plan ------------------------------------------------------------------------------ */

struct plan_out {
    int64_t at;
    char when[32];              /* "YYYY-MM-DD HH:MMZ  " of at */
    size_t when_len;
};

/* One line per planned message; the time prefix is made once per tick. */
static int plan_line(void *ctx, const struct plan_send *s)
{
    struct plan_out *o = ctx;
    if (s->at != o->at || !o->when_len) {
        time_t t = (time_t)s->at;
        struct tm tm;
        gmtime_r(&t, &tm);
        o->at = s->at;
        o->when_len = (size_t)snprintf(o->when, sizeof o->when, "%04d-%02d-%02d %02d:%02dZ  ",
                                       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                                       tm.tm_hour, tm.tm_min);
    }
    /* a million lines: put together by hand, one fwrite */
    char line[1024], step[16];
    int n = snprintf(step, sizeof step, " step %d to ", s->step);
    size_t len = 0;
    const char *const parts[] = {o->when, s->campaign, step, s->rcpt, " from ", s->mailbox};
    const size_t lens[] = {o->when_len, strlen(s->campaign), (size_t)n, strlen(s->rcpt), 6,
                           strlen(s->mailbox)};
    for (size_t i = 0; i < 6 && len + lens[i] < sizeof line - 1; i++) {
        memcpy(line + len, parts[i], lens[i]);
        len += lens[i];
    }
    line[len++] = '\n';
    fwrite(line, 1, len, stdout);
    return 0;
}

int cmd_plan(const struct cli_global *g, int argc, char **argv)
{
    long hours = 24;
    if ((argc != 1 && argc != 3) ||
        (argc == 3 && (strcmp(argv[1], "--hours") || !cli_long_arg(argv[2], 1, 24 * 31, &hours)))) {
        fputs("usage: mailfleet plan [--hours N]\n\nShows what `mailfleet run` would send "
              "in the next N hours (default 24), by which mailbox, when: the engine's "
              "decisions (every limit, ramp, window, gap, rotation and follow-up) are "
              "simulated in memory from the store, which is only read; nothing is sent. "
              "Random gaps make the minutes approximate.\n", argc == 2 ? stdout : stderr);
        return argc == 2 && !strcmp(argv[1], "--help") ? CLI_OK : CLI_USAGE;
    }
    struct store *st = cli_open_store(g);
    if (!st)
        return CLI_CONFIG;
    struct mf_err e;
    mf_err_clear(&e);
    int64_t now = mf_wall_seconds();
    struct plan_out out = {.at = 0};
    struct plan_cfg cfg = {.st = st, .start = now, .until = now + hours * 3600,
                           .seed = (uint64_t)now, .on_send = plan_line, .ctx = &out};
    struct plan_result res;
    printf("%-18s %s\n", "WHEN (UTC)", "CAMPAIGN STEP TO FROM");
    enum mf_rc rc = plan_run(&cfg, &res, &e);
    if (rc != MF_OK)
        fprintf(stderr, "mailfleet: %s\n", e.detail);
    else
        printf("%ld message%s in the next %ld hour%s\n", res.sent, res.sent == 1 ? "" : "s",
               hours, hours == 1 ? "" : "s");
    store_close(st);
    return rc == MF_OK ? CLI_OK : CLI_SOFTWARE;
}
