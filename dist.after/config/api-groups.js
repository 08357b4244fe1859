/** API group -> versions accepted in it. */
export const ACCEPTED_API_VERSIONS = {
    /** edgemq's own group; field names follow Azure IoT MQ v1beta1. */
    'mq.edgemq.io': ['v1beta1'],
    /** Azure IoT MQ, Nov 2023 - mid 2024 (AIO 0.1-0.5). */
    'mq.iotoperations.azure.com': ['v1beta1'],
    /** MQTT broker for Azure IoT Operations, Jul 2024 (0.6) onwards; v1 since the Nov 2024 GA. */
    'mqttbroker.iotoperations.azure.com': ['v1beta1', 'v1'],
};
/** Kinds validated and consumed by edgemq. */
export const CONSUMED_KINDS = ['Broker', 'BrokerListener', 'BrokerAuthentication', 'BrokerAuthorization'];
/**
 * Kinds that exist in the accepted groups but that `serve` does not act on (yet): loading skips them
 * with a warning rather than failing, so a full Azure manifest still loads.
 */
export const SKIPPED_KINDS = [
    'DiagnosticService',
    'MqttBridgeConnector',
    'MqttBridgeTopicMap',
    'KafkaConnector',
    'KafkaConnectorTopicMap',
    'DataLakeConnector',
    'DataLakeConnectorTopicMap',
    'IoTHubConnector',
    'IoTHubConnectorRoutesMap',
];
export function checkApiVersion(apiVersion) {
    if (typeof apiVersion !== 'string' || apiVersion === '') {
        return { ok: false, problem: 'apiVersion: is required' };
    }
    const slash = apiVersion.lastIndexOf('/');
    const group = slash < 0 ? '' : apiVersion.slice(0, slash);
    const version = apiVersion.slice(slash + 1);
    const versions = ACCEPTED_API_VERSIONS[group];
    const accepted = Object.entries(ACCEPTED_API_VERSIONS)
        .flatMap(([g, vs]) => vs.map((v) => `${g}/${v}`))
        .join(', ');
    if (versions === undefined) {
        return { ok: false, problem: `apiVersion: unknown API group in '${apiVersion}' (accepted: ${accepted})` };
    }
    if (!versions.includes(version)) {
        return { ok: false, problem: `apiVersion: unsupported version '${version}' of ${group} (accepted: ${versions.join(', ')})` };
    }
    return { ok: true, group, version };
}
export function kindUse(kind) {
    if (CONSUMED_KINDS.includes(kind))
        return 'consumed';
    if (SKIPPED_KINDS.includes(kind))
        return 'skipped';
    return 'unknown';
}
//# sourceMappingURL=api-groups.js.map