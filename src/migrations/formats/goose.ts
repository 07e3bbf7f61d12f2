// goose's SQL form (its "SQL file annotations" reference): one file `<version>_<name>.sql` per step,
// annotations on their own line with no leading whitespace, case-insensitive, prefixed `-- +goose`:
// `Up` (exactly one, mandatory), `Down` (optional, after Up), `StatementBegin`/`StatementEnd` (one
// statement with semicolons inside; PostgreSQL's parser splits such bodies right anyway, so they only
// need to pair up), `NO TRANSACTION` ("Both Up and Down migrations within this file will be run
// without a transaction"). `ENVSUB ON/OFF` substitutes environment variables, which an operator has
// no business reading: refused. Scripts keep their lines where they are in the file.
import type { FileSections, FormatParser } from './types.js';
import { fail, section, singleFileParser } from './types.js';

export const GOOSE_KEY = /^([0-9]+)_(.+)\.sql$/;
const ANNOTATION = /^--\s\+goose\s+(.*?)\s*$/i;

export function parseGooseFile(ref: string, key: string, sql: string): FileSections {
  const lines = sql.split('\n');
  let up = -1;
  let down = -1;
  let noTx = false;
  let open = -1;
  lines.forEach((line, i) => {
    const m = ANNOTATION.exec(line.replace(/\r$/, ''));
    if (!m) return;
    const what = (m[1] as string).toLowerCase().replace(/\s+/g, ' ');
    if (what === 'up') {
      if (up >= 0) fail(ref, key, `a second -- +goose Up at line ${i + 1}`);
      up = i;
    } else if (what === 'down') {
      if (up < 0) fail(ref, key, `-- +goose Down at line ${i + 1} comes before -- +goose Up`);
      if (down >= 0) fail(ref, key, `a second -- +goose Down at line ${i + 1}`);
      down = i;
    } else if (what === 'no transaction') noTx = true;
    else if (what === 'statementbegin') {
      if (open >= 0) fail(ref, key, `-- +goose StatementBegin at line ${i + 1} inside another one (line ${open + 1})`);
      open = i;
    } else if (what === 'statementend') {
      if (open < 0) fail(ref, key, `-- +goose StatementEnd at line ${i + 1} without StatementBegin`);
      open = -1;
    } else if (what.startsWith('envsub')) fail(ref, key, `-- +goose ENVSUB (line ${i + 1}) is not supported: the operator substitutes no environment variables`);
    else fail(ref, key, `unknown annotation "${line.trim()}" at line ${i + 1}`);
  });
  if (up < 0) fail(ref, key, 'no -- +goose Up annotation (goose requires exactly one)');
  if (open >= 0) fail(ref, key, `-- +goose StatementBegin at line ${open + 1} is never ended`);
  const end = down >= 0 ? down : lines.length;
  return {
    up: section(lines, up + 1, end),
    ...(down >= 0 ? { down: section(lines, down + 1, lines.length) } : {}),
    transactional: !noTx,
    downTransactional: !noTx,
  };
}

export const parseGoose: FormatParser = singleFileParser('goose', GOOSE_KEY, parseGooseFile);
