#include "diag/imap_test.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "net/imap_drive.h"
#include "util/log.h"

/* d comes first: the shared transport callbacks get the run as ctx */
struct run {
    struct diag_run d;
    const struct imap_test_opts *o;
    struct imap_test_report *r;
    struct imap_drive *drive;
    struct diag_env env;
    bool greeting_seen;
    int caps_seen;
};






static const char *step_for_state(struct run *run, enum imap_state st)
{
    switch (st) {
    case IMAP_ST_GREETING: return run->d.tls_pending ? "tls" : "greeting";
    case IMAP_ST_CAPABILITY: return "capability";
    case IMAP_ST_STARTTLS: case IMAP_ST_TLS: return "starttls";
    case IMAP_ST_AUTH: return "auth";
    case IMAP_ST_LOGOUT: case IMAP_ST_CLOSED: return "logout";
    default: return "command";
    }
}

static const char *step_for_error(struct run *run, const struct mf_err *err)
{
    enum imap_state st = imap_state(imap_drive_core(run->drive));
    if (!run->greeting_seen)
        return run->d.implicit_tls && !run->d.tls_seen ? "tls" : "greeting";
    if (err->layer == MF_LAYER_AUTH)
        return "auth";
    if (err->layer == MF_LAYER_TLS)
        return diag_tls_step(&run->d);
    if (err->layer == MF_LAYER_FEATURE)
        return "capability";
    return step_for_state(run, st);
}

static void copy_name(char *dst, size_t size, const char *name)
{
    if (!dst[0])
        mf_sanitize(dst, size, name, strlen(name), 0);
}

static void on_list(struct run *run, const struct imap_event *ev)
{
    struct imap_test_report *r = run->r;
    r->folders = ev->nmailboxes;
    for (size_t i = 0; i < ev->nmailboxes; i++) {
        const struct imap_mailbox *m = &ev->mailboxes[i];
        if (m->flags & IMAP_MB_INBOX)
            copy_name(r->inbox, sizeof r->inbox, m->name);
        if (m->flags & IMAP_MB_JUNK)
            copy_name(r->junk, sizeof r->junk, m->name);
        if (m->flags & IMAP_MB_SENT)
            copy_name(r->sent, sizeof r->sent, m->name);
    }
    diag_step(&run->d, "list", true, "%zu folders; Inbox: %s, Junk: %s, Sent: %s",
              r->folders, r->inbox[0] ? r->inbox : "(none)",
              r->junk[0] ? r->junk : "(no \\Junk folder)",
              r->sent[0] ? r->sent : "(no \\Sent folder)");
    if (!r->junk[0])
        diag_warn(&run->d, "no folder is marked \\Junk (SPECIAL-USE): inbox-placement "
                           "checks cannot tell Junk from Inbox on this server");
}

static void on_event(void *ctx, const struct imap_event *ev)
{
    struct run *run = ctx;
    struct imap *core = imap_drive_core(run->drive);
    switch (ev->type) {
    case IMAP_EV_GREETING:
        run->greeting_seen = true;
        diag_step(&run->d, "greeting", ev->ok, "* %s %s%s%s%s", ev->status,
                  ev->code[0] ? "[" : "", ev->code, ev->code[0] ? "] " : "", ev->text);
        break;
    case IMAP_EV_CAPS:
        diag_step(&run->d, "capability", true, "%s", imap_caps_text(core));
        break;
    case IMAP_EV_AUTH_OK:
        snprintf(run->r->base.auth, sizeof run->r->base.auth, "%s",
                 imap_used_login(core) ? "LOGIN" : sasl_mech_name(imap_auth_mech(core)));
        diag_step(&run->d, "auth", true, "%s accepted: %s", run->r->base.auth, ev->text);
        break;
    case IMAP_EV_READY:
        if (run->o->user) {
            imap_request_list(core);
            imap_request_examine(core, "INBOX", false);
        } else { /* LIST and EXAMINE need a login: the server would say BAD */
            diag_warn(&run->d, "not signed in: no --user was given, so the login, LIST and "
                               "EXAMINE were not tried");
        }
        imap_logout(core);
        break;
    case IMAP_EV_ALERT:
        diag_warn(&run->d, ev->text);
        break;
    case IMAP_EV_IDLING:
    case IMAP_EV_EXISTS:
        break; /* the tester does not IDLE */
    case IMAP_EV_DONE:
        if (!ev->ok && ev->request != IMAP_REQ_LOGOUT) {
            diag_step(&run->d, ev->request == IMAP_REQ_LIST ? "list" : "examine", false,
                      "%s", ev->err.reply);
            diag_fail(&run->d, &ev->err, ev->request == IMAP_REQ_LIST ? "list" : "examine");
        } else if (ev->request == IMAP_REQ_LIST) {
            on_list(run, ev);
        } else if (ev->request == IMAP_REQ_EXAMINE) {
            run->r->inbox_status = ev->select;
            run->r->examined = true;
            diag_step(&run->d, "examine", true,
                      "INBOX: %u messages, UIDVALIDITY %u, UIDNEXT %u%s", ev->select.exists,
                      ev->select.uidvalidity, ev->select.uidnext,
                      ev->select.read_only ? ", read-only" : "");
        } else if (ev->request == IMAP_REQ_ID) {
            diag_step(&run->d, "id", true, "%s", ev->server_id);
        }
        break;
    case IMAP_EV_CLOSED:
        diag_step(&run->d, "logout", true, "%s", ev->text);
        break;
    case IMAP_EV_ERROR: {
        diag_step_failed(&run->d, step_for_error(run, &ev->err), &ev->err);
        break;
    }
    }
}

