export { MCP_ERROR_META_KEY, createAgentTabMcpServer } from "./server.ts";
export type { AgentTabMcpServerOptions } from "./server.ts";
export { serveMcpStdio } from "./stdio.ts";
export type { McpServerSource } from "./stdio.ts";
export { startMcpHttpServer } from "./http.ts";
export type { McpHttpServer } from "./http.ts";
export { X402_PAYMENT_META_KEY, X402_PAYMENT_RESPONSE_META_KEY, createX402McpServer } from "./x402.ts";
export type { X402McpServerOptions } from "./x402.ts";
