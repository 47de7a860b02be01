/**
 * The Node versions of development, stated once (README, Quick start): package.json's `engines`
 * (>=22.15, which every installed package supports, test/architecture/node-engines.test.ts) and
 * `.nvmrc` (22, the production image's major). Node 20.19 and later 20.x is a fallback: `npm test`
 * runs on it, but some packages declare Node 22 (npm install warns EBADENGINE for them) and Node 20
 * reached its end of life in April 2026.
 */
export const FALLBACK_NODE = '^20.19.0';

/**
 * The packages whose `engines` leave the fallback out, all of whom work on Node 20.19 (the tests
 * run there): a new one fails node-engines.test.ts until it is checked and added here.
 */
export const NOT_DECLARING_THE_FALLBACK = [/^@opentelemetry\/(?!api$|semantic-conventions$)/, /^content-disposition$/, /^cookie$/] as const;

/** The line a dev tool logs when it runs on the fallback, or undefined on a supported Node. */
export function fallbackWarning(version: string = process.versions.node): string | undefined {
  const major = Number(version.split('.')[0]);
  if (major !== 20) return undefined;
  return (
    `Node ${version} is a fallback: development is supported on Node 22.15 or later (.nvmrc; \`nvm use\`), ` +
    'the production image runs Node 22. Node 20 still runs the system and its tests, but reached its end of life in ' +
    'April 2026; the OpenTelemetry packages declare Node 22 (npm install warns EBADENGINE) and the AWS SDK warns on EVENT_BUS=ecs.'
  );
}
