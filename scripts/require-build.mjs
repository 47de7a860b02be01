// Run before the npm scripts that start compiled JavaScript: on a fresh clone dist/ does not
// exist yet, and Node's "Cannot find module" stack trace does not say what to do.
import { existsSync } from 'node:fs';

const entry = process.argv[2];
if (!entry || !existsSync(entry)) {
  process.stderr.write(`${entry ?? 'dist/'} is missing: run \`npm run build\` first\n`);
  process.exit(1);
}
