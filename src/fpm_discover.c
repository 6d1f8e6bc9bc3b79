/* php-fpm masters and workers from /proc; see fpm_discover.h.
 *
 * php-fpm overwrites its argv (and the environment after it) with a title, so /proc/PID/cmdline
 * reads "php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)" or "php-fpm: pool www", padded
 * with NULs, and /proc/PID/environ reads NULs: a master's environment (for ${VAR} in its
 * configuration) cannot be recovered. The comm field stays the binary's name (php-fpm8.2,
 * php-fpm, php-fpm82...), so the titles are what identifies php-fpm. */
#include "fpm_discover.h"

#include "namespace.h"
#include "rooted.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define MASTER_PREFIX "php-fpm: master process ("
#define WORKER_PREFIX "php-fpm: pool "
#define CMDLINE_SIZE 4096
#define STAT_SIZE 2048

int fpm_parse_master_title(const char *cmdline, size_t len, char *path, size_t path_size,
                           bool *truncated) {
  size_t plen = strlen(MASTER_PREFIX);
  const char *nul = memchr(cmdline, '\0', len);
  size_t title_len = nul != NULL ? (size_t)(nul - cmdline) : len;
  *truncated = false;
  path[0] = '\0';
  if (title_len < plen || memcmp(cmdline, MASTER_PREFIX, plen) != 0)
    return 0;
  const char *start = cmdline + plen, *end = cmdline + title_len;
  /* The last ')': a path may hold one. */
  const char *close = end;
  while (close > start && close[-1] != ')')
    close--;
  if (close > start) {
    end = close - 1;
  } else {
    *truncated = true;
  }
  size_t n = (size_t)(end - start);
  if (n >= path_size) {
    n = path_size - 1;
    *truncated = true;
  }
  memcpy(path, start, n);
  path[n] = '\0';
  return 1;
}

int fpm_parse_worker_title(const char *cmdline, size_t len, char *pool, size_t pool_size) {
  size_t plen = strlen(WORKER_PREFIX);
  const char *nul = memchr(cmdline, '\0', len);
  size_t title_len = nul != NULL ? (size_t)(nul - cmdline) : len;
  if (title_len <= plen || memcmp(cmdline, WORKER_PREFIX, plen) != 0)
    return 0;
  size_t n = title_len - plen;
  if (n >= pool_size)
    n = pool_size - 1;
  memcpy(pool, cmdline + plen, n);
  pool[n] = '\0';
  return 1;
}

/* Up to size - 1 bytes of a small /proc file, NUL-terminated; -1 when it cannot be read. */
static ssize_t read_small(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  size_t got = 0;
  if (fd < 0)
    return -1;
  while (got < size - 1) {
    ssize_t r = read(fd, buf + got, size - 1 - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      close(fd);
      return -1;
    }
    if (r == 0)
      break;
    got += (size_t)r;
  }
  close(fd);
  buf[got] = '\0';
  return (ssize_t)got;
}

typedef struct {
  long long ppid;
  unsigned long long utime, stime, start, rss, arg_start;
} proc_stat_t;

/* /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces and ')', so fields are counted
 * from the last ')'. Field numbers as in proc(5). */
static int parse_stat(const char *buf, proc_stat_t *st) {
  const char *p = strrchr(buf, ')');
  memset(st, 0, sizeof(*st));
  if (p == NULL)
    return -1;
  p++;
  for (int field = 3; field <= 48; field++) {
    while (*p == ' ')
      p++;
    if (*p == '\0' || *p == '\n')
      return field > 24 ? 0 : -1; /* older kernels end before 48: arg_start stays 0 */
    char *end = NULL;
    unsigned long long v = 0;
    long long sv = 0;
    if (field == 4)
      sv = strtoll(p, &end, 10);
    else if (field != 3)
      v = strtoull(p, &end, 10);
    switch (field) {
    case 4:
      st->ppid = sv;
      break;
    case 14:
      st->utime = v;
      break;
    case 15:
      st->stime = v;
      break;
    case 22:
      st->start = v;
      break;
    case 24:
      st->rss = v;
      break;
    case 48:
      st->arg_start = v;
      break;
    default:
      break;
    }
    while (*p != '\0' && *p != ' ' && *p != '\n')
      p++;
  }
  return 0;
}

static int read_stat(const char *proc_root, pid_t pid, proc_stat_t *st) {
  char path[PATH_MAX], buf[STAT_SIZE];
  snprintf(path, sizeof(path), "%s/%d/stat", proc_root, (int)pid);
  if (read_small(path, buf, sizeof(buf)) <= 0)
    return -1;
  return parse_stat(buf, st);
}

static ssize_t read_cmdline(const char *proc_root, pid_t pid, char *buf, size_t size) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%d/cmdline", proc_root, (int)pid);
  return read_small(path, buf, size);
}

/* readlink(2) of proc_root/who/what, NUL-terminated; "" when unreadable. */
static void read_link(const char *proc_root, const char *who, const char *what, char *out,
                      size_t size) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s/%s", proc_root, who, what);
  ssize_t n = readlink(path, out, size - 1);
  out[n > 0 ? n : 0] = '\0';
}

