import { describe, expect, it } from "vitest";
import { baseUrl, parseConfig } from "./config";

const good = {
  issuer: "https://id.example",
  clientId: "console",
  audience: "tollgate",
  scope: "openid email",
  redirectPath: "/console/callback",
  environment: "staging",
  urls: { platform: "https://p.example/", catalog: "https://c.example", webhooks: "https://w.example", api: "https://a.example" },
};

describe("config.json", () => {
  it("is read whole, and base URLs lose their trailing slash", () => {
    const config = parseConfig(good);
    expect(baseUrl(config, "platform")).toBe("https://p.example");
    expect(baseUrl(config, "api")).toBe("https://a.example");
    expect(config.environment).toBe("staging");
  });

  it.each([
    ["not an object", null],
    ["no issuer", { ...good, issuer: "" }],
    ["no urls", { ...good, urls: undefined }],
    ["a worker URL missing", { ...good, urls: { ...good.urls, webhooks: undefined } }],
    ["a worker URL that is not http(s)", { ...good, urls: { ...good.urls, api: "javascript:alert(1)" } }],
    ["an unknown environment", { ...good, environment: "prod" }],
  ])("is refused with %s", (_name, raw) => {
    expect(() => parseConfig(raw)).toThrow(/config\.json/);
  });

  it("defaults the scope to openid", () => {
    expect(parseConfig({ ...good, scope: "" }).scope).toBe("openid");
  });
});
