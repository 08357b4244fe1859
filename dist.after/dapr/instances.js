/**
 * One socket can serve several Component YAML instances: daprd sends `x-component-instance:
 * <metadata.name>` on every call, and each value gets its own component object (as in the Go SDK's
 * multiplexer, `#default__instance#` when the header is missing).
 */
import * as grpc from '@grpc/grpc-js';
import { plainError } from './rpc-status.js';
export const DEFAULT_INSTANCE = '#default__instance#';
export function instanceName(metadata) {
    const v = metadata.get('x-component-instance')[0];
    return v === undefined || v === '' ? DEFAULT_INSTANCE : String(v);
}
export class Instances {
    map = new Map();
    /** Init replaces an instance (daprd re-inits on component hot reload). */
    async put(name, instance) {
        const old = this.map.get(name);
        this.map.set(name, instance);
        if (old)
            await old.close().catch(() => { });
    }
    get(metadata) {
        const name = instanceName(metadata);
        const i = this.map.get(name);
        if (!i)
            throw plainError(grpc.status.FAILED_PRECONDITION, `component instance "${name}" is not initialised: call Init first`);
        return i;
    }
    async closeAll() {
        const all = [...this.map.values()];
        this.map.clear();
        await Promise.all(all.map((i) => i.close().catch(() => { })));
    }
}
/** Wraps an async unary handler: thrown ServiceErrors become the call's status. */
export function unary(fn) {
    return (call, callback) => {
        fn(call.request, call.metadata).then((res) => callback(null, res), (err) => {
            const e = err;
            callback(typeof e?.code === 'number' ? e : plainError(grpc.status.INTERNAL, String(err?.message ?? err)));
        });
    };
}
//# sourceMappingURL=instances.js.map