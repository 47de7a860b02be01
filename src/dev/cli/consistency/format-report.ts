import type { ConsistencyReport } from './consistency-checks.js';

function value(v: unknown): string {
  if (v instanceof Date) return v.toISOString();
  if (v === null || v === undefined) return '-';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

/** The report as an operator reads it in a terminal: one line per invariant, offending rows under a failed one. */
export function formatReport(report: ConsistencyReport, target: string): string {
  const { options, summary } = report;
  const lines: string[] = [];
  const thresholds =
    options.mode === 'live'
      ? `grace after deadlines ${seconds(options.deadlineGraceMs)}, in flight too long after ${seconds(options.pendingAfterMs)}`
      : 'the system should be idle';
  lines.push(`Consistency of ${target} at ${report.checkedAt} (${options.mode}: ${thresholds})`);
  const modules = Object.entries(summary.modules).map(
    ([module, counts]) =>
      `${module}: ${
        Object.entries(counts)
          .map(([label, n]) => `${label} ${n}`)
          .join(', ') || 'none'
      }`,
  );
  lines.push(
    [
      ...modules,
      `pending deliveries: ${summary.pendingDeliveries}`,
      `unrelayed outbox: ${summary.unrelayedOutbox}`,
      `dead letters: ${summary.deadLetters}`,
    ].join('; '),
  );
  lines.push('');
  const width = Math.max(...report.checks.map((c) => c.name.length));
  for (const check of report.checks) {
    lines.push(
      `${check.ok ? 'ok  ' : 'FAIL'}  ${check.name.padEnd(width)}  ${check.ok ? '' : `${check.count}  `}${check.description} (${check.owner})`,
    );
    for (const row of check.sample) {
      lines.push(
        `        ${Object.entries(row)
          .map(([k, v]) => `${k}=${value(v)}`)
          .join(' ')}`,
      );
    }
    if (check.count > check.sample.length) lines.push(`        ... and ${check.count - check.sample.length} more (--limit to see more)`);
  }
  const failed = report.checks.filter((c) => !c.ok).length;
  lines.push('');
  lines.push(failed === 0 ? 'RESULT: every invariant holds' : `RESULT: ${failed} invariant${failed === 1 ? '' : 's'} failed`);
  return lines.join('\n');
}
