/**
 * Route options the HTTP host (src/entrypoints/http/http-server.ts) acts on. A module's route
 * sets them in its `config`; this file is what both sides agree on.
 */
declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route starts a saga: refused with 503 OVERLOADED while the consumers lag (the host's AdmissionCheck). */
    startsSaga?: boolean;
  }
}

/** `config` of a route that starts a saga. */
export const STARTS_SAGA = { startsSaga: true } as const;
