export { buildApp } from "./app.ts";
export { defaultApiConfig } from "./config.ts";
export type { ApiConfig, ApiConfigOverrides } from "./config.ts";
export { startServer } from "./server.ts";
