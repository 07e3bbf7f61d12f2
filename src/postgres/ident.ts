// The one helper that turns a name into SQL. Identifiers are always double-quoted (so case and reserved
// words survive) with embedded quotes doubled, as quote_ident does; values never go through here, they
// travel as bind parameters. Names come from validated spec fields, and this is the second line of
// defence: it refuses what PostgreSQL could not hold as a name at all instead of truncating silently.

/** PostgreSQL's NAMEDATALEN - 1: longer names are truncated by the server, which would alias objects. */
export const MAX_IDENTIFIER_BYTES = 63;

export class IdentifierError extends Error {
  override name = 'IdentifierError';
}

export function ident(name: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new IdentifierError('identifier must be a non-empty string');
  if (name.includes('\u0000')) throw new IdentifierError('identifier must not contain NUL');
  if (Buffer.byteLength(name, 'utf8') > MAX_IDENTIFIER_BYTES) throw new IdentifierError(`identifier longer than ${MAX_IDENTIFIER_BYTES} bytes`);
  return `"${name.replace(/"/g, '""')}"`;
}

/** schema.name, both quoted. */
export function qualified(schema: string, name: string): string {
  return `${ident(schema)}.${ident(name)}`;
}

/** A comma-separated list of quoted identifiers. */
export function identList(names: readonly string[]): string {
  if (names.length === 0) throw new IdentifierError('identifier list must not be empty');
  return names.map(ident).join(', ');
}

/**
 * A string literal for the few places PostgreSQL accepts no bind parameter (utility statements such as
 * CREATE ROLE ... PASSWORD, SET, COMMENT). Standard-conforming E'' escaping of quotes and backslashes.
 */
export function literal(value: string): string {
  if (value.includes('\u0000')) throw new IdentifierError('literal must not contain NUL');
  const escaped = value.replace(/\\/g, '\\\\').replace(/'/g, "''");
  return value.includes('\\') ? `E'${escaped}'` : `'${escaped}'`;
}
