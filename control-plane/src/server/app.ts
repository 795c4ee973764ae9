import type { Server } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import type { ConnectRouter } from "@connectrpc/connect";
import { fastifyConnectPlugin } from "@connectrpc/connect-fastify";
import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import { type FastifyBaseLogger, type FastifyPluginAsync, fastify, LogController } from "fastify";
import type { ApiContext } from "../api/api-context.ts";
import { createConnectAuthGate } from "../connect/connect-auth.ts";
import { errorMappingInterceptor } from "../connect/connect-errors.ts";
import { registerInstanceService } from "../connect/instance-service-impl.ts";
import { reportMalformedRequestsAsInvalidArgument } from "../connect/malformed-request.ts";
import { restApi } from "../rest/rest-api.ts";
import { installErrorHandlers } from "../rest/rest-errors.ts";
import {
  createDualProtocolServer,
  type DualProtocolServerOptions,
  type DualRequestHandler,
  discardLimits,
  dualProtocolServerSettings,
} from "./dual-protocol-server.ts";
import { settleHttp2Upload } from "./http2-upload.ts";

/** Options of {@link buildApp}. */
export interface AppOptions {
  /** Largest REST JSON body, bytes. Default 256 KiB. */
  bodyLimit?: number;
  /** Largest Connect/gRPC message, bytes. Default 4 MiB. */
  rpcReadMaxBytes?: number;
  /** On close, in-flight RPCs (watches) get this long before they are aborted, ms. Default 2000. */
  shutdownTimeoutMs?: number;
  /** Registers more Connect services (the scheduler's AgentService, RouteService, NodeService). */
  connectRoutes?: (router: ConnectRouter) => void;
  /** More REST plugins (the scheduler's node and plan routes). */
  restPlugins?: FastifyPluginAsync[];
  /** The version shown in the OpenAPI document. */
  version?: string;
  /** Settings of the HTTP/1.1 + h2c server (timeouts, header limit, draining of refused uploads). */
  server?: DualProtocolServerOptions;
}

/**
 * Builds the control plane's Fastify app: REST (tei-manager compatible) and Connect (Connect,
 * gRPC, gRPC-web) on one server, which a {@link createDualProtocolServer} lets HTTP/1.1 and h2c
 * clients share on one port. The OpenAPI document is generated from the REST route schemas.
 */
export async function buildApp(ctx: ApiContext, options: AppOptions = {}) {
  const server = dualProtocolServerSettings(options.server);
  const app = fastify({
    loggerInstance: ctx.logger as FastifyBaseLogger,
    // Typed as Fastify's default (HTTP/1.1) server: the HTTP/2 compatibility API has the same
    // request/response surface, and Fastify checks httpVersionMajor at run time.
    serverFactory: (handler) => createDualProtocolServer(handler as DualRequestHandler, server) as unknown as Server,
    // REST bodies have their own limit in the REST context; Connect reads bodies itself.
    bodyLimit: options.bodyLimit ?? 256 * 1024,
    // One log line per request would drown the log in agent heartbeats; failures are logged.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  });
  installErrorHandlers(app);
  app.addHook("onSend", async (request, reply, payload) => {
    if (request.raw.httpVersionMajor !== 2) return payload;
    // Fastify asks to close the connection after a refused body; HTTP/2 has no such header (Node
    // drops it with a warning), and the stream ends by itself.
    reply.removeHeader("connection");
    // An answer sent before its upload was read (a 413, a 401 on a large POST) waits for it.
    await settleHttp2Upload(request.raw as unknown as Http2ServerRequest, discardLimits(server));
    return payload;
  });
  app.addHook("onResponse", async (request, reply) => {
    ctx.metrics.observeRequest(request.method, request.routeOptions.url ?? "unmatched", reply.statusCode, reply.elapsedTime / 1000);
    if (reply.statusCode >= 500) request.log.warn({ method: request.method, url: request.url, status: reply.statusCode }, "request failed");
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "TEI Fleet control plane",
        description:
          "tei-manager compatible REST API of TEI Fleet. Every operation is also served over Connect, gRPC and gRPC-web on the same port (tei_fleet.v1.InstanceService). Send `authorization: Bearer <token>`: the admin token for changes, the read token (or admin) for GETs.",
        version: options.version ?? "0.1.0",
      },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
      tags: [{ name: "instances" }, { name: "fleet" }, { name: "nodes" }, { name: "catalog" }, { name: "keys" }],
    },
    // Connect's routes and the hidden 405 routes carry no tag: keep them out of the document.
    hideUntagged: true,
  });
  await app.register(fastifySwaggerUi, { routePrefix: "/docs" });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  await app.register(restApi, { ctx, bodyLimit: options.bodyLimit ?? 256 * 1024, plugins: options.restPlugins });
  const authGate = createConnectAuthGate(ctx.auth);
  await app.register(fastifyConnectPlugin, {
    routes: (router) => {
      registerInstanceService(router, ctx);
      options.connectRoutes?.(router);
    },
    // The gate runs for every RPC before its body is read: the one place to see each request first.
    requestGate: async (context) => {
      reportMalformedRequestsAsInvalidArgument(context);
      await authGate(context);
    },
    interceptors: [errorMappingInterceptor(ctx.logger)],
    readMaxBytes: options.rpcReadMaxBytes ?? 4 * 1024 * 1024,
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? 2000,
  });
  return app;
}
