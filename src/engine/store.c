#include "engine/store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/store_int.h"
#include "util/clock.h"

#define APPLICATION_ID 0x4D464C54 /* 'MFLT' */

/* Migrations: entry i takes the schema from version i to i + 1. Append
 * only; never edit a released step. */
static const char *const migrations[] = {
    "CREATE TABLE accounts ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  provider TEXT NOT NULL DEFAULT '',"
    "  host TEXT NOT NULL,"
    "  port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),"
    "  security TEXT NOT NULL CHECK (security IN ('starttls','tls','none')),"
    "  user TEXT NOT NULL DEFAULT '',"
    "  auth TEXT NOT NULL DEFAULT 'auto',"
    "  from_addr TEXT NOT NULL DEFAULT '',"
    "  password_env TEXT NOT NULL DEFAULT '',"
    "  password_file TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL"
    ");",
    /* 1 -> 2: encrypted secrets (auth/secrets encrypts; this file only keeps
     * the blobs), the OAuth settings of an account, facts about the store. */
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value BLOB NOT NULL"
    ");"
    "CREATE TABLE secrets ("
    "  account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE"
    "    ON UPDATE CASCADE,"
    "  kind TEXT NOT NULL CHECK (kind IN"
    "    ('password','access_token','refresh_token','client_secret')),"
    "  nonce BLOB NOT NULL,"
    "  ciphertext BLOB NOT NULL,"
    "  expires_at INTEGER NOT NULL DEFAULT 0,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (account, kind)"
    ");"
    "CREATE TABLE oauth ("
    "  account TEXT PRIMARY KEY NOT NULL REFERENCES accounts(name)"
    "    ON DELETE CASCADE ON UPDATE CASCADE,"
    "  profile TEXT NOT NULL CHECK (profile IN ('microsoft','google','oidc')),"
    "  issuer TEXT NOT NULL DEFAULT '',"
    "  tenant TEXT NOT NULL DEFAULT '',"
    "  client_id TEXT NOT NULL,"
    "  scope TEXT NOT NULL DEFAULT '',"
    "  flow TEXT NOT NULL CHECK (flow IN ('device','browser','client_credentials')),"
    "  token_endpoint TEXT NOT NULL,"
    "  client_auth TEXT NOT NULL DEFAULT 'post' CHECK (client_auth IN ('post','basic')),"
    "  cafile TEXT NOT NULL DEFAULT '',"
    "  updated_at INTEGER NOT NULL"
    ");",
    /* 2 -> 3: the sending engine. Times are unix seconds unless named _ms. */
    "CREATE TABLE tenants ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  daily_external_cap INTEGER NOT NULL CHECK (daily_external_cap >= 0)"
    ");"
    "CREATE TABLE mailboxes ("
    "  account TEXT PRIMARY KEY NOT NULL REFERENCES accounts(name)"
    "    ON DELETE CASCADE ON UPDATE CASCADE,"
    "  tenant TEXT NOT NULL DEFAULT '',"
    "  timezone TEXT NOT NULL DEFAULT 'UTC',"
    "  per_minute INTEGER NOT NULL CHECK (per_minute >= 1),"
    "  rcpt_per_day INTEGER NOT NULL CHECK (rcpt_per_day >= 1),"
    "  max_connections INTEGER NOT NULL CHECK (max_connections >= 1),"
    "  daily_cap INTEGER NOT NULL CHECK (daily_cap >= 0),"
    "  ramp_start INTEGER NOT NULL DEFAULT 0,"
    "  ramp_days INTEGER NOT NULL DEFAULT 0,"
    "  started_at INTEGER NOT NULL,"
    "  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','paused')),"
    "  pause_reason TEXT NOT NULL DEFAULT '',"
    "  backoff_until INTEGER NOT NULL DEFAULT 0,"
    "  backoff_s INTEGER NOT NULL DEFAULT 0,"
    "  next_send_at INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE leads ("
    "  id INTEGER PRIMARY KEY,"
    "  address TEXT NOT NULL UNIQUE,"
    "  domain TEXT NOT NULL,"
    "  fields TEXT NOT NULL DEFAULT '{}',"
    "  timezone TEXT NOT NULL DEFAULT '',"
    "  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN"
    "    ('active','replied','bounced','unsubscribed','complained')),"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX leads_domain ON leads(domain);"
    "CREATE TABLE suppression ("
    "  value TEXT PRIMARY KEY NOT NULL,"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE campaigns ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  spec TEXT NOT NULL,"
    "  nsteps INTEGER NOT NULL CHECK (nsteps >= 1),"
    "  status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN"
    "    ('draft','active','paused','done')),"
    "  pause_reason TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE enrollments ("
    "  id INTEGER PRIMARY KEY,"
    "  campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,"
    "  lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,"
    "  mailbox TEXT NOT NULL DEFAULT '',"
    "  next_step INTEGER NOT NULL DEFAULT 0,"
    "  next_due INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT NOT NULL DEFAULT 'active' CHECK (state IN"
    "    ('active','sending','done','stopped','skipped')),"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  thread_id TEXT NOT NULL DEFAULT '',"
    "  thread_subject TEXT NOT NULL DEFAULT '',"
    "  last_message_id TEXT NOT NULL DEFAULT '',"
    "  UNIQUE (campaign_id, lead_id)"
    ");"
    "CREATE INDEX enrollments_due ON enrollments(state, next_due);"
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  enrollment_id INTEGER NOT NULL REFERENCES enrollments(id) ON DELETE CASCADE,"
    "  step INTEGER NOT NULL,"
    "  mailbox TEXT NOT NULL,"
    "  message_id TEXT NOT NULL UNIQUE,"
    "  sender TEXT NOT NULL,"
    "  rcpt TEXT NOT NULL,"
    "  subject TEXT NOT NULL DEFAULT '',"
    "  raw BLOB NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN"
    "    ('queued','sending','data_sent','sent','failed','unknown')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  UNIQUE (enrollment_id, step)"
    ");"
    "CREATE INDEX outbox_state ON outbox(state, mailbox);"
    "CREATE TABLE send_log ("
    "  id INTEGER PRIMARY KEY,"
    "  mailbox TEXT NOT NULL,"
    "  tenant TEXT NOT NULL DEFAULT '',"
    "  at_ms INTEGER NOT NULL,"
    "  rcpts INTEGER NOT NULL,"
    "  external INTEGER NOT NULL,"
    "  outbox_id INTEGER"
    ");"
    "CREATE INDEX send_log_mailbox ON send_log(mailbox, at_ms);"
    "CREATE INDEX send_log_tenant ON send_log(tenant, at_ms);"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  lead_id INTEGER,"
    "  campaign_id INTEGER,"
    "  mailbox TEXT NOT NULL DEFAULT '',"
    "  outbox_id INTEGER,"
    "  detail TEXT NOT NULL DEFAULT '',"
    "  source_key TEXT UNIQUE"
    ");"
    "CREATE INDEX events_lead ON events(lead_id, at);",
    /* 3 -> 4: what comes back. A mailbox's IMAP server and sync health,
     * what the sync has seen per folder, and for events made from mail: the
     * step answered, who wrote, the subject, the first line, how it was
     * matched and the raw headers with the first 64 KB. */
    "CREATE TABLE mailbox_imap ("
    "  mailbox TEXT PRIMARY KEY NOT NULL REFERENCES mailboxes(account)"
    "    ON DELETE CASCADE ON UPDATE CASCADE,"
    "  host TEXT NOT NULL,"
    "  port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),"
    "  security TEXT NOT NULL CHECK (security IN ('starttls','tls','none')),"
    "  synced_at INTEGER NOT NULL DEFAULT 0,"
    "  sync_error TEXT NOT NULL DEFAULT '',"
    "  error_at INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE sync_folders ("
    "  mailbox TEXT NOT NULL REFERENCES mailboxes(account)"
    "    ON DELETE CASCADE ON UPDATE CASCADE,"
    "  folder TEXT NOT NULL,"
    "  uidvalidity INTEGER NOT NULL,"
    "  last_uid INTEGER NOT NULL,"
    "  modseq INTEGER NOT NULL DEFAULT 0,"
    "  checked_at INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (mailbox, folder)"
    ");"
    "ALTER TABLE events ADD COLUMN step INTEGER;"
    "ALTER TABLE events ADD COLUMN sender TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE events ADD COLUMN subject TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE events ADD COLUMN summary TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE events ADD COLUMN matched TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE events ADD COLUMN raw BLOB;"
    "ALTER TABLE leads ADD COLUMN soft_bounces INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX events_kind ON events(kind, at);"
    "CREATE INDEX outbox_rcpt ON outbox(rcpt, mailbox);",
    /* 4 -> 5: inbox-placement checks (engine/placement): one row per
     * (sender, seed) pair of a run. sent_at is unix seconds (0: not sent),
     * delay_ms from the send's 250 to first seen (NULL: never seen). */
    "CREATE TABLE placement_checks ("
    "  id INTEGER PRIMARY KEY,"
    "  run_id INTEGER NOT NULL,"
    "  sender TEXT NOT NULL,"
    "  seed TEXT NOT NULL,"
    "  token TEXT NOT NULL DEFAULT '',"
    "  sent_at INTEGER NOT NULL DEFAULT 0,"
    "  result TEXT NOT NULL CHECK (result IN"
    "    ('inbox','junk','missing','not_sent','refused')),"
    "  folder TEXT NOT NULL DEFAULT '',"
    "  delay_ms INTEGER,"
    "  detail TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX placement_checks_run ON placement_checks(run_id, id);",
    /* 5 -> 6: the sender writes a `sent` event per message and nothing asks
     * for them by kind: leave them out of the kind index (fewer pages
     * written per message). */
    "DROP INDEX events_kind; CREATE INDEX events_kind ON events(kind, at) WHERE kind <> 'sent';",
};
_Static_assert(sizeof migrations / sizeof *migrations == STORE_SCHEMA_VERSION,
               "one migration per schema version");

