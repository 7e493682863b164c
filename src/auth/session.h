/* What the account page may know about a login session: a coarse description of the browser and
 * of the network it signs in from. Enough for a person to recognise their own devices ("Firefox on
 * Linux, 192.0.2.0/24") and to spot a stranger's; too little to track anyone, and nothing here is
 * a secret or the raw header. All functions are pure and thread-safe. */
#ifndef VK_AUTH_SESSION_H
#define VK_AUTH_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "base/str.h"

/* Room for any description vk_session_ua_family writes, with its NUL. */
#define VK_SESSION_UA_MAX 48
/* Room for any address vk_session_addr_coarse writes, with its NUL. */
#define VK_SESSION_ADDR_MAX 64

/* "last seen" is written at most once per this many seconds per session: a busy browser does not
 * turn every page into a database write, and the account page's "last seen" is this coarse. */
#define VK_SESSION_TOUCH_INTERVAL 300

/* The browser family and operating system named by a User-Agent header, as "Firefox on Linux",
 * "Chrome on Android", "Safari on iOS"; "Unknown browser" (and/or "unknown system") for anything
 * else, including an empty or absurdly long header. Only a fixed vocabulary is ever written: the
 * header itself never reaches the store or the page. out must hold VK_SESSION_UA_MAX bytes. */
void vk_session_ua_family(vk_str user_agent, char *out, size_t n);

/* The network of a client address: an IPv4 address truncated to its /24 ("192.0.2.0/24"), an
 * IPv6 address to its /48 ("2001:db8:1::/48"), an IPv4-mapped IPv6 address as IPv4. Anything that
 * does not parse as an address is "unknown". out must hold VK_SESSION_ADDR_MAX bytes. */
void vk_session_addr_coarse(const char *addr, char *out, size_t n);

#endif
