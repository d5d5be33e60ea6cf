/* The mail fixtures of tests/fixtures/mail for a unit test: fixture_dir is
 * found from MF_TRANSCRIPTS (tests/transcripts, as CTest sets it) or from
 * this file's own path; load_fixture reads one file whole. */
#ifndef MF_TESTS_UNIT_FIXTURE_H
#define MF_TESTS_UNIT_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char fixture_dir[4096];

static void find_fixtures(void)
{
    const char *t = getenv("MF_TRANSCRIPTS"); /* tests/transcripts */
    if (t && *t)
        snprintf(fixture_dir, sizeof fixture_dir, "%s/../fixtures/mail", t);
    else
        snprintf(fixture_dir, sizeof fixture_dir, "%.*s/../fixtures/mail",
                 (int)(strrchr(__FILE__, '/') - __FILE__), __FILE__);
}

/* The file's bytes, NUL-terminated (caller frees); fails the test when it
 * cannot be read. */
static char *load_fixture(const char *name, size_t *len)
{
    if (!fixture_dir[0])
        find_fixtures();
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", fixture_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

#endif
