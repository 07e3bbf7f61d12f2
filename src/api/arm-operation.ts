// An Azure long-running operation in flight, as a controller keeps it in status so that a restarted
// operator resumes polling it instead of sending its request again (src/azure/arm/writes.ts).
import { z } from 'zod';
import { timestampField } from './status.js';

export const armOperationSchema = z
  .object({
    kind: z.string().max(64).describe('What the operation does, e.g. servers.update, backups.create.'),
    target: z.string().max(256).describe('Name of the resource it acts on (server, rule, parameter, backup...).'),
    startedAt: timestampField('When the operator started it.'),
    pollerState: z.string().max(16384).describe("The SDK's serialised poller state (operation URLs) to resume polling after a restart."),
  })
  .describe('Azure long-running operation in flight.');
