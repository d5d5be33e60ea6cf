/* libFuzzer: mail/addr's normalisation. The input (up to 1000 bytes, cut at
 * a NUL) is one address. Traps when an accepted address breaks an
 * invariant: the output is the trimmed input with ASCII letters lowercased,
 * within the length bounds, printable, exactly one '@' with a dotted domain,
 * a fixed point of addr_normalize(), also when uppercased or wrapped in <>;
 * and a refusal always says why, with one of the documented reasons. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mail/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const reasons[] = {
    "empty", "too long", "not UTF-8", "quoted local parts are not supported", "no @",
    "two @", "empty local part", "bad character in local part", "local part too long",
    "bad domain", "domain has no dot", "numeric top-level domain",
};

static void check(bool cond)
{
    if (!cond)
        __builtin_trap();
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[1001];
    if (size > 1000)
        size = 1000;
    memcpy(in, data, size);
    in[size] = '\0';

    char out[ADDR_BUFSIZE];
    const char *why = "unset";
    bool ok = addr_normalize(in, out, sizeof out, &why);
    bool ok2 = addr_normalize(in, NULL, 0, NULL);
    check(ok == ok2);
    if (!ok) {
        check(why != NULL && out[0] == '\0');
        bool known = false;
        for (size_t i = 0; i < sizeof reasons / sizeof *reasons; i++)
            known |= strcmp(why, reasons[i]) == 0;
        check(known);
        return 0;
    }
    check(why == NULL);
    size_t n = strlen(out);
    check(n >= 5 && n <= ADDR_MAX);     /* a@b.c */
    size_t ats = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        check(!(c >= 'A' && c <= 'Z'));
        check(c > 0x20 && c != 0x7f);
        check(c != '"' && c != '<' && c != '>' && c != ' ');
        ats += c == '@';
    }
    check(ats == 1);
    const char *domain;
    check(addr_domain(out, &domain));
    check(strchr(domain, '.') != NULL && domain[0] != '.');
    check((size_t)(domain - out) - 1 <= ADDR_LOCAL_MAX);

    /* the output is the input, trimmed, with ASCII letters lowercased */
    bool found = false;
    for (size_t i = 0; i + n <= size && !found; i++) {
        size_t k = 0;
        while (k < n && lower(in[i + k]) == out[k])
            k++;
        found = k == n;
    }
    check(found);

    /* a fixed point, also uppercased and wrapped */
    char again[ADDR_BUFSIZE];
    check(addr_normalize(out, again, sizeof again, NULL));
    check(strcmp(again, out) == 0);
    char upper[ADDR_BUFSIZE + 8];
    upper[0] = ' ';
    upper[1] = '<';
    for (size_t i = 0; i < n; i++)
        upper[2 + i] = out[i] >= 'a' && out[i] <= 'z' ? (char)(out[i] - ('a' - 'A')) : out[i];
    memcpy(upper + 2 + n, ">\t", 3);
    check(addr_normalize(upper, again, sizeof again, NULL));
    check(strcmp(again, out) == 0);
    /* a buffer one byte too small is refused, never truncated */
    check(!addr_normalize(out, again, n, &why));
    check(strcmp(why, "output buffer too small") == 0);
    return 0;
}
