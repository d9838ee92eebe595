/*
 * sfip-nft-load: adds elements to the sets and maps of an existing nftables table (family ip) straight through
 * netlink, without nft's parser.
 *
 * Why: a router's first apply at 100,000 floating IPs writes about 1.1 million elements (11 per floating IP). Through
 * `nft -f` that cost about 4.5 s, most of it nft 1.0.6 parsing and evaluating each element in user space (~4 us
 * each). The kernel's share is the same either way. The agent uses this only where atomicity allows: when the
 * router's table did not exist before (see src/dataplane/nftables/element-load.ts); a rebuild of a live table stays
 * one nft transaction.
 *
 * Usage: sfip-nft-load TABLE   (run inside the namespace, e.g. ip netns exec; element lines on stdin)
 * Input, one element per line:
 *   SET KEY          (a plain set)
 *   SET KEY DATA     (a map)
 * KEY and DATA are the bytes the kernel holds, as lower-case hex with an even number of digits: an ipv4_addr or a
 * raw 32-bit word is 8 digits in network byte order; an `ether_addr . ipv4_addr` key is 24 (the MAC, 2 bytes of
 * register padding, the address: see nft-set-dump.c); a 16-bit raw word is 4. Each key and data length is checked
 * against the set's own (asked from the kernel) before anything is written, so a bad line is refused by number.
 * Consecutive lines of one set go into one NFT_MSG_NEWSETELEM of up to PER_MESSAGE elements; messages go to the
 * kernel in netlink batches (each one transaction) of up to PER_BATCH messages, and only each batch's last
 * message asks for an acknowledgement: the kernel answers a failing message anyway, with its sequence number.
 * Exit codes: 0 every element added; 1 the kernel refused a batch (stderr names the set and the lines of the
 * failing message; batches before it stay applied, the caller rebuilds the table); 2 bad input or a set that does
 * not exist (nothing written); 3 a netlink failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/set.h>
#include <libnftnl/common.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

/* Elements per message: about 40 KiB of attributes for an address map. */
#define PER_MESSAGE 1024
/* Messages per batch: a few MiB per sendmsg(2), and per kernel transaction. */
#define PER_BATCH 128
/* The largest key or data the kernel takes (NFT_DATA_VALUE_MAXLEN). */
#define MAX_BYTES 64
#define MAX_SETS 64

struct element {
  unsigned set;   /* index into sets[] */
  unsigned line;  /* 1-based, for messages */
  unsigned char key_len, data_len;
  unsigned char key[MAX_BYTES], data[MAX_BYTES];
};

struct set_info {
  char name[NFT_SET_MAXNAMELEN];
  uint32_t key_len, data_len;
  int map;
};

static struct set_info sets[MAX_SETS];
static unsigned set_count;

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Lower-case hex, an even number of digits, at most MAX_BYTES bytes. Returns the byte count, or -1. */
static int parse_hex(const char *text, size_t digits, unsigned char *out) {
  if (digits == 0 || digits % 2 || digits / 2 > MAX_BYTES) return -1;
  for (size_t i = 0; i < digits; i += 2) {
    int hi = hex_digit(text[i]), lo = hex_digit(text[i + 1]);
    if (hi < 0 || lo < 0) return -1;
    out[i / 2] = (unsigned char)(hi << 4 | lo);
  }
  return (int)(digits / 2);
}

static int valid_name(const char *name, size_t len) {
  if (len == 0 || len >= NFT_SET_MAXNAMELEN) return 0;
  for (size_t i = 0; i < len; i++)
    if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '_')) return 0;
  return 1;
}

static int set_index(const char *name, size_t len) {
  for (unsigned i = 0; i < set_count; i++)
    if (strlen(sets[i].name) == len && memcmp(sets[i].name, name, len) == 0) return (int)i;
  if (set_count == MAX_SETS) return -1;
  memcpy(sets[set_count].name, name, len);
  sets[set_count].name[len] = '\0';
  return (int)set_count++;
}

/* One line into `e`; 0, or -1 with a reason. Fields are separated by exactly one space. */
static int parse_line(char *line, unsigned number, struct element *e, const char **why) {
  char *fields[4];
  unsigned n = 0;
  for (char *p = line; n < 4;) {
    fields[n++] = p;
    p = strchr(p, ' ');
    if (!p) break;
    *p++ = '\0';
  }
  if (n < 2 || n > 3) return *why = "expected SET KEY or SET KEY DATA", -1;
  if (!valid_name(fields[0], strlen(fields[0]))) return *why = "bad set name", -1;
  int set = set_index(fields[0], strlen(fields[0]));
  if (set < 0) return *why = "too many sets", -1;
  int k = parse_hex(fields[1], strlen(fields[1]), e->key);
  if (k < 0) return *why = "bad key (lower-case hex bytes expected)", -1;
  int d = 0;
  if (n == 3 && (d = parse_hex(fields[2], strlen(fields[2]), e->data)) < 0)
    return *why = "bad data (lower-case hex bytes expected)", -1;
  e->set = (unsigned)set;
  e->line = number;
  e->key_len = (unsigned char)k;
  e->data_len = (unsigned char)d;
  return 0;
}

