/*
 * sfip-bpf-load: creates and pins BPF maps and loads and pins tc programs, one command per line on stdin, for the
 * eBPF backend's long-lived loader channel (src/dataplane/ebpf/loader.ts). It does what two bpftool processes per
 * generation did (`bpftool batch` for the maps, `bpftool prog loadall` for the programs) with the same libbpf
 * calls, so that building a router's generation costs two lines on a pipe instead of two process starts: each
 * start costs the agent's event loop 4-9 ms (fork of a large process, then waiting for the exec), paid for every
 * router of a converge.
 *
 * Commands (words separated by single spaces; paths never contain spaces, the agent checks them):
 *   map PATH TYPE KEY VALUE ENTRIES NAME FLAGS      create a map (TYPE is the kernel's number) and pin it at PATH
 *   load OBJECT PROGDIR MAPNAME=PIN...              load every program of OBJECT as a tc classifier, each named
 *                                                   map replaced by the map pinned at PIN; pin them under PROGDIR
 *   tc NETNS qdisc DEV                              add a clsact qdisc on DEV; fails if it has one (never
 *                                                   replaced: that would drop others' filters)
 *   tc NETNS replace DEV ingress|egress PRIO HANDLE PROG
 *                                                   attach (or atomically replace, as `tc filter replace`) a
 *                                                   direct-action bpf filter running the program pinned at PROG;
 *                                                   fails unless the kernel's echo of the filter names that
 *                                                   program's id
 *   tc NETNS del DEV ingress|egress PRIO HANDLE     delete that filter
 *   hooks NETNS PRIO HANDLE DEV...                  print one line: for each DEV, in order and separated by
 *                                                   spaces, "C,F" then ",i:ID" / ",e:ID" for each bpf filter with
 *                                                   priority PRIO and handle HANDLE on its ingress / egress hook
 *                                                   (ID: the program it runs); C is 1 when DEV has a clsact
 *                                                   qdisc, F counts the hooks' other filters (what `tc -j filter
 *                                                   show` lists with options). A DEV that is gone fails it.
 *   fail TOKEN                                      always fails, naming TOKEN (the channel's marker)
 * NETNS is a network namespace's bind mount (/run/netns/NAME) or "-" for the helper's own. The tc commands do what
 * `nsenter --net=NETNS tc -batch` did per router, through libbpf's netlink calls, without a process start.
 * Nothing is written on success but a `hooks` line (stdout is flushed before the next command runs). The commands before a `fail` line are one request: the first that fails ends it,
 * and the others up to the `fail` line are skipped. A failure writes "sfip-bpf-load: ..." lines on stderr; a refused program load
 * writes libbpf's messages too, the verifier's log between its BEGIN/END PROG LOAD LOG markers, as bpftool does.
 * libbpf's messages of a load that succeeds are dropped: the channel takes any text on stderr for an error.
 * A last line without its newline at end of input is not run (a request cut short by a killed agent).
 * Exit code: 0 at end of input.
 */
#define _GNU_SOURCE /* getline, open_memstream */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_WORDS 64

/* libbpf's messages of the load in progress, shown only when it fails. */
static char *messages;
static size_t messages_size;
static FILE *messages_stream;

static int collect(enum libbpf_print_level level, const char *format, va_list args) {
  if (level == LIBBPF_DEBUG || !messages_stream) return 0;
  fputs("libbpf: ", messages_stream);
  return vfprintf(messages_stream, format, args);
}

/* Set by a failed command: the rest of its request is skipped, up to the channel's marker (`fail TOKEN`). */
static int failed;

static void fail(const char *format, ...) {
  failed = 1;
  va_list args;
  va_start(args, format);
  fputs("sfip-bpf-load: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
}

static int parse_uint(const char *text, unsigned long max, unsigned long *out) {
  char *end;
  errno = 0;
  unsigned long value = strtoul(text, &end, 10);
  if (errno || end == text || *end || value > max) return -1;
  *out = value;
  return 0;
}

/* map PATH TYPE KEY VALUE ENTRIES NAME FLAGS */
static void create_map(char **words, int count) {
  unsigned long type, key, value, entries, flags;
  if (count != 8 || parse_uint(words[2], 1000, &type) || parse_uint(words[3], 65535, &key) ||
      parse_uint(words[4], 1u << 20, &value) || parse_uint(words[5], 0xffffffffUL, &entries) ||
      parse_uint(words[7], 0xffffffffUL, &flags)) {
    fail("usage: map PATH TYPE KEY VALUE ENTRIES NAME FLAGS");
    return;
  }
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = (__u32)flags);
  int fd = bpf_map_create((enum bpf_map_type)type, words[6], (__u32)key, (__u32)value, (__u32)entries, &opts);
  if (fd < 0) {
    fail("cannot create map %s: %s", words[1], strerror(errno));
    return;
  }
  if (bpf_obj_pin(fd, words[1])) fail("cannot pin map %s: %s", words[1], strerror(errno));
  close(fd);
}

