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

/** Default length of a generated password: 256 random bits' worth of base64url characters. */
export const DEFAULT_PASSWORD_LENGTH = 43;

/** At least one upper-case letter, one lower-case letter and one digit: three of Azure's four classes. */
const COMPLEX = [/[A-Z]/, /[a-z]/, /[0-9]/];

/**
 * The operator's one password generator (database logins, the Azure administrator). Exactly `length`
 * characters of the base64url alphabet (uniform: 6 random bits each; no quoting issues in URIs,
 * connection strings or SQL), always holding an upper-case letter, a lower-case letter and a digit, so
 * it meets Azure's rule (8-128 chars, three of: upper, lower, digit, symbol) and PASSWORD_PATTERN.
 * Draws that miss a class are drawn again (rejection keeps the distribution uniform over the accepted
 * set; at 32 characters a redraw happens about once in 10^7 calls).
 */
export function generatePassword(length = DEFAULT_PASSWORD_LENGTH): string {
  if (!Number.isInteger(length) || length < 16 || length > 128) throw new Error('password length must be an integer from 16 to 128');
  for (;;) {
    const p = randomBytes(Math.ceil((length * 3) / 4)).toString('base64url').slice(0, length);
    if (COMPLEX.every((r) => r.test(p))) return p;
  }
}
