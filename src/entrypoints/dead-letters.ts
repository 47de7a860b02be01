import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../shared/infrastructure/config/config.js';
import { DEFAULT_DEAD_LETTER_LIMIT } from '../shared/infrastructure/operations/delivery-administration.js';
import { createLogger } from '../shared/infrastructure/logging/logger.js';
import { MemoryTransport } from '../shared/infrastructure/messaging/memory-transport.js';
import { DomainError, isUuid } from '../shared/kernel/index.js';
import { createMonolith } from './composition/monolith.js';
import { exitWithHelpIfAsked } from './cli-help.js';

/**
 * Operators' command line for dead letters, against DATABASE_URL (in a checkout, `npm run
 * dead-letters` finds the local dev instances first: src/dev/cli/dead-letters.ts):
 *   dead-letters list [--use-case X] [--limit N]
 *   dead-letters redrive --message-id ID | --use-case X | --all
 * Prints JSON on stdout; errors go to stderr as JSON with a code, and the exit code is non-zero
 * (2: wrong usage, 78: configuration, 1: anything else). Re-driven deliveries are signalled by
 * the sweeper of the running system on its next pass.
 */

const SYNOPSIS = 'dead-letters list [--use-case X] [--limit N] | dead-letters redrive --message-id ID | --use-case X | --all';

const HELP = `usage:
  dead-letters list [--use-case X] [--limit N]     dead letters as JSON, most recently dead first (limit 1 to 500, default 50)
  dead-letters redrive --message-id ID             put one back to pending with a fresh attempt budget
  dead-letters redrive --use-case X | --all        the same for a use case's, or every, dead letter

Against DATABASE_URL (npm run dead-letters: else the local dev database). JSON on stdout; errors on stderr as
{"error":{"code","message"}}, exit 2 (usage), 78 (configuration) or 1.`;

class UsageError extends Error {}

interface Command {
  readonly name: 'list' | 'redrive';
  readonly useCase?: string;
  readonly messageId?: string;
  readonly limit: number;
  readonly all: boolean;
}

function parseFlags(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        'use-case': { type: 'string' },
        'message-id': { type: 'string' },
        limit: { type: 'string' },
        all: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function parseCommand(argv: string[]): Command {
  const { positionals, values } = parseFlags(argv);
  const [name, ...extra] = positionals;
  if ((name !== 'list' && name !== 'redrive') || extra.length > 0)
    throw new UsageError(`expected "list" or "redrive", got ${JSON.stringify(positionals.join(' '))}`);
  const useCase = values['use-case'];
  const messageId = values['message-id'];
  const all = values.all ?? false;
  if (name === 'list') {
    if (messageId !== undefined || all) throw new UsageError('list takes only --use-case and --limit');
    const limit = values.limit === undefined ? DEFAULT_DEAD_LETTER_LIMIT : Number(values.limit);
    return { name, limit, all: false, ...(useCase !== undefined ? { useCase } : {}) };
  }
  if (values.limit !== undefined) throw new UsageError('redrive takes no --limit');
  if (messageId === undefined && useCase === undefined && !all) throw new UsageError('redrive needs --message-id, --use-case or --all');
  if (messageId !== undefined && !isUuid(messageId.toLowerCase()))
    throw new UsageError(`--message-id must be a UUID, got ${JSON.stringify(messageId)}`);
  return {
    name,
    limit: 0,
    all,
    ...(useCase !== undefined ? { useCase } : {}),
    ...(messageId !== undefined ? { messageId: messageId.toLowerCase() } : {}),
  };
}

async function main(argv: string[]): Promise<unknown> {
  exitWithHelpIfAsked(argv, HELP);
  const command = parseCommand(argv);
  const config = loadConfig();
  // stdout carries the JSON result alone; failures reach stderr through the error handler below.
  const logger = createLogger({ level: 'silent', name: 'dead-letters' });
  const databaseUrl = config.DATABASE_URL;
  if (databaseUrl === undefined) throw new ConfigError(['DATABASE_URL: not set (the database whose dead letters to list or re-drive)']);
  const runtime = await createMonolith({ config, logger, databaseUrl, transport: new MemoryTransport(logger) });
  try {
    const { administration } = runtime;
    if (command.name === 'list') {
      return {
        items: await administration.listDeadLetters({
          limit: command.limit,
          ...(command.useCase !== undefined ? { useCase: command.useCase } : {}),
        }),
      };
    }
    return {
      redriven: await administration.redrive({
        ...(command.messageId !== undefined ? { messageId: command.messageId } : {}),
        ...(command.useCase !== undefined ? { useCase: command.useCase } : {}),
        ...(command.all ? { all: true } : {}),
      }),
    };
  } finally {
    await runtime.close();
  }
}

function fail(code: string, message: string, exitCode: number, extra: Record<string, string> = {}): void {
  process.stderr.write(`${JSON.stringify({ error: { code, message, ...extra } })}\n`);
  process.exitCode = exitCode;
}

main(process.argv.slice(2)).then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  },
  (error: unknown) => {
    if (error instanceof UsageError) fail('USAGE', error.message, 2, { usage: SYNOPSIS });
    else if (error instanceof DomainError) fail(error.code, error.message, 2);
    else if (error instanceof ConfigError) fail('INVALID_CONFIGURATION', error.message, 78);
    else fail('FAILED', error instanceof Error ? error.message : String(error), 1);
  },
);
