// The lint rules: what a pending statement does that blocks reads or writes on a table that already
// exists, rewrites it, or breaks clients reading it. Pure functions of one statement's parse tree
// (libpg-query, the parser the runner splits scripts with) and the tables the pending steps
// create before it.
//
// Why our own rules and not squawk: squawk-cli is an npm package that downloads a platform binary at
// install time; it is not in this project's dependencies and that download cannot be relied on where the
// operator is built (offline). The parse tree is already here, so the rules are a few lines each. They
// carry squawk's names and the facts squawk's docs give (https://squawkhq.com/docs/<rule>), not its code.
import { LINT_RULES, type LintRule } from '../../api/migration.js';

export { LINT_RULES, type LintRule };

/** What one rule found in one statement. */
export interface RuleHit {
  rule: LintRule;
  message: string;
  /** The existing table it is about (schema-qualified when the statement says so). */
  table?: string;
  /** Harmful in proportion to the table's size (a scan, rewrite or index build under a lock): a small table passes. */
  sizeSensitive: boolean;
}

type Node = Record<string, unknown>;
const obj = (v: unknown): Node => (v && typeof v === 'object' ? (v as Node) : {});
const list = (v: unknown): Node[] => (Array.isArray(v) ? (v as Node[]) : []);

/** `schema.table` or `table` of a RangeVar, lower-cased as PostgreSQL folds unquoted names (the parser already did). */
export function relName(rangeVar: unknown): string | undefined {
  const r = obj(rangeVar);
  if (typeof r.relname !== 'string') return undefined;
  return typeof r.schemaname === 'string' ? `${r.schemaname}.${r.relname}` : r.relname;
}

/** Tables (and indexes) the pending steps create, by name; a name matches with or without its schema. */
export class CreatedHere {
  private readonly names = new Set<string>();
  add(name: string | undefined): void {
    if (name) this.names.add(name).add(name.split('.').pop() as string);
  }
  has(name: string | undefined): boolean {
    return name !== undefined && (this.names.has(name) || this.names.has(name.split('.').pop() as string));
  }
}

/** Records what a statement creates, so later statements on it are not about an existing table. */
export function noteCreated(kind: string, node: Node, created: CreatedHere): void {
  if (kind === 'CreateStmt') created.add(relName(node.relation));
  else if (kind === 'CreateTableAsStmt') created.add(relName(obj(node.into).rel));
  else if (kind === 'IndexStmt' && typeof node.idxname === 'string') {
    const schema = obj(node.relation).schemaname;
    created.add(typeof schema === 'string' ? `${schema}.${node.idxname}` : node.idxname);
  }
}

// Defaults PostgreSQL 11+ stores once instead of writing into every row: constants and these stable
// functions. Any other function call may be volatile (random(), gen_random_uuid(), clock_timestamp()).
const NON_VOLATILE_FUNCS = new Set(['now', 'statement_timestamp', 'transaction_timestamp']);
const SERIAL_TYPES = new Set(['serial', 'serial4', 'bigserial', 'serial8', 'smallserial', 'serial2']);

function callsVolatile(expr: unknown): boolean {
  if (Array.isArray(expr)) return expr.some(callsVolatile);
  if (!expr || typeof expr !== 'object') return false;
  const e = expr as Node;
  if (e.FuncCall) {
    const name = list(obj(e.FuncCall).funcname).map((n) => obj(n.String).sval).pop();
    if (!NON_VOLATILE_FUNCS.has(String(name))) return true;
  }
  return Object.values(e).some(callsVolatile);
}

function constraintsOf(colDef: Node): Node[] {
  return list(colDef.constraints).map((c) => obj(c.Constraint));
}

/** ADD COLUMN: NOT NULL without a default, or a default every row must be written with. */
function addColumn(col: Node, table: string): RuleHit[] {
  const cons = constraintsOf(col);
  const has = (t: string) => cons.some((c) => c.contype === t);
  const name = String(col.colname ?? '');
  const type = list(obj(col.typeName).names).map((n) => obj(n.String).sval).pop();
  const hits: RuleHit[] = [];
  if (has('CONSTR_NOTNULL') && !has('CONSTR_DEFAULT') && !has('CONSTR_IDENTITY') && !has('CONSTR_GENERATED') && !SERIAL_TYPES.has(String(type))) {
    hits.push({ rule: 'adding-required-field', table, sizeSensitive: false, message: `column ${name} is NOT NULL without a default: fails on a table with rows, and clients that do not set it break; add it nullable or with a constant default` });
  }
  const volatileDefault = cons.some((c) => c.contype === 'CONSTR_DEFAULT' && callsVolatile(c.raw_expr));
  if (volatileDefault || has('CONSTR_IDENTITY') || has('CONSTR_GENERATED') || SERIAL_TYPES.has(String(type))) {
    hits.push({ rule: 'adding-field-with-default', table, sizeSensitive: true, message: `column ${name} gets a value computed per row (volatile default, identity, serial or stored generated column): the whole table is rewritten under an ACCESS EXCLUSIVE lock; add it without the default, then set the default and backfill in batches` });
  }
  return hits;
}

