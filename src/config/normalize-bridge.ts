/**
 * Turns validated `MqttBridgeConnector` and `MqttBridgeTopicMap` documents into
 * `BridgeConnectorSettings`: defaults filled, topic maps attached to their connector, and the checks
 * a schema cannot express (wildcards in a target, one authentication method, unique route names),
 * each refused with the resource and field named.
 */
import { ConfigError, MqttError } from '../mqtt/errors.js';
import { SHARED_PREFIX, validateTopicFilter, validateTopicName } from '../topics/validate.js';
import type { BridgeAuth, BridgeConnectorSettings, BridgeEndpoint, BridgeRoute } from './bridge-model.js';
import { describeAt, nameOf, namespaceOf, resourceId, type FieldPath, type ResourceDocument } from './resource-document.js';
import { canonicalEnum } from './schemas/common.js';
import { BRIDGE_DIRECTIONS, BRIDGE_PROTOCOLS } from './schemas/mqtt-bridge.js';

type Obj = Record<string, unknown>;
const objAt = (value: unknown): Obj => (typeof value === 'object' && value !== null ? (value as Obj) : {});

/** Where Azure's SAT projection puts the token (the 2023 bridge used the same mount). */
export const DEFAULT_SAT_TOKEN_PATH = '/var/run/secrets/tokens/mq-sat';
export const DEFAULT_LOCAL_ENDPOINT = '127.0.0.1:1883';
/**
 * 10000 held messages per route: the broker's default subscriber queue length, so a route holds as
 * much as one stalled subscriber may; the broker keeps them durably in the bridge's session meanwhile.
 */
export const DEFAULT_MAX_BUFFERED_MESSAGES = 10_000;
export const DEFAULT_MAX_BUFFERED_SIZE = '64M';
export const DEFAULT_REMOTE_KEEP_ALIVE_SECONDS = 60;
/** A day of remote outage keeps the remote session (and its queue for remote-to-local routes). */
export const DEFAULT_REMOTE_SESSION_EXPIRY_SECONDS = 86_400;
export const DEFAULT_RECONNECT_MIN_DELAY_MS = 500;
export const DEFAULT_RECONNECT_MAX_DELAY_MS = 30_000;

const fail = (doc: ResourceDocument, path: FieldPath, field: string, problem: string): never => {
  throw new ConfigError(`${describeAt(doc, path)}: ${field}: ${problem}`, resourceId(doc), field);
};

export function normalizeBridgeConnector(doc: ResourceDocument, warnings: string[]): BridgeConnectorSettings {
  const spec = objAt(doc.body.spec);
  const name = nameOf(doc) ?? '';
  const remoteSpec = objAt(spec.remoteBrokerConnection);
  const extra = objAt(spec.edgemq);
  const protocol = typeof spec.protocol === 'string' ? canonicalEnum(spec.protocol, BRIDGE_PROTOCOLS) : 'v5';
  if (typeof spec.bridgeInstances === 'number' && spec.bridgeInstances > 1) {
    warnings.push(
      `${describeAt(doc, ['spec', 'bridgeInstances'])}: spec.bridgeInstances: each \`edgemq connector\` process is one instance; ` +
        'run more processes only with routes that use sharedSubscription (otherwise every instance forwards every message)',
    );
  }
  const remote = endpointOf(doc, remoteSpec, ['spec', 'remoteBrokerConnection'], true);
  if (remote.auth.method === 'serviceAccountToken') {
    fail(doc, ['spec', 'remoteBrokerConnection', 'authentication'], 'spec.remoteBrokerConnection.authentication', 'kubernetes tokens are for the local broker only');
  }
  const minDelayMs = numberAt(extra.reconnectMinDelayMs) ?? DEFAULT_RECONNECT_MIN_DELAY_MS;
  const maxDelayMs = numberAt(extra.reconnectMaxDelayMs) ?? Math.max(DEFAULT_RECONNECT_MAX_DELAY_MS, minDelayMs);
  if (maxDelayMs < minDelayMs) {
    fail(doc, ['spec', 'edgemq', 'reconnectMaxDelayMs'], 'spec.edgemq.reconnectMaxDelayMs', `must be >= reconnectMinDelayMs (${minDelayMs}), got ${maxDelayMs}`);
  }
  const maxBytes = parseSize(typeof extra.maxBufferedSize === 'string' ? extra.maxBufferedSize : DEFAULT_MAX_BUFFERED_SIZE);
  if (maxBytes < 1) fail(doc, ['spec', 'edgemq', 'maxBufferedSize'], 'spec.edgemq.maxBufferedSize', 'must be at least 1 byte');
  return {
    name,
    ...(namespaceOf(doc) === undefined ? {} : { namespace: namespaceOf(doc) }),
    describe: describeAt(doc),
    protocolVersion: protocol === 'v3' ? 4 : 5,
    clientIdPrefix: typeof spec.clientIdPrefix === 'string' ? spec.clientIdPrefix : `${name}-`,
    ...(typeof spec.logLevel === 'string' ? { logLevel: spec.logLevel } : {}),
    remote: {
      ...remote,
      keepAliveSeconds: numberAt(remoteSpec.keepAliveSeconds) ?? DEFAULT_REMOTE_KEEP_ALIVE_SECONDS,
      cleanStart: remoteSpec.cleanStart === true,
      sessionExpirySeconds: numberAt(remoteSpec.sessionExpirySeconds) ?? DEFAULT_REMOTE_SESSION_EXPIRY_SECONDS,
    },
    local: endpointOf(doc, objAt(spec.localBrokerConnection), ['spec', 'localBrokerConnection'], false),
    buffer: { maxMessages: numberAt(extra.maxBufferedMessages) ?? DEFAULT_MAX_BUFFERED_MESSAGES, maxBytes },
    reconnect: { minDelayMs, maxDelayMs },
    loopMarker: extra.loopMarker !== false,
    routes: [],
  };
}

