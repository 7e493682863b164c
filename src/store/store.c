#include "store/store.h"

#include <string.h>

const struct vk_store_retention vk_store_retention_default = {
    .codes_after_expiry = 86400,
    .grants_after_expiry = 86400, /* the longest access-token lifetime (access_token_ttl <= 1 d) */
    .events_after_expiry = 3600,
    .max_events = 1000000,
};

int vk_store_open(const char *dsn, struct vk_store **out, struct vk_err *err)
{
    *out = NULL;
    if (strncmp(dsn, "postgres://", 11) == 0 || strncmp(dsn, "postgresql://", 13) == 0)
        return vk_err_set(err, VK_EINVAL, "the PostgreSQL back end is not built yet");
    return vk_store_sqlite.open(dsn, out, err);
}

void vk_store_close(struct vk_store *st)
{
    if (st != NULL)
        st->ops->close(st);
}

const char *vk_store_name(const struct vk_store *st)
{
    return st->ops->name;
}

int vk_store_client_put(struct vk_store *st, const struct vk_client *c, struct vk_err *err)
{
    return st->ops->client_put(st, c, err);
}

int vk_store_client_get(struct vk_store *st, struct vk_arena *a, vk_str id, struct vk_client *out)
{
    return st->ops->client_get(st, a, id, out);
}

int vk_store_client_list(struct vk_store *st, struct vk_arena *a, struct vk_client_list *out)
{
    return st->ops->client_list(st, a, out);
}

int vk_store_client_delete(struct vk_store *st, vk_str id)
{
    return st->ops->client_delete(st, id);
}

int vk_store_client_set_secret(struct vk_store *st, vk_str id, const uint8_t digest[VK_DIGEST_LEN])
{
    return st->ops->client_set_secret(st, id, digest);
}

int vk_store_clients_generation(struct vk_store *st, int64_t *out)
{
    return st->ops->clients_generation(st, out);
}

int vk_store_client_max_ttl(struct vk_store *st, int64_t *out)
{
    return st->ops->client_max_ttl(st, out);
}

int vk_store_key_put(struct vk_store *st, const struct vk_key_rec *k)
{
    return st->ops->key_put(st, k);
}

int vk_store_key_list(struct vk_store *st, struct vk_arena *a, struct vk_key_list *out)
{
    return st->ops->key_list(st, a, out);
}

int vk_store_key_rotate(struct vk_store *st, const struct vk_key_rec *k, size_t n, int64_t now,
                        int64_t window, size_t max_published, int64_t *retry_at)
{
    return st->ops->key_rotate(st, k, n, now, window, max_published, retry_at);
}

int vk_store_key_rewrap(struct vk_store *st, const struct vk_key_rec *k,
                        const char *const *prev_kek_id, size_t n)
{
    return st->ops->key_rewrap(st, k, prev_kek_id, n);
}

int vk_store_key_delete(struct vk_store *st, const char *kid)
{
    return st->ops->key_delete(st, kid);
}

int vk_store_key_ttl_raise(struct vk_store *st, int64_t ttl, int64_t *out)
{
    return st->ops->key_ttl_raise(st, ttl, out);
}

int vk_store_keys_generation(struct vk_store *st, int64_t *out)
{
    return st->ops->keys_generation(st, out);
}

int vk_store_token_revoke(struct vk_store *st, const char *jti, const char *client_id,
                          int64_t expires_at, int64_t now)
{
    return st->ops->token_revoke(st, jti, client_id, expires_at, now);
}

int vk_store_token_is_revoked(struct vk_store *st, const char *jti, bool *revoked)
{
    return st->ops->token_is_revoked(st, jti, revoked);
}

int vk_store_purge_expired(struct vk_store *st, int64_t now, const struct vk_store_retention *r)
{
    return st->ops->purge_expired(st, now, r);
}

int vk_store_user_put(struct vk_store *st, const struct vk_user *u, struct vk_err *err)
{
    return st->ops->user_put(st, u, err);
}

int vk_store_user_get(struct vk_store *st, struct vk_arena *a, vk_str id, struct vk_user *out)
{
    return st->ops->user_get(st, a, id, out);
}

int vk_store_user_get_by_name(struct vk_store *st, struct vk_arena *a, vk_str username,
                              struct vk_user *out)
{
    return st->ops->user_get_by_name(st, a, username, out);
}

int vk_store_user_list(struct vk_store *st, struct vk_arena *a, struct vk_user_list *out)
{
    return st->ops->user_list(st, a, out);
}

int vk_store_user_delete(struct vk_store *st, vk_str username, int64_t now)
{
    return st->ops->user_delete(st, username, now);
}

int vk_store_user_set_password(struct vk_store *st, vk_str username, const char *hash, int64_t now)
{
    return st->ops->user_set_password(st, username, hash, now);
}

int vk_store_user_upgrade_hash(struct vk_store *st, const char *user_id, const char *old_hash,
                               const char *new_hash)
{
    return st->ops->user_upgrade_hash(st, user_id, old_hash, new_hash);
}

