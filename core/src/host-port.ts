/**
 * Listen addresses as every service writes them: `HOST:PORT`, `[IPv6]:PORT` or `:PORT`. One parser
 * for the control plane's `--listen`, the agent's `--listen` and the router's `--listen` and
 * `--metrics-listen`; each had its own regex and they disagreed (one accepted `:9001`, one bare
 * IPv6, one no port range check).
 */

/** A parsed listen address; `host` without brackets (what `net.listen` takes). */
export interface HostPort {
  host: string;
  port: number;
}

/** The host a `:PORT` address listens on: every IPv4 interface, as Node's own default would. */
export const ANY_HOST = "0.0.0.0";

/** The address rule in words, for messages: "… must be " + this. */
export const HOST_PORT_RULE = "HOST:PORT or [IPv6]:PORT with a port from 0 to 65535";

const BRACKETED = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/;
const PLAIN = /^([^:\s[\]]*):(\d{1,5})$/;
// An unbracketed IPv6 host (`::1:9000`) is read as everything before the last colon: a port is
// always required, so that is the only reading. Accepted because the control plane did.
const BARE_IPV6 = /^([0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*):(\d{1,5})$/;

/**
 * Parses a listen address, or returns undefined when `value` is not one (callers word the
 * refusal with their flag's name and {@link HOST_PORT_RULE}). Port 0 is allowed: "pick a free
 * port", which tests rely on. Surrounding whitespace is ignored; an empty host means {@link ANY_HOST}.
 */
export function parseHostPort(value: string): HostPort | undefined {
  const text = value.trim();
  const match = BRACKETED.exec(text) ?? PLAIN.exec(text) ?? BARE_IPV6.exec(text);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port > 65_535) return undefined;
  return { host: match[1] === "" ? ANY_HOST : (match[1] as string), port };
}

/** `host` as it goes in front of `:PORT` or into a URL: IPv6 in brackets. */
export function bracketHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** The inverse of {@link parseHostPort}: `HOST:PORT`, IPv6 in brackets. */
export function formatHostPort({ host, port }: HostPort): string {
  return `${bracketHost(host)}:${port}`;
}
