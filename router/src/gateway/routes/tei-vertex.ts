/**
 * TEI's `POST /vertex` (Google Vertex AI's prediction shape): `{"instances": [request, ...]}`,
 * each instance a request body for the route of the model's type (as `POST /invocations`),
 * answered `{"predictions": [answer, ...]}` in order. Each instance runs as a request of its own
 * (logged and counted under its route) whose answer is captured; the first failure answers the
 * whole request with that instance's error.
 */
import { emptyField, invalidField } from "../gateway-error.ts";
import { GatewayRequest, type RouteSpec } from "../gateway-request.ts";
import type { HttpResponse } from "../http-exchange.ts";
import { kind } from "../json-fields.ts";
import { routeForType } from "./tei-invocations.ts";

/** The most instances one request may carry. */
const MAX_INSTANCES = 1024;

function handle(rq: GatewayRequest, body: Record<string, unknown>): void {
  const instances = body.instances;
  if (!Array.isArray(instances)) throw invalidField("instances", `expected an array of request bodies, got ${kind(instances)}`);
  if (instances.length === 0) throw emptyField("instances", "`instances` cannot be empty");
  if (instances.length > MAX_INSTANCES) throw invalidField("instances", `at most ${MAX_INSTANCES} instances per request, got ${instances.length}`);
  instances.forEach((x, i) => {
    if (typeof x !== "object" || x === null || Array.isArray(x)) throw invalidField(`instances[${i}]`, `expected an object, got ${kind(x)}`);
  });
  rq.gw.models.withInfo(rq.resolved, (info) => {
    const route = routeForType(info);
    const predictions = new Array<unknown>(instances.length);
    let left = instances.length;
    let over = false;
    instances.forEach((instance, i) => {
      let status = 0;
      const capture: HttpResponse = {
        writeHead(s) {
          status = s;
        },
        end(text = "") {
          if (over) return;
          if (status !== 200) {
            over = true;
            rq.send(status, text, "application/json");
            return;
          }
          predictions[i] = JSON.parse(text);
          if (--left === 0) rq.ok(JSON.stringify({ predictions }), null);
        },
        on() {},
      };
      const sub = new GatewayRequest(rq.gw, rq.req, capture, route, rq.grpcHeaders);
      sub.model = rq.model;
      try {
        const r = route.handler(sub, instance as Record<string, unknown>);
        if (r instanceof Promise) r.catch((err: unknown) => sub.fail(err));
      } catch (err) {
        sub.fail(err);
      }
    });
  });
}

/** `/vertex`. */
export const TEI_VERTEX: RouteSpec = { name: "/vertex", family: "tei", method: "POST", needsModel: true, handler: handle };
