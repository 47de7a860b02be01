/**
 * The operator console's HTML building blocks. Every value that comes from the database or the
 * request goes through `escapeHtml` (text and attribute values alike); `html` marks a string as
 * already safe, so a page is built only from escaped values and trusted markup.
 */
export interface SafeHtml {
  readonly __html: string;
}

const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text safe in element content and in quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/** A tagged template: interpolated values are escaped unless they are SafeHtml (or arrays of it). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return { __html: out };
}

function render(value: unknown): string {
  if (Array.isArray(value)) return value.map(render).join('');
  if (isSafe(value)) return value.__html;
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(value);
}

function isSafe(value: unknown): value is SafeHtml {
  return typeof value === 'object' && value !== null && typeof (value as { __html?: unknown }).__html === 'string';
}

/** The trace id of a W3C traceparent (`00-<trace id>-<span id>-<flags>`), null when it is not one. */
export function traceIdOf(traceparent: unknown): string | null {
  if (typeof traceparent !== 'string') return null;
  const match = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent.trim());
  return match?.[1] ?? null;
}

/** The trace id, linked to TRACE_UI_URL (its `{traceId}` replaced) when set. */
export function traceLink(traceId: string | null, template: string | undefined): SafeHtml {
  if (!traceId) return html`<span class="muted">none</span>`;
  if (!template) return html`<code>${traceId}</code>`;
  const href = template.replaceAll('{traceId}', encodeURIComponent(traceId));
  return html`<a href="${href}" rel="noreferrer noopener" target="_blank"><code>${traceId}</code></a>`;
}

/** A timestamp in UTC to the millisecond, in a <time> element machines can read too. */
export function timeOf(at: Date | null): SafeHtml {
  if (!at) return html`<span class="muted">—</span>`;
  const iso = at.toISOString();
  return html`<time datetime="${iso}">${iso.replace('T', ' ').replace('Z', ' UTC')}</time>`;
}

const STYLE = `
:root { color-scheme: light; font-family: system-ui, sans-serif; line-height: 1.5; color: #1b1f24; background: #fff; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem 1.5rem 3rem; }
header nav ul { list-style: none; display: flex; gap: 1.5rem; padding: 0; margin: 0 0 1rem; flex-wrap: wrap; align-items: center; }
a { color: #0a4fa3; }
a:focus-visible, button:focus-visible, input:focus-visible { outline: 3px solid #c25400; outline-offset: 2px; }
code { font-family: ui-monospace, monospace; font-size: 0.9em; word-break: break-all; }
.muted { color: #4d5763; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { text-align: left; vertical-align: top; padding: 0.4rem 0.6rem; border-bottom: 1px solid #c9d1da; }
th { background: #eef2f6; }
ol.timeline { list-style: none; padding: 0; margin: 1rem 0; border-left: 3px solid #8a96a3; }
ol.timeline > li { position: relative; margin: 0 0 1rem; padding: 0.5rem 0.75rem 0.5rem 1.25rem; }
ol.timeline > li::before { content: ''; position: absolute; left: -0.6rem; top: 0.9rem; width: 0.9rem; height: 0.9rem; border-radius: 50%; background: #fff; border: 3px solid #0a4fa3; }
ol.timeline > li.outcome-failed::before, ol.timeline > li.outcome-dead::before { border-color: #b3261e; }
ol.timeline > li.outcome-pending::before { border-color: #8a5a00; }
ol.timeline h3 { margin: 0; font-size: 1.05rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.15rem 1rem; margin: 0.4rem 0 0; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
.badge { display: inline-block; padding: 0 0.45rem; border-radius: 0.3rem; font-size: 0.85rem; font-weight: 600; border: 1px solid currentColor; }
.badge-done, .badge-received { color: #1a6330; }
.badge-failed, .badge-dead, .badge-compensated { color: #b3261e; }
.badge-pending { color: #8a5a00; }
button { font: inherit; padding: 0.3rem 0.8rem; border: 2px solid #0a4fa3; background: #0a4fa3; color: #fff; border-radius: 0.3rem; cursor: pointer; }
button:disabled { background: #5d6b79; border-color: #5d6b79; }
[role='status'] { font-weight: 600; }
`;

/** The operator signed in to the console (a session), and the CSRF token of this page's forms and requests. */
export interface SignedInOperator {
  readonly subject: string;
  readonly csrfToken: string;
}

export interface Page {
  readonly title: string;
  readonly body: SafeHtml;
  /** Links bull-board's page in the navigation (EVENT_BUS=bullmq). */
  readonly queues: boolean;
  /** Same-origin scripts the page loads (no inline script: the Content-Security-Policy forbids it). */
  readonly scripts?: readonly string[];
  /** Shown in the navigation with a sign-out button; its CSRF token goes into the page for its script. */
  readonly operator?: SignedInOperator;
  /** Where the browser goes next at once (a meta refresh: after sign-in, a navigation of this site's own). */
  readonly refreshTo?: string;
  /** Leave out the navigation (pages seen signed out). */
  readonly bare?: boolean;
}

function operatorItems(operator: SignedInOperator | undefined): SafeHtml | '' {
  if (!operator) return '';
  return html`<li>Signed in as <strong>${operator.subject}</strong></li>
    <li>
      <form method="post" action="/admin/sign-out">
        <input type="hidden" name="_csrf" value="${operator.csrfToken}" />
        <button type="submit">Sign out</button>
      </form>
    </li>`;
}

function navigation(page: Page): SafeHtml | '' {
  if (page.bare) return '';
  return html`<header>
    <nav aria-label="Operator console">
      <ul>
        <li><a href="/admin/dead-letters">Dead letters</a></li>
        ${page.queues ? html`<li><a href="/admin/queues">Queues</a></li>` : ''}
        <li><a href="/docs">API documentation</a></li>
        <li>
          <form method="get" action="/admin/sagas" role="search">
            <label for="open-saga">Saga id</label>
            <input id="open-saga" name="sagaId" size="38" required pattern="[0-9a-fA-F-]{36}" autocomplete="off" />
            <button type="submit">Open saga</button>
          </form>
        </li>
        ${operatorItems(page.operator)}
      </ul>
    </nav>
  </header>`;
}

/** A whole document: navigation (with the open-a-saga form), then the page's main content. */
export function layout(page: Page): string {
  return `<!doctype html>${
    html`<html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="robots" content="noindex" />
        ${page.operator ? html`<meta name="csrf-token" content="${page.operator.csrfToken}" />` : ''}
        ${page.refreshTo ? html`<meta http-equiv="refresh" content="0;url=${page.refreshTo}" />` : ''}
        <title>${page.title} · Operator console</title>
        <style>
          ${{ __html: STYLE }}
        </style>
        ${(page.scripts ?? []).map((src) => html`<script src="${src}" defer></script>`)}
      </head>
      <body>
        ${navigation(page)}
        <main>${page.body}</main>
      </body>
    </html> `.__html
  }`;
}
