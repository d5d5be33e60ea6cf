/* engine/csvin: streaming CSV reading for imports. Every input is read
 * whole-block and with small steps (block boundaries everywhere): the
 * results must be the same. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cmocka.h>

#include "engine/csvin.h"

#define LOG_MAX (256 * 1024)

/* A transcript of the callbacks: "H1:email|name\n2:a@x|A\n" ("(n=3)" after a
 * ragged row; CR and LF inside values shown as \r and \n). */
struct rec {
    char *log;
    size_t len;
    size_t ncols;
    int stop_at_row;    /* 0 = never */
    int stop_in_header;
    int rows;
};

static void put(struct rec *r, const char *s, size_t n)
{
    for (size_t i = 0; i < n && r->len + 3 < LOG_MAX; i++) {
        if (s[i] == '\n' || s[i] == '\r') {
            r->log[r->len++] = '\\';
            r->log[r->len++] = s[i] == '\n' ? 'n' : 'r';
        } else {
            r->log[r->len++] = s[i];
        }
    }
    r->log[r->len] = '\0';
}

static void putf(struct rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct rec *r, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(r, tmp, strlen(tmp));
}

static int rec_header(void *ctx, const struct csvin_header *h)
{
    struct rec *r = ctx;
    r->ncols = h->ncols;
    putf(r, "H%ld:", h->line);
    for (size_t i = 0; i < h->ncols; i++) {
        if (i)
            put(r, "|", 1);
        put(r, h->names[i], strlen(h->names[i]));
    }
    r->log[r->len++] = '\n';
    r->log[r->len] = '\0';
    return r->stop_in_header;
}

static int rec_row(void *ctx, long line, size_t n, const char *const *v)
{
    struct rec *r = ctx;
    putf(r, "%ld:", line);
    for (size_t i = 0; i < n; i++) {
        if (i)
            put(r, "|", 1);
        assert_non_null(v[i]);
        put(r, v[i], strlen(v[i]));
    }
    for (size_t i = n; i < r->ncols; i++)
        assert_null(v[i]);       /* short rows are padded with NULL */
    if (n != r->ncols)
        putf(r, " (n=%zu)", n);
    r->log[r->len++] = '\n';
    r->log[r->len] = '\0';
    r->rows++;
    return r->stop_at_row && r->rows == r->stop_at_row;
}

static FILE *file_of(const char *data, size_t len)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(data, 1, len, f), len);
    rewind(f);
    return f;
}

struct outcome {
    enum mf_rc rc;
    struct csvin_result res;
    struct mf_err err;
    char log[LOG_MAX];
};

static void run_once(const char *data, size_t len, const char *name, int delim,
                     size_t step, int stop_at_row, struct outcome *o)
{
    struct rec r = {.log = o->log, .stop_at_row = stop_at_row};
    o->log[0] = '\0';
    FILE *f = file_of(data, len);
    o->rc = csvin_read_stepped(f, name, delim, step, rec_header, rec_row, &r, &o->res,
                               &o->err);
    fclose(f);
}

/* Runs data with whole blocks and with steps 2, 3, 7 and 64; all must agree.
 * The whole-block outcome is left in *o. */
static void run_n(const char *data, size_t len, const char *name, int delim,
                  int stop_at_row, struct outcome *o)
{
    static const size_t steps[] = {2, 3, 7, 64};
    struct outcome *alt = malloc(sizeof *alt);
    assert_non_null(alt);
    run_once(data, len, name, delim, 0, stop_at_row, o);
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        run_once(data, len, name, delim, steps[i], stop_at_row, alt);
        if (alt->rc != o->rc || strcmp(alt->log, o->log) != 0 ||
            strcmp(alt->err.detail, o->err.detail) != 0 ||
            memcmp(&alt->res, &o->res, sizeof o->res) != 0) {
            fprintf(stderr, "step %zu differs:\n%s[%s]\nvs whole blocks:\n%s[%s]\n",
                    steps[i], alt->log, alt->err.detail, o->log, o->err.detail);
            fail();
        }
    }
    free(alt);
}

static struct outcome *run(const char *data, int delim)
{
    static struct outcome o;
    run_n(data, strlen(data), NULL, delim, 0, &o);
    return &o;
}

