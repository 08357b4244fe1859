/**
 * Schema of the `BrokerAuthorization` kind. Validated loosely here (structure, types, enums); kept
 * raw in `LoadedConfig.others` for the security room. One shape serves 2023 (`listenerRef`,
 * `authorizationPolicies.enableCache`) and 2024+ (`authorizationPolicies.cache: Enabled|Disabled`).
 */
import { bool, caseInsensitiveEnum, obj, resourceSchema, stringList } from './common.js';
const principalsSchema = obj('Who the rule applies to; the fields are ORed.', {
    clientIds: stringList('Client ids.'),
    usernames: stringList('Usernames.'),
    attributes: {
        type: 'array',
        description: 'Attribute sets; a client matches a set when it has all of its pairs.',
        items: { type: 'object', additionalProperties: { type: 'string' } },
    },
});
const brokerResourceSchema = obj('An MQTT action the rule allows.', {
    method: caseInsensitiveEnum('MQTT action.', ['Connect', 'Publish', 'Subscribe']),
    topics: stringList('Topics or filters (Publish/Subscribe); {principal.*} tokens allowed.'),
    clientIds: stringList('Client ids allowed to connect (Connect only); trailing * wildcard.'),
}, ['method']);
const stateStoreResourceSchema = obj('State-store keys the rule allows.', {
    method: caseInsensitiveEnum('Access.', ['Read', 'Write', 'ReadWrite']),
    keyType: caseInsensitiveEnum('How keys are matched.', ['Pattern', 'String', 'Binary']),
    keys: stringList('Keys or patterns.'),
}, ['method', 'keyType', 'keys']);
const ruleSchema = obj('principals x resources.', {
    effect: caseInsensitiveEnum('edgemq: Allow (default) or Deny; a matching Deny wins over every Allow.', ['Allow', 'Deny']),
    principals: principalsSchema,
    brokerResources: { type: 'array', items: brokerResourceSchema },
    stateStoreResources: { type: 'array', items: stateStoreResourceSchema },
});
export const brokerAuthorizationSpecSchema = obj('What authenticated clients may do.', {
    listenerRef: stringList('2023: listeners this authorization applies to.'),
    authorizationPolicies: obj('The rules; no rules = deny everything.', {
        enableCache: bool('2023: cache decisions.'),
        cache: caseInsensitiveEnum('Cache decisions.', ['Enabled', 'Disabled']),
        rules: { type: 'array', items: ruleSchema },
    }),
}, ['authorizationPolicies']);
export const brokerAuthorizationSchema = resourceSchema('BrokerAuthorization', 'Authorization rules of one or more listeners.', brokerAuthorizationSpecSchema);
//# sourceMappingURL=broker-authorization.js.map