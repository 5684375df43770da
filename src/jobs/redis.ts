/**
 * Redis connections for queue mode, configured the way BullMQ's production guide asks: the API's
 * producer fails fast while Redis is down (so /readyz and POST /v1/jobs answer 503 at once
 * instead of hanging), while worker connections retry forever (`maxRetriesPerRequest: null`)
 * and carry on by themselves after an outage. Keys share one prefix so several Kiln instances
 * can use the same Redis.
 */
import type { RedisOptions as BullRedisOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';

/** The BullMQ queue that carries training jobs (`<prefix>:train:*` keys). */
export const QUEUE_NAME = 'train';

/** Abort reasons a worker sends to its sandboxed processor. */
export const STOP_REASONS = {
  /** The user cancelled the job: stop at the next batch, register nothing. */
  cancel: 'kiln:cancel',
  /** The worker is shutting down: finish the epoch, checkpoint, hand the job back. */
  drain: 'kiln:drain',
  /** The worker lost the job's lock: another worker may own it now, so stop writing at once. */
  lockLost: 'kiln:lock-lost',
} as const;

/** Key set by a cancel so every worker, wherever it runs, can see it (kept a day). */
export const cancelKey = (prefix: string, jobId: string): string => `${prefix}:cancel:${jobId}`;
/** Channel a cancel is published on, for workers to react before their next poll. */
export const cancelChannel = (prefix: string): string => `${prefix}:cancel`;
export const CANCEL_TTL_SECONDS = 86_400;

/** Reconnect quickly (≤ 2 s) so readiness recovers soon after Redis does. */
const quickRetry = (times: number): number => Math.min(times * 200, 2_000);

/**
 * The API's connection (producer, cancels, reconciliation): no offline queue, one try per
 * command, short timeouts. A command while Redis is away fails in milliseconds.
 */
export function producerConnection(url: string, name = 'kiln-api'): Redis {
  return new Redis(url, {
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 5_000,
    retryStrategy: quickRetry,
  } satisfies RedisOptions);
}

/**
 * Options for the connections BullMQ opens for a Worker: commands wait for the connection to
 * come back instead of failing (BullMQ requires `maxRetriesPerRequest: null` for workers).
 */
export function workerConnectionOptions(url: string, name: string): BullRedisOptions {
  return { url, connectionName: name, maxRetriesPerRequest: null, connectTimeout: 5_000 };
}

/** A worker's side connection for cancel polling: fails fast, a missed poll is retried next tick. */
export function pollingConnection(url: string, name: string): Redis {
  return new Redis(url, {
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    retryStrategy: quickRetry,
  } satisfies RedisOptions);
}

/** A subscriber connection (re-subscribes by itself after a reconnect). */
export function subscriberConnection(url: string, name: string): Redis {
  return new Redis(url, { connectionName: name, maxRetriesPerRequest: null, retryStrategy: quickRetry } satisfies RedisOptions);
}

/** The URL without its password, for logs. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'redis://(unparsable url)';
  }
}

/** Closes a connection politely, or drops it when Redis does not answer within `ms`. */
export async function closeConnection(redis: Redis, ms = 2_000): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  const timer = setTimeout(() => redis.disconnect(), ms);
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  } finally {
    clearTimeout(timer);
  }
}

/** Logs a recurring error (a reconnect loop) at most once per `everyMs`. */
export function throttled(everyMs: number, log: (error: Error, repeats: number) => void): (error: Error) => void {
  let last = 0;
  let repeats = 0;
  return (error) => {
    repeats++;
    if (Date.now() - last < everyMs) return;
    last = Date.now();
    log(error, repeats);
    repeats = 0;
  };
}
