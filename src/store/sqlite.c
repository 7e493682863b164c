/* The SQLite back end: the embedded default. This file holds the statements and the operations;
 * the connections, statement cache, transactions, checkpointer, migrations and write health are
 * in sqlite_conn.c. One connection per process for every operation, serialized by a mutex (see
 * op_release); a second one that only reads the generation counters, so the token endpoint's
 * freshness check never waits behind a write; a third on the checkpoint thread. WAL mode so
 * readers never block the writer, and BEGIN IMMEDIATE for every change so a decision and its
 * effects commit together or not at all. */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "store/sqlite_conn.h"

enum stmt_id {
    S_CLIENT_PUT,
    S_CLIENT_GET,
    S_CLIENT_LIST,
    S_CLIENT_DELETE,
    S_CLIENT_CONSENTS_DELETE,
    S_CLIENT_SET_SECRET,
    S_CLIENT_MAX_TTL,
    S_KEY_PUT,
    S_KEY_LIST,
    S_KEY_RETIRE,
    S_KEY_DELETE,
    S_KEYS_GEN,
    S_KEYS_GEN_BUMP,
    S_KEY_PUBLISHED,
    S_KEY_NTH_RETIRED,
    S_KEY_REWRAP,
    S_KEY_OTHER_KEK,
    S_KEY_TTL_RAISE,
    S_KEY_TTL_GET,
    S_CLIENTS_GEN,
    S_CLIENTS_GEN_BUMP,
    S_REVOKE_JTI,
    S_REVOKE_EVENT,
    S_IS_REVOKED,
    S_PURGE_REVOKED,
    S_USER_PUT,
    S_USER_GET,
    S_USER_GET_BY_NAME,
    S_USER_LIST,
    S_USER_DELETE,
    S_USER_SET_PASSWORD,
    S_USER_GRANTS,
    S_USER_UPGRADE_HASH,
    S_USER_SESSIONS_DELETE,
    S_USER_CODES_SPEND,
    S_SESSION_PUT,
    S_SESSION_TRIM,
    S_SESSION_GET,
    S_SESSION_DELETE,
    S_CONSENT_GET,
    S_CONSENT_PUT,
    S_CODE_PUT,
    S_CODE_GET,
    S_CODE_MARK_USED,
    S_GRANT_PUT,
    S_GRANT_GET,
    S_GRANT_MARK_REVOKED,
    S_GRANT_TOMBSTONE,
    S_GRANT_REFRESH_REVOKE,
    S_GRANT_TOKENS,
    S_REFRESH_PUT,
    S_REFRESH_GET,
    S_REFRESH_MARK_USED,
    S_REFRESH_TRIM,
    S_SECRET_GET,
    S_SECRET_PUT,
    S_HEALTH_PROBE,
    S_PURGE_CODES,
    S_PURGE_SESSIONS,
    S_PURGE_REFRESH,
    S_PURGE_GRANTS,
    S_PURGE_EVENTS,
    S_PURGE_EVENTS_CAP,
    S_PURGE_GRACE,
    S_ACCOUNT_SESSIONS,
    S_ACCOUNT_SESSION_TOUCH,
    S_ACCOUNT_SESSION_END,
    S_ACCOUNT_SESSIONS_END_OTHERS,
    S_ACCOUNT_GRANTS,
    S_ACCOUNT_CONSENTS,
    S_ACCOUNT_CLIENT_GRANTS,
    S_ACCOUNT_CLIENT_CODES_SPEND,
    S_ACCOUNT_CONSENT_DELETE,
    S_ACCOUNT_CHANGE_PASSWORD,
    S_COUNT
};

#define CLIENT_COLS                                                                                \
    "id, name, secret_digest, auth_method, grant_types, scope, redirect_uris, "                    \
    "post_logout_redirect_uris, resources, access_token_ttl, first_party, created_at, "         \
    "id_token_alg, introspect, jwks, tls_auth_kind, tls_auth_value, tls_bound_tokens"

#define USER_COLS "id, username, password_hash, claims, created_at, password_changed_at"

