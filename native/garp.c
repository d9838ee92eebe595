/*
 * sfip-garp: announces many floating addresses with gratuitous ARP from one process.
 *
 * Why this exists: arping announces one address per process. A router that gains 1,000 floating IPs started
 * 2,000 arping processes at once (11.6 s to become ready, 18 s of CPU spent starting processes); 10,000 would
 * approach the process-id limit. This helper sends the same frames as `arping -U` (an ARP request whose sender
 * and target are the announced address) and `arping -A` (an ARP reply, likewise), to the broadcast address,
 * for every address it reads, paced so that a burst never floods the segment.
 *
 * Usage: sfip-garp DEVICE ROUNDS INTERVAL_MS PACKETS_PER_SECOND   (run inside the router's namespace)
 *   reads IPv4 addresses in dotted-quad form, one per line, from stdin until EOF, then sends ROUNDS rounds
 *   INTERVAL_MS apart; each round sends a request and a reply per address.
 * Output: "sent N" (frames). Exit codes: 0 ok, 1 usage or bad input (nothing sent), 2 device or socket error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_ADDRESSES 1048576

static long parse_number(const char *text, long min, long max) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || *end || end == text || v < min || v > max) return -1;
  return v;
}

static void sleep_ns(long long ns) {
  struct timespec t = {ns / 1000000000LL, ns % 1000000000LL};
  while (nanosleep(&t, &t) == -1 && errno == EINTR) {
  }
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: sfip-garp DEVICE ROUNDS INTERVAL_MS PACKETS_PER_SECOND < addresses\n");
    return 1;
  }
  const char *device = argv[1];
  long rounds = parse_number(argv[2], 1, 10);
  long interval_ms = parse_number(argv[3], 0, 10000);
  long pps = parse_number(argv[4], 1, 1000000);
  if (strlen(device) >= IFNAMSIZ || rounds < 0 || interval_ms < 0 || pps < 0) {
    fprintf(stderr, "sfip-garp: invalid arguments\n");
    return 1;
  }
  struct in_addr *addresses = malloc(sizeof(struct in_addr) * MAX_ADDRESSES);
  if (!addresses) return 2;
  size_t count = 0;
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    if (line[0] == 0) continue;
    // inet_pton accepts only the strict dotted-quad form (no 127.1, no octal or hex).
    if (count == MAX_ADDRESSES || inet_pton(AF_INET, line, &addresses[count]) != 1) {
      fprintf(stderr, "sfip-garp: '%s' is not an IPv4 address (or too many addresses)\n", line);
      return 1;
    }
    count++;
  }

  int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ARP));
  if (fd < 0) {
    fprintf(stderr, "sfip-garp: socket: %s\n", strerror(errno));
    return 2;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, device, IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
    fprintf(stderr, "sfip-garp: device %s: %s\n", device, strerror(errno));
    return 2;
  }
  unsigned char mac[ETH_ALEN];
  memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
  struct sockaddr_ll to;
  memset(&to, 0, sizeof to);
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons(ETH_P_ARP);
  to.sll_ifindex = (int)if_nametoindex(device);
  to.sll_halen = ETH_ALEN;
  memset(to.sll_addr, 0xff, ETH_ALEN);
  if (to.sll_ifindex == 0) {
    fprintf(stderr, "sfip-garp: device %s: %s\n", device, strerror(errno));
    return 2;
  }

  unsigned char frame[sizeof(struct ether_header) + sizeof(struct ether_arp)];
  struct ether_header *eth = (struct ether_header *)frame;
  struct ether_arp *arp = (struct ether_arp *)(frame + sizeof *eth);
  memset(eth->ether_dhost, 0xff, ETH_ALEN);
  memcpy(eth->ether_shost, mac, ETH_ALEN);
  eth->ether_type = htons(ETHERTYPE_ARP);
  arp->arp_hrd = htons(ARPHRD_ETHER);
  arp->arp_pro = htons(ETHERTYPE_IP);
  arp->arp_hln = ETH_ALEN;
  arp->arp_pln = 4;
  memcpy(arp->arp_sha, mac, ETH_ALEN);

  long long gap_ns = 1000000000LL / pps;
  unsigned long sent = 0;
  for (long r = 0; r < rounds; r++) {
    if (r > 0) sleep_ns((long long)interval_ms * 1000000LL);
    for (size_t i = 0; i < count; i++) {
      for (int op = ARPOP_REQUEST; op <= ARPOP_REPLY; op++) {
        arp->arp_op = htons(op);
        memcpy(arp->arp_spa, &addresses[i], 4);
        memcpy(arp->arp_tpa, &addresses[i], 4);
        // arping -U leaves the target hardware address zero; arping -A puts the sender's there.
        if (op == ARPOP_REQUEST)
          memset(arp->arp_tha, 0, ETH_ALEN);
        else
          memcpy(arp->arp_tha, mac, ETH_ALEN);
        while (sendto(fd, frame, sizeof frame, 0, (struct sockaddr *)&to, sizeof to) < 0) {
          if (errno != ENOBUFS && errno != EAGAIN) {
            fprintf(stderr, "sfip-garp: send on %s: %s\n", device, strerror(errno));
            return 2;
          }
          sleep_ns(1000000);
        }
        sent++;
        sleep_ns(gap_ns);
      }
    }
  }
  printf("sent %lu\n", sent);
  close(fd);
  free(addresses);
  return 0;
}
