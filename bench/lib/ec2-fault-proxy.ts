// A fault proxy in front of moto for the event-mode bench: every request is forwarded as is,
// except DescribeInstances while `throttling` is on, which gets EC2's own throttling answer
// (HTTP 503, RequestLimitExceeded), the one a real account's empty bucket gives. The approver
// sees it through its real SDK client, retries and all.
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface FaultProxy {
  url: string;
  /** While true, DescribeInstances is answered "RequestLimitExceeded". */
  throttling: boolean;
  /** DescribeInstances attempts answered throttled, and forwarded. */
  throttled: number;
  forwarded: number;
  close(): Promise<void>;
}

const THROTTLED =
  `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code>` +
  `<Message>Request limit exceeded.</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>`;

function body(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const proxy: FaultProxy = {
    url: "",
    throttling: false,
    throttled: 0,
    forwarded: 0,
    close: () => Promise.resolve(),
  };
  const server: Server = createServer((req, res) => {
    void body(req).then((payload) => {
      // The EC2 query protocol: the action is a form field of the POST body.
      if (proxy.throttling && /(?:^|&)Action=DescribeInstances(?:&|$)/.test(payload.toString("utf8"))) {
        proxy.throttled += 1;
        res.writeHead(503, { "content-type": "text/xml" });
        res.end(THROTTLED);
        return;
      }
      proxy.forwarded += 1;
      const out = request(
        {
          hostname: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      out.on("error", (err) => {
        res.writeHead(502);
        res.end(String(err));
      });
      out.end(payload);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return proxy;
}
