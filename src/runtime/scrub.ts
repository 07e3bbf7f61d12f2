// The secret scrubber every message passes before it reaches a log line, a condition, an Event or a
// metric. Two nets: patterns (what looks like a credential whatever it belongs to: bearer tokens, JWTs,
// password-like keys in JSON, query strings and connection strings, user:password@ in URIs), and values
// (the Secrets a reconcile read, in every encoding an error may echo them in: raw, percent-encoded,
// JSON-escaped). Patterns catch what nobody told us about; values catch what no pattern can (a webhook
// token in a URI path).

const R = '[REDACTED]';

// Keys whose values are secret, as they appear in query strings and key=value strings.
const KEY = String.raw`(?:[A-Za-z_]*password|passwd|pwd|client_?secret|access_?token|refresh_?token|id_?token|token|sig|signature|api_?key|account_?key|sas_?token)`;
// In JSON a key is unambiguous, so also any *secret, URIs (webhooks carry tokens) and connection strings.
const JSON_KEY = String.raw`(?:${KEY}|[A-Za-z_]*secret|[A-Za-z_]*uri|[A-Za-z_]*url|connection_?string)`;

// "key": "value" with the quotes as they come: plain, backslash-escaped (a JSON body inside a JSON string,
// any depth) or percent-encoded.
const Q = String.raw`(?:\\*"|%22|&quot;)`;
const JSON_PAIR = new RegExp(String.raw`(${Q}${JSON_KEY}${Q}\s*(?::|%3A)\s*${Q})((?:(?!${Q}).)*)`, 'gi');
// key=value / key: value in query strings, connection strings and free text; percent-encoded '=' too.
const ASSIGN = new RegExp(String.raw`(\b${KEY}\s*(?:=|%3D|:)\s*)(?!${Q}|\[REDACTED\])([^\s&"',;<>\\%]+(?:%[0-9A-Fa-f]{2}[^\s&"',;<>\\%]*)*)`, 'gi');
// scheme://user:password@host, plain or percent-encoded (%3A%2F%2F, %40).
const USERINFO = /((?:[a-z][a-z0-9+.-]*)(?::|%3A)(?:\/\/|%2F%2F|\\\/\\\/)[^\s:/@%"'\\]+(?::|%3A))([^\s@"'\\]+?)(@|%40)/gi;

// Each pattern above needs one of these (a ':', '=', '%', '"' or '&', or the word Bearer or a JWT's
// eyJ): a text with none of them is returned as it is, without running the five of them (a status
// lists hundreds of versions, names and checksums).
const MAY_HOLD_ONE = /[:=%"&]|bearer|eyJ/i;

/** Removes what looks like a credential from free text (patterns only; see redactValues for known values). */
export function scrubSecrets(text: string): string {
  if (!MAY_HOLD_ONE.test(text)) return text;
  return text
    .replace(/\bBearer\s+[A-Za-z0-9\-._~+/]+=*/gi, `Bearer ${R}`)
    .replace(/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, R)
    .replace(USERINFO, `$1${R}$3`)
    .replace(JSON_PAIR, `$1${R}`)
    .replace(ASSIGN, `$1${R}`);
}

/** The forms a value takes when an error echoes it: as is, percent-encoded, JSON-escaped (any depth). */
function encodings(value: string): string[] {
  const forms = new Set<string>([value, encodeURIComponent(value), encodeURI(value)]);
  let s = value;
  for (let i = 0; i < 3; i += 1) {
    s = JSON.stringify(s).slice(1, -1);
    forms.add(s);
    forms.add(s.replace(/\//g, '\\/'));
  }
  forms.add(value.replace(/\//g, '\\/'));
  return [...forms].sort((a, b) => b.length - a.length);
}

/** Every encoding of each value long enough to look for, longest first per value. */
function formsOf(values: Iterable<string>): string[] {
  const forms: string[] = [];
  for (const v of values) if (v.length >= 4) forms.push(...encodings(v));
  return forms;
}

function redactForms(text: string, forms: readonly string[]): string {
  let out = text;
  for (const form of forms) if (out.includes(form)) out = out.split(form).join(R);
  return out;
}

/** Replaces every occurrence of the given secret values, in any of their echoed encodings. */
export function redactValues(text: string, values: Iterable<string>): string {
  return redactForms(text, formsOf(values));
}

/** Both nets on a text, the values' encodings already worked out. */
function scrubString(text: string, forms: readonly string[]): string {
  return scrubSecrets(redactForms(text, forms));
}

/** Both nets on a text. */
export function scrubText(text: string, values: Iterable<string> = []): string {
  return scrubString(text, formsOf(values));
}

/**
 * Every string inside a value (status patch, log fields, an Error) scrubbed; other values kept. The
 * values' encodings are worked out once for the whole value, not once per string in it.
 */
export function scrubDeep<T>(value: T, values: Iterable<string> = []): T {
  return scrubWith(value, formsOf(values), 0);
}

function scrubWith<T>(value: T, forms: readonly string[], depth: number): T {
  if (typeof value === 'string') return scrubString(value, forms) as T;
  if (depth > 12 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    const e = value as Error & { code?: unknown };
    return { type: e.name, message: scrubString(e.message, forms), ...(e.code !== undefined ? { code: e.code } : {}), ...(e.stack ? { stack: scrubString(e.stack, forms) } : {}) } as T;
  }
  if (Array.isArray(value)) return value.map((v) => scrubWith(v, forms, depth + 1)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrubWith(v, forms, depth + 1);
  return out as T;
}
