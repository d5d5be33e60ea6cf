/* libFuzzer: mail/classify on a whole message. Traps when a result breaks a
 * promise of classify.h: a valid kind; strings NUL-terminated in their
 * arrays, valid UTF-8, no control characters or bidi overrides, no outer
 * white space; ids "<...@...>" without white space; addresses with '@' and
 * no white space or upper-case ASCII; known reasons; status "" or x.y.z;
 * hard only in a bounce; bounded counts; JSON with exactly its four keys. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/classify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            __builtin_trap();                                                \
    } while (0)

/* NUL within size, valid UTF-8, no C0/DEL/C1/bidi controls, trimmed. */
static void text_ok(const char *s, size_t size)
{
    size_t n = strnlen(s, size);
    CHECK(n < size);
    CHECK(n == 0 || (s[0] != ' ' && s[n - 1] != ' '));
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                                 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        CHECK(len && i + len <= n);
        for (size_t k = 1; k < len; k++)
            CHECK((u[i + k] & 0xc0) == 0x80);
        if (len == 3) {
            CHECK(!(c == 0xe0 && u[i + 1] < 0xa0) && !(c == 0xed && u[i + 1] > 0x9f));
            CHECK(!(c == 0xe2 && u[i + 1] == 0x80 &&
                    (u[i + 2] == 0x8e || u[i + 2] == 0x8f || u[i + 2] == 0xa8 ||
                     u[i + 2] == 0xa9 || (u[i + 2] >= 0xaa && u[i + 2] <= 0xae))));
            CHECK(!(c == 0xe2 && u[i + 1] == 0x81 && u[i + 2] >= 0xa6 && u[i + 2] <= 0xa9));
        }
        if (len == 4)
            CHECK(!(c == 0xf0 && u[i + 1] < 0x90) && !(c == 0xf4 && u[i + 1] > 0x8f));
        if (len == 1)
            CHECK(c >= 0x20 && c != 0x7f);
        if (len == 2)
            CHECK(!(c == 0xc2 && u[i + 1] < 0xa0));
        i += len;
    }
}

static void id_ok(const char *s)
{
    text_ok(s, CLASSIFY_ID_SIZE);
    size_t n = strlen(s);
    if (n == 0)
        return;
    CHECK(n >= 3 && s[0] == '<' && s[n - 1] == '>' && strchr(s, '@'));
    CHECK(!strchr(s, ' ') && !strchr(s + 1, '<') && strchr(s, '>') == s + n - 1);
}

static void addr_ok(const char *s, bool required)
{
    text_ok(s, CLASSIFY_ADDR_SIZE);
    if (!*s) {
        CHECK(!required);
        return;
    }
    CHECK(strchr(s, '@') && !strchr(s, ' ') && s[0] != '@');
    for (const char *p = s; *p; p++)
        CHECK(!(*p >= 'A' && *p <= 'Z'));
}

static void status_ok(const char *s)
{
    text_ok(s, CLASSIFY_STATUS_SIZE);
    if (!*s)
        return;
    CHECK(s[0] == '2' || s[0] == '4' || s[0] == '5');
    CHECK(s[1] == '.');
    size_t i = 2, d = 0;
    while (s[i] >= '0' && s[i] <= '9')
        i++, d++;
    CHECK(d >= 1 && d <= 3 && s[i] == '.');
    i++, d = 0;
    while (s[i] >= '0' && s[i] <= '9')
        i++, d++;
    CHECK(d >= 1 && d <= 3 && s[i] == '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct classify_result r;
    if (classify_message((const char *)data, size, &r, NULL) != MF_OK) {
        CHECK(r.nrcpts == 0 && !r.rcpts && !r.references);
        return 0;
    }
    CHECK((unsigned)r.kind < CLASSIFY_KIND_COUNT);
    CHECK(strcmp(classify_kind_name(r.kind), "invalid") != 0);
    CHECK(r.nrcpts <= CLASSIFY_RCPTS_MAX && (r.nrcpts == 0 || r.rcpts));
    CHECK(r.nreferences <= CLASSIFY_REFS_MAX);
    CHECK(r.rcpts_dropped == 0 || r.nrcpts == CLASSIFY_RCPTS_MAX);
    for (size_t i = 0; i < r.nrcpts; i++) {
        const struct classify_rcpt *c = &r.rcpts[i];
        addr_ok(c->address, true);
        status_ok(c->status);
        text_ok(c->action, CLASSIFY_ACTION_SIZE);
        text_ok(c->diagnostic, CLASSIFY_DIAG_SIZE);
        CHECK(c->reason && classify_reason_known(c->reason));
        CHECK(!c->hard || (r.kind == CLASSIFY_BOUNCE && c->status[0] == '5'));
        for (size_t k = 0; k < i; k++)
            CHECK(strcmp(r.rcpts[k].address, c->address) != 0);
    }
    id_ok(r.message_id);
    id_ok(r.in_reply_to);
    id_ok(r.original_message_id);
    for (size_t i = 0; i < r.nreferences; i++) {
        id_ok(r.references[i]);
        CHECK(r.references[i][0]);
    }
    addr_ok(r.from, false);
    text_ok(r.subject, CLASSIFY_SUBJECT_SIZE);
    text_ok(r.unsubscribe_token, CLASSIFY_TOKEN_SIZE);
    CHECK(!r.unsubscribe_token[0] || r.kind == CLASSIFY_UNSUBSCRIBE);
    text_ok(r.why, CLASSIFY_WHY_SIZE);
    text_ok(r.first_line, CLASSIFY_LINE_SIZE);
    CHECK(r.why[0]);

    json_t *j = classify_result_json(&r, r.in_reply_to[0] ? r.in_reply_to : NULL);
    CHECK(j && json_object_size(j) == 4);
    CHECK(json_is_string(json_object_get(j, "kind")));
    json_t *list = json_object_get(j, "recipients");
    CHECK(json_is_array(list) && json_array_size(list) == r.nrcpts);
    for (size_t i = 0; i < json_array_size(list); i++)
        CHECK(json_object_size(json_array_get(list, i)) == 6);
    CHECK(json_object_get(j, "in_reply_to") && json_object_get(j, "matched"));
    char *s = json_dumps(j, JSON_COMPACT);
    CHECK(s);
    free(s);
    json_decref(j);
    classify_result_free(&r);
    return 0;
}
