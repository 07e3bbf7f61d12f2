// The sizes of the tables lint findings are about (src/migrations/lint): a lock held while a table is
// scanned, rewritten or indexed matters on a large table only. A catalog read, nothing else: names are
// quoted by the one helper and resolved with to_regclass (no error for a table that is not there), the
// size is pg_relation_size (the main fork's bytes now, exact, unlike reltuples/relpages that only
// VACUUM/ANALYZE update). Unqualified names resolve on the session's search_path, as the step's would.
import type pg from 'pg';
import { IdentifierError, ident } from '../ident.js';

function quotedName(name: string): string | undefined {
  try {
    return name.split('.').map(ident).join('.');
  } catch (err) {
    if (err instanceof IdentifierError) return undefined;
    throw err;
  }
}

/** Bytes per table name (`schema.table` or `table`); undefined when it does not exist (yet). */
export async function tableSizes(client: pg.ClientBase, names: readonly string[]): Promise<Map<string, number | undefined>> {
  const out = new Map<string, number | undefined>(names.map((n) => [n, undefined]));
  const named = names.flatMap((n) => {
    const q = quotedName(n);
    return q ? [{ n, q }] : [];
  });
  if (named.length === 0) return out;
  const r = await client.query<{ n: string; bytes: string | null }>(
    'SELECT x.n, pg_relation_size(to_regclass(x.q))::text AS bytes FROM unnest($1::text[], $2::text[]) AS x(n, q)',
    [named.map((x) => x.n), named.map((x) => x.q)],
  );
  for (const row of r.rows) out.set(row.n, row.bytes === null ? undefined : Number(row.bytes));
  return out;
}
