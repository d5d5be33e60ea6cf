/* engine/store: schema creation and version, accounts, refusal of foreign
 * files without touching them, the engine's group transaction, the lead
 * import's domain index. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define TMPDIR_NAME "store"
#include "unit_tmpdir.h"
#include <sqlite3.h> /* to make another program's database */

#include "engine/store.h"


static void path_of(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

static int count_cb(void *ctx, const struct store_account *a)
{
    (void)a;
    (*(int *)ctx)++;
    return 0;
}

static void test_accounts_roundtrip(void **state)
{
    (void)state;
    char p[512];
    path_of(p, sizeof p, "sub/dir/a.db"); /* parents are created */
    struct mf_err e;
    struct store *st = store_open(p, &e);
    assert_non_null(st);
    assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
    struct store_account a = {.port = 587};
    snprintf(a.name, sizeof a.name, "work");
    snprintf(a.provider, sizeof a.provider, "m365");
    snprintf(a.host, sizeof a.host, "smtp.office365.com");
    snprintf(a.security, sizeof a.security, "starttls");
    snprintf(a.user, sizeof a.user, "me@contoso.com");
    snprintf(a.password_env, sizeof a.password_env, "WORK_PW");
    assert_int_equal(store_account_put(st, &a, false, &e), MF_OK);
    assert_int_equal(store_account_put(st, &a, false, &e), MF_EINVAL);
    a.port = 25;
    assert_int_equal(store_account_put(st, &a, true, &e), MF_OK);
    struct store_account b;
    assert_int_equal(store_account_get(st, "work", &b, &e), MF_OK);
    assert_string_equal(b.host, "smtp.office365.com");
    assert_int_equal(b.port, 25);
    assert_string_equal(b.auth, "auto");
    assert_string_equal(b.password_env, "WORK_PW");
    assert_true(b.created_at > 0);
    assert_int_equal(store_account_get(st, "nope", &b, &e), MF_ENOTFOUND);
    /* constraints hold: a bad port or security is refused */
    a.port = 70000;
    snprintf(a.name, sizeof a.name, "bad");
    assert_int_equal(store_account_put(st, &a, false, &e), MF_EINVAL);
    int n = 0;
    assert_int_equal(store_account_list(st, count_cb, &n, &e), MF_OK);
    assert_int_equal(n, 1);
    store_close(st);
    /* reopen: data and version survive */
    st = store_open(p, &e);
    assert_non_null(st);
    assert_int_equal(store_account_get(st, "work", &b, &e), MF_OK);
    assert_int_equal(store_account_remove(st, "work", &e), MF_OK);
    assert_int_equal(store_account_remove(st, "work", &e), MF_ENOTFOUND);
    store_close(st);
}

static void test_foreign_files_refused_untouched(void **state)
{
    (void)state;
    char p[512];
    path_of(p, sizeof p, "notes.txt");
    FILE *f = fopen(p, "w");
    fputs("my precious notes, not a database\n", f);
    fclose(f);
    struct mf_err e;
    mf_err_clear(&e);
    assert_null(store_open(p, &e));
    assert_int_equal(e.rc, MF_ESTORE);
    assert_non_null(strstr(e.detail, "untouched"));
    char buf[100] = "";
    f = fopen(p, "r");
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "my precious notes, not a database\n");

    /* another program's SQLite database */
    path_of(p, sizeof p, "other.db");
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1);",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    mf_err_clear(&e);
    assert_null(store_open(p, &e));
    assert_non_null(strstr(e.detail, "another program"));
}

static bool meta_is(struct store *st, const char *key, const char *want)
{
    char v[64];
    size_t len = 0;
    struct mf_err e;
    if (store_meta_get(st, key, v, sizeof v - 1, &len, &e) != MF_OK)
        return want == NULL;
    v[len < sizeof v - 1 ? len : sizeof v - 1] = '\0';
    return want && strcmp(v, want) == 0;
}

/* A group holds every write, with or without store_begin, until its commit;
 * a rolled-back step undoes only itself; another connection sees nothing
 * before the group commits and everything after. */
static void test_group_transaction(void **state)
{
    (void)state;
    char p[512];
    path_of(p, sizeof p, "group.db");
    struct mf_err e;
    struct store *st = store_open(p, &e);
    struct store *other = store_open(p, &e);
    assert_non_null(st);
    assert_non_null(other);
    assert_false(store_group_active(st));
    assert_int_equal(store_group_commit(st, &e), MF_OK); /* none open: nothing */
    assert_int_equal(store_group_open(st, &e), MF_OK);
    assert_int_equal(store_group_open(st, &e), MF_OK); /* already open */
    assert_true(store_group_active(st));
    assert_int_equal(store_meta_put(st, "plain", "1", 1, &e), MF_OK);
    assert_int_equal(store_begin(st, &e), MF_OK);
    assert_int_equal(store_meta_put(st, "kept", "2", 1, &e), MF_OK);
    assert_int_equal(store_commit(st, &e), MF_OK);
    assert_int_equal(store_begin(st, &e), MF_OK);
    assert_int_equal(store_meta_put(st, "undone", "3", 1, &e), MF_OK);
    assert_int_equal(store_meta_put(st, "kept", "changed", 7, &e), MF_OK);
    store_rollback(st);
    assert_true(store_group_active(st));
    /* the writer sees its own work; the other connection sees none yet */
    assert_true(meta_is(st, "plain", "1"));
    assert_true(meta_is(st, "kept", "2"));
    assert_true(meta_is(st, "undone", NULL));
    assert_true(meta_is(other, "plain", NULL));
    assert_true(meta_is(other, "kept", NULL));
    assert_int_equal(store_group_commit(st, &e), MF_OK);
    assert_false(store_group_active(st));
    assert_true(meta_is(other, "plain", "1"));
    assert_true(meta_is(other, "kept", "2"));
    assert_true(meta_is(other, "undone", NULL));
    /* after the group, store_begin is a transaction of its own again */
    assert_int_equal(store_begin(st, &e), MF_OK);
    assert_int_equal(store_meta_put(st, "later", "4", 1, &e), MF_OK);
    assert_int_equal(store_commit(st, &e), MF_OK);
    assert_true(meta_is(other, "later", "4"));
    /* a step left open when the group commits is a bug: all is rolled back */
    assert_int_equal(store_group_open(st, &e), MF_OK);
    assert_int_equal(store_meta_put(st, "lost", "5", 1, &e), MF_OK);
    assert_int_equal(store_begin(st, &e), MF_OK);
    assert_int_equal(store_group_commit(st, &e), MF_ESTORE);
    assert_true(meta_is(other, "lost", NULL));
    assert_true(meta_is(st, "lost", NULL));
    store_close(other);
    store_close(st);
}

