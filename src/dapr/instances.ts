/**
 * One socket can serve several Component YAML instances: daprd sends `x-component-instance:
 * <metadata.name>` on every call, and each value gets its own component object (as in the Go SDK's
 * multiplexer, `#default__instance#` when the header is missing).
 */
import * as grpc from '@grpc/grpc-js';
import { plainError } from './rpc-status.js';

export const DEFAULT_INSTANCE = '#default__instance#';

export function instanceName(metadata: grpc.Metadata): string {
  const v = metadata.get('x-component-instance')[0];
  return v === undefined || v === '' ? DEFAULT_INSTANCE : String(v);
}

export class Instances<T extends { close(): Promise<void> }> {
  private readonly map = new Map<string, T>();

  /** Init replaces an instance (daprd re-inits on component hot reload). */
  async put(name: string, instance: T): Promise<void> {
    const old = this.map.get(name);
    this.map.set(name, instance);
    if (old) await old.close().catch(() => {});
  }

  get(metadata: grpc.Metadata): T {
    const name = instanceName(metadata);
    const i = this.map.get(name);
    if (!i) throw plainError(grpc.status.FAILED_PRECONDITION, `component instance "${name}" is not initialised: call Init first`);
    return i;
  }

  async closeAll(): Promise<void> {
    const all = [...this.map.values()];
    this.map.clear();
    await Promise.all(all.map((i) => i.close().catch(() => {})));
  }
}

/** Wraps an async unary handler: thrown ServiceErrors become the call's status. */
export function unary<Req, Res>(fn: (req: Req, metadata: grpc.Metadata) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    fn(call.request, call.metadata).then(
      (res) => callback(null, res),
      (err: unknown) => {
        const e = err as Partial<grpc.ServiceError>;
        callback(typeof e?.code === 'number' ? (e as grpc.ServiceError) : plainError(grpc.status.INTERNAL, String((err as Error)?.message ?? err)));
      },
    );
  };
}
