/**
 * Stands in for @pulse/core's P2P manager in the widget bundle (see build.mjs): <pulse-widget>
 * never uses shared data, and the CRDT code would add a third to its size. A page that wants
 * shared data loads /sdk/pulse-client.js beside the widget.
 */
export class P2PManager {
  start(): Promise<never> {
    return Promise.reject(new Error('P2P shared data is not part of the widget bundle: load /sdk/pulse-client.js and use its PulseClient.'));
  }
}
