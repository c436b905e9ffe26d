/**
 * What may reach a terminal or a log line: every secret the run knows (passwords from URLs and flags,
 * the status token) is masked, and control bytes are escaped — messages can carry bytes read from
 * files or servers (a corrupt RDB's "expected a double, found …"), and an ESC sequence printed raw
 * would drive the user's terminal. Applied in one place per output: the error printer
 * (formatError) and the logger's write.
 */

/** Secrets registered by the config parser; replaced by `***` in everything printed. */
const SECRETS = new Set<string>();

/** Remember a secret so no message or log line prints it (short ones too: a 3-letter password is one). */
export function registerSecret(s: string | null | undefined): void {
  if (s === null || s === undefined || s === '') return;
  SECRETS.add(s);
  // The same secret as it would appear inside a JSON string or a URL.
  const json = JSON.stringify(s).slice(1, -1);
  if (json !== s) SECRETS.add(json);
  const enc = encodeURIComponent(s);
  if (enc !== s) SECRETS.add(enc);
}

/** `text` with every registered secret replaced by `***` (longest first: one may contain another). */
export function maskSecrets(text: string): string {
  if (SECRETS.size === 0) return text;
  let out = text;
  for (const s of [...SECRETS].sort((a, b) => b.length - a.length))
    if (out.includes(s)) out = out.split(s).join('***');
  return out;
}

const CONTROL = /[\x00-\x09\x0b-\x1f\x7f\u0080-\u009f]/g;
const CONTROL_OR_NL = /[\x00-\x1f\x7f\u0080-\u009f]/g;

const NAMED: Record<string, string> = { '\t': '\\t', '\r': '\\r', '\n': '\\n' };

function escapeChar(ch: string): string {
  return NAMED[ch] ?? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
}

/**
 * Control bytes as `\xNN` (`\t`, `\r`, `\n` named). `keepNewlines`: line breaks stay (a stack trace,
 * a multi-line message); everything else that could move the cursor or change colours is escaped.
 */
export function escapeControl(text: string, keepNewlines = false): string {
  return text.replace(keepNewlines ? CONTROL : CONTROL_OR_NL, escapeChar);
}

/** Both: what the error printer and the compact log format apply to any text they print. */
export function safeText(text: string, keepNewlines = false): string {
  return escapeControl(maskSecrets(text), keepNewlines);
}
