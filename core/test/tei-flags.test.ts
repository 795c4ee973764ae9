import { describe, expect, it } from "vitest";
import { flagName, flagOf } from "../src/tei-flags.ts";

describe("reading a flag from an argument", () => {
  it.each([
    ["--port", "--port", "--port"],
    ["--port=8080", "--port", "--port"],
    ["-p", "-p", "--port"],
    ["-p8080", "-p", "--port"],
    ["-p=8080", "-p", "--port"],
    ["-h", "-h", "--help"],
    ["-V", "-V", "--version"],
    ["-x", "-x", "-x"],
    ["--revision=main", "--revision", "--revision"],
  ])("%s is the flag %s, which sets %s", (arg, name, flag) => {
    expect(flagName(arg)).toBe(name);
    expect(flagOf(arg)).toBe(flag);
  });

  it.each([["value"], ["-"], ["--"], ["-5"], ["-0.5"], [""], ["query: "]])("%j is a value, not a flag", (arg) => {
    expect(flagName(arg)).toBeUndefined();
    expect(flagOf(arg)).toBeUndefined();
  });
});
