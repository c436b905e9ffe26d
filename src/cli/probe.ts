/**
 * Target checks on top of src/net's `probeServer`: the CLI refuses, before writing anything, targets
 * this command cannot write to (cluster nodes, read-only replicas, a server whose version it could
 * not learn). The ServerInfo is the sink's TargetCaps as is.
 */
import { ReplicantError } from '../errors.js';
import type { RedisConnection } from '../net/connection.js';
import { probeServer, type ServerInfo } from '../net/probe.js';

export async function probeCaps(
  conn: RedisConnection,
  address: string,
  allowCluster = false,
): Promise<ServerInfo> {
  const info = await probeServer(conn);
  if (info.versionNum === 0) {
    throw new ReplicantError(
      'ERR_TARGET_PROBE',
      `target ${address} did not say which server it is (INFO and HELLO refused)`,
      {
        hint: 'grant the target user +info (and +config|get, +command) so replicant can check what the target accepts',
      },
    );
  }
  if (info.clusterEnabled && !allowCluster) {
    throw new ReplicantError('ERR_TARGET_CLUSTER', `target ${address} is a cluster node`, {
      hint: 'cluster targets are not supported by this command yet; use a standalone target',
    });
  }
  // A cluster replica is a fine seed: the writes go to the masters the slot map names.
  if ((info.role === 'slave' || info.role === 'replica') && !(info.clusterEnabled && allowCluster)) {
    throw new ReplicantError('ERR_TARGET_READONLY', `target ${address} is a replica (read-only)`, {
      hint: 'point --target at its primary',
    });
  }
  return info;
}
