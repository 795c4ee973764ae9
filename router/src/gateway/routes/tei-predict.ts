/**
 * TEI's `POST /predict`: `inputs` as one text (`"a"`), one pair (`["a", "b"]`) or a batch of
 * either (`[["a"], ["a", "b"], "c"]`), read as TEI's untagged serde enum does; `raw_scores`
 * (false), `truncate` (auto: true), `truncation_direction`. A text is one `Predict`, a pair one
 * `PredictPair`; a batch runs them in parallel. The answer is the predictions sorted by score,
 * descending, or a list of such lists for a batch.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { PredictResponseSchema } from "@tei-fleet/proto/tei/v1";
import { METHODS, type MethodSpec } from "../../tei/method-table.ts";
import type { GatewayRequest, RouteSpec } from "../gateway-request.ts";
import { predictRequest } from "../grpc-request.ts";
import { MetaSum, sumMetadata } from "../grpc-response.ts";
import { direction, optBool } from "../json-fields.ts";
import { predictInputs } from "../tei-bodies.ts";
import { plan } from "./dense-embed.ts";

const PREDICT = METHODS.get("/tei.v1.Predict/Predict") as MethodSpec;
const PREDICT_PAIR = METHODS.get("/tei.v1.Predict/PredictPair") as MethodSpec;

function handle(rq: GatewayRequest, body: Record<string, unknown>): void {
  const { seqs, batch } = predictInputs(body.inputs);
  const rawScores = optBool(body, "raw_scores") ?? false;
  const truncate = optBool(body, "truncate") ?? true;
  const dir = direction(body);
  // A batch mixing texts and pairs needs both methods: each kind runs as its own batch.
  const pairs = seqs.filter((s) => s.length === 2).length;
  if (pairs !== 0 && pairs !== seqs.length) {
    runMixed(rq, seqs, truncate, rawScores, dir, batch);
    return;
  }
  const frames = seqs.map((s) => predictRequest(s, truncate, rawScores, dir));
  rq.run(pairs === 0 ? PREDICT : PREDICT_PAIR, frames, plan(rq, seqs.length).window, (b) => {
    const meta = new MetaSum();
    const lists = b.answers.map((a) => predictions(a, meta));
    rq.ok(JSON.stringify(batch ? lists : lists[0]), meta);
  });
}

function predictions(a: Buffer, meta: MetaSum): { score: number; label: string }[] {
  sumMetadata(a, meta);
  return fromBinary(PredictResponseSchema, a)
    .predictions.map((p) => ({ score: p.score, label: p.label }))
    .sort((x, y) => y.score - x.score);
}

function runMixed(rq: GatewayRequest, seqs: string[][], truncate: boolean, rawScores: boolean, dir: 0 | 1, batch: boolean): void {
  const singles: number[] = [];
  const pairs: number[] = [];
  for (let i = 0; i < seqs.length; i++) (seqs[i]?.length === 2 ? pairs : singles).push(i);
  const window = plan(rq, seqs.length).window;
  const out = new Array<{ score: number; label: string }[]>(seqs.length);
  const meta = new MetaSum();
  rq.run(
    PREDICT,
    singles.map((i) => predictRequest(seqs[i] as string[], truncate, rawScores, dir)),
    window,
    (b1) => {
      b1.answers.forEach((a, k) => {
        out[singles[k] as number] = predictions(a, meta);
      });
      rq.run(
        PREDICT_PAIR,
        pairs.map((i) => predictRequest(seqs[i] as string[], truncate, rawScores, dir)),
        window,
        (b2) => {
          b2.answers.forEach((a, k) => {
            out[pairs[k] as number] = predictions(a, meta);
          });
          rq.ok(JSON.stringify(batch ? out : out[0]), meta);
        },
      );
    },
  );
}

/** `/predict`. */
export const TEI_PREDICT: RouteSpec = { name: "/predict", family: "tei", method: "POST", needsModel: true, handler: handle };
