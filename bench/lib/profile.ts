import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly topFunctions: ReadonlyArray<{ name: string; selfMs: number; share: number }>;
  readonly byOrigin: ReadonlyArray<{ origin: string; selfMs: number; share: number }>;
}

/** Where code comes from: a package under node_modules, this project's file, node's internals, or the VM. */
function originOf(url: string): string {
  if (!url) return '(native / vm)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return 'node:internals';
  const own = /\/dist\/(.*)$/.exec(url);
  return own ? `project: ${own[1]}` : url;
}

/** Self time by function and by origin from a `--cpu-prof` profile. */
export async function summarizeProfile(file: string, top = 25): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  const hits = profile.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0) || 1;
  const perHitMs = totalMs / hits;
  const byFunction = new Map<string, number>();
  const byOrigin = new Map<string, number>();
  for (const node of profile.nodes) {
    const ms = (node.hitCount ?? 0) * perHitMs;
    if (ms === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = `${functionName || '(anonymous)'} ${originOf(url)}:${lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms);
    const origin = functionName === '(idle)' ? '(idle)' : functionName === '(garbage collector)' ? '(gc)' : originOf(url);
    byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + ms);
  }
  const ranked = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .map(([name, ms]) => ({ name, selfMs: Math.round(ms), share: Math.round((ms / totalMs) * 1000) / 10 }));
  return {
    totalMs: Math.round(totalMs),
    topFunctions: ranked(byFunction).slice(0, top),
    byOrigin: ranked(byOrigin)
      .slice(0, top)
      .map(({ name, selfMs, share }) => ({ origin: name, selfMs, share })),
  };
}
