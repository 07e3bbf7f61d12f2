// What a dev fixture gets: the local environment, a kubectl bound to it, and the namespace the examples
// go to. A fixture creates what an example refers to but a real user would bring along themselves
// (Secrets of an existing server, a resource group in the emulator, a ConfigMap of migrations).
import type { EnvInfo } from '../localenv.js';

export interface DevFixtureContext {
  env: EnvInfo;
  /** Folder of the local environment (`.local/` by default). */
  dir: string;
  namespace: string;
  kubectl(args: string[], input?: string): Promise<string>;
  /** Creates or updates objects from a JSON/YAML string (kubectl apply -f -). */
  apply(manifest: unknown): Promise<void>;
  say(message: string): void;
}