static const char *const stmt_sql[S_COUNT] = {
    [S_CLIENT_PUT] = "INSERT INTO clients (" CLIENT_COLS ") "
                     "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [S_CLIENT_GET] = "SELECT " CLIENT_COLS " FROM clients WHERE id = ?",
    [S_CLIENT_LIST] = "SELECT " CLIENT_COLS " FROM clients ORDER BY created_at, id",
    [S_CLIENT_DELETE] = "DELETE FROM clients WHERE id = ?",
    [S_CLIENT_CONSENTS_DELETE] = "DELETE FROM consents WHERE client_id = ?",
    [S_CLIENT_SET_SECRET] = "UPDATE clients SET secret_digest = ? WHERE id = ? AND "
                            "secret_digest IS NOT NULL",
    [S_CLIENT_MAX_TTL] = "SELECT COALESCE(MAX(access_token_ttl), 0) FROM clients",
    [S_KEY_PUT] = "INSERT INTO keys (kid, alg, use, private_pem, kek_id, wrapped, created_at, "
                  "retired_at) VALUES (?,?,?,?,?,?,?,?)",
    [S_KEY_LIST] = "SELECT kid, alg, use, private_pem, kek_id, wrapped, created_at, retired_at "
                   "FROM keys ORDER BY created_at DESC, rowid DESC",
    [S_KEY_RETIRE] = "UPDATE keys SET retired_at = ? WHERE use = ? AND retired_at = 0",
    [S_KEY_DELETE] = "DELETE FROM keys WHERE kid = ?",
    [S_KEYS_GEN] = "SELECT value FROM meta WHERE name = 'keys_gen'",
    [S_KEYS_GEN_BUMP] = "UPDATE meta SET value = value + 1 WHERE name = 'keys_gen'",
    /* published: active, or retired less than a publish window ago (token/keyring.c build) */
    [S_KEY_PUBLISHED] = "SELECT COUNT(*) FROM keys WHERE retired_at = 0 OR retired_at > ?",
    [S_KEY_NTH_RETIRED] = "SELECT retired_at FROM keys WHERE retired_at > ? "
                          "ORDER BY retired_at LIMIT 1 OFFSET ?",
    [S_KEY_REWRAP] = "UPDATE keys SET private_pem = ?, kek_id = ?, wrapped = ? "
                     "WHERE kid = ? AND kek_id = ?",
    [S_KEY_OTHER_KEK] = "SELECT COUNT(*) FROM keys WHERE kek_id <> ?",
    [S_KEY_TTL_RAISE] = "INSERT INTO meta (name, value) VALUES ('key_publish_ttl', ?) "
                        "ON CONFLICT (name) DO UPDATE SET value = MAX(value, excluded.value)",
    [S_KEY_TTL_GET] = "SELECT value FROM meta WHERE name = 'key_publish_ttl'",
    [S_CLIENTS_GEN] = "SELECT value FROM meta WHERE name = 'clients_gen'",
    [S_CLIENTS_GEN_BUMP] = "UPDATE meta SET value = value + 1 WHERE name = 'clients_gen'",
    [S_REVOKE_JTI] = "INSERT INTO revoked_tokens (jti, client_id, expires_at) VALUES (?,?,?) "
                     "ON CONFLICT (jti) DO NOTHING",
    [S_REVOKE_EVENT] = "INSERT INTO revocation_events (kind, subject, client_id, expires_at, at) "
                       "VALUES (?,?,?,?,?)",
    [S_IS_REVOKED] = "SELECT 1 FROM revoked_tokens WHERE jti = ?",
    /* The purge statements delete (or clear) at most ?2 rows due before ?1 each: see purge_step */
    [S_PURGE_REVOKED] = "DELETE FROM revoked_tokens WHERE jti IN (SELECT jti FROM revoked_tokens "
                        "WHERE expires_at < ?1 LIMIT ?2)",
    [S_USER_PUT] = "INSERT INTO users (id, username, password_hash, claims, created_at, "
                   "password_changed_at) VALUES (?,?,?,?,?,?)",
    [S_USER_GET] = "SELECT " USER_COLS " FROM users WHERE id = ?",
    [S_USER_GET_BY_NAME] = "SELECT " USER_COLS " FROM users WHERE username = ?",
    [S_USER_LIST] = "SELECT " USER_COLS " FROM users ORDER BY created_at, username",
    [S_USER_DELETE] = "DELETE FROM users WHERE id = ?",
    [S_USER_SET_PASSWORD] = "UPDATE users SET password_hash = ?, password_changed_at = ? "
                            "WHERE id = ?",
    [S_USER_UPGRADE_HASH] = "UPDATE users SET password_hash = ? WHERE id = ? AND "
                            "password_hash = ?",
    [S_USER_GRANTS] = "SELECT id FROM grants WHERE user_id = ? AND revoked_at = 0",
    [S_USER_SESSIONS_DELETE] = "DELETE FROM sessions WHERE user_id = ?",
    [S_USER_CODES_SPEND] = "UPDATE codes SET used_at = ? WHERE user_id = ? AND used_at = 0",
    /* a session without a handle gets a random one (the caller usually makes its own) */
    [S_SESSION_PUT] = "INSERT INTO sessions (digest, user_id, auth_time, expires_at, handle, "
                      "user_agent, address, last_seen) VALUES (?1,?2,?3,?4,"
                      "COALESCE(?5, lower(hex(randomblob(16)))),?6,?7,?8)",
    /* the user's sessions beyond the newest ?3 others than ?2 (the one just started) */
    [S_SESSION_TRIM] = "DELETE FROM sessions WHERE digest IN (SELECT digest FROM sessions "
                       "WHERE user_id = ?1 AND digest != ?2 ORDER BY auth_time DESC, "
                       "expires_at DESC LIMIT -1 OFFSET ?3)",
    [S_SESSION_GET] = "SELECT user_id, auth_time, expires_at, handle, user_agent, address, "
                      "last_seen FROM sessions WHERE digest = ? AND expires_at > ?",
    [S_SESSION_DELETE] = "DELETE FROM sessions WHERE digest = ?",
    [S_CONSENT_GET] = "SELECT scope FROM consents WHERE user_id = ? AND client_id = ?",
    [S_CONSENT_PUT] = "INSERT INTO consents (user_id, client_id, scope, created_at) "
                      "VALUES (?,?,?,?) ON CONFLICT (user_id, client_id) DO UPDATE SET "
                      "scope = excluded.scope, created_at = excluded.created_at",
    [S_CODE_PUT] = "INSERT INTO codes (digest, client_id, user_id, redirect_uri, code_challenge, "
                   "scope, nonce, resources, session_id, auth_time, created_at, expires_at, "
                   "grant_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [S_CODE_GET] = "SELECT client_id, user_id, redirect_uri, code_challenge, scope, nonce, "
                   "resources, session_id, auth_time, created_at, expires_at, used_at, grant_id "
                   "FROM codes WHERE digest = ?",
    [S_CODE_MARK_USED] = "UPDATE codes SET used_at = ? WHERE digest = ? AND used_at = 0",
    [S_GRANT_PUT] = "INSERT INTO grants (id, client_id, user_id, scope, resources, session_id, "
                    "auth_time, created_at, expires_at, access_jti, access_exp, cnf_x5t) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
    [S_GRANT_GET] = "SELECT id, client_id, user_id, scope, resources, session_id, auth_time, "
                    "created_at, expires_at, revoked_at, cnf_x5t FROM grants WHERE id = ?",
    [S_GRANT_MARK_REVOKED] = "UPDATE grants SET revoked_at = ? WHERE id = ? AND revoked_at = 0",
    [S_GRANT_TOMBSTONE] = "INSERT INTO grants (id, client_id, user_id, scope, auth_time, "
                          "created_at, expires_at, revoked_at) VALUES (?1, '', '', '', 0, ?2, ?2, "
                          "?2) ON CONFLICT (id) DO NOTHING",
    [S_GRANT_REFRESH_REVOKE] = "UPDATE refresh_tokens SET used_at = ?, grace_blob = NULL, "
                               "grace_until_ms = 0 WHERE grant_id = ? AND used_at = 0",
    /* the access tokens issued from a grant: the one of the code exchange (on the grant) and one
     * per rotation (on the refresh token issued with it) */
    [S_GRANT_TOKENS] = "SELECT access_jti, access_exp FROM grants WHERE id = ?1 AND "
                       "access_exp > ?2 AND access_jti != '' UNION ALL "
                       "SELECT access_jti, access_exp FROM refresh_tokens WHERE grant_id = ?1 AND "
                       "access_exp > ?2 AND access_jti != ''",
    [S_REFRESH_PUT] = "INSERT INTO refresh_tokens (digest, grant_id, created_at, expires_at, "
                      "access_jti, access_exp) VALUES (?,?,?,?,?,?)",
    [S_REFRESH_GET] = "SELECT grant_id, created_at, expires_at, used_at, grace_blob, "
                      "grace_until_ms FROM refresh_tokens WHERE digest = ?",
    [S_REFRESH_MARK_USED] = "UPDATE refresh_tokens SET used_at = ?, grace_blob = ?, "
                            "grace_until_ms = ? WHERE digest = ? AND used_at = 0",
    /* A family's spent tokens older than its ?3+1 newest tokens, once the access token issued
     * with each has expired (before ?2): found through refresh_tokens_grant (grant_id, created_at)
     * without visiting the rows the family keeps. */
    [S_REFRESH_TRIM] = "DELETE FROM refresh_tokens WHERE grant_id = ?1 AND used_at != 0 AND "
                       "access_exp <= ?2 AND created_at < (SELECT created_at FROM refresh_tokens "
                       "WHERE grant_id = ?1 ORDER BY created_at DESC LIMIT 1 OFFSET ?3)",
    [S_SECRET_GET] = "SELECT value FROM secrets WHERE name = ?",
    [S_SECRET_PUT] = "INSERT INTO secrets (name, value) VALUES (?,?) ON CONFLICT (name) DO NOTHING",
    [S_HEALTH_PROBE] = "INSERT INTO meta (name, value) VALUES ('health_probe', ?) "
                       "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    [S_PURGE_CODES] = "DELETE FROM codes WHERE digest IN (SELECT digest FROM codes "
                      "WHERE expires_at < ?1 LIMIT ?2)",
    [S_PURGE_SESSIONS] = "DELETE FROM sessions WHERE digest IN (SELECT digest FROM sessions "
                         "WHERE expires_at < ?1 LIMIT ?2)",
    /* unused ones only: a spent token stays with its family as the evidence of reuse */
    [S_PURGE_REFRESH] = "DELETE FROM refresh_tokens WHERE digest IN (SELECT digest FROM "
                        "refresh_tokens WHERE used_at = 0 AND expires_at < ?1 LIMIT ?2)",
    /* their refresh tokens go with them (ON DELETE CASCADE) */
    [S_PURGE_GRANTS] = "DELETE FROM grants WHERE id IN (SELECT id FROM grants "
                       "WHERE expires_at < ?1 LIMIT ?2)",
    [S_PURGE_EVENTS] = "DELETE FROM revocation_events WHERE seq IN (SELECT seq FROM "
                       "revocation_events WHERE expires_at < ?1 LIMIT ?2)",
    /* beyond the newest ?1 sequence numbers; returns what each revoked, to count live ones */
    [S_PURGE_EVENTS_CAP] = "DELETE FROM revocation_events WHERE seq IN (SELECT seq FROM "
                           "revocation_events WHERE seq <= (SELECT MAX(seq) FROM "
                           "revocation_events) - ?1 ORDER BY seq LIMIT ?2) RETURNING expires_at",
    [S_PURGE_GRACE] = "UPDATE refresh_tokens SET grace_blob = NULL, grace_until_ms = 0 WHERE "
                      "digest IN (SELECT digest FROM refresh_tokens WHERE grace_blob IS NOT NULL "
                      "AND grace_until_ms < ?1 LIMIT ?2)",
    /* --- the account page: every statement is bound to the user it acts for --- */
    [S_ACCOUNT_SESSIONS] = "SELECT digest, user_id, auth_time, expires_at, handle, user_agent, "
                           "address, last_seen FROM sessions WHERE user_id = ?1 AND "
                           "expires_at > ?2 ORDER BY auth_time DESC, handle",
    [S_ACCOUNT_SESSION_TOUCH] = "UPDATE sessions SET last_seen = ?2, address = ?3 WHERE "
                                "digest = ?1 AND last_seen <= ?2 - ?4",
    [S_ACCOUNT_SESSION_END] = "DELETE FROM sessions WHERE user_id = ?1 AND handle = ?2",
    [S_ACCOUNT_SESSIONS_END_OTHERS] = "DELETE FROM sessions WHERE user_id = ?1 AND digest != ?2 "
                                      "RETURNING handle",
    /* live: not revoked, the family not ended, and something still usable in it (an unused
     * unexpired refresh token, or an access token not yet expired) */
    [S_ACCOUNT_GRANTS] = "SELECT g.id, g.client_id, COALESCE(c.name, ''), g.scope, g.resources, "
                         "g.created_at, COALESCE((SELECT MAX(r.created_at) FROM refresh_tokens r "
                         "WHERE r.grant_id = g.id), g.created_at) FROM grants g LEFT JOIN "
                         "clients c ON c.id = g.client_id WHERE g.user_id = ?1 AND "
                         "g.revoked_at = 0 AND g.expires_at > ?2 AND (g.access_exp > ?2 OR "
                         "EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = g.id AND "
                         "((r.used_at = 0 AND r.expires_at > ?2) OR r.access_exp > ?2))) "
                         "ORDER BY g.created_at DESC, g.id LIMIT ?3",
    [S_ACCOUNT_CONSENTS] = "SELECT k.client_id, COALESCE(c.name, ''), k.scope, k.created_at "
                           "FROM consents k LEFT JOIN clients c ON c.id = k.client_id WHERE "
                           "k.user_id = ? ORDER BY k.client_id",
    [S_ACCOUNT_CLIENT_GRANTS] = "SELECT id FROM grants WHERE user_id = ? AND client_id = ? AND "
                                "revoked_at = 0",
    [S_ACCOUNT_CLIENT_CODES_SPEND] = "UPDATE codes SET used_at = ? WHERE user_id = ? AND "
                                     "client_id = ? AND used_at = 0",
    [S_ACCOUNT_CONSENT_DELETE] = "DELETE FROM consents WHERE user_id = ? AND client_id = ?",
    [S_ACCOUNT_CHANGE_PASSWORD] = "UPDATE users SET password_hash = ?, password_changed_at = ? "
                                  "WHERE id = ? AND password_hash = ?",
};

struct sqlite_store {
    struct vk_store base; /* first: the ops table */
    struct sq_db db;
};

/* --- open/close --------------------------------------------------------------------------- */

static int s_open(const char *dir, struct vk_store **out, struct vk_err *err)
{
    *out = NULL;
    struct sqlite_store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    s->base.ops = &vk_store_sqlite;
    int rc = sq_db_open(&s->db, dir, stmt_sql, S_COUNT, err);
    if (rc != VK_OK) {
        free(s);
        return rc;
    }
    *out = &s->base;
    return VK_OK;
}

static void s_close(struct vk_store *st)
{
    struct sqlite_store *s = (struct sqlite_store *)st;
    if (s == NULL)
        return;
    sq_db_close(&s->db);
    free(s);
}


/* Every operation runs on the store's one connection, holding `op_mu` until it returns (the
 * cleanup attribute releases it on every path). One connection keeps one warm page cache: with a
 * connection per thread, each commit by one thread made the others re-read their pages, and the
 * write-heavy flows (code exchange, refresh rotation) spent more time in pread than in SQLite.
 * The token endpoint's hot path does not reach the store (client cache), so serializing costs
 * little. Other processes (the CLI) use their own connection and meet ours at the file locks. */
static void op_release(struct sqlite_store **s)
{
    pthread_mutex_unlock(&(*s)->db.op_mu);
}

#define CONN_OR_FAIL(s, c)                                                                         \
    struct sqlite_store *op_store_ __attribute__((cleanup(op_release))) =                          \
        (struct sqlite_store *)(s);                                                                \
    pthread_mutex_lock(&op_store_->db.op_mu);                                                      \
    struct sq_conn *c = op_store_->db.conn;                                                       \
    if (c == NULL)                                                                                 \
    return VK_ESTORE

/* --- clients ------------------------------------------------------------------------------ */

static int s_client_put(struct vk_store *s, const struct vk_client *cl, struct vk_err *err)
{
    CONN_OR_FAIL(s, c);
    sqlite3_stmt *st = sq_stmt(c, S_CLIENT_PUT);
    if (st == NULL)
        return vk_err_set(err, VK_ESTORE, "store error");
    sq_bind_text(st, 1, cl->id);
    sq_bind_text(st, 2, cl->name);
    if (cl->has_secret)
        sqlite3_bind_blob(st, 3, cl->secret_digest, VK_DIGEST_LEN, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 3);
    sq_bind_text(st, 4, cl->auth_method);
    sq_bind_text(st, 5, cl->grant_types);
    sq_bind_text(st, 6, cl->scope);
    sq_bind_text(st, 7, cl->redirect_uris ? cl->redirect_uris : "");
    sq_bind_text(st, 8, cl->post_logout_redirect_uris ? cl->post_logout_redirect_uris : "");
    sq_bind_text(st, 9, cl->resources ? cl->resources : "");
    sqlite3_bind_int64(st, 10, cl->access_token_ttl);
    sqlite3_bind_int(st, 11, cl->first_party ? 1 : 0);
    sqlite3_bind_int64(st, 12, cl->created_at);
    sq_bind_text(st, 13, cl->id_token_alg != NULL ? cl->id_token_alg : "RS256");
    sqlite3_bind_int(st, 14, cl->introspect ? 1 : 0);
    sq_bind_text(st, 15, cl->jwks != NULL ? cl->jwks : "");
    sq_bind_text(st, 16, cl->tls_auth_kind != NULL ? cl->tls_auth_kind : "");
    sq_bind_text(st, 17, cl->tls_auth_value != NULL ? cl->tls_auth_value : "");
    sqlite3_bind_int(st, 18, cl->tls_bound_tokens ? 1 : 0);
    int rc = sq_tx_begin(c);
    if (rc == VK_OK) {
        rc = sq_step_done(st);
        if (rc == VK_OK)
            rc = sq_exec(c, S_CLIENTS_GEN_BUMP);
        rc = sq_tx_end(c, rc);
    } else {
        sq_finish(st);
    }
    if (rc == VK_EEXIST)
        return vk_err_set(err, rc, "a client with that id exists");
    if (rc != VK_OK)
        return vk_err_set(err, rc, "cannot store the client: %s", sqlite3_errmsg(c->db));
    return VK_OK;
}

static int read_client(struct vk_arena *a, sqlite3_stmt *st, void *row)
{
    struct vk_client *out = row;
    int oom = 0;
    memset(out, 0, sizeof *out);
    out->id = sq_col_text(a, st, 0, &oom);
    out->name = sq_col_text(a, st, 1, &oom);
    if (sqlite3_column_type(st, 2) == SQLITE_BLOB && sqlite3_column_bytes(st, 2) == VK_DIGEST_LEN) {
        out->has_secret = true;
        memcpy(out->secret_digest, sqlite3_column_blob(st, 2), VK_DIGEST_LEN);
    }
    out->auth_method = sq_col_text(a, st, 3, &oom);
    out->grant_types = sq_col_text(a, st, 4, &oom);
    out->scope = sq_col_text(a, st, 5, &oom);
    out->redirect_uris = sq_col_text(a, st, 6, &oom);
    out->post_logout_redirect_uris = sq_col_text(a, st, 7, &oom);
    out->resources = sq_col_text(a, st, 8, &oom);
    out->access_token_ttl = sqlite3_column_int64(st, 9);
    out->first_party = sqlite3_column_int(st, 10) != 0;
    out->created_at = sqlite3_column_int64(st, 11);
    out->id_token_alg = sq_col_text(a, st, 12, &oom);
    out->introspect = sqlite3_column_int(st, 13) != 0;
    out->jwks = sq_col_text(a, st, 14, &oom);
    out->tls_auth_kind = sq_col_text(a, st, 15, &oom);
    out->tls_auth_value = sq_col_text(a, st, 16, &oom);
    out->tls_bound_tokens = sqlite3_column_int(st, 17) != 0;
    return oom ? VK_ENOMEM : VK_OK;
}

static int s_client_get(struct vk_store *s, struct vk_arena *a, vk_str id, struct vk_client *out)
{
    CONN_OR_FAIL(s, c);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = sq_stmt(c, S_CLIENT_GET);
    if (st == NULL)
        return VK_ESTORE;
    sqlite3_bind_text(st, 1, id.p, (int)id.len, SQLITE_STATIC);
    return sq_get_one(st, a, read_client, out);
}

static int s_client_list(struct vk_store *s, struct vk_arena *a, struct vk_client_list *out)
{
    CONN_OR_FAIL(s, c);
    out->v = NULL;
    out->n = 0;
    sqlite3_stmt *st = sq_stmt(c, S_CLIENT_LIST);
    if (st == NULL)
        return VK_ESTORE;
    return sq_get_all(st, a, read_client, sizeof *out->v, (void **)&out->v, &out->n);
}

static int s_client_delete(struct vk_store *s, vk_str id)
{
    CONN_OR_FAIL(s, c);
    sqlite3_stmt *st = sq_stmt(c, S_CLIENT_DELETE);
    if (st == NULL)
        return VK_ESTORE;
    int rc = sq_tx_begin(c);
    if (rc != VK_OK)
        return rc;
    sqlite3_bind_text(st, 1, id.p, (int)id.len, SQLITE_STATIC);
    rc = sq_step_done(st);
    if (rc == VK_OK && sqlite3_changes(c->db) == 0)
        rc = VK_ENOTFOUND;
    if (rc == VK_OK) {
        /* nobody can sign in to it any more: what users approved for it goes too */
        st = sq_stmt(c, S_CLIENT_CONSENTS_DELETE);
        rc = VK_ESTORE;
        if (st != NULL) {
            sqlite3_bind_text(st, 1, id.p, (int)id.len, SQLITE_STATIC);
            rc = sq_step_done(st);
        }
    }
    if (rc == VK_OK)
        rc = sq_exec(c, S_CLIENTS_GEN_BUMP);
    return sq_tx_end(c, rc);
}

static int s_client_set_secret(struct vk_store *s, vk_str id, const uint8_t digest[VK_DIGEST_LEN])
{
    CONN_OR_FAIL(s, c);
    sqlite3_stmt *st = sq_stmt(c, S_CLIENT_SET_SECRET);
    if (st == NULL)
        return VK_ESTORE;
    int rc = sq_tx_begin(c);
    if (rc != VK_OK)
        return rc;
    sqlite3_bind_blob(st, 1, digest, VK_DIGEST_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id.p, (int)id.len, SQLITE_STATIC);
    rc = sq_step_done(st);
    if (rc == VK_OK && sqlite3_changes(c->db) == 0)
        rc = VK_ENOTFOUND;
    if (rc == VK_OK)
        rc = sq_exec(c, S_CLIENTS_GEN_BUMP);
    return sq_tx_end(c, rc);
}

static int s_client_max_ttl(struct vk_store *s, int64_t *out)
{
    CONN_OR_FAIL(s, c);
    *out = 0;
    sqlite3_stmt *st = sq_stmt(c, S_CLIENT_MAX_TTL);
    if (st == NULL)
        return VK_ESTORE;
    int rc = VK_ESTORE;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = VK_OK;
    }
    sq_finish(st);
    return rc;
}

