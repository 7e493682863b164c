/* Time. Protocol code (grant/, token/, verify/) never reads the clock: it takes `now`. */
#ifndef VK_BASE_CLOCK_H
#define VK_BASE_CLOCK_H

#include <stdint.h>

/* Seconds since the epoch (wall clock). */
int64_t vk_now(void);
/* Milliseconds since the epoch (wall clock). */
int64_t vk_now_ms(void);
/* Monotonic microseconds, for durations. */
int64_t vk_mono_us(void);

#endif
