import type { LogRecord } from './syslog.js';

/** Lines taken from a drain's queue and sent together; the same id on every attempt (`Logplex-Frame-Id`). */
export interface Batch {
  id: string;
  records: LogRecord[];
}

/** How one attempt went: delivered, refused for good (dropped), or worth another try. */
export type SendResult = { ok: true } | { ok: false; retry: boolean; error: string };

/** One way of shipping batches (syslog over TCP or TLS, logplex over HTTP(S)). */
export interface DrainSender {
  send(batch: Batch, signal: AbortSignal): Promise<SendResult>;
  /** Ends any connection held; the sender is not used again. */
  close(): void;
}
