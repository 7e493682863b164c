#include "jose/x509.h"

#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "base/b64url.h"
#include "base/crypto.h"
#include "base/ip.h"
#include "base/limits.h"
#include "base/mem.h"
#include "jose/jose.h"

#define MAX_DN_LEN   2048 /* a canonical DN, registered or printed from a certificate */
#define MAX_RDNS     32   /* attribute-value pairs in one DN */
#define MAX_NAME_LEN 2048 /* a registered SAN value */
#define MAX_X5C      10   /* certificates in one x5c array */

void vk_x509_thumbprint(vk_str der, char out[VK_X5T_LEN + 1])
{
    uint8_t d[VK_DIGEST_LEN];
    vk_sha256(der.p, der.len, d);
    vk_b64url_encode(d, sizeof d, out);
}

/* ---- parsing ---- */

/* The whole input must be one certificate: no trailing bytes. NULL otherwise. */
static X509 *parse_der(vk_str der)
{
    const unsigned char *p = (const unsigned char *)der.p;
    if (der.p == NULL || der.len == 0 || der.len > VK_MAX_CERT_LEN)
        return NULL;
    X509 *x = d2i_X509(NULL, &p, (long)der.len);
    if (x != NULL && p != (const unsigned char *)der.p + der.len) {
        X509_free(x);
        x = NULL;
    }
    if (x == NULL)
        ERR_clear_error();
    return x;
}

/* ---- CAs and verification ---- */

struct vk_x509_ca {
    X509_STORE *store;
};

int vk_x509_ca_load(vk_str pem, struct vk_x509_ca **out, struct vk_err *err)
{
    struct vk_x509_ca *ca = NULL;
    BIO *bio = NULL;
    X509 *x;
    int n = 0, rc = VK_OK;
    *out = NULL;
    if (pem.len == 0 || pem.len > VK_MAX_PEM_FILE)
        return vk_err_set(err, VK_EINVAL, "the CA file is empty or too large");
    ca = vk_calloc(1, sizeof *ca);
    bio = BIO_new_mem_buf(pem.p, (int)pem.len);
    if (ca == NULL || bio == NULL || (ca->store = X509_STORE_new()) == NULL) {
        rc = vk_err_set(err, VK_ENOMEM, "out of memory");
        goto out;
    }
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        int ok = X509_STORE_add_cert(ca->store, x);
        X509_free(x);
        if (ok != 1) {
            rc = vk_err_set(err, VK_EINVAL, "certificate %d of the CA file cannot be added", n + 1);
            goto out;
        }
        n++;
    }
    /* PEM_read_bio_X509 ends with "no start line" at the end of the input: that is not an
     * error, anything else (a broken certificate) is. */
    unsigned long e = ERR_peek_last_error();
    if (n > 0 && e != 0 && ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
        rc = vk_err_set(err, VK_EINVAL, "certificate %d of the CA file does not parse", n + 1);
        goto out;
    }
    if (n == 0) {
        rc = vk_err_set(err, VK_EINVAL, "the CA file holds no PEM certificate");
        goto out;
    }
    *out = ca;
    ca = NULL;
out:
    ERR_clear_error();
    BIO_free(bio);
    vk_x509_ca_free(ca);
    return rc;
}

void vk_x509_ca_free(struct vk_x509_ca *ca)
{
    if (ca == NULL)
        return;
    X509_STORE_free(ca->store);
    vk_free(ca);
}

/* An ASN1_TIME as seconds since the epoch; INT64_MIN when it cannot be read. */
static int64_t time_of(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return INT64_MIN;
    return (int64_t)timegm(&tm);
}

