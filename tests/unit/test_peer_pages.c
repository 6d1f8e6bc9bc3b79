/* Unit tests for fpm_status on status pages that other monitoring projects keep in their test
 * suites (Telegraf, Netdata, the hipages exporter, Metricbeat, Datadog, Diamond). They are read
 * from PEER_FIXTURES_DIR (../shared/peer_fixtures, see its MANIFEST.md), never copied here; each
 * test skips when that folder is absent. Every expected figure is written out by hand from the
 * page, by what php-fpm's fields mean. */
#include "unit_helpers.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "fpm_status.h"

#define SELF "/status?json&full"  /* our own request through the pool's socket, full */
#define SELF_PLAIN "/status?json" /* ... after the fallback to plain json */
#define EPS 1e-9

typedef struct {
  const char *file;
  const char *self;  /* NULL: read through a status socket, nothing is our own request */
  const char *error; /* when set, the parse fails with an error containing it */
  const char *pool;
  double start_since, accepted, lq, lq_max, lq_len, idle, active, total, max_active, mcr, slow;
  bool has_processes, self_excluded;
  double count[FPM_STATE_COUNT];
  size_t duration_samples;
  double duration_avg, duration_max; /* seconds */
  size_t running_samples;
  double running_max;
  bool running_known;
  size_t cpu_samples;
  double cpu_avg, cpu_max;
  size_t memory_samples;
  double memory_avg, memory_max;
  size_t out_of_range;
  const char *out_first; /* a part of the first figure left out */
} page_t;

enum { IDLE = FPM_STATE_IDLE, RUN = FPM_STATE_RUNNING };

/* Pool figures shared by several Netdata pages. */
#define NETDATA_FULL_POOL                                                                          \
  .pool = "www", .start_since = 1119, .accepted = 22, .lq_len = 0, .total = 2, .max_active = 1,    \
  .has_processes = true

