/** Public API of the configuration layer: one schema, parsed and validated once, frozen. */
export { type Config, ConfigProblems, parseConfig } from './parse.js';
export { helpText } from './help.js';
export {
  COMMANDS,
  type CommandName,
  CONFLICT_MODES,
  type ConflictMode,
  FLAGS,
  type FlagSpec,
  LOG_LEVELS,
  type LogLevel,
} from './schema.js';
export { parseDbMap, parseDbs, parseSize, redactUrl } from './values.js';