static void expect_log(const char *data, int delim, const char *want)
{
    struct outcome *o = run(data, delim);
    if (o->rc != MF_OK || strcmp(o->log, want) != 0) {
        fprintf(stderr, "input:\n%s\ngot rc %s [%s]:\n%s\nwant:\n%s\n", data,
                mf_rc_name(o->rc), o->err.detail, o->log, want);
        fail();
    }
}

static void expect_error(const char *data, int delim, enum mf_rc rc, const char *detail,
                         const char *log)
{
    struct outcome *o = run(data, delim);
    if (o->rc != rc || strstr(o->err.detail, detail) != o->err.detail ||
        strcmp(o->log, log) != 0) {
        fprintf(stderr, "input:\n%s\ngot rc %s [%s]:\n%s\nwant rc %s [%s...]:\n%s\n", data,
                mf_rc_name(o->rc), o->err.detail, o->log, mf_rc_name(rc), detail, log);
        fail();
    }
    assert_int_equal(o->err.rc, rc);
    assert_int_equal(o->err.layer, MF_LAYER_LOCAL);
}

static void test_basic(void **state)
{
    (void)state;
    struct outcome *o = run("email,name\nbob@x.com,Bob\namy@y.com,Amy\n", 0);
    assert_int_equal(o->rc, MF_OK);
    assert_string_equal(o->log, "H1:email|name\n2:bob@x.com|Bob\n3:amy@y.com|Amy\n");
    assert_int_equal(o->res.rows, 2);
    assert_int_equal(o->res.lines, 3);
    assert_int_equal(o->res.delimiter, ',');
    assert_int_equal(o->res.blank, 0);
    assert_false(o->res.stopped);
    /* no final newline */
    o = run("email,name\nbob@x.com,Bob", 0);
    assert_int_equal(o->rc, MF_OK);
    assert_string_equal(o->log, "H1:email|name\n2:bob@x.com|Bob\n");
    assert_int_equal(o->res.lines, 2);
    /* header only */
    expect_log("email,name\n", 0, "H1:email|name\n");
    /* empty last value, with and without a newline */
    expect_log("a,b\n1,\n2,", 0, "H1:a|b\n2:1|\n3:2|\n");
}

static void test_quoting(void **state)
{
    (void)state;
    expect_log("email,note\n"
               "\"a@x.com\",\"He said \"\"hi\"\", then left\"\n"
               " b@x.com , \" spaced \" \n"
               "c@x.com,\"\"\n"
               "d@x.com,\"\"\"\"\n",
               0,
               "H1:email|note\n"
               "2:a@x.com|He said \"hi\", then left\n"
               "3:b@x.com| spaced \n"
               "4:c@x.com|\n"
               "5:d@x.com|\"\n");
    /* unquoted values are trimmed of spaces and tabs only */
    expect_log("a,b\n \t x y \t ,z\n", 0, "H1:a|b\n2:x y|z\n");
}

static void test_embedded_newlines_and_lines(void **state)
{
    (void)state;
    expect_log("email,note\n"
               "a@x,\"line1\nline2\nline3\"\n"      /* lines 2-4 */
               "b@x,plain\n"                         /* 5 */
               "\n"                                  /* 6 */
               "   \n"                               /* 7 */
               "c@x,\"x\r\ny\"\r\n"                  /* 8-9 */
               "\"d\n@x\",\"\n\"\n"                  /* 10-12 */
               "e@x,e\n",                            /* 13 */
               0,
               "H1:email|note\n"
               "2:a@x|line1\\nline2\\nline3\n"
               "5:b@x|plain\n"
               "8:c@x|x\\r\\ny\n"
               "10:d\\n@x|\\n\n"
               "13:e@x|e\n");
    struct outcome *o = run("a\n\"1\n2\n3\"\n", 0);
    assert_int_equal(o->res.lines, 4);
    /* leading blank lines: the header is where it is */
    expect_log("\n\n  \r\nemail\nx\n", 0, "H4:email\n5:x\n");
}

static void test_bom_crlf_and_cr(void **state)
{
    (void)state;
    expect_log("\xef\xbb\xbf" "Email Address,First  Name\r\nA@x.com,Al\r\nb@x,B\r\n", 0,
               "H1:email_address|first_name\n2:A@x.com|Al\n3:b@x|B\n");
    /* the BOM is skipped only at the start */
    expect_log("email\n\xef\xbb\xbfx\n", 0, "H1:email\n2:\xef\xbb\xbfx\n");
    /* bare CR line ends (old Mac exports) count as lines */
    expect_log("email,name\rA@x,a\rB@x,\"b\rc\"\rC@x,c", 0,
               "H1:email|name\n2:A@x|a\n3:B@x|b\\rc\n5:C@x|c\n");
    /* mixed */
    expect_log("a\r\n1\n2\r3\r\n", 0, "H1:a\n2:1\n3:2\n4:3\n");
}

