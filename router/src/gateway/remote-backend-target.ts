/**
 * A remote backend as the gateway calls it: an external TEI HTTP endpoint or an
 * OpenAI-compatible embeddings endpoint registered in the model catalog (catalog.proto's
 * CatalogBackend), with its health as this router sees it: the control plane's verdict taken as a
 * hint, and the router's own calls counted (a few consecutive failures eject it for a while, as
 * the outlier detector does for TEI replicas). The upstream key is a secret: it is sent as
 * `authorization: Bearer` and never logged, echoed or put in an error.
 */

/** The protocol a remote backend speaks. */
export type RemoteKind = "tei" | "openai";

/** One remote backend, ready to call. */
export interface RemoteTarget {
  readonly name: string;
  readonly kind: RemoteKind;
  /** Base URL without a trailing slash: TEI's root, or the OpenAI API's (…/v1). */
  readonly url: string;
  /** The model name sent upstream; "" sends the name the client used. */
  readonly upstreamModel: string;
  /** The upstream key ("" for none). Never logged. */
  readonly apiKey: string;
  /**
   * Why this router cannot have the key (it came sealed, and this router has no or another
   * TEI_FLEET_SECRETS_KEY); undefined when it can. Such a backend is not called.
   */
  readonly keyProblem?: string;
  /** Per-call timeout, ms. */
  readonly timeoutMs: number;
  /** The router's own view of its health (shared by every resolution of the backend). */
  readonly health: RemoteHealth;
}

/** Consecutive failures of the router's own calls that eject a backend. */
const EJECT_AFTER = 3;
/** First ejection, doubled on each further one up to 10×. */
const EJECT_MS = 5000;

/** A remote backend's health as this router sees it. */
export class RemoteHealth {
  /** The control plane's last verdict: false when it said unhealthy. A hint only. */
  catalogHealthy = true;
  private failures = 0;
  private ejections = 0;
  private ejectedUntil = 0;

  /** True when calls should prefer another target: the control plane says it is down, or this router ejected it. */
  down(now: number = Date.now()): boolean {
    return !this.catalogHealthy || now < this.ejectedUntil;
  }

  /** A call answered (any status the upstream chose on purpose: 2xx, 4xx). */
  ok(): void {
    this.failures = 0;
    this.ejections = 0;
  }

  /** A call failed (no answer, a timeout, a 5xx); true when this failure ejected it. */
  failed(now: number = Date.now()): boolean {
    this.failures++;
    if (this.failures < EJECT_AFTER) return false;
    this.failures = 0;
    this.ejectedUntil = now + Math.min(EJECT_MS * 2 ** this.ejections, EJECT_MS * 10);
    this.ejections++;
    return true;
  }
}

/** Where a backend's calls go, as a log line or a span may name it. */
export interface RemoteAddress {
  /** The base URL without credentials, query or fragment (`url.full` of a span is this plus the route). */
  readonly loggable: string;
  readonly host: string;
  /** The port, the scheme's default when the URL names none; 0 when the URL cannot be read. */
  readonly port: number;
}

const addresses = new WeakMap<RemoteTarget, RemoteAddress>();

/**
 * The address of `t`, read once per entry. A base URL may carry credentials
 * (`https://user:secret@host/v1`): they are never part of what is logged or traced.
 */
export function remoteAddress(t: RemoteTarget): RemoteAddress {
  let a = addresses.get(t);
  if (a !== undefined) return a;
  try {
    const u = new URL(t.url);
    u.username = "";
    u.password = "";
    u.search = "";
    u.hash = "";
    const host = u.hostname.startsWith("[") && u.hostname.endsWith("]") ? u.hostname.slice(1, -1) : u.hostname;
    a = { loggable: u.href.replace(/\/+$/, ""), host, port: u.port !== "" ? Number(u.port) : u.protocol === "https:" ? 443 : 80 };
  } catch {
    a = { loggable: "(unreadable url)", host: "", port: 0 };
  }
  addresses.set(t, a);
  return a;
}
