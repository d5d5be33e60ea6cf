/* mail/returndate: the first lines of a text, and the cues and dates in them
 * (tables in returndate_table.inc). returndate.c finds the text in a
 * message. See returndate.h. */
#include "mail/returndate.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/tz.h"

#include "mail/returndate_table.inc"

#define N_OF(a) (sizeof(a) / sizeof *(a))
#define FILLERS_MAX 6   /* small words passed over in a row */
#define POST_WORDS 4    /* words after a "from" date that may say "back" */

/* ---- the calendar ------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int weekday_of(int64_t days)
{
    int w = (int)((days + 4) % 7); /* 1970-01-01 was a Thursday */
    return w < 0 ? w + 7 : w;
}

static int month_days(int y, int m)
{
    static const int n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : n[m - 1];
}

/* ---- characters ---------------------------------------------------------------------- */

static bool wordc(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80;
}

static bool digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Length of the valid UTF-8 sequence at s (n octets there), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* One character of src (k octets, valid UTF-8) as the scan reads it, into
 * rep: ASCII and Latin-1 letters lowercased, white space, controls and
 * invisible marks as ' ', quotes as ' or ", dashes as '-'. Returns its
 * length (0: dropped). */
static size_t norm_char(const unsigned char *s, size_t k, char rep[4])
{
    if (k == 1) {
        unsigned char c = s[0];
        rep[0] = (char)(c < 0x20 || c == 0x7f ? ' ' : c >= 'A' && c <= 'Z' ? c + 32 : c);
        return 1;
    }
    if (k == 2 && s[0] == 0xc2 && s[1] <= 0xa0) /* C1 controls, no-break space */
        return rep[0] = ' ', 1;
    if (k == 2 && s[0] == 0xc2 && (s[1] == 0xab || s[1] == 0xbb)) /* « » */
        return rep[0] = '"', 1;
    if (k == 2 && s[0] == 0xc3 && s[1] >= 0x80 && s[1] <= 0x9e && s[1] != 0x97)
        return rep[0] = (char)0xc3, rep[1] = (char)(s[1] + 0x20), 2; /* À..Þ */
    if (k == 3 && s[0] == 0xe2 && s[1] == 0x80) {
        unsigned char c = s[2];
        if (c == 0x98 || c == 0x99)
            return rep[0] = '\'', 1;
        if (c == 0x9c || c == 0x9d)
            return rep[0] = '"', 1;
        if (c >= 0x90 && c <= 0x95)
            return rep[0] = '-', 1;
        if (c <= 0x8f || (c >= 0xa8 && c <= 0xaf)) /* spaces, marks, separators */
            return rep[0] = ' ', 1;
    }
    if (k == 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf) /* BOM */
        return 0;
    memcpy(rep, s, k);
    return k;
}

/* Appends src[0..n) read as norm_char does to dst[*o..cap) (one space for a
 * run of white space, none at the start, invalid octets as '?', never a
 * split character). */
static void put_norm(char *dst, size_t cap, size_t *o, const char *src, size_t n)
{
    const unsigned char *s = (const unsigned char *)src;
    for (size_t i = 0; i < n && *o < cap;) {
        size_t k = utf8_len(s + i, n - i);
        char rep[4];
        size_t rn = k ? norm_char(s + i, k, rep) : (rep[0] = '?', 1);
        i += k ? k : 1;
        if (rn == 1 && rep[0] == ' ' && (*o == 0 || dst[*o - 1] == ' '))
            continue;
        if (*o + rn > cap)
            break;
        memcpy(dst + *o, rep, rn);
        *o += rn;
    }
}

/* ---- the first lines ------------------------------------------------------------------ */

struct text {
    char b[RETURNDATE_TEXT_MAX + 1];  /* lines joined by '\n', NUL-terminated */
    size_t n;
};

static bool quote_line(const char *l)
{
    if (!strcmp(l, "--"))
        return true;
    for (size_t k = 0; k < N_OF(rd_quote_starts); k++)
        if (!strncmp(l, rd_quote_starts[k], strlen(rd_quote_starts[k])))
            return true;
    return false;
}

static bool quote_end(const char *l, size_t n)
{
    for (size_t k = 0; k < N_OF(rd_quote_ends); k++) {
        size_t m = strlen(rd_quote_ends[k]);
        if (n >= m && !memcmp(l + n - m, rd_quote_ends[k], m))
            return true;
    }
    return false;
}