int vk_x509_verify(const struct vk_x509_ca *ca, vk_str leaf, const vk_str *chain, size_t n_chain,
                   int64_t now, int64_t *not_after, struct vk_err *err)
{
    X509 *x = NULL;
    STACK_OF(X509) *untrusted = NULL;
    X509_STORE_CTX *ctx = NULL;
    int rc = VK_EINVAL;
    if (ca == NULL)
        return vk_err_set(err, VK_EINVAL, "no client CA is configured");
    x = parse_der(leaf);
    if (x == NULL)
        return vk_err_set(err, VK_EINVAL, "not an X.509 certificate");
    untrusted = sk_X509_new_null();
    ctx = X509_STORE_CTX_new();
    if (untrusted == NULL || ctx == NULL) {
        rc = vk_err_set(err, VK_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_chain; i++) {
        X509 *c = parse_der(chain[i]);
        if (c == NULL || sk_X509_push(untrusted, c) <= 0) {
            X509_free(c);
            rc = vk_err_set(err, VK_EINVAL, "an intermediate certificate does not parse");
            goto out;
        }
    }
    if (X509_STORE_CTX_init(ctx, ca->store, x, untrusted) != 1) {
        rc = vk_err_set(err, VK_ENOMEM, "out of memory");
        goto out;
    }
    X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(p, (time_t)now);
    /* A CA the operator names may be an intermediate: it is trusted as such, without its
     * root. The leaf must be fit for TLS client authentication (key usage, EKU clientAuth). */
    X509_VERIFY_PARAM_set_flags(p, X509_V_FLAG_PARTIAL_CHAIN);
    X509_VERIFY_PARAM_set_purpose(p, X509_PURPOSE_SSL_CLIENT);
    if (X509_verify_cert(ctx) == 1) {
        STACK_OF(X509) *path = X509_STORE_CTX_get0_chain(ctx);
        int64_t end = INT64_MAX;
        for (int i = 0; i < sk_X509_num(path); i++) {
            int64_t t = time_of(X509_get0_notAfter(sk_X509_value(path, i)));
            if (t < end)
                end = t;
        }
        if (not_after != NULL)
            *not_after = end;
        rc = VK_OK;
        goto out;
    }
    int e = X509_STORE_CTX_get_error(ctx);
    int depth = X509_STORE_CTX_get_error_depth(ctx);
    if (depth == 0 && (e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID))
        rc = vk_err_set(err, VK_EEXPIRED, "certificate %s",
                        e == X509_V_ERR_CERT_HAS_EXPIRED ? "expired" : "not yet valid");
    else
        rc = vk_err_set(err, VK_EINVAL, "certificate not accepted (depth %d: %s)", depth,
                        X509_verify_cert_error_string(e));
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    sk_X509_pop_free(untrusted, X509_free);
    X509_free(x);
    return rc;
}

int vk_x509_check_validity(vk_str der, int64_t now, int64_t *not_after, struct vk_err *err)
{
    X509 *x = parse_der(der);
    time_t t = (time_t)now;
    int rc = VK_OK;
    if (x == NULL)
        return vk_err_set(err, VK_EINVAL, "not an X.509 certificate");
    /* X509_cmp_time: -1 when the time in the certificate is before t, 1 after, 0 on error. */
    int nb = X509_cmp_time(X509_get0_notBefore(x), &t);
    int na = X509_cmp_time(X509_get0_notAfter(x), &t);
    if (nb == 0 || na == 0)
        rc = vk_err_set(err, VK_EINVAL, "malformed validity period");
    else if (nb > 0)
        rc = vk_err_set(err, VK_EEXPIRED, "certificate not yet valid");
    else if (na < 0)
        rc = vk_err_set(err, VK_EEXPIRED, "certificate expired");
    if (rc == VK_OK && not_after != NULL)
        *not_after = time_of(X509_get0_notAfter(x));
    X509_free(x);
    return rc;
}

/* ---- names (RFC 8705 §2.1.2) ---- */

const char *vk_x509_name_kind_str(enum vk_x509_name_kind k)
{
    switch (k) {
    case VK_X509_SUBJECT_DN:
        return "subject_dn";
    case VK_X509_SAN_DNS:
        return "san_dns";
    case VK_X509_SAN_URI:
        return "san_uri";
    case VK_X509_SAN_IP:
        return "san_ip";
    case VK_X509_SAN_EMAIL:
        return "san_email";
    case VK_X509_NONE:
        break;
    }
    return "";
}

enum vk_x509_name_kind vk_x509_name_kind_from_str(const char *s)
{
    for (int k = VK_X509_SUBJECT_DN; s != NULL && k <= VK_X509_SAN_EMAIL; k++)
        if (strcmp(s, vk_x509_name_kind_str((enum vk_x509_name_kind)k)) == 0)
            return (enum vk_x509_name_kind)k;
    return VK_X509_NONE;
}

/* A growing canonical string with a hard cap. */
struct sbuf {
    char *p;
    size_t n, cap;
    bool over;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->over || n >= b->cap - b->n) {
        b->over = true;
        return;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

/* RFC 4514 §2.4: the value with ',', '+', '"', '\', '<', '>', ';' escaped, a leading '#' or
 * space and a trailing space escaped, and control characters as \XX (so the canonical string
 * never holds a control character). */
static void put_value(struct sbuf *b, const unsigned char *v, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = v[i];
        char e[3] = {'\\', (char)c, 0};
        if (c < 0x20 || c == 0x7f) {
            char h[3] = {'\\', hex[c >> 4], hex[c & 15]};
            sb_put(b, h, 3);
        } else if (strchr(",+\"\\<>;", c) != NULL || (i == 0 && (c == '#' || c == ' ')) ||
                   (i == n - 1 && c == ' ')) {
            sb_put(b, e, 2);
        } else {
            sb_put(b, (const char *)&c, 1);
        }
    }
}

/* The type as the canonical form writes it: OpenSSL's short name, or the dotted OID. */
static void put_type(struct sbuf *b, const ASN1_OBJECT *obj)
{
    char buf[128];
    int nid = OBJ_obj2nid(obj);
    const char *sn = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;
    if (sn != NULL) {
        sb_put(b, sn, strlen(sn));
        return;
    }
    int n = OBJ_obj2txt(buf, sizeof buf, obj, 1);
    if (n <= 0 || (size_t)n >= sizeof buf)
        b->over = true;
    else
        sb_put(b, buf, (size_t)n);
}

/* RFC 4514 order: the last RDN of the DER sequence first. */
static bool name_canonical(const X509_NAME *name, char *out, size_t cap)
{
    struct sbuf b = {out, 0, cap, false};
    out[0] = '\0';
    int cnt = X509_NAME_entry_count(name);
    int prev_set = -1;
    for (int i = cnt - 1; i >= 0; i--) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        int set = X509_NAME_ENTRY_set(e);
        if (i != cnt - 1)
            sb_put(&b, set == prev_set ? "+" : ",", 1);
        prev_set = set;
        put_type(&b, X509_NAME_ENTRY_get_object(e));
        sb_put(&b, "=", 1);
        unsigned char *u = NULL;
        int n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(e));
        if (n < 0) {
            b.over = true;
        } else {
            put_value(&b, u, (size_t)n);
            OPENSSL_free(u);
        }
    }
    ERR_clear_error();
    return !b.over;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* An attribute type of a registered DN: a name OpenSSL knows (any case: "cn", "CN",
 * "commonName"), "E"/"EMAIL" for emailAddress, or a dotted OID. */
