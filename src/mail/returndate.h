/*
 * mail/returndate — the day the writer of an out-of-office reply says they
 * are back, read from the reply's own words.
 *
 * What is read: the message's first text part that is not an attachment
 * (text/plain; else text/html with its tags stripped), found by a MIME walk
 * CLASSIFY_DEPTH_MAX levels deep that does not enter enclosed messages,
 * decoded (base64, quoted-printable) and converted from its charset to
 * UTF-8 by GMime, at most CLASSIFY_SCAN_MAX octets of it. Of that text only
 * the first RETURNDATE_LINES_MAX non-blank lines and RETURNDATE_TEXT_MAX
 * octets count, up to where a quote or a signature starts (a line starting
 * ">", "-----", "_____", "-- ", "From:", "Von:", "De :", "Van:", ... or
 * ending "wrote:", "schrieb:", "a écrit :", ...): a person's reply that
 * QUOTES an out-of-office text has no return date.
 *
 * What is understood (data tables in returndate_table.inc): a cue, then a
 * date X, case and accents as written or not.
 *   until X   en "until", "till", "through", "to", "after"; de "bis (zum,
 *             einschließlich)"; fr "jusqu'au", "jusqu'à", "(du 1er) au";
 *             es "hasta (el)", "(del 1) al"; nl "tot (en met)", "t/m";
 *             it "fino al"; pt "até"; and ranges "from 1-5 December",
 *             "vom 1.-5.12.". The writer is back the day AFTER X.
 *   back on X en "back", "return(ing)", "again"; de "zurück", "wieder";
 *             fr "de retour", "de nouveau"; es "de vuelta", "regreso";
 *             nl "terug", "weer"; it "rientro", "di ritorno"; pt "de volta",
 *             "retorno". Up to RETURNDATE_SKIP_WORDS words may stand between
 *             such a cue and X ("back in the office on X"), within one
 *             sentence. A "from" counts only when a word saying "back" or
 *             "again" follows X closely: de "ab (dem) X ... wieder", "am X
 *             ... zurück", nl "vanaf X ... weer", fr/es/pt "à partir du X
 *             ... de retour" ("ab 1. Dezember bin ich im Urlaub" is when the
 *             absence starts, not when it ends). The writer is back ON X.
 *   X         a weekday name ("Monday", "lundi", "maandag", "segunda-
 *             feira", ...): the next such day after the arrival; "tomorrow"
 *             (morgen, demain, mañana, domani, amanhã); a day and a month
 *             name in either order, with or without ordinal, weekday and
 *             year ("5 December", "December 5th, 2026", "5. Dezember",
 *             "5 de diciembre de 2026", "lundi 8 décembre"); a day with a
 *             weekday or an ordinal ("Tuesday 8th", "the 8th"): the next
 *             8th on or after the arrival that is a Tuesday, else the next
 *             8th; a numeric date ("2026-12-05", "5.12.", "5.12.2026",
 *             "12/05/2026", "12-05"). A number followed by a time word
 *             ("9.12 am", "17.00 Uhr") is not a date.
 * The first cue followed by a date decides, in the order of the text. When
 * that date gives no usable return day the answer is "not found": it is not
 * replaced by a later, less likely date. "Until further notice" (bis auf
 * Weiteres, jusqu'à nouvel ordre, hasta nuevo aviso, tot nader order, ...)
 * before any such cue also means not found. Opening hours are not an
 * absence: "until" with a lone weekday right after another weekday
 * ("Monday to Friday", "Montag bis Freitag", "du lundi au vendredi") is
 * passed over.
 *
 * Ambiguous numeric dates are read DAY FIRST: "12/05/2026" is 12 May 2026.
 * Every language above writes the day first, as do British, Irish,
 * Australian, Indian and most other English writers; only American English
 * puts the month first. The month-first reading is taken only when the
 * day-first one is impossible because its month would be over 12
 * ("12/25/2026" is 25 December). There is no other fallback: out-of-office
 * texts are often stale (left on after the writer came back), and reading
 * a past day-first date month-first would turn it into a future one and
 * hold a lead back for months. Dotted dates ("5.12.") are always day
 * first; four digits first is always year-month-day ("2026-12-05").
 *
 * A date without a year is this year's when that is still to come (on or
 * after the arrival's local day; for "back on" dates, after it); next
 * year's only when that is at most RETURNDATE_ROLLOVER_DAYS ahead
 * (December's "until 10 January"). Otherwise it is taken for what it most
 * often is, the past date of a stale reply: "until 5 May" arriving in
 * November holds no lead back until next May.
 *
 * The answer is the first day back at 00:00 in zone, and only when that day
 * is after the arrival's own local day and at most RETURNDATE_HORIZON_DAYS
 * days later: a past date, a date too far ahead, a day that does not exist,
 * no cue, no date or no text is MF_ENOTFOUND.
 *
 * Bounds: at most CLASSIFY_INPUT_MAX octets of raw are read (the rest is
 * ignored); a message whose header block is over CLASSIFY_HEADER_MAX is
 * not parsed (not found). Memory: GMime's parse of the message, one buffer
 * of at most CLASSIFY_SCAN_MAX + 1 octets for the part (HTML is stripped
 * in place), and twice RETURNDATE_TEXT_MAX octets on the stack. The scan is
 * linear in RETURNDATE_TEXT_MAX times the size of the tables.
 *
 * Threads: GMime is initialised once (pthread_once), but util/tz switches
 * the process's TZ: calls are NOT thread-safe (the engine runs on one
 * thread). Nothing here prints or touches the store.
 *
 * Ownership: raw, text and zone are borrowed for the call. A result is a
 * plain struct (lang is static); there is nothing to free.
 */
