// Signing in as a developer through the development issuer, and calling the console API.

/** Mints a token from the development issuer (`overrides` as in POST /dev/token). */
export async function devToken(stack, overrides = {}) {
  const res = await stack.call("platform", "POST", "/dev/token", { body: { sub: "dev_default", ...overrides } });
  if (res.status !== 200) throw new Error(`dev token: ${res.status} ${res.text}`);
  return res.body.data.token;
}

/** A signed-in developer: `call(method, path, options)` against the platform worker. */
export async function signIn(stack, sub, overrides = {}) {
  const token = await devToken(stack, { sub, email: `${sub}@example.test`, ...overrides });
  const auth = { Authorization: `Bearer ${token}` };
  return {
    sub,
    token,
    call: (method, path, { headers = {}, ...rest } = {}) =>
      stack.call("platform", method, path, { headers: { ...auth, ...headers }, ...rest }),
  };
}

/** Creates a project and returns `{ project, secretKey, key }`. */
export async function createProject(developer, body = {}) {
  const res = await developer.call("POST", "/v1/projects", { body: { name: "Test project", type: "saas", ...body } });
  if (res.status !== 201) throw new Error(`create project: ${res.status} ${res.text}`);
  return res.body.data;
}

/** Asks the api worker which project a key belongs to. */
export function whoami(stack, { secretKey, publishableKey }) {
  const headers = secretKey ? { Authorization: `Bearer ${secretKey}` } : { "X-Publishable-Key": publishableKey };
  return stack.call("api", "GET", "/api/project", { headers });
}

/** Uploads raw bytes as an asset with the project's secret key (201 expected); returns the asset. */
export async function uploadAsset(stack, project, bytes, query) {
  const res = await fetch(`${stack.urls.api}/api/assets?${new URLSearchParams(query)}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${project.secretKey}` },
    body: bytes,
  });
  const body = await res.json();
  if (res.status !== 201) throw new Error(`upload: ${res.status} ${JSON.stringify(body)}`);
  return body.data;
}
