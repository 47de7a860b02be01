import type { Span } from './otlp-json.js';

const KINDS = ['', '', 'server', 'client', 'producer', 'consumer'];

function duration(ns: bigint): string {
  const ms = Number(ns) / 1e6;
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** What a span's line shows beside its name: the attributes that say what it did. */
function detail(span: Span): string {
  const a = span.attributes;
  const parts: string[] = [];
  const status = a['http.response.status_code'] ?? a['http.status_code'];
  if (status !== undefined) parts.push(String(status));
  for (const key of ['saga.use_case', 'messaging.destination.name', 'db.operation.name', 'db.operation']) {
    if (typeof a[key] === 'string' && !span.name.includes(a[key])) parts.push(a[key]);
  }
  return parts.length > 0 ? ` ${parts.join(' ')}` : '';
}

function line(span: Span, parentService: string | undefined, traceStart: bigint): string {
  const kind = KINDS[span.kind] ? ` (${KINDS[span.kind]})` : '';
  const service = span.service !== parentService ? ` [${span.service}]` : '';
  const error = span.status === 2 ? ` ERROR${span.statusMessage ? `: ${span.statusMessage}` : ''}` : '';
  const links = span.links.length > 0 ? ` ↪ linked from ${span.links.map((l) => l.spanId).join(', ')}` : '';
  return `${span.name}${kind}${detail(span)}${service} +${duration(span.startNs - traceStart)} ${duration(span.endNs - span.startNs)}${error}${links}`;
}

/**
 * One trace as a tree, its spans under their parents in the order they started, with the service
 * where it changes, the offset from the trace's first span and the duration:
 *
 *     trace 0af7651916cd43dd8448eb211c80319c: 7 spans, 2 services, 812.4 ms
 *     └─ POST /orders (server) 202 [saga-dev-server] +0 µs 14.2 ms
 *        └─ ...
 *
 * A span whose parent was not received (another trace's, or lost) is shown as a root.
 */
export function renderTrace(spans: readonly Span[]): string {
  if (spans.length === 0) return '';
  const ordered = [...spans].sort((x, y) => (x.startNs < y.startNs ? -1 : x.startNs > y.startNs ? 1 : 0));
  const ids = new Set(ordered.map((s) => s.spanId));
  const children = new Map<string, Span[]>();
  const roots: Span[] = [];
  for (const span of ordered) {
    if (span.parentSpanId && ids.has(span.parentSpanId) && span.parentSpanId !== span.spanId) {
      children.set(span.parentSpanId, [...(children.get(span.parentSpanId) ?? []), span]);
    } else roots.push(span);
  }
  const start = ordered[0]!.startNs;
  const end = ordered.reduce((max, s) => (s.endNs > max ? s.endNs : max), start);
  const services = new Set(ordered.map((s) => s.service));
  const out = [
    `trace ${ordered[0]!.traceId}: ${ordered.length} span${ordered.length === 1 ? '' : 's'}, ${services.size} service${services.size === 1 ? '' : 's'}, ${duration(end - start)}`,
  ];
  const seen = new Set<string>();
  const walk = (span: Span, prefix: string, last: boolean, parentService: string | undefined): void => {
    if (seen.has(span.spanId)) return;
    seen.add(span.spanId);
    out.push(`${prefix}${last ? '└─ ' : '├─ '}${line(span, parentService, start)}`);
    const below = children.get(span.spanId) ?? [];
    below.forEach((child, i) => walk(child, `${prefix}${last ? '   ' : '│  '}`, i === below.length - 1, span.service));
  };
  roots.forEach((root, i) => walk(root, '', i === roots.length - 1, undefined));
  return out.join('\n');
}
