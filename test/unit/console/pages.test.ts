import { describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../../src/shared/infrastructure/messaging/dead-letters.js';
import { CONSOLE_SCRIPT_PATH, deadLettersPage } from '../../../src/shared/infrastructure/http/console/pages.js';

const context = { traceUiUrl: 'https://traces.example/t/{traceId}', queues: false };

function deadLetter(overrides: Partial<DeadLetter> = {}): DeadLetter {
  return {
    schema: 'customers',
    useCase: 'customer.reserve-credit',
    messageId: '01a23fc6-1ebf-7181-ad88-38b7c116f6c0',
    type: 'order.created.v1',
    correlationId: '01a23fc6-1ebf-7180-b0cd-7c2a6ff06ae1',
    attempts: 8,
    errorCode: 'BOOM',
    error: 'it broke',
    deadSince: '2026-12-04T06:00:00.000Z',
    envelope: { traceparent: '00-7c8185c7e4cf663db9aa2246f62baa50-dd3d6b8972526817-01' },
    ...overrides,
  };
}

describe('deadLettersPage', () => {
  it('has one re-drive button per use case, counting its dead letters, and loads the script from its own route', () => {
    const page = deadLettersPage([deadLetter(), deadLetter(), deadLetter({ useCase: 'order.approve-order' })], 50, context);
    expect(page.match(/<form class="redrive"/g)).toHaveLength(2);
    expect(page).toContain('data-use-case="customer.reserve-credit"');
    expect(page).toMatch(/Re-drive 2 dead letters of <code>customer\.reserve-credit<\/code>/);
    expect(page).toMatch(/Re-drive 1 dead letter of <code>order\.approve-order<\/code>/);
    expect(page).toContain(`<script src="${CONSOLE_SCRIPT_PATH}" defer></script>`);
    expect(page).toContain('href="https://traces.example/t/7c8185c7e4cf663db9aa2246f62baa50"');
    expect(page).not.toContain('href="/admin/queues"');
  });

  it('escapes hostile values in text and in the data attribute the script reads', () => {
    const hostile = '"><script>alert(1)</script>';
    const page = deadLettersPage([deadLetter({ useCase: hostile, error: hostile, errorCode: hostile })], 50, context);
    expect(page).not.toContain('<script>alert');
    expect(page).toContain('data-use-case="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"');
  });

  it('says when there are none', () => {
    expect(deadLettersPage([], 50, context)).toContain('<p>No dead letters.</p>');
  });
});