static int64_t count_of(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int64_t n = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

static enum mf_rc import_range(struct store *st, int64_t campaign, int from, int to, bool commit)
{
    struct store_import *im = NULL;
    struct mf_err e;
    enum mf_rc rc = store_import_begin(st, campaign, &im, &e);
    for (int i = from; rc == MF_OK && i < to; i++) {
        char addr[64], domain[32], why[128];
        snprintf(domain, sizeof domain, "d%d.test", i % 97);
        snprintf(addr, sizeof addr, "lead%d@%s", i, domain);
        enum store_import_outcome out;
        rc = store_import_row(im, addr, domain, "{}", "", &out, why, sizeof why, &e);
        if (rc == MF_OK && i % 1000 == 7) /* the same address again: a duplicate */
            rc = store_import_row(im, addr, domain, "{}", "", &out, why, sizeof why, &e);
        if (rc == MF_OK && i % 1000 == 7 && out != STORE_IMPORT_DUP_FILE)
            rc = MF_EINVAL;
    }
    enum mf_rc frc = store_import_finish(im, commit && rc == MF_OK, &e);
    return rc == MF_OK ? frc : rc;
}

#define DOMAIN_INDEX "SELECT count(*) FROM sqlite_master WHERE name = 'leads_domain'"
#define DOMAIN_ROWS "SELECT count(*) FROM leads INDEXED BY leads_domain WHERE domain = 'd5.test'"

/* A big import drops leads_domain and builds it again at its end; a small
 * one into a big table keeps it; a rolled-back one leaves it as it was.
 * Every time the index answers for every lead. */
static void test_import_domain_index(void **state)
{
    (void)state;
    char p[512];
    path_of(p, sizeof p, "import.db");
    struct mf_err e;
    struct store *st = store_open(p, &e);
    assert_non_null(st);
    int64_t c = 0;
    assert_int_equal(store_campaign_put(st, "c", "name: c", 1, &c, &e), MF_OK);
    assert_int_equal(import_range(st, c, 0, 40000, true), MF_OK); /* dropped, rebuilt */
    assert_int_equal(count_of(p, DOMAIN_INDEX), 1);
    assert_int_equal(count_of(p, "SELECT count(*) FROM leads"), 40000);
    assert_int_equal(count_of(p, "SELECT count(*) FROM enrollments"), 40000);
    assert_int_equal(count_of(p, DOMAIN_ROWS), count_of(p, "SELECT count(*) FROM leads NOT "
                                                           "INDEXED WHERE domain = 'd5.test'"));
    assert_int_equal(import_range(st, c, 40000, 60000, false), MF_OK); /* rolled back */
    assert_int_equal(count_of(p, DOMAIN_INDEX), 1);
    assert_int_equal(count_of(p, "SELECT count(*) FROM leads"), 40000);
    assert_int_equal(import_range(st, c, 40000, 58000, true), MF_OK); /* small: kept */
    assert_int_equal(count_of(p, DOMAIN_INDEX), 1);
    assert_int_equal(count_of(p, "SELECT count(*) FROM leads"), 58000);
    assert_int_equal(count_of(p, DOMAIN_ROWS), count_of(p, "SELECT count(*) FROM leads NOT "
                                                           "INDEXED WHERE domain = 'd5.test'"));
    assert_int_equal(count_of(p, "SELECT count(*) FROM pragma_integrity_check WHERE "
                                 "integrity_check <> 'ok'"), 0);
    store_close(st);
}

static void test_default_path(void **state)
{
    (void)state;
    char buf[512];
    setenv("MAILFLEET_DB", "/x/y.db", 1);
    assert_string_equal(store_default_path(buf, sizeof buf), "/x/y.db");
    unsetenv("MAILFLEET_DB");
    setenv("XDG_DATA_HOME", "/data", 1);
    assert_string_equal(store_default_path(buf, sizeof buf),
                        "/data/mailfleet/mailfleet.db");
    unsetenv("XDG_DATA_HOME");
    setenv("HOME", "/home/u", 1);
    assert_string_equal(store_default_path(buf, sizeof buf),
                        "/home/u/.local/share/mailfleet/mailfleet.db");
    assert_null(store_default_path(buf, 10));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accounts_roundtrip),
        cmocka_unit_test(test_foreign_files_refused_untouched),
        cmocka_unit_test(test_default_path),
        cmocka_unit_test(test_group_transaction),
        cmocka_unit_test(test_import_domain_index),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
