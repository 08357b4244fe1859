/**
 * Plays daprd's side of the pluggable-component protocol for the tests: starts `edgemq dapr-components`,
 * finds its sockets in the folder, lists services by gRPC reflection v1alpha (as daprd does), and builds
 * clients from the same protos with `x-component-instance` on every call.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { edgemqCommand, repoRoot } from '../helpers/broker.js';
import { decodeFields, decodeStatus } from '../../src/dapr/rpc-status.js';

const def = protoLoader.loadSync(['dapr/proto/components/v1/pubsub.proto', 'dapr/proto/components/v1/state.proto'], {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [repoRoot],
});
const pkg = grpc.loadPackageDefinition(def) as unknown as { dapr: { proto: { components: { v1: Record<string, grpc.ServiceClientConstructor> } } } };
export const v1 = pkg.dapr.proto.components.v1;

const reflectionDef = protoLoader.loadSync(
  path.join(repoRoot, 'node_modules/@grpc/reflection/build/proto/grpc/reflection/v1alpha/reflection.proto'),
  { keepCase: false, defaults: true, oneofs: true },
);
const reflection = (grpc.loadPackageDefinition(reflectionDef) as unknown as { grpc: { reflection: { v1alpha: { ServerReflection: grpc.ServiceClientConstructor } } } })
  .grpc.reflection.v1alpha.ServerReflection;

export interface Components {
  folder: string;
  process: ChildProcess;
  output(): string;
  socket(name: string): string;
  stop(): Promise<void>;
}

export async function startComponents(args: string[] = [], env: Record<string, string> = {}, folder?: string, sockets?: number): Promise<Components> {
  const dir = folder ?? mkdtempSync(path.join(os.tmpdir(), 'dapr-sock-'));
  const c = edgemqCommand(['dapr-components', '--log-level', process.env.EDGEMQ_TEST_LOG ?? 'warn', ...args]);
  const child = spawn(c.cmd, c.args, {
    cwd: repoRoot,
    env: { ...process.env, DAPR_COMPONENTS_SOCKETS_FOLDER: dir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const want = sockets ?? (args.includes('--pubsub') || args.includes('--state') ? 1 : 2);
  const deadline = Date.now() + 15_000;
  // Ready when every socket answers reflection (a stale socket file may be there before ours).
  for (;;) {
    if (child.exitCode !== null) throw new Error(`dapr-components exited:\n${out}`);
    if (Date.now() > deadline) throw new Error(`sockets not ready within 15 s:\n${out}`);
    const files = readdirSync(dir).filter((f) => f.endsWith('.sock'));
    if (files.length >= want) {
      const ok = await Promise.all(files.map((f) => listServices(path.join(dir, f)).then(() => true, () => false)));
      if (ok.every(Boolean)) break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    folder: dir,
    process: child,
    output: () => out,
    socket: (name) => path.join(dir, `${name}.sock`),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      if (!folder) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What daprd does at start-up: list the folder, dial each socket, ask reflection for its services. */
export async function discover(folder: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const f of readdirSync(folder)) {
    const name = f.slice(0, f.length - path.extname(f).length);
    out[name] = await listServices(path.join(folder, f));
  }
  return out;
}

export function listServices(socket: string): Promise<string[]> {
  const client = new reflection(`unix://${socket}`, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo();
    call.on('data', (r: { listServicesResponse?: { service: { name: string }[] } }) => {
      resolve((r.listServicesResponse?.service ?? []).map((s) => s.name).sort());
      call.end();
      client.close();
    });
    call.on('error', (e: Error) => {
      client.close();
      reject(e);
    });
    call.write({ listServices: '*' });
  });
}

/** A gRPC client on a component socket whose calls carry `x-component-instance`. */
export class ComponentClient {
  readonly clients: Record<string, grpc.Client & Record<string, Function>> = {};
  constructor(
    socket: string,
    readonly instance: string,
  ) {
    for (const svc of ['PubSub', 'StateStore', 'TransactionalStateStore', 'TransactionalStoreMultiMaxSize']) {
      this.clients[svc] = new v1[svc]!(`unix://${socket}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
    }
  }

  md(): grpc.Metadata {
    const m = new grpc.Metadata();
    m.set('x-component-instance', this.instance);
    return m;
  }

  call<T = any>(service: string, method: string, req: object): Promise<T> {
    return new Promise((resolve, reject) =>
      this.clients[service]![method]!(req, this.md(), (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res))),
    );
  }

  pull(): grpc.ClientDuplexStream<any, any> {
    return this.clients.PubSub!.PullMessages(this.md()) as grpc.ClientDuplexStream<any, any>;
  }

  close(): void {
    for (const c of Object.values(this.clients)) c.close();
  }
}

/** The google.rpc.Status daprd would read from the trailer, with BadRequest field names decoded. */
export function richStatus(err: grpc.ServiceError): { code: number; typeUrls: string[]; badRequestFields: string[] } {
  const bin = err.metadata?.get('grpc-status-details-bin')[0];
  if (!bin) return { code: err.code, typeUrls: [], badRequestFields: [] };
  const st = decodeStatus(Buffer.isBuffer(bin) ? bin : Buffer.from(String(bin), 'base64'));
  const fields: string[] = [];
  for (const d of st.details) {
    if (d.typeUrl !== 'type.googleapis.com/google.rpc.BadRequest') continue;
    for (const v of decodeFields(d.value).get(1) ?? []) fields.push(((decodeFields(v as Buffer).get(1)?.[0] as Buffer) ?? '').toString());
  }
  return { code: st.code, typeUrls: st.details.map((d) => d.typeUrl), badRequestFields: fields };
}

export function waitFor(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

export { existsSync };
