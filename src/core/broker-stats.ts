/**
 * The broker's counters ($SYS topics, metrics, the admin API's status). Numbers only and no
 * imports: the web console's build reads it too (admin/status-document.ts).
 */
export interface BrokerStats {
  sessions: number;
  connected: number;
  subscriptions: number;
  retained: number;
  messagesReceived: number;
  messagesSent: number;
  messagesDropped: number;
  queued: number;
  inflight: number;
  /** Finer counters for metrics; absent where a core does not count them. */
  bytesReceived?: number;
  bytesSent?: number;
  droppedQos0Offline?: number;
  droppedQueueFull?: number;
  droppedOldest?: number;
  droppedExpired?: number;
  /** Sessions holding a will (published at disconnect or after its delay). */
  wills?: number;
}
