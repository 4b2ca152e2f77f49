import { P2P_LIMITS, type P2PEncoding } from '@pulse/protocol/lite';

/** The state of the WebRTC link to one peer. */
export type LinkState = 'connecting' | 'connected' | 'disconnected' | 'failed';

export interface MeshHandlers {
  /** A signal (SDP or ICE candidate, serialised) for peer `to`, to send through the server. */
  signal(to: string, signal: string): void;
  /** The data channel to `id` opened. */
  opened(id: string): void;
  /** The link to `id` changed state. */
  changed(id: string): void;
  update(id: string, update: Uint8Array): void;
  syncRequest(id: string, stateVector: Uint8Array): void;
  syncReply(id: string, update: Uint8Array): void;
  raw(id: string, message: { encoding: P2PEncoding; data: string }): void;
}

interface Link {
  pc: RTCPeerConnection;
  dc: RTCDataChannel | undefined;
  state: LinkState;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Candidates that arrived before the remote description. */
  early: RTCIceCandidateInit[];
  /** Messages arriving in pieces. */
  pieces: Map<number, { parts: Uint8Array[]; received: number }>;
}

const TAG = { update: 1, syncRequest: 2, syncReply: 3, raw: 4, chunk: 9 } as const;
const CHUNK_HEADER = 10;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * WebRTC data channels to the other mesh peers of the room, one reliable ordered channel per
 * peer, signalled through the server. A link that does not open within the timeout, or fails
 * later, is marked failed: the manager then reaches that peer over the relay.
 */
export class Mesh {
  readonly #handlers: MeshHandlers;
  readonly #timeoutMs: number;
  readonly #iceServers: RTCIceServer[];
  readonly #links = new Map<string, Link>();
  #nextChunk = 1;

  constructor(handlers: MeshHandlers, timeoutMs: number, iceServers: RTCIceServer[] = []) {
    this.#handlers = handlers;
    this.#timeoutMs = timeoutMs;
    this.#iceServers = iceServers;
  }

  /** Whether this runtime has WebRTC (browsers do; Node does not). */
  static available(): boolean {
    return typeof (globalThis as { RTCPeerConnection?: unknown }).RTCPeerConnection === 'function';
  }

  stateOf(id: string): LinkState | undefined {
    return this.#links.get(id)?.state;
  }

  isOpen(id: string): boolean {
    return this.#links.get(id)?.dc?.readyState === 'open';
  }

