/*
 * engine/csvin — a streaming CSV reader (on libcsv) for `mailfleet leads
 * import` and `mailfleet mailbox import`.
 *
 * The file is read in 64 KiB blocks and handed over one record at a time,
 * so memory stays constant whatever the number of rows (at most about
 * 2.2 MiB: the block, one field, one record and the header).
 *
 * Format: RFC 4180, strictly. Fields may be quoted with '"'; a quoted field
 * may hold the delimiter, newlines and doubled quotes (""). A quote inside
 * an unquoted field, or anything but white space between a closing quote
 * and the next delimiter / line end, is an error (MF_EPROTO), and so is a
 * quoted field still open at the end of the file. Records end with CRLF or
 * LF (a bare CR also ends a line: old Mac exports). A UTF-8 byte-order mark
 * at the start is skipped; a UTF-16 one is refused (MF_EINVAL, with advice
 * to save as "CSV UTF-8"), and so is a NUL byte anywhere (MF_EPROTO).
 * Other bytes pass through unchecked: checking a value's encoding is the
 * importer's business (mail/addr checks addresses).
 *
 * The delimiter is ',' ';' or '\t'. With delimiter 0 it is detected from the
 * header line: the first line that is not blank (after the BOM; up to its
 * first line end outside quotes, within the first 64 KiB). The one of the
 * three that occurs most often there outside quotes wins; ties go to ','
 * then ';' then '\t'; none at all (a single column) gives ','.
 *
 * Header: the first record names the columns. Each name is trimmed, ASCII
 * letters lowercased and each run of spaces / tabs replaced by one '_'
 * ("First Name" -> "first_name"). An empty or duplicate name (after that
 * normalisation) is an error: MF_EINVAL "line 1: duplicate column \"email\"".
 *
 * Values: unquoted values are trimmed of surrounding spaces and tabs (not of
 * the delimiter when it is a tab); quoted values are passed exactly as
 * written between the quotes ("" becomes "); the white space around the
 * quotes is dropped. So `a, " b ",c` gives "a", " b ", "c".
 *
 * Skipped, never passed on: empty lines and lines of white space only, and
 * records whose values are all empty (",,,," rows that spreadsheets leave
 * at the end); the latter are counted in csvin_result.blank.
 *
 * Line numbers are physical lines (1-based), counting the newlines inside
 * quoted fields: a record is reported with the line it starts on. Errors
 * read "NAME: line N: what" ("line N: what" when no name is given).
 *
 * Ragged records (a different number of values than the header has names)
 * are passed to on_row like any other, not treated as errors: on_row must
 * compare nvalues with the header's ncols and reject the row itself, with
 * its line number. The values array always has at least ncols entries;
 * those past nvalues are NULL.
 *
 * Limits: a field is at most 64 KiB, a record at most 1 MiB (its values'
 * bytes) and 256 values (the header too). Passing one is MF_ELIMIT with the
 * line the record starts on; an unclosed quote usually shows up this way,
 * and the message then says so.
 *
 * Stopping: a callback that returns non-zero stops the read at once;
 * csvin_read() then returns MF_OK with result.stopped set (the callback keeps
 * its own reason in ctx).
 *
 * On any error, rows already passed to on_row stay passed: an importer that
 * wants all or nothing wraps the read in a transaction. No callback runs
 * after an error.
 *
 * Ownership: the FILE is the caller's (read from where it is, not closed).
 * Everything handed to a callback is borrowed: the header names until
 * csvin_read() returns, a row's values until its callback returns.
 */
#ifndef MF_ENGINE_CSVIN_H
#define MF_ENGINE_CSVIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util/err.h"

#define CSVIN_CHUNK (64 * 1024)
#define CSVIN_FIELD_MAX (64 * 1024)
#define CSVIN_RECORD_MAX (1024 * 1024)
#define CSVIN_COLS_MAX 256
#define CSVIN_NO_COLUMN ((size_t)-1)

struct csvin_header {
    size_t ncols;
    const char *const *names;   /* borrowed, normalised, ncols of them */
    long line;                  /* where the header record starts */
    int delimiter;              /* the delimiter in use */
};

/* Return 0 to go on, non-zero to stop. */
typedef int (*csvin_header_cb)(void *ctx, const struct csvin_header *h);
typedef int (*csvin_row_cb)(void *ctx, long line, size_t nvalues,
                            const char *const *values);

struct csvin_result {
    long rows;          /* records passed to on_row (ragged ones included) */
    long blank;         /* all-empty records skipped */
    long lines;         /* physical lines read */
    int delimiter;      /* the delimiter used, 0 if none was chosen yet */
    bool stopped;       /* a callback returned non-zero */
};

/*
 * Reads `in` to its end. name_for_errors (may be NULL) prefixes error
 * details. delimiter: 0 = detect, or ',' ';' '\t'. on_header / on_row may be
 * NULL; out may be NULL (it is filled on error too).
 *
 * MF_OK (also when stopped), MF_EINVAL (bad arguments, no header: empty
 * file, empty or duplicate column name, UTF-16 file), MF_EPROTO (malformed
 * CSV, NUL byte), MF_ELIMIT, MF_EIO (read error), MF_ENOMEM.
 */
enum mf_rc csvin_read(FILE *in, const char *name_for_errors, int delimiter,
                      csvin_header_cb on_header, csvin_row_cb on_row, void *ctx,
                      struct csvin_result *out, struct mf_err *err);

/* Index of the column called `name` (compared without ASCII case), or
 * CSVIN_NO_COLUMN. h may be NULL. */
size_t csvin_column(const struct csvin_header *h, const char *name);

/*
 * For tests and fuzzing: as csvin_read(), but the parser is fed `step` bytes
 * at a time (>= 2; 0 = whole blocks) so that block boundaries fall
 * everywhere. Results must not depend on step.
 */
enum mf_rc csvin_read_stepped(FILE *in, const char *name_for_errors, int delimiter,
                              size_t step, csvin_header_cb on_header,
                              csvin_row_cb on_row, void *ctx,
                              struct csvin_result *out, struct mf_err *err);

#endif