function endpointOf(doc: ResourceDocument, spec: Obj, path: string[], remote: boolean): BridgeEndpoint {
  const field = path.join('.');
  const endpoint = typeof spec.endpoint === 'string' ? spec.endpoint : DEFAULT_LOCAL_ENDPOINT;
  const colon = endpoint.lastIndexOf(':');
  const host = endpoint.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(endpoint.slice(colon + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    fail(doc, [...path, 'endpoint'], `${field}.endpoint`, `port must be 1-65535 (got '${endpoint}')`);
  }
  const tlsSpec = spec.tls === undefined ? undefined : objAt(spec.tls);
  // Azure's remote connection is TLS unless tlsEnabled: false; the local one is plain unless asked.
  const tlsEnabled = tlsSpec === undefined ? remote : tlsSpec.tlsEnabled !== false;
  if (!tlsEnabled && tlsSpec?.trustedCaCertificateConfigMap !== undefined) {
    fail(doc, [...path, 'tls', 'trustedCaCertificateConfigMap'], `${field}.tls.trustedCaCertificateConfigMap`, 'set, but tlsEnabled is false');
  }
  const transport = typeof spec.protocol === 'string' && spec.protocol.toLowerCase().startsWith('websocket') ? 'webSocket' : 'mqtt';
  return {
    host,
    port,
    transport,
    webSocketPath: typeof spec.webSocketPath === 'string' ? spec.webSocketPath : '/mqtt',
    ...(tlsEnabled
      ? {
          tls: {
            ...(typeof tlsSpec?.trustedCaCertificateConfigMap === 'string' ? { caConfigMap: tlsSpec.trustedCaCertificateConfigMap } : {}),
            ...(typeof tlsSpec?.serverName === 'string' ? { serverName: tlsSpec.serverName } : {}),
          },
        }
      : {}),
    auth: authOf(doc, objAt(spec.authentication), [...path, 'authentication']),
    field,
  };
}

function authOf(doc: ResourceDocument, spec: Obj, path: string[]): BridgeAuth {
  const field = path.join('.');
  const methods = ['x509', 'usernamePassword', 'kubernetes', 'systemAssignedManagedIdentity'].filter((m) => m in spec);
  if (methods.length > 1) fail(doc, path, field, `must set only one method (got ${methods.join(' and ')})`);
  switch (methods[0]) {
    case undefined:
      return { method: 'none' };
    case 'systemAssignedManagedIdentity':
      return fail(
        doc,
        [...path, 'systemAssignedManagedIdentity'],
        `${field}.systemAssignedManagedIdentity`,
        'Azure managed identities need Azure Arc and are not supported by edgemq; use x509 or usernamePassword',
      );
    case 'kubernetes':
      return { method: 'serviceAccountToken', tokenPath: String(objAt(spec.kubernetes).tokenPath ?? DEFAULT_SAT_TOKEN_PATH) };
    case 'x509':
      return { method: 'x509', secretName: String(objAt(spec.x509).secretName) };
    default:
      return { method: 'usernamePassword', secretName: String(objAt(spec.usernamePassword).secretName) };
  }
}

/** The routes of one topic map, checked beyond the schema. */
export function normalizeTopicMapRoutes(doc: ResourceDocument): BridgeRoute[] {
  const routes = (objAt(doc.body.spec).routes ?? []) as Obj[];
  const seen = new Map<string, number>();
  return routes.map((r, i) => {
    const at = (f: string): FieldPath => ['spec', 'routes', i, f];
    const field = (f: string) => `spec.routes[${i}].${f}`;
    const name = String(r.name);
    const first = seen.get(name);
    if (first !== undefined) fail(doc, at('name'), field('name'), `'${name}' is already the name of spec.routes[${first}]`);
    seen.set(name, i);
    const source = String(r.source);
    if (source.startsWith(SHARED_PREFIX)) {
      fail(doc, at('source'), field('source'), `must be a plain topic filter; use sharedSubscription for '${source}'`);
    }
    try {
      validateTopicFilter(source);
    } catch (err) {
      if (!(err instanceof MqttError)) throw err;
      fail(doc, at('source'), field('source'), `${err.message} (got '${source}')`);
    }
    const target = typeof r.target === 'string' ? r.target : undefined;
    if (target !== undefined) {
      try {
        validateTopicName(target.replaceAll('{topic}', 'x'));
      } catch (err) {
        if (!(err instanceof MqttError)) throw err;
        fail(doc, at('target'), field('target'), `${err.message}; a target is one topic, no + or # (got '${target}')`);
      }
    }
    const shared = r.sharedSubscription === undefined ? undefined : objAt(r.sharedSubscription);
    return {
      name,
      topicMap: resourceId(doc),
      direction: canonicalEnum(String(r.direction), BRIDGE_DIRECTIONS),
      qos: r.qos === 0 ? 0 : 1,
      source,
      ...(target === undefined ? {} : { target }),
      ...(shared === undefined ? {} : { shared: { groupName: String(shared.groupName), clients: numberAt(shared.groupMinimumShareNumber) ?? 1 } }),
    };
  });
}

/** `64M` -> bytes (binary multiples, as Kubernetes quantities `Mi`; Azure writes `1G`). */
export function parseSize(text: string): number {
  const m = /^([0-9]+)([KMGTPE]?)$/.exec(text);
  if (m === null) return NaN;
  return Number(m[1]) * 1024 ** ' KMGTPE'.indexOf(m[2] || ' ');
}

function numberAt(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}
