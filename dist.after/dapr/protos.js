/**
 * Loads the Dapr pluggable-component protos from the top-level `dapr/` folder (the same files the tests
 * build their daprd stand-in from). Options as validated for daprd: camelCase fields, enums as strings,
 * defaults on (an absent message field reads as null, which keeps "no etag" and `{value: ""}` apart).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
/** `<repo>/dapr`, from both `src/dapr` and `dist/dapr`. */
export const PROTO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dapr');
export const PROTO_FILES = ['dapr/proto/components/v1/pubsub.proto', 'dapr/proto/components/v1/state.proto'];
export const PKG = 'dapr.proto.components.v1';
export const SERVICE = {
    pubsub: `${PKG}.PubSub`,
    state: `${PKG}.StateStore`,
    transactional: `${PKG}.TransactionalStateStore`,
    multiMaxSize: `${PKG}.TransactionalStoreMultiMaxSize`,
};
export function loadDaprPackageDefinition() {
    return protoLoader.loadSync(PROTO_FILES, {
        keepCase: false,
        longs: Number,
        enums: String,
        defaults: true,
        oneofs: true,
        includeDirs: [path.dirname(PROTO_ROOT)],
    });
}
export function serviceDefinition(def, name) {
    return def[name];
}
//# sourceMappingURL=protos.js.map