/* The first RETURNDATE_LINES_MAX non-blank lines of text[0..len), normalised,
 * before a quote or a signature, at most RETURNDATE_TEXT_MAX octets. */
static void first_lines(const char *text, size_t len, struct text *t)
{
    char l[RETURNDATE_TEXT_MAX + 1];
    size_t lines = 0, prev = 0;
    bool prev_at = false;
    t->n = 0;
    for (const char *p = text, *end = text + len;
         p < end && lines < RETURNDATE_LINES_MAX && t->n + 1 < RETURNDATE_TEXT_MAX;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        size_t n = 0;
        put_norm(l, RETURNDATE_TEXT_MAX, &n, p, (size_t)(e - p));
        p = nl ? nl + 1 : end;
        while (n > 0 && l[n - 1] == ' ')
            n--;
        l[n] = '\0';
        if (!n)
            continue;
        if (quote_line(l))
            break;
        if (quote_end(l, n)) { /* "On Tue, Anna <a@x>" + "wrote:": drop both */
            if (prev_at && n < 40)
                t->n = prev;
            break;
        }
        prev = t->n;
        prev_at = memchr(l, '@', n) != NULL;
        if (t->n)
            t->b[t->n++] = '\n';
        size_t room = RETURNDATE_TEXT_MAX - t->n, take = n < room ? n : room;
        while (take < n && take > 0 && ((unsigned char)l[take] & 0xc0) == 0x80)
            take--; /* not in the middle of a character */
        memcpy(t->b + t->n, l, take);
        t->n += take;
        lines++;
    }
    t->b[t->n] = '\0';
}

/* ---- words ----------------------------------------------------------------------------- */

/* The length of w when the text has it as a whole word at p, else 0. */
static size_t word_at(const struct text *t, size_t p, const char *w)
{
    size_t m = strlen(w);
    if (p + m > t->n || memcmp(t->b + p, w, m) != 0)
        return 0;
    if (p + m < t->n && wordc((unsigned char)t->b[p + m]) && wordc((unsigned char)w[m - 1]))
        return 0;
    return m;
}

static bool word_in(const struct text *t, size_t p, size_t n, const char *const *list,
                    size_t count)
{
    for (size_t k = 0; k < count; k++)
        if (word_at(t, p, list[k]) == n)
            return true;
    return false;
}

/* The longest name of tab at p: its value (and *len, *abbrev), or -1. */
static int name_at(const struct text *t, size_t p, const struct rd_name *tab, size_t count,
                   size_t *len, bool *abbrev)
{
    int v = -1;
    *len = 0;
    for (size_t k = 0; k < count; k++) {
        size_t m = word_at(t, p, tab[k].name);
        if (m > *len) {
            *len = m;
            v = tab[k].value;
            *abbrev = tab[k].abbrev;
        }
    }
    if (v >= 0 && *abbrev && p + *len < t->n && t->b[p + *len] == '.')
        (*len)++;
    return v;
}

/* Digits at p: how many (up to 5, more reads as 5), their value in *v. */
static size_t number(const struct text *t, size_t p, int *v)
{
    size_t k = 0;
    *v = 0;
    while (p + k < t->n && digit((unsigned char)t->b[p + k]) && k < 5)
        *v = *v * 10 + (t->b[p + k++] - '0');
    return k;
}

static size_t spaces(const struct text *t, size_t p)
{
    while (p < t->n && (t->b[p] == ' ' || t->b[p] == '\n'))
        p++;
    return p;
}

/* Spaces and marks that may stand between words of a date phrase. */
static size_t gap(const struct text *t, size_t p)
{
    while (p < t->n && strchr(" \n,:'\"(", t->b[p]))
        p++;
    return p;
}

/* Passes over small words of list (at most FILLERS_MAX) and the gaps. */
static size_t fillers(const struct text *t, size_t p, const char *const *list, size_t count)
{
    for (int k = 0; k < FILLERS_MAX; k++) {
        p = gap(t, p);
        size_t m = 0;
        for (size_t i = 0; i < count && !m; i++)
            m = word_at(t, p, list[i]);
        if (!m)
            break;
        p += m;
        if (p < t->n && t->b[p] == '.') /* "einschl.", "inkl." */
            p++;
    }
    return gap(t, p);
}

/* An ordinal ending at p ("st", "er", "º", "."): its length, or 0. lone:
 * only the endings that make a lone number a day. */
