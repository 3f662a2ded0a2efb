/**
 * IP addresses and CIDR blocks, parsed the way event-ruler parses them (CIDR.java): a string is an IP address
 * only if it has the IPv4 or IPv6 shape below and java.net.InetAddress accepts it, so the parsers here port
 * the JDK's textToNumericFormatV4/V6. Like the JDK, an IPv4-mapped IPv6 address (::ffff:a00:1) is the IPv4
 * address it maps.
 */

const IPV4_SHAPE = /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/;
const IPV6_SHAPE = /^[0-9a-fA-F:]*:[0-9a-fA-F:]*$/;
/** The JDK refuses longer dotted quads outright. */
const MAX_IPV4_TEXT_LENGTH = 15;

/** True when event-ruler would try to read `text` as an IP address. */
export function hasIpAddressShape(text: string): boolean {
  return IPV4_SHAPE.test(text) || IPV6_SHAPE.test(text);
}

/** The address bytes (4 or 16) of `text`, or undefined when it is not an IP address literal. */
export function parseIpAddress(text: string): Uint8Array | undefined {
  if (IPV4_SHAPE.test(text)) return parseIpv4(text);
  if (IPV6_SHAPE.test(text)) return parseIpv6(text);
  return undefined;
}

function parseIpv4(text: string): Uint8Array | undefined {
  if (text.length > MAX_IPV4_TEXT_LENGTH) return undefined;
  const octets = text.split('.');
  const bytes = new Uint8Array(4);
  for (let index = 0; index < 4; index++) {
    // Leading zeros read as decimal, as the JDK does ("010" is ten, not octal eight).
    const octet = Number(octets[index]);
    if (octet > 255) return undefined;
    bytes[index] = octet;
  }
  return bytes;
}

function hexDigitValue(char: string): number {
  const code = char.charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 102) return code - 87;
  if (code >= 65 && code <= 70) return code - 55;
  return -1;
}

/** Port of the JDK's IPAddressUtil.textToNumericFormatV6 for text made only of hex digits and colons. */
function parseIpv6(text: string): Uint8Array | undefined {
  if (text.length < 2) return undefined;
  const bytes = new Uint8Array(16);
  let position = 0;
  let written = 0;
  let compressionAt = -1;
  if (text[position] === ':') {
    position++;
    if (text[position] !== ':') return undefined;
  }
  let sawHexDigit = false;
  let group = 0;
  while (position < text.length) {
    const char = text[position++] as string;
    const digit = hexDigitValue(char);
    if (digit !== -1) {
      group = (group << 4) | digit;
      if (group > 0xffff) return undefined;
      sawHexDigit = true;
      continue;
    }
    // Only ':' is left, given the shape check.
    if (!sawHexDigit) {
      if (compressionAt !== -1) return undefined;
      compressionAt = written;
      continue;
    }
    if (position === text.length) return undefined;
    if (written + 2 > 16) return undefined;
    bytes[written++] = (group >> 8) & 0xff;
    bytes[written++] = group & 0xff;
    sawHexDigit = false;
    group = 0;
  }
  if (sawHexDigit) {
    if (written + 2 > 16) return undefined;
    bytes[written++] = (group >> 8) & 0xff;
    bytes[written++] = group & 0xff;
  }
  if (compressionAt !== -1) {
    const tail = written - compressionAt;
    if (written === 16) return undefined;
    for (let index = 1; index <= tail; index++) {
      bytes[16 - index] = bytes[compressionAt + tail - index] as number;
      bytes[compressionAt + tail - index] = 0;
    }
    written = 16;
  }
  if (written !== 16) return undefined;
  return isIpv4Mapped(bytes) ? bytes.slice(12) : bytes;
}

function isIpv4Mapped(bytes: Uint8Array): boolean {
  for (let index = 0; index < 10; index++) if (bytes[index] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** An inclusive address interval of one family (4-byte or 16-byte addresses). */
export interface AddressRange {
  readonly first: Uint8Array;
  readonly last: Uint8Array;
}

function compareBytes(left: Uint8Array, right: Uint8Array): number {
  for (let index = 0; index < left.length; index++) {
    const difference = (left[index] as number) - (right[index] as number);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** True when `text` is an IP address inside `range` (an address of the other family never is). */
export function isAddressInRange(text: string, range: AddressRange): boolean {
  const address = parseIpAddress(text);
  if (address === undefined || address.length !== range.first.length) return false;
  return compareBytes(address, range.first) >= 0 && compareBytes(address, range.last) <= 0;
}

/** True when two address literals denote the same address (how an IP-shaped exact value matches). */
export function isSameAddress(address: Uint8Array, text: string): boolean {
  const other = parseIpAddress(text);
  return other !== undefined && other.length === address.length && compareBytes(address, other) === 0;
}

/** Java's String.split("/"): trailing empty strings are dropped, so "10.0.0.0/24/" has two parts. */
function splitOnSlash(text: string): string[] {
  if (!text.includes('/')) return [text];
  const parts = text.split('/');
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** Java's Integer.parseInt, for the mask length. */
function parseJavaInt(text: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(text)) return undefined;
  const value = Number(text);
  return value > 2147483647 || value < -2147483648 ? undefined : value;
}

/**
 * Parses a `cidr` operand; returns the range or event-ruler's complaint. event-ruler refuses /32 for IPv4 and
 * /128 for IPv6 ("mask bits must be < 32"), and masks the base address, so 10.0.0.5/24 is 10.0.0.0-10.0.0.255.
 */
export function parseCidr(text: string): AddressRange | string {
  const parts = splitOnSlash(text);
  if (parts.length !== 2) return "Malformed CIDR, one '/' required";
  const [addressText, maskText] = parts as [string, string];
  const maskBits = parseJavaInt(maskText);
  if (maskBits === undefined) return 'Malformed CIDR, mask bits must be an integer';
  if (maskBits < 0) return 'Malformed CIDR, mask bits must not be negative';
  if (!hasIpAddressShape(addressText)) return `Nonstandard IP address: ${addressText}`;
  const base = parseIpAddress(addressText);
  if (base === undefined) return `Invalid IP address: ${addressText}`;
  if (base.length === 4 && maskBits > 31) return 'IPv4 mask bits must be < 32';
  if (base.length === 16 && maskBits > 127) return 'IPv6 mask bits must be < 128';

  const first = new Uint8Array(base.length);
  const last = new Uint8Array(base.length);
  for (let index = 0; index < base.length; index++) {
    const fixedBits = Math.min(8, Math.max(0, maskBits - index * 8));
    const fixedMask = (0xff << (8 - fixedBits)) & 0xff;
    first[index] = (base[index] as number) & fixedMask;
    last[index] = ((base[index] as number) | ~fixedMask) & 0xff;
  }
  return { first, last };
}
