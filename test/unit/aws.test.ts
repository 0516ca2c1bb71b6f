// The client cache against loopback servers: timeouts, retries, the call counter, fault hooks.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { DescribeInstancesCommand } from "@aws-sdk/client-ec2";
import { ListClustersCommand } from "@aws-sdk/client-eks";
import { afterEach, describe, expect, it } from "vitest";
import { createAwsClients } from "../../functions/sweep/aws.js";

const CREDS = { accessKeyId: "AKIDTEST", secretAccessKey: "secret" };
const servers: Server[] = [];

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

describe("createAwsClients", () => {
  it("times out a request whose server never answers", async () => {
    const endpoint = await serve(() => {
      /* never respond */
    });
    const aws = createAwsClients({ endpoint, credentials: CREDS, maxAttempts: 1, requestTimeoutMs: 300 });
    const started = Date.now();
    await expect(aws.forRegion("eu-west-1").ec2.send(new DescribeInstancesCommand({}))).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5000);
    aws.destroy();
  });

  it("retries throttling and counts one call with several attempts", async () => {
    let hits = 0;
    const endpoint = await serve((_req, res) => {
      hits += 1;
      res.writeHead(503, { "content-type": "text/xml" });
      res.end(
        "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>slow down</Message></Error></Errors><RequestID>x</RequestID></Response>",
      );
    });
    const aws = createAwsClients({ endpoint, credentials: CREDS, maxAttempts: 3 });
    await expect(aws.forRegion("eu-west-1").ec2.send(new DescribeInstancesCommand({}))).rejects.toThrow(
      /slow down/,
    );
    expect(hits).toBe(3);
    expect(aws.calls.byCommand()["ec2:DescribeInstances"]).toEqual({ calls: 1, attempts: 3 });
    expect(aws.calls.byService().ec2).toBe(1);
    expect(aws.calls.count("ec2", "DescribeInstances")).toBe(1);
    aws.calls.reset();
    expect(aws.calls.count("ec2")).toBe(0);
    aws.destroy();
  });

  it("caches clients per region and lets tests inject faults per service", async () => {
    const configured: string[] = [];
    const aws = createAwsClients({
      endpoint: "http://127.0.0.1:9",
      credentials: CREDS,
      configure: (service, client, region) => {
        configured.push(`${service}@${region}`);
        if (service === "eks") {
          (client.middlewareStack as unknown as { add: (m: unknown, o: unknown) => void }).add(
            () => async () => {
              throw new Error("injected");
            },
            { step: "initialize", name: "fault" },
          );
        }
      },
    });
    const a = aws.forRegion("eu-west-1");
    expect(aws.forRegion("eu-west-1")).toBe(a);
    expect(aws.forRegion("us-east-1")).not.toBe(a);
    expect(configured).toHaveLength(12);
    await expect(a.eks.send(new ListClustersCommand({}))).rejects.toThrow("injected");
    // Counted although it failed before reaching the network: it was a call.
    expect(aws.calls.count("eks", "ListClusters")).toBe(1);
    expect(await a.ec2.config.region()).toBe("eu-west-1");
    aws.destroy();
  });
});
