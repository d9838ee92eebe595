/*
 * sfip-nft-set-dump: prints the elements of nftables sets and maps, fast.
 *
 * Why this exists: `nft -j list set` takes seconds for 100,000 elements (nft 1.0.6 builds an expression tree
 * and sorts every element before printing), while the kernel's netlink dump of the same elements takes
 * milliseconds. sfip reads per-floating-IP counters on every Prometheus scrape, so it asks the kernel
 * directly through libnftnl, the library nft itself is built on.
 *
 * It also deletes conntrack entries over ctnetlink in serve mode (`NS ctdel ...`, see conntrack_delete()), so
 * that cleaning up after an association starts no `conntrack` process either: it is the daemon's one long-lived
 * process that already enters namespaces and speaks netfilter netlink through libmnl.
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
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
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

/* The conntrack fields a ctdel request names, as conntrack's own flags: -s, -r, -d. */
enum ct_field { CT_SRC, CT_RSRC, CT_DST };

struct ct_match {
  enum ct_field field;
  struct in_addr addr;
};

/* What the dump collects: the original tuple (and zone) of each entry to delete, copied as the kernel sent them. */
struct ct_doomed {
  const struct ct_match *matches;
  int count;
  struct nlattr **tuples; /* each a malloc'd copy of CTA_TUPLE_ORIG, followed by CTA_ZONE if the entry had one */
  size_t *sizes;
  size_t used, room;
  int failed;
};

/* The IPv4 source or destination of a CTA_TUPLE_ORIG/REPLY nest, or 0 (no such attribute) in *found. */
static int tuple_address(const struct nlattr *tuple, uint16_t which, struct in_addr *out) {
  const struct nlattr *a, *b;
  mnl_attr_for_each_nested(a, tuple) {
    if (mnl_attr_get_type(a) != CTA_TUPLE_IP) continue;
    mnl_attr_for_each_nested(b, a) {
      if (mnl_attr_get_type(b) == which && mnl_attr_get_payload_len(b) == 4) {
        memcpy(out, mnl_attr_get_payload(b), 4);
        return 1;
      }
    }
  }
  return 0;
}

static int collect_entry(const struct nlmsghdr *nlh, void *data) {
  struct ct_doomed *d = data;
  const struct nlattr *orig = NULL, *reply = NULL, *zone = NULL, *a;
  mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
    switch (mnl_attr_get_type(a)) {
      case CTA_TUPLE_ORIG: orig = a; break;
      case CTA_TUPLE_REPLY: reply = a; break;
      case CTA_ZONE: zone = a; break;
    }
  }
  if (!orig) return MNL_CB_OK;
  struct in_addr src, dst, rsrc;
  int has_src = tuple_address(orig, CTA_IP_V4_SRC, &src);
  int has_dst = tuple_address(orig, CTA_IP_V4_DST, &dst);
  int has_rsrc = reply && tuple_address(reply, CTA_IP_V4_SRC, &rsrc);
  int hit = 0;
  for (int i = 0; i < d->count && !hit; i++) {
    const struct ct_match *m = &d->matches[i];
    if (m->field == CT_SRC) hit = has_src && src.s_addr == m->addr.s_addr;
    else if (m->field == CT_RSRC) hit = has_rsrc && rsrc.s_addr == m->addr.s_addr;
    else hit = has_dst && dst.s_addr == m->addr.s_addr;
  }
  if (!hit) return MNL_CB_OK;
  if (d->used == d->room) {
    size_t room = d->room ? d->room * 2 : 16;
    struct nlattr **tuples = realloc(d->tuples, room * sizeof *tuples);
    if (tuples) d->tuples = tuples;
    size_t *sizes = realloc(d->sizes, room * sizeof *sizes);
    if (sizes) d->sizes = sizes;
    if (!tuples || !sizes) {
      d->failed = 1;
      return MNL_CB_ERROR;
    }
    d->room = room;
  }
  size_t orig_size = MNL_ALIGN(orig->nla_len), zone_size = zone ? MNL_ALIGN(zone->nla_len) : 0;
  struct nlattr *copy = malloc(orig_size + zone_size);
  if (!copy) {
    d->failed = 1;
    return MNL_CB_ERROR;
  }
  memset(copy, 0, orig_size + zone_size);
  memcpy(copy, orig, orig->nla_len);
  if (zone) memcpy((char *)copy + orig_size, zone, zone->nla_len);
  d->tuples[d->used] = copy;
  d->sizes[d->used++] = orig_size + zone_size;
  return MNL_CB_OK;
}

static struct nlmsghdr *ct_message(char *buf, uint16_t type, uint16_t flags, uint32_t seq) {
  struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = seq;
  struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
  nfg->nfgen_family = AF_INET;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = 0;
  return nlh;
}

/*
 * Deletes the current namespace's IPv4 conntrack entries that match any of `matches`, as `conntrack -D -s|-r|-d
 * ADDR` does for each (it too dumps the table and deletes what matches): the dump first, then one delete per entry
 * by its original tuple (and zone). An entry gone meanwhile (ENOENT) is not an error. Prints the count deleted.
 */
