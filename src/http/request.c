#include "http/request.h"

#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"

bool vk_request_header(const struct vk_request *rq, const char *name, vk_str *value)
{
    for (size_t i = 0; i < rq->n_headers; i++) {
        if (vk_str_eq_nocase_lit(rq->headers[i].name, name)) {
            *value = rq->headers[i].value;
            return true;
        }
    }
    *value = VK_STR_NULL;
    return false;
}

size_t vk_request_header_count(const struct vk_request *rq, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < rq->n_headers; i++)
        if (vk_str_eq_nocase_lit(rq->headers[i].name, name))
            n++;
    return n;
}

size_t vk_params_get(const struct vk_params *ps, const char *name, vk_str *value)
{
    size_t n = 0;
    *value = VK_STR_NULL;
    for (size_t i = 0; i < ps->n; i++) {
        if (ps->v[i].value.len == 0 || !vk_str_eq_lit(ps->v[i].name, name))
            continue;
        if (n == 0)
            *value = ps->v[i].value;
        n++;
    }
    return n;
}

static bool allowed(vk_str name, const char *const *list)
{
    for (; list != NULL && *list != NULL; list++)
        if (vk_str_eq_lit(name, *list))
            return true;
    return false;
}

bool vk_params_find_repeat(const struct vk_params *ps, const char *const *allowed_repeat,
                           vk_str *name)
{
    /* n is at most VK_MAX_PARAMS, so the quadratic scan is bounded (64*64). */
    for (size_t i = 0; i < ps->n; i++) {
        if (ps->v[i].value.len == 0 || allowed(ps->v[i].name, allowed_repeat))
            continue;
        for (size_t j = i + 1; j < ps->n; j++) {
            if (ps->v[j].value.len != 0 && vk_str_eq(ps->v[i].name, ps->v[j].name)) {
                *name = ps->v[i].name;
                return true;
            }
        }
    }
    return false;
}

int vk_response_header(struct vk_response *rs, struct vk_arena *a, const char *name,
                       const char *value)
{
    if (rs->n_headers >= VK_MAX_RESP_HEADERS)
        return VK_ETOOBIG;
    char *n = vk_arena_strdup(a, vk_str_c(name));
    char *v = vk_arena_strdup(a, vk_str_c(value));
    if (n == NULL || v == NULL)
        return VK_ENOMEM;
    rs->headers[rs->n_headers].name = vk_str_c(n);
    rs->headers[rs->n_headers].value = vk_str_c(v);
    rs->n_headers++;
    return VK_OK;
}

int vk_response_text(struct vk_response *rs, struct vk_arena *a, int status,
                     const char *content_type, const char *body, size_t len)
{
    (void)a;
    rs->status = status;
    rs->content_type = content_type;
    rs->body = body;
    rs->body_len = len;
    return VK_OK;
}

int vk_response_json(struct vk_response *rs, struct vk_arena *a, int status, const char *body,
                     size_t len)
{
    int rc = vk_response_header(rs, a, "Cache-Control", "no-store");
    if (rc == VK_OK)
        rc = vk_response_header(rs, a, "Pragma", "no-cache");
    if (rc != VK_OK)
        return rc;
    return vk_response_text(rs, a, status, "application/json", body, len);
}

char *vk_json_escape(struct vk_arena *a, vk_str s)
{
    struct vk_buf b;
    vk_buf_init(&b, 6 * s.len + 1);
    char *out = vk_buf_append_json(&b, s) == VK_OK ? vk_arena_strdup(a, vk_buf_str(&b)) : NULL;
    vk_buf_clear(&b);
    return out;
}

int vk_response_oauth_error(struct vk_response *rs, struct vk_arena *a, int status,
                            const char *error, const char *description)
{
    char *e = vk_json_escape(a, vk_str_c(error));
    char *d = vk_json_escape(a, vk_str_c(description != NULL ? description : ""));
    if (e == NULL || d == NULL)
        return VK_ENOMEM;
    char *body = description != NULL
                     ? vk_arena_printf(a, "{\"error\":\"%s\",\"error_description\":\"%s\"}", e, d)
                     : vk_arena_printf(a, "{\"error\":\"%s\"}", e);
    if (body == NULL)
        return VK_ENOMEM;
    return vk_response_json(rs, a, status, body, strlen(body));
}

void vk_response_defer(struct vk_response *rs, vk_deferred_fn fn, void *arg)
{
    rs->defer_fn = fn;
    rs->defer_arg = arg;
}

int vk_response_run_deferred(void *app, const struct vk_request *rq, struct vk_response *rs)
{
    vk_deferred_fn fn = rs->defer_fn;
    void *arg = rs->defer_arg;
    if (fn == NULL)
        return VK_OK;
    memset(rs, 0, sizeof *rs);
    int rc = fn(app, rq, rs, arg);
    rs->defer_fn = NULL; /* a deferral asked for by fn itself is not honoured */
    rs->defer_arg = NULL;
    return rc;
}
