#include "auth/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"

#define KEY_LEN crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define KEYCHECK_META "secrets.keycheck"
#define KEYCHECK_AD "mailfleet keycheck v1"
#define VALUE_MAX 65536

struct secrets {
    struct store *st;
    unsigned char *key; /* sodium_malloc'd: guarded, locked, wiped on free */
    char source[4096];
};

const char *secrets_key_file_path(char *buf, size_t size)
{
    const char *env = getenv("MAILFLEET_KEY_FILE");
    int n;
    if (env && *env)
        n = snprintf(buf, size, "%s", env);
    else if ((env = getenv("XDG_CONFIG_HOME")) && *env)
        n = snprintf(buf, size, "%s/mailfleet/key", env);
    else if ((env = getenv("HOME")) && *env)
        n = snprintf(buf, size, "%s/.config/mailfleet/key", env);
    else
        return NULL;
    return n > 0 && (size_t)n < size ? buf : NULL;
}

/* 32 bytes as base64 (either alphabet, padding optional) or as 64 hex digits. */
static bool decode_key(const char *text, unsigned char *key)
{
    size_t len = strcspn(text, "\r\n");
    size_t got = 0;
    if (len == 2 * KEY_LEN &&
        sodium_hex2bin(key, KEY_LEN, text, len, NULL, &got, NULL) == 0 && got == KEY_LEN)
        return true;
    static const int variants[] = {sodium_base64_VARIANT_ORIGINAL,
                                   sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                                   sodium_base64_VARIANT_URLSAFE,
                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++)
        if (sodium_base642bin(key, KEY_LEN, text, len, NULL, &got, NULL, variants[i]) == 0 &&
            got == KEY_LEN)
            return true;
    return false;
}

/* mkdir -p, mode 0700, for the directory part of path. */
static enum mf_rc make_private_dirs(const char *path, struct mf_err *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return mf_err_set(err, MF_ECONFIG, MF_LAYER_LOCAL,
                              "cannot create %s for the key file: %s", dir, strerror(errno));
        *p = '/';
    }
    return MF_OK;
}

static enum mf_rc create_key_file(const char *path, unsigned char *key,
                                  struct mf_err *err)
{
    if (make_private_dirs(path, err) != MF_OK)
        return MF_ECONFIG;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return mf_err_set(err, MF_ECONFIG, MF_LAYER_LOCAL,
                          "cannot create the key file %s: %s", path, strerror(errno));
    randombytes_buf(key, KEY_LEN);
    char text[sodium_base64_ENCODED_LEN(KEY_LEN, sodium_base64_VARIANT_ORIGINAL) + 1];
    sodium_bin2base64(text, sizeof text - 1, key, KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
    size_t n = strlen(text);
    text[n++] = '\n';
    bool ok = write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
    sodium_memzero(text, sizeof text);
    if (close(fd) != 0)
        ok = false;
    if (!ok) {
        unlink(path);
        return mf_err_set(err, MF_ECONFIG, MF_LAYER_LOCAL,
                          "cannot write the key file %s: %s", path, strerror(errno));
    }
    mf_log(MF_LOG_INFO, "created the secret key file %s (back it up: without it the "
                        "stored secrets cannot be read)", path);
    return MF_OK;
}

static enum mf_rc read_key_file(const char *path, int fd, unsigned char *key,
                                struct mf_err *err)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        return mf_err_set(err, MF_ECONFIG, MF_LAYER_LOCAL,
                          "the key file %s is not a regular file", path);
    if (sb.st_uid != geteuid())
        return mf_err_set(err, MF_ECONFIG, MF_LAYER_LOCAL,
                          "the key file %s belongs to another user; refusing it", path);
    if (sb.st_mode & 077)
        return mf_err_set(err, MF_ECONFIG, MF_LAYER_LOCAL,
                          "the key file %s is readable by others (mode %03o); "
                          "refusing it: chmod 600 %s", path,
                          (unsigned)(sb.st_mode & 0777), path);
    char text[256];
    ssize_t n = read(fd, text, sizeof text - 1);
    enum mf_rc rc = MF_OK;
    if (n <= 0)
        rc = mf_err_set(err, MF_ECONFIG, MF_LAYER_LOCAL, "cannot read the key file %s",
                        path);
    else {
        text[n] = '\0';
        if (!decode_key(text, key))
            rc = mf_err_set(err, MF_ECONFIG, MF_LAYER_LOCAL,
                            "the key file %s does not hold a 32-byte key in base64 "
                            "or hex", path);
    }
    sodium_memzero(text, sizeof text);
    return rc;
}

static enum mf_rc load_key(struct secrets *sec, struct mf_err *err)
{
    const char *env = getenv("MAILFLEET_KEY");
    if (env && *env) {
        snprintf(sec->source, sizeof sec->source, "$MAILFLEET_KEY");
        if (!decode_key(env, sec->key))
            return mf_err_set(err, MF_ECONFIG, MF_LAYER_LOCAL,
                              "MAILFLEET_KEY is not a 32-byte key in base64 or hex "
                              "(make one: head -c32 /dev/urandom | base64)");
        return MF_OK;
    }
    if (!secrets_key_file_path(sec->source, sizeof sec->source))
        return mf_err_set(err, MF_ECONFIG, MF_LAYER_LOCAL,
                          "no key for the secret store: set MAILFLEET_KEY, "
                          "MAILFLEET_KEY_FILE or HOME");
    int fd = open(sec->source, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return create_key_file(sec->source, sec->key, err);
    if (fd < 0)
        return mf_err_set(err, MF_ECONFIG, MF_LAYER_LOCAL, "cannot open the key file %s: %s",
                          sec->source, strerror(errno));
    enum mf_rc rc = read_key_file(sec->source, fd, sec->key, err);
    close(fd);
    return rc;
}

static void seal(const struct secrets *sec, const unsigned char *ad, size_t ad_len,
                 const void *msg, size_t len, unsigned char *nonce, unsigned char *ct)
{
    randombytes_buf(nonce, NONCE_LEN);
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, msg, len, ad, ad_len, NULL,
                                               nonce, sec->key);
}

