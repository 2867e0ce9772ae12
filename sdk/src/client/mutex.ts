/**
 * A minimal async mutex: `run` executes callbacks one at a time, in call order.
 *
 * @example
 * const mutex = new Mutex();
 * await mutex.run(async () => signer.signTypedData(typedData));
 */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  run<result>(task: () => Promise<result>): Promise<result> {
    const next = this.#tail.then(task, task);
    this.#tail = next.catch(() => undefined);
    return next;
  }
}
