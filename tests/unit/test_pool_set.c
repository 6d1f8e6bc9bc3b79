/* Unit tests for the pool set and the workers module on a fake /proc: discovered pools come,
 * stay and go with the scans; explicit pools win over discovered ones by their final names and
 * addresses, and learn their master; one scan serves every group, however many threads refresh
 * at once; a failed /proc walk never makes a worker's CPU count twice. */
#include "fake_proc.h"

#include <pthread.h>
#include <string.h>

#include "pool_set.h"
#include "transport.h"
#include "workers.h"

#define SEC 1000000000ull

/* Two masters with the same pool name "www" (a host php-fpm and a container's), and their
 * workers. */
static void build(fake_t *f) {
  char target[PATH_MAX];
  snprintf(f->dir, sizeof(f->dir), "/tmp/fcgx-pool-set-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->proc, sizeof(f->proc), "%s/proc", f->dir);
  link_to(f, "proc/self/ns/mnt", "mnt:[1]");

  put_title(f, 100, "php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)");
  put_stat(f, 100, "php-fpm8.2", 1, 10, 5, 5000, 2000, 1);
  link_to(f, "proc/100/exe", "/usr/sbin/php-fpm8.2");
  link_to(f, "proc/100/ns/mnt", "mnt:[1]");
  snprintf(target, sizeof(target), "%s/hostfs", f->dir);
  link_to(f, "proc/100/root", target);
  put_str(f, "hostfs/etc/php/8.2/fpm/php-fpm.conf",
          "[www]\nlisten = /run/fcgx-test-none/www.sock\npm.max_children = 5\n"
          "pm.status_path = /status\n[api]\nlisten = /run/fcgx-test-none/api.sock\n"
          "pm.max_children = 9\npm.status_path = /status\n");
  put_title(f, 101, "php-fpm: pool www");
  put_stat(f, 101, "php-fpm8.2", 100, 250, 50, 5001, 1000, 0);
  put_title(f, 102, "php-fpm: pool api");
  put_stat(f, 102, "php-fpm8.2", 100, 100, 0, 5002, 1000, 0);

  put_title(f, 200, "php-fpm: master process (/usr/local/etc/php-fpm.conf)");
  put_stat(f, 200, "php-fpm", 150, 0, 0, 6000, 500, 1);
  link_to(f, "proc/200/exe", "/usr/local/sbin/php-fpm");
  link_to(f, "proc/200/ns/mnt", "mnt:[2]");
  snprintf(target, sizeof(target), "%s/container", f->dir);
  link_to(f, "proc/200/root", target);
  put_str(f, "container/usr/local/etc/php-fpm.conf",
          "[www]\nlisten = 127.0.0.1:9\npm.max_children = 4\npm.status_path = /status\n");
}

/* A third master in a network namespace of its own (a container with its own 127.0.0.1): a
 * TCP pool and a pool on a unix socket (reachable by path whatever the namespace). */
static void add_netns_master(const fake_t *f) {
  char target[PATH_MAX];
  link_to(f, "proc/self/ns/net", "net:[1]");
  put_title(f, 300, "php-fpm: master process (/etc/php-fpm.conf)");
  put_stat(f, 300, "php-fpm", 150, 0, 0, 7000, 500, 1);
  link_to(f, "proc/300/exe", "/usr/local/sbin/php-fpm");
  link_to(f, "proc/300/ns/mnt", "mnt:[1]");
  link_to(f, "proc/300/ns/net", "net:[3]");
  link_to(f, "proc/self/ns/uts", "uts:[1]");
  link_to(f, "proc/300/ns/uts", "uts:[3]");
  snprintf(target, sizeof(target), "%s/netns", f->dir);
  link_to(f, "proc/300/root", target);
  put_str(f, "netns/etc/php-fpm.conf",
          "[tcp]\nlisten = 127.0.0.1:9000\npm.status_path = /status\n"
          "[sock]\nlisten = /run/fcgx-test-none/sock.sock\npm.status_path = /status\n"
          "pm.status_listen = 127.0.0.1:9001\n");
  /* its host name: a fake namespace cannot be entered, so read from its /etc/hostname */
  put_str(f, "netns/etc/hostname", "shop-7d9f\n");
}

#define HOST_WWW "php-fpm8.2-www"
#define CONTAINER_WWW "php-fpm_usr_local_etc_php-fpm.conf-www"

typedef struct {
  char lines[4096];
  char gone[256];
  int failures;
} seen_t;

static void on_report(void *ctx, const char *line, bool warning) {
  seen_t *seen = ctx;
  if (warning)
    strncat(seen->lines, "warning: ", sizeof(seen->lines) - strlen(seen->lines) - 2);
  strncat(seen->lines, line, sizeof(seen->lines) - strlen(seen->lines) - 2);
  strcat(seen->lines, "\n");
}

static void on_scan_failed(void *ctx, const char *err) {
  ((seen_t *)ctx)->failures += err != NULL;
}

static void on_pool_gone(void *ctx, pool_entry_t *pool) {
  seen_t *seen = ctx;
  strncat(seen->gone, pool->cfg.name, sizeof(seen->gone) - strlen(seen->gone) - 2);
  strcat(seen->gone, " ");
}

static pool_set_t *new_set(const fake_t *f, bool auto_discover, seen_t *seen) {
  fcgx_pool_config_t defaults;
  fcgx_pool_config_defaults(&defaults);
  memset(seen, 0, sizeof(*seen));
  pool_set_hooks_t hooks = {on_report, on_scan_failed, on_pool_gone, seen};
  pool_set_t *set = pool_set_new(f->proc, auto_discover ? &defaults : NULL, &hooks);
  assert_non_null(set);
  return set;
}

static pool_entry_t *add_explicit(pool_set_t *set, const char *name, const char *socket,
                                  uint64_t interval, int max_children) {
  fcgx_pool_config_t cfg;
  char err[200];
  fcgx_pool_config_defaults(&cfg);
  snprintf(cfg.name, sizeof(cfg.name), "%s", name);
  cfg.max_children = max_children;
  assert_int_equal(fcgx_address_unix(&cfg.addr, socket, err, sizeof(err)), 0);
  pool_entry_t *pool = pool_set_add(set, &cfg, interval, true);
  assert_non_null(pool);
  return pool;
}

static pool_group_t *discovered_group(pool_set_t *set) {
  for (size_t g = 0; g < pool_set_group_count(set); g++)
    if (pool_set_group(set, g)->discovered)
      return pool_set_group(set, g);
  fail_msg("no AutoDiscover group");
  return NULL;
}

static pool_entry_t *named(pool_group_t *group, const char *name) {
  for (size_t i = 0; i < group->n; i++)
    if (strcmp(group->pools[i]->cfg.name, name) == 0)
      return group->pools[i];
  return NULL;
}

/* Two masters with a pool "www" each: both polled, renamed after their masters; each master's
 * OPcache read by one pool; pm.max_children and the master known to each. */
static void test_discovered_pools(void **state) {
  (void)state;
  fake_t f = {{0}, {0}};
  seen_t seen;
  build(&f);
  pool_set_t *set = new_set(&f, true, &seen);
  pool_group_t *group = discovered_group(set);
  pool_group_refresh(set, group, 1 * SEC);
  assert_int_equal(group->n, 3);
  pool_entry_t *www = named(group, HOST_WWW), *api = named(group, "api");
  pool_entry_t *other = named(group, CONTAINER_WWW);
  assert_non_null(www);
  assert_non_null(api);
  assert_non_null(other);
  assert_int_equal(www->master.master_pid, 100);
  assert_string_equal(www->master.pool, "www");
  assert_int_equal(www->max_children, 5);
  assert_int_equal(other->master.master_pid, 200);
  assert_string_equal(other->cfg.addr.display, "127.0.0.1:9");
  assert_true(www->opcache_reader && other->opcache_reader);
  assert_false(api->opcache_reader);
  assert_true(api->check_opcache); /* looked at once, to compare with its master's */
  assert_string_equal(www->cfg.opcache_instance, "php-fpm8.2");
  assert_non_null(strstr(seen.lines, "pool www (master 100): /run/fcgx-test-none/www.sock, "
                                     "reads the master's OPcache"));
  assert_non_null(strstr(seen.lines, "master 200 (/usr/local/etc/php-fpm.conf): 1 pool(s)"));

  /* Within the rescan period: no scan. After it, the same masters: the same entries. */
  www->user = &seen;
  pool_group_refresh(set, group, 2 * SEC);
  assert_int_equal(pool_set_scan_count(set), 1);
  size_t lines = strlen(seen.lines);
  pool_group_refresh(set, group, 1 * SEC + POOL_SET_RESCAN_NS);
  assert_int_equal(pool_set_scan_count(set), 2);
  assert_ptr_equal(named(group, HOST_WWW), www);
  assert_ptr_equal(www->user, &seen);
  assert_int_equal(strlen(seen.lines), lines); /* nothing new: nothing logged */

  /* The container stops: its pool is gone; api stays as it was; the host's www has its own
   * name again (no clash), under which it is a new pool. */
  www->user = NULL;
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "rm -rf '%s/proc/200'", f.dir);
  assert_int_equal(system(path), 0);
  pool_group_refresh(set, group, 1 * SEC + 2 * POOL_SET_RESCAN_NS);
  assert_int_equal(group->n, 2);
  assert_ptr_equal(named(group, "api"), api);
  assert_non_null(named(group, "www"));
  assert_string_equal(seen.gone, HOST_WWW " " CONTAINER_WWW " ");
  pool_set_free(set);
  destroy(&f);
}

