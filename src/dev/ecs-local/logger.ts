import { pino } from 'pino';

/** The subset of pino's logger the local ECS endpoint uses; a pino logger satisfies it. */
export interface EcsLocalLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export function defaultEcsLocalLogger(): EcsLocalLogger {
  return pino({ name: 'ecs-local', level: process.env['LOG_LEVEL'] ?? 'info' });
}

export const silentEcsLocalLogger: EcsLocalLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