static const page_t pages[] = {
    /* ---- plain ?json pages: the pool counters one to one; through the pool's own socket our
     * request is one of the active processes, counted idle instead ---- */
    {.file = "beats/pool-docs.json",
     .self = SELF_PLAIN,
     .pool = "www",
     .start_since = 3589,
     .accepted = 18,
     .idle = 2,
     .active = 0,
     .total = 2,
     .max_active = 1,
     .self_excluded = true},
    {.file = "beats/pool-docs.json",
     .self = NULL,
     .pool = "www",
     .start_since = 3589,
     .accepted = 18,
     .idle = 1,
     .active = 1,
     .total = 2,
     .max_active = 1},
    {.file = "datadog/conftest-payload.json",
     .self = NULL,
     .pool = "www",
     .start_since = 12,
     .accepted = 2,
     .lq_len = 128,
     .idle = 1,
     .active = 1,
     .total = 2,
     .max_active = 1},
    {.file = "diamond/stats",
     .self = NULL,
     .pool = "www",
     .start_since = 247,
     .accepted = 777335,
     .idle = 502,
     .active = 14,
     .total = 516,
     .max_active = 515},
    {.file = "netdata/status.json",
     .self = SELF_PLAIN,
     .pool = "www",
     .start_since = 1088,
     .accepted = 21,
     .idle = 2,
     .active = 0,
     .total = 2,
     .max_active = 1,
     .self_excluded = true},

    /* ---- full pages ---- */
    /* A Running "/status?full&json" is another client's request (fcgx asks json&full): active.
     * Durations are µs on the wire; cpu and memory only from the Idle process. */
    {.file = "beats/process-docs.json",
     .self = SELF,
     .pool = "www",
     .start_since = 3471,
     .accepted = 17,
     .idle = 1,
     .active = 1,
     .total = 2,
     .max_active = 1,
     .has_processes = true,
     .count = {[IDLE] = 1, [RUN] = 1},
     .duration_samples = 2,
     .duration_avg = (135 + 811) / 2.0 / 1e6,
     .duration_max = 811e-6,
     .running_samples = 1,
     .running_max = 135e-6,
     .running_known = true,
     .cpu_samples = 1,
     .cpu_avg = 0,
     .cpu_max = 0,
     .memory_samples = 1,
     .memory_avg = 2097152,
     .memory_max = 2097152},
    /* Telegraf's static pool, status path /fpm-status: the Running request is our own. Three
     * idle processes show more than 100 % cpu: one 10 ms clock tick over a shorter request
     * (104.93 % of 9530 µs, 110.28 % of 9068 µs), which is what php-fpm means, not an error. */
    {.file = "telegraf/phpfpm.json",
     .self = "/fpm-status?json&full",
     .pool = "www",
     .start_since = 4901,
     .accepted = 3879,
     .idle = 10,
     .active = 0,
     .total = 10,
     .max_active = 3,
     .has_processes = true,
     .self_excluded = true,
     .count = {[IDLE] = 10},
     .duration_samples = 9,
     .duration_avg = (174 + 9530 + 127 + 9713 + 133 + 154 + 108 + 9068 + 15559) / 9.0 / 1e6,
     .duration_max = 15559e-6,
     .running_known = true,
     .cpu_samples = 9,
     .cpu_avg = (104.93 + 110.28 + 64.27) / 9,
     .cpu_max = 110.28,
     .memory_samples = 9,
     .memory_avg = 2097152,
     .memory_max = 2097152},
    /* The same page through a status socket: the Running status request is someone's load. */
    {.file = "telegraf/phpfpm.json",
     .self = NULL,
     .pool = "www",
     .start_since = 4901,
     .accepted = 3879,
     .idle = 9,
     .active = 1,
     .total = 10,
     .max_active = 3,
     .has_processes = true,
     .count = {[IDLE] = 9, [RUN] = 1},
     .duration_samples = 10,
     .duration_avg = (159 + 174 + 9530 + 127 + 9713 + 133 + 154 + 108 + 9068 + 15559) / 10.0 / 1e6,
     .duration_max = 15559e-6,
     .running_samples = 1,
     .running_max = 159e-6,
     .running_known = true,
     .cpu_samples = 9,
     .cpu_avg = (104.93 + 110.28 + 64.27) / 9,
     .cpu_max = 110.28,
     .memory_samples = 9,
     .memory_avg = 2097152,
     .memory_max = 2097152},
    /* hipages' issue 10: the Running process is our own status request (left out as such). */
    {.file = "hipages/issue10-request-duration-overflow.json",
     .self = SELF,
     .pool = "www",
     .start_since = 302035,
     .accepted = 44144,
     .lq_max = 1,
     .lq_len = 128,
     .idle = 2,
     .active = 0,
     .total = 2,
     .max_active = 2,
     .has_processes = true,
     .self_excluded = true,
     .count = {[IDLE] = 2},
     .duration_samples = 1,
     .duration_avg = 295e-6,
     .duration_max = 295e-6,
     .running_known = true,
     .cpu_samples = 1,
     .memory_samples = 1,
     .memory_avg = 2097152,
     .memory_max = 2097152},
    /* Through a status socket, that Running process's duration 18446744073709550774 µs is -842
     * printed unsigned (php bug 62382): left out, and with it the only running_max sample. */
    {.file = "hipages/issue10-request-duration-overflow.json",
     .self = NULL,
     .pool = "www",
     .start_since = 302035,
     .accepted = 44144,
     .lq_max = 1,
     .lq_len = 128,
     .idle = 1,
     .active = 1,
     .total = 2,
     .max_active = 2,
     .has_processes = true,
     .count = {[IDLE] = 1, [RUN] = 1},
     .duration_samples = 1,
     .duration_avg = 295e-6,
     .duration_max = 295e-6,
     .running_known = false,
     .cpu_samples = 1,
     .memory_samples = 1,
     .memory_avg = 2097152,
     .memory_max = 2097152,
     .out_of_range = 1,
     .out_first = "request duration 18446744073709551616 µs of pid 24 (Running"},
    /* Netdata: an Idle process with a wrapped duration (-389 µs): its duration is left out, and
     * its cpu, which php-fpm computes over that same duration; its memory is real. 3 processes
     * listed against 2 in the pool figures: both are reported as printed. */
    {.file = "netdata/status-full.json",
     .self = SELF,
     NETDATA_FULL_POOL,
     .idle = 2,
     .active = 0,
     .self_excluded = true,
     .count = {[IDLE] = 3},
     .duration_samples = 1,
     .duration_avg = 919e-6,
     .duration_max = 919e-6,
     .running_known = true,
     .cpu_samples = 1,
     .memory_samples = 2,
     .memory_avg = (2097152 + 2093045) / 2.0,
     .memory_max = 2097152,
     .out_of_range = 2,
     .out_first = "of pid 67860 (Idle, process started 1119 s ago)"},
    {.file = "netdata/status-full.json",
     .self = NULL,
     NETDATA_FULL_POOL,
     .idle = 1,
     .active = 1,
     .count = {[IDLE] = 2, [RUN] = 1},
     .duration_samples = 2,
     .duration_avg = (834 + 919) / 2.0 / 1e6,
     .duration_max = 919e-6,
     .running_samples = 1,
     .running_max = 834e-6,
     .running_known = true,
     .cpu_samples = 1,
     .memory_samples = 2,
     .memory_avg = (2097152 + 2093045) / 2.0,
     .memory_max = 2097152,
     .out_of_range = 2,
     .out_first = "of pid 67860"},
    /* No idle process: no cpu or memory sample at all (php-fpm prints them only once a request
     * has ended; the 10.0 % and 2093045 bytes on a Running process are not figures). */
    {.file = "netdata/status-full-no-idle.json",
     .self = SELF,
     NETDATA_FULL_POOL,
     .idle = 2,
     .active = 0,
     .self_excluded = true,
     .count = {[IDLE] = 1, [RUN] = 2},
     .duration_samples = 1,
     .duration_avg = 919e-6,
     .duration_max = 919e-6,
     .running_samples = 1,
     .running_max = 919e-6,
     .running_known = true,
     .out_of_range = 1,
     .out_first = "of pid 67860 (Running"},
    {.file = "netdata/status-full-no-idle.json",
     .self = NULL,
     NETDATA_FULL_POOL,
     .idle = 1,
     .active = 1,
     .count = {[RUN] = 3},
     .duration_samples = 2,
     .duration_avg = (834 + 919) / 2.0 / 1e6,
     .duration_max = 919e-6,
     .running_samples = 2,
     .running_max = 919e-6,
     .running_known = true,
     .out_of_range = 1,
     .out_first = "pid 67860"},

    /* ---- not a usable status: a clear error ---- */
    {.file = "hipages/json-response-fixer-unescaped-uri.json",
     .self = SELF,
     /* the string ends at the unescaped quote before Content-Type, byte 509 */
     .error = "status JSON is not valid JSON (at byte 509 of 1075)"},
    {.file = "netdata/empty-data.txt", .self = SELF, .error = "status page is empty: no JSON"},
    {.file = "netdata/invalid-data.txt",
     .self = SELF,
     .error = "no JSON object: it begins \"hello and goodbye\" (37 bytes)"},
    {.file = "netdata/status.txt", .self = SELF, .error = "php-fpm's plain text, not JSON"},
    {.file = "netdata/status-full.txt", .self = SELF, .error = "php-fpm's plain text, not JSON"},
    {.file = "telegraf/outputSample.txt",
     .self = SELF,
     .error = "php-fpm's plain text, not JSON: the query string \"json\" did not reach php-fpm "
              "(it begins \"pool:                 www\")"},
    {.file = "telegraf/invalidJSON.txt", .self = SELF, .error = "it begins \"X\" (1 bytes)"},
};
#define N_PAGES (sizeof(pages) / sizeof(pages[0]))

