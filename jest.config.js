// Tests run as native ES modules (the Kubernetes and Azure clients ship ESM only) under the pinned Node,
// with SWC stripping types; `npm test` type-checks the whole tree first.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' }, module: { type: 'es6' } }],
  },
  globalSetup: '<rootDir>/dev/env/jest-global-setup.mjs',
  globalTeardown: '<rootDir>/dev/env/jest-global-teardown.mjs',
  testTimeout: 120000,
  maxWorkers: 2,
  // Memory a worker keeps from one test file to the next grows through the run: at the end each worker
  // held 1.7-1.8 GB RSS (1.2 GB heap, 1.4-1.6 GB external) and no handle, and its 'exit' event fired 1 ms
  // after jest's end message, but a node process that size takes longer than jest's 500 ms to be gone,
  // so jest killed both and warned of a leak. A worker whose heap passes this after a file is replaced.
  workerIdleMemoryLimit: '384MB',
  verbose: true,
};