/** ADD CONSTRAINT: validated under the lock, or an index built under it. */
function addConstraint(c: Node, table: string): RuleHit[] {
  const name = typeof c.conname === 'string' ? `constraint ${c.conname}` : 'the constraint';
  const notValid = c.skip_validation === true;
  switch (c.contype) {
    case 'CONSTR_CHECK':
      return notValid ? [] : [{ rule: 'constraint-missing-not-valid', table, sizeSensitive: true, message: `${name} is checked against every row while writes are blocked; add it NOT VALID, then VALIDATE CONSTRAINT in a later step` }];
    case 'CONSTR_FOREIGN':
      return notValid ? [] : [{ rule: 'adding-foreign-key-constraint', table, sizeSensitive: true, message: `${name} scans the table while writes to it and to ${relName(c.pktable) ?? 'the referenced table'} are blocked; add it NOT VALID, then VALIDATE CONSTRAINT in a later step` }];
    case 'CONSTR_UNIQUE':
      return typeof c.indexname === 'string' ? [] : [{ rule: 'disallowed-unique-constraint', table, sizeSensitive: true, message: `${name} builds its index under an ACCESS EXCLUSIVE lock; CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... UNIQUE USING INDEX` }];
    case 'CONSTR_PRIMARY':
      return typeof c.indexname === 'string' ? [] : [{ rule: 'adding-serial-primary-key-field', table, sizeSensitive: true, message: `the primary key builds its index under an ACCESS EXCLUSIVE lock; CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... PRIMARY KEY USING INDEX` }];
    default:
      return [];
  }
}

function alterTable(node: Node, table: string): RuleHit[] {
  return list(node.cmds).flatMap((item): RuleHit[] => {
    const cmd = obj(item.AlterTableCmd);
    const def = obj(cmd.def);
    switch (cmd.subtype) {
      case 'AT_AddColumn':
        return addColumn(obj(def.ColumnDef), table);
      case 'AT_AddConstraint':
        return addConstraint(obj(def.Constraint), table);
      case 'AT_SetNotNull':
        return [{ rule: 'adding-not-nullable-field', table, sizeSensitive: true, message: `SET NOT NULL on ${String(cmd.name)} scans every row under an ACCESS EXCLUSIVE lock; add CHECK (${String(cmd.name)} IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL (PostgreSQL 12+ skips the scan)` }];
      case 'AT_AlterColumnType':
        return [{ rule: 'changing-column-type', table, sizeSensitive: true, message: `changing the type of ${String(cmd.name)} rewrites the table (and its indexes) under an ACCESS EXCLUSIVE lock, and breaks clients of the old type; add a new column and backfill instead` }];
      case 'AT_DropColumn':
        return [{ rule: 'ban-drop-column', table, sizeSensitive: false, message: `dropping column ${String(cmd.name)} breaks clients that still read it, and its data is gone` }];
      default:
        return [];
    }
  });
}

/** The rules' findings for one statement; statements on tables `created` (earlier in the pending steps) are exempt. */
export function checkStatement(kind: string, node: Node, created: CreatedHere): RuleHit[] {
  switch (kind) {
    case 'IndexStmt': {
      const table = relName(node.relation);
      if (node.concurrent === true || created.has(table)) return [];
      return [{ rule: 'require-concurrent-index-creation', ...(table ? { table } : {}), sizeSensitive: true, message: 'CREATE INDEX without CONCURRENTLY blocks writes to the table while the index is built; use CREATE INDEX CONCURRENTLY in a non-transactional step' }];
    }
    case 'AlterTableStmt': {
      const table = relName(node.relation);
      if (!table || created.has(table) || (node.objtype !== undefined && node.objtype !== 'OBJECT_TABLE')) return [];
      return alterTable(node, table);
    }
    case 'RenameStmt': {
      const table = relName(node.relation);
      if (!table || created.has(table)) return [];
      if (node.renameType === 'OBJECT_COLUMN') return [{ rule: 'renaming-column', table, sizeSensitive: false, message: `renaming column ${String(node.subname)} breaks clients that still use the old name` }];
      if (node.renameType === 'OBJECT_TABLE') return [{ rule: 'renaming-table', table, sizeSensitive: false, message: `renaming table ${table} breaks clients that still use the old name` }];
      return [];
    }
    case 'DropStmt':
      return dropStmt(node, created);
    default:
      return [];
  }
}

function dropStmt(node: Node, created: CreatedHere): RuleHit[] {
  const names = list(node.objects).map((o) => list(obj(o.List).items).map((i) => String(obj(i.String).sval)).join('.'));
  const existing = names.filter((n) => !created.has(n));
  if (node.removeType === 'OBJECT_TABLE') return existing.map((table) => ({ rule: 'ban-drop-table' as const, table, sizeSensitive: false, message: `dropping table ${table} breaks clients that still use it, and its data is gone` }));
  if (node.removeType === 'OBJECT_INDEX' && node.concurrent !== true && existing.length > 0) {
    return [{ rule: 'require-concurrent-index-deletion', sizeSensitive: false, message: `DROP INDEX ${existing.join(', ')} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on its table; use DROP INDEX CONCURRENTLY in a non-transactional step` }];
  }
  return [];
}
