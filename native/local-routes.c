/*
 * sfip-local-routes: installs and removes sfip's floating addresses (local routes, see
 * src/dataplane/common/gateway-addresses.ts) through rtnetlink, many requests per send.
 *
 * Why: `ip -batch` waits for the kernel's answer to each route before it sends the next, and parses a command
 * line per route: 100,000 local routes took it 1.25 s of a 1 x 100,000 converge. Here the routes go out about a
 * thousand per sendmsg(2), without asking for an acknowledgement of each: the kernel answers only a request that
 * fails (with its sequence number, so the failing route is named), and a last request that asks for one marks
 * the end of the batch.
 *
 * Input (standard input): exactly the lines `renderAddressBatch` writes for `ip -batch`, one route each,
 *   route replace local A.B.C.D/32 dev DEVICE table local proto N
 *   route del local A.B.C.D/32 dev DEVICE table local proto N
 * Any other line is refused before anything is sent, naming it. Run inside the router's namespace (ip netns exec).
 * Exit 0 when every route was applied; 1 with one line on standard error per failed route (all of them are
 * sent: a failure leaves the others applied, as ip -batch leaves those before it; the caller reads the kernel
 * again after any failure); 2 for bad input or a netlink failure.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct route {
  int del;
  uint32_t dst; /* network order */
  unsigned ifindex;
  unsigned char protocol;
  char text[96]; /* the line, for error messages */
};

struct request {
  struct nlmsghdr nh;
  struct rtmsg rt;
  char attrs[2 * RTA_SPACE(sizeof(uint32_t))];
};

/* Requests per send: about 60 KiB, under the socket's default send buffer. */
#define PER_SEND 1024

static void add_attr(struct nlmsghdr *nh, unsigned short type, uint32_t value) {
  struct rtattr *rta = (struct rtattr *)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len));
  rta->rta_type = type;
  rta->rta_len = RTA_LENGTH(sizeof value);
  memcpy(RTA_DATA(rta), &value, sizeof value);
  nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* As iproute2 builds `ip route replace|del local A/32 dev D table local proto N`. */
static void build(struct request *req, const struct route *r, uint32_t seq, int ack) {
  memset(req, 0, sizeof *req);
  req->nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
  req->nh.nlmsg_type = r->del ? RTM_DELROUTE : RTM_NEWROUTE;
  req->nh.nlmsg_flags = NLM_F_REQUEST | (r->del ? 0 : NLM_F_CREATE | NLM_F_REPLACE) | (ack ? NLM_F_ACK : 0);
  req->nh.nlmsg_seq = seq;
  req->rt.rtm_family = AF_INET;
  req->rt.rtm_dst_len = 32;
  req->rt.rtm_table = RT_TABLE_LOCAL;
  req->rt.rtm_protocol = r->protocol;
  req->rt.rtm_scope = r->del ? RT_SCOPE_NOWHERE : RT_SCOPE_HOST;
  req->rt.rtm_type = RTN_LOCAL;
  add_attr(&req->nh, RTA_DST, r->dst);
  add_attr(&req->nh, RTA_OIF, r->ifindex);
}

static int parse(const char *line, struct route *r, char *last_dev, unsigned *last_index) {
  char verb[8], addr[16], dev[IF_NAMESIZE + 1];
  unsigned protocol;
  int end = -1;
  if (sscanf(line, "route %7s local %15[0-9.]/32 dev %16s table local proto %u%n", verb, addr, dev, &protocol,
             &end) != 4 ||
      line[end] != '\0')
    return -1;
  if (strcmp(verb, "replace") == 0)
    r->del = 0;
  else if (strcmp(verb, "del") == 0)
    r->del = 1;
  else
    return -1;
  struct in_addr in;
  if (inet_pton(AF_INET, addr, &in) != 1 || protocol > 255) return -1;
  r->dst = in.s_addr;
  r->protocol = (unsigned char)protocol;
  if (strcmp(dev, last_dev) != 0) {
    unsigned index = if_nametoindex(dev);
    if (index == 0) {
      fprintf(stderr, "sfip-local-routes: device %s does not exist\n", dev);
      exit(2);
    }
    strcpy(last_dev, dev);
    *last_index = index;
  }
  r->ifindex = *last_index;
  snprintf(r->text, sizeof r->text, "%s", line);
  return 0;
}

