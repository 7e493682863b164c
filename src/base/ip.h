/* IP addresses as values: parsing, CIDR ranges, and the key by which connections from one host
 * are counted (an IPv4 address, or an IPv6 /64: one subscriber usually holds a whole /64, so
 * counting single IPv6 addresses would let one host have 2^64 of them). */
#ifndef VK_BASE_IP_H
#define VK_BASE_IP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/str.h"

struct vk_ip {
    uint8_t family; /* 4 or 6 (0: none) */
    uint8_t b[16];  /* network order; IPv4 uses b[0..3] */
};

struct vk_cidr {
    struct vk_ip ip; /* host bits cleared */
    unsigned bits;   /* prefix length */
};

/* The key connections are counted by (vk_ip_host_key). */
struct vk_host_key {
    uint8_t b[9]; /* b[0]: 4 or 6; then 4 address bytes, or the first 8 bytes (/64) */
};

/* Parses a textual IPv4 or IPv6 address. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the
 * IPv4 address: the same host must not be two hosts. VK_EINVAL on anything else. */
int vk_ip_parse(vk_str s, struct vk_ip *out);
/* Builds a vk_ip from raw bytes (4 or 16), mapping ::ffff:a.b.c.d to IPv4. */
void vk_ip_from_bytes(struct vk_ip *out, const uint8_t *bytes, unsigned len);
bool vk_ip_eq(const struct vk_ip *a, const struct vk_ip *b);
/* "ADDR" or "ADDR/BITS" (bits 0..32 or 0..128); host bits must be zero. VK_EINVAL otherwise. */
int vk_cidr_parse(vk_str s, struct vk_cidr *out);
bool vk_cidr_contains(const struct vk_cidr *c, const struct vk_ip *ip);
/* The per-host key: the IPv4 address, or the IPv6 address's /64. */
void vk_ip_host_key(const struct vk_ip *ip, struct vk_host_key *k);

#endif
