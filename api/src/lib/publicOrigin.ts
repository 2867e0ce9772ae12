import type { FastifyRequest } from "fastify";

/**
 * The origin clients reach this API at, which resource URLs (in 402s and discovery) start with:
 * the configured `publicUrl`, else the origin the request was addressed to (its protocol and Host;
 * behind a reverse proxy, set `publicUrl` or Fastify's `trustProxy`).
 *
 * @example
 * const url = `${publicOrigin(app.config, request)}/v1/proxy/weather-api/forecast`;
 */
export function publicOrigin(config: { publicUrl?: string | undefined }, request: FastifyRequest): string {
  return config.publicUrl?.replace(/\/+$/, "") ?? `${request.protocol}://${request.host}`;
}
