/** The schema of every kind edgemq validates, by kind (also the source of the Helm CRDs). */
import { brokerSchema } from './broker.js';
import { brokerAuthenticationSchema } from './broker-authentication.js';
import { brokerAuthorizationSchema } from './broker-authorization.js';
import { brokerListenerSchema } from './broker-listener.js';
import type { JsonSchema } from './common.js';
import { mqttBridgeConnectorSchema, mqttBridgeTopicMapSchema } from './mqtt-bridge.js';

export const RESOURCE_SCHEMAS = {
  Broker: brokerSchema,
  BrokerListener: brokerListenerSchema,
  BrokerAuthentication: brokerAuthenticationSchema,
  BrokerAuthorization: brokerAuthorizationSchema,
  MqttBridgeConnector: mqttBridgeConnectorSchema,
  MqttBridgeTopicMap: mqttBridgeTopicMapSchema,
} as const satisfies Record<string, JsonSchema>;

export type ValidatedKind = keyof typeof RESOURCE_SCHEMAS;

export { brokerSchema, brokerListenerSchema, brokerAuthenticationSchema, brokerAuthorizationSchema };
