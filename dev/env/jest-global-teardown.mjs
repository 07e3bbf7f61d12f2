// See jest-global-setup.mjs for why this indirection exists.
import { tsImport } from 'tsx/esm/api';

export default async function globalTeardown() {
  const mod = await tsImport('./global-teardown.ts', import.meta.url);
  await mod.default();
}
