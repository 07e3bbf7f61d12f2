// The pure parts of reading a Flux source artifact: the tar reader against archives made by GNU tar
// (gnu and pax formats, long names, a symlink), entries that climb out of the root, the directory filter,
// and the digest/origin/size checks before anything is extracted.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { DEFAULT_ARTIFACT_LIMITS, fetchArtifact, originAllowed, verifyAndExtract } from '../../src/migrations/artifact/fetch.js';
import { filesIn, readTar } from '../../src/migrations/artifact/tar.js';

const LONG = `db/${'a'.repeat(120)}/migrations`;

function gnuTar(format: 'gnu' | 'pax'): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tar-unit-'));
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, LONG), { recursive: true });
  fs.writeFileSync(path.join(src, LONG, '1_a.up.sql'), 'SELECT 1;');
  fs.mkdirSync(path.join(src, 'db/migrations/sub'), { recursive: true });
  fs.writeFileSync(path.join(src, 'db/migrations/2_b.up.sql'), 'SELECT 2;');
  fs.writeFileSync(path.join(src, 'db/migrations/sub/3_c.up.sql'), 'SELECT 3;');
  fs.symlinkSync('/etc/passwd', path.join(src, 'db/migrations/4_link.up.sql'));
  execFileSync('tar', [`--format=${format}`, '-cf', path.join(dir, 'a.tar'), '-C', src, '.']);
  const body = fs.readFileSync(path.join(dir, 'a.tar'));
  fs.rmSync(dir, { recursive: true, force: true });
  return body;
}

/** One ustar header + data, for names GNU tar will not write (it strips `..`). */
function entry(name: string, text: string): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${Buffer.byteLength(text).toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('0', 156);
  h.write('ustar\u000000', 257);
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const data = Buffer.alloc(Math.ceil(Buffer.byteLength(text) / 512) * 512);
  data.write(text);
  return Buffer.concat([h, data]);
}

test.each(['gnu', 'pax'] as const)('GNU tar (%s format): regular files with long names are read; symlinks are skipped', (format) => {
  const files = readTar(gnuTar(format), { maxFiles: 100 });
  expect(files.map((f) => f.name.replace(/^\.\//, '')).sort()).toEqual([`${LONG}/1_a.up.sql`, 'db/migrations/2_b.up.sql', 'db/migrations/sub/3_c.up.sql']);
  expect(filesIn(files, 'db/migrations')).toEqual({ '2_b.up.sql': 'SELECT 2;' });
  expect(filesIn(files, LONG)).toEqual({ '1_a.up.sql': 'SELECT 1;' });
});

test('entries that are absolute or climb out of the root are never read as part of a directory', () => {
  const tar = Buffer.concat([entry('../db/1_x.up.sql', 'evil'), entry('/db/2_y.up.sql', 'evil'), entry('db/../db/3_z.up.sql', 'evil'), entry('db/4_ok.up.sql', 'fine'), Buffer.alloc(1024)]);
  const files = readTar(tar, { maxFiles: 10 });
  expect(files).toHaveLength(4);
  expect(filesIn(files, 'db')).toEqual({ '4_ok.up.sql': 'fine' });
  expect(filesIn(files, undefined)).toEqual({});
});

test('more files than the limit, or a truncated archive, is an error', () => {
  const tar = Buffer.concat([entry('a', '1'), entry('b', '2'), Buffer.alloc(1024)]);
  expect(() => readTar(tar, { maxFiles: 1 })).toThrow('more than 1 files');
  expect(() => readTar(entry('a', 'x'.repeat(600)).subarray(0, 700), { maxFiles: 10 })).toThrow('truncated');
});

test('the digest is checked before extraction; the extracted size is bounded', () => {
  const body = gzipSync(Buffer.concat([entry('db/1_a.up.sql', 'SELECT 1;'), Buffer.alloc(1024)]));
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  expect(filesIn(verifyAndExtract(body, digest, DEFAULT_ARTIFACT_LIMITS), 'db')).toEqual({ '1_a.up.sql': 'SELECT 1;' });
  const wrong = `sha256:${'0'.repeat(64)}`;
  expect(() => verifyAndExtract(body, wrong, DEFAULT_ARTIFACT_LIMITS)).toThrow(expect.objectContaining({ reason: 'ArtifactDigestMismatch' }));
  expect(() => verifyAndExtract(body, 'md5:abc', DEFAULT_ARTIFACT_LIMITS)).toThrow(expect.objectContaining({ reason: 'ArtifactInvalid' }));
  expect(() => verifyAndExtract(body, digest, { ...DEFAULT_ARTIFACT_LIMITS, maxExtractedBytes: 512 })).toThrow(expect.objectContaining({ reason: 'ArtifactInvalid' }));
});

test('only the allowed origin is fetched from (scheme, host and port)', async () => {
  const allowed = 'http://source-controller.flux-system.svc.cluster.local.';
  expect(originAllowed('http://source-controller.flux-system.svc.cluster.local./gitrepository/ns/app/x.tar.gz', allowed)).toBe(true);
  expect(originAllowed('http://source-controller.flux-system.svc.cluster.local.:8080/x.tar.gz', allowed)).toBe(false);
  expect(originAllowed('https://source-controller.flux-system.svc.cluster.local./x.tar.gz', allowed)).toBe(false);
  expect(originAllowed('http://source-controller.flux-system.svc.cluster.local.evil.com/x.tar.gz', allowed)).toBe(false);
  expect(originAllowed('file:///etc/passwd', 'file:///')).toBe(false);
  await expect(fetchArtifact('http://169.254.169.254/latest', `sha256:${'0'.repeat(64)}`, DEFAULT_ARTIFACT_LIMITS)).rejects.toEqual(expect.objectContaining({ reason: 'ArtifactOriginNotAllowed' }));
});