static struct route *read_routes(size_t *count) {
  size_t cap = 1024, n = 0;
  struct route *routes = malloc(cap * sizeof *routes);
  char *line = NULL, last_dev[IF_NAMESIZE + 1] = "";
  size_t size = 0;
  unsigned last_index = 0, number = 0;
  ssize_t len;
  while (routes && (len = getline(&line, &size, stdin)) >= 0) {
    number++;
    if (len > 0 && line[len - 1] == '\n') line[--len] = '\0';
    if (len == 0) continue;
    if (n == cap) routes = realloc(routes, (cap *= 2) * sizeof *routes);
    if (!routes) break;
    if (parse(line, &routes[n], last_dev, &last_index) != 0) {
      fprintf(stderr, "sfip-local-routes: line %u is not a floating address route: %s\n", number, line);
      exit(2);
    }
    n++;
  }
  free(line);
  if (!routes) {
    fprintf(stderr, "sfip-local-routes: out of memory\n");
    exit(2);
  }
  *count = n;
  return routes;
}

/* Reads answers until the acknowledgement of `last_seq`; reports each failed route. Returns the failures. */
static int read_answers(int fd, const struct route *routes, uint32_t first_seq, uint32_t last_seq) {
  static char buf[1 << 16];
  int failures = 0;
  for (;;) {
    ssize_t len = recv(fd, buf, sizeof buf, 0);
    if (len < 0) {
      if (errno == EINTR) continue;
      /* ENOBUFS: answers were lost (thousands of failures). Some failed; which ones is unknown. */
      fprintf(stderr, "sfip-local-routes: reading the kernel's answers: %s\n", strerror(errno));
      exit(2);
    }
    for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)len); nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_type != NLMSG_ERROR) continue;
      const struct nlmsgerr *e = NLMSG_DATA(nh);
      uint32_t seq = nh->nlmsg_seq;
      if (e->error != 0 && seq >= first_seq && seq <= last_seq) {
        fprintf(stderr, "%s: %s\n", routes[seq - first_seq].text, strerror(-e->error));
        failures++;
      }
      if (seq == last_seq) return failures;
    }
  }
}

int main(void) {
  size_t count;
  struct route *routes = read_routes(&count);
  if (count == 0) return 0;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    fprintf(stderr, "sfip-local-routes: netlink socket: %s\n", strerror(errno));
    return 2;
  }
  /* Only failures are answered before the end; room for many of them before any is lost. */
  int rcvbuf = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  int one = 1;
  /* Error answers without a copy of the request: the sequence number names the route. */
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  static struct request reqs[PER_SEND];
  const uint32_t first_seq = 1;
  for (size_t start = 0; start < count; start += PER_SEND) {
    size_t n = count - start < PER_SEND ? count - start : PER_SEND;
    struct iovec iov[PER_SEND];
    for (size_t i = 0; i < n; i++) {
      size_t k = start + i;
      build(&reqs[i], &routes[k], first_seq + (uint32_t)k, k == count - 1);
      iov[i].iov_base = &reqs[i];
      iov[i].iov_len = reqs[i].nh.nlmsg_len;
    }
    struct msghdr msg = {.msg_name = &kernel, .msg_namelen = sizeof kernel, .msg_iov = iov, .msg_iovlen = n};
    while (sendmsg(fd, &msg, 0) < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "sfip-local-routes: sending routes: %s\n", strerror(errno));
      return 2;
    }
  }
  int failures = read_answers(fd, routes, first_seq, first_seq + (uint32_t)count - 1);
  close(fd);
  free(routes);
  return failures > 0 ? 1 : 0;
}