static const char *const stmt_sql[S_COUNT] = {
    [S_ACCOUNT_INSERT] =
        "INSERT INTO accounts (name, provider, host, port, security, user, auth,"
        " from_addr, password_env, password_file, created_at)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
    [S_ACCOUNT_UPSERT] =
        "INSERT INTO accounts (name, provider, host, port, security, user, auth,"
        " from_addr, password_env, password_file, created_at)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"
        " ON CONFLICT(name) DO UPDATE SET provider=?2, host=?3, port=?4,"
        " security=?5, user=?6, auth=?7, from_addr=?8, password_env=?9,"
        " password_file=?10",
    [S_ACCOUNT_GET] =
        "SELECT name, provider, host, port, security, user, auth, from_addr,"
        " password_env, password_file, created_at FROM accounts WHERE name = ?1",
    [S_ACCOUNT_DELETE] = "DELETE FROM accounts WHERE name = ?1",
    [S_ACCOUNT_LIST] =
        "SELECT name, provider, host, port, security, user, auth, from_addr,"
        " password_env, password_file, created_at FROM accounts ORDER BY name",
    [S_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [S_META_PUT] = "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
    [S_SECRET_PUT] =
        "INSERT OR REPLACE INTO secrets (account, kind, nonce, ciphertext,"
        " expires_at, updated_at) VALUES (?1,?2,?3,?4,?5,?6)",
    [S_SECRET_GET] =
        "SELECT nonce, ciphertext, expires_at, updated_at FROM secrets"
        " WHERE account = ?1 AND kind = ?2",
    [S_SECRET_DELETE] = "DELETE FROM secrets WHERE account = ?1 AND kind = ?2",
    [S_SECRET_DELETE_ALL] = "DELETE FROM secrets WHERE account = ?1",
    [S_SECRET_LIST] =
        "SELECT kind, expires_at, updated_at FROM secrets WHERE account = ?1"
        " ORDER BY kind",
    [S_OAUTH_PUT] =
        "INSERT OR REPLACE INTO oauth (account, profile, issuer, tenant,"
        " client_id, scope, flow, token_endpoint, client_auth, cafile, updated_at)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
    [S_OAUTH_GET] =
        "SELECT account, profile, issuer, tenant, client_id, scope, flow,"
        " token_endpoint, client_auth, cafile, updated_at FROM oauth"
        " WHERE account = ?1",
    [S_OAUTH_DELETE] = "DELETE FROM oauth WHERE account = ?1",
};


enum mf_rc store_db_error(struct store *st, struct mf_err *err, const char *what)
{
    int code = st && st->db ? sqlite3_errcode(st->db) : SQLITE_OK;
    if (st)
        st->busy = code == SQLITE_BUSY || code == SQLITE_LOCKED;
    return mf_err_set(err, MF_ESTORE, MF_LAYER_LOCAL, "%s: %s", what,
                      st && st->db ? sqlite3_errmsg(st->db) : "no database");
}

static enum mf_rc exec(struct store *st, const char *sql, struct mf_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return MF_OK;
    int code = sqlite3_errcode(st->db);
    st->busy = code == SQLITE_BUSY || code == SQLITE_LOCKED;
    mf_err_set(err, MF_ESTORE, MF_LAYER_LOCAL, "store: %s", msg ? msg : "error");
    sqlite3_free(msg);
    return MF_ESTORE;
}

static int query_int(struct store *st, const char *sql, int *out)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int(s, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            *out = 0;
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(s);
    return rc;
}

const char *store_default_path(char *buf, size_t size)
{
    const char *env = getenv("MAILFLEET_DB");
    int n;
    if (env && *env)
        n = snprintf(buf, size, "%s", env);
    else if ((env = getenv("XDG_DATA_HOME")) && *env)
        n = snprintf(buf, size, "%s/mailfleet/mailfleet.db", env);
    else if ((env = getenv("HOME")) && *env)
        n = snprintf(buf, size, "%s/.local/share/mailfleet/mailfleet.db", env);
    else
        return NULL;
    return n > 0 && (size_t)n < size ? buf : NULL;
}

/* mkdir -p for the directory part of path, mode 0700: the store is private. */
static enum mf_rc make_parent_dirs(const char *path, struct mf_err *err)
{
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL, "store path too long");
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return mf_err_set(err, MF_EIO, MF_LAYER_LOCAL, "cannot create %s: %s",
                              dir, strerror(errno));
        *p = '/';
    }
    return MF_OK;
}