/* --- keys --------------------------------------------------------------------------------- */

static int key_insert(struct sq_conn *c, const struct vk_key_rec *k)
{
    sqlite3_stmt *st = sq_stmt(c, S_KEY_PUT);
    if (st == NULL)
        return VK_ESTORE;
    sq_bind_text(st, 1, k->kid);
    sq_bind_text(st, 2, k->alg);
    sqlite3_bind_int(st, 3, (int)k->use);
    sq_bind_text(st, 4, k->private_pem != NULL ? k->private_pem : "");
    sq_bind_text(st, 5, k->kek_id != NULL ? k->kek_id : "");
    if (k->wrapped != NULL)
        sqlite3_bind_blob(st, 6, k->wrapped, (int)k->wrapped_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 6);
    sqlite3_bind_int64(st, 7, k->created_at);
    sqlite3_bind_int64(st, 8, k->retired_at);
    int rc = sq_step_done(st);
    if (rc == VK_OK)
        rc = sq_exec(c, S_KEYS_GEN_BUMP);
    return rc;
}

static int s_key_put(struct vk_store *s, const struct vk_key_rec *k)
{
    CONN_OR_FAIL(s, c);
    int rc = sq_tx_begin(c);
    if (rc != VK_OK)
        return rc;
    return sq_tx_end(c, key_insert(c, k));
}

/* One integer from a statement with up to two integer parameters; *out = 0 without a row. */
static int key_int_query(struct sq_conn *c, enum stmt_id id, int64_t p1, int64_t p2, int nparams,
                         int64_t *out)
{
    sqlite3_stmt *st = sq_stmt(c, id);
    *out = 0;
    if (st == NULL)
        return VK_ESTORE;
    if (nparams > 0)
        sqlite3_bind_int64(st, 1, p1);
    if (nparams > 1)
        sqlite3_bind_int64(st, 2, p2);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sq_finish(st);
    return r == SQLITE_ROW || r == SQLITE_DONE ? VK_OK : VK_ESTORE;
}

static int s_key_rotate(struct vk_store *s, const struct vk_key_rec *k, size_t n, int64_t now,
                        int64_t window, size_t max_published, int64_t *retry_at)
{
    CONN_OR_FAIL(s, c);
    *retry_at = 0;
    int rc = sq_tx_begin(c);
    if (rc != VK_OK)
        return rc;
    /* Counted under the write lock: a concurrent rotation (this process or another) either
     * committed before -- and is counted -- or waits for this one and counts it. */
    int64_t published = 0;
    rc = key_int_query(c, S_KEY_PUBLISHED, now - window, 0, 1, &published);
    if (rc == VK_OK && (uint64_t)published + n > max_published) {
        /* The rotation fits once enough retired keys have left the window: the oldest
         * (published + n - max_published) of them. */
        int64_t nth = 0;
        int64_t skip = published + (int64_t)n - (int64_t)max_published - 1;
        if (key_int_query(c, S_KEY_NTH_RETIRED, now - window, skip, 2, &nth) == VK_OK && nth > 0)
            *retry_at = nth + window;
        rc = VK_ETOOBIG;
    }
    for (size_t i = 0; rc == VK_OK && i < n; i++) {
        sqlite3_stmt *st = sq_stmt(c, S_KEY_RETIRE);
        if (st == NULL) {
            rc = VK_ESTORE;
            break;
        }
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int(st, 2, (int)k[i].use);
        rc = sq_step_done(st);
        if (rc == VK_OK)
            rc = key_insert(c, &k[i]);
    }
    return sq_tx_end(c, rc);
}

static int key_rewrap_tx(struct sq_conn *c, const struct vk_key_rec *k,
                         const char *const *prev_kek_id, size_t n)
{
    int rc = VK_OK;
    for (size_t i = 0; rc == VK_OK && i < n; i++) {
        sqlite3_stmt *st = sq_stmt(c, S_KEY_REWRAP);
        if (st == NULL)
            return VK_ESTORE;
        sq_bind_text(st, 1, k[i].private_pem != NULL ? k[i].private_pem : "");
        sq_bind_text(st, 2, k[i].kek_id != NULL ? k[i].kek_id : "");
        if (k[i].wrapped != NULL)
            sqlite3_bind_blob(st, 3, k[i].wrapped, (int)k[i].wrapped_len, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 3);
        sq_bind_text(st, 4, k[i].kid);
        sq_bind_text(st, 5, prev_kek_id[i]);
        rc = sq_step_done(st);
        if (rc == VK_OK && sqlite3_changes(c->db) != 1)
            rc = VK_EEXIST; /* deleted, or rewrapped by someone else meanwhile */
    }
    if (rc != VK_OK)
        return rc;
    /* Nothing may be left under another master key or in clear (a key inserted meanwhile). */
    sqlite3_stmt *st = sq_stmt(c, S_KEY_OTHER_KEK);
    if (st == NULL)
        return VK_ESTORE;
    sq_bind_text(st, 1, k[0].kek_id != NULL ? k[0].kek_id : "");
    int r = sqlite3_step(st);
    int64_t others = r == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sq_finish(st);
    if (others < 0)
        return VK_ESTORE;
    return others == 0 ? VK_OK : VK_EEXIST;
}

