/**
 * An in-process stand-in for RTCPeerConnection, so the P2P benchmark can run mesh peers in Node
 * with the real client code: offers, answers and candidates still travel through the Pulse server
 * (real signalling); once a pair has exchanged its descriptions, its "data channel" delivers
 * messages between the two objects on the next macrotask. It measures the server and the client
 * logic, not a browser's WebRTC stack.
 */
const offers = new Map<string, FakePeerConnection>();
let nextId = 1;

class FakeDataChannel {
  readyState: 'connecting' | 'open' | 'closed' = 'connecting';
  binaryType = 'arraybuffer';
  onopen: (() => void) | null = null;
  onclose: (() => void) | null = null;
  onmessage: ((e: { data: ArrayBuffer | string }) => void) | null = null;
  peer: FakeDataChannel | undefined;

  send(data: Uint8Array | string): void {
    if (this.readyState !== 'open' || !this.peer) throw new Error('channel not open');
    const copy = typeof data === 'string' ? data : data.slice().buffer;
    const target = this.peer;
    setImmediate(() => target.readyState === 'open' && target.onmessage?.({ data: copy }));
  }

  open(): void {
    this.readyState = 'open';
    setImmediate(() => this.onopen?.());
  }

  close(): void {
    if (this.readyState === 'closed') return;
    this.readyState = 'closed';
    this.onclose?.();
    this.peer?.close();
  }
}

export class FakePeerConnection {
  readonly id = `fake-${nextId++}`;
  connectionState = 'new';
  localDescription: { type: string; sdp: string } | null = null;
  remoteDescription: { type: string; sdp: string } | null = null;
  onicecandidate: ((e: { candidate: null }) => void) | null = null;
  onconnectionstatechange: (() => void) | null = null;
  ondatachannel: ((e: { channel: FakeDataChannel }) => void) | null = null;
  channel: FakeDataChannel | undefined;

  constructor(_config?: unknown) {}

  createDataChannel(): FakeDataChannel {
    this.channel = new FakeDataChannel();
    return this.channel;
  }

  async createOffer() {
    offers.set(this.id, this);
    return { type: 'offer', sdp: this.id };
  }

  async createAnswer() {
    return { type: 'answer', sdp: this.id };
  }

  async setLocalDescription(d: { type: string; sdp: string }) {
    this.localDescription = d;
  }

  async setRemoteDescription(d: { type: string; sdp: string }) {
    this.remoteDescription = d;
    if (d.type !== 'offer') return;
    // The answering side: pair with the offerer's channel.
    const offerer = offers.get(d.sdp);
    offers.delete(d.sdp);
    if (!offerer?.channel) return;
    const mine = new FakeDataChannel();
    mine.peer = offerer.channel;
    offerer.channel.peer = mine;
    this.ondatachannel?.({ channel: mine });
    mine.open();
    offerer.channel.open();
    this.connectionState = offerer.connectionState = 'connected';
  }

  async addIceCandidate() {}

  close(): void {
    this.connectionState = 'closed';
    this.channel?.close();
  }
}

/** Makes `RTCPeerConnection` exist in this process (P2PManager then joins the mesh). */
export function installFakeWebRTC(): void {
  (globalThis as { RTCPeerConnection?: unknown }).RTCPeerConnection = FakePeerConnection;
}
