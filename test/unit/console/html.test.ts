import { describe, expect, it } from 'vitest';
import { escapeHtml, html, traceIdOf, traceLink } from '../../../src/shared/infrastructure/http/html.js';

const HOSTILE = `<script>alert("x")</script><img src=x onerror='y'> & done`;

describe('escapeHtml', () => {
  it('escapes every character that could open markup or leave an attribute', () => {
    expect(escapeHtml(HOSTILE)).toBe('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=&#39;y&#39;&gt; &amp; done');
  });

  it('renders null and undefined as nothing', () => {
    expect(escapeHtml(null)).toBe('');
    expect(escapeHtml(undefined)).toBe('');
  });
});

describe('html', () => {
  it('escapes interpolated values in text and attributes, and keeps nested html as is', () => {
    const inner = html`<b>${HOSTILE}</b>`;
    const out = html`<p title="${HOSTILE}">${inner}${[HOSTILE, html`<i>ok</i>`]}${null}${false}</p>`.__html;
    expect(out).not.toContain('<script>');
    expect(out).not.toContain("onerror='");
    expect(out).toContain('<b>&lt;script&gt;');
    expect(out).toContain('<i>ok</i>');
    expect(out).toMatch(/^<p title="&lt;script&gt;alert\(&quot;x&quot;\)/);
  });
});

describe('traceIdOf', () => {
  it('reads the trace id of a W3C traceparent', () => {
    expect(traceIdOf('00-7c8185c7e4cf663db9aa2246f62baa50-dd3d6b8972526817-01')).toBe('7c8185c7e4cf663db9aa2246f62baa50');
  });

  it('refuses anything else', () => {
    expect(traceIdOf('00-<script>-dd3d6b8972526817-01')).toBeNull();
    expect(traceIdOf(undefined)).toBeNull();
    expect(traceIdOf(42)).toBeNull();
  });
});

describe('traceLink', () => {
  const id = '7c8185c7e4cf663db9aa2246f62baa50';

  it('links the trace id into TRACE_UI_URL when set', () => {
    expect(traceLink(id, 'http://localhost:16686/trace/{traceId}').__html).toContain(`href="http://localhost:16686/trace/${id}"`);
  });

  it('shows the trace id unlinked without TRACE_UI_URL, and says when there is none', () => {
    expect(traceLink(id, undefined).__html).toBe(`<code>${id}</code>`);
    expect(traceLink(null, undefined).__html).toContain('none');
  });
});