static size_t ordinal(const struct text *t, size_t p, bool lone)
{
    for (size_t k = 0; k < (lone ? RD_LONE_ORDINALS : N_OF(rd_ordinals)); k++) {
        size_t m = strlen(rd_ordinals[k]);
        if (p + m > t->n || memcmp(t->b + p, rd_ordinals[k], m) != 0)
            continue;
        unsigned char next = p + m < t->n ? (unsigned char)t->b[p + m] : ' ';
        if (rd_ordinals[k][0] == '.' ? !digit(next) : !wordc(next))
            return m;
    }
    return 0;
}

/* A time word after p ("am", "Uhr"): the number before it was a time. */
static bool time_after(const struct text *t, size_t p)
{
    p = spaces(t, p);
    for (size_t k = 0; k < N_OF(rd_time_words); k++)
        if (word_at(t, p, rd_time_words[k]))
            return true;
    return false;
}

/* Whether what follows p ends the date: no letter, digit, or ".5" / ":30". */
static bool date_ends(const struct text *t, size_t p)
{
    if (p >= t->n)
        return true;
    unsigned char c = (unsigned char)t->b[p];
    if (wordc(c))
        return false;
    return !(strchr("./-:", c) && p + 1 < t->n && digit((unsigned char)t->b[p + 1]));
}

/* ---- dates ------------------------------------------------------------------------------ */

struct when {
    enum { W_DATE, W_MONTH_DAY, W_DAY, W_WEEKDAY, W_TOMORROW } kind;
    int y, m, d;   /* as far as the kind has them */
    int wd;        /* a weekday written with it, or -1 */
};

/* A year after a day and month: ", 2026", " de 2026". *y stays 0 without. */
static size_t year_after(const struct text *t, size_t p, int *y)
{
    *y = 0;
    size_t q = p;
    while (q < t->n && (t->b[q] == ' ' || t->b[q] == ','))
        q++;
    size_t m = word_at(t, q, "de");
    if (!m)
        m = word_at(t, q, "del");
    if (m)
        q = spaces(t, q + m);
    int v;
    if (number(t, q, &v) == 4 && v >= 2000 && v <= 2099 && date_ends(t, q + 4)) {
        *y = v;
        return q + 4;
    }
    return p;
}

static bool valid_day(const struct when *w)
{
    if (w->m < 1 || w->m > 12 || w->d < 1)
        return false;
    if (w->kind == W_DATE)
        return w->y >= 2000 && w->y <= 2099 && w->d <= month_days(w->y, w->m);
    return w->d <= month_days(2000, w->m); /* any year: 29 February may come */
}

/* 2026-12-05, 5.12., 5.12.2026, 12/05/26, 12-05 (see returndate.h on the order). */
static bool numeric_date(const struct text *t, size_t p, struct when *w, size_t *end)
{
    int a, b, c = 0;
    size_t la = number(t, p, &a), q = p + la;
    if (!la || la == 3 || la > 4 || q >= t->n || !strchr("/.-", t->b[q]))
        return false;
    char sep = t->b[q];
    size_t lb = number(t, q + 1, &b);
    if (!lb || lb > 2)
        return false;
    q += 1 + lb;
    bool year = false;
    if (la == 4) { /* year first */
        size_t lc = q < t->n && t->b[q] == sep ? number(t, q + 1, &c) : 0;
        if (!lc || lc > 2)
            return false;
        q += 1 + lc;
        *w = (struct when){.kind = W_DATE, .y = a, .m = b, .d = c, .wd = -1};
    } else {
        size_t lc = q + 1 < t->n && t->b[q] == sep ? number(t, q + 1, &c) : 0;
        if (lc == 2 || lc == 4) {
            q += 1 + lc;
            year = true;
        } else if (lc) {
            return false;
        } else if (sep == '.' && q < t->n && t->b[q] == '.') {
            q++; /* "5.12." */
        }
        int d = a, m = b;
        if (sep != '.' && m > 12 && d <= 12) /* only month first can be right */
            d = b, m = a;
        *w = (struct when){.kind = year ? W_DATE : W_MONTH_DAY, .y = lc == 2 ? 2000 + c : c,
                           .m = m, .d = d, .wd = -1};
    }
    if (!date_ends(t, q))
        return false;
    if (!year && la < 4 && t->b[q - 1] != '.' && time_after(t, q))
        return false; /* "9.12 am" */
    size_t r = spaces(t, q), len;
    bool ab;
    if (sep == '-' && !year && la < 4 && name_at(t, r, rd_months, N_OF(rd_months), &len, &ab) >= 0)
        return false; /* "1-5 December" is a range */
    *end = q;
    return valid_day(w);
}

