/*
 * sfip-nft-set-dump: prints the elements of nftables sets and maps, fast.
 *
 * Why this exists: `nft -j list set` takes seconds for 100,000 elements (nft 1.0.6 builds an expression tree
 * and sorts every element before printing), while the kernel's netlink dump of the same elements takes
 * milliseconds. sfip reads per-floating-IP counters on every Prometheus scrape, so it asks the kernel
 * directly through libnftnl, the library nft itself is built on.
 *
 * Usage: sfip-nft-set-dump TABLE SET [SET...]   (family ip; run inside the namespace, e.g. ip netns exec)
 *        sfip-nft-set-dump --serve                  (requests on stdin, see serve() below)
 * Output, one line per element: SET KEY DATA PACKETS BYTES
 *   KEY and DATA are IPv4 addresses, or raw 32-bit words printed as one (DATA is "-" for a plain set; KEY is
 *   MAC.IPV4 for an ether_addr . ipv4_addr set; a 16-bit DATA, the ICMP maps' checksum compensation, is 0xNNNN in
 *   network byte order); PACKETS and BYTES are "-" without a counter.
 * Exit codes: 0 ok, 1 usage, 2 a set or table does not exist (message on stderr), 3 other netlink error.
 */
#define _GNU_SOURCE /* setns */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct counter {
  int found;
  uint64_t packets, bytes;
};

static int counter_of(struct nftnl_expr *expr, void *data) {
  struct counter *c = data;
  const char *name = nftnl_expr_get_str(expr, NFTNL_EXPR_NAME);
  if (name && strcmp(name, "counter") == 0) {
    c->found = 1;
    c->packets = nftnl_expr_get_u64(expr, NFTNL_EXPR_CTR_PACKETS);
    c->bytes = nftnl_expr_get_u64(expr, NFTNL_EXPR_CTR_BYTES);
  }
  return 0;
}

static void ipv4(const void *bytes, uint32_t len, char *out) {
  if (!bytes || len != 4) {
    strcpy(out, "-");
    return;
  }
  inet_ntop(AF_INET, bytes, out, INET_ADDRSTRLEN);
}

/*
 * A key: an IPv4 address (4 bytes), or the anti-spoofing set's `ether_addr . ipv4_addr` concatenation, which the
 * kernel stores as 12 bytes (each field padded to a multiple of 4: the MAC, 2 bytes of padding, the address),
 * printed as MAC.IPV4 (e.g. fa:16:3e:00:00:01.10.0.0.11). Anything else prints "-".
 */
static void key_text(const void *bytes, uint32_t len, char *out) {
  if (bytes && len == 12) {
    const unsigned char *b = bytes;
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, b + 8, ip, INET_ADDRSTRLEN);
    sprintf(out, "%02x:%02x:%02x:%02x:%02x:%02x.%s", b[0], b[1], b[2], b[3], b[4], b[5], ip);
    return;
  }
  ipv4(bytes, len, out);
}

/* A map's data: an IPv4 address (or raw 32-bit word), or a 16-bit word as 0xNNNN. */
static void data_text(const void *bytes, uint32_t len, char *out) {
  if (bytes && len == 2) {
    const unsigned char *b = bytes;
    sprintf(out, "0x%02x%02x", b[0], b[1]);
    return;
  }
  ipv4(bytes, len, out);
}

static int print_element(struct nftnl_set_elem *e, void *data) {
  const char *set = data;
  char key[18 + INET_ADDRSTRLEN], value[INET_ADDRSTRLEN];
  uint32_t len = 0;
  const void *k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
  key_text(k, len, key);
  len = 0;
  const void *d = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_DATA) ? nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &len) : NULL;
  data_text(d, len, value);
  struct counter c = {0, 0, 0};
  nftnl_set_elem_expr_foreach(e, counter_of, &c);
  if (c.found)
    printf("%s %s %s %llu %llu\n", set, key, value, (unsigned long long)c.packets, (unsigned long long)c.bytes);
  else
    printf("%s %s %s - -\n", set, key, value);
  return 0;
}

static int parse_message(const struct nlmsghdr *nlh, void *data) {
  return nftnl_set_elems_nlmsg_parse(nlh, data) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

static int dump_set(struct mnl_socket *nl, const char *table, const char *name, uint32_t seq) {
  char *buf = malloc(MNL_SOCKET_BUFFER_SIZE * 16);
  struct nftnl_set *set = nftnl_set_alloc();
  int ret = 3;
  if (!buf || !set) goto out;
  nftnl_set_set_str(set, NFTNL_SET_TABLE, table);
  nftnl_set_set_str(set, NFTNL_SET_NAME, name);
  struct nlmsghdr *nlh =
      nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_IPV4, NLM_F_DUMP | NLM_F_ACK, seq);
  nftnl_set_elems_nlmsg_build_payload(nlh, set);
  if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) goto out;
  uint32_t portid = mnl_socket_get_portid(nl);
  for (;;) {
    ret = mnl_socket_recvfrom(nl, buf, MNL_SOCKET_BUFFER_SIZE * 16);
    if (ret <= 0) break;
    ret = mnl_cb_run(buf, ret, seq, portid, parse_message, set);
    if (ret <= 0) break;
  }
  if (ret < 0) {
    int missing = errno == ENOENT;
    fprintf(stderr, "sfip-nft-set-dump: cannot list set ip %s %s: %s\n", table, name, strerror(errno));
    ret = missing ? 2 : 3;
    goto out;
  }
  nftnl_set_elem_foreach(set, print_element, (void *)name);
  ret = 0;
