// How many parts are in the pipeline right now, in shared memory, so that a worker thread doing background work
// (the archive) can see at once, without a message, whether inspection is busy, and sleep until it is not.
// Written only by the part ledger on the event loop (admit, decide, fail); read by other threads with Atomics.
// When the count drops to zero, sleepers are woken (Atomics.notify): the archive resumes in the gap at once.

export class PipelineLoad {
  /** One Int32: parts admitted and not yet out of the pipeline. Hand this to a worker (workerData). */
  readonly buffer = new SharedArrayBuffer(4);
  private readonly cell = new Int32Array(this.buffer);

  set(parts: number): void {
    const was = Atomics.exchange(this.cell, 0, parts);
    if (parts === 0 && was !== 0) Atomics.notify(this.cell, 0);
  }

  get parts(): number {
    return Atomics.load(this.cell, 0);
  }
}