static ASN1_OBJECT *parse_type(const char *t)
{
    char up[64];
    size_t n = strlen(t);
    if (n == 0 || n >= sizeof up)
        return NULL;
    for (size_t i = 0; i < n; i++)
        up[i] = (t[i] >= 'a' && t[i] <= 'z') ? (char)(t[i] - 32) : t[i];
    up[n] = '\0';
    int nid = OBJ_sn2nid(up);
    if (nid == NID_undef)
        nid = OBJ_sn2nid(t);
    if (nid == NID_undef)
        nid = OBJ_ln2nid(t);
    if (nid == NID_undef && (strcmp(up, "E") == 0 || strcmp(up, "EMAIL") == 0))
        nid = NID_pkcs9_emailAddress;
    if (nid != NID_undef)
        return OBJ_dup(OBJ_nid2obj(nid));
    /* numericoid only: OBJ_txt2obj with no_name = 1 */
    for (size_t i = 0; i < n; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || t[i] == '.'))
            return NULL;
    ASN1_OBJECT *o = OBJ_txt2obj(t, 1);
    ERR_clear_error();
    return o;
}

/* Parses an RFC 4514 string into canonical form. Lenient about spaces around separators
 * (RFC 2253 writers put them there); strict about escapes; '#' hex-encoded values are refused
 * (they name the BER encoding, which a registration cannot sensibly give). */
