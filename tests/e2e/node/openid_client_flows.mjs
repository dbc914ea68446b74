// What a typical relying party does with openid-client (panva's OpenID-certified RP library, on
// oauth4webapi), unmodified, through its public API and with its defaults. The one setting
// changed is allowInsecureRequests: the test server is http on 127.0.0.1, and openid-client
// (like oauth4webapi in fapi_flow.mjs) refuses plain http otherwise. Driven by
// tests/e2e/test_node_clients.py, which starts the provider, registers the client with
// `createclient` and logs a user in; the "browser" (browser.mjs) is fetch() carrying that user's
// session cookie.
//
//   node openid_client_flows.mjs '{"flow": "code" | "device" | "client_credentials", "issuer": ..., ...}'
//
// code: discovery(), code + PKCE (S256) for the scope asked, authorizationCodeGrant (the ID
//   token's claims checked by openid-client), fetchUserInfo, a protected resource, a refresh,
//   then introspection and revocation where the metadata advertises them for the client's method;
//   with "dpop": the same with getDPoPHandle, every request carrying a proof.
// device: initiateDeviceAuthorization, one line {"device": {...}} on stdout for the test to
//   approve as the user, then pollDeviceAuthorizationGrant.
// client_credentials: clientCredentialsGrant, the resource, introspection and revocation.
//
// Prints one JSON object (after the device line, if any): what each step returned, or
// {"error": ...} at the first failure.
import * as client from 'openid-client'

import { approve } from './browser.mjs'

const config = JSON.parse(process.argv[2])
const out = { steps: [] }

// The DPoP nonce challenges (use_dpop_nonce with a DPoP-Nonce header, RFC 9449 §8) that
// openid-client answered by itself: it calls the global fetch, wrapped here only to count them.
const realFetch = globalThis.fetch
out.nonce_challenges = 0
globalThis.fetch = async (...args) => {
  const response = await realFetch(...args)
  if ([400, 401].includes(response.status) && response.headers.has('dpop-nonce')) out.nonce_challenges += 1
  return response
}

function note(step, value) {
  out.steps.push(step)
  if (value !== undefined) out[step] = value
}

// The client authentication the relying party configures. "default" is what openid-client does
// when handed a client secret and nothing else: ClientSecretPost.
const AUTH = {
  default: { method: 'client_secret_post', args: () => [config.client_secret, undefined] },
  basic: { method: 'client_secret_basic', args: () => [undefined, client.ClientSecretBasic(config.client_secret)] },
  none: { method: 'none', args: () => [undefined, client.None()] },
}

async function discover() {
  const auth = AUTH[config.auth]
  const as = await client.discovery(new URL(config.issuer), config.client_id, ...auth.args(), {
    execute: [client.allowInsecureRequests], // the test server is http on 127.0.0.1: the one non-default
  })
  // stricter than the default, asked for by a test: the ID token's signature checked too, against
  // the jwks_uri (by default openid-client checks an ID token from the token endpoint by its
  // claims only, as OpenID Connect Core 3.1.3.7 allows over TLS)
  if (config.nonrepudiation) client.enableNonRepudiationChecks(as)
  const metadata = as.serverMetadata()
  note('discovery', {
    issuer: metadata.issuer,
    supports_pkce: metadata.supportsPKCE(),
    introspection: (metadata.introspection_endpoint_auth_methods_supported ?? []).includes(auth.method),
    revocation: (metadata.revocation_endpoint_auth_methods_supported ?? []).includes(auth.method),
  })
  return as
}

async function resource(as, accessToken, options) {
  let response
  try {
    response = await client.fetchProtectedResource(as, accessToken, new URL(config.resource_url), 'GET',
      undefined, undefined, options)
  } catch (err) {
    // a 401 with a WWW-Authenticate challenge is thrown, the challenge parsed
    if (err.code !== 'OAUTH_WWW_AUTHENTICATE_CHALLENGE') throw err
    return { status: err.status, challenge: err.cause.map(({ scheme, parameters }) => ({ scheme, error: parameters.error ?? null })) }
  }
  return { status: response.status, body: response.status === 200 ? await response.json() : await response.text() }
}

// a refused request, as openid-client reports it: the error code the server answered
async function refusal(call) {
  try {
    await call()
    return null
  } catch (err) {
    return err.error ?? err.code ?? err.name
  }
}