/* A file with tables and someone else's application_id is not ours. */
static enum mf_rc check_ownership(struct store *st, const char *path,
                                  struct mf_err *err)
{
    int app = 0, tables = 0;
    if (query_int(st, "PRAGMA application_id", &app) != SQLITE_OK)
        return mf_err_set(err, MF_ESTORE, MF_LAYER_LOCAL,
                          "%s is not a mailfleet store (not an SQLite database "
                          "or damaged): %s; it was left untouched", path,
                          sqlite3_errmsg(st->db));
    if (query_int(st, "SELECT count(*) FROM sqlite_master", &tables) != SQLITE_OK)
        return store_db_error(st, err, "reading the store");
    if (tables > 0 && app != APPLICATION_ID)
        return mf_err_set(err, MF_ESTORE, MF_LAYER_LOCAL,
                          "%s is an SQLite database of another program, not a "
                          "mailfleet store; it was left untouched", path);
    return MF_OK;
}

static enum mf_rc migrate(struct store *st, const char *path, struct mf_err *err)
{
    if (exec(st, "BEGIN IMMEDIATE", err) != MF_OK)
        return MF_ESTORE;
    enum mf_rc rc = exec(st, "CREATE TABLE IF NOT EXISTS schema_version "
                             "(version INTEGER NOT NULL)", err);
    int v = 0;
    if (rc == MF_OK &&
        query_int(st, "SELECT max(version) FROM schema_version", &v) != SQLITE_OK)
        rc = store_db_error(st, err, "reading the schema version");
    if (rc == MF_OK && v > STORE_SCHEMA_VERSION)
        rc = mf_err_set(err, MF_ESTORE, MF_LAYER_LOCAL,
                        "%s has schema version %d, newer than this mailfleet "
                        "(%d): upgrade mailfleet", path, v, STORE_SCHEMA_VERSION);
    for (; rc == MF_OK && v < STORE_SCHEMA_VERSION; v++) {
        rc = exec(st, migrations[v], err);
        char sql[96];
        snprintf(sql, sizeof sql, "INSERT INTO schema_version VALUES (%d)", v + 1);
        if (rc == MF_OK)
            rc = exec(st, sql, err);
    }
    char app[64];
    snprintf(app, sizeof app, "PRAGMA application_id = %d", APPLICATION_ID);
    if (rc == MF_OK)
        rc = exec(st, app, err);
    if (rc == MF_OK)
        rc = exec(st, "COMMIT", err);
    else
        exec(st, "ROLLBACK", NULL);
    st->version = v;
    return rc;
}

