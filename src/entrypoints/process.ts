import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../shared/infrastructure/config/config.js';
import { exitForSettings, settingsOrExit } from './cli-help.js';
import { createLogger, type Logger } from '../shared/infrastructure/logging/logger.js';
import { shutdownTracing } from '../shared/infrastructure/observability/tracing.js';

/*
 * What every process main does around its composition: read the configuration or exit 78, listen
 * or exit 78, stop on a signal, name its logger and version.
 */

/** Exits 78 with one line per setting a ConfigError `make` throws names (see exitForSettings). */
export function orExit<T>(make: () => T): T {
  return settingsOrExit(make);
}

/**
 * The setting a process cannot start without, or exit 78 with one line naming it and what it is for
 * (`DATABASE_URL: required (...)`).
 */
export function requiredSetting<T>(value: T | undefined, name: string, why: string): T {
  if (value === undefined || value === '') exitForSettings([`${name}: required (${why})`]);
  return value;
}

export function configOrExit(env: Record<string, string | undefined> = process.env): Config {
  return orExit(() => loadConfig(env));
}

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Why a listen failed, as the operator fixes it; undefined for an error that is not about the address. */
function listenProblem(code: string | undefined, address: string): string | undefined {
  if (code === 'EADDRINUSE') return `${address} is already in use (another process, or a second copy of this one, listens there)`;
  if (code === 'EACCES') return `${address} may not be bound by this user (ports below 1024 need privileges)`;
  if (code === 'EADDRNOTAVAIL') return `${address} is not an address of this machine`;
  return undefined;
}

/**
 * Listens, or exits 78 with one line naming `variable` (PORT, METRICS_PORT) when the address is
 * taken or not this process's to take, after `close` released what the process opened: a second
 * worker on one host says which setting to change instead of dying with a stack trace.
 */
export async function listenOrExit(
  app: FastifyInstance,
  options: { readonly host: string; readonly port: number; readonly variable: string; readonly hint: string },
  close: () => Promise<unknown>,
): Promise<void> {
  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    const problem = listenProblem((error as NodeJS.ErrnoException).code, `${options.host}:${options.port}`);
    if (!problem) throw error;
    await close().catch(() => undefined);
    exitForSettings([`${options.variable}: ${problem}; ${options.hint}`]);
  }
}

/**
 * One Ctrl-C can arrive twice: under `npm run dev`, tsx sends SIGINT to its child again when the
 * child does not acknowledge it within 30 ms. A signal this soon after the first is that echo.
 */
export const REPEATED_SIGNAL_WINDOW_MS = 1_000;

/**
 * Stops on SIGTERM/SIGINT: `stop` stops accepting work, drains and closes connections; the
 * process exits 0 when that succeeds, 1 when it fails or takes longer than `timeoutMs`.
 * A second signal exits at once, unless it comes within REPEATED_SIGNAL_WINDOW_MS of the first.
 */
export function onShutdown(logger: Logger, stop: () => Promise<void>, timeoutMs = 25_000): void {
  let stopping = false;
  let firstSignalAt = 0;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      if (Date.now() - firstSignalAt < REPEATED_SIGNAL_WINDOW_MS) {
        logger.debug({ signal }, 'repeated signal: already draining');
        return;
      }
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    firstSignalAt = Date.now();
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    // The spans of the last requests and deliveries are exported before the process goes.
    stop()
      .finally(() => shutdownTracing())
      .then(
        () => {
          logger.info('stopped cleanly');
          process.exit(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

export function baseLogger(config: Config, name: string): Logger {
  return createLogger({ level: config.LOG_LEVEL, name });
}