static int set_attributes(const struct nlmsghdr *nlh, void *data) {
  struct nftnl_set *s = data;
  return nftnl_set_nlmsg_parse(nlh, s) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

/* The set's key and data lengths, from the kernel. 0, 2 when it does not exist, 3 on other failures. */
static int describe(struct mnl_socket *nl, const char *table, struct set_info *info, uint32_t seq) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nftnl_set *s = nftnl_set_alloc();
  if (!s) return 3;
  nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
  nftnl_set_set_str(s, NFTNL_SET_NAME, info->name);
  struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, NFPROTO_IPV4, NLM_F_ACK, seq);
  nftnl_set_nlmsg_build_payload(nlh, s);
  int ret = mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0 ? -1 : 1;
  uint32_t portid = mnl_socket_get_portid(nl);
  while (ret > 0) {
    ret = (int)mnl_socket_recvfrom(nl, buf, sizeof buf);
    if (ret <= 0) break;
    ret = mnl_cb_run(buf, (size_t)ret, seq, portid, set_attributes, s);
  }
  if (ret < 0) {
    int missing = errno == ENOENT;
    fprintf(stderr, "sfip-nft-load: cannot read set ip %s %s: %s\n", table, info->name, strerror(errno));
    nftnl_set_free(s);
    return missing ? 2 : 3;
  }
  info->key_len = nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN);
  info->map = (nftnl_set_get_u32(s, NFTNL_SET_FLAGS) & NFT_SET_MAP) != 0;
  info->data_len = info->map ? nftnl_set_get_u32(s, NFTNL_SET_DATA_LEN) : 0;
  nftnl_set_free(s);
  return 0;
}

/* Where each message of a batch starts in the input, to name the lines of one the kernel refuses. */
struct sent {
  uint32_t seq;
  size_t first, count;
};

struct batch_state {
  const struct element *elements;
  const struct sent *messages;
  size_t message_count;
  uint32_t last_seq, begin_seq, end_seq;
  int failed, done;
};

static int on_error(const struct nlmsghdr *nlh, void *data) {
  struct batch_state *b = data;
  const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
  if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof *err)) return MNL_CB_ERROR;
  if (nlh->nlmsg_seq == b->last_seq || nlh->nlmsg_seq == b->begin_seq || nlh->nlmsg_seq == b->end_seq)
    b->done = 1;
  if (err->error == 0) return b->done ? MNL_CB_STOP : MNL_CB_OK;
  b->failed = 1;
  const struct sent *m = NULL;
  for (size_t i = 0; i < b->message_count; i++)
    if (b->messages[i].seq == nlh->nlmsg_seq) m = &b->messages[i];
  if (m) {
    const struct element *first = &b->elements[m->first], *last = &b->elements[m->first + m->count - 1];
    fprintf(stderr, "sfip-nft-load: the kernel refused the elements of set %s on lines %u-%u: %s\n",
            sets[first->set].name, first->line, last->line, strerror(-err->error));
  } else {
    fprintf(stderr, "sfip-nft-load: the kernel refused a batch: %s\n", strerror(-err->error));
  }
  return b->done ? MNL_CB_STOP : MNL_CB_OK;
}

static int ignore(const struct nlmsghdr *nlh, void *data) {
  (void)nlh;
  (void)data;
  return MNL_CB_OK;
}

/* Sends one batch of already built messages and waits for its end. 0 ok, 1 refused, 3 netlink failure. */
static int send_batch(struct mnl_socket *nl, char *buf, size_t len, struct batch_state *b) {
  if (mnl_socket_sendto(nl, buf, len) < 0) {
    fprintf(stderr, "sfip-nft-load: cannot send a batch of %zu bytes: %s\n", len, strerror(errno));
    return 3;
  }
  mnl_cb_t callbacks[NLMSG_MIN_TYPE] = {[NLMSG_ERROR] = on_error, [NLMSG_NOOP] = ignore};
  char reply[MNL_SOCKET_BUFFER_SIZE];
  uint32_t portid = mnl_socket_get_portid(nl);
  while (!b->done) {
    ssize_t n = mnl_socket_recvfrom(nl, reply, sizeof reply);
    if (n <= 0) {
      fprintf(stderr, "sfip-nft-load: no answer to a batch: %s\n", strerror(errno));
      return 3;
    }
    /* Sequence 0: answers are matched to messages in on_error, not by libmnl. */
    if (mnl_cb_run2(reply, (size_t)n, 0, portid, ignore, b, callbacks, NLMSG_MIN_TYPE) < 0 && !b->failed) {
      fprintf(stderr, "sfip-nft-load: bad answer to a batch: %s\n", strerror(errno));
      return 3;
    }
  }
  return b->failed ? 1 : 0;
}

