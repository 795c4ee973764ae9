/**
 * How the router's tracing settings are resolved: OpenTelemetry's own `OTEL_*` variables where
 * the router's flags and `TEI_FLEET_ROUTER_*` twins say nothing (router/src/tracing/otel-environment.ts).
 */
import { describe, expect, test } from "vitest";
import { resolveRouterConfig } from "../../src/cli.ts";

describe("OpenTelemetry's variables configure tracing where the router's settings do not", () => {
  const flags = { routesFile: "r.json" };

  test("OTEL_EXPORTER_OTLP_ENDPOINT is a base URL, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT the traces URL as it is, the router's flag wins", () => {
    expect(resolveRouterConfig(flags, { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }).otlpEndpoint).toBe("http://collector:4318/v1/traces");
    expect(resolveRouterConfig(flags, { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/otlp/" }).otlpEndpoint).toBe(
      "http://collector:4318/otlp/v1/traces",
    );
    expect(
      resolveRouterConfig(flags, { OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://b:4318/custom" }).otlpEndpoint,
    ).toBe("http://b:4318/custom");
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", TEI_FLEET_ROUTER_OTLP_ENDPOINT: "http://c:4318" };
    expect(resolveRouterConfig(flags, env).otlpEndpoint).toBe("http://c:4318/v1/traces");
    expect(resolveRouterConfig({ ...flags, otlpEndpoint: "http://d:4318/v1/traces" }, env).otlpEndpoint).toBe("http://d:4318/v1/traces");
  });

  test("OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER=none switch the variables off; OTEL_SERVICE_NAME and the sampler are taken", () => {
    expect(resolveRouterConfig(flags, { OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_SDK_DISABLED: "true" }).otlpEndpoint).toBeUndefined();
    expect(resolveRouterConfig(flags, { OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_TRACES_EXPORTER: "none" }).otlpEndpoint).toBeUndefined();
    const c = resolveRouterConfig(flags, {
      OTEL_SERVICE_NAME: "edge-router",
      OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
      OTEL_TRACES_SAMPLER_ARG: "0.25",
    });
    expect(c).toMatchObject({ otelServiceName: "edge-router", otelTracesSampler: "parentbased_traceidratio", otelTracesSamplerArg: "0.25" });
  });

  test("a bad endpoint is refused naming the variable it came from", () => {
    expect(() => resolveRouterConfig(flags, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "collector:4317" })).toThrow(
      /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: must be an http\(s\) URL/,
    );
    expect(() => resolveRouterConfig(flags, { TEI_FLEET_ROUTER_OTLP_ENDPOINT: "nowhere" })).toThrow(
      /--otlp-endpoint \/ TEI_FLEET_ROUTER_OTLP_ENDPOINT: must be/,
    );
  });
});
