/** Thrown for an operation on a node that never registered (or was deleted). */
export class NodeNotFoundError extends Error {
  readonly node: string;
  constructor(node: string) {
    super(`node "${node}" is not registered`);
    this.name = "NodeNotFoundError";
    this.node = node;
  }
}

/** Thrown when a node cannot be deleted because something runs, or may be placed, there. */
export class NodeInUseError extends Error {
  readonly node: string;
  constructor(node: string, message: string) {
    super(message);
    this.name = "NodeInUseError";
    this.node = node;
  }
}
