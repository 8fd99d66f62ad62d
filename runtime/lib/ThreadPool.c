/*===- ThreadPool.c - A fixed pool of pthreads for parallel loops -*- C -*-===//
 *
 * seqrt_parallel_for publishes a job (on the caller's stack) to a shared
 * queue, lets the workers claim chunks of it, claims chunks itself, then
 * waits for the chunks others are running. Because a caller never waits for
 * a chunk nobody has started, and chunks a thread waits for were claimed
 * before the job that thread waits on was created, nested and concurrent
 * calls cannot deadlock. One mutex guards the queue: chunks are few (one
 * per thread), so it is never hot.
 *
 *===----------------------------------------------------------------------===*/

#include "Internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct Job {
  void (*fn)(void *, int64_t, int64_t);
  void *ctx;
  int64_t n;
  int64_t nChunks;
  int64_t nextChunk; /* guarded by pool.mutex */
  int64_t finished;  /* guarded by pool.mutex */
  pthread_cond_t done;
  struct Job *next; /* in the queue while it has unclaimed chunks */
} Job;

static struct {
  pthread_mutex_t mutex;
  pthread_cond_t work;
  Job *head, *tail;
  int shutdown;
  pthread_t *workers;
  int nWorkers;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0,
          NULL, 0};

/* Threads including the caller; 0 until the pool exists. */
static atomic_int numThreads;
/* Serialises creating and destroying the pool. */
static pthread_mutex_t initMutex = PTHREAD_MUTEX_INITIALIZER;

static void chunkBounds(const Job *job, int64_t c, int64_t *begin,
                        int64_t *end) {
  int64_t q = job->n / job->nChunks, r = job->n % job->nChunks;
  *begin = c * q + (c < r ? c : r);
  *end = *begin + q + (c < r ? 1 : 0);
}

/* Claims the next chunk of `job`; pool.mutex held. */
static int64_t claimChunk(Job *job) {
  int64_t c = job->nextChunk++;
  if (job->nextChunk == job->nChunks) {
    /* Fully claimed: unlink it (it is the head: jobs are claimed in order
       by workers, but a caller may finish its own job while not at the
       head). */
    Job **link = &pool.head;
    Job *prev = NULL;
    while (*link != job) {
      prev = *link;
      link = &(*link)->next;
    }
    *link = job->next;
    if (pool.tail == job)
      pool.tail = prev;
    job->next = NULL;
  }
  return c;
}

/* Runs chunk c of `job` with pool.mutex released; held again on return. */
static void runChunk(Job *job, int64_t c) {
  int64_t begin, end;
  chunkBounds(job, c, &begin, &end);
  pthread_mutex_unlock(&pool.mutex);
  job->fn(job->ctx, begin, end);
  pthread_mutex_lock(&pool.mutex);
  if (++job->finished == job->nChunks)
    pthread_cond_signal(&job->done);
}

static void *workerMain(void *arg) {
  (void)arg;
  pthread_mutex_lock(&pool.mutex);
  while (!pool.shutdown) {
    Job *job = pool.head;
    if (!job) {
      pthread_cond_wait(&pool.work, &pool.mutex);
      continue;
    }
    runChunk(job, claimChunk(job));
  }
  pthread_mutex_unlock(&pool.mutex);
  return NULL;
}

static int defaultThreads(void) {
  const char *env = getenv("SEQRT_NUM_THREADS");
  if (env && *env) {
    char *end;
    long v = strtol(env, &end, 10);
    if (*end == '\0' && v > 0)
      return v > 1024 ? 1024 : (int)v;
  }
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  return cores > 0 ? (cores > 1024 ? 1024 : (int)cores) : 1;
}

/* initMutex held. */
static void destroyPool(void) {
  pthread_mutex_lock(&pool.mutex);
  pool.shutdown = 1;
  pthread_cond_broadcast(&pool.work);
  pthread_mutex_unlock(&pool.mutex);
  for (int i = 0; i < pool.nWorkers; ++i)
    pthread_join(pool.workers[i], NULL);
  free(pool.workers);
  pool.workers = NULL;
  pool.nWorkers = 0;
  pool.shutdown = 0;
  atomic_store(&numThreads, 0);
}

/* initMutex held. */
static seqrt_status createPool(int n) {
  if (n <= 0)
    n = defaultThreads();
  pool.workers = NULL;
  pool.nWorkers = 0;
  if (n > 1) {
    pool.workers = malloc(sizeof(pthread_t) * (size_t)(n - 1));
    if (!pool.workers) {
      atomic_store(&numThreads, 1);
      return seqrt_set_error(SEQRT_ERR_OUT_OF_MEMORY,
                             "cannot allocate a pool of %d threads", n);
    }
    for (int i = 0; i < n - 1; ++i) {
      if (pthread_create(&pool.workers[i], NULL, workerMain, NULL) != 0)
        break;
      ++pool.nWorkers;
    }
  }
  atomic_store(&numThreads, pool.nWorkers + 1);
  if (n > 1 && pool.nWorkers != n - 1)
    return seqrt_set_error(SEQRT_ERR_INTERNAL,
                           "started only %d of %d threads", pool.nWorkers + 1,
                           n);
  return SEQRT_OK;
}

static int ensurePool(void) {
  int n = atomic_load(&numThreads);
  if (n > 0)
    return n;
  pthread_mutex_lock(&initMutex);
  if (atomic_load(&numThreads) == 0)
    createPool(0);
  pthread_mutex_unlock(&initMutex);
  return atomic_load(&numThreads);
}

seqrt_status seqrt_init_threads(int n) {
  pthread_mutex_lock(&initMutex);
  if (atomic_load(&numThreads) > 0)
    destroyPool();
  seqrt_status s = createPool(n);
  pthread_mutex_unlock(&initMutex);
  return s;
}

int seqrt_num_threads(void) { return ensurePool(); }

void seqrt_parallel_for(int64_t n, void (*fn)(void *, int64_t, int64_t),
                        void *ctx) {
  if (n <= 0 || !fn)
    return;
  int threads = ensurePool();
  if (n == 1 || threads <= 1) {
    fn(ctx, 0, n);
    return;
  }
  Job job;
  job.fn = fn;
  job.ctx = ctx;
  job.n = n;
  job.nChunks = n < threads ? n : threads;
  job.nextChunk = 0;
  job.finished = 0;
  job.next = NULL;
  pthread_cond_init(&job.done, NULL);

  pthread_mutex_lock(&pool.mutex);
  if (pool.tail)
    pool.tail->next = &job;
  else
    pool.head = &job;
  pool.tail = &job;
  pthread_cond_broadcast(&pool.work);
  while (job.nextChunk < job.nChunks)
    runChunk(&job, claimChunk(&job));
  while (job.finished < job.nChunks)
    pthread_cond_wait(&job.done, &pool.mutex);
  pthread_mutex_unlock(&pool.mutex);
  pthread_cond_destroy(&job.done);
}

/* Join the workers before the code they run is unmapped (dlclose, exit). */
__attribute__((destructor)) static void shutdownPool(void) {
  pthread_mutex_lock(&initMutex);
  if (atomic_load(&numThreads) > 0)
    destroyPool();
  pthread_mutex_unlock(&initMutex);
}
