// dbmate's form (its README, "Creating Migrations" and "Options"): one file `<version>_<name>.sql` with
// a `-- migrate:up` section and an optional `-- migrate:down` section; each marker may carry options,
// `transaction:false` running that section outside a transaction (each section for itself). Sections
// otherwise run in one transaction each.
import type { FileSections, FormatParser } from './types.js';
import { fail, section, singleFileParser } from './types.js';

export const DBMATE_KEY = /^([0-9]+)_(.*)\.sql$/;
const MARKER = /^--\s*migrate:(up|down)\b(.*)$/;

function options(ref: string, key: string, line: number, raw: string): { transaction: boolean } {
  let transaction = true;
  for (const opt of raw.trim().split(/\s+/).filter((o) => o.length > 0)) {
    const m = /^([a-z_]+):(.*)$/.exec(opt);
    if (!m) fail(ref, key, `option "${opt}" at line ${line} is not key:value`);
    if (m[1] !== 'transaction' || !/^(true|false)$/.test(m[2] as string)) fail(ref, key, `option "${opt}" at line ${line} is not supported (transaction:true|false)`);
    transaction = m[2] === 'true';
  }
  return { transaction };
}

export function parseDbmateFile(ref: string, key: string, sql: string): FileSections {
  const lines = sql.split('\n');
  let up = -1;
  let down = -1;
  let upTx = true;
  let downTx = true;
  lines.forEach((line, i) => {
    const m = MARKER.exec(line.replace(/\r$/, ''));
    if (!m) return;
    const opts = options(ref, key, i + 1, m[2] as string);
    if (m[1] === 'up') {
      if (up >= 0) fail(ref, key, `a second -- migrate:up at line ${i + 1}`);
      up = i;
      upTx = opts.transaction;
    } else {
      if (down >= 0) fail(ref, key, `a second -- migrate:down at line ${i + 1}`);
      down = i;
      downTx = opts.transaction;
    }
  });
  if (up < 0) fail(ref, key, 'no -- migrate:up section (dbmate requires one)');
  if (down >= 0 && down < up) fail(ref, key, '-- migrate:down comes before -- migrate:up');
  return {
    up: section(lines, up + 1, down >= 0 ? down : lines.length),
    ...(down >= 0 ? { down: section(lines, down + 1, lines.length) } : {}),
    transactional: upTx,
    downTransactional: downTx,
  };
}

export const parseDbmate: FormatParser = singleFileParser('dbmate', DBMATE_KEY, parseDbmateFile);
