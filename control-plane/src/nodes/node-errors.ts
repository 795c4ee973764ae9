import { ApiError } from "../errors/api-error.ts";

/**
 * Thrown for an operation on a node that never registered (or was deleted). An ApiError, so REST
 * answers 404 and Connect NOT_FOUND, both with the code NODE_NOT_FOUND and the field `name`.
 */
export class NodeNotFoundError extends ApiError {
  readonly node: string;
  constructor(node: string) {
    super("NODE_NOT_FOUND", `node "${node}" is not registered`, { field: "name" });
    this.name = "NodeNotFoundError";
    this.node = node;
  }
}

/**
 * Thrown when a node cannot be deleted because something runs, or may be placed, there: REST 409,
 * Connect FAILED_PRECONDITION, both with the code NODE_IN_USE.
 */
export class NodeInUseError extends ApiError {
  readonly node: string;
  constructor(node: string, message: string) {
    super("NODE_IN_USE", message);
    this.name = "NodeInUseError";
    this.node = node;
  }
}
