/* auth/secrets and the store's secret tables: encryption at rest, the key
 * (environment, key file, permissions), tampering, wrong keys, migration
 * from schema 1, and the OAuth account layer's paths that need no network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_tmpdir.h"
#include <sqlite3.h> /* to look at and tamper with the file directly */

#include "auth/oauth_account.h"
#include "auth/secrets.h"
#include "engine/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

#define KEY_A "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" /* bytes 0..31 */
#define KEY_B_HEX "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"

static char db[512];

static int setup(void **state)
{
    (void)state;
    if (tmpdir_make("secrets") != 0)
        return -1;
    snprintf(db, sizeof db, "%s/s.db", dir);
    setenv("MAILFLEET_KEY", KEY_A, 1);
    unsetenv("MAILFLEET_KEY_FILE");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mf_secret_clear_all();
    return tmpdir_remove();
}

static void add_account(struct store *st, const char *name)
{
    struct store_account a = {.port = 587};
    snprintf(a.name, sizeof a.name, "%s", name);
    snprintf(a.host, sizeof a.host, "smtp.example.test");
    snprintf(a.security, sizeof a.security, "starttls");
    struct mf_err e;
    assert_int_equal(store_account_put(st, &a, false, &e), MF_OK);
}

static struct store *open_with_accounts(void)
{
    struct mf_err e;
    struct store *st = store_open(db, &e);
    assert_non_null(st);
    add_account(st, "work");
    add_account(st, "home");
    return st;
}

static void test_roundtrip_and_redaction(void **state)
{
    (void)state;
    struct store *st = open_with_accounts();
    struct mf_err e;
    struct secrets *sec = secrets_open(st, &e);
    assert_non_null(sec);
    assert_string_equal(secrets_key_source(sec), "$MAILFLEET_KEY");
    assert_int_equal(secrets_put(sec, "work", SECRET_PASSWORD, "hunter2-Pa55", 0, &e), MF_OK);
    assert_int_equal(secrets_put(sec, "work", SECRET_ACCESS_TOKEN, "at-XYZ-123", 1999999999,
                                 &e), MF_OK);
    char *v = NULL;
    int64_t exp = -1;
    assert_int_equal(secrets_get(sec, "work", SECRET_PASSWORD, &v, &exp, &e), MF_OK);
    assert_string_equal(v, "hunter2-Pa55");
    assert_int_equal(exp, 0);
    mf_wipe_free_str(v);
    assert_int_equal(secrets_get(sec, "work", SECRET_ACCESS_TOKEN, &v, &exp, &e), MF_OK);
    assert_string_equal(v, "at-XYZ-123");
    assert_int_equal(exp, 1999999999);
    mf_wipe_free_str(v);
    assert_int_equal(secrets_get(sec, "home", SECRET_PASSWORD, &v, NULL, &e), MF_ENOTFOUND);
    assert_null(v);
    /* a value that went through the store is redacted from any log line */
    struct mf_buf out;
    mf_buf_init(&out, 4096);
    const char line[] = "AUTH PLAIN hunter2-Pa55 and at-XYZ-123";
    assert_int_equal(mf_redact(&out, line, strlen(line)), MF_OK);
    assert_null(strstr(mf_buf_data(&out), "hunter2"));
    assert_null(strstr(mf_buf_data(&out), "at-XYZ"));
    mf_buf_free(&out);
    /* an unknown account cannot hold secrets */
    assert_int_equal(secrets_put(sec, "nobody", SECRET_PASSWORD, "x1234567", 0, &e),
                     MF_ENOTFOUND);
    secrets_close(sec);
    store_close(st);
}

static void test_ciphertext_is_not_plaintext(void **state)
{
    (void)state;
    struct store *st = open_with_accounts();
    struct mf_err e;
    struct secrets *sec = secrets_open(st, &e);
    assert_non_null(sec);
    assert_int_equal(secrets_put(sec, "work", SECRET_PASSWORD, "PLAINTEXT-MARKER", 0, &e),
                     MF_OK);
    secrets_close(sec);
    store_close(st);
    /* nowhere in the database file or its WAL */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cat '%s'* | grep -c PLAINTEXT-MARKER >/dev/null", db);
    assert_int_not_equal(system(cmd), 0);
}

