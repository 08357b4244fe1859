export const EDGEMQ_VERSION = '0.1.0';
export class SysTopics {
    core;
    frontEnd;
    timer;
    startedAt = Date.now();
    constructor(core, intervalSeconds, frontEnd) {
        this.core = core;
        this.frontEnd = frontEnd;
        if (intervalSeconds > 0) {
            this.timer = setInterval(() => this.publish(), intervalSeconds * 1000);
            this.timer.unref();
            this.publish();
        }
    }
    publish() {
        const s = this.core.stats();
        const values = [
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
            const m = { topic: `$SYS/broker/${name}`, payload: Buffer.from(String(value)), qos: 0, retain: true, origin: '' };
            void this.core.publish('', m);
        }
    }
    close() {
        if (this.timer)
            clearInterval(this.timer);
    }
}
//# sourceMappingURL=sys-topics.js.map