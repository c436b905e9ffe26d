/**
 * Endpoint options and `redis://` URL parsing. Validated once, before anything connects; secrets
 * never appear in messages (describeEndpoint prints host:port and the user name only).
 */
import { ConfigError } from '../errors.js';

export interface ConnectOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  /** TCP connect + handshake deadline. Default 10 s. */
  connectTimeoutMs?: number;
  /** CLIENT SETNAME value (best effort; spaces are replaced). */
  name?: string;
  /**
   * Commands sent and not yet replied before `needsDrain` turns true. Default 8192: with waiters woken
   * at half a window, the target still has ~4k small commands queued while the producer decodes more.
   */
  maxInFlight?: number;
  /** Encoded bytes sent and not yet replied before `needsDrain` turns true. Default 4 MiB. */
  maxInFlightBytes?: number;
  /**
   * Fail everything pending (ERR_TARGET_TIMEOUT / ERR_SOURCE_TIMEOUT) when commands are outstanding
   * and no reply has arrived for this long. Off by default (a big RESTORE or FLUSHALL may be slow).
   */
  replyTimeoutMs?: number;
}

const FORM = 'redis://[user:password@]host:port[/db], e.g. redis://default:secret@10.0.0.5:6379/0';

function bad(url: string, why: string): ConfigError {
  return new ConfigError(`invalid Redis URL '${redact(url)}': ${why}`, `use the form ${FORM}`);
}

/**
 * The credentials of a URL as typed, tolerant of what a strict parser refuses: the user info is
 * everything between `://` and the **last** `@` (a password may hold `/`, `@`, `?` or `#`
 * unescaped). `password` is null when there is none; the legacy `redis://PASSWORD@host` form
 * (no colon) is a password.
 */
export function urlCredentials(url: string): { user: string | null; password: string | null } {
  const m = /^[a-z][a-z0-9+.-]*:\/\/(.*)$/is.exec(url.trim());
  const rest = m ? m[1]! : url;
  const at = rest.lastIndexOf('@');
  if (at === -1) return { user: null, password: null };
  const info = rest.slice(0, at);
  const colon = info.indexOf(':');
  if (colon === -1) return { user: null, password: info === '' ? null : info };
  const pass = info.slice(colon + 1);
  return { user: info.slice(0, colon), password: pass === '' ? null : pass };
}

/**
 * The URL with any password replaced by `***`, for messages and logs: `redis://user:***@host:port`,
 * `redis://***@host` for the legacy form. Works on text no parser accepts (that is when it is needed).
 */
export function redactUrl(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(.*)$/is.exec(url);
  const scheme = m ? m[1]! : '';
  const rest = m ? m[2]! : url;
  const at = rest.lastIndexOf('@');
  if (at === -1) return url;
  const info = rest.slice(0, at);
  const colon = info.indexOf(':');
  const shown = colon === -1 ? '***' : `${info.slice(0, colon)}:***`;
  return `${scheme}${shown}${rest.slice(at)}`;
}

const redact = redactUrl;

function decode(url: string, part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw bad(url, `the ${what} has an invalid percent-escape`);
  }
}

/** Parses `redis://[user:pass@]host:port[/db]` (percent-decoded user and password; IPv6 in brackets). */
export function parseRedisUrl(url: string): ConnectOptions {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(url.trim());
  if (!m) throw bad(url, 'it does not start with redis://');
  const scheme = m[1]!.toLowerCase();
  if (scheme === 'rediss') {
    throw new ConfigError(
      `TLS is not supported yet ('${redact(url)}')`,
      'connect through a TLS tunnel (stunnel, spiped) and use a plain redis:// URL to its local end',
    );
  }
  if (scheme !== 'redis') throw bad(url, `unknown scheme '${scheme}://'`);
  let rest = m[2]!;
  const opts: ConnectOptions = { host: '', port: 6379 };
  const at = rest.lastIndexOf('@');
  if (at !== -1) {
    const cred = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = cred.indexOf(':');
    const user = colon === -1 ? cred : cred.slice(0, colon);
    if (user !== '') opts.username = decode(url, user, 'user name');
    if (colon !== -1) {
      const pass = cred.slice(colon + 1);
      if (pass !== '') opts.password = decode(url, pass, 'password');
    } else if (user !== '') {
      // redis://secret@host is the legacy form: a password for the default user.
      opts.password = opts.username!;
      delete opts.username;
    }
  }
  const q = rest.search(/[?#]/);
  if (q !== -1) throw bad(url, 'query parameters are not supported');
  const slash = rest.indexOf('/');
  let dbText = '';
  if (slash !== -1) {
    dbText = rest.slice(slash + 1);
    rest = rest.slice(0, slash);
  }
  let host: string;
  let portText = '';
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end === -1) throw bad(url, 'unterminated IPv6 address');
    host = rest.slice(1, end);
    const after = rest.slice(end + 1);
    if (after !== '' && !after.startsWith(':')) throw bad(url, 'unexpected text after the IPv6 address');
    portText = after.slice(1);
  } else {
    const colon = rest.lastIndexOf(':');
    host = colon === -1 ? rest : rest.slice(0, colon);
    portText = colon === -1 ? '' : rest.slice(colon + 1);
  }
  if (host === '') throw bad(url, 'the host is missing');
  if (!/^[A-Za-z0-9._:%-]+$/.test(host)) throw bad(url, `'${host}' is not a valid host name`);
  opts.host = host;
  if (portText !== '') {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw bad(url, `'${portText}' is not a port number (1-65535)`);
    }
    opts.port = Number(portText);
  }
  if (dbText !== '') {
    if (!/^\d{1,5}$/.test(dbText)) throw bad(url, `'${dbText}' is not a database number`);
    opts.db = Number(dbText);
  }
  return opts;
}

/** `host:port` (and `user@` when a user is set) — never the password. For logs and messages. */
export function describeEndpoint(opts: Pick<ConnectOptions, 'host' | 'port' | 'username'>): string {
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return `${opts.username ? `${opts.username}@` : ''}${host}:${opts.port}`;
}