static int s_key_rewrap(struct vk_store *s, const struct vk_key_rec *k,
                        const char *const *prev_kek_id, size_t n)
{
    CONN_OR_FAIL(s, c);
    if (n == 0)
        return VK_OK;
    /* secure_delete zeroes the space the replaced rows leave behind, so the clear PEM does not
     * linger in free space of the database file. Debian's SQLite has it on by default; where it
     * is off, it is turned on for this operation only and then put back. */
    sqlite3_stmt *q = NULL;
    int prev_sd = 1;
    if (sqlite3_prepare_v2(c->db, "PRAGMA secure_delete", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        prev_sd = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    if (prev_sd != 1)
        sqlite3_exec(c->db, "PRAGMA secure_delete = ON", NULL, NULL, NULL);
    int rc = sq_tx_begin(c);
    if (rc == VK_OK)
        rc = sq_tx_end(c, key_rewrap_tx(c, k, prev_kek_id, n));
    if (prev_sd == 0)
        sqlite3_exec(c->db, "PRAGMA secure_delete = OFF", NULL, NULL, NULL);
    else if (prev_sd == 2)
        sqlite3_exec(c->db, "PRAGMA secure_delete = FAST", NULL, NULL, NULL);
    if (rc == VK_OK) {
        /* The old pages are still in the write-ahead log: copy it into the database and
         * truncate it. Best effort -- it waits for readers (busy handler), and a reader that
         * stays longer leaves the log as it is until the next checkpoints overwrite it. */
        pthread_mutex_lock(c->write_mu);
        if (sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) !=
            SQLITE_OK)
            vk_log_warn("event=store.wal_not_truncated after=key_rewrap");
        pthread_mutex_unlock(c->write_mu);
    }
    return rc;
}

static int s_key_delete(struct vk_store *s, const char *kid)
{
    CONN_OR_FAIL(s, c);
    int rc = sq_tx_begin(c);
    if (rc != VK_OK)
        return rc;
    sqlite3_stmt *st = sq_stmt(c, S_KEY_DELETE);
    if (st == NULL)
        return sq_tx_end(c, VK_ESTORE);
    sq_bind_text(st, 1, kid);
    rc = sq_step_done(st);
    if (rc == VK_OK)
        rc = sq_exec(c, S_KEYS_GEN_BUMP);
    return sq_tx_end(c, rc);
}

static int s_key_ttl_raise(struct vk_store *s, int64_t ttl, int64_t *out)
{
    CONN_OR_FAIL(s, c);
    int rc = key_int_query(c, S_KEY_TTL_GET, 0, 0, 0, out);
    if (rc != VK_OK || *out >= ttl)
        return rc;
    rc = sq_tx_begin(c);
    if (rc != VK_OK)
        return rc;
    sqlite3_stmt *st = sq_stmt(c, S_KEY_TTL_RAISE);
    if (st == NULL)
        return sq_tx_end(c, VK_ESTORE);
    sqlite3_bind_int64(st, 1, ttl);
    rc = sq_tx_end(c, sq_step_done(st));
    if (rc == VK_OK)
        rc = key_int_query(c, S_KEY_TTL_GET, 0, 0, 0, out);
    return rc;
}

static int read_key(struct vk_arena *a, sqlite3_stmt *st, void *row)
{
    struct vk_key_rec *k = row;
    int oom = 0;
    k->kid = sq_col_text(a, st, 0, &oom);
    k->alg = sq_col_text(a, st, 1, &oom);
    k->use = (enum vk_key_use)sqlite3_column_int(st, 2);
    k->private_pem = sq_col_text(a, st, 3, &oom);
    k->kek_id = sq_col_text(a, st, 4, &oom);
    k->wrapped = sq_col_blob(a, st, 5, &k->wrapped_len, &oom);
    k->created_at = sqlite3_column_int64(st, 6);
    k->retired_at = sqlite3_column_int64(st, 7);
    return oom ? VK_ENOMEM : VK_OK;
}

static int s_key_list(struct vk_store *s, struct vk_arena *a, struct vk_key_list *out)
{
    CONN_OR_FAIL(s, c);
    out->v = NULL;
    out->n = 0;
    sqlite3_stmt *st = sq_stmt(c, S_KEY_LIST);
    if (st == NULL)
        return VK_ESTORE;
    return sq_get_all(st, a, read_key, sizeof *out->v, (void **)&out->v, &out->n);
}

/* The generation counters are polled on hot paths: every token request asks whether clients
 * changed, and a removed client or a rotated secret must stop working as soon as the command that
 * changed it returns. So every read is a real read, in a read transaction that sees every commit
 * made before it began, by any process. It runs on a connection of its own, so it never waits
 * behind a write transaction on the main connection (WAL readers do not block on writers): it
 * costs about 1.5 µs while nothing was committed and about 4 µs right after a commit (the pages
 * are read again); bench/bench_generation.c measures it against the alternatives, and
 * docs/architecture.md says why this one. */
static int read_generation(struct vk_store *s, enum stmt_id id, int64_t *out)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    *out = 0;
    pthread_mutex_lock(&ss->db.gen_mu);
    int rc = VK_ESTORE;
    sqlite3_stmt *st = sq_stmt(ss->db.gen_conn, id);
    if (st != NULL) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
            *out = sqlite3_column_int64(st, 0);
            rc = VK_OK;
        }
        sq_finish(st);
    }
    pthread_mutex_unlock(&ss->db.gen_mu);
    return rc;
}

static int probe_write(struct vk_store *s, int64_t now_ms)
{
    CONN_OR_FAIL(s, c);
    sqlite3_stmt *st = sq_stmt(c, S_HEALTH_PROBE);
    if (st == NULL)
        return VK_ESTORE;
    int rc = sq_tx_begin(c);
    if (rc != VK_OK)
        return rc;
    sqlite3_bind_int64(st, 1, now_ms);
    return sq_tx_end(c, sq_step_done(st));
}

