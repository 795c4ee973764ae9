import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { CatalogService, RemoteBackendKind } from "@tei-fleet/proto/fleet/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, bearer, READ } from "./api-fixtures.ts";
import { eventsOf, startCatalogApi } from "./catalog-fixtures.ts";

let api: Awaited<ReturnType<typeof startCatalogApi>>;
beforeAll(async () => {
  api = await startCatalogApi();
});
afterAll(async () => {
  await api.close();
});

async function expectCode(call: Promise<unknown>, code: Code, apiCode: string, field?: string) {
  const err = await call.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(err, "the call should have failed").toBeDefined();
  expect(Code[err!.code]).toBe(Code[code]);
  expect(err!.metadata.get("x-error-code")).toBe(apiCode);
  if (field) expect(err!.metadata.get("x-error-field")).toBe(field);
  return err!;
}

const SECRET = "sk-connect-upstream-9876543210SECRET";

describe.each([
  ["gRPC", (baseUrl: string, token: string) => createGrpcTransport({ baseUrl, interceptors: [bearer(token)] })],
  ["Connect JSON", (baseUrl: string, token: string) => createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [bearer(token)] })],
])("CatalogService over %s", (label, make) => {
  const n = (base: string) => `${base}-${label.replace(/[^a-z]/gi, "").toLowerCase()}`;
  const client = () => createClient(CatalogService, make(api.url, ADMIN));

  it("puts, gets, lists, disables and deletes an alias, the same entry REST shows", async () => {
    const name = n("alias");
    const put = await client().putAlias({
      alias: {
        name,
        targets: [
          { target: { case: "modelId", value: "BAAI/bge-small-en-v1.5" }, weight: 95 },
          { target: { case: "instance", value: "bge-next" }, weight: 5 },
        ],
      },
    });
    expect(put.created).toBe(true);
    expect(put.alias).toMatchObject({ name, revision: 1n, enabled: true });
    expect((await client().getAlias({ name })).alias?.targets.map((t) => t.weight)).toEqual([95, 5]);
    const rest = await api.rest("GET", `/catalog/aliases/${name}`);
    expect(rest.body.targets).toEqual([
      { model_id: "BAAI/bge-small-en-v1.5", weight: 95 },
      { instance: "bge-next", weight: 5 },
    ]);
    const off = await client().setEnabled({ target: { case: "alias", value: name }, enabled: false, reason: "paused" });
    expect(off.entry).toMatchObject({ case: "alias", value: { enabled: false, reason: "paused", revision: 2n } });
    await expectCode(client().deleteAlias({ name, expectedRevision: 1n }), Code.Aborted, "REVISION_MISMATCH", "expected_revision");
    const list = await client().listAliases({ pageSize: 1000 });
    expect(list.aliases.map((a) => a.name)).toContain(name);
    await client().deleteAlias({ name, expectedRevision: 2n });
    await expectCode(client().getAlias({ name }), Code.NotFound, "ALIAS_NOT_FOUND", "name");
  });

  it("refuses bad input with the REST API's codes and fields", async () => {
    const name = n("bad");
    await expectCode(client().putAlias({ alias: { name, targets: [] } }), Code.InvalidArgument, "VALIDATION_ERROR", "targets");
    await expectCode(client().putAlias({ alias: { name, targets: [{ weight: 2 }] } }), Code.InvalidArgument, "VALIDATION_ERROR", "targets.0");
    await expectCode(
      client().putAlias({ alias: { name, targets: [{ target: { case: "alias", value: name } }] } }),
      Code.InvalidArgument,
      "ALIAS_CYCLE",
      "targets.0.alias",
    );
    await expectCode(
      client().putAlias({ alias: { name: "UPPER", targets: [{ target: { case: "modelId", value: "m" } }] } }),
      Code.InvalidArgument,
      "VALIDATION_ERROR",
      "name",
    );
    await expectCode(client().putAlias({}), Code.InvalidArgument, "MISSING_FIELD", "alias");
    await expectCode(client().putBackend({ backend: { name, url: "http://x" } }), Code.InvalidArgument, "VALIDATION_ERROR", "kind");
    await expectCode(client().setEnabled({ enabled: false }), Code.InvalidArgument, "MISSING_FIELD", "target");
    await expectCode(client().listAliases({ pageSize: 5000 }), Code.InvalidArgument, "VALIDATION_ERROR", "page_size");
  });

  it("keeps a backend's key secret: has_api_key and a hint, never the key", async () => {
    const name = n("backend");
    const put = await client().putBackend({ backend: { name, kind: RemoteBackendKind.TEI, url: "http://tei.example:8080" }, apiKey: SECRET });
    expect(put.backend).toMatchObject({ name, hasApiKey: true, apiKeyHint: "…CRET" });
    expect(JSON.stringify(put.backend, (_k, v) => (typeof v === "bigint" ? String(v) : v))).not.toContain(SECRET);
    // Unset api_key keeps it; "" removes it.
    expect((await client().putBackend({ backend: { name, kind: RemoteBackendKind.TEI, url: "http://tei.example:8081" } })).backend?.hasApiKey).toBe(true);
    expect((await client().putBackend({ backend: { name, kind: RemoteBackendKind.TEI, url: "http://tei.example:8081" }, apiKey: "" })).backend?.hasApiKey).toBe(
      false,
    );
    expect(api.logs.join("")).not.toContain(SECRET);
    expect(JSON.stringify(await eventsOf(api, "catalog.backend."))).not.toContain(SECRET);
  });

  it("switches a model id off and on, and lets the read token read but not write", async () => {
    const off = await client().setEnabled({ target: { case: "modelId", value: `org/${n("model")}` }, enabled: false });
    expect(off.entry).toMatchObject({ case: "model", value: { enabled: false, revision: 1n } });
    const reader = createClient(CatalogService, make(api.url, READ));
    expect((await reader.listModels({})).models.map((m) => m.modelId)).toContain(`org/${n("model")}`);
    await expectCode(reader.putModel({ model: { modelId: "x" } }), Code.PermissionDenied, "FORBIDDEN");
  });
});
