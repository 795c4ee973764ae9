import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { keyInputFromProto } from "@tei-fleet/core/keys";
import {
  ApiKeyService,
  CreateApiKeyResponseSchema,
  DeleteApiKeyResponseSchema,
  GetApiKeyResponseSchema,
  ListApiKeysResponseSchema,
  RevokeApiKeyResponseSchema,
  RotateApiKeyResponseSchema,
  UpdateApiKeyResponseSchema,
} from "@tei-fleet/proto/fleet/v1";
import { pageOf, revisionCondition } from "../catalog/catalog-connect.ts";
import { ApiError } from "../errors/api-error.ts";
import type { ApiKeyService as Keys } from "./api-key-service.ts";

/**
 * ApiKeyService over Connect, gRPC and gRPC-web: the REST routes' operations, messages turned
 * into REST bodies and checked by the same core schema. Errors are mapped by the server's
 * interceptor.
 */
export function keyConnectRoutes(keys: Keys): (router: ConnectRouter) => void {
  const settings = (key: Parameters<typeof keyInputFromProto>[0] | undefined) => {
    if (key === undefined) throw new ApiError("MISSING_FIELD", "key is required", { field: "key" });
    return keyInputFromProto(key);
  };
  return (router) =>
    router.service(ApiKeyService, {
      async createApiKey(req) {
        const issued = await keys.create(settings(req.key));
        return create(CreateApiKeyResponseSchema, { key: issued.key, secret: issued.secret });
      },
      async getApiKey(req) {
        return create(GetApiKeyResponseSchema, { key: await keys.get(req.id) });
      },
      async listApiKeys(req) {
        const { after, limit } = pageOf(req);
        const page = await keys.list(after, limit);
        return create(ListApiKeysResponseSchema, { keys: page.keys, nextPageToken: page.next });
      },
      async updateApiKey(req) {
        return create(UpdateApiKeyResponseSchema, { key: await keys.update(req.key?.id ?? "", settings(req.key), revisionCondition(req.expectedRevision)) });
      },
      async rotateApiKey(req) {
        const issued = await keys.rotate(req.id, { grace_seconds: req.graceSeconds }, revisionCondition(req.expectedRevision));
        return create(RotateApiKeyResponseSchema, { key: issued.key, secret: issued.secret });
      },
      async revokeApiKey(req) {
        return create(RevokeApiKeyResponseSchema, { key: await keys.revoke(req.id, revisionCondition(req.expectedRevision)) });
      },
      async deleteApiKey(req) {
        await keys.delete(req.id, revisionCondition(req.expectedRevision));
        return create(DeleteApiKeyResponseSchema);
      },
    });
}
