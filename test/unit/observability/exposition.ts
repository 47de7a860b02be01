/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4): every line is a HELP,
 * a TYPE or a sample of a family whose TYPE came first; label values are quoted and escaped; values
 * are floats (or +Inf, -Inf, NaN). Throws on the first line that is none of these.
 */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly types: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const HELP = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?$`);
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
// As Prometheus reads them (Go's ParseFloat): Inf and NaN in any case; prom-client writes NaN as `Nan`.
const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?inf|nan)$/i;

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const m = LABEL.exec(text);
    if (!m) throw new Error(`malformed labels in ${JSON.stringify(line)}`);
    const [, key = '', raw = ''] = m;
    if (key in labels) throw new Error(`label ${key} repeated in ${JSON.stringify(line)}`);
    labels[key] = raw.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

/** The family a sample belongs to: a histogram's _bucket, _sum and _count belong to it. */
function familyOf(name: string, types: ReadonlyMap<string, string>): string | undefined {
  if (types.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return types.has(base) && ['histogram', 'summary'].includes(types.get(base)!) ? base : undefined;
}

function toNumber(value: string): number {
  if (/^nan$/i.test(value)) return NaN;
  return /inf$/i.test(value) ? (value.startsWith('-') ? -Infinity : Infinity) : Number(value);
}

export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    const type = TYPE.exec(line);
    if (type) {
      if (types.has(type[1]!)) throw new Error(`TYPE of ${type[1]} given twice`);
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (HELP.test(line)) continue;
    const sample = SAMPLE.exec(line);
    if (!sample) throw new Error(`not a HELP, TYPE or sample line: ${JSON.stringify(line)}`);
    const [, name = '', labelText, value = ''] = sample;
    if (!familyOf(name, types)) throw new Error(`sample ${name} before (or without) its TYPE`);
    if (!VALUE.test(value)) throw new Error(`not a float: ${JSON.stringify(value)} in ${JSON.stringify(line)}`);
    samples.push({ name, labels: labelText ? parseLabels(labelText, line) : {}, value: toNumber(value) });
  }
  return { types, samples };
}

/** The samples of `name` whose labels include `labels`. */
export function samplesOf(exposition: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return exposition.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The one sample of `name` with `labels`, or undefined. */
export function valueOf(exposition: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samplesOf(exposition, name, labels);
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

/**
 * Every histogram series is consistent: cumulative buckets never decrease, `le` ascends, and the
 * +Inf bucket equals _count.
 */
export function checkHistograms(exposition: Exposition): void {
  for (const [family, type] of exposition.types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, Sample[]>();
    for (const s of samplesOf(exposition, `${family}_bucket`)) {
      const { le, ...rest } = s.labels;
      if (le === undefined) throw new Error(`${family}_bucket without le`);
      const key = JSON.stringify(Object.entries(rest).sort());
      series.set(key, [...(series.get(key) ?? []), s]);
    }
    for (const [key, buckets] of series) {
      const les = buckets.map((b) => toNumber(b.labels['le']!));
      if (les.some((le, i) => i > 0 && le <= les[i - 1]!)) throw new Error(`${family} ${key}: le not ascending`);
      if (buckets.some((b, i) => i > 0 && b.value < buckets[i - 1]!.value)) throw new Error(`${family} ${key}: buckets decrease`);
      if (les.at(-1) !== Infinity) throw new Error(`${family} ${key}: no +Inf bucket`);
      const labels = Object.fromEntries(JSON.parse(key) as Array<[string, string]>);
      if (valueOf(exposition, `${family}_count`, labels) !== buckets.at(-1)!.value) {
        throw new Error(`${family} ${key}: +Inf bucket differs from _count`);
      }
    }
  }
}