/* load OBJECT PROGDIR MAPNAME=PIN... */
static void load_programs(char **words, int count) {
  if (count < 3) {
    fail("usage: load OBJECT PROGDIR MAPNAME=PIN...");
    return;
  }
  messages_stream = open_memstream(&messages, &messages_size);
  struct bpf_object *object = bpf_object__open_file(words[1], NULL);
  int error = libbpf_get_error(object);
  if (error) {
    object = NULL;
    fail("cannot open %s: %s", words[1], strerror(-error));
    goto out;
  }
  struct bpf_program *program;
  bpf_object__for_each_program(program, object) {
    bpf_program__set_type(program, BPF_PROG_TYPE_SCHED_CLS);
    bpf_program__set_expected_attach_type(program, 0);
  }
  for (int i = 3; i < count; i++) {
    char *pin = strchr(words[i], '=');
    if (!pin) {
      fail("'%s' is not MAPNAME=PIN", words[i]);
      goto out;
    }
    *pin++ = '\0';
    struct bpf_map *map = bpf_object__find_map_by_name(object, words[i]);
    if (!map) {
      fail("%s has no map named %s", words[1], words[i]);
      goto out;
    }
    int fd = bpf_obj_get(pin);
    if (fd < 0) {
      fail("cannot open pinned map %s: %s", pin, strerror(errno));
      goto out;
    }
    error = bpf_map__reuse_fd(map, fd);
    close(fd);
    if (error) {
      fail("cannot reuse map %s for %s: %s", pin, words[i], strerror(-error));
      goto out;
    }
  }
  error = bpf_object__load(object);
  if (error) {
    fflush(messages_stream);
    if (messages_size) fwrite(messages, 1, messages_size, stderr);
    fail("cannot load the programs of %s: %s", words[1], strerror(-error));
    goto out;
  }
  error = bpf_object__pin_programs(object, words[2]);
  if (error) fail("cannot pin the programs of %s under %s: %s", words[1], words[2], strerror(-error));
out:
  bpf_object__close(object);
  fclose(messages_stream);
  messages_stream = NULL;
  free(messages);
  messages = NULL;
  messages_size = 0;
}

/* The helper's own network namespace, to come back to after a tc command in a router's. */
static int home_netns = -1;

static int enter_netns(const char *path) {
  if (!strcmp(path, "-")) return 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    /* The wording of nsenter, which isNamespaceGone (src/exec/run.ts) knows: a namespace deleted meanwhile. */
    fail("cannot open %s: %s", path, strerror(errno));
    return -1;
  }
  int error = setns(fd, CLONE_NEWNET);
  if (error) fail("cannot enter network namespace %s: %s", path, strerror(errno));
  close(fd);
  return error;
}

static void leave_netns(const char *path) {
  /* Failing to come back would run every later command in the wrong namespace: better to die and be restarted. */
  if (strcmp(path, "-") && setns(home_netns, CLONE_NEWNET)) {
    fail("cannot return to the helper's network namespace: %s", strerror(errno));
    exit(1);
  }
}

