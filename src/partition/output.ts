import type { Delivery, Message } from '../core/types.js';

/**
 * Effects of applying a command that leave the partition: work for live connections.
 * A replica that only replays (recovery, a non-tail chain member) passes `silentOutput`.
 */
export interface PartitionOutput {
  deliver(connectionId: number, delivery: Delivery): void;
  release(connectionId: number, packetId: number): void;
  kick(connectionId: number, reasonCode: number): void;
  /**
   * A message that starts inside the partition (a will, a state-store notification) on a cluster
   * (`PartitionLimits.cluster`): the host routes it to every partition with matching subscribers,
   * this one included, as a publish command of its own. With `shareGroup` (`{group}/{filter}`), only
   * to one member of that group elsewhere: a member's unacknowledged messages when its session ends.
   */
  forward?(message: Message, shareGroup?: string): void;
}

export const silentOutput: PartitionOutput = {
  deliver() {},
  release() {},
  kick() {},
};
