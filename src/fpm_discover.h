/* php-fpm processes found in /proc: every master with its configuration path, a master's workers
 * per pool, and a process's CPU time and memory. Arrays returned are the caller's: free(3). */
#ifndef FCGX_FPM_DISCOVER_H
#define FCGX_FPM_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* No cap on masters: each is a process, so /proc bounds them (one per container on a busy node). */
#define FPM_DISCOVER_MAX_WORKERS 65536

typedef struct {
  pid_t pid;
  /* /proc/PID/stat field 22, clock ticks after boot: another value for the same pid is another
   * process (php-fpm was stopped and started). */
  unsigned long long start_ticks;
  /* stat field 48 (arg_start): moves on every execve, so it changes on a reload (SIGUSR2 makes
   * the master re-exec itself with the same pid and start time). 0 when the kernel hides it
   * (fields 45-51 need ptrace access: run as root) or ASLR is off. */
  unsigned long long exec_cookie;
  /* From the title "php-fpm: master process (PATH)", as the master sees it: its mount
   * namespace, and its working directory when relative. */
  char conf_path[1024];
  bool conf_truncated; /* the title was cut before ')': conf_path is incomplete, not read */
  /* Pass as fpm_config_options_t.root: "PROC/PID/root" (the master's view of the file system,
   * containers included), or "" when that is unreadable and the master shares our mount
   * namespace. */
  char root[64];
  char exe[256]; /* readlink of PROC/PID/exe ("/usr/sbin/php-fpm8.2"); "" when unreadable */
  /* Compared with PROC/self/ns/mnt; ns_known false when unreadable. In another mount
   * namespace, its unix sockets are reachable as root + path. */
  bool ns_known, same_mnt_ns;
  /* PROC/PID/ns/net differs from PROC/self/ns/net (both readable): its 127.0.0.1 is not ours;
   * its TCP sockets are reached from inside that namespace (unix sockets by path). */
  bool other_net_ns;
  char net_ns[64];   /* with other_net_ns: its link, "net:[4026532001]": the namespace's identity */
  int net_ns_error;  /* with other_net_ns: 0 when we may enter it, else why not (EPERM) */
  bool other_uts_ns; /* a UTS namespace of its own: a container with a host name of its own */
  /* With other_uts_ns, after fpm_master_namespaces: its host name, as its processes see it
   * (Docker and Kubernetes set it to the container's id or the pod's name); "" otherwise or when
   * it cannot be read. */
  char hostname[65];
  uid_t uid; /* owner of PROC/PID: who runs the master */
  bool uid_known;
} fpm_master_t;

typedef struct {
  pid_t pid;
  pid_t ppid;     /* its master */
  char pool[128]; /* from the title "php-fpm: pool NAME" */
} fpm_worker_t;

typedef struct {
  double cpu_seconds;             /* utime + stime */
  uint64_t rss_bytes;             /* resident set, shared pages (OPcache) counted in each */
  unsigned long long start_ticks; /* to tell a new process reusing the pid */
} fpm_proc_usage_t;

/* Every php-fpm master under proc_root ("/proc"), sorted by pid. Processes that vanish meanwhile
 * are skipped. Returns 0 (*out NULL when none), or -1 with err set (proc_root unreadable). */
int fpm_discover_masters(const char *proc_root, fpm_master_t **out, size_t *n, char *err,
                         size_t err_size);

/* The workers of master (children titled "php-fpm: pool NAME"; of every master when master is
 * 0), of one pool or of all when pool is NULL, sorted by pid. Returns 0, or -1 with err set. */
int fpm_discover_workers(const char *proc_root, pid_t master, const char *pool, fpm_worker_t **out,
                         size_t *n, char *err, size_t err_size);

/* What only entering a master's namespaces tells: whether its network namespace can be entered
 * (net_ns_error) and its host name. For a master found trustworthy: it enters them. */
void fpm_master_namespaces(const char *proc_root, fpm_master_t *m);

/* CPU time and resident memory of pid from PROC/PID/stat. Returns 0, or -1 when it is gone. */
int fpm_proc_usage(const char *proc_root, pid_t pid, fpm_proc_usage_t *usage);

/* The title of a master ("php-fpm: master process (PATH)", NUL-padded) -> PATH; bytes in.
 * Returns 1 when cmdline is a master's (truncated set when ')' is missing), else 0. */
int fpm_parse_master_title(const char *cmdline, size_t len, char *path, size_t path_size,
                           bool *truncated);
/* A worker's title ("php-fpm: pool NAME") -> NAME. Returns 1 when it is a worker's, else 0. */
int fpm_parse_worker_title(const char *cmdline, size_t len, char *pool, size_t pool_size);

#endif
