/**
 * The normalized form of `MqttBridgeConnector` + `MqttBridgeTopicMap` resources that
 * `edgemq connector` runs (src/connectors/). Produced by `normalize-bridge.ts`; defaults are filled.
 */

export type BridgeDirection = 'local-to-remote' | 'remote-to-local';

export type BridgeAuth =
  | { method: 'none' }
  | { method: 'x509'; secretName: string }
  | { method: 'usernamePassword'; secretName: string }
  /** Kubernetes service account token, MQTT 5 enhanced authentication `K8S-SAT`. */
  | { method: 'serviceAccountToken'; tokenPath: string };

export interface BridgeEndpoint {
  host: string;
  port: number;
  transport: 'mqtt' | 'webSocket';
  webSocketPath: string;
  tls?: { caConfigMap?: string; serverName?: string };
  auth: BridgeAuth;
  /** Field of the resource this endpoint came from, for messages (`spec.remoteBrokerConnection`). */
  field: string;
}

export interface BridgeRoute {
  name: string;
  /** `MqttBridgeTopicMap/<name>` that defined the route. */
  topicMap: string;
  direction: BridgeDirection;
  qos: 0 | 1;
  source: string;
  /** Undefined: the topic received. May contain `{topic}`. */
  target?: string;
  shared?: { groupName: string; clients: number };
}

export interface BridgeConnectorSettings {
  name: string;
  namespace?: string;
  /** `MqttBridgeConnector/<name> in <file>:<line>`. */
  describe: string;
  /** Towards the remote broker: 5 = MQTT 5.0, 4 = 3.1.1. The local side always speaks MQTT 5. */
  protocolVersion: 4 | 5;
  clientIdPrefix: string;
  logLevel?: string;
  remote: BridgeEndpoint & { keepAliveSeconds: number; cleanStart: boolean; sessionExpirySeconds: number };
  local: BridgeEndpoint;
  buffer: { maxMessages: number; maxBytes: number };
  reconnect: { minDelayMs: number; maxDelayMs: number };
  loopMarker: boolean;
  routes: BridgeRoute[];
}
