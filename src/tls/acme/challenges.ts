import type { AcmeChallenge } from '../../router/engine.js';

/** Where HTTP-01 answers go: the router's `setChallenges`, which replaces the whole set. */
export type ChallengeSink = (challenges: AcmeChallenge[]) => Promise<void>;

/**
 * The challenges every order in flight is waiting on. The router takes the
 * whole set at once, so two orders (two apps, or an app and the platform's
 * own name) each add and remove their own and the board sends the union;
 * neither wipes the other's.
 */
export class ChallengeBoard {
  private readonly live = new Map<string, AcmeChallenge>();

  constructor(private readonly sink: ChallengeSink) {}

  async add(c: AcmeChallenge): Promise<void> {
    this.live.set(`${c.host} ${c.token}`, c);
    await this.publish();
  }

  async remove(c: Pick<AcmeChallenge, 'host' | 'token'>): Promise<void> {
    if (this.live.delete(`${c.host} ${c.token}`)) await this.publish();
  }

  get size(): number {
    return this.live.size;
  }

  private publish(): Promise<void> {
    return this.sink([...this.live.values()]);
  }
}
