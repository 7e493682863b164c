/* CPU_COUNT and sched_getaffinity are GNU extensions. */
#define _GNU_SOURCE
#include "base/cpu.h"

#include <sched.h>
#include <unistd.h>

unsigned vk_cpus_usable(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return (unsigned)n;
    }
    /* More than CPU_SETSIZE (1024) CPUs, or no affinity support: fall back to the online count. */
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}
