/* Fuzz driver: one page of the revocation feed (src/verify/revfeed.c, vk_revfeed_apply_doc), as
 * the authorization server's GET /revocations would answer it (docs/revocations.md).
 *
 * Invariants, from verify.h and docs/revocations.md:
 *   - the result is VK_OK, VK_EINVAL, VK_ENOMEM or what the apply callback returned;
 *   - events reach the callback with a kind of jti, client or sub and a value of 1..255 bytes
 *     without NUL (order and the seq bound are checked through the resumed run below);
 *   - *next is the last applied seq (or `after` when none) on failure, and on VK_OK at least the
 *     last applied seq; *applied counts the callback's successes;
 *   - the same page applied again after a callback failure at event k resumes at event k: the
 *     two runs together apply exactly the events of one clean run, in order. */
#include <stdbool.h>
#include <string.h>

#include "verify/verify.h"

#include "fuzz_common.h"

#define AFTER 3
#define MAX_SEEN 1024

struct rec {
    size_t n;
    int kinds[MAX_SEEN];
    char values[MAX_SEEN][256];
    size_t fail_at; /* 1-based: that call fails with VK_ETOOBIG; 0: never */
    size_t calls;
};

static int record(void *arg, enum vk_revoke_kind kind, vk_str value, int64_t until)
{
    struct rec *r = arg;
    (void)until;
    r->calls++;
    CHECK(kind == VK_REVOKE_JTI || kind == VK_REVOKE_CLIENT || kind == VK_REVOKE_SUB);
    CHECKF(value.len >= 1 && value.len <= 255, "value of %zu bytes", value.len);
    CHECK(memchr(value.p, 0, value.len) == NULL);
    if (r->fail_at != 0 && r->calls == r->fail_at)
        return VK_ETOOBIG;
    if (r->n < MAX_SEEN) {
        r->kinds[r->n] = (int)kind;
        memcpy(r->values[r->n], value.p, value.len);
        r->values[r->n][value.len] = '\0';
    }
    r->n++;
    return VK_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rec clean, first, second;
    const char *doc = (const char *)data;
    uint64_t next = 0, next2 = 0;
    size_t applied = 0, applied2 = 0;

    memset(&clean, 0, sizeof clean);
    int rc = vk_revfeed_apply_doc(doc, size, AFTER, record, &clean, &next, &applied);
    /* The callback never fails in this run: nothing but the page's own verdict comes back. */
    CHECKF(rc == VK_OK || rc == VK_EINVAL || rc == VK_ENOMEM, "unexpected return code %d", rc);
    CHECK(applied == clean.n);
    if (rc != VK_OK)
        CHECK(applied == 0 ? next == AFTER : next > AFTER);
    else
        CHECK(applied == 0 || next > AFTER);
    if (clean.n == 0 || clean.n > MAX_SEEN)
        return 0;

    /* Fail at the middle event, then resume from where it stopped. */
    memset(&first, 0, sizeof first);
    first.fail_at = clean.n / 2 + 1;
    int rc1 = vk_revfeed_apply_doc(doc, size, AFTER, record, &first, &next, &applied);
    CHECK(rc1 == VK_ETOOBIG);
    CHECK(applied == first.n && first.n == clean.n / 2);
    memset(&second, 0, sizeof second);
    int rc2 = vk_revfeed_apply_doc(doc, size, next, record, &second, &next2, &applied2);
    CHECKF(rc2 == rc, "resumed run: %d, clean run: %d", rc2, rc);
    CHECK(first.n + second.n == clean.n);
    for (size_t i = 0; i < clean.n; i++) {
        const struct rec *r = i < first.n ? &first : &second;
        size_t j = i < first.n ? i : i - first.n;
        CHECK(r->kinds[j] == clean.kinds[i]);
        CHECK(strcmp(r->values[j], clean.values[i]) == 0);
    }
    return 0;
}
