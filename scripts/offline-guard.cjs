// Preloaded (node --require) into `osls package` by scripts/package.mjs: packaging must
// never reach AWS or any other host. Any attempt to open a non-loopback TCP connection or
// resolve a name fails loudly instead of silently depending on an account or the network.
"use strict";
/* eslint-disable @typescript-eslint/no-require-imports -- a --require preload is CommonJS */

const net = require("node:net");
const dns = require("node:dns");

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

function refuse(what) {
  const error = new Error(`offline-guard: packaging tried to reach ${what}; it must work offline`);
  error.code = "OFFLINE_GUARD";
  process.stderr.write(`${error.message}\n`);
  throw error;
}

const originalConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(...args) {
  const first = args[0];
  const options = first !== null && typeof first === "object" && !Array.isArray(first) ? first : null;
  const pipePath = options
    ? options.path
    : typeof first === "string" && Number.isNaN(Number(first))
      ? first
      : null;
  if (!pipePath) {
    const host = options ? options.host : typeof args[1] === "string" ? args[1] : "localhost";
    if (!LOOPBACK.has(host ?? "localhost")) refuse(`${host}:${options ? options.port : first}`);
  }
  return originalConnect.apply(this, args);
};

for (const name of ["lookup", "resolve", "resolve4", "resolve6"]) {
  const original = dns[name];
  dns[name] = function guardedLookup(hostname, ...rest) {
    if (!LOOPBACK.has(hostname)) refuse(`DNS ${hostname}`);
    return original.call(this, hostname, ...rest);
  };
}

for (const name of ["lookup", "resolve", "resolve4", "resolve6"]) {
  const original = dns.promises[name];
  dns.promises[name] = function guardedLookup(hostname, ...rest) {
    if (!LOOPBACK.has(hostname)) refuse(`DNS ${hostname}`);
    return original.call(this, hostname, ...rest);
  };
}