/* tc NETNS qdisc DEV | tc NETNS replace DEV DIR PRIO HANDLE PROG | tc NETNS del DEV DIR PRIO HANDLE */
static void tc_command(char **words, int count) {
  int replace = count == 8 && !strcmp(words[2], "replace"), del = count == 7 && !strcmp(words[2], "del");
  int qdisc = count == 4 && !strcmp(words[2], "qdisc");
  unsigned long priority = 0, handle = 0;
  if (!(replace || del || qdisc) ||
      ((replace || del) && ((strcmp(words[4], "ingress") && strcmp(words[4], "egress")) ||
                            parse_uint(words[5], 0xffff, &priority) || priority == 0 ||
                            parse_uint(words[6], 0xffffffffUL, &handle) || handle == 0))) {
    fail("usage: tc NETNS qdisc DEV | tc NETNS replace DEV ingress|egress PRIO HANDLE PROG | tc NETNS del DEV "
         "ingress|egress PRIO HANDLE");
    return;
  }
  if (enter_netns(words[1])) return;
  int ifindex = (int)if_nametoindex(words[3]);
  if (!ifindex) {
    fail("cannot find device %s: %s", words[3], strerror(errno));
    goto out;
  }
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
                      .attach_point = qdisc || !strcmp(words[4], "ingress") ? BPF_TC_INGRESS : BPF_TC_EGRESS);
  if (qdisc) {
    /*
     * Creates clsact (both hooks), and fails where there is one (or another ingress qdisc), as `tc qdisc add` does:
     * the agent asks only where its read found none, so one there now is news it must read, never something to
     * build on unseen.
     */
    int error = bpf_tc_hook_create(&hook);
    if (error) fail("cannot add clsact on %s: %s", words[3], strerror(-error));
    goto out;
  }
  DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = (__u32)handle, .priority = (__u32)priority);
  if (del) {
    int error = bpf_tc_detach(&hook, &opts);
    if (error) fail("cannot delete the filter on %s %s: %s", words[3], words[4], strerror(-error));
    goto out;
  }
  int fd = bpf_obj_get(words[7]);
  if (fd < 0) {
    fail("cannot open pinned program %s: %s", words[7], strerror(errno));
    goto out;
  }
  opts.prog_fd = fd;
  opts.flags = BPF_TC_F_REPLACE;
  int error = bpf_tc_attach(&hook, &opts);
  if (error) {
    fail("cannot attach %s on %s %s: %s", words[7], words[3], words[4], strerror(-error));
  } else {
    /*
     * libbpf asks the kernel to echo the filter it made and reads its program id back (opts.prog_id). The agent
     * records the pinned program's id as attached on this hook without reading the hooks again (ebpf/after-apply.ts),
     * so a filter that runs anything else is a failure here, never a record the kernel does not hold.
     */
    struct bpf_prog_info info = {0};
    __u32 length = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &length))
      fail("cannot read the id of program %s: %s", words[7], strerror(errno));
    else if (opts.prog_id != info.id)
      fail("the filter on %s %s runs program %u, not %s (%u)", words[3], words[4], opts.prog_id, words[7], info.id);
  }
  close(fd);
out:
  leave_netns(words[1]);
}

/*
 * The rtnetlink dumps behind `hooks`: what `tc -j -batch` printed for the eBPF backend's read of a router (its
 * qdiscs and both clsact hooks' filters per device), without a tc process per router and read. Socket made in
 * the router's namespace (a netlink socket belongs to the namespace it was created in).
 */
struct dump {
  unsigned long priority, handle;
  int clsact;
  int foreign;
  FILE *out; /* the device's attachments, as ",i:ID" */
  char direction;
};

static int netlink_dump(int sock, int type, const struct tcmsg *request, void (*each)(struct nlmsghdr *, void *),
                        void *context) {
  struct {
    struct nlmsghdr header;
    struct tcmsg tc;
  } message = {.header = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg)),
                          .nlmsg_type = (__u16)type,
                          .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
                          .nlmsg_seq = 1},
               .tc = *request};
  if (send(sock, &message, message.header.nlmsg_len, 0) < 0) return -errno;
  static char buffer[65536];
  for (;;) {
    ssize_t length = recv(sock, buffer, sizeof(buffer), 0);
    if (length < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buffer; NLMSG_OK(h, (__u32)length); h = NLMSG_NEXT(h, length)) {
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *error = NLMSG_DATA(h);
        return error->error;
      }
      each(h, context);
    }
  }
}

/* The attribute `type` among those after the tcmsg of `h` (or nested in `nest`), or NULL. */
static struct rtattr *attribute(struct rtattr *first, int length, int type) {
  for (struct rtattr *a = first; RTA_OK(a, length); a = RTA_NEXT(a, length))
    if ((a->rta_type & NLA_TYPE_MASK) == type) return a;
  return NULL;
}

static struct rtattr *tc_attribute(struct nlmsghdr *h, int type) {
  struct tcmsg *tc = NLMSG_DATA(h);
  return attribute((struct rtattr *)((char *)tc + NLMSG_ALIGN(sizeof(*tc))),
                   (int)h->nlmsg_len - NLMSG_LENGTH(sizeof(*tc)), type);
}

static int kind_is(struct nlmsghdr *h, const char *kind) {
  struct rtattr *a = tc_attribute(h, TCA_KIND);
  return a && !strncmp(RTA_DATA(a), kind, RTA_PAYLOAD(a)) && strlen(kind) + 1 == RTA_PAYLOAD(a);
}

struct qdiscs {
  int ifindex;
  int clsact;
};

static void each_qdisc(struct nlmsghdr *h, void *context) {
  struct qdiscs *q = context;
  struct tcmsg *tc = NLMSG_DATA(h);
  if (h->nlmsg_type == RTM_NEWQDISC && tc->tcm_ifindex == q->ifindex && kind_is(h, "clsact")) q->clsact = 1;
}

