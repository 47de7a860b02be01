import type { DeadLetter } from '../../messaging/dead-letters.js';
import { html, layout, timeOf, traceIdOf, traceLink, type SafeHtml, type SignedInOperator } from '../html.js';
import type { SagaFact } from '../../operations/saga-view.port.js';
import type { SagaRecord, TimelineEntry } from './timeline.js';

export interface PageContext {
  /** TRACE_UI_URL: a trace id links there (`{traceId}` replaced). */
  readonly traceUiUrl: string | undefined;
  /** EVENT_BUS=bullmq: the navigation links bull-board. */
  readonly queues: boolean;
  /** The operator signed in to the console, for this request's page. */
  readonly operator?: SignedInOperator;
}

/** The same-origin script of the re-drive buttons. */
export const CONSOLE_SCRIPT_PATH = '/admin/console/console.js';

const withOperator = (context: PageContext) => (context.operator ? { operator: context.operator } : {});

const badge = (value: string) => html`<span class="badge badge-${value.toLowerCase().replace(/[^a-z0-9-]/g, '')}">${value}</span>`;

function entryItem(entry: TimelineEntry, context: PageContext): SafeHtml {
  return html`<li class="outcome-${entry.outcome.toLowerCase().replace(/[^a-z0-9-]/g, '')}" data-kind="${entry.kind}">
    <h3>${entry.kind === 'step' ? html`Step <code>${entry.title}</code>` : entry.title} ${badge(entry.outcome)}</h3>
    <dl class="facts">
      <dt>Time</dt>
      <dd>${timeOf(entry.at)}</dd>
      <dt>Use case</dt>
      <dd>${entry.useCase ? html`<code>${entry.useCase}</code>` : html`<span class="muted">unknown</span>`}</dd>
      ${
        entry.handled
          ? html`<dt>Handled</dt>
              <dd><code>${entry.handled}</code></dd>`
          : ''
      }
      <dt>Ran in</dt>
      <dd>${entry.process}</dd>
      <dt>Attempts</dt>
      <dd>${entry.attempts ?? html`<span class="muted">—</span>`}</dd>
      <dt>Trace</dt>
      <dd>${traceLink(entry.traceId, context.traceUiUrl)}</dd>
      ${
        entry.detail
          ? html`<dt>Detail</dt>
              <dd>${entry.detail}</dd>`
          : ''
      }
      ${
        entry.error
          ? html`<dt>Error</dt>
              <dd>${entry.error}</dd>`
          : ''
      }
    </dl>
  </li>`;
}

