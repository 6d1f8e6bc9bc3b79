/* Work inside another namespace; see namespace.h. */
#include "namespace.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
  const char *ns_path, *id;
  int nstype;
  void (*fn)(void *);
  void *arg;
  int error;
} job_t;

/* "net:[4026532001]" -> 4026532001, the namespace's inode; 0 when it is not of that form. */
static unsigned long long id_inode(const char *id) {
  const char *open = strchr(id, '[');
  return open != NULL ? strtoull(open + 1, NULL, 10) : 0;
}

static void *run(void *arg) {
  job_t *job = arg;
  int ns = open(job->ns_path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (ns < 0)
    job->error = errno == ENOENT ? ESRCH : errno;
  else if (job->id != NULL &&
           (fstat(ns, &st) != 0 || (unsigned long long)st.st_ino != id_inode(job->id)))
    job->error = ESRCH;
  else if (setns(ns, job->nstype) != 0)
    job->error = errno;
  else
    job->fn(job->arg);
  if (ns >= 0)
    close(ns);
  return NULL;
}

int namespace_run(const char *ns_path, const char *id, int nstype, void (*fn)(void *arg),
                  void *arg) {
  job_t job = {ns_path, id, nstype, fn, arg, 0};
  pthread_t thread;
  int rc = pthread_create(&thread, NULL, run, &job);
  if (rc != 0)
    return rc;
  pthread_join(thread, NULL);
  return job.error;
}
