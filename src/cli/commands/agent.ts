import { Command, InvalidArgumentError, Option } from 'commander';
import {
  parseDaemonBackend,
  parseIPv4,
  parseNamespaceName,
  parseNodeName,
  SfipError,
  type IPv4,
} from '../../model/index.js';
import { createLogger } from '../../daemon/logger.js';
import { runAgent } from '../../daemon/node-agent.js';
import { installSpawnServer } from '../../exec/spawn-client.js';
import { checkPrivileges } from '../../daemon/privileges.js';
import { deprecatedAlias, durationOption } from '../option-helpers.js';
import { parseTtl } from './serve.js';

const asNode = (text: string) => {
  try {
    return parseNodeName(text, '--node');
  } catch (error) {
    throw new InvalidArgumentError((error as SfipError).message);
  }
};

const asPrefix = (text: string) => {
  try {
    // A prefix must itself be the start of a valid namespace name.
    parseNamespaceName(`${text}x`, '--prefix');
    return text;
  } catch (error) {
    throw new InvalidArgumentError((error as SfipError).message);
  }
};

const asAddress = (flag: string) => (text: string) => {
  try {
    return parseIPv4(text, flag);
  } catch (error) {
    throw new InvalidArgumentError((error as SfipError).message);
  }
};

const asNamespace = (text: string) => {
  try {
    return parseNamespaceName(text, '--bgp-netns');
  } catch (error) {
    throw new InvalidArgumentError((error as SfipError).message);
  }
};

const asNextHop = (text: string): 'gateway' | IPv4 =>
  text === 'gateway' ? 'gateway' : asAddress('--bgp-next-hop')(text);

export function agentCommand(): Command {
  const agent = new Command('agent')
    .description('Run only the reconciler for one network node, against a shared etcd store')
    .requiredOption('--node <name>', 'this network node: one live agent per name', asNode)
    .requiredOption('--store <spec>', 'etcd://HOST:PORT[,HOST:PORT...][/PREFIX/]')
    .option(
      '--state-dir <dir>',
      'where the agent keeps its lease id and what it programmed',
      process.env.SFIP_STATE_DIR ?? '/var/lib/sfip',
    )
    .option('--backend <name>', 'default dataplane backend', 'nftables')
    .addOption(
      new Option(
        '--lease-ttl <duration>',
        "liveness lease: a dead node's routers move this long after its last renewal",
      )
        .argParser(parseTtl)
        .default(3, '3s'),
    )
    .option(
      '--prefix <prefix>',
      'prepend to every router namespace on this node (labs: several nodes on one host)',
      asPrefix,
    )
    .addOption(
      durationOption(
        '--resync-interval <duration>',
        'how often to re-read the kernel and repair drift',
        10_000,
      ),
    )
    .option('--no-garp', 'do not send gratuitous ARP when floating IPs come up')
    .option(
      '--bgp-router-id <address>',
      'announce floating IPs by BGP (routed mode, docs/multi-node.md): BIRD runs with this router id',
      asAddress('--bgp-router-id'),
    )
    .option(
      '--bgp-netns <name>',
      'the namespace BIRD and its host-route table live in (default: the host)',
      asNamespace,
    )
    .option(
      '--bgp-next-hop <gateway|address>',
      "next hop announced: the router's gateway IP, or this node's address",
      asNextHop,
      'gateway',
    )
    .option('--bgp-bfd', 'run BFD with every BGP peer (they must run it too)')
    .option(
      '--bgp-standby',
      "hot standby (routed mode): hold other nodes' routers' translation and announce their floating IPs with a longer AS path",
    )
    .option('--log-level <level>', 'trace, debug, info, warn, error', 'info');
  // The lab's name for the same thing is --prefix; the old name works for one release.
  deprecatedAlias(agent, '--netns-prefix <prefix>', '--prefix');
  return agent.action(async (o: Record<string, unknown>) => {
    const backend = parseDaemonBackend(o.backend);
    if (o.bgpStandby && o.bgpRouterId === undefined)
      throw new Error('--bgp-standby needs routed mode (--bgp-router-id)');
    // With the router's gateway IP as next hop a standby's route would lead to wherever that address is (the
    // owner, or nowhere once it failed): the peer must reach the standby at an address of its own.
    if (o.bgpStandby && o.bgpNextHop === 'gateway')
      throw new Error("--bgp-standby needs --bgp-next-hop set to this node's own address, not 'gateway'");
    // As serve does: say what is missing before the first apply fails with "Operation not permitted".
    if (backend !== 'fake') checkPrivileges();
    const log = createLogger(String(o.logLevel));
    // The agent's programs start in a spawn server, off this process's event loop (src/exec/spawn-client.ts).
    const spawner = installSpawnServer({ warn: (message) => log.warn({ component: 'exec' }, message) });
    const running = await runAgent({
      node: String(o.node),
      store: String(o.store),
      stateDir: String(o.stateDir),
      backend: parseDaemonBackend(o.backend),
      leaseTtlSeconds: Number(o.leaseTtl),
      resyncIntervalMs: Number(o.resyncInterval),
      garp: Boolean(o.garp),
      ...(o.prefix !== undefined && { netnsPrefix: String(o.prefix) }),
      ...(o.bgpRouterId !== undefined && {
        bgp: {
          routerId: o.bgpRouterId as IPv4,
          namespace: o.bgpNetns === undefined ? null : String(o.bgpNetns),
          nextHop: o.bgpNextHop as 'gateway' | IPv4,
          bfd: Boolean(o.bgpBfd),
          standby: Boolean(o.bgpStandby),
        },
      }),
      log,
    });
    log.info({ node: String(o.node) }, 'agent reconciled the routers it carries');
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        log.info({ signal }, 'stopping; the kernel keeps forwarding until the lease fence closes');
        void running.close().then(() => {
          spawner.close();
          resolve();
        });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
  });
}
