/**
 * Run a program to its end and collect what it printed (the benches' child processes: redis-cli, a
 * node child that measures its own peak RSS). Rejects on a non-zero exit unless `anyCode`;
 * `countLines` counts stdout lines instead of keeping them (a million key names).
 */
import { spawn } from 'node:child_process';

export function run(cmd, args, opts = {}) {
  const { countLines = false, anyCode = false, ...spawnOpts } = opts;
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOpts });
    let out = '';
    let err = '';
    let lines = 0;
    p.stdout?.on('data', (d) => {
      if (countLines) lines += d.toString('latin1').split('\n').length - 1;
      else out += d;
    });
    p.stderr?.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) =>
      code === 0 || anyCode
        ? resolve({ out, err, lines, code })
        : reject(new Error(`${cmd} exited ${code}: ${err || out}`)),
    );
  });
}