static void each_filter(struct nlmsghdr *h, void *context) {
  struct dump *d = context;
  if (h->nlmsg_type != RTM_NEWTFILTER) return;
  struct tcmsg *tc = NLMSG_DATA(h);
  struct rtattr *options = tc_attribute(h, TCA_OPTIONS);
  /* A priority's chain head comes without options: only filters count, as in the tc read it replaces. */
  if (!options) return;
  struct rtattr *id = kind_is(h, "bpf") ? attribute(RTA_DATA(options), (int)RTA_PAYLOAD(options), TCA_BPF_ID) : NULL;
  if (id && RTA_PAYLOAD(id) >= sizeof(__u32) && TC_H_MAJ(tc->tcm_info) >> 16 == d->priority &&
      tc->tcm_handle == d->handle)
    fprintf(d->out, ",%c:%u", d->direction, *(__u32 *)RTA_DATA(id));
  else
    d->foreign++;
}

/* hooks NETNS PRIO HANDLE DEV... */
static void hooks_command(char **words, int count) {
  unsigned long priority, handle;
  if (count < 4 || parse_uint(words[2], 0xffff, &priority) || parse_uint(words[3], 0xffffffffUL, &handle)) {
    fail("usage: hooks NETNS PRIO HANDLE DEV...");
    return;
  }
  if (enter_netns(words[1])) return;
  char *line = NULL;
  size_t size = 0;
  FILE *out = open_memstream(&line, &size);
  int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (sock < 0) {
    fail("cannot open a netlink socket: %s", strerror(errno));
    goto out;
  }
  for (int i = 4; i < count; i++) {
    int ifindex = (int)if_nametoindex(words[i]);
    if (!ifindex) {
      fail("cannot find device %s: %s", words[i], strerror(errno));
      goto out;
    }
    struct tcmsg request = {.tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex};
    struct qdiscs qdiscs = {.ifindex = ifindex};
    int error = netlink_dump(sock, RTM_GETQDISC, &request, each_qdisc, &qdiscs);
    if (error) {
      fail("cannot list the qdiscs of %s: %s", words[i], strerror(-error));
      goto out;
    }
    char *attached = NULL;
    size_t attached_size = 0;
    struct dump d = {.priority = priority, .handle = handle, .out = open_memstream(&attached, &attached_size)};
    const struct { char direction; __u32 minor; } hooks[] = {{'i', TC_H_MIN_INGRESS}, {'e', TC_H_MIN_EGRESS}};
    for (int j = 0; j < 2 && !error; j++) {
      d.direction = hooks[j].direction;
      request.tcm_parent = TC_H_MAKE(TC_H_CLSACT, hooks[j].minor);
      error = netlink_dump(sock, RTM_GETTFILTER, &request, each_filter, &d);
      /* No qdisc to hold the hook: no filters, as tc lists none (an empty list). */
      if (error == -EINVAL || error == -ENOENT || error == -EOPNOTSUPP) error = 0;
    }
    fclose(d.out);
    if (error) fail("cannot list the filters of %s: %s", words[i], strerror(-error));
    else fprintf(out, "%s%d,%d%s", i > 4 ? " " : "", qdiscs.clsact, d.foreign, attached);
    free(attached);
    if (error) goto out;
  }
out:
  if (sock >= 0) close(sock);
  fclose(out);
  if (!failed) {
    fputs(line, stdout);
    fputc('\n', stdout);
    fflush(stdout);
  }
  free(line);
  leave_netns(words[1]);
}

int main(void) {
  /* Errors must reach the agent in order and at once: it waits for the marker's error after each request. */
  setvbuf(stderr, NULL, _IONBF, 0);
  libbpf_set_print(collect);
  home_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home_netns < 0) {
    fail("cannot open the helper's network namespace: %s", strerror(errno));
    return 1;
  }
  char *line = NULL;
  size_t capacity = 0;
  ssize_t length;
  while ((length = getline(&line, &capacity, stdin)) >= 0) {
    if (line[length - 1] != '\n') break;
    line[--length] = '\0';
    char *words[MAX_WORDS];
    int count = 0;
    for (char *save = NULL, *word = strtok_r(line, " ", &save); word; word = strtok_r(NULL, " ", &save)) {
      if (count == MAX_WORDS) {
        count = -1;
        break;
      }
      words[count++] = word;
    }
    if (count == 0) continue;
    /* A request stops at its first failure, as `tc -batch` and `bpftool batch` do: nothing after it runs. */
    if (failed && strcmp(words[0], "fail")) continue;
    if (count < 0)
      fail("a line of more than %d words", MAX_WORDS);
    else if (!strcmp(words[0], "map"))
      create_map(words, count);
    else if (!strcmp(words[0], "load"))
      load_programs(words, count);
    else if (!strcmp(words[0], "tc"))
      tc_command(words, count);
    else if (!strcmp(words[0], "hooks"))
      hooks_command(words, count);
    else if (!strcmp(words[0], "fail") && count == 2) {
      fail("no command (%s)", words[1]);
      failed = 0;
    }
    else
      fail("unknown command '%s'", words[0]);
  }
  free(line);
  return 0;
}
