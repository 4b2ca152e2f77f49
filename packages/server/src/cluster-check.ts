import type { ServerOptions } from './options.ts';

/** `pulse start --cluster-check`: verifies a cluster configuration without starting the server. Exit code 0 when ready. */
export async function runClusterCheck(_options: ServerOptions, print: (line: string) => void): Promise<number> {
  print('Cluster mode is not available in this build yet.');
  return 1;
}
