/**
 * The compatibility rules of the contract lock (ADR 37). During a rolling deploy old and new code
 * run side by side in both directions: messages written by the old release are read by the new
 * one (in inboxes, outboxes, retries) and the new release's messages reach consumers not yet
 * redeployed. So a locked message type keeps exactly its schema, but for added optional fields
 * (old consumers drop them, new consumers accept their absence); a locked route keeps its key and
 * stays until its type is drained; a locked saga definition version keeps its steps. Each finding
 * is one sentence naming the message, route or saga and the fix.
 */
import { isDeepStrictEqual } from 'node:util';
import type { ContractLock, JsonSchema, LockedSagaVersion } from './contract-lock.js';

export const ADR = 'docs/adr/0037-rolling-deploys-contract-lock-and-saga-versions.md';

export type RuleId =
  | 'message-removed'
  | 'message-kind-changed'
  | 'field-removed'
  | 'field-required-added'
  | 'field-narrowed'
  | 'field-widened'
  | 'field-changed'
  | 'route-removed'
  | 'route-key-changed'
  | 'saga-version-removed'
  | 'saga-version-changed';

export interface Finding {
  readonly rule: RuleId;
  /** What `--retire` names to remove it on purpose (only removals can be retired). */
  readonly retire?: string;
  readonly sentence: string;
}

const see = `(see ${ADR})`;
const newType = (type: string) => {
  const m = /^(.*)\.v(\d+)$/.exec(type);
  return m ? `${m[1]}.v${Number(m[2]) + 1}` : `${type}'s next version`;
};

/** Everything in `locked` that `current` breaks. Additions are compatible: they only need the lock updated. */
export function findBreakingChanges(locked: ContractLock, current: ContractLock): Finding[] {
  return [...messageFindings(locked, current), ...routeFindings(locked, current), ...sagaFindings(locked, current)];
}

function messageFindings(locked: ContractLock, current: ContractLock): Finding[] {
  const findings: Finding[] = [];
  for (const [type, before] of Object.entries(locked.messages)) {
    const after = current.messages[type];
    if (!after) {
      findings.push({
        rule: 'message-removed',
        retire: `message:${type}`,
        sentence: `${type} is no longer defined, but its messages may still wait in outboxes and inboxes and producers not yet redeployed may still write it: keep its definition until nothing of it is in flight, then remove it with \`npm run contracts:update -- --retire message:${type}\` ${see}.`,
      });
      continue;
    }
    if (before.kind !== after.kind) {
      findings.push({
        rule: 'message-kind-changed',
        sentence: `${type} changed from ${before.kind} to ${after.kind}: keep ${type} as it is and define ${newType(type)} beside it ${see}.`,
      });
    }
    findings.push(...schemaFindings(type, before.schema, after.schema, ''));
  }
  return findings;
}

const NUMERIC_LOWER = ['minimum', 'exclusiveMinimum', 'minLength', 'minItems', 'minProperties'];
const NUMERIC_UPPER = ['maximum', 'exclusiveMaximum', 'maxLength', 'maxItems', 'maxProperties'];
const STRUCTURE = new Set(['properties', 'required', 'items', 'description', 'title', 'examples']);

/** Compares one schema node and recurses into object properties and array items. */
function schemaFindings(type: string, before: JsonSchema, after: JsonSchema, path: string): Finding[] {
  const findings: Finding[] = [];
  const field = path === '' ? 'its payload' : `field \`${path}\``;
  const fix = `keep ${type} as it is and put the change in ${newType(type)} beside it, following ADR 7's procedure ${see}`;
  const change = constraintChange(before, after);
  if (change) {
    const why: Record<typeof change.direction, string> = {
      narrowed: 'messages already in flight may fail the new consumers’ validation and be dead-lettered as INVALID_PAYLOAD',
      widened: 'consumers not yet redeployed would dead-letter the new values as INVALID_PAYLOAD',
      changed: 'old and new releases would each refuse what the other writes',
    };
    findings.push({
      rule: `field-${change.direction}`,
      sentence: `${type}: ${field} ${change.direction} (${change.detail}), so ${why[change.direction]}: ${fix}.`,
    });
  }
  const beforeProps = propertiesOf(before);
  const afterProps = propertiesOf(after);
  const beforeRequired = new Set(requiredOf(before));
  for (const name of Object.keys(beforeProps)) {
    if (!(name in afterProps)) {
      findings.push({
        rule: 'field-removed',
        sentence: `${type}: field \`${join(path, name)}\` was removed or renamed, so consumers not yet redeployed would dead-letter the new messages and new consumers would misread those already in flight: ${fix}.`,
      });
    }
  }
  for (const name of requiredOf(after)) {
    if (!beforeRequired.has(name)) {
      const existed = name in beforeProps;
      findings.push({
        rule: 'field-required-added',
        sentence: `${type}: field \`${join(path, name)}\` ${existed ? 'became required' : 'is new and required'}, so messages already in flight without it would be dead-lettered as INVALID_PAYLOAD: make it optional (\`.optional()\`), or ${fix}.`,
      });
    }
  }
  for (const [name, schema] of Object.entries(beforeProps)) {
    const next = afterProps[name];
    if (next) findings.push(...schemaFindings(type, schema, next, join(path, name)));
  }
  const items = [before['items'], after['items']];
  if (isSchema(items[0]) && isSchema(items[1])) findings.push(...schemaFindings(type, items[0], items[1], `${path}[]`));
  return findings;
}