static void test_wrong_key_is_told_apart(void **state)
{
    (void)state;
    struct store *st = open_with_accounts();
    struct mf_err e;
    struct secrets *sec = secrets_open(st, &e);
    assert_int_equal(secrets_put(sec, "work", SECRET_PASSWORD, "pw-1234567", 0, &e), MF_OK);
    secrets_close(sec);
    setenv("MAILFLEET_KEY", KEY_B_HEX, 1); /* hex is accepted too */
    mf_err_clear(&e);
    assert_null(secrets_open(st, &e));
    assert_int_equal(e.rc, MF_ECONFIG);
    assert_non_null(strstr(e.detail, "does not open this store"));
    setenv("MAILFLEET_KEY", "too-short", 1);
    assert_null(secrets_open(st, &e));
    assert_non_null(strstr(e.detail, "MAILFLEET_KEY is not a 32-byte key"));
    setenv("MAILFLEET_KEY", KEY_A, 1);
    sec = secrets_open(st, &e);
    assert_non_null(sec);
    char *v = NULL;
    assert_int_equal(secrets_get(sec, "work", SECRET_PASSWORD, &v, NULL, &e), MF_OK);
    assert_string_equal(v, "pw-1234567");
    mf_wipe_free_str(v);
    secrets_close(sec);
    store_close(st);
}

/* Runs sql on the file behind the store's back. */
static void tamper(const char *sql)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
}

static void test_tampered_rows_do_not_open(void **state)
{
    (void)state;
    struct store *st = open_with_accounts();
    struct mf_err e;
    struct secrets *sec = secrets_open(st, &e);
    assert_int_equal(secrets_put(sec, "work", SECRET_PASSWORD, "work-pass-1", 0, &e), MF_OK);
    assert_int_equal(secrets_put(sec, "home", SECRET_PASSWORD, "home-pass-2", 0, &e), MF_OK);
    assert_int_equal(secrets_put(sec, "home", SECRET_ACCESS_TOKEN, "home-at-3", 0, &e), MF_OK);
    secrets_close(sec);
    store_close(st);
    /* 1: home's sealed password moved into work's row (same kind) */
    tamper("UPDATE secrets SET nonce = (SELECT nonce FROM secrets WHERE account='home'"
           " AND kind='password'), ciphertext = (SELECT ciphertext FROM secrets WHERE"
           " account='home' AND kind='password') WHERE account='work' AND kind='password'");
    /* 2: home's access token relabelled as its password (same account) */
    tamper("UPDATE secrets SET kind='client_secret' WHERE account='home' AND"
           " kind='access_token'");
    st = store_open(db, &e);
    assert_non_null(st);
    sec = secrets_open(st, &e);
    assert_non_null(sec);
    char *v = NULL;
    mf_err_clear(&e);
    assert_int_equal(secrets_get(sec, "work", SECRET_PASSWORD, &v, NULL, &e), MF_ESTORE);
    assert_null(v);
    assert_non_null(strstr(e.detail, "damaged or altered"));
    assert_null(strstr(e.detail, "home-pass"));
    assert_int_equal(secrets_get(sec, "home", SECRET_CLIENT_SECRET, &v, NULL, &e), MF_ESTORE);
    /* the untouched row still opens, and the failures changed nothing */
    assert_int_equal(secrets_get(sec, "home", SECRET_PASSWORD, &v, NULL, &e), MF_OK);
    assert_string_equal(v, "home-pass-2");
    mf_wipe_free_str(v);
    secrets_close(sec);
    store_close(st);
    /* 3: one flipped byte */
    tamper("UPDATE secrets SET ciphertext = zeroblob(length(ciphertext)) WHERE"
           " account='home' AND kind='password'");
    st = store_open(db, &e);
    sec = secrets_open(st, &e);
    assert_int_equal(secrets_get(sec, "home", SECRET_PASSWORD, &v, NULL, &e), MF_ESTORE);
    secrets_close(sec);
    store_close(st);
}