static void test_delimiters(void **state)
{
    (void)state;
    struct outcome *o = run("email;name;company\na@x;A;\"Acme; Inc\"\n", 0);
    assert_int_equal(o->rc, MF_OK);
    assert_int_equal(o->res.delimiter, ';');
    assert_string_equal(o->log, "H1:email|name|company\n2:a@x|A|Acme; Inc\n");
    o = run("email\tname\n  a@x  \t  A \n\t\n", 0);
    assert_int_equal(o->res.delimiter, '\t');
    assert_string_equal(o->log, "H1:email|name\n2:a@x|A\n");
    assert_int_equal(o->res.blank, 1);      /* "\t" is two empty values */
    /* ties go to ',' then ';' */
    assert_int_equal(run("a;b,c\n", 0)->res.delimiter, ',');
    assert_int_equal(run("a;b\tc\n", 0)->res.delimiter, ';');
    assert_int_equal(run("\n \r\n\t\nemail;name\na;b\n", 0)->res.delimiter, ';');
    /* a single column */
    assert_int_equal(run("email\nx@y\n", 0)->res.delimiter, ',');
    /* only the first line counts, and not inside quotes */
    assert_int_equal(run("\"a;b;c\",d\n1;2;3;4;5\n", 0)->res.delimiter, ',');
    assert_int_equal(run("a;b\n1,2,3,4\n", 0)->res.delimiter, ';');
    /* forced */
    o = run("a,b;c\n1,2;3\n", ';');
    assert_int_equal(o->res.delimiter, ';');
    assert_string_equal(o->log, "H1:a,b|c\n2:1,2|3\n");
    expect_log("a,b\tc\n1,2\t3\n", '\t', "H1:a,b|c\n2:1,2|3\n");
    /* a bad one */
    FILE *f = file_of("a\n", 2);
    struct mf_err e;
    assert_int_equal(csvin_read(f, NULL, '|', NULL, NULL, NULL, NULL, &e), MF_EINVAL);
    assert_int_equal(csvin_read(NULL, NULL, 0, NULL, NULL, NULL, NULL, &e), MF_EINVAL);
    fclose(f);
}

static void test_ragged_rows(void **state)
{
    (void)state;
    struct outcome *o = run("email,name\na@x\nb@x,B,extra\nc@x,C\n,,\n", 0);
    assert_int_equal(o->rc, MF_OK);
    assert_string_equal(o->log,
                        "H1:email|name\n2:a@x (n=1)\n3:b@x|B|extra (n=3)\n4:c@x|C\n");
    assert_int_equal(o->res.rows, 3);
    assert_int_equal(o->res.blank, 1);
}

static void test_blank_records(void **state)
{
    (void)state;
    struct outcome *o = run("email,name\n,\n  \n\t\n\"\",\"\"\n  ,  \na@x,A\n,,,\n", 0);
    assert_int_equal(o->rc, MF_OK);
    assert_string_equal(o->log, "H1:email|name\n7:a@x|A\n");
    assert_int_equal(o->res.blank, 4);
    assert_int_equal(o->res.rows, 1);
}

static void test_header(void **state)
{
    (void)state;
    expect_log("  Email , \"First\nName\" ,\"  LAST \t NAME \",x_Y\n1,2,3,4\n", 0,
               "H1:email|first_name|last_name|x_y\n3:1|2|3|4\n");
    expect_error("email,Name,EMAIL\na,b,c\n", 0, MF_EINVAL,
                 "line 1: duplicate column \"email\"", "");
    expect_error("first name,First_Name\n", 0, MF_EINVAL,
                 "line 1: duplicate column \"first_name\"", "");
    expect_error("email,,name\n", 0, MF_EINVAL, "line 1: column 2 has no name", "");
    expect_error("email,\"  \"\n", 0, MF_EINVAL, "line 1: column 2 has no name", "");
    expect_error("\n\nemail,email\n", 0, MF_EINVAL, "line 3: duplicate column", "");
    expect_error("", 0, MF_EINVAL, "the file is empty: no header line", "");
    expect_error("\n\n \r\n", 0, MF_EINVAL, "the file is empty: no header line", "");
    /* the file name prefixes the detail */
    struct outcome o;
    const char *in = "email,EMAIL\n";
    run_n(in, strlen(in), "leads.csv", 0, 0, &o);
    assert_int_equal(o.rc, MF_EINVAL);
    assert_string_equal(o.err.detail, "leads.csv: line 1: duplicate column \"email\"");
}