static int dn_normalize(const char *in, char *out, size_t cap, struct vk_err *err)
{
    struct sbuf b = {out, 0, cap, false};
    size_t len = strlen(in), i = 0;
    int pairs = 0;
    out[0] = '\0';
    if (len == 0 || len > MAX_DN_LEN)
        return vk_err_set(err, VK_EINVAL, "the subject DN is empty or too long");
    while (i <= len) {
        char type[64], val[MAX_DN_LEN];
        size_t tn = 0, vn = 0, vend = 0;
        while (i < len && in[i] == ' ')
            i++;
        while (i < len && in[i] != '=' && tn + 1 < sizeof type)
            type[tn++] = in[i++];
        while (tn > 0 && type[tn - 1] == ' ')
            tn--;
        type[tn] = '\0';
        if (i >= len || in[i] != '=')
            return vk_err_set(err, VK_EINVAL, "subject DN: expected TYPE=value");
        i++;
        while (i < len && in[i] == ' ')
            i++;
        if (i < len && in[i] == '#')
            return vk_err_set(err, VK_EINVAL, "subject DN: #hex values are not supported");
        char sep = 0;
        while (i < len) {
            char c = in[i];
            if (c == ',' || c == '+' || c == ';') {
                sep = c == ';' ? ',' : c; /* RFC 2253 §4 allowed ';' */
                i++;
                break;
            }
            if (c == '\\') {
                if (i + 1 >= len)
                    return vk_err_set(err, VK_EINVAL, "subject DN: dangling backslash");
                int h = hexval(in[i + 1]), l = i + 2 < len ? hexval(in[i + 2]) : -1;
                if (h >= 0 && l >= 0) {
                    val[vn++] = (char)(h * 16 + l);
                    i += 3;
                } else if (strchr(",+\"\\<>;=# ", in[i + 1]) != NULL) {
                    val[vn++] = in[i + 1];
                    i += 2;
                } else {
                    return vk_err_set(err, VK_EINVAL, "subject DN: bad escape");
                }
                vend = vn; /* an escaped space is significant */
            } else {
                if (c == '"' || c == '<' || c == '>' || (unsigned char)c < 0x20)
                    return vk_err_set(err, VK_EINVAL,
                                      "subject DN: unescaped special character in a value");
                val[vn++] = c;
                if (c != ' ')
                    vend = vn;
                i++;
            }
            if (vn >= sizeof val - 1)
                return vk_err_set(err, VK_ETOOBIG, "subject DN: value too long");
        }
        vn = vend; /* unescaped trailing spaces are not part of the value */
        if (vn == 0)
            return vk_err_set(err, VK_EINVAL, "subject DN: empty value");
        ASN1_OBJECT *obj = parse_type(type);
        if (obj == NULL)
            return vk_err_set(err, VK_EINVAL, "subject DN: unknown attribute type '%.32s'", type);
        if (++pairs > MAX_RDNS) {
            ASN1_OBJECT_free(obj);
            return vk_err_set(err, VK_ETOOBIG, "subject DN: too many attributes");
        }
        put_type(&b, obj);
        ASN1_OBJECT_free(obj);
        sb_put(&b, "=", 1);
        put_value(&b, (const unsigned char *)val, vn);
        if (sep == 0)
            break;
        sb_put(&b, sep == '+' ? "+" : ",", 1);
        if (i >= len)
            return vk_err_set(err, VK_EINVAL, "subject DN: ends with a separator");
    }
    if (b.over)
        return vk_err_set(err, VK_ETOOBIG, "subject DN too long");
    if (!vk_str_is_utf8(vk_str_c(out)))
        return vk_err_set(err, VK_EINVAL, "subject DN: not UTF-8");
    return VK_OK;
}