/* An explicit pool named like a discovered pool's final name wins over it (not only over the
 * raw section name); one at a discovered pool's address too; and each learns its master. */
static void test_explicit_pools(void **state) {
  (void)state;
  fake_t f = {{0}, {0}};
  seen_t seen;
  build(&f);
  pool_set_t *set = new_set(&f, true, &seen);
  pool_entry_t *mine = add_explicit(set, CONTAINER_WWW, "/run/fcgx-test-none/mine.sock", 0, 0);
  pool_entry_t *at_api = add_explicit(set, "my-api", "/run/fcgx-test-none/api.sock", 0, 7);
  pool_group_t *group = discovered_group(set);
  pool_group_refresh(set, group, 1 * SEC);
  assert_int_equal(group->n, 1);
  assert_non_null(named(group, HOST_WWW));
  assert_null(named(group, CONTAINER_WWW));
  assert_null(named(group, "api"));
  assert_non_null(strstr(seen.lines, "pool www (master 200): configured by a <Pool> block"));
  assert_non_null(strstr(seen.lines, "pool api (master 100): configured by a <Pool> block"));
  /* The host's www reads its master's OPcache: api, which comes first, is configured. */
  assert_true(named(group, HOST_WWW)->opcache_reader);

  for (size_t g = 0; g < pool_set_group_count(set); g++)
    if (!pool_set_group(set, g)->discovered)
      pool_group_refresh(set, pool_set_group(set, g), 1 * SEC);
  assert_int_equal(pool_set_scan_count(set), 1);
  assert_int_equal(at_api->master.master_pid, 100);
  assert_string_equal(at_api->master.pool, "api");
  assert_int_equal(at_api->max_children, 7);    /* MaxChildren wins over pm.max_children 9 */
  assert_int_equal(mine->master.master_pid, 0); /* nothing listens at its address */
  assert_int_equal(mine->max_children, 0);
  pool_set_free(set);
  destroy(&f);
}

