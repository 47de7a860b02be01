/**
 * The contract lock (ADR 37): `contracts.lock.json` holds, for every message type, route and
 * orchestrated saga definition version, what the released code promised; this compares the code
 * with it.
 *   npm run contracts:check                          fails on a breaking change, or on a lock not
 *                                                    updated for a compatible one
 *   npm run contracts:update                         writes the lock when every change is compatible
 *   npm run contracts:update -- --retire <what>      also removes, on purpose, a message type
 *                                                    (`message:<type>`), a route
 *                                                    (`route:<style>:<type>:<use case>`) or a saga
 *                                                    definition version (`saga:<saga>@<version>`)
 *                                                    once nothing of it is in flight
 *   ... --lock <file>                                another lock file (the tests' fixtures)
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ALL_MODULES, ALL_INBOXES } from '../src/entrypoints/composition/all-modules.js';
import type { ModuleDefinition } from '../src/shared/infrastructure/composition/module-definition.js';
import type { ModuleInbox } from '../src/shared/contract/routing.js';
import { lockOf, serializeLock, type ContractLock, type Contracts } from './contracts/contract-lock.js';
import { ADR, findBreakingChanges, type Finding } from './contracts/compatibility.js';

export const LOCK_FILE = resolve(import.meta.dirname, '..', 'contracts.lock.json');

/** The contracts of a composition: its modules' messages and sagas, and every module's inbox. */
export function contractsOf(modules: readonly ModuleDefinition[], inboxes: readonly ModuleInbox[]): Contracts {
  return {
    messages: modules.flatMap((m) => m.messages ?? []),
    inboxes,
    sagas: modules.flatMap((m) => m.sagas?.definitions ?? []),
  };
}

export interface Outcome {
  readonly ok: boolean;
  readonly lines: readonly string[];
  /** The lock to write (update only, when ok). */
  readonly write?: string;
}

/** Compares the code's lock with the committed one; `retire` names the removals meant on purpose (update only). */
export function compareWithLock(
  committed: ContractLock | undefined,
  current: ContractLock,
  mode: 'check' | 'update',
  retire: readonly string[] = [],
): Outcome {
  const text = serializeLock(current);
  if (!committed) {
    return mode === 'update'
      ? { ok: true, lines: ['contracts.lock.json written: the first lock'], write: text }
      : { ok: false, lines: ['contracts.lock.json is missing: run `npm run contracts:update` and commit it'] };
  }
  const findings = findBreakingChanges(committed, current);
  const retirable = new Set(findings.flatMap((f) => (f.retire ? [f.retire] : [])));
  const unknown = retire.filter((r) => !retirable.has(r));
  if (unknown.length > 0) {
    return {
      ok: false,
      lines: unknown.map((r) => `--retire ${r} names nothing the code removed (removable now: ${[...retirable].join(', ') || 'none'})`),
    };
  }
  const blocking = findings.filter((f: Finding) => mode === 'check' || !f.retire || !retire.includes(f.retire));
  if (blocking.length > 0)
    return { ok: false, lines: [...blocking.map((f) => f.sentence), `${blocking.length} breaking change(s); rules in ${ADR}`] };
  if (mode === 'update')
    return { ok: true, lines: [`contracts.lock.json updated${retire.length ? ` (retired: ${retire.join(', ')})` : ''}`], write: text };
  if (serializeLock(committed) !== text) {
    return {
      ok: false,
      lines: [
        `contracts.lock.json is out of date: the code's changes are compatible (${additions(committed, current).join(', ')}); run \`npm run contracts:update\` and commit the lock`,
      ],
    };
  }
  return { ok: true, lines: ['contracts.lock.json matches the code'] };
}

function additions(before: ContractLock, after: ContractLock): string[] {
  const changed = (kind: string, a: Record<string, unknown>, b: Record<string, unknown>) =>
    Object.keys(b)
      .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
      .map((k) => `${kind} ${k}`);
  return [
    ...changed('message', before.messages, after.messages),
    ...Object.keys(after.routes).flatMap((style) => changed(`${style} route of`, before.routes[style] ?? {}, after.routes[style] ?? {})),
    ...changed('saga', before.sagas, after.sagas),
  ];
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { retire: { type: 'string', multiple: true }, lock: { type: 'string' } },
  });
  const mode = positionals[0];
  if (mode !== 'check' && mode !== 'update') {
    console.error('usage: tsx scripts/contracts.ts check|update [--retire <what>]... [--lock <file>]');
    process.exit(64);
  }
  const file = values.lock ? resolve(values.lock) : LOCK_FILE;
  const committed = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as ContractLock) : undefined;
  const outcome = compareWithLock(committed, lockOf(contractsOf(ALL_MODULES, ALL_INBOXES)), mode, values.retire ?? []);
  if (outcome.write !== undefined) writeFileSync(file, outcome.write);
  for (const line of outcome.lines) (outcome.ok ? console.log : console.error)(line);
  process.exit(outcome.ok ? 0 : 1);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
