#include "http/pool.h"

#include <pthread.h>
#include <stdlib.h>

#include "base/err.h"

struct vk_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    vk_pool_fn run;
    vk_pool_fn cancel;
    void **ring; /* waiting jobs; capacity = threads + queue (the admission bound) */
    unsigned cap;
    unsigned head;
    unsigned n_waiting;
    unsigned admitted; /* reserved + waiting + running */
    bool closed;
    bool exiting;
    unsigned n_threads;
    pthread_t *threads;
};

static void *worker(void *arg)
{
    struct vk_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->n_waiting == 0 && !p->exiting)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->n_waiting == 0)
            break; /* exiting and nothing left */
        void *job = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->n_waiting--;
        pthread_mutex_unlock(&p->mu);
        p->run(job);
        pthread_mutex_lock(&p->mu);
        p->admitted--;
        pthread_cond_broadcast(&p->cv); /* vk_pool_stop waits for admitted == 0 */
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int vk_pool_start(unsigned threads, unsigned queue, vk_pool_fn run, vk_pool_fn cancel,
                  struct vk_pool **out)
{
    *out = NULL;
    if (threads == 0 || threads > 1024 || queue > 65536)
        return VK_EINVAL;
    struct vk_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return VK_ENOMEM;
    p->cap = threads + queue;
    p->ring = calloc(p->cap, sizeof *p->ring);
    p->threads = calloc(threads, sizeof *p->threads);
    if (p->ring == NULL || p->threads == NULL) {
        free(p->ring);
        free(p->threads);
        free(p);
        return VK_ENOMEM;
    }
    p->run = run;
    p->cancel = cancel;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (; p->n_threads < threads; p->n_threads++) {
        if (pthread_create(&p->threads[p->n_threads], NULL, worker, p) != 0) {
            vk_pool_stop(p);
            return VK_ENOMEM;
        }
    }
    *out = p;
    return VK_OK;
}

bool vk_pool_reserve(struct vk_pool *p)
{
    bool ok;
    pthread_mutex_lock(&p->mu);
    ok = !p->closed && p->admitted < p->cap;
    if (ok)
        p->admitted++;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

void vk_pool_submit(struct vk_pool *p, void *arg)
{
    pthread_mutex_lock(&p->mu);
    if (p->closed) {
        /* Closed between reserve and submit: the job is answered like any other waiting one. */
        p->admitted--;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        p->cancel(arg);
        return;
    }
    /* admitted <= cap, so the ring (capacity cap) has room for every waiting job. */
    p->ring[(p->head + p->n_waiting) % p->cap] = arg;
    p->n_waiting++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void vk_pool_close(struct vk_pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->closed = true;
    while (p->n_waiting > 0) {
        void *job = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->n_waiting--;
        p->admitted--;
        pthread_mutex_unlock(&p->mu);
        p->cancel(job);
        pthread_mutex_lock(&p->mu);
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

unsigned vk_pool_busy(struct vk_pool *p)
{
    pthread_mutex_lock(&p->mu);
    unsigned n = p->admitted;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void vk_pool_stop(struct vk_pool *p)
{
    if (p == NULL)
        return;
    vk_pool_close(p);
    pthread_mutex_lock(&p->mu);
    p->exiting = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->ring);
    free(p->threads);
    free(p);
}