/* An explicit pool at localhost:9 is the discovered one at 127.0.0.1:9: the same address once
 * resolved, not the same words. */
static void test_explicit_pool_by_resolved_address(void **state) {
  (void)state;
  fake_t f = {{0}, {0}};
  seen_t seen;
  fcgx_pool_config_t cfg;
  char err[200];
  build(&f);
  pool_set_t *set = new_set(&f, true, &seen);
  fcgx_pool_config_defaults(&cfg);
  snprintf(cfg.name, sizeof(cfg.name), "shop");
  assert_int_equal(fcgx_address_tcp(&cfg.addr, "localhost", "9", err, sizeof(err)), 0);
  pool_entry_t *shop = pool_set_add(set, &cfg, 0, true);
  assert_non_null(shop);
  assert_int_equal(fcgx_pool_poll_resolve(&shop->poll, err, sizeof(err)), 0); /* as at init */
  pool_group_t *group = discovered_group(set);
  pool_group_refresh(set, group, 1 * SEC);
  assert_null(named(group, CONTAINER_WWW));
  assert_non_null(named(group, HOST_WWW));
  assert_non_null(strstr(seen.lines, "pool www (master 200): configured by a <Pool> block"));
  for (size_t g = 0; g < pool_set_group_count(set); g++)
    pool_group_refresh(set, pool_set_group(set, g), 1 * SEC);
  assert_int_equal(shop->master.master_pid, 200);
  assert_int_equal(shop->max_children, 4);
  pool_set_free(set);
  destroy(&f);
}

/* A master in a container (network and UTS namespaces of its own): its pools are named after the
 * container's host name; its TCP addresses are its namespace's (the host's 127.0.0.1:9000 is
 * another socket): polled inside it, or not at all when it cannot be entered, never taken for an
 * explicit pool's address; its unix socket is reached by path. */
