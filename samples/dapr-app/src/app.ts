/**
 * A Dapr app that uses edgemq without speaking MQTT: it subscribes to `orders`, publishes an order
 * every few seconds, and keeps a per-app counter in the state store (with an ETag-guarded update).
 * Run it with daprd next to `edgemq serve` and `edgemq dapr-components` (see README.md).
 */
import { CommunicationProtocolEnum, DaprClient, DaprServer, StateConcurrencyEnum, StateConsistencyEnum } from '@dapr/dapr';

const PUBSUB = process.env.PUBSUB_NAME ?? 'pubsub';
const STORE = process.env.STATESTORE_NAME ?? 'statestore';
const appPort = process.env.APP_PORT ?? '3000';
const daprHttpPort = process.env.DAPR_HTTP_PORT ?? '3500';

const client = new DaprClient({ daprHost: '127.0.0.1', daprPort: daprHttpPort, communicationProtocol: CommunicationProtocolEnum.HTTP });
const server = new DaprServer({
  serverHost: '127.0.0.1',
  serverPort: appPort,
  communicationProtocol: CommunicationProtocolEnum.HTTP,
  clientOptions: { daprHost: '127.0.0.1', daprPort: daprHttpPort },
});

interface Order {
  id: number;
  item: string;
}

async function countOrder(): Promise<number> {
  // Optimistic concurrency: read value + ETag, write back only if nobody changed it meanwhile.
  for (;;) {
    const [current] = (await client.state.getBulk(STORE, ['orders-seen'])) as { data?: number; etag?: string }[];
    const next = (current?.data ?? 0) + 1;
    const res = await client.state.save(STORE, [
      { key: 'orders-seen', value: next, etag: current?.etag, options: { concurrency: StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE, consistency: StateConsistencyEnum.CONSISTENCY_STRONG } },
    ]);
    if (!res?.error) return next;
  }
}

async function main(): Promise<void> {
  await server.pubsub.subscribe(PUBSUB, 'orders', async (order: Order) => {
    const seen = await countOrder();
    console.log(`received order ${order.id} (${order.item}); ${seen} orders seen`);
    // returning nothing = SUCCESS (the component sends the PUBACK); throw or return RETRY to get it redelivered
  });
  await server.start();

  // A state entry that expires: ttlInSeconds is honoured by the edgemq state store.
  await client.state.save(STORE, [{ key: 'last-start', value: new Date().toISOString(), metadata: { ttlInSeconds: '3600' } }]);

  let id = 0;
  setInterval(() => {
    const order: Order = { id: ++id, item: ['bolts', 'nuts', 'gears'][id % 3]! };
    client.pubsub.publish(PUBSUB, 'orders', order).catch((err: unknown) => console.error('publish failed', err));
  }, 3000);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