static int s_health(struct vk_store *s, struct vk_store_health *out)
{
    struct sqlite_store *ss = (struct sqlite_store *)s;
    struct sq_health *h = &ss->db.health;
    int64_t gen;
    memset(out, 0, sizeof *out);
    out->reads_ok = read_generation(s, S_KEYS_GEN, &gen) == VK_OK;
    /* While writes fail, try one (at most once a second), so that the end of the trouble shows
     * even when no request writes. A healthy store is not written to by health checks. */
    if (__atomic_load_n(&h->failing_since_ms, __ATOMIC_ACQUIRE) != 0) {
        int64_t now = vk_now_ms(), last = __atomic_load_n(&h->probed_ms, __ATOMIC_RELAXED);
        if (now - last >= 1000 && __atomic_compare_exchange_n(&h->probed_ms, &last, now, false,
                                                              __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            probe_write(s, now);
    }
    int64_t since = __atomic_load_n(&h->failing_since_ms, __ATOMIC_ACQUIRE);
    out->writes_ok = since == 0;
    out->writes_failing_since = since / 1000;
    out->write_failures = since != 0 ? __atomic_load_n(&h->failures, __ATOMIC_RELAXED) : 0;
    return VK_OK;
}

static int s_keys_generation(struct vk_store *s, int64_t *out)
{
    return read_generation(s, S_KEYS_GEN, out);
}

static int s_clients_generation(struct vk_store *s, int64_t *out)
{
    return read_generation(s, S_CLIENTS_GEN, out);
}

/* --- revocation --------------------------------------------------------------------------- */

static int s_token_revoke(struct vk_store *s, const char *jti, const char *client_id,
                          int64_t expires_at, int64_t now)
{
    CONN_OR_FAIL(s, c);
    int rc = sq_tx_begin(c);
    if (rc != VK_OK)
        return rc;
    sqlite3_stmt *st = sq_stmt(c, S_REVOKE_JTI);
    if (st == NULL)
        return sq_tx_end(c, VK_ESTORE);
    sq_bind_text(st, 1, jti);
    sq_bind_text(st, 2, client_id);
    sqlite3_bind_int64(st, 3, expires_at);
    rc = sq_step_done(st);
    if (rc == VK_OK && sqlite3_changes(c->db) > 0) {
        st = sq_stmt(c, S_REVOKE_EVENT);
        if (st == NULL)
            return sq_tx_end(c, VK_ESTORE);
        sq_bind_text(st, 1, "jti");
        sq_bind_text(st, 2, jti);
        sq_bind_text(st, 3, client_id);
        sqlite3_bind_int64(st, 4, expires_at);
        sqlite3_bind_int64(st, 5, now);
        rc = sq_step_done(st);
    }
    return sq_tx_end(c, rc);
}

static int s_token_is_revoked(struct vk_store *s, const char *jti, bool *revoked)
{
    CONN_OR_FAIL(s, c);
    *revoked = false;
    sqlite3_stmt *st = sq_stmt(c, S_IS_REVOKED);
    if (st == NULL)
        return VK_ESTORE;
    sq_bind_text(st, 1, jti);
    int r = sqlite3_step(st);
    sq_finish(st);
    if (r == SQLITE_ROW)
        *revoked = true;
    else if (r != SQLITE_DONE)
        return VK_ESTORE;
    return VK_OK;
}

/* One batch of a purge statement (?1 the cut-off, ?2 the batch size), in its own transaction, so
 * other operations get the connection between batches and no request waits behind a big delete.
 * *n receives the rows changed; with `live`, the statement returns an expiry per row and *live
 * counts those after `now`. */
static int purge_batch(struct vk_store *s, enum stmt_id id, int64_t cutoff, int64_t batch,
                       int64_t now, int64_t *n, int64_t *live)
{
    CONN_OR_FAIL(s, c);
    *n = 0;
    sqlite3_stmt *st = sq_stmt(c, id);
    if (st == NULL)
        return VK_ESTORE;
    int rc = sq_tx_begin(c);
    if (rc != VK_OK)
        return rc;
    sqlite3_bind_int64(st, 1, cutoff);
    sqlite3_bind_int64(st, 2, batch);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        if (live != NULL && sqlite3_column_int64(st, 0) > now)
            (*live)++;
    sq_finish(st);
    if (r == SQLITE_DONE)
        *n = sqlite3_changes(c->db);
    return sq_tx_end(c, r == SQLITE_DONE ? VK_OK : VK_ESTORE);
}

#define PURGE_BATCH 500     /* rows per transaction */
#define PURGE_MAX_BATCHES 2000 /* per statement and run: what is left waits for the next minute */

static int s_purge_expired(struct vk_store *s, int64_t now, const struct vk_store_retention *r)
{
    const struct {
        const char *name;
        enum stmt_id id;
        int64_t cutoff;
        int64_t batch;
    } steps[] = {
        {"revoked", S_PURGE_REVOKED, now, PURGE_BATCH},
        {"sessions", S_PURGE_SESSIONS, now, PURGE_BATCH},
        {"refresh", S_PURGE_REFRESH, now, PURGE_BATCH},
        {"codes", S_PURGE_CODES, now - r->codes_after_expiry, PURGE_BATCH},
        /* a grant takes its refresh tokens along: up to the family cap each */
        {"grants", S_PURGE_GRANTS, now - r->grants_after_expiry, PURGE_BATCH / 10},
        {"events", S_PURGE_EVENTS, now - r->events_after_expiry, PURGE_BATCH},
        {"events_over_cap", S_PURGE_EVENTS_CAP, r->max_events, PURGE_BATCH},
        {"grace_pairs", S_PURGE_GRACE, now * 1000, PURGE_BATCH},
    };
    int64_t count[sizeof steps / sizeof steps[0]] = {0}, live = 0, total = 0;
    int rc = VK_OK;
    for (size_t i = 0; rc == VK_OK && i < sizeof steps / sizeof steps[0]; i++) {
        int64_t n = steps[i].batch;
        for (int b = 0; rc == VK_OK && n == steps[i].batch && b < PURGE_MAX_BATCHES; b++) {
            rc = purge_batch(s, steps[i].id, steps[i].cutoff, steps[i].batch, now, &n,
                             steps[i].id == S_PURGE_EVENTS_CAP ? &live : NULL);
            count[i] += n;
        }
        total += count[i];
    }
    if (total > 0)
        vk_log_info("event=store.purged %s=%lld %s=%lld %s=%lld %s=%lld %s=%lld %s=%lld %s=%lld "
                    "%s=%lld",
                    steps[0].name, (long long)count[0], steps[1].name, (long long)count[1],
                    steps[2].name, (long long)count[2], steps[3].name, (long long)count[3],
                    steps[4].name, (long long)count[4], steps[5].name, (long long)count[5],
                    steps[6].name, (long long)count[6], steps[7].name, (long long)count[7]);
    if (live > 0)
        vk_log_warn("event=store.revocation_events_capped max=%lld dropped_unexpired=%lld "
                    "note=\"a verifier feed that had not read them misses them\"",
                    (long long)r->max_events, (long long)live);
    return rc;
}

/* --- users ----------------------------------------------------------------------------------- */

static int read_user(struct vk_arena *a, sqlite3_stmt *st, void *row)
{
    struct vk_user *out = row;
    int oom = 0;
    out->id = sq_col_text(a, st, 0, &oom);
    out->username = sq_col_text(a, st, 1, &oom);
    out->password_hash = sq_col_text(a, st, 2, &oom);
    out->claims = sq_col_text(a, st, 3, &oom);
    out->created_at = sqlite3_column_int64(st, 4);
    out->password_changed_at = sqlite3_column_int64(st, 5);
    return oom ? VK_ENOMEM : VK_OK;
}

static int user_get_by(struct vk_store *s, enum stmt_id id, struct vk_arena *a, vk_str key,
                       struct vk_user *out)
{
    CONN_OR_FAIL(s, c);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = sq_stmt(c, id);
    if (st == NULL)
        return VK_ESTORE;
    sqlite3_bind_text(st, 1, key.p, (int)key.len, SQLITE_STATIC);
    return sq_get_one(st, a, read_user, out);
}

static int s_user_get(struct vk_store *s, struct vk_arena *a, vk_str id, struct vk_user *out)
{
    return user_get_by(s, S_USER_GET, a, id, out);
}

static int s_user_get_by_name(struct vk_store *s, struct vk_arena *a, vk_str name,
                              struct vk_user *out)
{
    return user_get_by(s, S_USER_GET_BY_NAME, a, name, out);
}

static int s_user_put(struct vk_store *s, const struct vk_user *u, struct vk_err *err)
{
    CONN_OR_FAIL(s, c);
    sqlite3_stmt *st = sq_stmt(c, S_USER_PUT);
    if (st == NULL)
        return vk_err_set(err, VK_ESTORE, "store error");
    sq_bind_text(st, 1, u->id);
    sq_bind_text(st, 2, u->username);
    sq_bind_text(st, 3, u->password_hash);
    sq_bind_text(st, 4, u->claims != NULL ? u->claims : "{}");
    sqlite3_bind_int64(st, 5, u->created_at);
    sqlite3_bind_int64(st, 6, u->password_changed_at);
    int rc = sq_note_write(c, sq_step_done(st));
    if (rc == VK_EEXIST)
        return vk_err_set(err, rc, "a user with that username exists");
    if (rc != VK_OK)
        return vk_err_set(err, rc, "cannot store the user: %s", sqlite3_errmsg(c->db));
    return VK_OK;
}

static int s_user_list(struct vk_store *s, struct vk_arena *a, struct vk_user_list *out)
{
    CONN_OR_FAIL(s, c);
    out->v = NULL;
    out->n = 0;
    sqlite3_stmt *st = sq_stmt(c, S_USER_LIST);
    if (st == NULL)
        return VK_ESTORE;
    return sq_get_all(st, a, read_user, sizeof *out->v, (void **)&out->v, &out->n);
}

/* --- grants (inside a transaction) ----------------------------------------------------------- */

static int revoke_event(struct sq_conn *c, const char *kind, const char *subject,
                        const char *client_id, int64_t expires_at, int64_t now)
{
    sqlite3_stmt *st = sq_stmt(c, S_REVOKE_EVENT);
    if (st == NULL)
        return VK_ESTORE;
    sq_bind_text(st, 1, kind);
    sq_bind_text(st, 2, subject);
    sq_bind_text(st, 3, client_id);
    sqlite3_bind_int64(st, 4, expires_at);
    sqlite3_bind_int64(st, 5, now);
    return sq_step_done(st);
}

static int grant_revoke_tx(struct sq_conn *c, const char *id, int64_t now)
{
    sqlite3_stmt *st = sq_stmt(c, S_GRANT_MARK_REVOKED);
    if (st == NULL)
        return VK_ESTORE;
    sqlite3_bind_int64(st, 1, now);
    sq_bind_text(st, 2, id);
    int rc = sq_step_done(st);
    if (rc != VK_OK)
        return rc;
    if (sqlite3_changes(c->db) == 0) {
        /* Not there yet (a code reused while its first redemption is in flight) or already
         * revoked: a tombstone makes a later grant_start with this id fail. */
        st = sq_stmt(c, S_GRANT_TOMBSTONE);
        if (st == NULL)
            return VK_ESTORE;
        sq_bind_text(st, 1, id);
        sqlite3_bind_int64(st, 2, now);
        rc = sq_step_done(st);
        if (rc != VK_OK)
            return rc;
    }
    st = sq_stmt(c, S_GRANT_REFRESH_REVOKE);
    if (st == NULL)
        return VK_ESTORE;
    sqlite3_bind_int64(st, 1, now);
    sq_bind_text(st, 2, id);
    rc = sq_step_done(st);
    if (rc != VK_OK)
        return rc;
    /* Every access token issued from the grant joins the revocation list. Collect first: the
     * SELECT must be reset before the INSERTs reuse other statements. */
    struct vk_arena a;
    vk_arena_init(&a, 4 * 1024 * 1024);
    struct tok {
        const char *jti;
        int64_t exp;
    } *toks = NULL;
    size_t n = 0, cap = 0;
    int oom = 0, r;
    st = sq_stmt(c, S_GRANT_TOKENS);
    if (st == NULL) {
        vk_arena_clear(&a);
        return VK_ESTORE;
    }
    sq_bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct tok *nt = vk_arena_grow(&a, toks, n, &cap, sizeof *nt);
        if (nt == NULL) {
            oom = 1;
            break;
        }
        toks = nt;
        toks[n].jti = sq_col_text(&a, st, 0, &oom);
        toks[n].exp = sqlite3_column_int64(st, 1);
        n++;
    }
    sq_finish(st);
    rc = oom ? VK_ENOMEM : (r == SQLITE_DONE || r == SQLITE_ROW) ? VK_OK : VK_ESTORE;
    /* The event is kept while the last access token it revokes can be live. */
    int64_t last_exp = now;
    for (size_t i = 0; i < n; i++)
        if (toks[i].exp > last_exp)
            last_exp = toks[i].exp;
    for (size_t i = 0; rc == VK_OK && i < n; i++) {
        st = sq_stmt(c, S_REVOKE_JTI);
        if (st == NULL) {
            rc = VK_ESTORE;
            break;
        }
        sq_bind_text(st, 1, toks[i].jti);
        sq_bind_text(st, 2, "");
        sqlite3_bind_int64(st, 3, toks[i].exp);
        rc = sq_step_done(st);
    }
    vk_arena_clear(&a);
    if (rc == VK_OK)
        rc = revoke_event(c, "grant", id, NULL, last_exp, now);
    return rc;
}

static int s_grant_revoke(struct vk_store *s, const char *id, int64_t now)
{
    CONN_OR_FAIL(s, c);
    int rc = sq_tx_begin(c);
    if (rc != VK_OK)
        return rc;
    return sq_tx_end(c, grant_revoke_tx(c, id, now));
}

/* Revokes every live grant of a user (inside a transaction). */
static int user_grants_revoke_tx(struct sq_conn *c, const char *user_id, int64_t now)
{
    struct vk_arena a;
    vk_arena_init(&a, 4 * 1024 * 1024);
    const char **ids = NULL;
    size_t n = 0, cap = 0;
    int oom = 0, r;
    sqlite3_stmt *st = sq_stmt(c, S_USER_GRANTS);
    if (st == NULL) {
        vk_arena_clear(&a);
        return VK_ESTORE;
    }
    sq_bind_text(st, 1, user_id);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char **ni = vk_arena_grow(&a, ids, n, &cap, sizeof *ni);
        if (ni == NULL) {
            oom = 1;
            break;
        }
        ids = ni;
        ids[n++] = sq_col_text(&a, st, 0, &oom);
    }
    sq_finish(st);
    int rc = oom ? VK_ENOMEM : (r == SQLITE_DONE || r == SQLITE_ROW) ? VK_OK : VK_ESTORE;
    for (size_t i = 0; rc == VK_OK && i < n; i++)
        rc = grant_revoke_tx(c, ids[i], now);
    vk_arena_clear(&a);
    return rc;
}

/* Spends the user's codes not yet redeemed (inside a transaction): redeeming one later counts as
 * a replay and revokes whatever it would have started. */
static int user_codes_spend_tx(struct sq_conn *c, const char *user_id, int64_t now)
{
    sqlite3_stmt *st = sq_stmt(c, S_USER_CODES_SPEND);
    if (st == NULL)
        return VK_ESTORE;
    sqlite3_bind_int64(st, 1, now);
    sq_bind_text(st, 2, user_id);
    return sq_step_done(st);
}

/* Revokes every live grant of a user, ends the user's sessions and spends the user's pending
 * codes (inside a transaction). */
static int user_revoke_all_tx(struct sq_conn *c, const char *user_id, int64_t now)
{
    int rc = user_grants_revoke_tx(c, user_id, now);
    if (rc == VK_OK) {
        sqlite3_stmt *st = sq_stmt(c, S_USER_SESSIONS_DELETE);
        if (st == NULL)
            return VK_ESTORE;
        sq_bind_text(st, 1, user_id);
        rc = sq_step_done(st);
    }
    if (rc == VK_OK)
        rc = user_codes_spend_tx(c, user_id, now);
    return rc;
}

