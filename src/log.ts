import type { LoggerOptions } from 'pino';
import type { Config } from './config.js';

/** pino options shared by the API and the workers; pretty output only in development. */
export function loggerOptions(config: Pick<Config, 'logLevel' | 'prettyLogs'>): LoggerOptions {
  return {
    level: config.logLevel,
    redact: { paths: ['req.headers.authorization', 'headers.authorization'], censor: '[redacted]' },
    ...(config.prettyLogs ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
  };
}