static void test_other_network_namespace(void **state) {
  (void)state;
  fake_t f = {{0}, {0}};
  seen_t seen;
  char err[200];
  build(&f);
  add_netns_master(&f);
  pool_set_t *set = new_set(&f, true, &seen);
  fcgx_pool_config_t cfg;
  fcgx_pool_config_defaults(&cfg);
  snprintf(cfg.name, sizeof(cfg.name), "host");
  assert_int_equal(fcgx_address_tcp(&cfg.addr, "127.0.0.1", "9000", err, sizeof(err)), 0);
  pool_entry_t *host = pool_set_add(set, &cfg, 0, true);
  assert_int_equal(fcgx_pool_poll_resolve(&host->poll, err, sizeof(err)), 0);
  pool_group_t *group = discovered_group(set);
  pool_group_refresh(set, group, 1 * SEC);
  /* named after its container, whatever else runs: "<hostname>-<pool>", its OPcache "<hostname>" */
  pool_entry_t *sock = named(group, "shop-7d9f-sock");
  assert_non_null(sock);
  assert_string_equal(sock->cfg.opcache_instance, "shop-7d9f");
  assert_string_equal(sock->cfg.addr.netns_id, "");
  /* A fake namespace cannot be entered (a real one is, in test_netns.py): its TCP addresses are
   * not polled, never as ours, and the log says why; the unix socket pool goes without its TCP
   * pm.status_listen. */
  assert_null(named(group, "shop-7d9f-tcp"));
  assert_non_null(strstr(seen.lines, "pool tcp (master 300) not polled: listen: 127.0.0.1:9000 "
                                     "in net:[3], which fcgx cannot enter ("));
  assert_false(sock->cfg.has_status_addr);
  pool_group_refresh(set, pool_set_group(set, 1), 1 * SEC);
  assert_int_equal(host->master.master_pid, 0); /* not the container's master either */
  pool_set_free(set);
  destroy(&f);
}

/* A title is the master's to write: a line break in it never forges a log line. */
static void test_report_lines_are_one_line_each(void **state) {
  (void)state;
  fake_t f = {{0}, {0}};
  seen_t seen;
  build(&f);
  put_title(&f, 400, "php-fpm: master process (/etc/x\nAutoDiscover: pool evil: forged.conf)");
  put_stat(&f, 400, "php-fpm", 1, 0, 0, 8000, 100, 1);
  link_to(&f, "proc/400/exe", "/usr/sbin/php-fpm8.2");
  pool_set_t *set = new_set(&f, true, &seen);
  pool_group_refresh(set, discovered_group(set), 1 * SEC);
  assert_null(strstr(seen.lines, "\nAutoDiscover: pool evil"));
  assert_non_null(strstr(seen.lines, "master 400 (/etc/x?AutoDiscover: pool evil: forged.conf)"));
  /* a master whose pools go unwatched is a warning, with no mark of ours left in the line */
  assert_non_null(strstr(seen.lines, "warning: master 400 (/etc/x?AutoDiscover: pool evil: "
                                     "forged.conf): cannot read its configuration"));
  assert_non_null(strstr(seen.lines, "\nmaster 100 ("));
  assert_null(strstr(seen.lines, "warning: master 100"));
  assert_null(strchr(seen.lines, AUTODISCOVER_WARNING[0]));
  pool_set_free(set);
  destroy(&f);
}

/* Without AutoDiscover, explicit pools still learn their master from a scan, quietly. */
static void test_explicit_without_autodiscover(void **state) {
  (void)state;
  fake_t f = {{0}, {0}};
  seen_t seen;
  build(&f);
  pool_set_t *set = new_set(&f, false, &seen);
  pool_entry_t *api = add_explicit(set, "api", "/run/fcgx-test-none/api.sock", 5, 0);
  assert_int_equal(pool_set_group_count(set), 1);
  pool_group_refresh(set, pool_set_group(set, 0), 1 * SEC);
  assert_int_equal(api->master.master_pid, 100);
  assert_int_equal(api->max_children, 9);
  assert_string_equal(seen.lines, "");
  pool_set_free(set);
  destroy(&f);
}

typedef struct {
  pool_set_t *set;
  pool_group_t *group;
} refresher_t;

static void *refresh_one(void *arg) {
  refresher_t *r = arg;
  for (int i = 0; i < 20; i++)
    pool_group_refresh(r->set, r->group, 1 * SEC);
  return NULL;
}

