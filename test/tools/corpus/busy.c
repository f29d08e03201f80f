/*
 * A small C program for perf to sample (test/tools/make-corpus.sh): a leaf
 * loop under two callers, a recursive function, and a clock read that enters
 * the kernel, so stacks have user and kernel frames.
 * usage: busy [SECONDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

__attribute__((noinline)) static unsigned long mix(unsigned long x) {
  for (int i = 0; i < 2000; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
  return x;
}

__attribute__((noinline)) static unsigned long hash_row(unsigned long seed) { return mix(seed) ^ mix(seed + 1); }

__attribute__((noinline)) static unsigned long sort_rows(unsigned long seed) {
  unsigned long s = 0;
  for (int i = 0; i < 3; i++) s += mix(seed + i);
  return s;
}

__attribute__((noinline)) static unsigned long fib(int n) { return n < 2 ? (unsigned long)n : fib(n - 1) + fib(n - 2); }

__attribute__((noinline)) static unsigned long read_clock(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (unsigned long)ts.tv_nsec;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 1.0;
  clock_t end = clock() + (clock_t)(seconds * CLOCKS_PER_SEC);
  for (unsigned long i = 0; (i & 255) != 0 || clock() < end; i++) {
    sink += hash_row(i) + sort_rows(i);
    if (i % 64 == 0) sink += fib(18);
    if (i % 4 == 0) sink += read_clock();
  }
  printf("%lu\n", sink);
  return 0;
}