static void skip_without_peer_fixtures(void) {
  struct stat sb;
  if (stat(PEER_FIXTURES_DIR, &sb) != 0) {
    print_message("skipped: no peer fixtures at %s (the shared folder beside the repository)\n",
                  PEER_FIXTURES_DIR);
    skip();
  }
}

static void expect(const page_t *p, const char *name, double got, double want) {
  if (!(fabs(got - want) <= EPS * (fabs(want) > 1 ? fabs(want) : 1)))
    fail_msg("%s (self %s): %s = %.17g, expected %.17g", p->file, p->self ? p->self : "none", name,
             got, want);
}

static void check_page(const page_t *p) {
  size_t len;
  char *data = read_file_opt(PEER_FIXTURES_DIR, p->file, &len);
  if (data == NULL)
    fail_msg("%s/%s is missing", PEER_FIXTURES_DIR, p->file);
  fpm_status_t st;
  char err[400] = "";
  int rc = fpm_status_parse(data, len, p->self, &st, err, sizeof(err));
  free(data);
  if (p->error != NULL) {
    if (rc == 0 || strstr(err, p->error) == NULL)
      fail_msg("%s: expected an error containing \"%s\", got rc %d \"%s\"", p->file, p->error, rc,
               err);
    return;
  }
  if (rc != 0)
    fail_msg("%s: %s", p->file, err);
  if (strcmp(st.pool, p->pool) != 0)
    fail_msg("%s: pool \"%s\", expected \"%s\"", p->file, st.pool, p->pool);
#define EXPECT(field, want) expect(p, #field, (double)(st.field), (double)(want))
  EXPECT(start_since, p->start_since);
  EXPECT(accepted_conn, p->accepted);
  EXPECT(listen_queue, p->lq);
  EXPECT(max_listen_queue, p->lq_max);
  EXPECT(listen_queue_len, p->lq_len);
  EXPECT(idle_processes, p->idle);
  EXPECT(active_processes, p->active);
  EXPECT(total_processes, p->total);
  EXPECT(max_active_processes, p->max_active);
  EXPECT(max_children_reached, p->mcr);
  EXPECT(slow_requests, p->slow);
  EXPECT(has_processes, p->has_processes);
  EXPECT(self_excluded, p->self_excluded);
  for (int s = 0; s < FPM_STATE_COUNT; s++)
    expect(p, fpm_state_names[s], st.state_count[s], p->count[s]);
  EXPECT(duration_samples, p->duration_samples);
  EXPECT(duration_avg, p->duration_avg);
  EXPECT(duration_max, p->duration_max);
  EXPECT(running_samples, p->running_samples);
  EXPECT(duration_running_max, p->running_max);
  EXPECT(running_max_known, p->has_processes ? p->running_known : false);
  EXPECT(cpu_samples, p->cpu_samples);
  EXPECT(cpu_avg, p->cpu_avg);
  EXPECT(cpu_max, p->cpu_max);
  EXPECT(memory_samples, p->memory_samples);
  EXPECT(memory_avg, p->memory_avg);
  EXPECT(memory_max, p->memory_max);
  EXPECT(out_of_range.count, p->out_of_range);
#undef EXPECT
  if (p->out_first != NULL && strstr(st.out_of_range.first, p->out_first) == NULL)
    fail_msg("%s: first figure left out \"%s\" does not contain \"%s\"", p->file,
             st.out_of_range.first, p->out_first);
}

static void test_every_peer_page(void **state) {
  (void)state;
  skip_without_peer_fixtures();
  for (size_t i = 0; i < N_PAGES; i++)
    check_page(&pages[i]);
}

/* Every file the manifest lists is covered above, so a page added there is not silently
 * ignored here. */
static void test_every_listed_page_is_covered(void **state) {
  (void)state;
  skip_without_peer_fixtures();
  size_t len;
  char *manifest = read_file_opt(PEER_FIXTURES_DIR, "MANIFEST.md", &len);
  assert_non_null(manifest);
  size_t listed = 0;
  for (char *line = strtok(manifest, "\n"); line != NULL; line = strtok(NULL, "\n")) {
    char name[200];
    if (sscanf(line, "| `%199[^`]`", name) != 1)
      continue;
    listed++;
    bool covered = false;
    for (size_t i = 0; i < N_PAGES && !covered; i++)
      covered = strcmp(pages[i].file, name) == 0;
    if (!covered)
      fail_msg("%s is listed in MANIFEST.md but no test reads it", name);
  }
  free(manifest);
  assert_int_equal(listed, 16);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_peer_page),
      cmocka_unit_test(test_every_listed_page_is_covered),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
