/**
 * Run the built CLI (`node dist/replica.js …`) as a child process and capture what it printed.
 * Tests go through the real binary so argument parsing, exit codes and stderr formatting are covered.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(REPO, 'dist/replica.js');
export const FIXTURES = path.resolve(REPO, '../shared/fixtures');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout as bytes (for binary output). */
  stdoutBytes: Buffer;
}

export interface CliOptions {
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Called once the child started (e.g. to send it a signal later). */
  onSpawn?: (child: import('node:child_process').ChildProcess) => void;
}

export function cliBuilt(): boolean {
  return existsSync(CLI);
}

export function runCli(args: string[], o: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: REPO,
      // No inherited REPLICANT_* settings: the test states everything it relies on.
      env: { PATH: process.env.PATH ?? '', ...o.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 120_000);
    o.onSpawn?.(child);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code,
        signal,
        stdout: stdoutBytes.toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        stdoutBytes,
      });
    });
  });
}

/** Assert-friendly view: a user-facing error is `error [CODE]: one line` + `hint: …`, no stack. */
export function parseCliError(
  stderr: string,
): { code: string; message: string; hint: string | null; hasStack: boolean } | null {
  const m = /^error \[([A-Z0-9_]+)\]: (.*)$/m.exec(stderr);
  if (!m) return null;
  const h = /^hint: (.*)$/m.exec(stderr);
  return {
    code: m[1]!,
    message: m[2]!,
    hint: h ? h[1]! : null,
    hasStack: /^\s+at .+:\d+:\d+\)?$/m.test(stderr),
  };
}
