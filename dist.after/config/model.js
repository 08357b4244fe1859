/**
 * The normalized, validated configuration the rest of edgemq consumes. `config/load.ts` turns
 * Kubernetes-style resources (Broker, BrokerListener, ...) from either API group into this shape,
 * filling defaults, so no other room ever looks at raw YAML.
 */
export {};
//# sourceMappingURL=model.js.map