static void test_key_file_created_private_and_checked(void **state)
{
    (void)state;
    unsetenv("MAILFLEET_KEY");
    char keyfile[600];
    snprintf(keyfile, sizeof keyfile, "%s/conf/mailfleet/key", dir);
    setenv("MAILFLEET_KEY_FILE", keyfile, 1);
    struct store *st = open_with_accounts();
    struct mf_err e;
    struct secrets *sec = secrets_open(st, &e);
    assert_non_null(sec);
    assert_string_equal(secrets_key_source(sec), keyfile);
    assert_int_equal(secrets_put(sec, "work", SECRET_PASSWORD, "kf-pass-9", 0, &e), MF_OK);
    secrets_close(sec);
    struct stat sb;
    assert_int_equal(stat(keyfile, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* the same file opens the same secrets */
    sec = secrets_open(st, &e);
    assert_non_null(sec);
    char *v = NULL;
    assert_int_equal(secrets_get(sec, "work", SECRET_PASSWORD, &v, NULL, &e), MF_OK);
    assert_string_equal(v, "kf-pass-9");
    mf_wipe_free_str(v);
    secrets_close(sec);
    /* readable by others: refused, with the fix */
    assert_int_equal(chmod(keyfile, 0644), 0);
    mf_err_clear(&e);
    assert_null(secrets_open(st, &e));
    assert_int_equal(e.rc, MF_ECONFIG);
    assert_non_null(strstr(e.detail, "chmod 600"));
    /* a symlink is not followed */
    char link[700];
    snprintf(link, sizeof link, "%s/keylink", dir);
    assert_int_equal(chmod(keyfile, 0600), 0);
    assert_int_equal(symlink(keyfile, link), 0);
    setenv("MAILFLEET_KEY_FILE", link, 1);
    assert_null(secrets_open(st, &e));
    unsetenv("MAILFLEET_KEY_FILE");
    setenv("MAILFLEET_KEY", KEY_A, 1);
    store_close(st);
}

static void test_migration_from_schema_1_keeps_accounts(void **state)
{
    (void)state;
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
        "CREATE TABLE schema_version (version INTEGER NOT NULL);"
        "INSERT INTO schema_version VALUES (1);"
        "CREATE TABLE accounts (name TEXT PRIMARY KEY NOT NULL, provider TEXT NOT NULL"
        " DEFAULT '', host TEXT NOT NULL, port INTEGER NOT NULL CHECK (port BETWEEN 1 AND"
        " 65535), security TEXT NOT NULL CHECK (security IN ('starttls','tls','none')),"
        " user TEXT NOT NULL DEFAULT '', auth TEXT NOT NULL DEFAULT 'auto', from_addr TEXT"
        " NOT NULL DEFAULT '', password_env TEXT NOT NULL DEFAULT '', password_file TEXT NOT"
        " NULL DEFAULT '', created_at INTEGER NOT NULL);"
        "INSERT INTO accounts (name, host, port, security, created_at) VALUES"
        " ('old', 'mail.example.test', 465, 'tls', 1);"
        "PRAGMA application_id = 1296452692;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    struct mf_err e;
    struct store *st = store_open(db, &e);
    assert_non_null(st);
    assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
    struct store_account a;
    assert_int_equal(store_account_get(st, "old", &a, &e), MF_OK);
    assert_int_equal(a.port, 465);
    struct secrets *sec = secrets_open(st, &e);
    assert_non_null(sec);
    assert_int_equal(secrets_put(sec, "old", SECRET_PASSWORD, "migrated-1", 0, &e), MF_OK);
    secrets_close(sec);
    /* removing the account removes its secrets */
    assert_int_equal(store_account_remove(st, "old", &e), MF_OK);
    struct store_secret row;
    assert_int_equal(store_secret_get(st, "old", SECRET_PASSWORD, &row, &e), MF_ENOTFOUND);
    store_close(st);
}

static void fill_oauth(struct store_oauth *o, const char *account)
{
    memset(o, 0, sizeof *o);
    snprintf(o->account, sizeof o->account, "%s", account);
    snprintf(o->profile, sizeof o->profile, "oidc");
    snprintf(o->issuer, sizeof o->issuer, "https://127.0.0.1:1");
    snprintf(o->client_id, sizeof o->client_id, "cid");
    snprintf(o->flow, sizeof o->flow, "device");
    snprintf(o->scope, sizeof o->scope, "openid offline_access");
    /* nothing listens here: any network use fails the test */
    snprintf(o->token_endpoint, sizeof o->token_endpoint, "https://127.0.0.1:1/token");
}

static void test_oauth_account_without_network(void **state)
{
    (void)state;
    struct store *st = open_with_accounts();
    struct mf_err e;
    struct secrets *sec = secrets_open(st, &e);
    struct store_oauth o;
    fill_oauth(&o, "work");
    struct oauth_tokens t = {.access_token = strdup("fresh-at-1"),
                             .expires_at = mf_wall_seconds() + 3600};
    assert_int_equal(oauth_account_save(st, sec, &o, &t, "client-secret-1", &e), MF_OK);
    oauth_tokens_clear(&t);
    struct store_oauth got;
    assert_int_equal(store_oauth_get(st, "work", &got, &e), MF_OK);
    assert_string_equal(got.client_id, "cid");
    assert_string_equal(got.client_auth, "post");
    /* fresh: handed out as is */
    char *tok = NULL;
    struct oauth_token_info info;
    assert_int_equal(oauth_account_token(st, sec, "work", 300, false, &tok, &info, &e), MF_OK);
    assert_string_equal(tok, "fresh-at-1");
    assert_false(info.refreshed);
    mf_wipe_free_str(tok);
    /* within the margin and no refresh token: "sign in again", store unchanged */
    mf_err_clear(&e);
    assert_int_equal(oauth_account_token(st, sec, "work", 7200, false, &tok, &info, &e),
                     MF_EAUTH);
    assert_null(tok);
    assert_non_null(strstr(e.detail, "mailfleet login work"));
    /* with a refresh token, an unreachable provider fails cleanly, changing nothing */
    assert_int_equal(secrets_put(sec, "work", SECRET_REFRESH_TOKEN, "rt-1", 0, &e), MF_OK);
    mf_err_clear(&e);
    assert_int_equal(oauth_account_token(st, sec, "work", 0, true, &tok, &info, &e),
                     MF_ECONNECT);
    assert_null(strstr(e.detail, "rt-1"));
    assert_int_equal(oauth_account_token(st, sec, "work", 300, false, &tok, &info, &e), MF_OK);
    assert_string_equal(tok, "fresh-at-1");
    mf_wipe_free_str(tok);
    /* no sign-in at all */
    assert_int_equal(oauth_account_token(st, sec, "home", 300, false, &tok, &info, &e),
                     MF_ENOTFOUND);
    /* logout forgets everything */
    assert_int_equal(oauth_account_forget(st, "work", &e), MF_OK);
    assert_int_equal(store_oauth_get(st, "work", &got, &e), MF_ENOTFOUND);
    char *v = NULL;
    assert_int_equal(secrets_get(sec, "work", SECRET_REFRESH_TOKEN, &v, NULL, &e), MF_ENOTFOUND);
    assert_int_equal(secrets_get(sec, "work", SECRET_CLIENT_SECRET, &v, NULL, &e), MF_ENOTFOUND);
    secrets_close(sec);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_and_redaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ciphertext_is_not_plaintext, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_key_is_told_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_rows_do_not_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_file_created_private_and_checked, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_schema_1_keeps_accounts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_oauth_account_without_network, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
