import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { DirectoryUnavailable, type PasswordDirectory } from './directory.js';
import { systemClock } from '../util/clock.js';

export interface RadiusSettings {
  /** host:port of each server, tried in this order. */
  servers: Array<{ host: string; port: number }>;
  /** The shared secret (CFGPROXY_RADIUS_SECRET). */
  secret: string;
  /** Wait this long for an answer before sending again. */
  timeoutMs: number;
  /** Sends after the first to one server, before the next server is asked. */
  retries: number;
  /** NAS-Identifier: who asks (the server's name). */
  nasIdentifier: string;
}

const enum Code {
  AccessRequest = 1,
  AccessAccept = 2,
  AccessReject = 3,
  AccessChallenge = 11,
}
const enum Attribute {
  UserName = 1,
  UserPassword = 2,
  NasIdentifier = 32,
  MessageAuthenticator = 80,
}
const HEADER = 20;

/** Attributes as type, length, value. */
function attribute(type: number, value: Buffer): Buffer {
  if (value.length > 253) throw new Error(`RADIUS attribute ${type} is longer than 253 bytes`);
  return Buffer.concat([Buffer.from([type, value.length + 2]), value]);
}

/** User-Password hidden as RFC 2865 §5.2 says: padded to 16 bytes, XORed with a chain of MD5s of the secret. */
export function hidePassword(password: string, secret: string, authenticator: Buffer): Buffer {
  const plain = Buffer.from(password, 'utf8');
  const padded = Buffer.alloc(Math.max(16, Math.ceil(plain.length / 16) * 16));
  plain.copy(padded);
  const hidden = Buffer.alloc(padded.length);
  let previous = authenticator;
  for (let offset = 0; offset < padded.length; offset += 16) {
    const mask = createHash('md5').update(secret).update(previous).digest();
    for (let i = 0; i < 16; i += 1) hidden[offset + i] = padded[offset + i] ^ mask[i];
    previous = hidden.subarray(offset, offset + 16);
  }
  return hidden;
}

/**
 * An Access-Request for PAP with a Message-Authenticator (RFC 3579 §3.2: HMAC-MD5 of the packet
 * with that attribute zeroed), which servers hardened against forged answers require.
 */
export function accessRequest(id: number, authenticator: Buffer, user: string, password: string, settings: Pick<RadiusSettings, 'secret' | 'nasIdentifier'>): Buffer {
  const attributes = Buffer.concat([
    attribute(Attribute.UserName, Buffer.from(user, 'utf8')),
    attribute(Attribute.UserPassword, hidePassword(password, settings.secret, authenticator)),
    attribute(Attribute.NasIdentifier, Buffer.from(settings.nasIdentifier, 'utf8')),
    attribute(Attribute.MessageAuthenticator, Buffer.alloc(16)),
  ]);
  const packet = Buffer.concat([Buffer.from([Code.AccessRequest, id, 0, 0]), authenticator, attributes]);
  packet.writeUInt16BE(packet.length, 2);
  const signature = createHmac('md5', settings.secret).update(packet).digest();
  signature.copy(packet, packet.length - 16);
  return packet;
}

/**
 * The verdict of an answer to the request (`id`, `authenticator`), or undefined for a packet that
 * is not one: another id, a bad length, a Response Authenticator or Message-Authenticator that
 * does not check out (a forged or corrupted answer is ignored, as if it never came).
 */
export function readAnswer(packet: Buffer, id: number, authenticator: Buffer, secret: string): 'accept' | 'reject' | undefined {
  if (packet.length < HEADER || packet[1] !== id || packet.readUInt16BE(2) > packet.length || packet.readUInt16BE(2) < HEADER) return undefined;
  const body = packet.subarray(0, packet.readUInt16BE(2));
  const expected = createHash('md5').update(body.subarray(0, 4)).update(authenticator).update(body.subarray(HEADER)).update(secret).digest();
  if (!timingSafeEqual(expected, body.subarray(4, HEADER))) return undefined;
  for (let offset = HEADER; offset + 2 <= body.length; ) {
    const type = body[offset];
    const length = body[offset + 1];
    if (length < 2 || offset + length > body.length) return undefined;
    if (type === Attribute.MessageAuthenticator) {
      if (length !== 18) return undefined;
      const copy = Buffer.from(body);
      authenticator.copy(copy, 4);
      copy.fill(0, offset + 2, offset + 18);
      const signature = createHmac('md5', secret).update(copy).digest();
      if (!timingSafeEqual(signature, body.subarray(offset + 2, offset + 18))) return undefined;
    }
    offset += length;
  }
  if (body[0] === Code.AccessAccept) return 'accept';
  // A challenge (a second factor) is not something this login can answer: not accepted.
  if (body[0] === Code.AccessReject || body[0] === Code.AccessChallenge) return 'reject';
  return undefined;
}

/**
 * Checks passwords by RADIUS PAP [PROTO-HELLO-7]: each server in turn, each asked `retries + 1`
 * times `timeoutMs` apart with the same packet (a retransmission, as RFC 5080 says), on a socket
 * of its own per login, so answers can only meet their question.
 */
export class RadiusDirectory implements PasswordDirectory {
  readonly method = 'radius' as const;
  readonly describe: string;

  constructor(private readonly settings: RadiusSettings) {
    if (settings.servers.length === 0) throw new Error('--radius-server names no server');
    if (!settings.secret) throw new Error('RADIUS needs the shared secret in CFGPROXY_RADIUS_SECRET');
    this.describe = settings.servers.map((s) => `${s.host}:${s.port}`).join(', ');
  }

  async verify(id: string, password: string): Promise<boolean> {
    if (Buffer.byteLength(id) > 253 || Buffer.byteLength(password) > 128) return false;
    const reasons: string[] = [];
    for (const server of this.settings.servers) {
      const verdict = await this.ask(server, id, password).catch((error: Error) => {
        reasons.push(`${server.host}:${server.port} ${error.message}`);
        return undefined;
      });
      if (verdict !== undefined) return verdict === 'accept';
    }
    throw new DirectoryUnavailable(`no RADIUS server answered: ${reasons.join('; ')}`);
  }

  async close(): Promise<void> {}

  private ask(server: { host: string; port: number }, user: string, password: string): Promise<'accept' | 'reject'> {
    const authenticator = randomBytes(16);
    const id = randomBytes(1)[0];
    const packet = accessRequest(id, authenticator, user, password, this.settings);
    const socket = createSocket(server.host.includes(':') ? 'udp6' : 'udp4');
    return new Promise<'accept' | 'reject'>((resolve, reject) => {
      let sends = 0;
      let timer: unknown;
      const finish = (error: Error | undefined, verdict?: 'accept' | 'reject'): void => {
        systemClock.clearTimeout(timer);
        socket.close();
        if (error) reject(error);
        else resolve(verdict!);
      };
      const send = (): void => {
        if (sends > this.settings.retries) {
          finish(new Error(`no answer after ${sends} tries ${this.settings.timeoutMs} ms apart`));
          return;
        }
        sends += 1;
        socket.send(packet);
        timer = systemClock.setTimeout(send, this.settings.timeoutMs, true);
      };
      socket.on('message', (answer) => {
        const verdict = readAnswer(answer, id, authenticator, this.settings.secret);
        if (verdict) finish(undefined, verdict);
      });
      // An ICMP port unreachable surfaces here: that server is down, the next is asked.
      socket.on('error', (error) => finish(error));
      socket.connect(server.port, server.host, () => send());
    });
  }
}