int vk_x509_name_normalize(enum vk_x509_name_kind k, const char *in, char *out, size_t n,
                           struct vk_err *err)
{
    vk_str s = vk_str_c(in);
    struct vk_ip ip;
    if (n == 0)
        return VK_ETOOBIG;
    out[0] = '\0';
    switch (k) {
    case VK_X509_SUBJECT_DN:
        return dn_normalize(in, out, n, err);
    case VK_X509_SAN_IP:
        if (vk_ip_parse(s, &ip) != VK_OK)
            return vk_err_set(err, VK_EINVAL, "not an IPv4 or IPv6 address");
        if (inet_ntop(ip.family == 4 ? AF_INET : AF_INET6, ip.b, out, (socklen_t)n) == NULL)
            return VK_ETOOBIG;
        return VK_OK;
    case VK_X509_SAN_DNS:
    case VK_X509_SAN_URI:
    case VK_X509_SAN_EMAIL:
        if (s.len == 0 || s.len > MAX_NAME_LEN || !vk_str_is_visible_ascii(s, false))
            return vk_err_set(err, VK_EINVAL, "must be 1..%d visible ASCII characters",
                              MAX_NAME_LEN);
        if (k == VK_X509_SAN_EMAIL && memchr(s.p, '@', s.len) == NULL)
            return vk_err_set(err, VK_EINVAL, "not an email address");
        if (vk_strscpy(out, n, s) != VK_OK)
            return VK_ETOOBIG;
        if (k == VK_X509_SAN_DNS)
            for (char *p = out; *p != '\0'; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p + 32);
        return VK_OK;
    case VK_X509_NONE:
        break;
    }
    return vk_err_set(err, VK_EINVAL, "unknown kind of name");
}

static bool eq_nocase(const unsigned char *a, size_t an, const char *b)
{
    size_t bn = strlen(b);
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++) {
        unsigned char x = a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return false;
    }
    return true;
}

static bool san_matches(X509 *x, enum vk_x509_name_kind k, const char *reg)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    struct vk_ip want, got;
    bool found = false;
    if (gens == NULL) {
        ERR_clear_error();
        return false;
    }
    if (k == VK_X509_SAN_IP && vk_ip_parse(vk_str_c(reg), &want) != VK_OK) {
        GENERAL_NAMES_free(gens);
        return false;
    }
    for (int i = 0; i < sk_GENERAL_NAME_num(gens) && !found; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        const ASN1_STRING *v = NULL;
        if (k == VK_X509_SAN_DNS && g->type == GEN_DNS)
            v = g->d.dNSName;
        else if (k == VK_X509_SAN_URI && g->type == GEN_URI)
            v = g->d.uniformResourceIdentifier;
        else if (k == VK_X509_SAN_EMAIL && g->type == GEN_EMAIL)
            v = g->d.rfc822Name;
        else if (k == VK_X509_SAN_IP && g->type == GEN_IPADD)
            v = g->d.iPAddress;
        if (v == NULL)
            continue;
        const unsigned char *d = ASN1_STRING_get0_data(v);
        size_t n = (size_t)ASN1_STRING_length(v);
        if (k == VK_X509_SAN_IP) {
            if (n != 4 && n != 16)
                continue;
            vk_ip_from_bytes(&got, d, (unsigned)n);
            found = vk_ip_eq(&got, &want);
        } else if (k == VK_X509_SAN_DNS) {
            found = eq_nocase(d, n, reg); /* DNS names are case-insensitive (RFC 4343) */
        } else {
            /* by length first, so an entry with an embedded NUL never matches a prefix */
            found = n == strlen(reg) && memcmp(d, reg, n) == 0;
        }
    }
    GENERAL_NAMES_free(gens);
    return found;
}