static int conntrack_delete(const struct ct_match *matches, int count) {
  struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
  if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    printf(". 3 cannot open a netfilter netlink socket: %s\n", strerror(errno));
    if (nl) mnl_socket_close(nl);
    return 3;
  }
  size_t bufsize = MNL_SOCKET_BUFFER_SIZE * 16;
  char *buf = malloc(bufsize);
  struct ct_doomed d = {matches, count, NULL, NULL, 0, 0, 0};
  uint32_t portid = mnl_socket_get_portid(nl), seq = (uint32_t)time(NULL);
  int ret = 3, deleted = 0;
  if (!buf) {
    printf(". 3 out of memory\n");
    goto out;
  }
  struct nlmsghdr *nlh = ct_message(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, seq);
  if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
    printf(". 3 cannot ask for the conntrack table: %s\n", strerror(errno));
    goto out;
  }
  int got;
  for (;;) {
    got = (int)mnl_socket_recvfrom(nl, buf, bufsize);
    if (got <= 0) break;
    got = mnl_cb_run(buf, (size_t)got, seq, portid, collect_entry, &d);
    if (got <= 0) break;
  }
  if (got < 0 || d.failed) {
    printf(". 3 cannot list the conntrack table: %s\n", d.failed ? "out of memory" : strerror(errno));
    goto out;
  }
  for (size_t i = 0; i < d.used; i++) {
    nlh = ct_message(buf, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, ++seq);
    memcpy(mnl_nlmsg_get_payload_tail(nlh), d.tuples[i], d.sizes[i]);
    nlh->nlmsg_len += (uint32_t)d.sizes[i];
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
      printf(". 3 cannot delete a conntrack entry: %s\n", strerror(errno));
      goto out;
    }
    got = (int)mnl_socket_recvfrom(nl, buf, bufsize);
    if (got > 0) got = mnl_cb_run(buf, (size_t)got, seq, portid, NULL, NULL);
    if (got >= 0) deleted++;
    else if (errno != ENOENT) {
      printf(". 3 cannot delete a conntrack entry: %s\n", strerror(errno));
      goto out;
    }
  }
  printf("%d\n. 0\n", deleted);
  ret = 0;
out:
  for (size_t i = 0; i < d.used; i++) free(d.tuples[i]);
  free(d.tuples);
  free(d.sizes);
  free(buf);
  mnl_socket_close(nl);
  return ret;
}

/*
 * A ctdel request's FIELD ADDR pairs, checked before anything is entered or deleted: FIELD is src, rsrc or dst and
 * ADDR a dotted quad (inet_pton's strict form: four decimal parts, no leading zeros). On a bad word, prints the
 * status line naming it and returns -1.
 */
static int parse_ct_matches(char **words, int count, struct ct_match *out) {
  if (count == 0 || count % 2 != 0) {
    printf(". 1 expected NETNS ctdel FIELD ADDR [FIELD ADDR...]\n");
    return -1;
  }
  for (int i = 0; i < count; i += 2) {
    struct ct_match *m = &out[i / 2];
    if (strcmp(words[i], "src") == 0) m->field = CT_SRC;
    else if (strcmp(words[i], "rsrc") == 0) m->field = CT_RSRC;
    else if (strcmp(words[i], "dst") == 0) m->field = CT_DST;
    else {
      printf(". 1 not a conntrack field (src, rsrc or dst): %s\n", words[i]);
      return -1;
    }
    if (inet_pton(AF_INET, words[i + 1], &m->addr) != 1) {
      printf(". 1 not an IPv4 address: %s\n", words[i + 1]);
      return -1;
    }
  }
  return count / 2;
}

/*
 * Serve mode: one long-lived process answers many reads, so that reading the counters of 100 routers starts no
 * process (each `ip netns exec` costs a fork and exec from the agent and a mount namespace, 10-20 ms apiece).
 * Each request is one line on stdin, words separated by single spaces: NETNS TABLE SET [SET...], where NETNS is a
 * name under /run/netns or "-" for the namespace the helper started in. The helper enters the namespace (setns),
 * dumps the sets on a socket opened there, and prints the element lines, then one line ". 0" on success or
 * ". CODE MESSAGE" (the exit codes above) and flushes. `NETNS conntrack` prints "COUNT MAX" of the namespace's
 * conntrack table instead (the scrape reads it for every namespace too). `NETNS ctdel FIELD ADDR [FIELD ADDR...]`
 * deletes the namespace's conntrack entries that match any pair and prints how many (see conntrack_delete()). Needs CAP_SYS_ADMIN for setns, as ip
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
    int count = 0, too_many = 0;
    for (char *save = NULL, *w = strtok_r(line, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
      if (count == 64) too_many = 1;
      else words[count++] = w;
    }
    int conntrack = count == 2 && strcmp(words[1], "conntrack") == 0;
    int ctdel = count >= 2 && strcmp(words[1], "ctdel") == 0;
    struct ct_match matches[31];
    int match_count = 0;
    if (too_many) {
      /* Refused rather than cut short: a ctdel that dropped pairs would leave stale entries without a word. */
      printf(". 1 more than 64 words in one request\n");
    } else if (ctdel && (match_count = parse_ct_matches(words + 2, count - 2, matches)) < 0) {
      /* parse_ct_matches printed the status line naming the bad word. */
    } else if (count < 3 && !conntrack) {
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
      } else if (ctdel) {
        conntrack_delete(matches, match_count);
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
