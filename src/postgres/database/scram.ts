// SCRAM-SHA-256 verifiers computed on the operator's side (RFC 5802/7677, PostgreSQL's storage format):
// ALTER ROLE ... PASSWORD '<verifier>' stores it as is, so the password itself never travels to the server,
// never lands in its statement log or pg_stat_statements, and a verifier is all the server ever sees.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/** PostgreSQL's default scram_iterations. */
export const SCRAM_ITERATIONS = 4096;

/**
 * Passwords the operator sets are printable ASCII, where SASLprep (which the server applies before hashing)
 * is the identity, so the verifier computed here matches what the server would compute from the password.
 */
export const PASSWORD_PATTERN = /^[\x21-\x7e]{16,256}$/;

export function scramVerifier(password: string, opts: { salt?: Buffer; iterations?: number } = {}): string {
  if (!PASSWORD_PATTERN.test(password)) throw new Error('password must be 16-256 printable ASCII characters without spaces');
  const salt = opts.salt ?? randomBytes(16);
  const iterations = opts.iterations ?? SCRAM_ITERATIONS;
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** A strong random password: 32 random bytes, base64url (43 characters, no quoting issues in URIs). */
export function generatePassword(): string {
  return randomBytes(32).toString('base64url');
}
