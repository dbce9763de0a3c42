/** When failed deliveries are tried again: exponential backoff with a fixed number of attempts. */
export interface RetryPolicy {
  /** Attempts per delivery, the first one included. */
  attempts: number;
  /** Wait before the first retry; each later wait doubles. */
  baseDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 1000 };

/**
 * The wait after attempt number `attempt` (1-based) failed, or undefined when
 * that was the last one: 1 s, 2 s, 4 s, 8 s by default.
 */
export function retryDelay(policy: RetryPolicy, attempt: number): number | undefined {
  if (attempt >= policy.attempts) return undefined;
  return policy.baseDelayMs * 2 ** (attempt - 1);
}

/** Every wait of the schedule, in order. */
export function retrySchedule(policy: RetryPolicy): number[] {
  const delays: number[] = [];
  for (let a = 1, d = retryDelay(policy, a); d !== undefined; d = retryDelay(policy, ++a)) delays.push(d);
  return delays;
}
