/* Coarse descriptions of a login session for the account page (auth/session.h). */
#include "auth/session.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* True when `lit` occurs in s (bounded: s is not NUL-terminated). */
static bool contains(vk_str s, const char *lit)
{
    size_t n = strlen(lit);
    if (n == 0 || s.len < n)
        return false;
    for (size_t i = 0; i + n <= s.len; i++) {
        if (s.p[i] == lit[0] && memcmp(s.p + i, lit, n) == 0)
            return true;
    }
    return false;
}

/* The first family whose marker occurs wins, so the order matters: Edge and Opera also say
 * "Chrome/", Chrome also says "Safari/", and every Chromium-based browser says "Chrome/". */
static const char *browser_of(vk_str ua)
{
    static const struct {
        const char *marker;
        const char *family;
    } browsers[] = {
        {"Edg/", "Edge"},           {"EdgA/", "Edge"},     {"EdgiOS/", "Edge"},
        {"OPR/", "Opera"},          {"SamsungBrowser/", "Samsung Internet"},
        {"Firefox/", "Firefox"},    {"FxiOS/", "Firefox"}, {"CriOS/", "Chrome"},
        {"Chromium/", "Chromium"},  {"Chrome/", "Chrome"}, {"curl/", "curl"},
    };
    for (size_t i = 0; i < sizeof browsers / sizeof browsers[0]; i++) {
        if (contains(ua, browsers[i].marker))
            return browsers[i].family;
    }
    if (contains(ua, "Safari/") && contains(ua, "Version/"))
        return "Safari";
    return NULL;
}

/* Android says "Linux" and iOS says "Mac OS X": the more specific ones come first. */
static const char *system_of(vk_str ua)
{
    static const struct {
        const char *marker;
        const char *system;
    } systems[] = {
        {"Windows", "Windows"}, {"Android", "Android"}, {"iPhone", "iOS"},
        {"iPad", "iPadOS"},     {"iPod", "iOS"},        {"CrOS", "ChromeOS"},
        {"Mac OS X", "macOS"},  {"Macintosh", "macOS"}, {"Linux", "Linux"},
        {"FreeBSD", "FreeBSD"}, {"OpenBSD", "OpenBSD"},
    };
    for (size_t i = 0; i < sizeof systems / sizeof systems[0]; i++) {
        if (contains(ua, systems[i].marker))
            return systems[i].system;
    }
    return NULL;
}

void vk_session_ua_family(vk_str user_agent, char *out, size_t n)
{
    const char *b = NULL, *s = NULL;
    if (n == 0)
        return;
    /* Longer than any real browser's: a made-up header gets no description at all. */
    if (user_agent.p != NULL && user_agent.len <= 1024) {
        b = browser_of(user_agent);
        s = system_of(user_agent);
    }
    if (b != NULL && s != NULL)
        snprintf(out, n, "%s on %s", b, s);
    else if (b != NULL)
        snprintf(out, n, "%s", b);
    else if (s != NULL)
        snprintf(out, n, "Unknown browser on %s", s);
    else
        snprintf(out, n, "Unknown browser");
}

void vk_session_addr_coarse(const char *addr, char *out, size_t n)
{
    struct in6_addr a6;
    struct in_addr a4;
    char buf[INET6_ADDRSTRLEN];
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (n == 0)
        return;
    snprintf(out, n, "unknown");
    if (addr == NULL)
        return;
    if (inet_pton(AF_INET6, addr, &a6) == 1) {
        if (memcmp(a6.s6_addr, mapped, sizeof mapped) != 0) {
            memset(a6.s6_addr + 6, 0, 10); /* the /48: a site, not a host */
            if (inet_ntop(AF_INET6, &a6, buf, sizeof buf) != NULL)
                snprintf(out, n, "%s/48", buf);
            return;
        }
        memcpy(&a4, a6.s6_addr + 12, 4);
    } else if (inet_pton(AF_INET, addr, &a4) != 1) {
        return;
    }
    uint8_t *b = (uint8_t *)&a4.s_addr;
    b[3] = 0; /* the /24 */
    if (inet_ntop(AF_INET, &a4, buf, sizeof buf) != NULL)
        snprintf(out, n, "%s/24", buf);
}