static void on_done(void *ctx, const struct mf_err *err)
{
    struct run *run = ctx;
    if (err && run->r->base.ok) {
        const char *name = diag_transport_step(&run->d, err);
        diag_step_failed(&run->d, name ? name : step_for_error(run, err), err);
    }
    event_base_loopbreak(run->env.base);
}

static void run_session(struct run *run)
{
    const struct imap_test_opts *o = run->o;
    struct mf_err err;
    mf_err_clear(&err);
    struct session_observer transport = diag_transport_observer;
    transport.on_done = on_done;
    struct sasl_creds creds = {.user = o->user, .secret = o->secret, .host = o->host,
                               .port = o->port};
    struct imap_drive_cfg cfg = {
        .session = {.base = run->env.base, .dns = run->env.dns, .host = o->host,
                    .port = o->port, .family = o->family,
                    .command_timeout_ms = o->timeout_ms},
        .imap = {.security = o->security, .allow_plaintext_auth = o->allow_plaintext_auth,
                 .creds = o->user ? &creds : NULL, .secret_is_token = o->secret_is_token,
                 .mech = o->mech, .send_id = true, .trace = diag_trace_cb, .ctx = run},
        .obs = {.transport = transport, .on_event = on_event},
        .ctx = run,
    };
    run->drive = imap_drive_start(&cfg, &err);
    if (!run->drive) {
        diag_step_failed(&run->d, "resolve", &err);
        return;
    }
    if (diag_env_tls(&run->d, &run->env, o->security != IMAP_SEC_NONE, o->cafile,
                     o->insecure)) {
        imap_drive_set_tls(run->drive, run->env.tls);
        event_base_dispatch(run->env.base);
    }
    imap_drive_free(run->drive);
}

enum mf_rc imap_test_run(const struct imap_test_opts *o, struct imap_test_report *r)
{
    memset(r, 0, sizeof *r);
    diag_report_init(&r->base, "imap", o->host, o->port,
                     o->security == IMAP_SEC_TLS ? "tls"
                     : o->security == IMAP_SEC_NONE ? "none" : "starttls",
                     o->insecure);
    diag_prepare(&r->base, o->secret);
    struct run run = {.o = o, .r = r};
    diag_run_start(&run.d, &r->base, o->live, o->live_ctx);
    diag_run_tls(&run.d, o->security == IMAP_SEC_TLS, "starttls");
    if (diag_env_open(&run.d, &run.env)) {
        run_session(&run);
        diag_env_close(&run.env);
    }
    diag_finish(&run.d);
    if (r->examined)
        snprintf(r->base.summary, sizeof r->base.summary,
                 "INBOX holds %u messages; %zu folders; Junk: %s", r->inbox_status.exists,
                 r->folders, r->junk[0] ? r->junk : "not marked");
    diag_report_explain(&r->base, EXPLAIN_IMAP);
    return r->base.ok ? MF_OK : r->base.err.rc;
}

void imap_test_report_free(struct imap_test_report *r)
{
    if (r)
        diag_report_free(&r->base);
}

json_t *imap_test_report_json(const struct imap_test_report *r)
{
    json_t *o = diag_report_json(&r->base);
    json_object_set_new(o, "folders", json_integer((json_int_t)r->folders));
    json_object_set_new(o, "special_use", json_pack("{s:s, s:s, s:s}", "inbox", r->inbox,
                                                    "junk", r->junk, "sent", r->sent));
    if (r->examined)
        json_object_set_new(o, "inbox", json_pack(
            "{s:I, s:I, s:I, s:I}", "messages", (json_int_t)r->inbox_status.exists,
            "uidvalidity", (json_int_t)r->inbox_status.uidvalidity,
            "uidnext", (json_int_t)r->inbox_status.uidnext,
            "highestmodseq", (json_int_t)r->inbox_status.highestmodseq));
    return o;
}