  /** Starts a link to `id`; the initiator creates the channel and the offer. */
  connect(id: string, initiator: boolean): Link {
    this.close(id);
    const pc = new RTCPeerConnection({ iceServers: this.#iceServers });
    const link: Link = { pc, dc: undefined, state: 'connecting', timer: undefined, early: [], pieces: new Map() };
    this.#links.set(id, link);
    link.timer = setTimeout(() => {
      if (link.dc?.readyState !== 'open') this.#fail(id, link);
    }, this.#timeoutMs);
    pc.onicecandidate = (e) => {
      if (e.candidate) this.#handlers.signal(id, JSON.stringify({ candidate: e.candidate.toJSON() }));
    };
    pc.onconnectionstatechange = () => {
      if (this.#links.get(id) !== link) return;
      if (pc.connectionState === 'failed') this.#fail(id, link);
      else if (pc.connectionState === 'disconnected' || pc.connectionState === 'closed') this.#set(id, link, 'disconnected');
    };
    if (initiator) {
      this.#channel(id, link, pc.createDataChannel('pulse', { ordered: true }));
      void (async () => {
        try {
          await pc.setLocalDescription(await pc.createOffer());
          this.#handlers.signal(id, JSON.stringify({ description: pc.localDescription }));
        } catch {
          this.#fail(id, link);
        }
      })();
    } else {
      pc.ondatachannel = (e) => this.#channel(id, link, e.channel);
    }
    this.#handlers.changed(id);
    return link;
  }

  /** A signal from peer `from` (an offer starts a link as the answering side). */
  signal(from: string, text: string): void {
    let message: { description?: RTCSessionDescriptionInit; candidate?: RTCIceCandidateInit };
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    let link = this.#links.get(from);
    if (message.description?.type === 'offer') link = this.connect(from, false);
    if (!link) return;
    const { pc } = link;
    void (async () => {
      try {
        if (message.description) {
          await pc.setRemoteDescription(message.description);
          for (const c of link.early.splice(0)) await pc.addIceCandidate(c);
          if (message.description.type === 'offer') {
            await pc.setLocalDescription(await pc.createAnswer());
            this.#handlers.signal(from, JSON.stringify({ description: pc.localDescription }));
          }
        } else if (message.candidate) {
          if (pc.remoteDescription) await pc.addIceCandidate(message.candidate);
          else link.early.push(message.candidate);
        }
      } catch {
        this.#fail(from, link);
      }
    })();
  }

  #channel(id: string, link: Link, dc: RTCDataChannel): void {
    link.dc = dc;
    dc.binaryType = 'arraybuffer';
    dc.onopen = () => {
      if (this.#links.get(id) !== link) return;
      clearTimeout(link.timer);
      this.#set(id, link, 'connected');
      this.#handlers.opened(id);
    };
    dc.onclose = () => {
      if (this.#links.get(id) === link && link.state !== 'failed') this.#set(id, link, 'disconnected');
    };
    dc.onmessage = (e) => {
      if (e.data instanceof ArrayBuffer) this.#received(id, link, new Uint8Array(e.data));
    };
  }

  #received(id: string, link: Link, bytes: Uint8Array): void {
    const tag = bytes[0];
    if (tag === TAG.chunk) {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const chunk = view.getUint32(2);
      const index = view.getUint16(6);
      const count = view.getUint16(8);
      let entry = link.pieces.get(chunk);
      if (!entry) link.pieces.set(chunk, (entry = { parts: new Array<Uint8Array>(count), received: 0 }));
      entry.parts[index] = bytes.subarray(CHUNK_HEADER);
      if (++entry.received < count) return;
      link.pieces.delete(chunk);
      const total = entry.parts.reduce((n, p) => n + p.byteLength, 0);
      const whole = new Uint8Array(total + 1);
      whole[0] = bytes[1]!;
      let offset = 1;
      for (const p of entry.parts) {
        whole.set(p, offset);
        offset += p.byteLength;
      }
      return this.#received(id, link, whole);
    }
    const body = bytes.subarray(1);
    if (tag === TAG.update) this.#handlers.update(id, body);
    else if (tag === TAG.syncRequest) this.#handlers.syncRequest(id, body);
    else if (tag === TAG.syncReply) this.#handlers.syncReply(id, body);
    else if (tag === TAG.raw) {
      try {
        this.#handlers.raw(id, JSON.parse(decoder.decode(body)) as { encoding: P2PEncoding; data: string });
      } catch {
        // not ours
      }
    }
  }

  sendUpdate(id: string, update: Uint8Array): void {
    this.#send(id, TAG.update, update);
  }

  sendSyncRequest(id: string, stateVector: Uint8Array): void {
    this.#send(id, TAG.syncRequest, stateVector);
  }

  sendSyncReply(id: string, update: Uint8Array): void {
    this.#send(id, TAG.syncReply, update);
  }

  sendRaw(id: string, encoding: P2PEncoding, data: string): void {
    this.#send(id, TAG.raw, encoder.encode(JSON.stringify({ encoding, data })));
  }

  /** Sends one tagged message, in pieces when larger than a data channel message should be. */
  #send(id: string, tag: number, body: Uint8Array): void {
    const dc = this.#links.get(id)?.dc;
    if (dc?.readyState !== 'open') return;
    const max = P2P_LIMITS.dataChannelChunkBytes;
    try {
      if (body.byteLength + 1 <= max) {
        const out = new Uint8Array(body.byteLength + 1);
        out[0] = tag;
        out.set(body, 1);
        dc.send(out);
        return;
      }
      const chunk = this.#nextChunk++;
      const size = max - CHUNK_HEADER;
      const count = Math.ceil(body.byteLength / size);
      for (let index = 0; index < count; index++) {
        const part = body.subarray(index * size, (index + 1) * size);
        const out = new Uint8Array(part.byteLength + CHUNK_HEADER);
        const view = new DataView(out.buffer);
        out[0] = TAG.chunk;
        out[1] = tag;
        view.setUint32(2, chunk);
        view.setUint16(6, index);
        view.setUint16(8, count);
        out.set(part, CHUNK_HEADER);
        dc.send(out);
      }
    } catch {
      const link = this.#links.get(id);
      if (link) this.#fail(id, link);
    }
  }

  #set(id: string, link: Link, state: LinkState): void {
    if (link.state === state) return;
    link.state = state;
    this.#handlers.changed(id);
  }

  #fail(id: string, link: Link): void {
    clearTimeout(link.timer);
    if (this.#links.get(id) !== link) return;
    this.#set(id, link, 'failed');
    try {
      link.pc.close();
    } catch {
      // already closed
    }
  }

  close(id: string): void {
    const link = this.#links.get(id);
    if (!link) return;
    this.#links.delete(id);
    clearTimeout(link.timer);
    try {
      link.pc.close();
    } catch {
      // already closed
    }
  }

  closeAll(): void {
    for (const id of [...this.#links.keys()]) this.close(id);
  }
}
