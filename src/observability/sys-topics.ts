/**
 * Publishes broker statistics as retained messages under `$SYS/broker/...` (Mosquitto's names,
 * so existing dashboards work). `$SYS` topics are not matched by `#` or `+` [MQTT-4.7.2-1]:
 * subscribe to `$SYS/#` explicitly.
 */
import type { BrokerCore } from '../core/broker-core.js';
import type { Message } from '../core/types.js';

export const EDGEMQ_VERSION = '0.1.0';

/** What $SYS reads from the front end (kept to an interface: observability does not import the front end). */
export interface FrontEndStats {
  readonly connectionCount: number;
  droppedQos0(): number;
}

export class SysTopics {
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();

  constructor(
    private readonly core: BrokerCore,
    intervalSeconds: number,
    private readonly frontEnd: FrontEndStats,
  ) {
    if (intervalSeconds > 0) {
      this.timer = setInterval(() => this.publish(), intervalSeconds * 1000);
      this.timer.unref();
      this.publish();
    }
  }

  publish(): void {
    const s = this.core.stats();
    const values: Array<[string, string | number]> = [
      ['version', `edgemq ${EDGEMQ_VERSION}`],
      ['uptime', `${Math.floor((Date.now() - this.startedAt) / 1000)} seconds`],
      ['clients/connected', s.connected],
      ['clients/total', s.sessions],
      ['clients/sockets', this.frontEnd.connectionCount],
      ['subscriptions/count', s.subscriptions],
      ['retained messages/count', s.retained],
      ['messages/received', s.messagesReceived],
      ['messages/sent', s.messagesSent],
      // Queue overflow and expiry in the back end, plus QoS 0 shed for stalled readers in the front end.
      ['messages/dropped', s.messagesDropped + this.frontEnd.droppedQos0()],
      ['messages/queued', s.queued],
      ['messages/inflight', s.inflight],
      ['heap/current', process.memoryUsage().heapUsed],
    ];
    for (const [name, value] of values) {
      const m: Message = { topic: `$SYS/broker/${name}`, payload: Buffer.from(String(value)), qos: 0, retain: true, origin: '' };
      void this.core.publish('', m);
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
