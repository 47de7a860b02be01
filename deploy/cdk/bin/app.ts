// `npx cdk synth` / `npx cdk deploy` from deploy/cdk (cdk.json runs this with the repository's tsx).
import { buildApp } from '../lib/app.js';

buildApp().app.synth();
