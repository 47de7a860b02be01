// `npx cdk synth` / `npx cdk deploy` from deploy/cdk (cdk.json runs this with the repository's tsx).
import { buildApp } from '../lib/app.js';
import { ContextError } from '../lib/settings.js';

try {
  buildApp().app.synth();
} catch (error) {
  // A context value missing or refused: one line naming it and exit 78 (EX_CONFIG), as the entrypoints do.
  if (!(error instanceof ContextError)) throw error;
  process.stderr.write(`${error.message} (set it in cdk.json or cdk.context.json, or pass -c key=value)\n`);
  process.exit(78);
}
