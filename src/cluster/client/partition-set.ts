/**
 * The partitions one publish goes to, emptied for the next one without allocating: a Set's
 * `clear()` allocates a new table every time, and that was the front end's most expensive line
 * per publish (CPU profile, fan-in QoS 1). Partition ids are small integers (the map's).
 */
export class PartitionSet {
  private readonly items: number[] = [];
  private n = 0;
  /** Per partition id, the generation in which it was added. */
  private readonly added: number[] = [];
  private generation = 1;

  get size(): number {
    return this.n;
  }

  /** The i-th partition added (0 <= i < size). */
  at(i: number): number {
    return this.items[i];
  }

  has(partition: number): boolean {
    return this.added[partition] === this.generation;
  }

  add(partition: number): void {
    if (this.added[partition] === this.generation) return;
    this.added[partition] = this.generation;
    this.items[this.n++] = partition;
  }

  clear(): void {
    this.n = 0;
    this.generation++;
  }
}