int vk_store_session_put(struct vk_store *st, const struct vk_session *s)
{
    return st->ops->session_put(st, s);
}

int vk_store_session_get(struct vk_store *st, struct vk_arena *a,
                         const uint8_t digest[VK_DIGEST_LEN], int64_t now, struct vk_session *out)
{
    return st->ops->session_get(st, a, digest, now, out);
}

int vk_store_session_delete(struct vk_store *st, const uint8_t digest[VK_DIGEST_LEN])
{
    return st->ops->session_delete(st, digest);
}

int vk_store_consent_get(struct vk_store *st, struct vk_arena *a, const char *user_id,
                         const char *client_id, const char **scope)
{
    return st->ops->consent_get(st, a, user_id, client_id, scope);
}

int vk_store_consent_put(struct vk_store *st, const char *user_id, const char *client_id,
                         const char *scope, int64_t now)
{
    return st->ops->consent_put(st, user_id, client_id, scope, now);
}

int vk_store_code_put(struct vk_store *st, const struct vk_code *c)
{
    return st->ops->code_put(st, c);
}

int vk_store_code_get(struct vk_store *st, struct vk_arena *a, const uint8_t digest[VK_DIGEST_LEN],
                      struct vk_code *out)
{
    return st->ops->code_get(st, a, digest, out);
}

int vk_store_code_redeem(struct vk_store *st, const uint8_t code_digest[VK_DIGEST_LEN], int64_t now,
                         const struct vk_grant *g, const struct vk_refresh *rt, const char *jti,
                         int64_t jti_exp)
{
    return st->ops->code_redeem(st, code_digest, now, g, rt, jti, jti_exp);
}

int vk_store_grant_get(struct vk_store *st, struct vk_arena *a, const char *id,
                       struct vk_grant *out)
{
    return st->ops->grant_get(st, a, id, out);
}

int vk_store_grant_revoke(struct vk_store *st, const char *id, int64_t now)
{
    return st->ops->grant_revoke(st, id, now);
}

int vk_store_refresh_get(struct vk_store *st, struct vk_arena *a,
                         const uint8_t digest[VK_DIGEST_LEN], struct vk_refresh *out)
{
    return st->ops->refresh_get(st, a, digest, out);
}

int vk_store_refresh_rotate(struct vk_store *st, const uint8_t old_digest[VK_DIGEST_LEN],
                            int64_t now, const uint8_t *grace_blob, size_t grace_len,
                            int64_t grace_until_ms, const struct vk_refresh *next, const char *jti,
                            int64_t jti_exp)
{
    return st->ops->refresh_rotate(st, old_digest, now, grace_blob, grace_len, grace_until_ms, next,
                                   jti, jti_exp);
}

int vk_store_secret_get_or_create(struct vk_store *st, const char *name, uint8_t out[VK_DIGEST_LEN])
{
    return st->ops->secret_get_or_create(st, name, out);
}

int vk_store_health(struct vk_store *st, struct vk_store_health *out)
{
    return st->ops->health(st, out);
}

/* --- the account page ---------------------------------------------------------------------- */

int vk_store_session_list(struct vk_store *st, struct vk_arena *a, const char *user_id,
                          int64_t now, struct vk_session_list *out)
{
    return st->ops->session_list(st, a, user_id, now, out);
}

int vk_store_session_touch(struct vk_store *st, const uint8_t digest[VK_DIGEST_LEN], int64_t now,
                           const char *address, int64_t interval)
{
    return st->ops->session_touch(st, digest, now, address, interval);
}

int vk_store_session_end(struct vk_store *st, const char *user_id, const char *handle)
{
    return st->ops->session_end(st, user_id, handle);
}

int vk_store_session_end_others(struct vk_store *st, struct vk_arena *a, const char *user_id,
                                const uint8_t keep[VK_DIGEST_LEN], struct vk_handle_list *ended)
{
    return st->ops->session_end_others(st, a, user_id, keep, ended);
}

int vk_store_user_grants(struct vk_store *st, struct vk_arena *a, const char *user_id,
                         int64_t now, struct vk_user_grant_list *out)
{
    return st->ops->user_grants(st, a, user_id, now, out);
}

int vk_store_consent_list(struct vk_store *st, struct vk_arena *a, const char *user_id,
                          struct vk_consent_list *out)
{
    return st->ops->consent_list(st, a, user_id, out);
}

int vk_store_user_client_revoke(struct vk_store *st, const char *user_id, const char *client_id,
                                int64_t now, int *n_grants)
{
    return st->ops->user_client_revoke(st, user_id, client_id, now, n_grants);
}

int vk_store_user_change_password(struct vk_store *st, struct vk_arena *a, const char *user_id,
                                  const char *old_hash, const char *new_hash,
                                  const uint8_t keep[VK_DIGEST_LEN], int64_t now,
                                  struct vk_handle_list *ended)
{
    return st->ops->user_change_password(st, a, user_id, old_hash, new_hash, keep, now, ended);
}
