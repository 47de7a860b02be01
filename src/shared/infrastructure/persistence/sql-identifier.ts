const IDENT = /^[a-z_][a-z0-9_]*$/;

/** Schema and table names come from module definitions, never from input; still, refuse anything unusual. */
export function quoteIdent(name: string): string {
  if (!IDENT.test(name)) throw new Error(`invalid SQL identifier ${JSON.stringify(name)}`);
  return `"${name}"`;
}
