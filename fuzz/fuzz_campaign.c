/* libFuzzer: the campaign file parser (engine/campaign).
 *
 * The input is the YAML text, given to campaign_parse() as is.
 *
 * It traps when a result breaks the API's promises. On success: a name
 * outside [a-z0-9._-]{1,64}, a window or gap out of range, a stop mask
 * without unsubscribe, 0 or more than 10 steps or variants, step 1 with a
 * delay or not a new thread, a later step with a delay out of 1..365, a
 * same-thread follow-up with a subject or a new thread without one, an
 * empty text, a subject with a line break, a weight out of 1..1000, an
 * unsubscribe url that is not https, auto_reply: defer together with
 * auto_reply in stop_on, a pick out of range. On failure: a
 * spec handed out anyway, err->rc not the returned code, a detail that
 * does not start with "f.yaml:" or holds control characters.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "engine/campaign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_variants(const struct campaign_variant *v, size_t n, bool subject)
{
    if (n < 1 || n > CAMPAIGN_MAX_VARIANTS || !v)
        __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(v[i].text);
        if (!len || len > (subject ? CAMPAIGN_MAX_SUBJECT : CAMPAIGN_MAX_TEXT) ||
            v[i].weight < 1 || v[i].weight > CAMPAIGN_MAX_WEIGHT || v[i].line < 1)
            __builtin_trap();
        if (subject && strpbrk(v[i].text, "\r\n"))
            __builtin_trap();
    }
    for (uint64_t seed = 0; seed < 4; seed++)
        if (campaign_pick_variant(v, n, seed * 0x9e3779b97f4a7c15ull) >= n)
            __builtin_trap();
}

static void check_spec(const struct campaign_spec *c)
{
    size_t nl = strlen(c->name);
    if (nl < 1 || nl > 64 ||
        strspn(c->name, "abcdefghijklmnopqrstuvwxyz0123456789._-") != nl)
        __builtin_trap();
    if (!c->timezone_field || !*c->timezone_field || !c->unsub_text ||
        !*c->unsub_text || !c->postal_address || !*c->postal_address)
        __builtin_trap();
    if (c->from_name && (!*c->from_name || strpbrk(c->from_name, "\r\n")))
        __builtin_trap();
    if (c->unsub_url && strncasecmp(c->unsub_url, "https://", 8))
        __builtin_trap();
    if (c->unsub_mailto && !strchr(c->unsub_mailto, '@'))
        __builtin_trap();
    if (c->window_start_min < 0 || c->window_end_min <= c->window_start_min ||
        c->window_end_min > 1439 || !c->days_mask || c->days_mask > 0x7f)
        __builtin_trap();
    if (c->gap_min_s < 1 || c->gap_min_s > c->gap_max_s ||
        c->gap_max_s > CAMPAIGN_MAX_GAP_S)
        __builtin_trap();
    if (!(c->stop_mask & CAMPAIGN_STOP_UNSUBSCRIBE) || c->stop_mask > 31)
        __builtin_trap();
    if (c->defer_on_auto_reply && (c->stop_mask & CAMPAIGN_STOP_AUTO_REPLY))
        __builtin_trap();
    if (c->nsteps < 1 || c->nsteps > CAMPAIGN_MAX_STEPS || !c->steps)
        __builtin_trap();
    for (size_t i = 0; i < c->nsteps; i++) {
        const struct campaign_step *s = &c->steps[i];
        if (i == 0 && (s->delay_days != 0 || s->business_days || !s->new_thread))
            __builtin_trap();
        if (i > 0 && (s->delay_days < 1 || s->delay_days > CAMPAIGN_MAX_DELAY_DAYS))
            __builtin_trap();
        if (s->new_thread)
            check_variants(s->subjects, s->nsubjects, true);
        else if (s->nsubjects || s->subjects)
            __builtin_trap();
        check_variants(s->bodies, s->nbodies, false);
        if (s->line < 1)
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > CAMPAIGN_MAX_FILE + 16)
        return 0;
    struct campaign_spec *c = (struct campaign_spec *)&size; /* must be reset */
    struct mf_err e;
    mf_err_clear(&e);
    enum mf_rc rc = campaign_parse((const char *)data, size, "f.yaml", &c, &e);
    if (rc == MF_OK) {
        if (!c)
            __builtin_trap();
        check_spec(c);
        campaign_free(c);
        return 0;
    }
    if (c || e.rc != rc || strncmp(e.detail, "f.yaml:", 7))
        __builtin_trap();
    for (const char *p = e.detail; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            __builtin_trap();
    return 0;
}
