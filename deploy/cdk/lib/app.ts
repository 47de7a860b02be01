import { readFileSync } from 'node:fs';
import { App, Tags, Validations, type AppProps } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SagaStack } from './saga-stack.js';
import { settingsOf } from './settings.js';
import type { ModuleInbox } from '../../../src/shared/contract/routing.js';

const CDK_JSON = new URL('../cdk.json', import.meta.url);
const CDK_CONTEXT_JSON = new URL('../cdk.context.json', import.meta.url);

/**
 * The context `cdk synth` gives the app from cdk.json (defaults, feature flags) and
 * cdk.context.json (cached lookups): tests synthesize with it, so they check what the CLI deploys.
 */
export function committedContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(CDK_JSON, 'utf8')) as { context?: Record<string, unknown> };
  const cached = JSON.parse(readFileSync(CDK_CONTEXT_JSON, 'utf8')) as Record<string, unknown>;
  return { ...cdkJson.context, ...cached };
}

/**
 * The CDK app: one stack per `cdk deploy`, named after its environment, checked by cdk-nag's
 * AWS Solutions pack during synthesis (a finding that is not acknowledged with a reason fails it).
 * `inboxes`: the modules deployed (default: the monolith's).
 */
export function buildApp(props: AppProps = {}, inboxes?: readonly ModuleInbox[]): { app: App; stack: SagaStack } {
  const app = new App(props);
  const settings = settingsOf(app.node);
  const stack = new SagaStack(
    app,
    `saga-${settings.envName}`,
    settings,
    {
      env: { region: settings.region, ...(settings.account ? { account: settings.account } : {}) },
      description: `saga modular monolith (${settings.envName}, EVENT_BUS=${settings.eventBus}, ${settings.sagaStyle})`,
    },
    inboxes,
  );
  Tags.of(stack).add('app', 'saga');
  Tags.of(stack).add('env', settings.envName);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
