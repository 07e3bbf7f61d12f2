// The one ARM path of the operator's controllers: every ARM call of TenantDatabase, BackupPolicy and
// AlertRuleSet goes through here (over the clients of ../clients.ts, which carry the shared request
// budget). operations.ts starts and polls long-running writes from a recorded poller state; writes.ts
// is their lifecycle as a record kept in status; calls.ts the synchronous calls (Azure Monitor);
// server-directory.ts one shared server list per resource group; read-cache.ts the short-lived reads;
// timeout.ts the deadline every call carries.
export * from './timeout.js';
export * from './read-cache.js';
export * from './server-directory.js';
export { startOperation, pollOperation, isOperationKind, TARGETS_A_SERVER, type OperationKind, type PollOutcome } from './operations.js';
export * from './writes.js';
export * from './calls.js';
