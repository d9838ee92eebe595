/*
 * sfip-nft-apply: applies nft commands read from stdin, one line = one transaction, for the agent's long-lived
 * per-namespace channel (src/dataplane/common/netns-channels.ts). A drop-in for `nft -i` in that role: the
 * same library (libnftables) parses and commits each line, and reports errors on stderr in the same format, so
 * the channel's marker protocol is unchanged.
 *
 * Why not `nft -i`: nft 1.0.6 reads interactive input through libedit, one read(2) per byte (a delta line of
 * ten element statements is ~850 bytes), and adds every line to an in-memory history that it walks on each
 * line and loads from and saves to $HOME/.nft.history. A channel that lives for the agent's life and carries
 * hundreds of transactions per second spent most of its CPU in libedit's `history` (perf, 100,000 floating
 * IPs), and that cost grew with every transaction it had carried. Here a line costs one buffered read and the
 * library's own work, and nothing accumulates.
 *
 * Usage: ip netns exec NS sfip-nft-apply   (lines on stdin; nothing on stdout; errors on stderr)
 * A last line without its newline at end of input is not run (see main).
 * Exit codes: 0 at end of input, 1 when libnftables cannot be set up.
 *
 * The prototypes below are libnftables' public API (libnftables(3), libnftables.h), declared here so that the
 * build needs only the library that the nftables package already installs (libnftables1), not libnftables-dev.
 */
#define _GNU_SOURCE /* getline, SCHED_BATCH */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nft_ctx;
#define NFT_CTX_DEFAULT 0
extern struct nft_ctx *nft_ctx_new(unsigned int flags);
extern void nft_ctx_free(struct nft_ctx *ctx);
extern int nft_run_cmd_from_buffer(struct nft_ctx *nft, const char *buf);

int main(void) {
  /*
   * SCHED_BATCH: a wake-up of this process (the agent's write of a request) does not preempt the agent, which
   * then goes on with its event loop; this process runs when a core is free or at the next tick. As an ordinary
   * task, woken on the agent's core by each write, it preempted the agent inside the write: with 100 routers
   * churning 1,000 changes a second on 2 cores, 10 of the agent's 66 busy seconds were spent in those writes
   * (CPU profile), while the whole churn waited for the agent's one thread. Best effort: a refusal changes only
   * the scheduling.
   */
  const struct sched_param batch = {.sched_priority = 0};
  sched_setscheduler(0, SCHED_BATCH, &batch);
  struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
  if (!nft) {
    fputs("sfip-nft-apply: cannot create an nftables context\n", stderr);
    return 1;
  }
  /* Errors must reach the agent in order and at once: it waits for the marker's error after each request. */
  setvbuf(stderr, NULL, _IONBF, 0);
  char *line = NULL;
  size_t capacity = 0;
  ssize_t length;
  while ((length = getline(&line, &capacity, stdin)) >= 0) {
    /*
     * A last line without its newline is a request cut short (the agent was killed while writing it): running it
     * could commit a prefix of its statements, so it is dropped. nft -i would run it.
     */
    if (line[length - 1] != '\n') break;
    line[--length] = '\0';
    if (strspn(line, " \t") == (size_t)length) continue;
    /* The result is reported on stderr by the library; the agent reads it there. */
    nft_run_cmd_from_buffer(nft, line);
    fflush(stdout);
  }
  free(line);
  nft_ctx_free(nft);
  return 0;
}
