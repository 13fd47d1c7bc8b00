import { describe, expect, it } from "vitest";
import { authorizeUrl, challengeFor, jwtClaims, randomToken, tokenRequestBody } from "./pkce";

describe("PKCE", () => {
  it("derives the challenge as base64url(SHA-256(verifier)) without padding", async () => {
    // The value was computed independently (Node's crypto, digest "base64url").
    expect(await challengeFor("dBjftJeZ4CVP-mJ92K9U6Q4Q2zuT5Y5nrc0b7eXI2gE")).toBe("jiWAFsAlI3dyZOmRgTFjvzNJzz3_zI99sd8f0rhOZ_Q");
  });

  it("makes 43-character url-safe verifiers that differ each time", () => {
    const a = randomToken();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(randomToken()).not.toBe(a);
  });
});

describe("authorize URL", () => {
  const base = {
    authorizationEndpoint: "https://id.example/authorize?tenant=x",
    clientId: "console",
    redirectUri: "https://p.example/console/callback",
    scope: "openid email",
    audience: "tollgate",
    state: "st",
    codeChallenge: "ch",
  };

  it("carries every parameter of the code flow with S256 and keeps the endpoint's own query", () => {
    const q = new URL(authorizeUrl(base)).searchParams;
    expect(Object.fromEntries(q)).toEqual({
      tenant: "x",
      response_type: "code",
      client_id: "console",
      redirect_uri: "https://p.example/console/callback",
      scope: "openid email",
      state: "st",
      code_challenge: "ch",
      code_challenge_method: "S256",
      audience: "tollgate",
    });
  });

  it("asks for a fresh sign-in with prompt=login and max_age=0", () => {
    const q = new URL(authorizeUrl({ ...base, fresh: true })).searchParams;
    expect(q.get("prompt")).toBe("login");
    expect(q.get("max_age")).toBe("0");
  });

  it("leaves audience out when none is configured", () => {
    expect(new URL(authorizeUrl({ ...base, audience: "" })).searchParams.has("audience")).toBe(false);
  });
});

describe("token request", () => {
  it("is the authorization_code grant with the verifier", () => {
    const body = tokenRequestBody({ code: "c", redirectUri: "r", clientId: "id", verifier: "v" });
    expect(body.toString()).toBe("grant_type=authorization_code&code=c&redirect_uri=r&client_id=id&code_verifier=v");
  });
});

describe("JWT claims", () => {
  it("reads the payload, and answers nothing for a malformed token", () => {
    const payload = btoa(JSON.stringify({ sub: "dev_alice", email: "a@x.test" })).replace(/=+$/, "");
    expect(jwtClaims(`h.${payload}.s`)).toEqual({ sub: "dev_alice", email: "a@x.test" });
    expect(jwtClaims("garbage")).toEqual({});
    expect(jwtClaims("a.!!!.c")).toEqual({});
  });
});
