/**
 * Azure's `status.runtimeStatus` for the resources in force: Running, Degraded or Failed, with a
 * reason, worked out from what this process observes (state recovered, ports listening,
 * self-check, references between resources).
 */
import type { LoadedConfig } from '../config/model.js';
import { kindOf, nameOf, type ResourceDocument } from '../config/resource-document.js';
import type { OpenListener } from '../frontend/frontend.js';
import type { RuntimeStatus } from './status-document.js';

export type { RuntimeStatus };

export interface StatusFacts {
  config: LoadedConfig;
  open: OpenListener[];
  pending: string[];
  selfCheck?: { ok: boolean; error?: string };
}

export function runtimeStatusOf(doc: { kind: string; name: string }, f: StatusFacts): RuntimeStatus {
  switch (doc.kind) {
    case 'Broker': {
      if (f.pending.includes('state recovered')) return { status: 'Failed', description: 'state is not recovered yet' };
      if (f.pending.length > 0) return { status: 'Degraded', description: `not ready: ${f.pending.join(', ')}` };
      if (f.selfCheck && !f.selfCheck.ok) return { status: 'Degraded', description: `self-check failed: ${f.selfCheck.error ?? 'unknown'}` };
      return { status: 'Running', description: f.selfCheck ? 'ready; last self-check passed' : 'ready' };
    }
    case 'BrokerListener': {
      const l = f.config.listeners.find((x) => x.name === doc.name);
      if (!l) return { status: 'Degraded', description: 'not served: it does not refer to the broker in force' };
      const closed = l.ports.filter((p) => !f.open.some((o) => o.name === l.name && (p.port === 0 || o.port === p.port)));
      if (closed.length === 0) return { status: 'Running', description: `listening on ${l.ports.map((p) => p.port).join(', ')}` };
      const which = closed.map((p) => p.port).join(', ');
      return closed.length === l.ports.length
        ? { status: 'Failed', description: `port ${which} not open (a port added by a reload opens at the next restart)` }
        : { status: 'Degraded', description: `port ${which} not open (a port added by a reload opens at the next restart)` };
    }
    case 'BrokerAuthentication':
    case 'BrokerAuthorization': {
      const field = doc.kind === 'BrokerAuthentication' ? 'authenticationRef' : 'authorizationRef';
      const used = f.config.listeners.some((l) => l.ports.some((p) => p[field] === doc.name));
      return used ? { status: 'Running', description: 'in use' } : { status: 'Degraded', description: `no listener port names it in ${field}` };
    }
    default:
      return { status: 'Unknown', description: `kind ${doc.kind} is not run by this process` };
  }
}

/** The resources as written, each with a `status.runtimeStatus`; the embedded default stands in when there are none. */
export function resourcesWithStatus(documents: ResourceDocument[], f: StatusFacts): Array<Record<string, unknown>> {
  const bodies: Array<Record<string, unknown>> =
    documents.length > 0
      ? documents.map((d) => ({ ...d.body }))
      : [
          { apiVersion: f.config.broker.apiVersion, kind: 'Broker', metadata: { name: f.config.broker.name }, spec: {} },
          ...f.config.listeners.map((l) => ({
            apiVersion: l.apiVersion,
            kind: 'BrokerListener',
            metadata: { name: l.name },
            spec: { brokerRef: l.brokerRef, ports: l.ports.map((p) => ({ port: p.port, protocol: p.protocol })) },
          })),
        ];
  return bodies.map((body) => {
    const doc = { body, source: '', locate: () => undefined };
    const kind = kindOf(doc);
    return { ...body, status: { runtimeStatus: runtimeStatusOf({ kind, name: nameOf(doc) ?? '' }, f) } };
  });
}
