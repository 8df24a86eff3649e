export {
  loadConfig,
  disposeConfig,
  CONFIG_FILE,
  DEFAULT_CONFIG_ENV,
  type LoadConfigOptions,
} from "./load.js";
export { resolveIsv, type IsvOverrides } from "./isv.js";
export { redact, redactIsv } from "./redact.js";
export { defaultStateDir } from "./build.js";
export type * from "./types.js";
