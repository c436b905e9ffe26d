/**
 * Connections to Redis/Valkey servers: URL parsing, the pipelined RedisConnection, the reply-error
 * classifier and the server probe. Ours because it runs on our RESP module (see src/resp/types.ts).
 */
export { RedisConnection, type ReplyCallback, type ReplyError } from './connection.js';
export {
  authError,
  classifyReplyError,
  connectError,
  connectionLostError,
  nopermError,
  type ReplyAction,
  type ReplyClass,
  type Role,
} from './errors.js';
export { maxRdbVersionFor, probeServer, type ServerInfo, versionNumber } from './probe.js';
export { type ConnectOptions, describeEndpoint, parseRedisUrl } from './url.js';
