/**
 * The leader's active-expiry cycle (Redis's expire.c, adapted to replication: 'Leader-decided
 * expiry' in docs/design.md). Followers never delete on their own: the leader samples keys with a
 * TTL, and proposes the deletion of those whose time has passed, as one replicated entry. Apply
 * deletes a key only if it is still expired at the entry's timestamp (a SET or PERSIST may have
 * come first).
 *
 * Each cycle (the host runs one every 100 ms, Redis's default hz of 10; it does nothing on a
 * follower): sample `keysPerLoop` keys with a TTL; propose the expired ones; sample again while
 * more than a quarter of a sample was expired, within `timeBudgetMs` — Redis's "20 keys, again
 * while more than 25% expired, time-bounded".
 */
export interface ActiveExpiryHooks {
  isLeader(): boolean;
  /** Up to `count` random keys that have a TTL (may repeat). */
  sampleKeysWithTtl(count: number): Buffer[];
  /** Whether `key` has a TTL that is ≤ nowMs. */
  isExpired(key: Buffer, nowMs: number): boolean;
  /** Proposes deleting these keys if still expired; resolves with how many were deleted. */
  proposeExpire(keys: readonly Buffer[]): Promise<number>;
  clock(): number;
  /** Counts keys deleted (INFO expired_keys). */
  onExpired(count: number): void;
}

export interface ActiveExpiryOptions {
  readonly keysPerLoop: number;
  readonly timeBudgetMs: number;
  /** At most this many keys in proposals not yet applied. */
  readonly maxInFlight: number;
}

export const defaultActiveExpiryOptions: ActiveExpiryOptions = {
  keysPerLoop: 20,
  timeBudgetMs: 25,
  maxInFlight: 10_000,
};

export class ActiveExpiry {
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly hooks: ActiveExpiryHooks,
    private readonly options: ActiveExpiryOptions = defaultActiveExpiryOptions,
  ) {}

  /** One cycle; returns the number of keys proposed for deletion. */
  cycle(): number {
    const { hooks, options } = this;
    if (!hooks.isLeader()) return 0;
    const started = hooks.clock();
    let proposed = 0;
    for (;;) {
      if (this.inFlight.size >= options.maxInFlight) break;
      const now = hooks.clock();
      const sample = hooks.sampleKeysWithTtl(options.keysPerLoop);
      if (sample.length === 0) break;
      const expired: Buffer[] = [];
      let expiredInSample = 0;
      for (const key of sample) {
        if (!hooks.isExpired(key, now)) continue;
        expiredInSample++;
        const id = key.toString('latin1');
        if (this.inFlight.has(id)) continue;
        this.inFlight.add(id);
        expired.push(key);
      }
      if (expired.length > 0) {
        proposed += expired.length;
        this.propose(expired);
      }
      if (expiredInSample * 4 <= sample.length) break;
      if (hooks.clock() - started >= options.timeBudgetMs) break;
    }
    return proposed;
  }

  private propose(keys: Buffer[]): void {
    this.hooks.proposeExpire(keys).then(
      (deleted) => {
        this.hooks.onExpired(deleted);
        for (const k of keys) this.inFlight.delete(k.toString('latin1'));
      },
      () => {
        // Not leader any more, or the outcome is unknown: the next leader's cycle will find
        // whatever is still expired.
        for (const k of keys) this.inFlight.delete(k.toString('latin1'));
      },
    );
  }
}
