import type { P2PPeer } from '@pulse/protocol/lite';
import type { Mesh } from './mesh.ts';
import type { P2PTransport, PeerState } from './types.ts';

/** `p2p.peers`: one entry per user, the best state among the user's connections. */
export function userStates(peers: Iterable<P2PPeer>, mesh: Mesh | undefined): Map<string, PeerState> {
  const states = new Map<string, PeerState>();
  for (const peer of peers) {
    const link = mesh?.stateOf(peer.connectionId);
    const open = mesh?.isOpen(peer.connectionId) ?? false;
    // Peers outside the mesh (or whose WebRTC failed) are reached over the relay: connected.
    const state: PeerState['state'] = link === undefined || link === 'failed' ? 'connected' : link;
    const current = states.get(peer.userId);
    states.set(
      peer.userId,
      current
        ? { userId: peer.userId, state: current.state === 'connected' || state === 'connected' ? 'connected' : state, dataChannelOpen: current.dataChannelOpen || open }
        : { userId: peer.userId, state, dataChannelOpen: open },
    );
  }
  return states;
}

/** 'p2p' for a mesh member whose WebRTC links work (or are still opening), else 'websocket'. */
export function transportOf(self: P2PPeer | undefined, joined: boolean, peers: Iterable<P2PPeer>, mesh: Mesh | undefined): P2PTransport {
  if (!joined || !mesh || !self?.mesh) return 'websocket';
  for (const peer of peers) if (peer.mesh && mesh.stateOf(peer.connectionId) === 'failed') return 'websocket';
  return 'p2p';
}
