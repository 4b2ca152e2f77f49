/**
 * @pulse/server as a library: start a Pulse server inside your own Node process. Most people run
 * the `pulse` command instead (`npx pulse start`); both take the same options.
 */
export { startPulseServer, type PulseServer } from './server.ts';
export { optionsFromEnv, type ServerOptions } from './options.ts';
export { VERSION } from './version.ts';