/* "5 December", "5th of December", "5. Dezember", "5 de diciembre de 2026",
 * "December 5th, 2026", "Dec. 5". */
static bool word_date(const struct text *t, size_t p, struct when *w, size_t *end)
{
    int d, y;
    size_t k = number(t, p, &d), len;
    bool ab;
    *w = (struct when){.kind = W_MONTH_DAY, .wd = -1};
    if (k == 1 || k == 2) {
        size_t q = spaces(t, p + k + ordinal(t, p + k, false)), m;
        if ((m = word_at(t, q, "of")) || (m = word_at(t, q, "de")))
            q = spaces(t, q + m);
        int mon = name_at(t, q, rd_months, N_OF(rd_months), &len, &ab);
        if (mon < 0)
            return false;
        *end = year_after(t, q + len, &y);
        w->m = mon, w->d = d, w->y = y, w->kind = y ? W_DATE : W_MONTH_DAY;
        return valid_day(w);
    }
    int mon = name_at(t, p, rd_months, N_OF(rd_months), &len, &ab);
    if (mon < 0)
        return false;
    size_t q = spaces(t, p + len), m = word_at(t, q, "the");
    if (m)
        q = spaces(t, q + m);
    k = number(t, q, &d);
    if (k != 1 && k != 2)
        return false;
    q += k;
    q += ordinal(t, q, false);
    if (!date_ends(t, q) || time_after(t, q))
        return false;
    *end = year_after(t, q, &y);
    w->m = mon, w->d = d, w->y = y, w->kind = y ? W_DATE : W_MONTH_DAY;
    return valid_day(w);
}

static bool full_date(const struct text *t, size_t p, struct when *w, size_t *end)
{
    return numeric_date(t, p, w, end) || word_date(t, p, w, end);
}

/* A date at p, in any of the forms returndate.h lists. */
static bool when_at(const struct text *t, size_t p, struct when *w, size_t *end)
{
    for (size_t k = 0; k < N_OF(rd_tomorrow); k++)
        if ((*end = p + word_at(t, p, rd_tomorrow[k])) > p) {
            *w = (struct when){.kind = W_TOMORROW, .wd = -1};
            return true;
        }
    size_t len, q;
    bool ab = false;
    int wd = name_at(t, p, rd_weekdays, N_OF(rd_weekdays), &len, &ab), d;
    if (wd < 0) {
        if (full_date(t, p, w, end))
            return true;
        size_t k = number(t, p, &d), o = k == 1 || k == 2 ? ordinal(t, p + k, true) : 0;
        if (!o || d < 1 || d > 31 || !date_ends(t, p + k + o))
            return false;
        *w = (struct when){.kind = W_DAY, .d = d, .wd = -1}; /* "the 8th" */
        *end = p + k + o;
        return true;
    }
    q = fillers(t, p + len, rd_weekday_fillers, N_OF(rd_weekday_fillers));
    if (full_date(t, q, w, end)) {
        w->wd = wd;
        return true;
    }
    size_t k = number(t, q, &d);
    if ((k == 1 || k == 2) && d >= 1 && d <= 31) {
        size_t r = q + k + ordinal(t, q + k, false);
        if (date_ends(t, r) && !(r < t->n && t->b[r] == ':') && !time_after(t, r)) {
            *w = (struct when){.kind = W_DAY, .d = d, .wd = wd}; /* "Tuesday 8th" */
            *end = r;
            return true;
        }
    }
    if (ab)
        return false; /* "Mon" alone is too likely some other word */
    *w = (struct when){.kind = W_WEEKDAY, .wd = wd};
    *end = p + len;
    return true;
}

/* ---- cues ------------------------------------------------------------------------------- */

static bool cue_at(const struct text *t, size_t p)
{
    for (size_t k = 0; k < N_OF(rd_cues); k++)
        if (word_at(t, p, rd_cues[k].text))
            return true;
    return false;
}

static bool sentence_end(const struct text *t, size_t p)
{
    return p >= t->n || strchr(".!?;", t->b[p]);
}

