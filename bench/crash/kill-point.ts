/** What serve was doing when it was killed, named after the kernel tool it was running (if any). */
export function killPoint(children: readonly string[]): string {
  const names = children.map((cmd) => {
    const argv = cmd.split(' ');
    // Right after the fork the child is still a wrapper (`setpriv ... --`, `ip netns exec NS`, eBPF's
    // `nsenter --net=... --`); name the tool it is about to become.
    let tool = argv;
    for (;;) {
      if (tool[0] === 'ip' && tool[1] === 'netns' && tool[2] === 'exec') tool = tool.slice(4);
      else if ((tool[0] === 'setpriv' || tool[0] === 'nsenter') && tool.includes('--'))
        tool = tool.slice(tool.indexOf('--') + 1);
      else break;
    }
    const [file = '', ...args] = tool;
    const base = file.split('/').at(-1)!;
    // The channel's nft process: sfip's applier, or nft -i without it.
    if (base === 'sfip-nft-apply' || (base === 'nft' && args.includes('-i')))
      return 'nft transaction (channel)';
    if (base === 'ip' && args.includes('(busy)')) return 'address batch (channel)';
    // The long-lived set dump helper, busy: conntrack deletes go there (ctdel), and so do the nftables backend's
    // reads and counter reads, which its command line cannot tell apart.
    if (base === 'sfip-nft-set-dump' && args.includes('(busy)'))
      return 'conntrack cleanup or set read (channel)';
    // The eBPF backend's loader, busy: it builds generations (maps, programs) and attaches them (tc filters).
    if (base === 'sfip-bpf-load' && args.includes('(busy)')) return 'eBPF build or attach (channel)';
    // The route writer in `ip -batch`'s place (bulk floating addresses).
    if (base === 'sfip-local-routes') return 'address batch';
    if (base === 'nft') return args.includes('-f') ? 'nft transaction' : 'nft read';
    if (base.startsWith('iptables') && base.endsWith('restore')) return 'iptables-restore';
    if (base.startsWith('iptables') && base.endsWith('save')) return 'iptables-save';
    if (base === 'ip') return args.includes('-batch') ? 'address batch' : 'ip read';
    if (base === 'conntrack') return 'conntrack cleanup';
    if (base === 'tc') return args.includes('-batch') ? 'tc batch' : 'tc read';
    if (base === 'bpftool')
      return args.includes('batch') && !args.includes('-j') ? 'bpftool batch' : 'bpftool read';
    return base || 'unknown';
  });
  return names.length === 0 ? 'no kernel tool running' : [...new Set(names)].sort().join(' + ');
}

export const KERNEL_TOOLS =
  /(^|\/)(nft|ip|iptables[\w-]*|conntrack|tc|bpftool|nsenter|setpriv|sfip-local-routes|sfip-nft-set-dump|sfip-bpf-load)( |$)/;

/**
 * The tools that change the kernel: an nft transaction, an iptables restore, an address batch, conntrack deletes,
 * a tc batch, a bpftool batch, the route writer (sfip-local-routes, bulk addresses), and a request in flight in the agent's long-lived nft or ip process (deltas go
 * there) or set dump helper (conntrack deletes go there; a busy one may also be reading sets or counters) or eBPF
 * loader (generations built and attached there). (The eBPF backend writes map entries in-process, through the bpf module.)
 */
export const APPLY_TOOLS =
  /(^|\/| )(nft -f|iptables[\w-]*restore --noflush|ip -batch|sfip-local-routes|conntrack -D|tc -batch|bpftool batch|nft -i \(busy\)|sfip-nft-apply \(busy\)|ip -force -batch - \(busy\)|sfip-nft-set-dump --serve \(busy\)|sfip-bpf-load \(busy\))/;
