/**
 * Test hook of `edgemq cluster` (the checker's network cuts, issue 15): run each back end inside a
 * Linux network namespace prepared by the caller, so that cutting its link is real packet loss
 * (sockets stay open, frames vanish) rather than a closed socket. Not a deployment feature, so no
 * flag: the environment variable EDGEMQ_CLUSTER_NETNS holds
 *
 *   {"etcdHost": "10.x.y.1", "backends": [{"netns": "NAME", "host": "10.x.y.10"}, ...]}
 *
 * Back end i then runs as `ip netns exec NAME node ... --internal-host HOST` (ip execs, so the pid
 * the supervisor records and SIGKILLs is the back end's), reaching etcd at etcdHost, where the
 * local etcd also listens. Back ends beyond the list run as usual. Needs root (ip netns exec).
 */
import { UsageError } from './usage.js';

export const NETNS_ENV = 'EDGEMQ_CLUSTER_NETNS';

export interface BackendNamespace {
  netns: string;
  host: string;
}

export interface NamespacePlan {
  /** An address of this (root) namespace the back ends reach; the local etcd listens there too. */
  etcdHost: string;
  backends: BackendNamespace[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const isIpv4 = (s: unknown): s is string => typeof s === 'string' && IPV4.test(s) && s.split('.').every((n) => Number(n) <= 255);

/** The plan in the environment, or undefined when there is none; a malformed one is a usage error. */
export function namespacePlan(env: NodeJS.ProcessEnv = process.env): NamespacePlan | undefined {
  const raw = env[NETNS_ENV];
  if (raw === undefined || raw === '') return undefined;
  let plan: unknown;
  try {
    plan = JSON.parse(raw);
  } catch {
    throw new UsageError(`${NETNS_ENV}: not JSON`);
  }
  const p = plan as Partial<NamespacePlan>;
  if (!isIpv4(p.etcdHost)) throw new UsageError(`${NETNS_ENV}: etcdHost must be an IPv4 address`);
  if (!Array.isArray(p.backends)) throw new UsageError(`${NETNS_ENV}: backends must be a list`);
  for (const [i, b] of p.backends.entries()) {
    if (typeof b?.netns !== 'string' || !NAME.test(b.netns)) throw new UsageError(`${NETNS_ENV}: backends[${i}].netns must be a namespace name`);
    if (!isIpv4(b.host)) throw new UsageError(`${NETNS_ENV}: backends[${i}].host must be an IPv4 address`);
  }
  return { etcdHost: p.etcdHost, backends: p.backends.map((b) => ({ netns: b.netns, host: b.host })) };
}

/** Back end i's command line inside its namespace (unchanged when the plan has none for it). */
export function inNamespace(plan: NamespacePlan | undefined, i: number, command: string, args: string[]): { command: string; args: string[]; host: string | undefined } {
  const b = plan?.backends[i];
  if (!b) return { command, args, host: undefined };
  return { command: 'ip', args: ['netns', 'exec', b.netns, command, ...args, '--internal-host', b.host], host: b.host };
}