static pid_t dir_pid(const struct dirent *de) {
  const char *s = de->d_name;
  if (s[0] < '1' || s[0] > '9' || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
    return 0;
  return (pid_t)strtol(s, NULL, 10);
}

static int cmp_master(const void *a, const void *b) {
  pid_t x = ((const fpm_master_t *)a)->pid, y = ((const fpm_master_t *)b)->pid;
  return (x > y) - (x < y);
}

static int cmp_worker(const void *a, const void *b) {
  pid_t x = ((const fpm_worker_t *)a)->pid, y = ((const fpm_worker_t *)b)->pid;
  return (x > y) - (x < y);
}

typedef struct {
  char *name;
  size_t size;
} uts_name_t;

static void read_uts_name(void *arg) {
  uts_name_t *out = arg;
  struct utsname u;
  if (uname(&u) == 0)
    snprintf(out->name, out->size, "%s", u.nodename);
}

static void nothing(void *arg) {
  (void)arg;
}

/* A container's host name: from its UTS namespace; without the privilege to enter it, from
 * /etc/hostname in its root, which Docker and Kubernetes write. */
static void container_hostname(const char *proc_root, const char *who, fpm_master_t *m) {
  struct stat st;
  char path[PATH_MAX];
  uts_name_t out = {m->hostname, sizeof(m->hostname)};
  m->hostname[0] = '\0';
  snprintf(path, sizeof(path), "%s/%s/ns/uts", proc_root, who);
  if (namespace_run(path, NULL, CLONE_NEWUTS, read_uts_name, &out) == 0 && m->hostname[0])
    return;
  snprintf(path, sizeof(path), "%s/%s/root", proc_root, who);
  int fd = rooted_open(path, "/etc/hostname", O_RDONLY | O_NONBLOCK | O_NOCTTY);
  bool regular = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  ssize_t n = regular ? read(fd, m->hostname, sizeof(m->hostname) - 1) : -1;
  if (fd >= 0)
    close(fd);
  m->hostname[n > 0 ? n : 0] = '\0';
  m->hostname[strcspn(m->hostname, "\r\n")] = '\0';
}

void fpm_master_namespaces(const char *proc_root, fpm_master_t *m) {
  char who[24];
  snprintf(who, sizeof(who), "%d", (int)m->pid);
  m->net_ns_error = 0;
  if (m->other_net_ns) { /* can we enter it? (CAP_SYS_ADMIN) */
    char ns_path[PATH_MAX];
    snprintf(ns_path, sizeof(ns_path), "%s/%s/ns/net", proc_root, who);
    m->net_ns_error = namespace_run(ns_path, m->net_ns, CLONE_NEWNET, nothing, NULL);
  }
  m->hostname[0] = '\0';
  if (m->other_uts_ns)
    container_hostname(proc_root, who, m);
}

/* Whether process who is in namespace what ("ns/net") of ours: 0 the same, 1 another (its link
 * in theirs, "net:[4026532001]"), -1 unknown (a link cannot be read). */
static int namespace_of(const char *proc_root, const char *who, const char *what, char *theirs,
                        size_t size) {
  char mine[128];
  read_link(proc_root, "self", what, mine, sizeof(mine));
  read_link(proc_root, who, what, theirs, size);
  if (mine[0] == '\0' || theirs[0] == '\0')
    return -1;
  return strcmp(mine, theirs) != 0;
}

static void fill_master(const char *proc_root, fpm_master_t *m) {
  char who[24], theirs[128], path[PATH_MAX];
  snprintf(who, sizeof(who), "%d", (int)m->pid);
  read_link(proc_root, who, "exe", m->exe, sizeof(m->exe));
  snprintf(path, sizeof(path), "%s/%d", proc_root, (int)m->pid);
  struct stat owner;
  m->uid_known = stat(path, &owner) == 0;
  m->uid = m->uid_known ? owner.st_uid : (uid_t)-1;

  int mnt = namespace_of(proc_root, who, "ns/mnt", theirs, sizeof(theirs));
  m->ns_known = mnt >= 0;
  m->same_mnt_ns = mnt == 0;
  m->other_net_ns = namespace_of(proc_root, who, "ns/net", theirs, sizeof(theirs)) == 1;
  snprintf(m->net_ns, sizeof(m->net_ns), "%s", m->other_net_ns ? theirs : "");
  m->other_uts_ns = namespace_of(proc_root, who, "ns/uts", theirs, sizeof(theirs)) == 1;

  /* php-fpm -y relative/path: relative to where the master was started (best effort: its cwd
   * now; php-fpm does not chdir before it has read the file, but may after). */
  if (m->conf_path[0] != '\0' && m->conf_path[0] != '/') {
    char cwd[512], joined[sizeof(m->conf_path)];
    read_link(proc_root, who, "cwd", cwd, sizeof(cwd));
    int n = snprintf(joined, sizeof(joined), "%s/%s", cwd, m->conf_path);
    if (cwd[0] == '/' && n > 0 && (size_t)n < sizeof(joined))
      memcpy(m->conf_path, joined, (size_t)n + 1);
  }

  /* Read through the master's root when we may (as root; a container's files are there), else
   * directly when it shares our mount namespace. */
  snprintf(m->root, sizeof(m->root), "%s/%d/root", proc_root, (int)m->pid);
  int n = snprintf(path, sizeof(path), "%s%s", m->root, m->conf_path);
  bool readable = n > 0 && (size_t)n < sizeof(path) && access(path, R_OK) == 0;
  if (!readable && m->same_mnt_ns)
    m->root[0] = '\0';
}

/* Makes room for one more element of a growing array; -1 when memory runs out (list intact). */
static int reserve_one(void **list, size_t count, size_t *cap, size_t elem_size) {
  if (count < *cap)
    return 0;
  size_t grown_cap = *cap == 0 ? 8 : *cap * 2;
  void *grown = realloc(*list, grown_cap * elem_size);
  if (grown == NULL)
    return -1;
  *list = grown;
  *cap = grown_cap;
  return 0;
}

int fpm_discover_masters(const char *proc_root, fpm_master_t **out, size_t *n, char *err,
                         size_t err_size) {
  *out = NULL;
  *n = 0;
  DIR *dir = opendir(proc_root);
  if (dir == NULL) {
    snprintf(err, err_size, "cannot read %s: %s", proc_root,
             strerror_r(errno, (char[128]){0}, 128));
    return -1;
  }
  fpm_master_t *list = NULL;
  size_t count = 0, cap = 0;
  const struct dirent *de;
  char cmdline[CMDLINE_SIZE];
  while ((de = readdir(dir)) != NULL) {
    pid_t pid = dir_pid(de);
    if (pid <= 0)
      continue;
    ssize_t len = read_cmdline(proc_root, pid, cmdline, sizeof(cmdline));
    fpm_master_t m;
    memset(&m, 0, sizeof(m));
    if (len <= 0 || fpm_parse_master_title(cmdline, (size_t)len, m.conf_path, sizeof(m.conf_path),
                                           &m.conf_truncated) != 1)
      continue;
    proc_stat_t st;
    if (read_stat(proc_root, pid, &st) != 0)
      continue; /* gone meanwhile */
    m.pid = pid;
    m.start_ticks = st.start;
    m.exec_cookie = st.arg_start;
    fill_master(proc_root, &m);
    if (reserve_one((void **)&list, count, &cap, sizeof(*list)) != 0) {
      snprintf(err, err_size, "out of memory");
      free(list);
      closedir(dir);
      return -1;
    }
    list[count++] = m;
  }
  closedir(dir);
  if (count > 1)
    qsort(list, count, sizeof(*list), cmp_master);
  *out = list;
  *n = count;
  return 0;
}

int fpm_discover_workers(const char *proc_root, pid_t master, const char *pool, fpm_worker_t **out,
                         size_t *n, char *err, size_t err_size) {
  *out = NULL;
  *n = 0;
  DIR *dir = opendir(proc_root);
  if (dir == NULL) {
    snprintf(err, err_size, "cannot read %s: %s", proc_root,
             strerror_r(errno, (char[128]){0}, 128));
    return -1;
  }
  fpm_worker_t *list = NULL;
  size_t count = 0, cap = 0;
  const struct dirent *de;
  char cmdline[CMDLINE_SIZE];
  while ((de = readdir(dir)) != NULL && count < FPM_DISCOVER_MAX_WORKERS) {
    pid_t pid = dir_pid(de);
    if (pid <= 0)
      continue;
    ssize_t len = read_cmdline(proc_root, pid, cmdline, sizeof(cmdline));
    fpm_worker_t w;
    memset(&w, 0, sizeof(w));
    if (len <= 0 || fpm_parse_worker_title(cmdline, (size_t)len, w.pool, sizeof(w.pool)) != 1)
      continue;
    if (pool != NULL && strcmp(pool, w.pool) != 0)
      continue;
    proc_stat_t st;
    if (read_stat(proc_root, pid, &st) != 0 || (master != 0 && st.ppid != (long long)master))
      continue;
    w.pid = pid;
    w.ppid = (pid_t)st.ppid;
    if (reserve_one((void **)&list, count, &cap, sizeof(*list)) != 0) {
      snprintf(err, err_size, "out of memory");
      free(list);
      closedir(dir);
      return -1;
    }
    list[count++] = w;
  }
  closedir(dir);
  if (count > 1)
    qsort(list, count, sizeof(*list), cmp_worker);
  *out = list;
  *n = count;
  return 0;
}

int fpm_proc_usage(const char *proc_root, pid_t pid, fpm_proc_usage_t *usage) {
  proc_stat_t st;
  memset(usage, 0, sizeof(*usage));
  if (read_stat(proc_root, pid, &st) != 0)
    return -1;
  long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
  usage->cpu_seconds = (double)(st.utime + st.stime) / (double)(ticks > 0 ? ticks : 100);
  usage->rss_bytes = (uint64_t)st.rss * (uint64_t)(page > 0 ? page : 4096);
  usage->start_ticks = st.start;
  return 0;
}
