// Memory and rounding helpers, free of heavy imports: the operator process of the controllers-fleet
// benchmark loads this file, and whatever it imports counts against the operator's memory.
import v8 from 'node:v8';
import vm from 'node:vm';

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export const MiB = 1024 * 1024;

let gcFn: (() => void) | undefined;

/** A full garbage collection (via --expose-gc, or enabled on demand through V8 flags). */
export function gc(): void {
  if (!gcFn) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (g) gcFn = g;
    else {
      v8.setFlagsFromString('--expose-gc');
      gcFn = vm.runInNewContext('gc') as () => void;
    }
  }
  gcFn();
  gcFn();
}

export function memory(): { rssMiB: number; heapUsedMiB: number; heapTotalMiB: number; externalMiB: number } {
  const m = process.memoryUsage();
  return { rssMiB: round(m.rss / MiB, 1), heapUsedMiB: round(m.heapUsed / MiB, 1), heapTotalMiB: round(m.heapTotal / MiB, 1), externalMiB: round(m.external / MiB, 1) };
}

/** Samples RSS and heap every `everyMs` until stopped; reports the peaks. */
export function memorySampler(everyMs = 100): { stop(): { peakRssMiB: number; peakHeapUsedMiB: number } } {
  let peakRss = 0;
  let peakHeap = 0;
  const sample = () => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  };
  sample();
  const t = setInterval(sample, everyMs);
  t.unref();
  return {
    stop() {
      clearInterval(t);
      sample();
      return { peakRssMiB: round(peakRss / MiB, 1), peakHeapUsedMiB: round(peakHeap / MiB, 1) };
    },
  };
}


/** Size and use of each V8 heap space, to tell reserved-but-free heap (RSS held after a burst) from live data. */
export function heapSpaces(): Record<string, { sizeMiB: number; usedMiB: number }> {
  const out: Record<string, { sizeMiB: number; usedMiB: number }> = {};
  for (const s of v8.getHeapSpaceStatistics()) {
    if (s.space_size === 0) continue;
    out[s.space_name] = { sizeMiB: round(s.space_size / MiB, 1), usedMiB: round(s.space_used_size / MiB, 1) };
  }
  return out;
}
