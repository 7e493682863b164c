/* How many CPUs this process may run on. */
#ifndef VK_BASE_CPU_H
#define VK_BASE_CPU_H

/* The number of CPUs in the process's affinity mask (sched_getaffinity), which is what a
 * container's cpuset or `taskset` leaves us, not the machine's count; at least 1. Thread pools
 * size themselves from this: more busy threads than usable CPUs only adds context switches. */
unsigned vk_cpus_usable(void);

#endif
