// The status shape shared by every kind: metav1.Condition exactly as Kubernetes defines it, keyed by
// type, plus the generation the status describes. The runtime's condition helpers use these types.
import { z } from 'zod';
import { listMap } from './cel.js';

export const CONDITION_TYPE_PATTERN =
  '^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$';
export const CONDITION_REASON_PATTERN = '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$';

/** RFC 3339 timestamp as the apiserver writes it (second precision, UTC or offset). */
const timestamp = (description: string) => z.iso.datetime({ offset: true }).describe(description);

export const conditionSchema = z
  .object({
    type: z.string().min(1).max(316).regex(new RegExp(CONDITION_TYPE_PATTERN)).describe('Type of condition in CamelCase, e.g. Ready.'),
    status: z.enum(['True', 'False', 'Unknown']).describe('Status of the condition: True, False or Unknown.'),
    observedGeneration: z
      .int()
      .min(0)
      .max(Number.MAX_SAFE_INTEGER)
      .optional()
      .describe('The .metadata.generation the condition was set for; older than the current generation means stale.'),
    lastTransitionTime: timestamp('When the condition last changed from one status to another.'),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(new RegExp(CONDITION_REASON_PATTERN))
      .describe("Programmatic identifier (CamelCase) for the condition's last transition."),
    message: z.string().max(32768).describe('Human-readable details about the transition; may be empty.'),
  })
  .describe('A condition as defined by metav1.Condition.');

export type Condition = z.infer<typeof conditionSchema>;
export type ConditionStatus = Condition['status'];

export const conditionsSchema = listMap(
  z.array(conditionSchema).max(16).describe('Current state of the object as conditions; Ready summarises them.'),
  ['type'],
);

export const statusBaseShape = {
  observedGeneration: z
    .int()
    .min(0)
    .max(Number.MAX_SAFE_INTEGER)
    .optional()
    .describe('The .metadata.generation the controller last reconciled.'),
  conditions: conditionsSchema.optional(),
};

export const statusBaseSchema = z.object(statusBaseShape).describe('Observed state, written by the operator.');
export type StatusBase = z.infer<typeof statusBaseSchema>;

export { timestamp as timestampField };
