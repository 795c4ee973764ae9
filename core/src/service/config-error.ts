/**
 * The one error a configuration problem becomes, in every service. It carries every problem
 * found (a bad deployment is fixed in one round, not one setting per restart) and each problem
 * names where the value came from: the flag and its environment twin.
 */

/** One invalid setting. */
export interface ConfigProblem {
  /** How the setting is named to the operator: `--listen / TEI_FLEET_LISTEN`, or just the env name. */
  setting: string;
  /** What is wrong, as a predicate: "must be HOST:PORT ...", "is required". */
  message: string;
}

/** A configuration that cannot be used. A service's command line exits 2 with its message. */
export class ConfigError extends Error {
  /** Every problem found. */
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p.setting}: ${p.message}`).join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}