function constraintChange(
  before: JsonSchema,
  after: JsonSchema,
): { direction: 'narrowed' | 'widened' | 'changed'; detail: string } | undefined {
  const keywords = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => !STRUCTURE.has(k)).sort();
  const narrowed: string[] = [];
  const widened: string[] = [];
  const changed: string[] = [];
  for (const k of keywords) {
    const [b, a] = [before[k], after[k]];
    if (isDeepStrictEqual(b, a)) continue;
    const detail = `${k} ${show(b)} → ${show(a)}`;
    const direction = directionOf(k, b, a);
    (direction === 'narrowed' ? narrowed : direction === 'widened' ? widened : changed).push(detail);
  }
  if (changed.length > 0 || (narrowed.length > 0 && widened.length > 0))
    return { direction: 'changed', detail: [...changed, ...narrowed, ...widened].join(', ') };
  if (narrowed.length > 0) return { direction: 'narrowed', detail: narrowed.join(', ') };
  if (widened.length > 0) return { direction: 'widened', detail: widened.join(', ') };
  return undefined;
}

function directionOf(keyword: string, before: unknown, after: unknown): 'narrowed' | 'widened' | 'changed' {
  if (NUMERIC_LOWER.includes(keyword)) {
    if (after === undefined) return 'widened';
    if (before === undefined) return 'narrowed';
    return Number(after) > Number(before) ? 'narrowed' : 'widened';
  }
  if (NUMERIC_UPPER.includes(keyword)) {
    if (after === undefined) return 'widened';
    if (before === undefined) return 'narrowed';
    return Number(after) < Number(before) ? 'narrowed' : 'widened';
  }
  if (keyword === 'enum' || keyword === 'type') {
    const [b, a] = [asList(before), asList(after)];
    const lost = b.some((v) => !a.some((w) => isDeepStrictEqual(v, w)));
    const gained = a.some((v) => !b.some((w) => isDeepStrictEqual(v, w)));
    if (lost && !gained) return 'narrowed';
    if (gained && !lost) return 'widened';
  }
  return 'changed';
}

function routeFindings(locked: ContractLock, current: ContractLock): Finding[] {
  const findings: Finding[] = [];
  for (const [style, types] of Object.entries(locked.routes)) {
    for (const [type, routes] of Object.entries(types)) {
      for (const route of routes) {
        const now = current.routes[style]?.[type]?.find((r) => r.useCase === route.useCase);
        const name = `the ${style} route of ${type} to ${route.useCase}`;
        if (!now) {
          findings.push({
            rule: 'route-removed',
            retire: `route:${style}:${type}:${route.useCase}`,
            sentence: `${name} was removed, but producers not yet redeployed may still publish ${type} and its deliveries may be pending: keep the route and its subscription until nothing of ${type} is in flight for ${route.useCase}, then remove it with \`npm run contracts:update -- --retire route:${style}:${type}:${route.useCase}\` ${see}.`,
          });
        } else if (now.key !== route.key) {
          findings.push({
            rule: 'route-key-changed',
            sentence: `${name} changed its key from \`${route.key}\` to \`${now.key}\`, so deliveries already pending keep the old key and the two releases would hold different aggregates for one message: keep \`${route.key}\`, or route ${type} to a new use case keyed by \`${now.key}\` and retire this route once drained ${see}.`,
          });
        }
      }
    }
  }
  return findings;
}

function sagaFindings(locked: ContractLock, current: ContractLock): Finding[] {
  const findings: Finding[] = [];
  for (const [saga, versions] of Object.entries(locked.sagas)) {
    for (const [version, before] of Object.entries(versions)) {
      const after = current.sagas[saga]?.[version];
      if (!after) {
        findings.push({
          rule: 'saga-version-removed',
          retire: `saga:${saga}@${version}`,
          sentence: `saga ${saga} definition v${version} is no longer handled, but instances started under it may still be in flight: keep it until \`GET /admin/saga-versions\` shows none of them can move, then remove it with \`npm run contracts:update -- --retire saga:${saga}@${version}\` ${see}.`,
        });
      } else if (!isDeepStrictEqual(before, after)) {
        const next = Math.max(...Object.keys(current.sagas[saga] ?? {}).map(Number)) + 1;
        findings.push({
          rule: 'saga-version-changed',
          sentence: `saga ${saga} definition v${version} changed (${sagaDiff(before, after)}), but instances started under v${version} would continue under the new steps: restore v${version} and add the change as v${next} beside it ${see}.`,
        });
      }
    }
  }
  return findings;
}

function sagaDiff(before: LockedSagaVersion, after: LockedSagaVersion): string {
  const parts: string[] = [];
  if (before.initial !== after.initial) parts.push(`initial state ${before.initial} → ${after.initial}`);
  for (const s of before.states) if (!after.states.includes(s)) parts.push(`state ${s} removed`);
  for (const s of after.states) if (!before.states.includes(s)) parts.push(`state ${s} added`);
  for (const t of before.transitions) if (!after.transitions.includes(t)) parts.push(`\`${t}\` removed`);
  for (const t of after.transitions) if (!before.transitions.includes(t)) parts.push(`\`${t}\` added`);
  return parts.join(', ');
}

const join = (path: string, name: string) => (path === '' ? name : `${path}.${name}`);
const isSchema = (v: unknown): v is JsonSchema => typeof v === 'object' && v !== null && !Array.isArray(v);
const propertiesOf = (s: JsonSchema): Record<string, JsonSchema> =>
  isSchema(s['properties']) ? (s['properties'] as Record<string, JsonSchema>) : {};
const requiredOf = (s: JsonSchema): string[] => (Array.isArray(s['required']) ? (s['required'] as string[]) : []);
const asList = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const show = (v: unknown): string => (v === undefined ? 'none' : JSON.stringify(v));
