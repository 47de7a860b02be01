import { html, layout } from '../../html.js';

/**
 * The pages of signing in and out. None shows the navigation: whoever sees them is not (or no
 * longer) signed in, and every value in them is escaped like the console's.
 */

/** After the callback: the session cookie is set (SameSite=Strict), and the browser moves on by a navigation of this site's own. */
export function continuePage(returnTo: string, subject: string): string {
  const body = html`<h1>Signed in</h1>
    <p>Signed in as <strong>${subject}</strong>. <a href="${returnTo}">Continue to the console</a>.</p>`;
  return layout({ title: 'Signed in', body, queues: false, refreshTo: returnTo, bare: true });
}

/** A sign-in that cannot go on: why, and a way to start again. */
export function signInProblemPage(title: string, reason: string, returnTo: string): string {
  const retry = `/admin/sign-in?returnTo=${encodeURIComponent(returnTo)}`;
  const body = html`<h1>${title}</h1>
    <p>${reason}</p>
    <p><a href="${retry}">Sign in again</a></p>`;
  return layout({ title, body, queues: false, bare: true });
}

export function signedOutPage(): string {
  const body = html`<h1>Signed out</h1>
    <p>You are signed out of the operator console.</p>
    <p><a href="/admin/sign-in">Sign in</a></p>`;
  return layout({ title: 'Signed out', body, queues: false, bare: true });
}