bool store_busy(const struct store *st)
{
    return st->busy;
}

enum mf_rc store_data_version(struct store *st, int64_t *out, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_DATA_VERSION, "PRAGMA data_version", err);
    return s ? store_step_int64(st, s, out, "reading the store's version", err) : MF_ESTORE;
}

struct store *store_open(const char *path, struct mf_err *err)
{
    char def[4096];
    if (!path && !(path = store_default_path(def, sizeof def))) {
        mf_err_set(err, MF_ECONFIG, MF_LAYER_LOCAL,
                   "no store path: set MAILFLEET_DB or HOME");
        return NULL;
    }
    if (make_parent_dirs(path, err) != MF_OK)
        return NULL;
    struct store *st = calloc(1, sizeof *st);
    if (!st) {
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    /* NOMUTEX: a store is used by one thread at a time, and SQLite's
     * per-call mutex was 7% of the planner's time */
    if (sqlite3_open_v2(path, &st->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        mf_err_set(err, MF_ESTORE, MF_LAYER_LOCAL, "cannot open store %s: %s",
                   path, st->db ? sqlite3_errmsg(st->db) : "out of memory");
        store_close(st);
        return NULL;
    }
    sqlite3_busy_timeout(st->db, 5000);
    chmod(path, 0600);
    if (check_ownership(st, path, err) != MF_OK ||
        exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                 " PRAGMA foreign_keys=ON;", err) != MF_OK ||
        migrate(st, path, err) != MF_OK) {
        store_close(st);
        return NULL;
    }
    for (int i = 0; i < S_COUNT; i++)
        if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &st->stmt[i], NULL) != SQLITE_OK) {
            store_db_error(st, err, "preparing statements");
            store_close(st);
            return NULL;
        }
    return st;
}

