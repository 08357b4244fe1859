/** The schema of every kind edgemq validates, by kind (also the source of the Helm CRDs). */
import { brokerSchema } from './broker.js';
import { brokerAuthenticationSchema } from './broker-authentication.js';
import { brokerAuthorizationSchema } from './broker-authorization.js';
import { brokerListenerSchema } from './broker-listener.js';
export const RESOURCE_SCHEMAS = {
    Broker: brokerSchema,
    BrokerListener: brokerListenerSchema,
    BrokerAuthentication: brokerAuthenticationSchema,
    BrokerAuthorization: brokerAuthorizationSchema,
};
export { brokerSchema, brokerListenerSchema, brokerAuthenticationSchema, brokerAuthorizationSchema };
//# sourceMappingURL=index.js.map