function messagesTable(record: SagaRecord, context: PageContext): SafeHtml {
  if (record.messages.length === 0) return html`<p>No messages published.</p>`;
  return html`<table>
    <caption class="muted">
      Events of this saga in the outboxes (what each step published)
    </caption>
    <thead>
      <tr>
        <th scope="col">Occurred</th>
        <th scope="col">Type</th>
        <th scope="col">Published by</th>
        <th scope="col">Relayed</th>
        <th scope="col">Trace</th>
      </tr>
    </thead>
    <tbody>
      ${record.messages.map(
        (m) =>
          html`<tr>
            <td>${timeOf(m.occurredAt)}</td>
            <td><code>${m.type}</code></td>
            <td><code>${m.producedBy}</code></td>
            <td>${m.relayedAt ? timeOf(m.relayedAt) : badge('pending')}</td>
            <td>${traceLink(traceIdOf(m.traceparent), context.traceUiUrl)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function factValue(fact: SagaFact): SafeHtml | string {
  if (fact.value instanceof Date || fact.value === null) return timeOf(fact.value);
  return fact.code ? html`<code>${fact.value}</code>` : fact.value;
}

/** The saga of one id: what its module says of it, the timeline of steps and deliveries, messages. */
export function sagaPage(record: SagaRecord, entries: readonly TimelineEntry[], context: PageContext): string {
  const { summary } = record;
  const body = html`<h1>Saga of ${summary.subject} <code>${record.id}</code></h1>
    <dl class="facts">
      <dt>Status</dt>
      <dd>${badge(summary.status)}${summary.statusDetail ? html` <span>${summary.statusDetail}</span>` : ''}</dd>
      ${summary.facts.map(
        (fact) =>
          html`<dt>${fact.label}</dt>
            <dd>${factValue(fact)}</dd>`,
      )}
    </dl>
    <section aria-labelledby="timeline-heading">
      <h2 id="timeline-heading">Timeline</h2>
      <p class="muted">
        Each saga step with the use case that recorded it, and every delivery of the saga's messages. Which process ran a delivery is not
        recorded per delivery: the transport says where it can have run.
      </p>
      <ol class="timeline" aria-label="Saga timeline">
        ${entries.map((e) => entryItem(e, context))}
      </ol>
    </section>
    <section aria-labelledby="messages-heading">
      <h2 id="messages-heading">Messages</h2>
      ${messagesTable(record, context)}
    </section>`;
  return layout({ title: `Saga ${record.id}`, body, queues: context.queues, ...withOperator(context) });
}

/** No saga with this id (or this process hosts no module that runs sagas). */
export function notFoundPage(sagaId: string, reason: string, context: PageContext): string {
  const body = html`<h1>No saga <code>${sagaId}</code></h1>
    <p>${reason}</p>`;
  return layout({ title: 'Saga not found', body, queues: context.queues, ...withOperator(context) });
}

function redriveForm(useCase: string, count: number): SafeHtml {
  return html`<form class="redrive" data-use-case="${useCase}">
    <button type="submit">Re-drive ${count} dead letter${count === 1 ? '' : 's'} of <code>${useCase}</code></button>
  </form>`;
}

function deadLetterRows(items: readonly DeadLetter[], context: PageContext): SafeHtml[] {
  return items.map(
    (d) =>
      html`<tr>
        <td>${timeOf(new Date(d.deadSince))}</td>
        <td><code>${d.useCase}</code></td>
        <td><code>${d.type}</code></td>
        <td>
          <a href="/admin/sagas/${encodeURIComponent(d.correlationId)}"><code>${d.correlationId}</code></a>
        </td>
        <td>${d.attempts}</td>
        <td>${d.errorCode ? html`<code>${d.errorCode}</code> ` : ''}${d.error ?? ''}</td>
        <td>${traceLink(traceIdOf((d.envelope as { traceparent?: unknown } | null)?.traceparent), context.traceUiUrl)}</td>
      </tr>`,
  );
}

/** Dead letters grouped by use case, each group with its re-drive button (POST /admin/dead-letters/redrive). */
export function deadLettersPage(items: readonly DeadLetter[], limit: number, context: PageContext): string {
  const counts = new Map<string, number>();
  for (const d of items) counts.set(d.useCase, (counts.get(d.useCase) ?? 0) + 1);
  const body = html`<h1>Dead letters</h1>
    <p>
      Deliveries that ran out of attempts, most recently dead first${items.length === limit ? html` (the latest ${limit})` : ''}. Re-driving
      puts a use case's dead letters back to pending with a fresh attempt budget.
    </p>
    <noscript><p>The re-drive buttons need JavaScript; without it, POST {"useCase": "…"} to /admin/dead-letters/redrive.</p></noscript>
    <p role="status" aria-live="polite" id="redrive-status"></p>
    ${
      items.length === 0
        ? html`<p>No dead letters.</p>`
        : html`<section aria-labelledby="redrive-heading">
              <h2 id="redrive-heading">Re-drive by use case</h2>
              <ul>
                ${[...counts].map(([useCase, count]) => html`<li>${redriveForm(useCase, count)}</li>`)}
              </ul>
            </section>
            <section aria-labelledby="list-heading">
              <h2 id="list-heading">List</h2>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Dead since</th>
                    <th scope="col">Use case</th>
                    <th scope="col">Message</th>
                    <th scope="col">Saga</th>
                    <th scope="col">Attempts</th>
                    <th scope="col">Error</th>
                    <th scope="col">Trace</th>
                  </tr>
                </thead>
                <tbody>
                  ${deadLetterRows(items, context)}
                </tbody>
              </table>
            </section>`
    }`;
  return layout({ title: 'Dead letters', body, queues: context.queues, scripts: [CONSOLE_SCRIPT_PATH], ...withOperator(context) });
}

/**
 * The re-drive buttons: each form posts its use case to the existing JSON route, then reports
 * the result in the status region and reloads the list. Served as a file (script-src 'self').
 */
export const CONSOLE_SCRIPT = `'use strict';
document.addEventListener('submit', async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains('redrive')) return;
  event.preventDefault();
  const status = document.getElementById('redrive-status');
  const button = form.querySelector('button');
  const useCase = form.dataset.useCase;
  if (button) button.disabled = true;
  status.textContent = 'Re-driving ' + useCase + '…';
  try {
    const headers = { 'content-type': 'application/json', accept: 'application/json' };
    // Signed in with a session: its POSTs carry the page's CSRF token.
    const csrf = document.querySelector('meta[name="csrf-token"]');
    if (csrf) headers['x-csrf-token'] = csrf.content;
    const response = await fetch('/admin/dead-letters/redrive', {
      method: 'POST',
      headers: headers,
      credentials: 'same-origin',
      body: JSON.stringify({ useCase: useCase }),
    });
    const body = await response.json().catch(() => ({}));
    if (response.status === 401) throw new Error('your session has ended; reload the page to sign in again');
    if (!response.ok) throw new Error(body.detail || response.status + ' ' + response.statusText);
    status.textContent = 'Re-drove ' + body.redriven + ' dead letter(s) of ' + useCase + '. Reloading…';
    setTimeout(() => location.reload(), 1000);
  } catch (error) {
    status.textContent = 'Re-drive of ' + useCase + ' failed: ' + error.message;
    if (button) button.disabled = false;
  }
});
`;
