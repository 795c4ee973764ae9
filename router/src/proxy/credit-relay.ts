/**
 * End-to-end flow control of one direction of a proxied call: bytes received from the sender are
 * credited back to it (WINDOW_UPDATE) only once the other side took them, so a slow reader slows
 * the writer instead of filling the router's memory.
 */
import type { H2Stream } from "../h2/index.ts";

/** What one direction of a call owes its sender. */
export class CreditRelay {
  private owed = 0;

  /**
   * `n` bytes received on `from` were handed on; `accepted` is what the other side's `sendData`
   * answered (false: some wait in its queue, credited on `release`).
   */
  passed(from: H2Stream, n: number, accepted: boolean): void {
    if (accepted) from.conn.consume(from, n);
    else this.owed += n;
  }

  /** The other side drained (or the call ended): credits `from` with what was held back. */
  release(from: H2Stream | null): void {
    if (from !== null && this.owed > 0) from.conn.consume(from, this.owed);
    this.owed = 0;
  }
}