struct store *store_open_copy(struct store *src, struct mf_err *err)
{
    struct store *st = calloc(1, sizeof *st);
    if (!st || sqlite3_open_v2(":memory:", &st->db,
                               SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                               NULL) != SQLITE_OK) {
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "cannot make an in-memory store");
        store_close(st);
        return NULL;
    }
    sqlite3_backup *b = sqlite3_backup_init(st->db, "main", src->db, "main");
    int rc = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        store_db_error(st, err, "copying the store");
        store_close(st);
        return NULL;
    }
    st->version = src->version;
    exec(st, "PRAGMA foreign_keys=ON;", NULL);
    for (int i = 0; i < S_COUNT; i++)
        if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &st->stmt[i], NULL) != SQLITE_OK) {
            store_db_error(st, err, "preparing statements");
            store_close(st);
            return NULL;
        }
    return st;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    for (int i = 0; i < L_COUNT; i++)
        sqlite3_finalize(st->lazy[i]);
    sqlite3_close(st->db);
    free(st);
}

int store_schema_version(struct store *st)
{
    return st->version;
}

/* ---- accounts ------------------------------------------------------------ */

void store_col_text(sqlite3_stmt *s, int col, char *dst, size_t size)
{
    if (size == 0)
        return;
    const unsigned char *t = sqlite3_column_text(s, col);
    size_t n = t ? (size_t)sqlite3_column_bytes(s, col) : 0;
    n = n < size - 1 ? n : size - 1; /* truncated as snprintf would */
    if (n)
        memcpy(dst, t, n);
    dst[n] = '\0';
}

