import { createServer } from "node:net";

/**
 * Checks, before TEI is started, that its ports can be bound on the advertise address. TEI would
 * otherwise fail deep into start-up (after loading the model) with a generic exit 1; this gives
 * the replica a specific reason instead. Returns the problem, or `undefined` when the port is free.
 */
export function portProblem(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE") resolve(`port ${port} on ${host} is in use by another program`);
      else if (error.code === "EADDRNOTAVAIL") resolve(`address ${host} is not an address of this machine`);
      else if (error.code === "EACCES") resolve(`no permission to bind port ${port} on ${host}`);
      else resolve(`cannot bind port ${port} on ${host}: ${error.code ?? error.message}`);
    });
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}