/* Adds elements[first, first+count) (one set) to the message at nlh. */
static int build_message(struct nlmsghdr *nlh, const char *table, const struct element *elements, size_t count) {
  struct nftnl_set *s = nftnl_set_alloc();
  if (!s) return -1;
  nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
  nftnl_set_set_str(s, NFTNL_SET_NAME, sets[elements[0].set].name);
  for (size_t i = 0; i < count; i++) {
    struct nftnl_set_elem *e = nftnl_set_elem_alloc();
    if (!e) {
      nftnl_set_free(s);
      return -1;
    }
    nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, elements[i].key, elements[i].key_len);
    if (elements[i].data_len) nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, elements[i].data, elements[i].data_len);
    nftnl_set_elem_add(s, e);
  }
  nftnl_set_elems_nlmsg_build_payload(nlh, s);
  nftnl_set_free(s);
  return 0;
}

/* Every element, PER_MESSAGE a message, PER_BATCH messages a batch. */
static int load(struct mnl_socket *nl, const char *table, const struct element *elements, size_t total) {
  /* An element takes at most ~4 nests and two MAX_BYTES values: 200 bytes is ample. */
  size_t capacity = (size_t)PER_BATCH * (PER_MESSAGE * 200 + 512) + 1024;
  char *buf = malloc(capacity);
  struct sent *messages = malloc(sizeof *messages * PER_BATCH);
  if (!buf || !messages) return 3;
  int bufsize = (int)capacity;
  /* A batch is one skb: the send buffer must hold it whole (needs CAP_NET_ADMIN, as nft does it). */
  if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUFFORCE, &bufsize, sizeof bufsize) < 0)
    setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
  uint32_t seq = 1000;
  size_t next = 0;
  int ret = 0;
  while (next < total && ret == 0) {
    struct batch_state b = {.elements = elements, .messages = messages};
    size_t len = 0;
    b.begin_seq = seq;
    len += NLMSG_ALIGN(nftnl_batch_begin(buf, seq++)->nlmsg_len);
    while (next < total && b.message_count < PER_BATCH) {
      size_t count = 1;
      while (next + count < total && count < PER_MESSAGE && elements[next + count].set == elements[next].set)
        count++;
      struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf + len, NFT_MSG_NEWSETELEM, NFPROTO_IPV4, NLM_F_CREATE, seq);
      if (build_message(nlh, table, elements + next, count) < 0) return 3;
      messages[b.message_count++] = (struct sent){seq, next, count};
      b.last_seq = seq++;
      next += count;
      /* The last message of a batch asks for the acknowledgement (see the top of the file). */
      if (next == total || b.message_count == PER_BATCH) nlh->nlmsg_flags |= NLM_F_ACK;
      len += NLMSG_ALIGN(nlh->nlmsg_len);
    }
    b.end_seq = seq;
    len += NLMSG_ALIGN(nftnl_batch_end(buf + len, seq++)->nlmsg_len);
    ret = send_batch(nl, buf, len, &b);
  }
  free(messages);
  free(buf);
  return ret;
}

int main(int argc, char **argv) {
  if (argc != 2 || !valid_name(argv[1], strlen(argv[1]))) {
    fputs("usage: sfip-nft-load TABLE < element lines (see native/nft-load.c)\n", stderr);
    return 2;
  }
  const char *table = argv[1];
  size_t capacity = 1 << 16, total = 0;
  struct element *elements = malloc(capacity * sizeof *elements);
  char *line = NULL;
  size_t line_capacity = 0;
  ssize_t length;
  unsigned number = 0;
  while (elements && (length = getline(&line, &line_capacity, stdin)) >= 0) {
    number++;
    if (length == 0 || line[length - 1] != '\n') {
      fprintf(stderr, "sfip-nft-load: line %u is not terminated by a newline: %s\n", number, line);
      return 2;
    }
    line[length - 1] = '\0';
    char shown[160];
    snprintf(shown, sizeof shown, "%s", line);
    if (total == capacity) {
      capacity *= 2;
      struct element *grown = realloc(elements, capacity * sizeof *elements);
      if (!grown) break;
      elements = grown;
    }
    const char *why = NULL;
    if (parse_line(line, number, &elements[total], &why) < 0) {
      fprintf(stderr, "sfip-nft-load: line %u: %s: %s\n", number, why, shown);
      return 2;
    }
    total++;
  }
  free(line);
  if (!elements) return 3;
  struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
  if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    perror("sfip-nft-load: netlink");
    return 3;
  }
  /* A kernel that never answers must not hang the agent's apply. */
  struct timeval timeout = {.tv_sec = 60};
  setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  for (unsigned i = 0; i < set_count; i++) {
    int ret = describe(nl, table, &sets[i], 1 + i);
    if (ret) return ret;
  }
  for (size_t i = 0; i < total; i++) {
    const struct element *e = &elements[i];
    const struct set_info *s = &sets[e->set];
    if (e->key_len != s->key_len || e->data_len != s->data_len) {
      fprintf(stderr,
              "sfip-nft-load: line %u: set %s takes %u key bytes and %u data bytes, the line has %u and %u\n",
              e->line, s->name, s->key_len, s->data_len, e->key_len, e->data_len);
      return 2;
    }
  }
  int ret = load(nl, table, elements, total);
  mnl_socket_close(nl);
  free(elements);
  return ret;
}
