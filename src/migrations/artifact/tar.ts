// A minimal reader of the regular files in a tar archive (POSIX ustar, with PAX `path` records and GNU
// long names), enough for Flux source artifacts: source-controller writes them with Go's archive/tar as
// tar.gz of regular files and directories (https://fluxcd.io/flux/components/source/gitrepositories/#artifact).
// No tar library is a dependency of this project, so this pure reader does the little that is needed:
// symlinks, hard links, devices and anything but regular files are skipped, never followed.
const BLOCK = 512;

export interface TarFile {
  name: string;
  data: Buffer;
}

export interface TarLimits {
  /** Most regular files read; more is an error (a bound on what one artifact can make us hold). */
  maxFiles: number;
}

function field(header: Buffer, start: number, length: number): string {
  const raw = header.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? raw.length : end).toString('utf8');
}

function octal(header: Buffer, start: number, length: number): number {
  const text = field(header, start, length).trim();
  if (!/^[0-7]*$/.test(text)) throw new Error(`tar: size field "${text}" is not octal`);
  return text === '' ? 0 : parseInt(text, 8);
}

/** The `path` record of a PAX extended header ("<len> path=<value>\n" records). */
function paxPath(data: Buffer): string | undefined {
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const len = parseInt(data.subarray(at, space).toString('ascii'), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const record = data.subarray(space + 1, at + len - 1).toString('utf8');
    if (record.startsWith('path=')) return record.slice(5);
    at += len;
  }
  return undefined;
}

/** The regular files of an (uncompressed) tar archive, in archive order. */
export function readTar(archive: Buffer, limits: TarLimits): TarFile[] {
  const files: TarFile[] = [];
  let at = 0;
  let longName: string | undefined;
  while (at + BLOCK <= archive.length) {
    const header = archive.subarray(at, at + BLOCK);
    if (header.every((b) => b === 0)) break; // end of archive
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156] as number);
    const dataStart = at + BLOCK;
    if (dataStart + size > archive.length) throw new Error('tar: archive is truncated');
    const data = archive.subarray(dataStart, dataStart + size);
    at = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x') longName = paxPath(data) ?? longName;
    else if (type === 'L') longName = field(data, 0, data.length);
    else {
      const prefix = field(header, 345, 155);
      const name = longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
      longName = undefined;
      if (type === '0' || type === '\0') {
        if (files.length >= limits.maxFiles) throw new Error(`tar: more than ${limits.maxFiles} files`);
        files.push({ name, data: Buffer.from(data) });
      }
    }
  }
  return files;
}

/** Clean relative segments of an entry name, or undefined for one that is absolute or climbs out (`..`). */
export function entrySegments(name: string): string[] | undefined {
  if (name.startsWith('/')) return undefined;
  const segs = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.some((s) => s === '..')) return undefined;
  return segs;
}

/**
 * The files directly inside `dir` (relative to the archive root; '' for the root) as name -> text: the
 * shape a ConfigMap's data has, so the formats read an artifact directory as they read a ConfigMap.
 * Entries outside `dir`, in its subdirectories, or whose names escape the root are left out.
 */
export function filesIn(files: readonly TarFile[], dir: string | undefined): Record<string, string> {
  const want = dir ? (entrySegments(dir) ?? []) : [];
  const out: Record<string, string> = {};
  for (const f of files) {
    const segs = entrySegments(f.name);
    if (!segs || segs.length !== want.length + 1) continue;
    if (want.some((w, i) => segs[i] !== w)) continue;
    out[segs[segs.length - 1] as string] = f.data.toString('utf8');
  }
  return out;
}