static int user_find_id(struct sq_conn *c, struct vk_arena *a, vk_str username, const char **id)
{
    sqlite3_stmt *st = sq_stmt(c, S_USER_GET_BY_NAME);
    if (st == NULL)
        return VK_ESTORE;
    sqlite3_bind_text(st, 1, username.p, (int)username.len, SQLITE_STATIC);
    int r = sqlite3_step(st), rc = VK_OK, oom = 0;
    if (r == SQLITE_ROW)
        *id = sq_col_text(a, st, 0, &oom);
    else
        rc = r == SQLITE_DONE ? VK_ENOTFOUND : VK_ESTORE;
    sq_finish(st);
    return oom ? VK_ENOMEM : rc;
}

static int s_user_delete(struct vk_store *s, vk_str username, int64_t now)
{
    CONN_OR_FAIL(s, c);
    struct vk_arena a;
    const char *id = NULL;
    vk_arena_init(&a, 64 * 1024);
    int rc = sq_tx_begin(c);
    if (rc != VK_OK) {
        vk_arena_clear(&a);
        return rc;
    }
    rc = user_find_id(c, &a, username, &id);
    if (rc == VK_OK)
        rc = user_revoke_all_tx(c, id, now);
    if (rc == VK_OK) {
        sqlite3_stmt *st = sq_stmt(c, S_USER_DELETE);
        rc = VK_ESTORE;
        if (st != NULL) {
            sq_bind_text(st, 1, id);
            rc = sq_step_done(st);
        }
    }
    rc = sq_tx_end(c, rc);
    vk_arena_clear(&a);
    return rc;
}

static int s_user_set_password(struct vk_store *s, vk_str username, const char *hash, int64_t now)
{
    CONN_OR_FAIL(s, c);
    struct vk_arena a;
    const char *id = NULL;
    vk_arena_init(&a, 64 * 1024);
    int rc = sq_tx_begin(c);
    if (rc != VK_OK) {
        vk_arena_clear(&a);
        return rc;
    }
    rc = user_find_id(c, &a, username, &id);
    if (rc == VK_OK) {
        sqlite3_stmt *st = sq_stmt(c, S_USER_SET_PASSWORD);
        rc = VK_ESTORE;
        if (st != NULL) {
            sq_bind_text(st, 1, hash);
            sqlite3_bind_int64(st, 2, now);
            sq_bind_text(st, 3, id);
            rc = sq_step_done(st);
        }
    }
    /* RFC 9700 §4.14.2: a password change ends sessions and revokes refresh tokens. */
    if (rc == VK_OK)
        rc = user_revoke_all_tx(c, id, now);
    rc = sq_tx_end(c, rc);
    vk_arena_clear(&a);
    return rc;
}

static int s_user_upgrade_hash(struct vk_store *s, const char *user_id, const char *old_hash,
                               const char *new_hash)
{
    CONN_OR_FAIL(s, c);
    sqlite3_stmt *st = sq_stmt(c, S_USER_UPGRADE_HASH);
    if (st == NULL)
        return VK_ESTORE;
    sq_bind_text(st, 1, new_hash);
    sq_bind_text(st, 2, user_id);
    sq_bind_text(st, 3, old_hash);
    return sq_note_write(c, sq_step_done(st));
}

/* --- sessions and consents ------------------------------------------------------------------- */

static int s_session_put(struct vk_store *s, const struct vk_session *se)
{
    CONN_OR_FAIL(s, c);
    sqlite3_stmt *st = sq_stmt(c, S_SESSION_PUT), *trim = sq_stmt(c, S_SESSION_TRIM);
    if (st == NULL || trim == NULL)
        return VK_ESTORE;
    int rc = sq_tx_begin(c);
    if (rc != VK_OK)
        return rc;
    sqlite3_bind_blob(st, 1, se->digest, VK_DIGEST_LEN, SQLITE_STATIC);
    sq_bind_text(st, 2, se->user_id);
    sqlite3_bind_int64(st, 3, se->auth_time);
    sqlite3_bind_int64(st, 4, se->expires_at);
    sq_bind_text(st, 5, se->handle != NULL && se->handle[0] != '\0' ? se->handle : NULL);
    sq_bind_text(st, 6, se->user_agent != NULL ? se->user_agent : "");
    sq_bind_text(st, 7, se->address != NULL ? se->address : "");
    sqlite3_bind_int64(st, 8, se->last_seen != 0 ? se->last_seen : se->auth_time);
    rc = sq_step_done(st);
    /* A login flood (the user's own scripts, or someone who has the password) must not grow the
     * table: beyond the cap, the user's oldest sessions end. */
    if (rc == VK_OK) {
        sq_bind_text(trim, 1, se->user_id);
        sqlite3_bind_blob(trim, 2, se->digest, VK_DIGEST_LEN, SQLITE_STATIC);
        sqlite3_bind_int(trim, 3, VK_STORE_SESSIONS_PER_USER - 1);
        rc = sq_step_done(trim);
    }
    return sq_tx_end(c, rc);
}

static int read_session(struct vk_arena *a, sqlite3_stmt *st, void *row)
{
    struct vk_session *out = row;
    int oom = 0;
    out->user_id = sq_col_text(a, st, 0, &oom);
    out->auth_time = sqlite3_column_int64(st, 1);
    out->expires_at = sqlite3_column_int64(st, 2);
    out->handle = sq_col_text(a, st, 3, &oom);
    out->user_agent = sq_col_text(a, st, 4, &oom);
    out->address = sq_col_text(a, st, 5, &oom);
    out->last_seen = sqlite3_column_int64(st, 6);
    return oom ? VK_ENOMEM : VK_OK;
}

