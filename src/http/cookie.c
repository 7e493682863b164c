#include "http/cookie.h"

#include <string.h>

#include "base/err.h"

bool vk_cookie_get(const struct vk_request *rq, const char *name, vk_str *value)
{
    size_t nl = strlen(name);
    *value = VK_STR_NULL;
    for (size_t h = 0; h < rq->n_headers; h++) {
        if (!vk_str_eq_nocase_lit(rq->headers[h].name, "cookie"))
            continue;
        vk_str rest = rq->headers[h].value, pair;
        while (vk_str_next_token(&rest, ';', &pair)) {
            while (pair.len > 0 && (pair.p[0] == ' ' || pair.p[0] == '\t')) {
                pair.p++;
                pair.len--;
            }
            if (pair.len > nl && memcmp(pair.p, name, nl) == 0 && pair.p[nl] == '=') {
                vk_str v = {pair.p + nl + 1, pair.len - nl - 1};
                while (v.len > 0 && (v.p[v.len - 1] == ' ' || v.p[v.len - 1] == '\t'))
                    v.len--;
                if (v.len >= 2 && v.p[0] == '"' && v.p[v.len - 1] == '"') {
                    v.p++;
                    v.len -= 2;
                }
                *value = v;
                return v.len > 0;
            }
        }
    }
    return false;
}

int vk_cookie_set(struct vk_response *rs, struct vk_arena *a, const char *name,
                  const char *value, long max_age, bool secure)
{
    char *h = max_age >= 0
                  ? vk_arena_printf(a, "%s=%s; Path=/; Max-Age=%ld; HttpOnly; SameSite=Lax%s", name,
                                    value, max_age, secure ? "; Secure" : "")
                  : vk_arena_printf(a, "%s=%s; Path=/; HttpOnly; SameSite=Lax%s", name, value,
                                    secure ? "; Secure" : "");
    if (h == NULL)
        return VK_ENOMEM;
    return vk_response_header(rs, a, "Set-Cookie", h);
}
