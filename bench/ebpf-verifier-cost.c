/*
 * What the verifier costs per program of an eBPF object (issue 15: a converge of 100 routers loads each router's
 * four programs, and the verifier was most of the loader's CPU). Each program is loaded alone, REPEAT times, as a
 * tc classifier (the object's own placeholder maps, as libbpf creates them): the instructions in the object, the
 * kernel's verified_insns (instructions the verifier walked, every path and every call of a static function
 * counted again), the verifier's state counts, and the CPU time of a load (the syscall runs in this process, so
 * CLOCK_PROCESS_CPUTIME_ID counts the verifier and the JIT), median and range; then the four loaded together, as
 * sfip-bpf-load does for a generation. Nothing is pinned or attached.
 *
 *   gcc -O2 -o /tmp/ebpf-verifier-cost bench/ebpf-verifier-cost.c -lbpf
 *   /tmp/ebpf-verifier-cost dist/bpf/sfip_nat.o [REPEAT]
 *
 * (Static, to run it in the Debian 12 guest of scripts/guest/run.sh, which copies no libbpf:
 * gcc -O2 -static -o dist/verifier-cost bench/ebpf-verifier-cost.c -l:libbpf.a -lelf -lz.)
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_REPEAT 1000

static const char *const programs[] = {"gw_ingress", "gw_egress", "int_ingress", "int_egress", NULL};

static double cpu_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int quiet(enum libbpf_print_level level, const char *format, va_list args) {
  (void)level, (void)format, (void)args;
  return 0;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

struct result {
  size_t insns;
  unsigned verified;
  char stats[256];
};

/* Loads `only` (or every program when NULL) from `file`; returns the load's CPU ms. With `out`, the verifier's
 * statistics line too (log level 4 costs a few string writes, so only on a load that is not timed). */
static double load(const char *file, const char *only, struct result *out) {
  static char log[1 << 16];
  struct bpf_object *object = bpf_object__open_file(file, NULL);
  if (!object) {
    perror(file);
    exit(1);
  }
  struct bpf_program *program;
  bpf_object__for_each_program(program, object) {
    bpf_program__set_type(program, BPF_PROG_TYPE_SCHED_CLS);
    int wanted = !only || !strcmp(bpf_program__name(program), only);
    bpf_program__set_autoload(program, wanted);
    if (wanted && out && only) {
      log[0] = '\0';
      bpf_program__set_log_level(program, 4);
      bpf_program__set_log_buf(program, log, sizeof(log));
    }
  }
  double start = cpu_ms();
  int error = bpf_object__load(object);
  double spent = cpu_ms() - start;
  if (error) {
    fprintf(stderr, "%s: the kernel refused %s: %s\n", file, only ? only : "the programs", strerror(-error));
    exit(1);
  }
  if (out && only) {
    program = bpf_object__find_program_by_name(object, only);
    struct bpf_prog_info info = {0};
    __u32 length = sizeof(info);
    bpf_obj_get_info_by_fd(bpf_program__fd(program), &info, &length);
    out->insns = bpf_program__insn_cnt(program);
    out->verified = info.verified_insns;
    /* "processed N insns (limit 1000000) max_states_per_insn ... total_states ... peak_states ..." */
    char *line = strstr(log, "max_states_per_insn");
    char *end = line ? strchr(line, '\n') : NULL;
    if (end) *end = '\0';
    snprintf(out->stats, sizeof(out->stats), "%s", line ? line : "");
  }
  bpf_object__close(object);
  return spent;
}

static void timed(const char *file, const char *only, int repeat, const char *label, const struct result *r) {
  double times[MAX_REPEAT];
  for (int i = 0; i < repeat; i++) times[i] = load(file, only, NULL);
  qsort(times, repeat, sizeof(double), by_value);
  if (r)
    printf("%-12s insns %5zu  verified_insns %6u  CPU ms median %6.2f [%.2f-%.2f]  %s\n", label, r->insns,
           r->verified, times[repeat / 2], times[0], times[repeat - 1], r->stats);
  else
    printf("%-12s CPU ms median %6.2f [%.2f-%.2f]\n", label, times[repeat / 2], times[0], times[repeat - 1]);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s OBJECT [REPEAT]\n", argv[0]);
    return 2;
  }
  int repeat = argc > 2 ? atoi(argv[2]) : 15;
  if (repeat < 1 || repeat > MAX_REPEAT) repeat = 15;
  libbpf_set_print(quiet);
  unsigned total = 0;
  for (int i = 0; programs[i]; i++) {
    struct result r;
    load(argv[1], programs[i], &r);
    total += r.verified;
    timed(argv[1], programs[i], repeat, programs[i], &r);
  }
  printf("verified_insns, the four: %u\n", total);
  timed(argv[1], NULL, repeat, "all four", NULL);
  return 0;
}