static int s_session_get(struct vk_store *s, struct vk_arena *a,
                         const uint8_t digest[VK_DIGEST_LEN], int64_t now, struct vk_session *out)
{
    CONN_OR_FAIL(s, c);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = sq_stmt(c, S_SESSION_GET);
    if (st == NULL)
        return VK_ESTORE;
    sqlite3_bind_blob(st, 1, digest, VK_DIGEST_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    int rc = sq_get_one(st, a, read_session, out);
    if (rc == VK_OK)
        memcpy(out->digest, digest, VK_DIGEST_LEN);
    return rc;
}

static int s_session_delete(struct vk_store *s, const uint8_t digest[VK_DIGEST_LEN])
{
    CONN_OR_FAIL(s, c);
    sqlite3_stmt *st = sq_stmt(c, S_SESSION_DELETE);
    if (st == NULL)
        return VK_ESTORE;
    sqlite3_bind_blob(st, 1, digest, VK_DIGEST_LEN, SQLITE_STATIC);
    return sq_note_write(c, sq_step_done(st));
}

static int read_text0(struct vk_arena *a, sqlite3_stmt *st, void *row)
{
    int oom = 0;
    *(const char **)row = sq_col_text(a, st, 0, &oom);
    return oom ? VK_ENOMEM : VK_OK;
}

static int s_consent_get(struct vk_store *s, struct vk_arena *a, const char *user_id,
                         const char *client_id, const char **scope)
{
    CONN_OR_FAIL(s, c);
    *scope = NULL;
    sqlite3_stmt *st = sq_stmt(c, S_CONSENT_GET);
    if (st == NULL)
        return VK_ESTORE;
    sq_bind_text(st, 1, user_id);
    sq_bind_text(st, 2, client_id);
    return sq_get_one(st, a, read_text0, scope);
}

static int s_consent_put(struct vk_store *s, const char *user_id, const char *client_id,
                         const char *scope, int64_t now)
{
    CONN_OR_FAIL(s, c);
    sqlite3_stmt *st = sq_stmt(c, S_CONSENT_PUT);
    if (st == NULL)
        return VK_ESTORE;
    sq_bind_text(st, 1, user_id);
    sq_bind_text(st, 2, client_id);
    sq_bind_text(st, 3, scope);
    sqlite3_bind_int64(st, 4, now);
    return sq_note_write(c, sq_step_done(st));
}

/* --- codes, grants, refresh tokens ----------------------------------------------------------- */

static int s_code_put(struct vk_store *s, const struct vk_code *cd)
{
    CONN_OR_FAIL(s, c);
    sqlite3_stmt *st = sq_stmt(c, S_CODE_PUT);
    if (st == NULL)
        return VK_ESTORE;
    sqlite3_bind_blob(st, 1, cd->digest, VK_DIGEST_LEN, SQLITE_STATIC);
    sq_bind_text(st, 2, cd->client_id);
    sq_bind_text(st, 3, cd->user_id);
    sq_bind_text(st, 4, cd->redirect_uri);
    sq_bind_text(st, 5, cd->code_challenge);
    sq_bind_text(st, 6, cd->scope);
    sq_bind_text(st, 7, cd->nonce != NULL ? cd->nonce : "");
    sq_bind_text(st, 8, cd->resources != NULL ? cd->resources : "");
    sq_bind_text(st, 9, cd->session_id != NULL ? cd->session_id : "");
    sqlite3_bind_int64(st, 10, cd->auth_time);
    sqlite3_bind_int64(st, 11, cd->created_at);
    sqlite3_bind_int64(st, 12, cd->expires_at);
    sq_bind_text(st, 13, cd->grant_id);
    return sq_note_write(c, sq_step_done(st));
}

static int read_code(struct vk_arena *a, sqlite3_stmt *st, void *row)
{
    struct vk_code *out = row;
    int oom = 0;
    out->client_id = sq_col_text(a, st, 0, &oom);
    out->user_id = sq_col_text(a, st, 1, &oom);
    out->redirect_uri = sq_col_text(a, st, 2, &oom);
    out->code_challenge = sq_col_text(a, st, 3, &oom);
    out->scope = sq_col_text(a, st, 4, &oom);
    out->nonce = sq_col_text(a, st, 5, &oom);
    out->resources = sq_col_text(a, st, 6, &oom);
    out->session_id = sq_col_text(a, st, 7, &oom);
    out->auth_time = sqlite3_column_int64(st, 8);
    out->created_at = sqlite3_column_int64(st, 9);
    out->expires_at = sqlite3_column_int64(st, 10);
    out->used_at = sqlite3_column_int64(st, 11);
    out->grant_id = sq_col_text(a, st, 12, &oom);
    return oom ? VK_ENOMEM : VK_OK;
}

static int s_code_get(struct vk_store *s, struct vk_arena *a,
                      const uint8_t digest[VK_DIGEST_LEN], struct vk_code *out)
{
    CONN_OR_FAIL(s, c);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = sq_stmt(c, S_CODE_GET);
    if (st == NULL)
        return VK_ESTORE;
    sqlite3_bind_blob(st, 1, digest, VK_DIGEST_LEN, SQLITE_STATIC);
    int rc = sq_get_one(st, a, read_code, out);
    if (rc == VK_OK)
        memcpy(out->digest, digest, VK_DIGEST_LEN);
    return rc;
}

/* jti/jti_exp: the access token issued together with this refresh token ("" for none). */
static int refresh_insert(struct sq_conn *c, const struct vk_refresh *rt, const char *jti,
                          int64_t jti_exp)
{
    sqlite3_stmt *st = sq_stmt(c, S_REFRESH_PUT);
    if (st == NULL)
        return VK_ESTORE;
    sqlite3_bind_blob(st, 1, rt->digest, VK_DIGEST_LEN, SQLITE_STATIC);
    sq_bind_text(st, 2, rt->grant_id);
    sqlite3_bind_int64(st, 3, rt->created_at);
    sqlite3_bind_int64(st, 4, rt->expires_at);
    sq_bind_text(st, 5, jti);
    sqlite3_bind_int64(st, 6, jti_exp);
    return sq_step_done(st);
}


static int s_code_redeem(struct vk_store *s, const uint8_t code_digest[VK_DIGEST_LEN],
                         int64_t now, const struct vk_grant *g, const struct vk_refresh *rt,
                         const char *jti, int64_t jti_exp)
{
    CONN_OR_FAIL(s, c);
    int rc = sq_tx_begin(c);
    if (rc != VK_OK)
        return rc;
    sqlite3_stmt *st = sq_stmt(c, S_CODE_MARK_USED);
    if (st == NULL)
        return sq_tx_end(c, VK_ESTORE);
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_blob(st, 2, code_digest, VK_DIGEST_LEN, SQLITE_STATIC);
    rc = sq_step_done(st);
    if (rc == VK_OK && sqlite3_changes(c->db) == 0)
        rc = VK_EEXIST; /* used meanwhile: a replay */
    if (rc == VK_OK) {
        st = sq_stmt(c, S_GRANT_PUT);
        if (st == NULL)
            return sq_tx_end(c, VK_ESTORE);
        sq_bind_text(st, 1, g->id);
        sq_bind_text(st, 2, g->client_id);
        sq_bind_text(st, 3, g->user_id);
        sq_bind_text(st, 4, g->scope);
        sq_bind_text(st, 5, g->resources != NULL ? g->resources : "");
        sq_bind_text(st, 6, g->session_id != NULL ? g->session_id : "");
        sqlite3_bind_int64(st, 7, g->auth_time);
        sqlite3_bind_int64(st, 8, g->created_at);
        sqlite3_bind_int64(st, 9, g->expires_at);
        sq_bind_text(st, 10, jti);
        sqlite3_bind_int64(st, 11, jti_exp);
        sq_bind_text(st, 12, g->cnf_x5t != NULL ? g->cnf_x5t : "");
        rc = sq_step_done(st); /* VK_EEXIST: the grant was revoked (tombstone) by a replay */
    }
    if (rc == VK_OK && rt != NULL)
        rc = refresh_insert(c, rt, "", 0);
    return sq_tx_end(c, rc);
}

static int read_grant(struct vk_arena *a, sqlite3_stmt *st, void *row)
{
    struct vk_grant *out = row;
    int oom = 0;
    out->id = sq_col_text(a, st, 0, &oom);
    out->client_id = sq_col_text(a, st, 1, &oom);
    out->user_id = sq_col_text(a, st, 2, &oom);
    out->scope = sq_col_text(a, st, 3, &oom);
    out->resources = sq_col_text(a, st, 4, &oom);
    out->session_id = sq_col_text(a, st, 5, &oom);
    out->auth_time = sqlite3_column_int64(st, 6);
    out->created_at = sqlite3_column_int64(st, 7);
    out->expires_at = sqlite3_column_int64(st, 8);
    out->revoked_at = sqlite3_column_int64(st, 9);
    out->cnf_x5t = sq_col_text(a, st, 10, &oom);
    return oom ? VK_ENOMEM : VK_OK;
}

static int s_grant_get(struct vk_store *s, struct vk_arena *a, const char *id,
                       struct vk_grant *out)
{
    CONN_OR_FAIL(s, c);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = sq_stmt(c, S_GRANT_GET);
    if (st == NULL)
        return VK_ESTORE;
    sq_bind_text(st, 1, id);
    return sq_get_one(st, a, read_grant, out);
}

static int read_refresh(struct vk_arena *a, sqlite3_stmt *st, void *row)
{
    struct vk_refresh *out = row;
    int oom = 0;
    out->grant_id = sq_col_text(a, st, 0, &oom);
    out->created_at = sqlite3_column_int64(st, 1);
    out->expires_at = sqlite3_column_int64(st, 2);
    out->used_at = sqlite3_column_int64(st, 3);
    out->grace_blob = sq_col_blob(a, st, 4, &out->grace_len, &oom);
    out->grace_until_ms = sqlite3_column_int64(st, 5);
    return oom ? VK_ENOMEM : VK_OK;
}

static int s_refresh_get(struct vk_store *s, struct vk_arena *a,
                         const uint8_t digest[VK_DIGEST_LEN], struct vk_refresh *out)
{
    CONN_OR_FAIL(s, c);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = sq_stmt(c, S_REFRESH_GET);
    if (st == NULL)
        return VK_ESTORE;
    sqlite3_bind_blob(st, 1, digest, VK_DIGEST_LEN, SQLITE_STATIC);
    int rc = sq_get_one(st, a, read_refresh, out);
    if (rc == VK_OK)
        memcpy(out->digest, digest, VK_DIGEST_LEN);
    return rc;
}

static int s_refresh_rotate(struct vk_store *s, const uint8_t old_digest[VK_DIGEST_LEN],
                            int64_t now, const uint8_t *grace_blob, size_t grace_len,
                            int64_t grace_until_ms, const struct vk_refresh *next,
                            const char *jti, int64_t jti_exp)
{
    CONN_OR_FAIL(s, c);
    int rc = sq_tx_begin(c);
    if (rc != VK_OK)
        return rc;
    sqlite3_stmt *st = sq_stmt(c, S_REFRESH_MARK_USED);
    if (st == NULL)
        return sq_tx_end(c, VK_ESTORE);
    sqlite3_bind_int64(st, 1, now);
    if (grace_blob != NULL && grace_len > 0)
        sqlite3_bind_blob(st, 2, grace_blob, (int)grace_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_int64(st, 3, grace_until_ms);
    sqlite3_bind_blob(st, 4, old_digest, VK_DIGEST_LEN, SQLITE_STATIC);
    rc = sq_step_done(st);
    if (rc == VK_OK && sqlite3_changes(c->db) == 0)
        rc = VK_EEXIST; /* a concurrent rotation won */
    if (rc == VK_OK)
        rc = refresh_insert(c, next, jti, jti_exp);
    /* Each rotation leaves a spent token behind. Bound the family: the newest spent tokens are
     * the ones a thief is likely to replay; one whose access token is still live stays (revoking
     * the grant must reach that token). */
    if (rc == VK_OK) {
        st = sq_stmt(c, S_REFRESH_TRIM);
        rc = VK_ESTORE;
        if (st != NULL) {
            sq_bind_text(st, 1, next->grant_id);
            sqlite3_bind_int64(st, 2, now);
            sqlite3_bind_int(st, 3, VK_STORE_SPENT_REFRESH_PER_GRANT);
            rc = sq_step_done(st);
        }
    }
    return sq_tx_end(c, rc);
}

static int s_secret_get_or_create(struct vk_store *s, const char *name,
                                  uint8_t out[VK_DIGEST_LEN])
{
    CONN_OR_FAIL(s, c);
    for (int attempt = 0; attempt < 2; attempt++) {
        sqlite3_stmt *st = sq_stmt(c, S_SECRET_GET);
        if (st == NULL)
            return VK_ESTORE;
        sq_bind_text(st, 1, name);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW && sqlite3_column_bytes(st, 0) == VK_DIGEST_LEN) {
            memcpy(out, sqlite3_column_blob(st, 0), VK_DIGEST_LEN);
            sq_finish(st);
            return VK_OK;
        }
        sq_finish(st);
        if (r != SQLITE_DONE && r != SQLITE_ROW)
            return VK_ESTORE;
        uint8_t fresh[VK_DIGEST_LEN];
        if (vk_rand(fresh, sizeof fresh) != VK_OK)
            return VK_ECRYPTO;
        st = sq_stmt(c, S_SECRET_PUT);
        if (st == NULL)
            return VK_ESTORE;
        sq_bind_text(st, 1, name);
        sqlite3_bind_blob(st, 2, fresh, VK_DIGEST_LEN, SQLITE_TRANSIENT);
        vk_wipe(fresh, sizeof fresh);
        int rc = sq_note_write(c, sq_step_done(st));
        if (rc != VK_OK)
            return rc;
    }
    return VK_ESTORE;
}

/* --- the account page (oauth/account.c) ------------------------------------------------------
 * Every statement here names the user it acts for in its WHERE clause, so an id from a form can
 * only ever reach that user's own rows. */

static int read_session_row(struct vk_arena *a, sqlite3_stmt *st, void *row)
{
    struct vk_session *out = row;
    int oom = 0;
    if (sqlite3_column_bytes(st, 0) == VK_DIGEST_LEN)
        memcpy(out->digest, sqlite3_column_blob(st, 0), VK_DIGEST_LEN);
    out->user_id = sq_col_text(a, st, 1, &oom);
    out->auth_time = sqlite3_column_int64(st, 2);
    out->expires_at = sqlite3_column_int64(st, 3);
    out->handle = sq_col_text(a, st, 4, &oom);
    out->user_agent = sq_col_text(a, st, 5, &oom);
    out->address = sq_col_text(a, st, 6, &oom);
    out->last_seen = sqlite3_column_int64(st, 7);
    return oom ? VK_ENOMEM : VK_OK;
}

static int s_session_list(struct vk_store *s, struct vk_arena *a, const char *user_id,
                          int64_t now, struct vk_session_list *out)
{
    CONN_OR_FAIL(s, c);
    out->v = NULL;
    out->n = 0;
    sqlite3_stmt *st = sq_stmt(c, S_ACCOUNT_SESSIONS);
    if (st == NULL)
        return VK_ESTORE;
    sq_bind_text(st, 1, user_id);
    sqlite3_bind_int64(st, 2, now);
    int rc = sq_get_all(st, a, read_session_row, sizeof *out->v, (void **)&out->v, &out->n);
    if (rc != VK_OK)
        out->n = 0;
    return rc;
}

static int s_session_touch(struct vk_store *s, const uint8_t digest[VK_DIGEST_LEN], int64_t now,
                           const char *address, int64_t interval)
{
    CONN_OR_FAIL(s, c);
    sqlite3_stmt *st = sq_stmt(c, S_ACCOUNT_SESSION_TOUCH);
    if (st == NULL)
        return VK_ESTORE;
    sqlite3_bind_blob(st, 1, digest, VK_DIGEST_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    sq_bind_text(st, 3, address != NULL ? address : "");
    sqlite3_bind_int64(st, 4, interval);
    return sq_note_write(c, sq_step_done(st));
}

static int s_session_end(struct vk_store *s, const char *user_id, const char *handle)
{
    CONN_OR_FAIL(s, c);
    if (handle == NULL || handle[0] == '\0')
        return VK_ENOTFOUND;
    sqlite3_stmt *st = sq_stmt(c, S_ACCOUNT_SESSION_END);
    if (st == NULL)
        return VK_ESTORE;
    sq_bind_text(st, 1, user_id);
    sq_bind_text(st, 2, handle);
    int rc = sq_note_write(c, sq_step_done(st));
    if (rc == VK_OK && sqlite3_changes(c->db) == 0)
        rc = VK_ENOTFOUND;
    return rc;
}

/* Deletes the user's sessions other than `keep` (inside a transaction), collecting their
 * handles. Every row is stepped even when the arena is full: the DELETE must complete. */
static int sessions_end_others_tx(struct sq_conn *c, struct vk_arena *a, const char *user_id,
                                  const uint8_t keep[VK_DIGEST_LEN], struct vk_handle_list *ended)
{
    ended->v = NULL;
    ended->n = 0;
    sqlite3_stmt *st = sq_stmt(c, S_ACCOUNT_SESSIONS_END_OTHERS);
    if (st == NULL)
        return VK_ESTORE;
    sq_bind_text(st, 1, user_id);
    sqlite3_bind_blob(st, 2, keep, VK_DIGEST_LEN, SQLITE_STATIC);
    size_t cap = 0;
    int rc = VK_OK, r, oom = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char **nv = oom ? NULL : vk_arena_grow(a, ended->v, ended->n, &cap, sizeof *nv);
        if (nv == NULL) {
            oom = 1;
            continue;
        }
        ended->v = nv;
        ended->v[ended->n] = sq_col_text(a, st, 0, &oom);
        if (!oom)
            ended->n++;
    }
    if (r != SQLITE_DONE)
        rc = VK_ESTORE;
    else if (oom)
        rc = VK_ENOMEM;
    sq_finish(st);
    return rc;
}

static int s_session_end_others(struct vk_store *s, struct vk_arena *a, const char *user_id,
                                const uint8_t keep[VK_DIGEST_LEN], struct vk_handle_list *ended)
{
    CONN_OR_FAIL(s, c);
    ended->v = NULL;
    ended->n = 0;
    int rc = sq_tx_begin(c);
    if (rc != VK_OK)
        return rc;
    rc = sq_tx_end(c, sessions_end_others_tx(c, a, user_id, keep, ended));
    if (rc != VK_OK)
        ended->n = 0;
    return rc;
}

static int read_user_grant(struct vk_arena *a, sqlite3_stmt *st, void *row)
{
    struct vk_user_grant *g = row;
    int oom = 0;
    g->id = sq_col_text(a, st, 0, &oom);
    g->client_id = sq_col_text(a, st, 1, &oom);
    g->client_name = sq_col_text(a, st, 2, &oom);
    g->scope = sq_col_text(a, st, 3, &oom);
    g->resources = sq_col_text(a, st, 4, &oom);
    g->created_at = sqlite3_column_int64(st, 5);
    g->last_used = sqlite3_column_int64(st, 6);
    return oom ? VK_ENOMEM : VK_OK;
}

static int s_user_grants(struct vk_store *s, struct vk_arena *a, const char *user_id, int64_t now,
                         struct vk_user_grant_list *out)
{
    CONN_OR_FAIL(s, c);
    out->v = NULL;
    out->n = 0;
    sqlite3_stmt *st = sq_stmt(c, S_ACCOUNT_GRANTS);
    if (st == NULL)
        return VK_ESTORE;
    sq_bind_text(st, 1, user_id);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int(st, 3, VK_STORE_ACCOUNT_GRANTS_MAX);
    int rc = sq_get_all(st, a, read_user_grant, sizeof *out->v, (void **)&out->v, &out->n);
    if (rc != VK_OK)
        out->n = 0;
    return rc;
}

static int read_consent(struct vk_arena *a, sqlite3_stmt *st, void *row)
{
    struct vk_consent *k = row;
    int oom = 0;
    k->client_id = sq_col_text(a, st, 0, &oom);
    k->client_name = sq_col_text(a, st, 1, &oom);
    k->scope = sq_col_text(a, st, 2, &oom);
    k->created_at = sqlite3_column_int64(st, 3);
    return oom ? VK_ENOMEM : VK_OK;
}

static int s_consent_list(struct vk_store *s, struct vk_arena *a, const char *user_id,
                          struct vk_consent_list *out)
{
    CONN_OR_FAIL(s, c);
    out->v = NULL;
    out->n = 0;
    sqlite3_stmt *st = sq_stmt(c, S_ACCOUNT_CONSENTS);
    if (st == NULL)
        return VK_ESTORE;
    sq_bind_text(st, 1, user_id);
    int rc = sq_get_all(st, a, read_consent, sizeof *out->v, (void **)&out->v, &out->n);
    if (rc != VK_OK)
        out->n = 0;
    return rc;
}

/* Revokes the user's grants to one client, spends their pending codes and forgets the consent
 * (inside a transaction); *changed counts what was there to take back. */
static int user_client_revoke_tx(struct sq_conn *c, const char *user_id, const char *client_id,
                                 int64_t now, int *n_grants, int *changed)
{
    struct vk_arena a;
    vk_arena_init(&a, 4 * 1024 * 1024);
    const char **ids = NULL;
    size_t n = 0;
    *n_grants = 0;
    *changed = 0;
    sqlite3_stmt *st = sq_stmt(c, S_ACCOUNT_CLIENT_GRANTS);
    if (st == NULL) {
        vk_arena_clear(&a);
        return VK_ESTORE;
    }
    sq_bind_text(st, 1, user_id);
    sq_bind_text(st, 2, client_id);
    int rc = sq_get_all(st, &a, read_text0, sizeof *ids, (void **)&ids, &n);
    for (size_t i = 0; rc == VK_OK && i < n; i++)
        rc = grant_revoke_tx(c, ids[i], now);
    vk_arena_clear(&a);
    if (rc != VK_OK)
        return rc;
    *n_grants = (int)n;
    *changed = (int)n;
    /* A code issued before the removal and redeemed after it would start a new grant. */
    st = sq_stmt(c, S_ACCOUNT_CLIENT_CODES_SPEND);
    if (st == NULL)
        return VK_ESTORE;
    sqlite3_bind_int64(st, 1, now);
    sq_bind_text(st, 2, user_id);
    sq_bind_text(st, 3, client_id);
    rc = sq_step_done(st);
    if (rc != VK_OK)
        return rc;
    *changed += sqlite3_changes(c->db);
    st = sq_stmt(c, S_ACCOUNT_CONSENT_DELETE);
    if (st == NULL)
        return VK_ESTORE;
    sq_bind_text(st, 1, user_id);
    sq_bind_text(st, 2, client_id);
    rc = sq_step_done(st);
    if (rc == VK_OK)
        *changed += sqlite3_changes(c->db);
    return rc;
}

static int s_user_client_revoke(struct vk_store *s, const char *user_id, const char *client_id,
                                int64_t now, int *n_grants)
{
    CONN_OR_FAIL(s, c);
    int changed = 0;
    *n_grants = 0;
    if (user_id == NULL || client_id == NULL || user_id[0] == '\0')
        return VK_ENOTFOUND;
    int rc = sq_tx_begin(c);
    if (rc != VK_OK)
        return rc;
    rc = user_client_revoke_tx(c, user_id, client_id, now, n_grants, &changed);
    if (rc == VK_OK && changed == 0)
        rc = VK_ENOTFOUND; /* rolled back: nothing was there */
    rc = sq_tx_end(c, rc);
    if (rc != VK_OK)
        *n_grants = 0;
    return rc;
}

static int s_user_change_password(struct vk_store *s, struct vk_arena *a, const char *user_id,
                                  const char *old_hash, const char *new_hash,
                                  const uint8_t keep[VK_DIGEST_LEN], int64_t now,
                                  struct vk_handle_list *ended)
{
    CONN_OR_FAIL(s, c);
    ended->v = NULL;
    ended->n = 0;
    sqlite3_stmt *st = sq_stmt(c, S_ACCOUNT_CHANGE_PASSWORD);
    if (st == NULL)
        return VK_ESTORE;
    int rc = sq_tx_begin(c);
    if (rc != VK_OK)
        return rc;
    sq_bind_text(st, 1, new_hash);
    sqlite3_bind_int64(st, 2, now);
    sq_bind_text(st, 3, user_id);
    sq_bind_text(st, 4, old_hash);
    rc = sq_step_done(st);
    /* Changed meanwhile (another change, `user passwd`) or the user was removed: the other
     * change wins and nothing is written. */
    if (rc == VK_OK && sqlite3_changes(c->db) == 0)
        rc = VK_EEXIST;
    /* RFC 9700 §4.14.2: a password change revokes refresh tokens; as `user passwd`, everything
     * but the session the change was made from. */
    if (rc == VK_OK)
        rc = user_grants_revoke_tx(c, user_id, now);
    if (rc == VK_OK)
        rc = user_codes_spend_tx(c, user_id, now);
    if (rc == VK_OK)
        rc = sessions_end_others_tx(c, a, user_id, keep, ended);
    rc = sq_tx_end(c, rc);
    if (rc != VK_OK)
        ended->n = 0;
    return rc;
}

const struct vk_store_ops vk_store_sqlite = {
    .name = "sqlite",
    .open = s_open,
    .close = s_close,
    .client_put = s_client_put,
    .client_get = s_client_get,
    .client_list = s_client_list,
    .client_delete = s_client_delete,
    .client_set_secret = s_client_set_secret,
    .client_max_ttl = s_client_max_ttl,
    .clients_generation = s_clients_generation,
    .key_put = s_key_put,
    .key_list = s_key_list,
    .key_rotate = s_key_rotate,
    .key_rewrap = s_key_rewrap,
    .key_delete = s_key_delete,
    .key_ttl_raise = s_key_ttl_raise,
    .keys_generation = s_keys_generation,
    .token_revoke = s_token_revoke,
    .token_is_revoked = s_token_is_revoked,
    .purge_expired = s_purge_expired,
    .user_put = s_user_put,
    .user_get = s_user_get,
    .user_get_by_name = s_user_get_by_name,
    .user_list = s_user_list,
    .user_delete = s_user_delete,
    .user_set_password = s_user_set_password,
    .user_upgrade_hash = s_user_upgrade_hash,
    .session_put = s_session_put,
    .session_get = s_session_get,
    .session_delete = s_session_delete,
    .consent_get = s_consent_get,
    .consent_put = s_consent_put,
    .code_put = s_code_put,
    .code_get = s_code_get,
    .code_redeem = s_code_redeem,
    .grant_get = s_grant_get,
    .grant_revoke = s_grant_revoke,
    .refresh_get = s_refresh_get,
    .refresh_rotate = s_refresh_rotate,
    .secret_get_or_create = s_secret_get_or_create,
    .health = s_health,
    .session_list = s_session_list,
    .session_touch = s_session_touch,
    .session_end = s_session_end,
    .session_end_others = s_session_end_others,
    .user_grants = s_user_grants,
    .consent_list = s_consent_list,
    .user_client_revoke = s_user_client_revoke,
    .user_change_password = s_user_change_password,
};
