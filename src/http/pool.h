/* A small fixed pool of threads with a bounded queue, for work that must not run on a
 * libmicrohttpd worker thread (http/server.c runs handlers' deferred functions on it). Admission
 * is in two steps so a caller can prepare for the job (suspend a connection) only once a slot is
 * certain: vk_pool_reserve takes a slot or fails at once, vk_pool_submit uses it. */
#ifndef VK_HTTP_POOL_H
#define VK_HTTP_POOL_H

#include <stdbool.h>

typedef void (*vk_pool_fn)(void *arg);

struct vk_pool;

/* Starts `threads` threads (>= 1). At most threads + queue jobs are admitted at once (running or
 * waiting); more are refused by vk_pool_reserve. `run` is called on a pool thread for each job,
 * `cancel` (on the thread calling vk_pool_close) for each job still waiting when the pool is
 * closed. Signals should be blocked by the caller (threads inherit the mask). */
int vk_pool_start(unsigned threads, unsigned queue, vk_pool_fn run, vk_pool_fn cancel,
                  struct vk_pool **out);
/* Takes a slot for one job: false (at once, never blocking) when threads + queue jobs are already
 * admitted or the pool is closed. Thread-safe. */
bool vk_pool_reserve(struct vk_pool *p);
/* Queues a job in a slot taken by vk_pool_reserve. Thread-safe, never fails, never blocks on the
 * jobs. */
void vk_pool_submit(struct vk_pool *p, void *arg);
/* Refuses further reservations and calls `cancel` for every job not yet started (a reserved slot
 * not yet submitted is cancelled when it is submitted). Jobs already running finish. */
void vk_pool_close(struct vk_pool *p);
/* Jobs admitted and not yet finished (running, waiting or reserved). */
unsigned vk_pool_busy(struct vk_pool *p);
/* Closes the pool, waits for running jobs, joins the threads and frees. NULL ok. */
void vk_pool_stop(struct vk_pool *p);

#endif
