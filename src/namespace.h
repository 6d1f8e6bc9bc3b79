/* Work done inside another process's namespace (a container's network or UTS namespace), on a
 * short-lived thread of its own: setns(2) moves only the calling thread, and that thread ends
 * there, so no thread of collectd's is ever left in a container's namespace. */
#ifndef FCGX_NAMESPACE_H
#define FCGX_NAMESPACE_H

/* Runs fn(arg) inside the namespace at ns_path ("/proc/PID/ns/net") of type nstype
 * (CLONE_NEWNET, CLONE_NEWUTS). With id ("net:[4026532001]", that link's text when it was
 * found), the namespace must still be that one: a pid since reused by another process is not.
 * Returns 0, or an errno: ESRCH (gone, or another namespace now), EPERM (no CAP_SYS_ADMIN). */
int namespace_run(const char *ns_path, const char *id, int nstype, void (*fn)(void *arg),
                  void *arg);

#endif