static bool open_sealed(const struct secrets *sec, const unsigned char *ad, size_t ad_len,
                        const unsigned char *nonce, const unsigned char *ct,
                        size_t ct_len, unsigned char *msg)
{
    return ct_len >= TAG_LEN &&
           crypto_aead_xchacha20poly1305_ietf_decrypt(msg, NULL, NULL, ct, ct_len, ad,
                                                      ad_len, nonce, sec->key) == 0;
}

/* The key check: a sealed empty value in meta. Written on first use. */
static enum mf_rc check_key(struct secrets *sec, struct mf_err *err)
{
    unsigned char blob[NONCE_LEN + TAG_LEN];
    size_t len = 0;
    const unsigned char *ad = (const unsigned char *)KEYCHECK_AD;
    enum mf_rc rc = store_meta_get(sec->st, KEYCHECK_META, blob, sizeof blob, &len, err);
    if (rc == MF_ENOTFOUND) {
        mf_err_clear(err);
        seal(sec, ad, strlen(KEYCHECK_AD), "", 0, blob, blob + NONCE_LEN);
        return store_meta_put(sec->st, KEYCHECK_META, blob, sizeof blob, err);
    }
    if (rc != MF_OK)
        return rc;
    unsigned char none[1];
    if (len != sizeof blob ||
        !open_sealed(sec, ad, strlen(KEYCHECK_AD), blob, blob + NONCE_LEN, TAG_LEN, none))
        return mf_err_set(err, MF_ECONFIG, MF_LAYER_LOCAL,
                          "the key from %s does not open this store's secrets: they "
                          "were saved with another key (restore that key, or start "
                          "a new store with MAILFLEET_DB)", sec->source);
    return MF_OK;
}

struct secrets *secrets_open(struct store *st, struct mf_err *err)
{
    if (sodium_init() < 0) {
        mf_err_set(err, MF_EINTERNAL, MF_LAYER_INTERNAL, "libsodium failed to start");
        return NULL;
    }
    struct secrets *sec = calloc(1, sizeof *sec);
    if (!sec || !(sec->key = sodium_malloc(KEY_LEN))) {
        free(sec);
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    sec->st = st;
    if (load_key(sec, err) != MF_OK || check_key(sec, err) != MF_OK) {
        secrets_close(sec);
        return NULL;
    }
    sodium_mprotect_readonly(sec->key);
    return sec;
}

void secrets_close(struct secrets *sec)
{
    if (!sec)
        return;
    sodium_free(sec->key);
    free(sec);
}

const char *secrets_key_source(const struct secrets *sec)
{
    return sec->source;
}

/* "mailfleet secret v1" NUL account NUL kind: the row's identity. */
static size_t row_ad(unsigned char *ad, size_t cap, const char *account, const char *kind)
{
    int n = snprintf((char *)ad, cap, "mailfleet secret v1%c%s%c%s", 0, account, 0, kind);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

enum mf_rc secrets_put(struct secrets *sec, const char *account, const char *kind,
                       const char *value, int64_t expires_at, struct mf_err *err)
{
    size_t len = strlen(value);
    unsigned char ad[512];
    size_t ad_len = row_ad(ad, sizeof ad, account, kind);
    if (!ad_len || len > VALUE_MAX)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL, "secret or account name too long");
    unsigned char *ct = malloc(len + TAG_LEN);
    if (!ct)
        return mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    mf_secret_register(value);
    unsigned char nonce[NONCE_LEN];
    seal(sec, ad, ad_len, value, len, nonce, ct);
    enum mf_rc rc = store_secret_put(sec->st, account, kind, nonce, sizeof nonce, ct,
                                     len + TAG_LEN, expires_at, err);
    free(ct);
    return rc;
}

enum mf_rc secrets_get(struct secrets *sec, const char *account, const char *kind,
                       char **value, int64_t *expires_at, struct mf_err *err)
{
    *value = NULL;
    struct store_secret row;
    enum mf_rc rc = store_secret_get(sec->st, account, kind, &row, err);
    if (rc != MF_OK)
        return rc;
    unsigned char ad[512];
    size_t ad_len = row_ad(ad, sizeof ad, account, kind);
    char *plain = malloc(row.ciphertext_len + 1);
    if (!plain) {
        free(row.ciphertext);
        return mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    }
    bool ok = ad_len && row.nonce_len == NONCE_LEN &&
              open_sealed(sec, ad, ad_len, row.nonce, row.ciphertext, row.ciphertext_len,
                          (unsigned char *)plain);
    free(row.ciphertext);
    if (!ok) {
        free(plain);
        return mf_err_set(err, MF_ESTORE, MF_LAYER_LOCAL,
                          "the stored %s of \"%s\" does not decrypt: it was damaged "
                          "or altered; nothing was changed (save it again, e.g. "
                          "mailfleet login %s)", kind, account, account);
    }
    size_t len = row.ciphertext_len - TAG_LEN;
    plain[len] = '\0';
    if (strlen(plain) != len) {
        mf_wipe(plain, len);
        free(plain);
        return mf_err_set(err, MF_ESTORE, MF_LAYER_LOCAL,
                          "the stored %s of \"%s\" is not text", kind, account);
    }
    mf_secret_register(plain);
    if (expires_at)
        *expires_at = row.expires_at;
    *value = plain;
    return MF_OK;
}