static void test_column_lookup(void **state)
{
    (void)state;
    const char *names[] = {"email", "first_name"};
    struct csvin_header h = {.ncols = 2, .names = names, .line = 1, .delimiter = ','};
    assert_int_equal(csvin_column(&h, "email"), 0);
    assert_int_equal(csvin_column(&h, "FIRST_NAME"), 1);
    assert_int_equal(csvin_column(&h, "first name"), CSVIN_NO_COLUMN);
    assert_int_equal(csvin_column(&h, "company"), CSVIN_NO_COLUMN);
    assert_int_equal(csvin_column(NULL, "email"), CSVIN_NO_COLUMN);
    assert_int_equal(csvin_column(&h, NULL), CSVIN_NO_COLUMN);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_error("email,name\na@x,ok\nb@x,bad\"quote\nc@x,never\n", 0, MF_EPROTO,
                 "line 3: stray quote at byte 8", "H1:email|name\n2:a@x|ok\n");
    expect_error("email,name\n\"a@x\"junk,ok\n", 0, MF_EPROTO,
                 "line 2: text after a closing quote at byte 6", "H1:email|name\n");
    expect_error("email,note\na@x,\"He said \"hi\" to me\"\n", 0, MF_EPROTO,
                 "line 2: text after a closing quote at byte 15", "H1:email|note\n");
    expect_error("email,note\na@x,\"x\" \"\n", 0, MF_EPROTO, "line 2: stray quote at byte 9",
                 "H1:email|note\n");
    /* the error is on the physical line, inside a multi-line record */
    expect_error("email,note\na@x,\"1\n2\n3\"x\n", 0, MF_EPROTO,
                 "line 4: text after a closing quote at byte 3", "H1:email|note\n");
    /* unterminated quote at the end of the file: the line the record starts on */
    expect_error("email,name\na@x,A\nb@x,\"open\nmore\n", 0, MF_EPROTO,
                 "line 3: a quoted value is not closed by the end of the file",
                 "H1:email|name\n2:a@x|A\n");
    expect_error("\"email", 0, MF_EPROTO, "line 1: a quoted value is not closed", "");
    /* a NUL byte; a UTF-16 file */
    struct outcome o;
    run_n("email\na\0b\n", 10, NULL, 0, 0, &o);
    assert_int_equal(o.rc, MF_EPROTO);
    assert_string_equal(o.err.detail,
                        "line 2: NUL byte at byte 2 (is this a binary or UTF-16 file?)");
    assert_string_equal(o.log, "H1:email\n");
    run_n("\xff\xfe" "e\0m\0\n\0", 8, "x.csv", 0, 0, &o);
    assert_int_equal(o.rc, MF_EINVAL);
    assert_string_equal(o.err.detail,
                        "x.csv: the file is UTF-16 text: save it as \"CSV UTF-8\"");
}

/* Builds "email,note\n" + head + a value of n copies of c + tail. */
static char *big_input(const char *head, size_t n, char c, const char *tail, size_t *len)
{
    size_t a = strlen("email,note\n") + strlen(head), b = strlen(tail);
    char *s = malloc(a + n + b + 1);
    assert_non_null(s);
    strcpy(s, "email,note\n");
    strcat(s, head);
    memset(s + a, c, n);
    memcpy(s + a + n, tail, b + 1);
    *len = a + n + b;
    return s;
}

