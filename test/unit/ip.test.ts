// IP text parsing and canonical form (SPEC §4: addresses compare as parsed addresses). Every
// bound and pattern of functions/core/ip.ts has a case on each side of it: a parser that
// accepts one spelling too many could let a SAN that is not the instance's compare equal to one
// that is, and one that refuses a valid spelling denies a legitimate node.
import { describe, expect, it } from "vitest";
import { canonicalIp, formatIpBytes } from "../../functions/core/ip.js";

const v4 = (value: string) => ({ value, version: 4 });
const v6 = (value: string) => ({ value, version: 6 });

describe("canonicalIp: IPv4", () => {
  it.each([
    ["0.0.0.0", "0.0.0.0"],
    ["255.255.255.255", "255.255.255.255"],
    ["10.0.1.70", "10.0.1.70"],
    ["1.22.199.250", "1.22.199.250"],
  ])("accepts %s", (input, value) => expect(canonicalIp(input)).toEqual(v4(value)));

  it.each([
    ["an octet of 256", "10.0.1.256"],
    ["the first octet 300", "300.1.1.1"],
    ["every octet over 255", "999.999.999.999"],
    ["a leading zero (octal in some parsers)", "10.0.1.070"],
    ["a leading zero in the first octet", "010.0.1.70"],
    ["four digits", "10.0.1.1000"],
    ["three octets", "10.0.1"],
    ["five octets", "10.0.1.70.5"],
    ["a trailing dot", "10.0.1.70."],
    ["a leading dot", ".10.0.1.70"],
    ["an empty octet", "10..1.70"],
    ["a sign", "+10.0.1.70"],
    ["white space", " 10.0.1.70"],
    ["trailing white space", "10.0.1.70 "],
    ["a trailing newline", "10.0.1.70\n"],
    ["a CIDR suffix", "10.0.1.0/24"],
    ["letters", "10.0.1.7a"],
    ["full-width digits", "１0.0.1.70"],
    ["hex octets", "0x0a.0.1.70"],
    ["the empty string", ""],
  ])("rejects %s: %j", (_label, input) => expect(canonicalIp(input)).toBeUndefined());
});