/* "from" dates: a word saying "back" or "again" closely after p. */
static bool back_word_after(const struct text *t, size_t p)
{
    for (int words = 0; words < POST_WORDS;) {
        p = gap(t, p);
        if (sentence_end(t, p))
            return false;
        size_t s = p;
        while (p < t->n && (wordc((unsigned char)t->b[p]) || t->b[p] == '-'))
            p++;
        if (p == s) {
            p++;
            continue;
        }
        if (word_in(t, s, p - s, rd_back_words, N_OF(rd_back_words)))
            return true;
        if (word_in(t, s, p - s, rd_clause_words, N_OF(rd_clause_words)))
            return false;
        words++;
    }
    return false;
}

/* "from 1-5 December", "vom 1.-5.12.": the end of the range. */
static bool range_at(const struct text *t, size_t p, struct when *w, size_t *end)
{
    struct when first;
    size_t q;
    int d;
    p = gap(t, p);
    if (!full_date(t, p, &first, &q)) {
        size_t k = number(t, p, &d);
        if (k < 1 || k > 2 || d < 1 || d > 31)
            return false;
        q = p + k + ordinal(t, p + k, false);
    }
    while (q < t->n && t->b[q] == ' ')
        q++;
    if (q >= t->n || t->b[q] != '-')
        return false;
    q++;
    while (q < t->n && t->b[q] == ' ')
        q++;
    return when_at(t, q, w, end) && w->kind != W_WEEKDAY && w->kind != W_TOMORROW;
}

/* The date a cue (its words end at p) announces. */
static bool after_cue(const struct text *t, size_t p, const struct rd_cue *cue, struct when *w,
                      size_t *end)
{
    if (cue->flags & RD_RANGE)
        return range_at(t, p, w, end);
    for (int words = 0;; words++) {
        p = fillers(t, p, rd_fillers, N_OF(rd_fillers));
        if (when_at(t, p, w, end))
            return !(cue->flags & RD_POST) || back_word_after(t, *end);
        if (!(cue->flags & RD_SKIP) || words >= RETURNDATE_SKIP_WORDS || sentence_end(t, p) ||
            cue_at(t, p))
            return false;
        size_t s = p; /* pass one word of the sentence */
        while (p < t->n && wordc((unsigned char)t->b[p]))
            p++;
        if (p == s)
            p++;
        else if (sentence_end(t, p) && p < t->n)
            return false;
    }
}

/* Whether the word before p is a weekday name: "Monday to Friday",
 * "Montag bis Freitag", "du lundi au vendredi" are opening hours. */
static bool weekday_before(const struct text *t, size_t p)
{
    size_t e = p, len;
    bool ab;
    while (e > 0 && strchr(" \n,.", t->b[e - 1]))
        e--;
    size_t s = e;
    while (s > 0 && (wordc((unsigned char)t->b[s - 1]) || t->b[s - 1] == '-'))
        s--;
    return s < e && name_at(t, s, rd_weekdays, N_OF(rd_weekdays), &len, &ab) >= 0 &&
           s + len >= e;
}

/* Whether the cue at p (m octets) announces a return day: *w, *end. */
static bool cue_says(const struct text *t, size_t p, size_t m, const struct rd_cue *cue,
                     struct when *w, size_t *end)
{
    if (!after_cue(t, p + m, cue, w, end))
        return false;
    /* "Monday to Friday": opening hours, not an absence */
    return !(cue->kind == RD_UNTIL && w->kind == W_WEEKDAY && weekday_before(t, p));
}

/* ---- the answer ------------------------------------------------------------------------- */

struct arrival {
    int64_t day;     /* days since 1970-01-01 of the arrival's local day */
    int y, m, wd;
};