static void test_limits(void **state)
{
    (void)state;
    struct outcome *o = malloc(sizeof *o);
    assert_non_null(o);
    size_t len;
    /* a value of exactly 64 KiB is fine, one byte more is not */
    char *s = big_input("a@x,", CSVIN_FIELD_MAX, 'v', "\nb@x,ok\n", &len);
    run_n(s, len, NULL, 0, 0, o);
    assert_int_equal(o->rc, MF_OK);
    assert_int_equal(o->res.rows, 2);
    free(s);
    s = big_input("a@x,", CSVIN_FIELD_MAX + 1, 'v', "\nb@x,ok\n", &len);
    run_n(s, len, NULL, 0, 0, o);
    assert_int_equal(o->rc, MF_ELIMIT);
    assert_string_equal(o->err.detail, "line 2: a value is longer than 65536 bytes");
    assert_string_equal(o->log, "H1:email|note\n");
    free(s);
    /* quoted, with the quote never closed: the hint */
    s = big_input("a@x,ok\nb@x,\"", 100000, '\n', "", &len);
    run_n(s, len, "big.csv", 0, 0, o);
    assert_int_equal(o->rc, MF_ELIMIT);
    assert_string_equal(o->err.detail,
                        "big.csv: line 3: a value is longer than 65536 bytes "
                        "(is a quote left open?)");
    assert_string_equal(o->log, "H1:email|note\n2:a@x|ok\n");
    free(s);
    /* a huge value made of trailing spaces after a closing quote */
    s = big_input("a@x,\"v\"", 200000, ' ', "\n", &len);
    run_n(s, len, NULL, 0, 0, o);
    assert_int_equal(o->rc, MF_ELIMIT);
    free(s);
    /* 256 columns are fine, 257 are not (header or row) */
    char *cols = malloc(4096);
    assert_non_null(cols);
    cols[0] = '\0';
    for (int i = 0; i < 256; i++)
        sprintf(cols + strlen(cols), "%sc%d", i ? "," : "", i);
    strcat(cols, "\n");
    for (int i = 0; i < 256; i++)
        strcat(cols, i ? ",v" : "v");
    strcat(cols, "\n");
    run_n(cols, strlen(cols), NULL, 0, 0, o);
    assert_int_equal(o->rc, MF_OK);
    assert_int_equal(o->res.rows, 1);
    cols[strlen(cols) - 1] = '\0';
    strcat(cols, ",v\n");
    run_n(cols, strlen(cols), NULL, 0, 0, o);
    assert_int_equal(o->rc, MF_ELIMIT);
    assert_string_equal(o->err.detail, "line 2: more than 256 fields in one record");
    strcpy(cols, "c0");
    for (int i = 1; i < 257; i++)
        sprintf(cols + strlen(cols), ",c%d", i);
    strcat(cols, "\n");
    run_n(cols, strlen(cols), NULL, 0, 0, o);
    assert_int_equal(o->rc, MF_ELIMIT);
    assert_string_equal(o->err.detail, "line 1: more than 256 fields in one record");
    free(cols);
    /* a record over 1 MiB: 17 values of 64000 bytes */
    size_t vlen = 64000, nv = 17;
    char *rec = malloc(16 + nv * (vlen + 1) + 2);
    assert_non_null(rec);
    strcpy(rec, "a\n");
    size_t p = 2;
    for (size_t i = 0; i < nv; i++) {
        memset(rec + p, 'r', vlen);
        p += vlen;
        rec[p++] = i + 1 < nv ? ',' : '\n';
    }
    run_n(rec, p, NULL, 0, 0, o);
    assert_int_equal(o->rc, MF_ELIMIT);
    assert_string_equal(o->err.detail, "line 2: a record is longer than 1048576 bytes");
    free(rec);
    free(o);
}

static void test_stop(void **state)
{
    (void)state;
    struct outcome o;
    const char *in = "email\na\nb\nc\nd\n";
    run_n(in, strlen(in), NULL, 0, 2, &o);
    assert_int_equal(o.rc, MF_OK);
    assert_true(o.res.stopped);
    assert_int_equal(o.res.rows, 2);
    assert_string_equal(o.log, "H1:email\n2:a\n3:b\n");
    /* from the header callback */
    char log[64];
    struct rec r = {.log = log, .stop_in_header = 1};
    FILE *f = file_of(in, strlen(in));
    struct csvin_result res;
    assert_int_equal(csvin_read(f, NULL, 0, rec_header, rec_row, &r, &res, NULL), MF_OK);
    fclose(f);
    assert_true(res.stopped);
    assert_int_equal(res.rows, 0);
    assert_int_equal(r.rows, 0);
}

