// Versioned migrations inside a database: history table, advisory lock, statement splitting, runner.
export * from './history.js';
export * from './lock.js';
export * from './split.js';
export * from './runner.js';
export * from './migrator.js';
