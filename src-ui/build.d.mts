// Types of src-ui/build.mjs for the TypeScript callers (tests, bench helpers).
import type { MethodDescription } from '../src-rpc/api/describe.ts';
export type { MethodDescription };
export interface BundleSizes {
  files: { name: string; bytes: number; gzip: number }[];
  bytes: number;
  gzip: number;
}
export const TABLE_JSON: string;
export const GENERATED: string;
export const OUT_DIR: string;
export function generateMethods(table: MethodDescription[]): string;
export function generatedIsCurrent(): boolean;
export function buildUi(options?: { logLevel?: 'info' | 'warn' | 'error' | 'silent' }): Promise<BundleSizes>;
export function bundleSizes(): BundleSizes;
