export type ExitListener = (code: number | null, signal: string | null) => void;

/**
 * Who wants to hear when an instance exits, per instance id. Shared by every
 * driver so `onExit` behaves the same whatever runs the instance: listeners may
 * subscribe before the instance starts, and one that throws never stops the rest.
 */
export class ExitListeners {
  private readonly byId = new Map<string, Set<ExitListener>>();

  constructor(private readonly log: (msg: string) => void) {}

  on(id: string, listener: ExitListener): () => void {
    let set = this.byId.get(id);
    if (!set) this.byId.set(id, (set = new Set()));
    set.add(listener);
    return () => {
      const current = this.byId.get(id);
      current?.delete(listener);
      if (current?.size === 0) this.byId.delete(id);
    };
  }

  emit(id: string, code: number | null, signal: string | null): void {
    for (const listener of [...(this.byId.get(id) ?? [])]) {
      try {
        listener(code, signal);
      } catch (err) {
        this.log(`${id}: exit listener failed: ${(err as Error).message}`);
      }
    }
  }

  /** A stopped instance exits no more; its listeners would only leak. */
  clear(id: string): void {
    this.byId.delete(id);
  }
}
