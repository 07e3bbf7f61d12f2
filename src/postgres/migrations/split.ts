// Splits a migration script into its statements with the real PostgreSQL parser (libpg_query compiled
// to WebAssembly), so semicolons inside strings, dollar-quoted bodies and comments never cut a
// statement. Each statement keeps the line it starts on in the script, for error messages a person can
// find in their file. libpg_query reports byte offsets into the UTF-8 text, hence the Buffer arithmetic.

type Parser = typeof import('libpg-query');
let parser: Promise<Parser> | undefined;

// Imported on first use: importing the package instantiates its WebAssembly (about 17 MiB of RSS),
// which an operator whose Migrations are all converged or waiting for their databases never needs.
// `libpg-query` 17.x is the project's parse-only build for PostgreSQL 17. `@libpg-query/parser`, the
// same parser with a deparser, imports a 5.4 MB protobuf module at load that parsing never uses: its
// import took 133 ms and 15 MiB more RSS against 25 ms here, on the first Migration's path.
function loadParser(): Promise<Parser> {
  parser ??= import('libpg-query')
    .then(async (m) => {
      await m.loadModule();
      // WebAssembly functions compile on their first call (20-30 ms here): part of loading, not of a step.
      await m.parse('SELECT 1');
      return m;
    })
    .catch((err: unknown) => {
      parser = undefined; // a failed import, instantiation or first parse: let a later run try again
      throw err;
    });
  return parser;
}

export interface ScriptStatement {
  /** The statement's text, without the separating semicolon and leading blank lines/comments. */
  text: string;
  /** 1-based line of the script the statement starts on. */
  line: number;
  /** The parse tree's node type (CreateStmt, IndexStmt, TransactionStmt...). */
  kind: string;
  /** The parse tree of the statement (the value under `kind`), for the linter (src/migrations/lint). */
  node: Record<string, unknown>;
}

export class ScriptSyntaxError extends Error {
  override name = 'ScriptSyntaxError';
  constructor(
    message: string,
    readonly line: number | undefined,
  ) {
    super(message);
  }
}

/** 1-based line of a character index. */
export function lineAt(text: string, charIndex: number): number {
  let line = 1;
  for (let i = 0; i < charIndex && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Length of leading whitespace and SQL comments (`--` lines, `/* *\/` blocks, possibly nested). */
function leadingTrivia(s: string): number {
  let i = 0;
  for (;;) {
    while (i < s.length && /\s/.test(s[i] as string)) i++;
    if (s.startsWith('--', i)) {
      const nl = s.indexOf('\n', i);
      i = nl < 0 ? s.length : nl + 1;
    } else if (s.startsWith('/*', i)) {
      let depth = 0;
      while (i < s.length) {
        if (s.startsWith('/*', i)) {
          depth++;
          i += 2;
        } else if (s.startsWith('*/', i)) {
          depth--;
          i += 2;
          if (depth === 0) break;
        } else i++;
      }
    } else return i;
  }
}

interface RawStmt {
  stmt?: Record<string, unknown>;
  stmt_location?: number;
  stmt_len?: number;
}

/** Loads the parser ahead of a run's first step, so step timings do not include compiling it. */
export async function warmUpParser(): Promise<void> {
  await loadParser();
}

export async function splitStatements(script: string): Promise<ScriptStatement[]> {
  // An empty script (or only comments) is a step that does nothing (golang-migrate, goose, dbmate); the
  // parser would call it an error.
  if (leadingTrivia(script) >= script.length) return [];
  const { parse } = await loadParser();
  let tree: { stmts?: RawStmt[] };
  try {
    tree = (await parse(script)) as { stmts?: RawStmt[] };
  } catch (err) {
    const details = (err as { sqlDetails?: { message?: string; cursorPosition?: number } }).sqlDetails;
    const pos = details?.cursorPosition;
    // cursorPosition is a byte offset too.
    const line = pos === undefined ? undefined : lineAt(Buffer.from(script, 'utf8').subarray(0, pos).toString('utf8'), Number.MAX_SAFE_INTEGER);
    throw new ScriptSyntaxError(details?.message ?? (err instanceof Error ? err.message : String(err)), line);
  }
  const bytes = Buffer.from(script, 'utf8');
  const out: ScriptStatement[] = [];
  for (const s of tree.stmts ?? []) {
    const start = s.stmt_location ?? 0;
    const end = s.stmt_len === undefined || s.stmt_len === 0 ? bytes.length : start + s.stmt_len;
    const before = bytes.subarray(0, start).toString('utf8');
    const raw = bytes.subarray(start, end).toString('utf8');
    const skip = leadingTrivia(raw);
    const text = raw.slice(skip).trimEnd();
    if (text.length === 0) continue;
    const kind = Object.keys(s.stmt ?? {})[0] ?? 'Unknown';
    const node = (s.stmt?.[kind] ?? {}) as Record<string, unknown>;
    out.push({ text, line: lineAt(before + raw.slice(0, skip), Number.MAX_SAFE_INTEGER), kind, node });
  }
  return out;
}

/** Statements PostgreSQL refuses inside a transaction block (PreventInTransactionBlock) or that are transaction control. */
const OUTSIDE_KINDS = new Set(['TransactionStmt', 'VacuumStmt', 'CreatedbStmt', 'DropdbStmt', 'AlterSystemStmt', 'CreateTableSpaceStmt', 'DropTableSpaceStmt']);
const CONCURRENT_KINDS = new Set(['IndexStmt', 'DropStmt', 'ReindexStmt', 'AlterTableStmt']);

/**
 * A script a tool sends as it is (golang-migrate's one query, Flyway's per-statement detection) runs
 * outside a transaction when it controls its own (BEGIN/COMMIT) or holds a statement that cannot run in
 * one: CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY, DETACH PARTITION CONCURRENTLY, VACUUM,
 * CREATE/DROP DATABASE or TABLESPACE, ALTER SYSTEM.
 */
export function runsOutsideTransaction(stmts: readonly ScriptStatement[]): boolean {
  return stmts.some((s) => OUTSIDE_KINDS.has(s.kind) || (CONCURRENT_KINDS.has(s.kind) && /\bCONCURRENTLY\b/i.test(s.text)));
}