bool vk_x509_name_matches(vk_str der, enum vk_x509_name_kind k, const char *registered)
{
    X509 *x;
    bool ok = false;
    if (registered == NULL || registered[0] == '\0' || k == VK_X509_NONE)
        return false;
    x = parse_der(der);
    if (x == NULL)
        return false;
    if (k == VK_X509_SUBJECT_DN) {
        char dn[MAX_DN_LEN * 3 + 1];
        ok = name_canonical(X509_get_subject_name(x), dn, sizeof dn) &&
             strcmp(dn, registered) == 0;
    } else {
        ok = san_matches(x, k, registered);
    }
    X509_free(x);
    return ok;
}

/* ---- JWK Sets with x5c (RFC 7517 §4.7, RFC 8705 §2.2) ---- */

static json_t *load_keys(vk_str jwks, json_t **root)
{
    json_error_t je;
    *root = NULL;
    if (jwks.len == 0 || jwks.len > VK_MAX_JSON_INPUT)
        return NULL;
    *root = json_loadb(jwks.p, jwks.len, JSON_REJECT_DUPLICATES, &je);
    json_t *keys = json_object_get(*root, "keys");
    return json_is_array(keys) && json_array_size(keys) <= VK_MAX_JWKS_KEYS ? keys : NULL;
}

/* The first certificate of a key's x5c (standard base64 DER, RFC 7517 §4.7), decoded into buf. */
static bool x5c_first(const json_t *key, uint8_t *buf, size_t cap, size_t *len)
{
    json_t *x5c = json_object_get(key, "x5c");
    json_t *first = json_array_get(x5c, 0);
    if (!json_is_array(x5c) || json_array_size(x5c) > MAX_X5C || !json_is_string(first))
        return false;
    vk_str s = {json_string_value(first), json_string_length(first)};
    return vk_b64_decode(s, buf, cap, len) == VK_OK && *len > 0;
}

bool vk_x509_jwks_contains(vk_str jwks, vk_str der)
{
    json_t *root, *key;
    size_t i;
    uint8_t want[VK_DIGEST_LEN], got[VK_DIGEST_LEN], buf[VK_MAX_CERT_LEN + 3];
    bool found = false;
    json_t *keys = load_keys(jwks, &root);
    vk_sha256(der.p, der.len, want);
    json_array_foreach(keys, i, key) {
        size_t n = 0;
        if (!x5c_first(key, buf, sizeof buf, &n))
            continue;
        vk_sha256(buf, n, got);
        found |= vk_ct_eq_digest(want, got); /* every key is looked at */
    }
    json_decref(root);
    return found;
}

/* The JOSE algorithm a certificate's key is used with here: ES256 for P-256, RS256 for RSA,
 * EdDSA for Ed25519. Anything else is not supported. */
static enum vk_alg alg_of(EVP_PKEY *pk)
{
    switch (EVP_PKEY_get_base_id(pk)) {
    case EVP_PKEY_EC:
        return VK_ALG_ES256; /* the curve is checked when the JWK is built */
    case EVP_PKEY_RSA:
        return VK_ALG_RS256;
    case EVP_PKEY_ED25519:
        return VK_ALG_EDDSA;
    default:
        return VK_ALG_INVALID;
    }
}

/* The certificate's public key as a JWK. */
static int cert_jwk(X509 *x, struct vk_jwk **out, struct vk_err *err)
{
    unsigned char *spki = NULL;
    EVP_PKEY *pk = X509_get0_pubkey(x);
    *out = NULL;
    if (pk == NULL || alg_of(pk) == VK_ALG_INVALID) {
        ERR_clear_error();
        return vk_err_set(err, VK_EINVAL, "the certificate's key is not P-256, RSA or Ed25519");
    }
    int n = i2d_PUBKEY(pk, &spki);
    if (n <= 0) {
        ERR_clear_error();
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    }
    int rc = vk_jwk_from_spki(alg_of(pk), (vk_str){(const char *)spki, (size_t)n}, out, err);
    OPENSSL_free(spki);
    return rc;
}

