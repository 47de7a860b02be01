import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { architectureGraph, DOC, withGraph } from '../../scripts/architecture-graph.js';

describe("docs/architecture.md's picture", () => {
  it('is the dependency graph of src/ as it is now (npx tsx scripts/architecture-graph.ts rewrites it)', async () => {
    const markdown = readFileSync(DOC, 'utf8');
    expect(withGraph(markdown, await architectureGraph())).toBe(markdown);
  });

  it('differs once an arrow is added (the check bites)', async () => {
    const markdown = readFileSync(DOC, 'utf8');
    const graph = await architectureGraph();
    expect(graph).toMatch(/^flowchart LR/);
    expect(graph).toContain('-->');
    expect(withGraph(markdown, `${graph}\nX-->Y`)).not.toBe(markdown);
  });
});