/* The day X the words name (days since 1970), or false. */
static bool day_of(const struct when *w, bool until, const struct arrival *a, int64_t *x)
{
    int64_t min = a->day + (until ? 0 : 1);
    switch (w->kind) {
    case W_TOMORROW:
        *x = a->day + 1;
        return true;
    case W_WEEKDAY: {
        int dd = (w->wd - a->wd + 7) % 7;
        *x = a->day + (dd ? dd : 7);
        return true;
    }
    case W_DATE:
        *x = days_from_civil(w->y, w->m, w->d);
        return true;
    case W_MONTH_DAY:
        /* this year's, or next year's when that is close (see returndate.h) */
        if (w->d <= month_days(a->y, w->m) && (*x = days_from_civil(a->y, w->m, w->d)) >= min)
            return true;
        return w->d <= month_days(a->y + 1, w->m) &&
               (*x = days_from_civil(a->y + 1, w->m, w->d)) - a->day <=
                   RETURNDATE_ROLLOVER_DAYS;
    case W_DAY:
        /* the next such day of a month; with a weekday, the next that is one */
        for (int pass = w->wd < 0; pass < 2; pass++) {
            int y = a->y, m = a->m;
            for (int k = 0; k < 8; k++) {
                if (w->d <= month_days(y, m) && (*x = days_from_civil(y, m, w->d)) >= min &&
                    (pass || weekday_of(*x) == w->wd))
                    return true;
                if (++m > 12)
                    m = 1, y++;
            }
        }
        return false;
    }
    return false;
}

/* The words from p to end, as one line, without a split character. */
static void phrase(const struct text *t, size_t p, size_t end, char *out, size_t size)
{
    size_t n = end - p < size - 1 ? end - p : size - 1;
    while (n > 0 && n < end - p && ((unsigned char)t->b[p + n] & 0xc0) == 0x80)
        n--;
    for (size_t i = 0; i < n; i++)
        out[i] = t->b[p + i] == '\n' ? ' ' : t->b[p + i];
    out[n] = '\0';
}

static enum mf_rc answer(const struct text *t, size_t p, size_t end, const struct rd_cue *cue,
                         const struct when *w, const struct arrival *a, const char *zone,
                         struct returndate *out, struct mf_err *err)
{
    char words[RETURNDATE_PHRASE_SIZE];
    phrase(t, p, end, words, sizeof words);
    bool until = cue->kind == RD_UNTIL;
    int64_t x;
    if (!day_of(w, until, a, &x))
        return mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL,
                          "\"%s\" names no day to come (a date without a year that "
                          "has passed is a stale reply's)", words);
    int64_t back = until ? x + 1 : x;
    int y, m, d;
    civil_from_days(back, &y, &m, &d);
    if (back <= a->day)
        return mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL,
                          "\"%s\" gives %04d-%02d-%02d, not after the day it arrived", words,
                          y, m, d);
    if (back > a->day + RETURNDATE_HORIZON_DAYS)
        return mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL,
                          "\"%s\" gives %04d-%02d-%02d, more than %d days ahead", words, y, m,
                          d, RETURNDATE_HORIZON_DAYS);
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_isdst = -1};
    out->at = mf_tz_mktime(zone, &tm);
    out->year = y, out->month = m, out->day = d;
    out->until = until;
    out->lang = cue->lang;
    memcpy(out->phrase, words, sizeof out->phrase);
    return MF_OK;
}

enum mf_rc returndate_in_text(const char *text, size_t len, int64_t arrived, const char *zone,
                              struct returndate *out, struct mf_err *err)
{
    if (!out)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL, "no result to fill");
    memset(out, 0, sizeof *out);
    if (!text && len)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL, "no text");
    struct text tx, *t = &tx;
    first_lines(text ? text : "", text ? len : 0, t);
    struct tm lt;
    mf_tz_local(zone, arrived, &lt);
    struct arrival a = {.day = days_from_civil(lt.tm_year + 1900, lt.tm_mon + 1, lt.tm_mday),
                        .y = lt.tm_year + 1900, .m = lt.tm_mon + 1};
    a.wd = weekday_of(a.day);
    for (size_t i = 0; i < t->n; i++) {
        if ((i > 0 && wordc((unsigned char)t->b[i - 1])) || !wordc((unsigned char)t->b[i]))
            continue;
        for (size_t k = 0; k < N_OF(rd_indefinite); k++)
            if (word_at(t, i, rd_indefinite[k]))
                return mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL,
                                  "away until \"%s\": no day named", rd_indefinite[k]);
        for (size_t k = 0; k < N_OF(rd_cues); k++) {
            size_t m = word_at(t, i, rd_cues[k].text), end;
            struct when w;
            if (m && cue_says(t, i, m, &rd_cues[k], &w, &end)) {
                enum mf_rc rc = answer(t, i, end, &rd_cues[k], &w, &a, zone, out, err);
                if (rc != MF_OK)
                    memset(out, 0, sizeof *out);
                return rc;
            }
        }
    }
    return mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL,
                      t->n ? "no return date in the first lines of the text"
                           : "no text to read");
}
