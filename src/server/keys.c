/*
 * keys.c — API keys: created with libsodium's randomness, shown once,
 * stored only as a BLAKE2b hash, checked in constant time.
 *
 *   key = "tmk_" id "_" secret      id: 12 base32 chars (public, indexed)
 *                                   secret: 32 base32 chars (160 bits)
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "../core/err.h"
#include "../core/tmtime.h"
#include "../store/store.h"
#include "../lib/lib.h"
#include "server.h"

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

static void random_b32(char *out, size_t n)
{
    unsigned char r[64];
    randombytes_buf(r, n);
    for (size_t i = 0; i < n; i++)
        out[i] = b32[r[i] & 31];
    out[n] = '\0';
}

static void key_hash(const char *key, unsigned char out[32])
{
    crypto_generichash(out, 32, (const unsigned char *)key, strlen(key), NULL, 0);
}

typedef struct put_ctx {
    const tm_key_rec *rec;
} put_ctx;

static int put_task(tm_store *s, void *arg) { return s->meta->key_put(s, ((put_ctx *)arg)->rec); }

int tm__key_create(tm *t, const char *scope, const char *user, const char *name, char *key,
                   size_t cap, tm_key_rec *rec)
{
    char id[13], secret[33];
    if (sodium_init() < 0)
        return tm__fail(TM_EIO, "keys: libsodium could not start");
    if (strcmp(scope, "ingest") && strcmp(scope, "read") && strcmp(scope, "admin"))
        return tm__fail(TM_EINVAL, "scope: must be ingest, read or admin, not '%s'", scope);
    if (user && strcmp(scope, "admin") == 0)
        return tm__fail(TM_EINVAL, "user: an admin key cannot be bound to a user");
    if (user && (!*user || strlen(user) > 128))
        return tm__fail(TM_EINVAL, "user: must be 1 to 128 bytes");
    if (name && strlen(name) > 64)
        return tm__fail(TM_EINVAL, "name: must be at most 64 bytes");
    if (cap < 52)
        return tm__fail(TM_EINVAL, "keys: buffer too small");
    random_b32(id, 12);
    random_b32(secret, 32);
    snprintf(key, cap, "tmk_%s_%s", id, secret);
    memset(rec, 0, sizeof *rec);
    snprintf(rec->id, sizeof rec->id, "%s", id);
    key_hash(key, rec->hash);
    snprintf(rec->scope, sizeof rec->scope, "%s", scope);
    snprintf(rec->user, sizeof rec->user, "%s", user ? user : "");
    snprintf(rec->name, sizeof rec->name, "%s", name ? name : "");
    rec->created_us = tm__now_us();
    put_ctx c = {rec};
    return tm__writer_exec(tm__writer(t), put_task, &c);
}

typedef struct revoke_ctx {
    const char *id;
    int found;
} revoke_ctx;

static int revoke_task(tm_store *s, void *arg)
{
    revoke_ctx *c = arg;
    return s->meta->key_revoke(s, c->id, tm__now_us(), &c->found);
}

int tm__key_revoke(tm *t, const char *id)
{
    revoke_ctx c = {id, 0};
    if (strncmp(id, "tmk_", 4) == 0) /* a whole key was pasted: take its id */
        id += 4;
    char just[24];
    snprintf(just, sizeof just, "%.*s", (int)strcspn(id, "_"), id);
    c.id = just;
    int rc = tm__writer_exec(tm__writer(t), revoke_task, &c);
    if (rc == TM_OK && !c.found)
        rc = tm__fail(TM_ENOTFOUND, "keys: no active key with id %s", just);
    return rc;
}

int tm__key_list(tm *t, int (*fn)(void *arg, const tm_key_rec *k), void *arg)
{
    tm_store *s = tm__store(t);
    return s->meta->key_list(s, NULL, fn, arg);
}

typedef struct check_ctx {
    unsigned char want[32];
    tm_key_rec *out;
    int ok, any;
} check_ctx;

static int check_one(void *arg, const tm_key_rec *k)
{
    check_ctx *c = arg;
    if (!k->revoked_us && sodium_memcmp(k->hash, c->want, 32) == 0) {
        *c->out = *k;
        c->ok = 1;
    }
    return 0;
}

int tm__key_check(tm *t, const char *presented, tm_key_rec *out)
{
    char id[24];
    check_ctx c = {{0}, out, 0, 0};
    if (sodium_init() < 0)
        return tm__fail(TM_EIO, "keys: libsodium could not start");
    if (strncmp(presented, "tmk_", 4) != 0 || strlen(presented) != 49)
        return tm__fail(TM_ENOTFOUND, "the API key is not valid");
    snprintf(id, sizeof id, "%.12s", presented + 4);
    key_hash(presented, c.want);
    tm_store *s = tm__store(t);
    int rc = s->meta->key_list(s, id, check_one, &c);
    if (rc == TM_OK && !c.ok)
        rc = tm__fail(TM_ENOTFOUND, "the API key is not valid or was revoked");
    return rc;
}

static int count_keys(void *arg, const tm_key_rec *k)
{
    int *n = arg;
    n[0] += !k->revoked_us;
    n[1]++;
    return 0;
}

int tm__keys_count(tm *t, int *active, int *ever)
{
    int n[2] = {0, 0};
    tm_store *s = tm__store(t);
    int rc = s->meta->key_list(s, NULL, count_keys, n);
    *active = n[0];
    *ever = n[1];
    return rc;
}
