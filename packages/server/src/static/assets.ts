import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Where the files the server serves but does not compile live: the widget bundle, the admin
 * panel's build and the demo page. An installed @pulse/server carries copies in dist/public/
 * (packages/server/build.mjs puts them there); run from the repository's sources, they are read
 * where the other workspaces build them. The directory path ends with a separator.
 */
export function assetDir(name: 'widget' | 'panel' | 'demo', inRepo: string): string {
  const packaged = fileURLToPath(new URL(`../public/${name}/`, import.meta.url));
  return existsSync(packaged) ? packaged : fileURLToPath(new URL(inRepo, import.meta.url));
}