int vk_x509_jwks_check(vk_str jwks, struct vk_err *err)
{
    json_t *root, *key;
    size_t i;
    uint8_t buf[VK_MAX_CERT_LEN + 3];
    int rc = VK_OK;
    json_t *keys = load_keys(jwks, &root);
    if (keys == NULL || json_array_size(keys) == 0) {
        json_decref(root);
        return vk_err_set(err, VK_EINVAL, "not a JWK Set of 1..%d keys ({\"keys\":[...]})",
                          VK_MAX_JWKS_KEYS);
    }
    json_array_foreach(keys, i, key) {
        size_t n = 0;
        X509 *x = NULL;
        struct vk_jwk *from_cert = NULL, *from_json = NULL;
        char t1[44], t2[44];
        if (!x5c_first(key, buf, sizeof buf, &n) ||
            (x = parse_der((vk_str){(const char *)buf, n})) == NULL) {
            rc = vk_err_set(err, VK_EINVAL, "key %zu: no x5c with a certificate", i + 1);
        } else if (cert_jwk(x, &from_cert, err) != VK_OK) {
            rc = VK_EINVAL;
        } else if (vk_jwk_from_json(key, vk_jwk_alg(from_cert), &from_json, err) != VK_OK) {
            rc = VK_EINVAL;
        } else if (vk_jwk_thumbprint(from_cert, t1) != VK_OK ||
                   vk_jwk_thumbprint(from_json, t2) != VK_OK || strcmp(t1, t2) != 0) {
            rc = vk_err_set(err, VK_EINVAL,
                            "key %zu: the key in x5c differs from the JWK's (RFC 7517 §4.7)",
                            i + 1);
        }
        vk_jwk_free(from_cert);
        vk_jwk_free(from_json);
        X509_free(x);
        if (rc != VK_OK)
            break;
    }
    json_decref(root);
    return rc;
}

int vk_x509_jwk_from_pem(vk_str pem, json_t **out, struct vk_err *err)
{
    BIO *bio = NULL;
    X509 *x = NULL;
    struct vk_jwk *k = NULL;
    unsigned char *der = NULL;
    json_t *j = NULL;
    int rc;
    *out = NULL;
    if (pem.len == 0 || pem.len > VK_MAX_PEM_FILE)
        return vk_err_set(err, VK_EINVAL, "empty or oversized certificate file");
    bio = BIO_new_mem_buf(pem.p, (int)pem.len);
    if (bio == NULL)
        return vk_err_set(err, VK_ENOMEM, "out of memory");
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (x == NULL) {
        rc = vk_err_set(err, VK_EINVAL, "not a PEM certificate");
        goto out;
    }
    rc = cert_jwk(x, &k, err);
    if (rc != VK_OK)
        goto out;
    int n = i2d_X509(x, &der);
    char *b64 = n > 0 ? vk_malloc((size_t)n / 3 * 4 + 8) : NULL;
    j = vk_jwk_public_json(k);
    if (b64 == NULL || j == NULL) {
        vk_free(b64);
        rc = vk_err_set(err, VK_ENOMEM, "out of memory");
        goto out;
    }
    EVP_EncodeBlock((unsigned char *)b64, der, n); /* standard base64, padded (RFC 7517 §4.7) */
    json_t *x5c = json_array();
    json_array_append_new(x5c, json_string(b64));
    vk_free(b64);
    if (x5c == NULL || json_array_size(x5c) != 1 || json_object_set_new(j, "x5c", x5c) != 0) {
        rc = vk_err_set(err, VK_ENOMEM, "out of memory");
        goto out;
    }
    *out = j;
    j = NULL;
out:
    ERR_clear_error();
    json_decref(j);
    OPENSSL_free(der);
    vk_jwk_free(k);
    X509_free(x);
    BIO_free(bio);
    return rc;
}
