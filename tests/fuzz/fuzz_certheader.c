/* Fuzz driver: a client certificate forwarded by a TLS-terminating proxy (RFC 8705 behind nginx),
 * from the header value to the checks that run on it: the percent-decoding and PEM decoding of
 * src/base/pem.c, then, on the DER, the name matching and validity of src/jose/x509.c (the
 * canonical RFC 4514 printing of any subject, every subjectAltName kind).
 *
 * Invariants:
 *   - the codes are documented ones; on VK_OK the DER is 1..VK_MAX_CERT_LEN bytes;
 *   - decoding is lossless: the DER written back as PEM (base64 in 64-column lines) and fully
 *     percent-encoded decodes to the same bytes, and so does the PEM with its line breaks as
 *     spaces (what older proxies send);
 *   - the header form and the PEM form agree: when the input has no '%', both decoders give the
 *     same answer;
 *   - a name never matches an empty or absent registration, and a certificate never matches a
 *     subject DN that is not in canonical form (a lower-case type). */
#include <stdbool.h>
#include <string.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/limits.h"
#include "base/pem.h"
#include "jose/x509.h"

#include "fuzz_common.h"

static size_t b64(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
        if ((o + 1) % 65 == 0)
            out[o++] = '\n';
    }
    return o;
}

static void roundtrip(struct vk_arena *a, vk_str der)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----\n", end[] = "\n-----END CERTIFICATE-----\n";
    size_t cap = sizeof begin + der.len / 3 * 4 + der.len / 48 + 16 + sizeof end;
    char *pem = vk_arena_alloc(a, cap);
    CHECK(pem != NULL);
    size_t n = 0;
    memcpy(pem, begin, sizeof begin - 1);
    n = sizeof begin - 1;
    n += b64((const uint8_t *)der.p, der.len, pem + n);
    memcpy(pem + n, end, sizeof end - 1);
    n += sizeof end - 1;
    vk_str back;
    CHECK(vk_pem_cert_decode(a, (vk_str){pem, n}, &back) == VK_OK);
    CHECK(back.len == der.len && memcmp(back.p, der.p, der.len) == 0);
    /* every byte escaped, as a proxy that escapes too much would send it */
    char *esc = vk_arena_alloc(a, 3 * n);
    CHECK(esc != NULL);
    for (size_t i = 0; i < n; i++) {
        static const char hex[] = "0123456789ABCDEF";
        esc[3 * i] = '%';
        esc[3 * i + 1] = hex[(uint8_t)pem[i] >> 4];
        esc[3 * i + 2] = hex[(uint8_t)pem[i] & 15];
    }
    CHECK(vk_pem_cert_from_header(a, (vk_str){esc, 3 * n}, &back) == VK_OK);
    CHECK(back.len == der.len && memcmp(back.p, der.p, der.len) == 0);
    for (size_t i = 0; i < n; i++)
        if (pem[i] == '\n')
            pem[i] = ' ';
    CHECK(vk_pem_cert_decode(a, (vk_str){pem, n}, &back) == VK_OK);
    CHECK(back.len == der.len && memcmp(back.p, der.p, der.len) == 0);
}

static void names(vk_str der)
{
    static const char *const probes[] = {"CN=client-a,OU=Payments,O=Example Corp,C=US",
                                         "client-a.example.com", "https://client-a.example.com/id",
                                         "192.0.2.7", "ops@example.com", "::1"};
    for (int k = VK_X509_SUBJECT_DN; k <= VK_X509_SAN_EMAIL; k++) {
        for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
            (void)vk_x509_name_matches(der, (enum vk_x509_name_kind)k, probes[i]);
        CHECK(!vk_x509_name_matches(der, (enum vk_x509_name_kind)k, ""));
        CHECK(!vk_x509_name_matches(der, (enum vk_x509_name_kind)k, NULL));
    }
    CHECK(!vk_x509_name_matches(der, VK_X509_SUBJECT_DN, "cn=client-a"));
    struct vk_err err = {{0}};
    int64_t until = 0;
    int rc = vk_x509_check_validity(der, 1796169600, &until, &err);
    CHECK(rc == VK_OK || rc == VK_EEXPIRED || rc == VK_EINVAL);
    char x5t[VK_X5T_LEN + 1];
    vk_x509_thumbprint(der, x5t);
    CHECK(strlen(x5t) == VK_X5T_LEN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vk_arena a;
    vk_str in = {(const char *)data, size}, der = {"x", 1}, der2 = {"y", 1};
    vk_arena_init(&a, VK_REQ_ARENA_CAP);
    int rc = vk_pem_cert_from_header(&a, in, &der);
    CHECKF(rc == VK_OK || rc == VK_EINVAL || rc == VK_ETOOBIG || rc == VK_ENOMEM, "code %d", rc);
    if (rc != VK_OK) {
        CHECK(der.len == 0);
    } else {
        CHECK(der.len > 0 && der.len <= VK_MAX_CERT_LEN);
        roundtrip(&a, der);
        names(der);
    }
    if (memchr(data, '%', size) == NULL) {
        int rc2 = vk_pem_cert_decode(&a, in, &der2);
        CHECKF(rc2 == rc || rc2 == VK_ENOMEM || rc == VK_ENOMEM ||
                   (rc == VK_ETOOBIG && size > 12 * VK_MAX_CERT_LEN),
               "header form %d, PEM form %d", rc, rc2);
        if (rc == VK_OK && rc2 == VK_OK)
            CHECK(der.len == der2.len && memcmp(der.p, der2.p, der.len) == 0);
    }
    vk_arena_clear(&a);
    return 0;
}
