import type { Delivery } from '../core/types.js';

/**
 * Effects of applying a command that leave the partition: work for live connections.
 * A replica that only replays (recovery, a non-tail chain member) passes `silentOutput`.
 */
export interface PartitionOutput {
  deliver(connectionId: number, delivery: Delivery): void;
  /** PUBREL for an outbound QoS 2 message; 0x92 answers a PUBREC that matches no flow waiting for one. */
  release(connectionId: number, packetId: number, reasonCode?: number): void;
  kick(connectionId: number, reasonCode: number): void;
}

export const silentOutput: PartitionOutput = {
  deliver() {},
  release() {},
  kick() {},
};
