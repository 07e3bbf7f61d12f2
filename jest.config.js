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
  verbose: true,
};