static void test_read_error(void **state)
{
    (void)state;
    FILE *f = fopen("/dev/null", "w");
    assert_non_null(f);
    struct mf_err e;
    assert_int_equal(csvin_read(f, "out.csv", 0, NULL, NULL, NULL, NULL, &e), MF_EIO);
    assert_non_null(strstr(e.detail, "out.csv: read error"));
    fclose(f);
}

/* Line ends and quoted newlines across the 64 KiB block boundary of the
 * real reads (not only the stepped ones). */
static void test_block_boundary(void **state)
{
    (void)state;
    struct outcome *o = malloc(sizeof *o);
    assert_non_null(o);
    size_t hl = strlen("email,note\r\n");
    for (int variant = 0; variant < 4; variant++) {
        /* the row's CR lands on the last byte of the first block (variant 0),
         * one before (1), on the first byte of the next block (2), or is a
         * bare CR on the last byte (3) */
        size_t cr_at = CSVIN_CHUNK - 1 - (variant == 1) + (variant == 2);
        size_t n = cr_at - hl - 4;
        char *s = malloc(CSVIN_CHUNK + 256);
        assert_non_null(s);
        strcpy(s, "email,note\r\na@x,");
        memset(s + hl + 4, 'n', n);
        strcpy(s + cr_at, variant == 3 ? "\rb@x,\"multi\r\nline\"\r\nc@x,z"
                                       : "\r\nb@x,\"multi\r\nline\"\r\nc@x,z");
        struct rec r = {.log = o->log};
        FILE *f = file_of(s, strlen(s));
        o->rc = csvin_read(f, NULL, 0, rec_header, rec_row, &r, &o->res, &o->err);
        fclose(f);
        assert_int_equal(o->rc, MF_OK);
        assert_int_equal(o->res.rows, 3);
        assert_int_equal(o->res.lines, 5);
        assert_non_null(strstr(o->log, "nnn\n3:b@x|multi\\r\\nline\n5:c@x|z\n"));
        const char *head = "H1:email|note\n2:a@x|nnn";
        assert_int_equal(strncmp(o->log, head, strlen(head)), 0);
        assert_int_equal(strlen(o->log), strlen("H1:email|note\n2:a@x|") + n +
                                              strlen("\n3:b@x|multi\\r\\nline\n5:c@x|z\n"));
        free(s);
    }
    free(o);
}

struct counter {
    long rows;
    long last_line;
    size_t bytes;
};

static int count_row(void *ctx, long line, size_t n, const char *const *v)
{
    struct counter *c = ctx;
    c->rows++;
    c->last_line = line;
    if (n == 6)
        c->bytes += strlen(v[0]) + strlen(v[5]);
    return 0;
}

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void test_many_rows_constant_memory(void **state)
{
    (void)state;
    const long nrows = 200000;
    FILE *f = tmpfile();
    assert_non_null(f);
    fputs("email,first_name,last_name,company,title,website\n", f);
    for (long i = 0; i < nrows; i++)
        fprintf(f, "user%ld@example%ld.com,First%ld,\"Last, %ld\",Company %ld Ltd,"
                   "\"Head of \"\"Ops\"\"\",https://example%ld.com/p?i=%ld\n",
                i, i % 997, i, i, i % 5000, i % 997, i);
    long size = ftell(f);
    rewind(f);
    long before = max_rss_kb();
    struct counter c = {0, 0, 0};
    struct csvin_result res;
    struct mf_err e;
    clock_t t0 = clock();
    assert_int_equal(csvin_read(f, NULL, 0, NULL, count_row, &c, &res, &e), MF_OK);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    long after = max_rss_kb();
    fclose(f);
    assert_int_equal(c.rows, nrows);
    assert_int_equal(res.rows, nrows);
    assert_int_equal(c.last_line, nrows + 1);
    assert_int_equal(res.lines, nrows + 1);
    print_message("%ld rows (%.1f MB) in %.2f s; peak RSS %ld -> %ld KiB\n", nrows,
                  size / 1e6, secs, before, after);
    assert_true(after - before < 20 * 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_embedded_newlines_and_lines),
        cmocka_unit_test(test_bom_crlf_and_cr),
        cmocka_unit_test(test_delimiters),
        cmocka_unit_test(test_ragged_rows),
        cmocka_unit_test(test_blank_records),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_column_lookup),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_read_error),
        cmocka_unit_test(test_block_boundary),
        cmocka_unit_test(test_many_rows_constant_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
