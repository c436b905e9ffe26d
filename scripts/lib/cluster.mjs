// A throwaway Redis Cluster of N masters (no replicas) for the benches: N servers from servers.mjs with
// cluster mode on, the 16384 slots split evenly (CLUSTER ADDSLOTSRANGE), joined by CLUSTER MEET, ready
// when every node says cluster_state:ok. Tests have their own TypeScript helper (test/helpers/cluster.ts).
import { spawnSync } from 'node:child_process';
import { sleep, startRedisServer } from './servers.mjs';

const cli = (port, ...cmd) => {
  const r = spawnSync('redis-cli', ['-p', String(port), ...cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`redis-cli ${cmd.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

/** Returns { nodes: [{ port, pid, stop }], url, dbsize(), stop() }. */
export async function startCluster(masters) {
  const nodes = [];
  for (let i = 0; i < masters; i++)
    nodes.push(
      await startRedisServer({
        args: [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${i}.conf`,
          '--cluster-node-timeout',
          '5000',
        ],
      }),
    );
  const per = Math.ceil(16384 / masters);
  nodes.forEach((n, i) => {
    cli(n.port, 'CLUSTER', 'ADDSLOTSRANGE', String(i * per), String(Math.min(16383, (i + 1) * per - 1)));
  });
  for (const n of nodes.slice(1)) cli(n.port, 'CLUSTER', 'MEET', '127.0.0.1', String(nodes[0].port));
  for (let i = 0; ; i++) {
    if (nodes.every((n) => cli(n.port, 'CLUSTER', 'INFO').includes('cluster_state:ok'))) break;
    if (i > 600) throw new Error('the bench cluster did not reach cluster_state:ok in 60 s');
    await sleep(100);
  }
  return {
    nodes,
    url: nodes[0].url,
    dbsize: () => nodes.reduce((a, n) => a + Number(cli(n.port, 'DBSIZE')), 0),
    stop: () => {
      for (const n of nodes) n.stop();
    },
  };
}
