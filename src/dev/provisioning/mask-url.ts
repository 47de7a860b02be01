/**
 * Returns the URL with its password replaced by `***`, for logs and error messages.
 * A string that is not a URL is not echoed at all (it might be a secret pasted in the wrong place).
 */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<not a URL>';
  }
}
