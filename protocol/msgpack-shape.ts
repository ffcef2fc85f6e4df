/**
 * A walk over a msgpack body that allocates nothing: it refuses what the protocol forbids
 * [PROTO-FRAME-3] (extension types, the reserved byte, integers beyond 2^53, trailing bytes) and
 * what would make decoding expensive (nesting deeper than `maxDepth`, more than `maxValues`
 * values, a container that declares more values than the bytes left could hold), before the
 * decoder allocates a single object. A frame of sixteen million empty maps costs this walk
 * `maxValues` steps, not a gigabyte of objects.
 */
export interface ShapeLimits {
  maxDepth: number;
  maxValues: number;
}

export const DEFAULT_SHAPE_LIMITS: ShapeLimits = { maxDepth: 64, maxValues: 1024 * 1024 };

const MAX_SAFE_HIGH = 0x1fffff; // the high 32 bits of Number.MAX_SAFE_INTEGER

/** Returns what is wrong with the body, or undefined when it may be decoded. */
export function msgpackShapeError(body: Uint8Array, limits: ShapeLimits = DEFAULT_SHAPE_LIMITS): string | undefined {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const end = body.length;
  const parents: number[] = []; // values still to read in each enclosing container
  let left = 1; // values still to read at this level: one top-level value
  let pos = 0;
  let values = 0;
  for (;;) {
    if (left === 0) {
      if (parents.length === 0) break;
      left = parents.pop()!;
      continue;
    }
    left -= 1;
    if (pos >= end) return 'the body ends inside a value';
    if (++values > limits.maxValues) return `more than ${limits.maxValues} values`;
    const type = body[pos++];
    let skip = 0;
    let children = 0;
    if (type <= 0x7f || type >= 0xe0 || type === 0xc0 || type === 0xc2 || type === 0xc3) {
      // fixint, nil, booleans: the type byte is the value
    } else if (type <= 0x8f) children = (type & 0x0f) * 2;
    else if (type <= 0x9f) children = type & 0x0f;
    else if (type <= 0xbf) skip = type & 0x1f;
    else {
      const need = (bytes: number): boolean => pos + bytes <= end;
      switch (type) {
        case 0xc4: // bin 8
        case 0xd9: // str 8
          if (!need(1)) return 'the body ends inside a length';
          skip = body[pos];
          pos += 1;
          break;
        case 0xc5:
        case 0xda:
          if (!need(2)) return 'the body ends inside a length';
          skip = view.getUint16(pos);
          pos += 2;
          break;
        case 0xc6:
        case 0xdb:
          if (!need(4)) return 'the body ends inside a length';
          skip = view.getUint32(pos);
          pos += 4;
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcb:
          skip = 8;
          break;
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xcf: // uint 64
        case 0xd3: {
          // int 64
          if (!need(8)) return 'the body ends inside an integer';
          const high = view.getUint32(pos);
          const unsafe = type === 0xcf ? high > MAX_SAFE_HIGH : high > MAX_SAFE_HIGH && high < 0xffe00000;
          if (unsafe) return 'an integer beyond 2^53 (the protocol has no 64-bit integers)';
          skip = 8;
          break;
        }
        case 0xdc:
        case 0xde:
          if (!need(2)) return 'the body ends inside a length';
          children = view.getUint16(pos) * (type === 0xde ? 2 : 1);
          pos += 2;
          break;
        case 0xdd:
        case 0xdf:
          if (!need(4)) return 'the body ends inside a length';
          children = view.getUint32(pos) * (type === 0xdf ? 2 : 1);
          pos += 4;
          break;
        case 0xc1:
          return 'the reserved byte 0xc1';
        default:
          return `an extension type (0x${type.toString(16)}); the protocol allows none`;
      }
    }
    if (skip > 0) {
      pos += skip;
      if (pos > end) return 'the body ends inside a value';
    }
    if (children > 0) {
      // Every value takes at least one byte: a count beyond the bytes left is a lie.
      if (children > end - pos) return 'a container declares more values than the body holds';
      if (parents.length >= limits.maxDepth) return `nested deeper than ${limits.maxDepth} levels`;
      parents.push(left);
      left = children;
    }
  }
  return pos === end ? undefined : 'bytes after the value';
}