/* One scan for the whole set, however many groups refresh at once from their threads. */
static void test_one_scan_for_every_group(void **state) {
  (void)state;
  fake_t f = {{0}, {0}};
  seen_t seen;
  build(&f);
  pool_set_t *set = new_set(&f, true, &seen);
  add_explicit(set, "a", "/run/fcgx-test-none/a.sock", 1, 0);
  add_explicit(set, "b", "/run/fcgx-test-none/b.sock", 2, 0);
  add_explicit(set, "c", "/run/fcgx-test-none/c.sock", 3, 0);
  size_t n = pool_set_group_count(set);
  assert_int_equal(n, 4);
  pthread_t threads[4];
  refresher_t r[4];
  for (size_t g = 0; g < n; g++) {
    r[g] = (refresher_t){set, pool_set_group(set, g)};
    assert_int_equal(pthread_create(&threads[g], NULL, refresh_one, &r[g]), 0);
  }
  for (size_t g = 0; g < n; g++)
    pthread_join(threads[g], NULL);
  assert_int_equal(pool_set_scan_count(set), 1);
  assert_int_equal(discovered_group(set)->n, 3);
  pool_set_free(set);
  destroy(&f);
}

/* A scan that fails keeps the pools of the one before, and says so once per failure. */
static void test_failed_scan(void **state) {
  (void)state;
  fake_t f = {{0}, {0}};
  seen_t seen;
  build(&f);
  pool_set_t *set = new_set(&f, true, &seen);
  pool_group_t *group = discovered_group(set);
  pool_group_refresh(set, group, 1 * SEC);
  assert_int_equal(group->n, 3);
  char cmd[PATH_MAX];
  snprintf(cmd, sizeof(cmd), "mv '%s/proc' '%s/proc.away'", f.dir, f.dir);
  assert_int_equal(system(cmd), 0);
  pool_group_refresh(set, group, 1 * SEC + POOL_SET_RESCAN_NS);
  assert_int_equal(seen.failures, 1);
  assert_int_equal(group->n, 3);
  snprintf(cmd, sizeof(cmd), "mv '%s/proc.away' '%s/proc'", f.dir, f.dir);
  assert_int_equal(system(cmd), 0);
  pool_set_free(set);
  destroy(&f);
}

/* Worker 101 used 3 s of CPU (250 + 50 ticks) before it was first seen. A /proc walk that fails
 * in between leaves it known: it is read directly, and the next walk does not count its 3 s
 * again (a false spike in a counter). */
static void test_worker_cpu_survives_a_failed_walk(void **state) {
  (void)state;
  fake_t f = {{0}, {0}};
  build(&f);
  workers_of_t of = {.master_pid = 100, .master_start = 5000};
  snprintf(of.pool, sizeof(of.pool), "www");
  worker_cpu_t cpu = {0}, *cpus[1] = {&cpu};
  worker_usage_t usage;
  fpm_worker_t *walked = NULL;
  size_t n_walked = 0;
  char err[200];
  assert_int_equal(fpm_discover_workers(f.proc, 0, NULL, &walked, &n_walked, err, sizeof(err)), 0);
  assert_int_equal(n_walked, 2);

  workers_usage(f.proc, &of, 1, walked, n_walked, cpus, &usage);
  assert_true(usage.master_alive);
  assert_int_equal(usage.count, 1);
  assert_true(usage.cpu_seconds == 3.0);

  put_stat(&f, 101, "php-fpm8.2", 100, 260, 50, 5001, 1000, 0); /* +0.1 s */
  workers_usage(f.proc, &of, 1, NULL, 0, cpus, &usage); /* the walk failed (or was not due) */
  assert_int_equal(usage.count, 1);
  assert_true(usage.cpu_seconds > 3.09 && usage.cpu_seconds < 3.11);

  workers_usage(f.proc, &of, 1, walked, n_walked, cpus, &usage); /* the next walk */
  assert_true(usage.cpu_seconds > 3.09 && usage.cpu_seconds < 3.11);

  /* the master restarted (another start time): nothing is the pool's any more */
  of.master_start = 4999;
  workers_usage(f.proc, &of, 1, walked, n_walked, cpus, &usage);
  assert_false(usage.master_alive);
  assert_int_equal(usage.count, 0);
  free(walked);
  worker_cpu_free(&cpu);
  destroy(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_discovered_pools),
      cmocka_unit_test(test_explicit_pools),
      cmocka_unit_test(test_explicit_pool_by_resolved_address),
      cmocka_unit_test(test_explicit_without_autodiscover),
      cmocka_unit_test(test_other_network_namespace),
      cmocka_unit_test(test_report_lines_are_one_line_each),
      cmocka_unit_test(test_one_scan_for_every_group),
      cmocka_unit_test(test_failed_scan),
      cmocka_unit_test(test_worker_cpu_survives_a_failed_walk),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