// Introspection (by a client allowed to introspect) and revocation (RFC 7662, RFC 7009), when the
// metadata lists the client's method: the token is active, revoked, then inactive and refused.
async function introspectAndRevoke(as, tokens, options) {
  const { introspection, revocation } = out.discovery
  if (introspection) {
    const active = await client.tokenIntrospection(as, tokens.access_token)
    note('introspection', { active: active.active, client_id: active.client_id, sub: active.sub ?? null,
      scope: active.scope ?? null, token_type: active.token_type ?? null })
  }
  if (!revocation) return
  await client.tokenRevocation(as, tokens.access_token)
  note('revoked_access_token', {
    introspection: introspection ? (await client.tokenIntrospection(as, tokens.access_token)).active : null,
    resource: (await resource(as, tokens.access_token, options)).status,
  })
  if (tokens.refresh_token) {
    await client.tokenRevocation(as, tokens.refresh_token, { token_type_hint: 'refresh_token' })
    note('revoked_refresh_token', {
      refresh_error: await refusal(() => client.refreshTokenGrant(as, tokens.refresh_token, undefined, options)),
    })
  }
}

async function codeFlow() {
  const as = await discover()
  const options = {}
  if (config.dpop) options.DPoP = client.getDPoPHandle(as, await client.randomDPoPKeyPair())

  // as openid-client's README: PKCE, and a state only when the server does not support PKCE
  const codeVerifier = client.randomPKCECodeVerifier()
  const parameters = {
    redirect_uri: config.redirect_uri,
    scope: config.scope,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  }
  let state
  if (!out.discovery.supports_pkce) parameters.state = state = client.randomState()
  const authorizationUrl = client.buildAuthorizationUrl(as, parameters)
  const callback = await approve(authorizationUrl, config.cookies)
  note('authorization_response', { iss: callback.searchParams.get('iss') })

  const tokens = await client.authorizationCodeGrant(as, callback,
    { pkceCodeVerifier: codeVerifier, expectedState: state, idTokenExpected: config.scope.split(' ').includes('openid') },
    undefined, options)
  const claims = tokens.claims() ?? null
  note('token', { token_type: tokens.token_type, scope: tokens.scope ?? null, has_refresh_token: Boolean(tokens.refresh_token),
    id_token: tokens.id_token ?? null, claims })

  if (claims) {
    const userinfo = await client.fetchUserInfo(as, tokens.access_token, claims.sub, options)
    note('userinfo', userinfo)
  }
  note('resource', await resource(as, tokens.access_token, options))
  if (config.dpop) {
    // the same access token without its proof, as a thief holding only the token sends it
    const stolen = await fetch(config.resource_url, { headers: { authorization: `Bearer ${tokens.access_token}` } })
    note('bearer_downgrade', { status: stolen.status })
  }

  const refreshed = await client.refreshTokenGrant(as, tokens.refresh_token, undefined, options)
  note('refresh', {
    token_type: refreshed.token_type,
    new_access_token: refreshed.access_token !== tokens.access_token,
    rotated: Boolean(refreshed.refresh_token) && refreshed.refresh_token !== tokens.refresh_token,
    claims: refreshed.claims() ?? null,
    resource: await resource(as, refreshed.access_token, options),
    userinfo_sub: claims ? (await client.fetchUserInfo(as, refreshed.access_token, claims.sub, options)).sub : null,
  })
  await introspectAndRevoke(as, { access_token: refreshed.access_token, refresh_token: refreshed.refresh_token ?? tokens.refresh_token }, options)
}

async function deviceFlow() {
  const as = await discover()
  const started = await client.initiateDeviceAuthorization(as, { scope: config.scope })
  // for the test, which approves as the user while openid-client polls
  console.log(JSON.stringify({ device: started }))
  const tokens = await client.pollDeviceAuthorizationGrant(as, started)
  note('token', { token_type: tokens.token_type, scope: tokens.scope ?? null, has_refresh_token: Boolean(tokens.refresh_token),
    claims: tokens.claims() ?? null })
  note('resource', await resource(as, tokens.access_token))
  const refreshed = await client.refreshTokenGrant(as, tokens.refresh_token)
  note('refresh', { new_access_token: refreshed.access_token !== tokens.access_token,
    resource: await resource(as, refreshed.access_token) })
}

async function clientCredentialsFlow() {
  const as = await discover()
  const tokens = await client.clientCredentialsGrant(as, { scope: config.scope })
  note('token', { token_type: tokens.token_type, scope: tokens.scope ?? null, has_refresh_token: Boolean(tokens.refresh_token) })
  note('resource', await resource(as, tokens.access_token))
  await introspectAndRevoke(as, tokens, {})
}

try {
  await { code: codeFlow, device: deviceFlow, client_credentials: clientCredentialsFlow }[config.flow]()
} catch (err) {
  const detail = { error: err.error, error_description: err.error_description, status: err.status, code: err.code }
  let cause = err.cause ? JSON.stringify(err.cause).slice(0, 500) : ''
  if (err.cause instanceof Response) { // the server's answer openid-client refused
    cause = `HTTP ${err.cause.status} ${err.cause.headers.get('content-type')}: ${(await err.cause.text()).slice(0, 500)}`
  }
  out.error = `${err.name}: ${err.message} ${JSON.stringify(detail)} ${cause}`
}
console.log(JSON.stringify(out))
