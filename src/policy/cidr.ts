import ipaddr from "ipaddr.js";

/**
 * Address ranges for `when: { source_cidr: [...] }`.
 *
 * Both sides are normalised so that IPv4 written as IPv4-mapped IPv6 (`::ffff:10.1.2.3`, which is
 * what a dual-stack Node socket reports for an IPv4 client) compares as plain IPv4.
 */

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** A parsed range, as written (`text`) and ready to match. */
export interface CidrRange {
  readonly text: string;
  readonly network: Address;
  readonly prefixLength: number;
}

/**
 * Parses `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a single-host range).
 * IPv4 must be four decimal parts: `10/8` is rejected rather than silently read as `0.0.0.10/8`.
 *
 * @returns the range, or a sentence saying what is wrong.
 */
export function parseCidr(text: string): CidrRange | string {
  const slash = text.indexOf("/");
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? undefined : text.slice(slash + 1);
  let network: Address;
  if (ipaddr.IPv4.isValidFourPartDecimal(addressText)) {
    network = ipaddr.IPv4.parse(addressText);
  } else if (ipaddr.IPv6.isValid(addressText) && !addressText.includes("%")) {
    network = ipaddr.IPv6.parse(addressText);
  } else {
    return "expected an address range such as 10.0.0.0/8 or 2001:db8::/32";
  }
  const maxPrefix = network.kind() === "ipv4" ? 32 : 128;
  let prefixLength = maxPrefix;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > maxPrefix) {
      return `prefix length must be a whole number from 0 to ${maxPrefix}`;
    }
    prefixLength = Number(prefixText);
  }
  if (network.kind() === "ipv6" && (network as ipaddr.IPv6).isIPv4MappedAddress() && prefixLength >= 96) {
    network = (network as ipaddr.IPv6).toIPv4Address();
    prefixLength -= 96;
  }
  return Object.freeze({ text, network, prefixLength });
}

/**
 * Parses a request's source address; IPv4-mapped IPv6 becomes IPv4, an IPv6 zone id is ignored.
 *
 * @returns undefined for anything that is not an address (the condition then does not hold).
 */
export function parseSourceAddress(text: string): Address | undefined {
  try {
    return ipaddr.process(text);
  } catch {
    return undefined;
  }
}

/** Whether `address` lies in `range` (different IP versions never match). */
export function cidrContains(range: CidrRange, address: Address): boolean {
  if (address.kind() !== range.network.kind()) return false;
  return address.match(range.network, range.prefixLength);
}