out:
  /* Freed on every path: in serve mode one process reads many routers, some without a table yet. */
  if (set) nftnl_set_free(set);
  free(buf);
  return ret;
}

/* Dumps each set in turn on one netlink socket, opened in the calling thread's current network namespace. */
static int dump_sets(const char *table, char **sets, int count) {
  struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
  if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    perror("sfip-nft-set-dump: netlink socket");
    if (nl) mnl_socket_close(nl);
    return 3;
  }
  uint32_t seq = (uint32_t)time(NULL);
  int ret = 0;
  for (int i = 0; i < count && ret == 0; i++) ret = dump_set(nl, table, sets[i], seq + (uint32_t)i);
  mnl_socket_close(nl);
  return ret;
}

/* A namespace name as `ip netns` makes them: a file name under /run/netns, nothing that could leave it. */
static int valid_name(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > 255 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return 0;
  return strchr(name, '/') == NULL;
}

/* A number from a /proc/sys file, or -1. */
static long long read_number(const char *path) {
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  long long n = -1;
  if (fscanf(f, "%lld", &n) != 1) n = -1;
  fclose(f);
  return n;
}

/*
 * The conntrack table's use in the current namespace: /proc/sys/net belongs to the namespace of the process that
 * opens it, so after setns the files are the namespace's (the limit is the host's, shared by all).
 */
static void conntrack_usage(void) {
  long long count = read_number("/proc/sys/net/netfilter/nf_conntrack_count");
  long long max = read_number("/proc/sys/net/netfilter/nf_conntrack_max");
  if (count < 0 || max < 0) printf(". 3 cannot read nf_conntrack_count and nf_conntrack_max\n");
  else printf("%lld %lld\n. 0\n", count, max);
}

/*
 * Serve mode: one long-lived process answers many reads, so that reading the counters of 100 routers starts no
 * process (each `ip netns exec` costs a fork and exec from the agent and a mount namespace, 10-20 ms apiece).
 * Each request is one line on stdin, words separated by single spaces: NETNS TABLE SET [SET...], where NETNS is a
 * name under /run/netns or "-" for the namespace the helper started in. The helper enters the namespace (setns),
 * dumps the sets on a socket opened there, and prints the element lines, then one line ". 0" on success or
 * ". CODE MESSAGE" (the exit codes above) and flushes. `NETNS conntrack` prints "COUNT MAX" of the namespace's
 * conntrack table instead (the scrape reads it for every namespace too). Needs CAP_SYS_ADMIN for setns, as ip
 * netns exec does.
 */
static int serve(void) {
  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) {
    perror("sfip-nft-set-dump: /proc/self/ns/net");
    return 3;
  }
  char *line = NULL;
  size_t size = 0;
  ssize_t len;
  while ((len = getline(&line, &size, stdin)) > 0) {
    if (line[len - 1] == '\n') line[--len] = '\0';
    char *words[64];
    int count = 0;
    for (char *save = NULL, *w = strtok_r(line, " ", &save); w && count < 64; w = strtok_r(NULL, " ", &save))
      words[count++] = w;
    int conntrack = count == 2 && strcmp(words[1], "conntrack") == 0;
    if (count < 3 && !conntrack) {
      printf(". 1 expected NETNS TABLE SET [SET...] or NETNS conntrack\n");
    } else if (strcmp(words[0], "-") != 0 && !valid_name(words[0])) {
      printf(". 1 not a namespace name\n");
    } else {
      int fd = home;
      if (strcmp(words[0], "-") != 0) {
        char path[300];
        snprintf(path, sizeof path, "/run/netns/%s", words[0]);
        fd = open(path, O_RDONLY | O_CLOEXEC);
      }
      if (fd < 0) {
        printf(". 2 cannot open network namespace %s: %s\n", words[0], strerror(errno));
      } else if (setns(fd, CLONE_NEWNET) < 0) {
        printf(". 3 cannot enter network namespace %s: %s\n", words[0], strerror(errno));
      } else if (conntrack) {
        conntrack_usage();
      } else {
        /* Errors of a dump go to stderr as in one-shot mode; the status line carries the code. */
        int ret = dump_sets(words[1], words + 2, count - 2);
        if (ret == 0) printf(". 0\n");
        else printf(". %d cannot list the sets of table ip %s\n", ret, words[1]);
      }
      if (fd >= 0 && fd != home) close(fd);
    }
    if (fflush(stdout) != 0) return 3;
  }
  free(line);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--serve") == 0) return serve();
  if (argc < 3) {
    fprintf(stderr, "usage: sfip-nft-set-dump TABLE SET [SET...]\n");
    return 1;
  }
  int ret = dump_sets(argv[1], argv + 2, argc - 2);
  if (ret != 0) return ret;
  return fflush(stdout) != 0 ? 3 : 0;
}
