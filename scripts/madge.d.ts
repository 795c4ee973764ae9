/** The part of madge's API that scripts/check-cycles.ts uses (madge ships no types). */
declare module "madge" {
  interface MadgeResult {
    /** file -> the files it imports, relative to baseDir. */
    obj(): Record<string, string[]>;
    /** Each file-level cycle as the list of its files. */
    circular(): string[][];
  }
  interface MadgeOptions {
    baseDir?: string;
    fileExtensions?: string[];
    tsConfig?: string;
    excludeRegExp?: RegExp[];
  }
  export default function madge(paths: string | string[], options?: MadgeOptions): Promise<MadgeResult>;
}
