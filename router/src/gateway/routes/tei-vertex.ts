/**
 * TEI's `POST /vertex` (Google Vertex AI's prediction shape): `{"instances": [request, ...]}`,
 * each instance a request body for the route of the model's type (as `POST /invocations`),
 * answered `{"predictions": [answer, ...]}` in order. Each instance runs as a request of its own
 * (logged and counted under its route) whose answer is captured; the first failure answers the
 * whole request with that instance's error.
 */
import { GatewayRequest, type RouteSpec } from "../gateway-request.ts";
import type { HttpResponse } from "../http-exchange.ts";
import { vertexInstances } from "../tei-bodies.ts";
import { routeForType } from "./tei-invocations.ts";

function handle(rq: GatewayRequest, body: Record<string, unknown>): void {
  const instances = vertexInstances(body);
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
