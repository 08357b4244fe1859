/**
 * The checker's network (issue 15: "cut one back end off the network for a while"): Linux network
 * namespaces, one per back end, all plugged into a bridge that lives in a namespace of its own
 * (the "switch"), with one more port to this (root) namespace where etcd, the coordinator, the
 * front ends and the test run. Nothing in the root namespace changes but one veth with an address
 * of a private /24 nobody else uses here (no forwarding, no firewall).
 *
 *   root ── emq<id>r 10.a.b.1 ══ [switch ns: br0] ══ emq<id>n<i> 10.a.b.(10+i) in ns emqchk-<id>-b<i>
 *
 * A cut sets back end i's switch port down: frames to it are dropped by the bridge and frames from
 * it by its veth (the peer is down), silently, in both directions; no socket is closed or reset,
 * as with a pulled cable. (netem would be the other way; this kernel has no sch_netem.)
 *
 * `edgemq cluster` runs the back ends inside with EDGEMQ_CLUSTER_NETNS (src/cli/cluster-netns.ts).
 * Names carry a random id per run; destroy() removes all of it (also on exit of the test worker).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface Network {
  /** Value of EDGEMQ_CLUSTER_NETNS for `edgemq cluster`. */
  env: string;
  /** Back end i's address. */
  hosts: string[];
  cut(i: number): void;
  heal(i: number): void;
  destroy(): void;
}

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** A /24 in 10.200-249.x that no address or route of this machine touches. */
function freeSubnet(): string {
  const used = ip('-4', '-o', 'addr') + ip('-4', 'route');
  for (let tries = 0; tries < 50; tries++) {
    const net = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    if (!used.includes(`${net}.`)) return net;
  }
  throw new Error('no free 10.2xx.x.0/24 subnet');
}

/** The network for `backends` back ends, or the reason it cannot be made here (not root, no `ip`, no netns support). */
export function prepareNetwork(backends: number): Network | string {
  if (process.getuid?.() !== 0) return 'not root (network namespaces need CAP_NET_ADMIN)';
  try {
    ip('-V');
  } catch {
    return 'no `ip` command (iproute2)';
  }
  const id = randomBytes(2).toString('hex');
  const sw = `emqchk-${id}-sw`;
  const ns = (i: number) => `emqchk-${id}-b${i}`;
  const rootIf = `emq${id}r`;
  const port = (i: number) => `emq${id}p${i}`;
  const created: string[] = [];
  let destroyed = false;
  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    process.removeListener('exit', destroy);
    for (const name of created.reverse()) {
      try {
        ip('netns', 'del', name);
      } catch {
        /* already gone */
      }
    }
    try {
      ip('link', 'del', rootIf); // goes with the switch namespace anyway, but not always at once
    } catch {
      /* gone */
    }
  };
  process.once('exit', destroy);
  try {
    const net = freeSubnet();
    const hosts = Array.from({ length: backends }, (_, i) => `${net}.${10 + i}`);
    ip('netns', 'add', sw);
    created.push(sw);
    ip('-n', sw, 'link', 'set', 'lo', 'up');
    ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', sw, 'link', 'set', 'br0', 'up');
    ip('link', 'add', rootIf, 'type', 'veth', 'peer', 'name', `emq${id}s`, 'netns', sw);
    ip('-n', sw, 'link', 'set', `emq${id}s`, 'master', 'br0');
    ip('-n', sw, 'link', 'set', `emq${id}s`, 'up');
    ip('addr', 'add', `${net}.1/24`, 'dev', rootIf);
    ip('link', 'set', rootIf, 'up');
    for (let i = 0; i < backends; i++) {
      ip('netns', 'add', ns(i));
      created.push(ns(i));
      ip('-n', ns(i), 'link', 'set', 'lo', 'up');
      ip('link', 'add', `emq${id}n${i}`, 'netns', ns(i), 'type', 'veth', 'peer', 'name', port(i), 'netns', sw);
      ip('-n', ns(i), 'addr', 'add', `${hosts[i]}/24`, 'dev', `emq${id}n${i}`);
      ip('-n', ns(i), 'link', 'set', `emq${id}n${i}`, 'up');
      ip('-n', sw, 'link', 'set', port(i), 'master', 'br0');
      ip('-n', sw, 'link', 'set', port(i), 'up');
    }
    const plan = { etcdHost: `${net}.1`, backends: hosts.map((host, i) => ({ netns: ns(i), host })) };
    return {
      env: JSON.stringify(plan),
      hosts,
      cut: (i) => void ip('-n', sw, 'link', 'set', port(i), 'down'),
      heal: (i) => void ip('-n', sw, 'link', 'set', port(i), 'up'),
      destroy,
    };
  } catch (err) {
    destroy();
    const e = err as Error & { stderr?: string };
    return `cannot set up network namespaces: ${(e.stderr || e.message).trim()}`;
  }
}
