import { describe, expect, it } from 'vitest';
import { ErrorCode, type HaHelloMessage } from '../../protocol/index.js';
import { helloProof, newNonce, sameProof, welcomeProof } from '../../src/ha/handshake.js';
import { checkHello } from '../../src/ha/ha-server.js';

const identity = { pairName: 'pair', masters: ['m1:9020'], secret: 'pair-secret' };

function hello(challenge: string, extra: Partial<HaHelloMessage> = {}, secret = identity.secret): HaHelloMessage {
  const nonce = newNonce();
  return { kind: 100, versions: [1], pairName: 'pair', masters: ['m1:9020'], nonce, proof: helloProof(secret, extra.pairName ?? 'pair', challenge, nonce), role: 'backup', clientEndpoint: 'b:9030', ...extra };
}

describe('HA handshake', () => {
  it('handshake - a Hello proves the secret without carrying it; a proof for another challenge or secret is refused', () => {
    const challenge = newNonce();
    const good = hello(challenge);
    expect(JSON.stringify(good)).not.toContain(identity.secret);
    expect(checkHello(good, identity, challenge)).toBeUndefined();
    expect(checkHello(good, identity, newNonce())?.code).toBe(ErrorCode.HA_AUTH_FAILED); // a replay against a new challenge
    expect(checkHello(hello(challenge, {}, 'guess'), identity, challenge)?.code).toBe(ErrorCode.HA_AUTH_FAILED);
    expect(checkHello({ ...good, proof: '' }, identity, challenge)?.code).toBe(ErrorCode.HA_AUTH_FAILED);
  });

  it('handshake - the Welcome proof binds both nonces in the other order, so a Hello proof cannot be echoed back', () => {
    const [challenge, nonce] = [newNonce(), newNonce()];
    const welcome = welcomeProof(identity.secret, 'pair', nonce, challenge);
    expect(sameProof(welcome, helloProof(identity.secret, 'pair', challenge, nonce))).toBe(false);
    expect(sameProof(welcome, welcomeProof(identity.secret, 'pair', nonce, challenge))).toBe(true);
  });

  it('handshake - authenticated members of another pair, other masters or another database lineage are refused with HA_MISMATCH naming both', () => {
    const challenge = newNonce();
    expect(checkHello(hello(challenge, { pairName: 'other' }), identity, challenge)).toMatchObject({ code: ErrorCode.HA_MISMATCH, message: expect.stringMatching(/'pair'.*'other'/) });
    expect(checkHello(hello(challenge, { masters: ['m2:9020'] }), identity, challenge)?.code).toBe(ErrorCode.HA_MISMATCH);
    const ours = { id: 'aaaaaaaa-1111', generation: 1 };
    const theirs = { id: 'bbbbbbbb-2222', generation: 1 };
    expect(checkHello(hello(challenge, { lineage: theirs }), identity, challenge, ours)).toMatchObject({ code: ErrorCode.HA_MISMATCH, message: expect.stringMatching(/aaaaaaaa\/1.*bbbbbbbb\/1/) });
    expect(checkHello(hello(challenge, { lineage: ours }), identity, challenge, ours)).toBeUndefined();
    expect(checkHello(hello(challenge, { lineage: { ...ours, generation: 2 } }), identity, challenge, ours)?.code).toBe(ErrorCode.HA_MISMATCH);
    expect(checkHello(hello(challenge), identity, challenge, ours)).toBeUndefined(); // a peer still loading says no lineage yet
  });
});