describe("canonicalIp: IPv6", () => {
  it.each([
    ["::", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["2A05:D018:0001:0002:0000:0000:0000:0070", "2a05:d018:1:2::70"],
    ["2a05:d018:1:2::70", "2a05:d018:1:2::70"],
    ["abcd:ef01:2345:6789:abcd:ef01:2345:6789", "abcd:ef01:2345:6789:abcd:ef01:2345:6789"],
    // The first of two equally long zero runs is the one written as "::" (RFC 5952 §4.2.3).
    ["1:0:0:2:0:0:3:4", "1::2:0:0:3:4"],
    // ... and a longer later run wins over a shorter first one.
    ["1:0:0:2:0:0:0:4", "1:0:0:2::4"],
    // A single zero group is never "::" (RFC 5952 §4.2.2).
    ["1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"],
    ["1:0:0:2:3:4:5:6", "1::2:3:4:5:6"],
    ["1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0"],
    ["1:2:3:4:5:6:0:0", "1:2:3:4:5:6::"],
    ["0:0:1:2:3:4:5:6", "::1:2:3:4:5:6"],
    // "::" with seven explicit groups stands for exactly one zero group.
    ["1:2:3:4:5:6::7", "1:2:3:4:5:6:0:7"],
    ["::1:2:3:4:5:6:7", "0:1:2:3:4:5:6:7"],
    // Embedded dotted quads stand for the last two groups.
    ["::ffff:10.0.0.1", "::ffff:10.0.0.1"],
    ["::ffff:a00:1", "::ffff:10.0.0.1"],
    ["0:0:0:0:0:ffff:10.0.0.1", "::ffff:10.0.0.1"],
    ["::1.2.3.4", "::102:304"],
    ["1::1.2.3.4", "1::102:304"],
    ["1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"],
    ["64:ff9b::255.255.255.255", "64:ff9b::ffff:ffff"],
    // The longest valid spelling: 45 characters.
    ["ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    // Only ::ffff:0:0/96 keeps the dotted tail: a non-zero group in front, or fffe, does not.
    ["1::ffff:a00:1", "1::ffff:a00:1"],
    ["0:0:0:0:1:ffff:a00:1", "::1:ffff:a00:1"],
    ["::fffe:a00:1", "::fffe:a00:1"],
    ["::ffff:0:1", "::ffff:0.0.0.1"],
  ])("reads %s as %s", (input, value) => expect(canonicalIp(input)).toEqual(v6(value)));

  it.each([
    ["seven groups without ::", "1:2:3:4:5:6:7"],
    ["nine groups", "1:2:3:4:5:6:7:8:9"],
    ["eight groups and ::", "1:2:3:4:5:6:7::8"],
    ["eight groups and a trailing ::", "1:2:3:4:5:6:7:8::"],
    ["two ::", "1::2::3"],
    [":::", ":::"],
    ["a lone colon", ":"],
    ["a leading single colon", ":1:2:3:4:5:6:7"],
    ["a trailing single colon", "1:2:3:4:5:6:7:"],
    ["five hex digits", "12345::1"],
    ["five hex digits at the end", "1::12345"],
    ["a non-hex letter", "g::1"],
    ["a non-hex letter at the end", "1::g"],
    ["one bad group among good ones", "1:g::1"],
    ["one bad group among good ones after ::", "1::1:g"],
    ["five hex digits among good groups", "1:12345::"],
    ["a bad group among eight", "1:2:3:4:5:6:7:g"],
    ["an empty group", "1:2::3:4:5:6:7:8"],
    ["a zone ID", "fe80::1%eth0"],
    ["a prefix length", "2a05:d018::/64"],
    ["brackets", "[::1]"],
    ["white space", " ::1"],
    ["trailing white space", "::1 "],
    ["a dotted quad that is not one", "::ffff:10.0.0.256"],
    ["a dotted quad with three octets", "::ffff:10.0.1"],
    ["a dotted quad in the middle", "::1.2.3.4:1"],
    ["a dot inside a hex group", "1.2::1.2.3.4"],
    ["a dot at the end of a hex group", "2.1::1.2.3.4"],
    ["a dotted quad after seven groups", "1:2:3:4:5:6:7:1.2.3.4"],
    ["a dotted quad and :: with seven groups", "1:2:3:4:5:6::7:1.2.3.4"],
    ["too long", `${"0".repeat(40)}::1`],
  ])("rejects %s: %j", (_label, input) => expect(canonicalIp(input)).toBeUndefined());
});

// Values that are not text never get here: the edge schemas type every address as a string.
describe("canonicalIp: no text", () => {
  it("undefined is no address", () => expect(canonicalIp(undefined)).toBeUndefined());
});

describe("formatIpBytes", () => {
  it("formats 4 bytes as a dotted quad", () => {
    expect(formatIpBytes(Uint8Array.from([10, 0, 1, 70]))).toEqual(v4("10.0.1.70"));
    expect(formatIpBytes(Uint8Array.from([255, 255, 255, 255]))).toEqual(v4("255.255.255.255"));
  });
  it("formats 16 bytes in RFC 5952 form", () => {
    const bytes = Uint8Array.from([0x2a, 0x05, 0xd0, 0x18, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0x70]);
    expect(formatIpBytes(bytes)).toEqual(v6("2a05:d018:1:2::70"));
    const mapped = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]);
    expect(formatIpBytes(mapped)).toEqual(v6("::ffff:10.0.0.1"));
    expect(formatIpBytes(new Uint8Array(16))).toEqual(v6("::"));
    const all = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
    expect(formatIpBytes(all)).toEqual(v6("11:2233:4455:6677:8899:aabb:ccdd:eeff"));
  });
  it.each([0, 3, 5, 8, 15, 17, 32])("%i bytes are no address", (length) =>
    expect(formatIpBytes(new Uint8Array(length))).toBeUndefined(),
  );
});
