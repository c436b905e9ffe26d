/**
 * The built CLI (`node dist/replica.js sync …`) as a child process for the fault tests, with its
 * stderr readable while it runs: how the source link started (full / partial, from the log), the
 * status server's URL, the exit code and message.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { CLI, REPO } from '../helpers/cli.js';
import type { TestServer } from '../helpers/server.js';

export interface CliRun {
  proc: ChildProcess;
  stderr(): string;
  /** Resolves when a stderr line matches (rejects on exit or after `ms`). */
  waitLog(re: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** 'full' or 'continue': how the first source link of this run started. */
  started(ms?: number): Promise<'full' | 'continue'>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

const running = new Set<ChildProcess>();

/** For afterEach: kill -9 whatever is still running. */
export function killAll(): void {
  for (const p of running) p.kill('SIGKILL');
  running.clear();
}

export const url = (s: { host: string; port: number }) => `redis://${s.host}:${s.port}`;

/** `sync --source src --target dst` plus `extra` flags. */
export function startSync(
  src: { host: string; port: number } | null,
  dst: { host: string; port: number } | TestServer,
  extra: string[] = [],
): CliRun {
  const args = [CLI, ...(src ? ['--source', url(src)] : []), '--target', url(dst), '--no-progress', ...extra];
  const proc = spawn(process.execPath, args, {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  running.add(proc);
  let err = '';
  const watchers = new Set<() => void>();
  let closed = false;
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString('utf8');
    for (const w of watchers) w();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((r) =>
    proc.on('close', (code, signal) => {
      running.delete(proc);
      closed = true; // before the watchers: a waitLog rejects at once, not after its deadline
      for (const w of watchers) w();
      r({ code, signal, stderr: err });
    }),
  );
  const waitLog = (re: RegExp, ms = 60_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const m = re.exec(err);
        if (m) done(() => resolve(m));
        else if (closed) done(() => reject(new Error(`exited before ${re}:\n${err.slice(-3000)}`)));
      };
      const t = setTimeout(
        () => done(() => reject(new Error(`no ${re} in ${ms} ms:\n${err.slice(-3000)}`))),
        ms,
      );
      const done = (f: () => void) => {
        clearTimeout(t);
        watchers.delete(check);
        f();
      };
      watchers.add(check);
      check();
    });
  return {
    proc,
    stderr: () => err,
    waitLog,
    async started(ms = 60_000) {
      const m = await waitLog(/partial resync accepted|full sync starting/, ms);
      return m[0].startsWith('partial') ? 'continue' : 'full';
    },
    exited,
    async stop() {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

/** GET /status of a run started with `--status-port 0`. */
export async function status(run: CliRun): Promise<Record<string, unknown>> {
  const m = await run.waitLog(/status server listening.*url=(\S+)/);
  const res = await fetch(`${m[1]}/status`);
  return (await res.json()) as Record<string, unknown>;
}
