#include "base/ip.h"

#include <arpa/inet.h>
#include <string.h>

#include "base/err.h"

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void vk_ip_from_bytes(struct vk_ip *out, const uint8_t *bytes, unsigned len)
{
    memset(out, 0, sizeof *out);
    if (len == 4) {
        out->family = 4;
        memcpy(out->b, bytes, 4);
    } else if (len == 16 && memcmp(bytes, v4mapped, sizeof v4mapped) == 0) {
        out->family = 4;
        memcpy(out->b, bytes + 12, 4);
    } else if (len == 16) {
        out->family = 6;
        memcpy(out->b, bytes, 16);
    }
}

int vk_ip_parse(vk_str s, struct vk_ip *out)
{
    char buf[64];
    uint8_t raw[16];
    memset(out, 0, sizeof *out);
    if (s.len == 0 || s.len >= sizeof buf || memchr(s.p, '\0', s.len) != NULL)
        return VK_EINVAL;
    memcpy(buf, s.p, s.len);
    buf[s.len] = '\0';
    if (inet_pton(AF_INET, buf, raw) == 1)
        vk_ip_from_bytes(out, raw, 4);
    else if (inet_pton(AF_INET6, buf, raw) == 1)
        vk_ip_from_bytes(out, raw, 16);
    else
        return VK_EINVAL;
    return VK_OK;
}

bool vk_ip_eq(const struct vk_ip *a, const struct vk_ip *b)
{
    return a->family != 0 && a->family == b->family &&
           memcmp(a->b, b->b, a->family == 4 ? 4 : 16) == 0;
}

/* True when the first `bits` bits of a and b agree. */
static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

int vk_cidr_parse(vk_str s, struct vk_cidr *out)
{
    memset(out, 0, sizeof *out);
    const char *slash = memchr(s.p, '/', s.len);
    vk_str addr = slash != NULL ? (vk_str){s.p, (size_t)(slash - s.p)} : s;
    if (vk_ip_parse(addr, &out->ip) != VK_OK)
        return VK_EINVAL;
    unsigned max = out->ip.family == 4 ? 32 : 128;
    out->bits = max;
    if (slash != NULL) {
        uint64_t n;
        vk_str b = {slash + 1, s.len - (size_t)(slash + 1 - s.p)};
        if (vk_parse_u64(b, 0, max, &n) != VK_OK)
            return VK_EINVAL;
        out->bits = (unsigned)n;
    }
    /* A range written with host bits set (10.0.0.1/8) is most likely a typo for something else;
     * refuse it rather than guess. */
    uint8_t masked[16];
    memcpy(masked, out->ip.b, 16);
    for (unsigned i = out->bits; i < max; i++)
        masked[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
    if (memcmp(masked, out->ip.b, 16) != 0)
        return VK_EINVAL;
    return VK_OK;
}

bool vk_cidr_contains(const struct vk_cidr *c, const struct vk_ip *ip)
{
    return c->ip.family != 0 && c->ip.family == ip->family && prefix_eq(c->ip.b, ip->b, c->bits);
}

void vk_ip_host_key(const struct vk_ip *ip, struct vk_host_key *k)
{
    memset(k, 0, sizeof *k);
    k->b[0] = ip->family;
    memcpy(k->b + 1, ip->b, ip->family == 4 ? 4 : 8);
}