#ifndef MF_MAIL_RETURNDATE_H
#define MF_MAIL_RETURNDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mail/classify.h"
#include "util/err.h"

#define RETURNDATE_HORIZON_DAYS 180   /* the latest return day, after arrival */
#define RETURNDATE_ROLLOVER_DAYS 90   /* a yearless date read as next year's */
#define RETURNDATE_LINES_MAX 30       /* non-blank lines of text read */
#define RETURNDATE_TEXT_MAX 4096      /* octets of those lines read */
#define RETURNDATE_SKIP_WORDS 6       /* words between "back" and its date */
#define RETURNDATE_PHRASE_SIZE 160

struct returndate {
    int64_t at;                  /* unix s: 00:00 in zone of the first day back */
    int year, month, day;        /* that day (month 1-12) */
    bool until;                  /* "until X": back the day after X */
    const char *lang;            /* the cue's language(s): "en", "de", "fr/es/pt"...;
                                  * static, NULL when not found */
    char phrase[RETURNDATE_PHRASE_SIZE]; /* the words read, lowercased, one line,
                                  * valid UTF-8: "bis zum 5.12." */
};

/*
 * Reads the return day from a message (raw, len octets, any line endings;
 * need not be NUL-terminated) that arrived at unix time arrived; zone is an
 * IANA zone name (NULL or unknown: UTC) for the arrival's local day and
 * the answer's midnight. *out is overwritten.
 * MF_OK: found. MF_ENOTFOUND: no usable return day (see above).
 * MF_EINVAL: out NULL, or raw NULL with len > 0. MF_ENOMEM.
 * Except on MF_OK, *out is zeroed and err (may be NULL) says why.
 */
enum mf_rc returndate_find(const char *raw, size_t len, int64_t arrived, const char *zone,
                           struct returndate *out, struct mf_err *err);

/*
 * The same for a text already extracted (UTF-8 or ASCII; invalid octets are
 * read as '?'): its first lines are read as above. Errors as
 * returndate_find (no MF_ENOMEM).
 */
enum mf_rc returndate_in_text(const char *text, size_t len, int64_t arrived, const char *zone,
                              struct returndate *out, struct mf_err *err);

#endif
