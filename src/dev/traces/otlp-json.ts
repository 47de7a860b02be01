/**
 * The OTLP/HTTP JSON encoding of an ExportTraceServiceRequest (what this platform's exporters send:
 * OTEL_EXPORTER_OTLP_PROTOCOL is http/json), decoded into flat spans: ids in hex, times in
 * nanoseconds since the epoch as bigint (they exceed 2^53), attribute values as JSON values.
 */
export interface Span {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root. */
  readonly parentSpanId: string;
  readonly name: string;
  /** SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer (0 unspecified). */
  readonly kind: number;
  readonly startNs: bigint;
  readonly endNs: bigint;
  /** 0 unset, 1 ok, 2 error. */
  readonly status: number;
  readonly statusMessage: string;
  readonly attributes: Readonly<Record<string, unknown>>;
  /** The resource's `service.name`. */
  readonly service: string;
  readonly links: ReadonlyArray<{ readonly traceId: string; readonly spanId: string }>;
}

interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: AnyValue[] };
}

interface KeyValue {
  key: string;
  value?: AnyValue;
}

interface RawSpan {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  kind?: number;
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
  attributes?: KeyValue[];
  links?: Array<{ traceId?: string; spanId?: string }>;
  status?: { code?: number; message?: string };
}

export interface ExportTraceServiceRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: Array<{ spans?: RawSpan[] }>;
  }>;
}

function valueOf(v: AnyValue | undefined): unknown {
  if (v === undefined) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(valueOf);
  return v.boolValue;
}

function attributesOf(list: KeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, valueOf(kv.value)]));
}

function nanos(value: string | number | undefined): bigint {
  if (value === undefined) return 0n;
  try {
    return BigInt(value);
  } catch {
    return 0n;
  }
}

/** The spans of one export request; a span without a trace or span id is left out. */
export function decodeExportRequest(body: ExportTraceServiceRequest): Span[] {
  return (body.resourceSpans ?? []).flatMap((rs) => {
    const resource = attributesOf(rs.resource?.attributes);
    const service = typeof resource['service.name'] === 'string' ? resource['service.name'] : 'unknown_service';
    return (rs.scopeSpans ?? []).flatMap((ss) =>
      (ss.spans ?? []).flatMap((s): Span[] =>
        s.traceId && s.spanId
          ? [
              {
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId ?? '',
                name: s.name ?? '',
                kind: s.kind ?? 0,
                startNs: nanos(s.startTimeUnixNano),
                endNs: nanos(s.endTimeUnixNano),
                status: s.status?.code ?? 0,
                statusMessage: s.status?.message ?? '',
                attributes: attributesOf(s.attributes),
                service,
                links: (s.links ?? []).flatMap((l) => (l.traceId && l.spanId ? [{ traceId: l.traceId, spanId: l.spanId }] : [])),
              },
            ]
          : [],
      ),
    );
  });
}
