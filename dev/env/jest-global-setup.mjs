// Jest loads global setup through its CommonJS transform, which cannot follow this ESM project's
// `.js` import specifiers; tsx's loader can, so the real setup lives in global-setup.ts.
import { tsImport } from 'tsx/esm/api';

export default async function globalSetup(globalConfig) {
  const mod = await tsImport('./global-setup.ts', import.meta.url);
  // The test path patterns tell it whether this run needs the shipping tests' tools.
  await mod.default(globalConfig);
}
