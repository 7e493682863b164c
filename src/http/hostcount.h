/* Open connections per host (struct vk_host_key: an IPv4 address or an IPv6 /64), for the
 * per-address connection cap. A fixed-size open-addressing table with a random hash seed (the
 * keys are chosen by clients); an entry exists only while its count is above zero. Not
 * thread-safe: http/server.c holds its lock around every call. */
#ifndef VK_HTTP_HOSTCOUNT_H
#define VK_HTTP_HOSTCOUNT_H

#include <stddef.h>

#include "base/ip.h"

struct vk_hostcount;

/* A table for up to max_hosts distinct hosts at once. */
int vk_hostcount_new(size_t max_hosts, struct vk_hostcount **out);
void vk_hostcount_free(struct vk_hostcount *t);
/* Current count for k (0 when absent). */
unsigned vk_hostcount_get(const struct vk_hostcount *t, const struct vk_host_key *k);
/* Adds one for k. VK_ETOOBIG when k is new and max_hosts hosts are already present. */
int vk_hostcount_add(struct vk_hostcount *t, const struct vk_host_key *k);
/* Takes one away for k (absent: no-op); the entry goes when its count reaches zero. */
void vk_hostcount_sub(struct vk_hostcount *t, const struct vk_host_key *k);
/* Distinct hosts present. */
size_t vk_hostcount_hosts(const struct vk_hostcount *t);

#endif
