// JSON logs through pino. Reconcile logs carry the controller, object key and a reconcile id so one
// reconcile can be followed across lines. Values under credential-like keys are redacted at the logger,
// as a net under the rule that secrets are never passed to it in the first place.
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { scrubDeep, scrubSecrets } from './scrub.js';

export type { Logger };

const REDACT = [
  'password',
  'token',
  'secret',
  'clientSecret',
  'connectionString',
  '*.password',
  '*.token',
  '*.secret',
  '*.clientSecret',
  '*.connectionString',
  '*.authorization',
  '*.Authorization',
];

export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = (opts.level ?? 'info') as LevelWithSilent;
  const options = {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Fields and messages through the pattern scrubber too: an error's text may echo a credential.
    formatters: { level: (label: string) => ({ level: label }), log: (o: Record<string, unknown>) => scrubDeep(o) },
    hooks: {
      logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? scrubSecrets(a) : a)));
      },
    },
    redact: { paths: REDACT, censor: '[REDACTED]' },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

export function reconcileLogger(base: Logger, controller: string, namespace: string | undefined, name: string, reconcileID: string): Logger {
  return base.child({ controller, namespace, name, reconcileID });
}
