import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp, committedContext } from '../../../deploy/cdk/lib/app.js';
import { activeUseCases } from '../../../deploy/cdk/lib/use-cases.js';
import { ALL_INBOXES } from '../../../src/entrypoints/composition/all-modules.js';
import type { ModuleInbox, SagaStyle } from '../../../src/shared/contract/routing.js';

/**
 * A system grown from two modules to twelve (the monolith's and ten generated ones, three use cases
 * each): the default development and production apps still synthesize, in both saga styles,
 * because connections follow databases (ADR 32) and, where the database cannot give every use
 * case a task of its own, the tasks connect through RDS Proxy (ADR 34).
 */
const GENERATED_MODULES = 10;
const USE_CASES_EACH = 3;

/** Module `m<n>` reacts to what `m<n-1>` (the first: the monolith's order.approved.v1) publishes. */
function generatedInboxes(): ModuleInbox[] {
  const inboxes: ModuleInbox[] = [];
  for (let n = 1; n <= GENERATED_MODULES; n++) {
    const module = `m${n}`;
    const consumed = n === 1 ? 'order.approved.v1' : `m${n - 1}.done.v1`;
    inboxes.push({
      module,
      schema: `mod_${n}`,
      publishes: [`${module}.done.v1`],
      routes: Array.from({ length: USE_CASES_EACH }, (_, i) => ({
        useCase: `${module}.step-${i + 1}`,
        messageType: consumed,
        styles: ['choreography', 'orchestration'] as const,
        key: 'orderId',
      })),
    });
  }
  return inboxes;
}

const INBOXES = [...ALL_INBOXES, ...generatedInboxes()];
const AUTH = {
  authIssuer: 'https://id.example.com/',
  authAudience: 'saga-api',
  authJwksUrl: 'https://id.example.com/.well-known/jwks.json',
};
const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

function synth(env: 'dev' | 'prod', sagaStyle: SagaStyle, inboxes: readonly ModuleInbox[]): Template {
  const outdir = mkdtempSync(join(tmpdir(), 'saga-cdk-many-'));
  outdirs.push(outdir);
  const { app, stack } = buildApp({ outdir, context: { ...committedContext(), env, eventBus: 'ecs', sagaStyle, ...AUTH } }, inboxes);
  // Throws if cdk-nag finds anything not acknowledged.
  return Template.fromJSON(app.synth().getStackByName(stack.stackName).template as Record<string, unknown>);
}

type Json = Record<string, unknown>;

function containers(template: Template): Array<{ family: string; environment: Map<string, string>; secrets: Map<string, unknown> }> {
  return Object.values(template.findResources('AWS::ECS::TaskDefinition')).map((r) => {
    const props = (r as Json)['Properties'] as Json;
    const container = (props['ContainerDefinitions'] as Json[])[0]!;
    return {
      family: props['Family'] as string,
      environment: new Map(((container['Environment'] as Json[]) ?? []).map((e) => [e['Name'] as string, e['Value'] as string])),
      secrets: new Map(((container['Secrets'] as Json[]) ?? []).map((e) => [e['Name'] as string, e['ValueFrom']])),
    };
  });
}

describe('twelve modules, thirty-odd use cases', () => {
  it('are thirty use cases and more in each style', () => {
    for (const style of ['choreography', 'orchestration'] as const)
      expect(activeUseCases(style, INBOXES).length).toBeGreaterThanOrEqual(GENERATED_MODULES * USE_CASES_EACH);
  });

  it.each([
    ['dev', 'choreography'],
    ['dev', 'orchestration'],
    ['prod', 'choreography'],
    ['prod', 'orchestration'],
  ] as const)('synthesize the default %s app (%s), the tasks through RDS Proxy', { timeout: 120_000 }, (env, style) => {
    const template = synth(env, style, INBOXES);
    template.resourceCountIs('AWS::RDS::DBProxy', 1);
    template.hasResourceProperties('AWS::RDS::DBProxy', { RequireTLS: true, EngineFamily: 'POSTGRESQL' });
    const defs = containers(template);
    const useCaseTasks = defs.filter((d) => d.environment.has('TASK_USE_CASE'));
    expect(useCaseTasks.length).toBe(new Set(INBOXES.flatMap((i) => i.routes.map((r) => r.useCase))).size);
    const api = defs.find((d) => d.family.endsWith('saga-api'))!;
    const direct = JSON.stringify(api.secrets.get('DATABASE_URL'));
    for (const task of useCaseTasks) {
      // Through the proxy, with nothing kept in a session; the API and the sweeper connect directly.
      expect(JSON.stringify(task.secrets.get('DATABASE_URL')), task.family).not.toBe(direct);
      expect(task.environment.get('TASK_WAKE_NOTIFY'), task.family).toBe('false');
      expect(task.environment.get('DB_PREPARED_STATEMENTS'), task.family).toBe('false');
    }
    const maxTasks = Number(api.environment.get('ECS_MAX_TASKS'));
    expect(maxTasks).toBeGreaterThanOrEqual(activeUseCases(style, INBOXES).length);
  });

  it('keep the monolith of two modules on direct connections, without a proxy', () => {
    const template = synth('prod', 'choreography', ALL_INBOXES);
    template.resourceCountIs('AWS::RDS::DBProxy', 0);
    for (const def of containers(template)) expect(def.environment.get('TASK_WAKE_NOTIFY')).toBeUndefined();
  });
});
