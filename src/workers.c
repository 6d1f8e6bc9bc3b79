/* A pool's workers from /proc; see workers.h. */
#include "workers.h"

#include <stdlib.h>
#include <string.h>

void worker_cpu_free(worker_cpu_t *cpu) {
  free(cpu->seen);
  memset(cpu, 0, sizeof(*cpu));
}

/* Adds what a worker used since the previous read (all it used, when it is new) to the total,
 * and notes it for the next read in `next`. */
static void account_worker(const worker_cpu_t *prev, worker_cpu_t *next, pid_t pid,
                           const fpm_proc_usage_t *u) {
  double before = 0;
  for (size_t i = 0; i < prev->n; i++)
    if (prev->seen[i].pid == pid && prev->seen[i].start_ticks == u->start_ticks)
      before = prev->seen[i].cpu_seconds;
  if (u->cpu_seconds > before)
    next->total += u->cpu_seconds - before;
  if (next->n == next->cap) {
    size_t cap = next->cap ? next->cap * 2 : 8;
    struct worker_seen *grown = realloc(next->seen, cap * sizeof(*grown));
    if (grown == NULL)
      return; /* counted, not remembered: counted again as new next time, at worst */
    next->seen = grown;
    next->cap = cap;
  }
  next->seen[next->n++] = (struct worker_seen){pid, u->start_ticks, u->cpu_seconds};
}

static void add_worker(const worker_cpu_t *prev, worker_cpu_t *next, worker_usage_t *usage,
                       pid_t pid, const fpm_proc_usage_t *u) {
  usage->count++;
  usage->rss_bytes += (double)u->rss_bytes;
  account_worker(prev, next, pid, u);
}

/* The workers cpu saw last time that still run (the same process: same start time). */
static void known_workers(const char *proc_root, const worker_cpu_t *cpu, worker_cpu_t *next,
                          worker_usage_t *usage) {
  for (size_t w = 0; w < cpu->n; w++) {
    fpm_proc_usage_t u;
    if (fpm_proc_usage(proc_root, cpu->seen[w].pid, &u) == 0 &&
        u.start_ticks == cpu->seen[w].start_ticks)
      add_worker(cpu, next, usage, cpu->seen[w].pid, &u);
  }
}

static bool master_alive(const char *proc_root, const workers_of_t *pool) {
  fpm_proc_usage_t master;
  return pool->master_pid > 0 && fpm_proc_usage(proc_root, pool->master_pid, &master) == 0 &&
         master.start_ticks == pool->master_start;
}

void workers_usage(const char *proc_root, const workers_of_t *pools, size_t n,
                   const fpm_worker_t *walked, size_t n_walked, worker_cpu_t *const *cpu,
                   worker_usage_t *usage) {
  memset(usage, 0, n * sizeof(*usage));
  worker_cpu_t *next = calloc(n ? n : 1, sizeof(*next));
  if (next == NULL)
    return;
  for (size_t k = 0; k < n; k++) {
    next[k].total = cpu[k]->total;
    /* stopped (or its pid reused) since it was found: nothing here is the pool's any more */
    size_t j = 0;
    while (j < k && pools[j].master_pid != pools[k].master_pid)
      j++; /* one read of each master serves all its pools */
    usage[k].master_alive =
        j < k ? usage[j].master_alive && pools[j].master_start == pools[k].master_start
              : master_alive(proc_root, &pools[k]);
    if (usage[k].master_alive && walked == NULL)
      known_workers(proc_root, cpu[k], &next[k], &usage[k]);
  }
  for (size_t w = 0; w < n_walked && walked != NULL; w++) {
    fpm_proc_usage_t u;
    bool read = false;
    for (size_t k = 0; k < n; k++) {
      if (!usage[k].master_alive || pools[k].master_pid != walked[w].ppid ||
          strcmp(pools[k].pool, walked[w].pool) != 0)
        continue;
      if (!read && fpm_proc_usage(proc_root, walked[w].pid, &u) != 0)
        break; /* gone meanwhile */
      read = true;
      add_worker(cpu[k], &next[k], &usage[k], walked[w].pid, &u);
    }
  }
  for (size_t k = 0; k < n; k++) {
    worker_cpu_free(cpu[k]);
    *cpu[k] = next[k];
    usage[k].cpu_seconds = cpu[k]->total;
  }
  free(next);
}
