// Optional persistence of the emulator's state to `<stateDir>/state.json`, so a restarted emulator (the
// local environment's, under `npm run dev`) comes back with its resources. Saves are debounced and
// atomic (temp file + rename). The file holds the internal credentials of the emulated PostgreSQL servers,
// like their data directories next to it, so it is written with mode 0600.
import fs from 'node:fs';
import path from 'node:path';
import type { Json, ResourceStore } from './store.js';

export interface PersistedPart {
  /** Key of this part in the state file. */
  name: string;
  save(): unknown;
  /** Called once at start-up with what `save` returned last time. */
  load(data: unknown): Promise<void>;
}

interface StateFile {
  version: 1;
  resources: Array<[string, Json]>;
  parts: Record<string, unknown>;
}

export class Persistence {
  private parts: PersistedPart[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly file: string | undefined,
    private readonly store: ResourceStore,
  ) {}

  get enabled(): boolean {
    return this.file !== undefined;
  }

  register(part: PersistedPart): void {
    this.parts.push(part);
  }

  /** Something changed: save soon. */
  changed(): void {
    if (!this.file || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.saveNow();
    }, 100);
    this.timer.unref();
  }

  saveNow(): void {
    if (!this.file) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const state: StateFile = { version: 1, resources: this.store.entries(), parts: {} };
    for (const p of this.parts) state.parts[p.name] = p.save();
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
    fs.renameSync(tmp, this.file);
  }

  /** Loads the saved resources and hands each registered part its data. */
  async load(): Promise<void> {
    if (!this.file || !fs.existsSync(this.file)) return;
    const state = JSON.parse(fs.readFileSync(this.file, 'utf8')) as StateFile;
    if (state.version !== 1) return;
    for (const [id, doc] of state.resources) this.store.put(id, doc);
    for (const p of this.parts) if (state.parts[p.name] !== undefined) await p.load(state.parts[p.name]);
  }
}