static void row_to_account(sqlite3_stmt *s, struct store_account *a)
{
    memset(a, 0, sizeof *a);
    store_col_text(s, 0, a->name, sizeof a->name);
    store_col_text(s, 1, a->provider, sizeof a->provider);
    store_col_text(s, 2, a->host, sizeof a->host);
    a->port = sqlite3_column_int(s, 3);
    store_col_text(s, 4, a->security, sizeof a->security);
    store_col_text(s, 5, a->user, sizeof a->user);
    store_col_text(s, 6, a->auth, sizeof a->auth);
    store_col_text(s, 7, a->from_addr, sizeof a->from_addr);
    store_col_text(s, 8, a->password_env, sizeof a->password_env);
    store_col_text(s, 9, a->password_file, sizeof a->password_file);
    a->created_at = sqlite3_column_int64(s, 10);
}

static bool fits(const char *s, size_t size)
{
    return strnlen(s, size) < size;
}

enum mf_rc store_account_put(struct store *st, const struct store_account *a,
                             bool replace, struct mf_err *err)
{
    if (!a->name[0] || !a->host[0] || !fits(a->name, sizeof a->name) ||
        !fits(a->host, sizeof a->host) || !fits(a->user, sizeof a->user))
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL,
                          "an account needs a name and a host");
    sqlite3_stmt *s = st->stmt[replace ? S_ACCOUNT_UPSERT : S_ACCOUNT_INSERT];
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, a->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, a->provider, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, a->host, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, a->port);
    sqlite3_bind_text(s, 5, a->security, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, a->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, a->auth[0] ? a->auth : "auto", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 8, a->from_addr, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 9, a->password_env, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 10, a->password_file, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 11, a->created_at ? a->created_at : mf_wall_seconds());
    int rc = sqlite3_step(s);
    sqlite3_clear_bindings(s);
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return MF_OK;
    if (rc == SQLITE_CONSTRAINT)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL,
                          "account \"%s\" already exists or has an invalid "
                          "port/security", a->name);
    return store_db_error(st, err, "saving the account");
}

enum mf_rc store_account_get(struct store *st, const char *name,
                             struct store_account *out, struct mf_err *err)
{
    sqlite3_stmt *s = st->stmt[S_ACCOUNT_GET];
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    enum mf_rc ret = MF_OK;
    if (rc == SQLITE_ROW)
        row_to_account(s, out);
    else if (rc == SQLITE_DONE)
        ret = mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL,
                         "no account named \"%s\" (see: mailfleet account list)",
                         name);
    else
        ret = store_db_error(st, err, "reading the account");
    sqlite3_clear_bindings(s);
    sqlite3_reset(s);
    return ret;
}

enum mf_rc store_account_remove(struct store *st, const char *name,
                                struct mf_err *err)
{
    sqlite3_stmt *s = st->stmt[S_ACCOUNT_DELETE];
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_clear_bindings(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return store_db_error(st, err, "removing the account");
    if (sqlite3_changes(st->db) == 0)
        return mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL,
                          "no account named \"%s\"", name);
    return MF_OK;
}

enum mf_rc store_account_list(struct store *st, store_account_cb cb, void *ctx,
                              struct mf_err *err)
{
    sqlite3_stmt *s = st->stmt[S_ACCOUNT_LIST];
    sqlite3_reset(s);
    int rc;
    struct store_account a;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        row_to_account(s, &a);
        if (cb(ctx, &a) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? MF_OK : store_db_error(st, err, "listing accounts");
}
