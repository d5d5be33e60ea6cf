/* engine/store: inbox-placement checks — one row per (sender, seed) pair of
 * a run of engine/placement. See store.h. */
#include <stdio.h>
#include <string.h>

#include "engine/store_int.h"
#include "util/clock.h"

#define TEXT STORE_TEXT
#define INT STORE_INT

enum mf_rc store_placement_add(struct store *st, const struct store_placement *p,
                               struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_PLACEMENT_ADD,
        "INSERT INTO placement_checks (run_id, sender, seed, token, sent_at, result, folder,"
        " delay_ms, detail, created_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, p->run_id);
    TEXT(s, 2, p->sender);
    TEXT(s, 3, p->seed);
    TEXT(s, 4, p->token);
    INT(s, 5, p->sent_at);
    TEXT(s, 6, p->result);
    TEXT(s, 7, p->folder);
    if (p->delay_ms >= 0)
        INT(s, 8, p->delay_ms);
    else
        sqlite3_bind_null(s, 8);
    TEXT(s, 9, p->detail);
    INT(s, 10, mf_wall_seconds());
    return store_done_or(st, s, "recording a placement check", err);
}

enum mf_rc store_placement_latest_run(struct store *st, int64_t *run_id, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_PLACEMENT_LATEST,
        "SELECT coalesce(max(run_id), 0) FROM placement_checks", err);
    if (!s)
        return MF_ESTORE;
    return store_step_int64(st, s, run_id, "reading the latest placement run", err);
}

enum mf_rc store_placement_list(struct store *st, int64_t run_id, store_placement_cb cb,
                                void *ctx, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_PLACEMENT_LIST,
        "SELECT id, run_id, sender, seed, token, sent_at, result, folder, delay_ms, detail,"
        " created_at FROM placement_checks WHERE run_id = ?1 ORDER BY id", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, run_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_placement p;
        memset(&p, 0, sizeof p);
        p.id = sqlite3_column_int64(s, 0);
        p.run_id = sqlite3_column_int64(s, 1);
        store_col_text(s, 2, p.sender, sizeof p.sender);
        store_col_text(s, 3, p.seed, sizeof p.seed);
        store_col_text(s, 4, p.token, sizeof p.token);
        p.sent_at = sqlite3_column_int64(s, 5);
        store_col_text(s, 6, p.result, sizeof p.result);
        store_col_text(s, 7, p.folder, sizeof p.folder);
        p.delay_ms = sqlite3_column_type(s, 8) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 8);
        store_col_text(s, 9, p.detail, sizeof p.detail);
        p.created_at = sqlite3_column_int64(s, 10);
        if (cb(ctx, &p)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? MF_OK : store_db_error(st, err, "reading placement checks");
}
