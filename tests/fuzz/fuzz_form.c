/* Fuzz driver: application/x-www-form-urlencoded bodies and query strings (src/http/form.c),
 * the parser every OAuth endpoint runs on unauthenticated input.
 *
 * Besides crashes, it checks the contract in form.h and request.h against an independent,
 * deliberately naive reference parser written from the header comments alone:
 *   - the result is VK_OK exactly when the reference accepts the input, and then the decoded
 *     pairs are the same bytes in the same order;
 *   - on VK_OK: n <= VK_MAX_PARAMS, every name and value is at most VK_MAX_PARAM_LEN bytes and
 *     holds no NUL byte; on error the output is empty;
 *   - vk_params_get and vk_params_find_repeat agree with a direct scan;
 *   - vk_form_decode(vk_form_encode(x)) == x for every decoded name and value. */
#include <stdbool.h>
#include <string.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/limits.h"
#include "http/form.h"
#include "http/request.h"

#include "fuzz_common.h"

struct ref_pair {
    char name[VK_MAX_PARAM_LEN + 1], value[VK_MAX_PARAM_LEN + 1];
    size_t nlen, vlen;
};

static int hexdig(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes one component; false when the input must be rejected. */
static bool ref_decode(const uint8_t *p, size_t n, char *out, size_t *olen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = p[i];
        if (c == '%') {
            if (n - i < 3 || hexdig(p[i + 1]) < 0 || hexdig(p[i + 2]) < 0)
                return false;
            c = hexdig(p[i + 1]) * 16 + hexdig(p[i + 2]);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == 0 || o == VK_MAX_PARAM_LEN)
            return false;
        out[o++] = (char)c;
    }
    *olen = o;
    return true;
}

/* Splits on '&', skipping empty pairs; the name ends at the first '='. */
static bool ref_parse(const uint8_t *d, size_t size, struct ref_pair *pairs, size_t *np)
{
    size_t n = 0, i = 0;
    while (i < size) {
        size_t j = i;
        while (j < size && d[j] != '&')
            j++;
        if (j > i) {
            if (n == VK_MAX_PARAMS)
                return false;
            const uint8_t *eq = memchr(d + i, '=', j - i);
            size_t nend = eq != NULL ? (size_t)(eq - d) : j;
            if (!ref_decode(d + i, nend - i, pairs[n].name, &pairs[n].nlen))
                return false;
            if (eq != NULL) {
                if (!ref_decode(eq + 1, j - nend - 1, pairs[n].value, &pairs[n].vlen))
                    return false;
            } else {
                pairs[n].vlen = 0;
            }
            n++;
        }
        i = j + 1;
    }
    *np = n;
    return true;
}

static bool same(vk_str s, const char *p, size_t n)
{
    return s.len == n && (n == 0 || memcmp(s.p, p, n) == 0);
}

static void check_roundtrip(struct vk_arena *a, vk_str s)
{
    char *enc = vk_form_encode(a, s);
    CHECK(enc != NULL);
    vk_str back;
    int rc = vk_form_decode(a, vk_str_c(enc), &back);
    CHECKF(rc == VK_OK, "decode(encode(x)) failed with %d for a %zu-byte value", rc, s.len);
    CHECK(same(back, s.p, s.len));
}

