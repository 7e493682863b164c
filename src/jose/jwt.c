/* JWT claim checks on an already verified JWS (RFC 7519 §4.1, §7.2; RFC 9068 §4). The clock is
 * a parameter: this file never reads the time. */
#include "jose/jose.h"

#include <stdint.h>

#define NUMERIC_DATE_MAX 253402300799.0 /* 9999-12-31T23:59:59Z: beyond it is not a date */

enum rounding { ROUND_DOWN, ROUND_UP };

/* RFC 7519 §2 NumericDate: a JSON number of seconds, possibly with a fraction. A fraction is
 * rounded towards the stricter side: exp down, nbf and iat up. VK_ENOTFOUND when absent. */
static int numeric_date(const json_t *claims, const char *name, enum rounding r, int64_t *out)
{
    const json_t *v = json_object_get(claims, name);
    double d;
    int64_t t;

    *out = 0;
    if (v == NULL)
        return VK_ENOTFOUND;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return VK_OK;
    }
    if (!json_is_real(v))
        return VK_EINVAL;
    d = json_real_value(v);
    if (!(d >= -NUMERIC_DATE_MAX && d <= NUMERIC_DATE_MAX)) /* also false for NaN */
        return VK_EINVAL;
    t = (int64_t)d; /* truncates towards zero */
    if (r == ROUND_DOWN && (double)t > d)
        t--;
    if (r == ROUND_UP && (double)t < d)
        t++;
    *out = t;
    return VK_OK;
}

/* RFC 7515 §4.1.9: "application/" may be omitted from typ, and media types compare
 * case-insensitively (RFC 2045 §5.1). Returns the part after a leading "application/". */
static vk_str short_media_type(vk_str t)
{
    static const char prefix[] = "application/";
    vk_str head = {t.p, sizeof prefix - 1};
    if (t.len > head.len && vk_str_eq_nocase_lit(head, prefix))
        return (vk_str){t.p + head.len, t.len - head.len};
    return t;
}

static bool typ_matches(const json_t *header, const char *expected)
{
    const json_t *v = json_object_get(header, "typ");
    vk_str want = short_media_type(vk_str_c(expected));
    vk_str got;

    if (!json_is_string(v))
        return false;
    got = short_media_type((vk_str){json_string_value(v), json_string_length(v)});
    /* want is a suffix of the NUL-terminated expected, so it is NUL-terminated too. */
    return vk_str_eq_nocase_lit(got, want.p);
}

bool vk_jwt_typ_is(const json_t *header, const char *expected_typ)
{
    return header != NULL && expected_typ != NULL && typ_matches(header, expected_typ);
}

int vk_jwt_check(const struct vk_jws *j, int64_t now, int64_t leeway, const char *expected_typ,
                 const char *iss, struct vk_err *err)
{
    const json_t *v;
    int64_t exp, nbf, iat, earliest, latest;
    int rc;

    if (j == NULL || !json_is_object(j->header) || !json_is_object(j->payload))
        return vk_err_set(err, VK_EINVAL, "jwt: not a verified JWS with a claims object");
    if (leeway < 0 || __builtin_sub_overflow(now, leeway, &earliest) ||
        __builtin_add_overflow(now, leeway, &latest))
        return vk_err_set(err, VK_EINVAL, "jwt: bad clock or leeway");

    /* RFC 9068 §4 (and RFC 8725 §3.11): explicit typing keeps one kind of JWT from being
     * accepted as another. */
    if (expected_typ != NULL && !typ_matches(j->header, expected_typ))
        return vk_err_set(err, VK_EINVAL, "jwt: typ is not %s", expected_typ);
    /* RFC 7519 §4.1.1: iss is a case-sensitive string; compared exactly, NUL bytes included. */
    if (iss != NULL) {
        v = json_object_get(j->payload, "iss");
        if (!json_is_string(v) ||
            !vk_str_eq((vk_str){json_string_value(v), json_string_length(v)}, vk_str_c(iss)))
            return vk_err_set(err, VK_EINVAL, "jwt: iss does not match");
    }

    rc = numeric_date(j->payload, "exp", ROUND_DOWN, &exp);
    if (rc != VK_OK)
        return vk_err_set(err, VK_EINVAL, "jwt: exp missing or not a NumericDate");
    rc = numeric_date(j->payload, "nbf", ROUND_UP, &nbf);
    if (rc == VK_EINVAL)
        return vk_err_set(err, VK_EINVAL, "jwt: nbf is not a NumericDate");
    if (rc == VK_ENOTFOUND)
        nbf = INT64_MIN;
    rc = numeric_date(j->payload, "iat", ROUND_UP, &iat);
    if (rc == VK_EINVAL)
        return vk_err_set(err, VK_EINVAL, "jwt: iat is not a NumericDate");
    if (rc == VK_ENOTFOUND)
        iat = INT64_MIN;

    /* RFC 7519 §4.1.4: the current time MUST be before exp (allowing for clock skew). */
    if (exp <= earliest)
        return vk_err_set(err, VK_EEXPIRED, "jwt: expired");
    /* RFC 7519 §4.1.5: not before nbf. */
    if (nbf > latest)
        return vk_err_set(err, VK_EEXPIRED, "jwt: not valid yet (nbf)");
    /* RFC 7519 §4.1.6: a token issued in the future is not "valid but early", it is bogus. */
    if (iat > latest)
        return vk_err_set(err, VK_EINVAL, "jwt: issued in the future (iat)");
    return VK_OK;
}