static void check_lookups(const struct vk_params *ps)
{
    char name[VK_MAX_PARAM_LEN + 1];
    for (size_t i = 0; i < ps->n; i++) {
        /* vk_params_get takes a C string: names hold no NUL (checked by the caller). */
        memcpy(name, ps->v[i].name.p, ps->v[i].name.len);
        name[ps->v[i].name.len] = '\0';
        size_t want = 0, first = 0;
        for (size_t j = 0; j < ps->n; j++) {
            if (ps->v[j].value.len > 0 && vk_str_eq(ps->v[j].name, ps->v[i].name)) {
                if (want == 0)
                    first = j;
                want++;
            }
        }
        vk_str v;
        size_t got = vk_params_get(ps, name, &v);
        CHECKF(got == want, "vk_params_get counted %zu, expected %zu", got, want);
        if (want > 0)
            CHECK(v.p == ps->v[first].value.p && v.len == ps->v[first].value.len);
        else
            CHECK(v.len == 0);
    }

    /* With no exemptions, and then with the first name exempted (as "resource" is). */
    for (int pass = 0; pass < 2; pass++) {
        const char *allow[2] = {NULL, NULL};
        vk_str exempt = VK_STR_NULL;
        if (pass == 1) {
            if (ps->n == 0)
                break;
            memcpy(name, ps->v[0].name.p, ps->v[0].name.len);
            name[ps->v[0].name.len] = '\0';
            allow[0] = name;
            exempt = ps->v[0].name;
        }
        bool want = false;
        for (size_t i = 0; i < ps->n && !want; i++) {
            if (ps->v[i].value.len == 0 || (pass == 1 && vk_str_eq(ps->v[i].name, exempt)))
                continue;
            for (size_t j = i + 1; j < ps->n && !want; j++)
                want = ps->v[j].value.len > 0 && vk_str_eq(ps->v[i].name, ps->v[j].name);
        }
        vk_str rep = VK_STR_NULL;
        bool got = vk_params_find_repeat(ps, pass == 1 ? allow : NULL, &rep);
        CHECKF(got == want, "vk_params_find_repeat said %d, expected %d (pass %d)", got, want,
               pass);
        if (got)
            CHECK(pass == 0 || !vk_str_eq(rep, exempt));
    }
}

static struct ref_pair ref[VK_MAX_PARAMS];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vk_arena a;
    struct vk_params ps;
    size_t rn = 0;

    vk_arena_init(&a, VK_REQ_ARENA_CAP);
    int rc = vk_form_parse(&a, (vk_str){(const char *)data, size}, &ps);
    CHECKF(rc == VK_OK || rc == VK_EINVAL || rc == VK_ETOOBIG || rc == VK_ENOMEM,
           "unexpected return code %d", rc);
    bool ref_ok = ref_parse(data, size, ref, &rn);

    if (rc != VK_OK) {
        CHECK(ps.n == 0 && ps.v == NULL);
        /* Decoded copies take at most size + 2 bytes per pair: far below the arena cap. */
        CHECKF(rc != VK_ENOMEM || size > VK_REQ_ARENA_CAP / 4, "VK_ENOMEM for %zu bytes", size);
        CHECKF(!ref_ok || rc == VK_ENOMEM, "rejected (%d) input the reference accepts", rc);
        vk_arena_clear(&a);
        return 0;
    }
    CHECKF(ref_ok, "accepted input the reference rejects (%zu params)", ps.n);
    CHECK(ps.n <= VK_MAX_PARAMS);
    CHECKF(ps.n == rn, "%zu params, reference has %zu", ps.n, rn);
    CHECK(ps.n == 0 || ps.v != NULL);
    for (size_t i = 0; i < ps.n; i++) {
        vk_str n = ps.v[i].name, v = ps.v[i].value;
        CHECK(n.len <= VK_MAX_PARAM_LEN && v.len <= VK_MAX_PARAM_LEN);
        CHECK(n.len == 0 || (n.p != NULL && memchr(n.p, '\0', n.len) == NULL));
        CHECK(v.len == 0 || (v.p != NULL && memchr(v.p, '\0', v.len) == NULL));
        CHECKF(same(n, ref[i].name, ref[i].nlen), "name %zu differs from the reference", i);
        CHECKF(same(v, ref[i].value, ref[i].vlen), "value %zu differs from the reference", i);
        check_roundtrip(&a, n);
        check_roundtrip(&a, v);
    }
    check_lookups(&ps);
    vk_arena_clear(&a);
    return 0;
}
