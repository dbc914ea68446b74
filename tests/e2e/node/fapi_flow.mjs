// One FAPI 2.0-style authorization code flow with oauth4webapi (an OpenID-certified client,
// unmodified, its defaults kept): discovery, a pushed authorization request (RFC 9126) with
// private_key_jwt and DPoP (RFC 9449), optionally a signed request object (RFC 9101), the
// user's approval, the code exchange with a DPoP proof, a DPoP-protected resource request, and
// a refresh. Driven by tests/e2e/test_node_clients.py, which starts the provider and logs a user
// in; the "browser" (browser.mjs) is fetch() carrying that user's session cookie.
//
//   node fapi_flow.mjs '{"issuer": ..., "client_id": ..., "private_jwk": {...}, ...}'
//
// Prints one JSON object: what each step returned, or {"error": ...} at the first failure.
import * as oauth from 'oauth4webapi'

import { approve } from './browser.mjs'

const config = JSON.parse(process.argv[2])
const insecure = { [oauth.allowInsecureRequests]: true } // the test server is http on 127.0.0.1
const out = { steps: [] }

function note(step, value) {
  out.steps.push(step)
  if (value !== undefined) out[step] = value
}

// A DPoP nonce challenge (use_dpop_nonce) is answered by sending the request again: the handle
// remembers the nonce (RFC 9449 §8).
async function withNonceRetry(call) {
  try {
    return await call()
  } catch (err) {
    if (oauth.isDPoPNonceError(err)) {
      note('dpop_nonce_retry')
      return await call()
    }
    throw err
  }
}

async function main() {
  const issuer = new URL(config.issuer)
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }))
  note('discovery', {
    par: as.pushed_authorization_request_endpoint,
    require_par: as.require_pushed_authorization_requests ?? null,
    dpop_algs: as.dpop_signing_alg_values_supported ?? null,
  })

  const client = { client_id: config.client_id }
  const key = await crypto.subtle.importKey('jwk', config.private_jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
  const clientKey = { key, kid: config.private_jwk.kid }
  const clientAuth = oauth.PrivateKeyJwt(clientKey)
  const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))

  const codeVerifier = oauth.generateRandomCodeVerifier()
  let params = new URLSearchParams({
    redirect_uri: config.redirect_uri,
    scope: config.scope,
    response_type: 'code',
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  })
  if (config.use_jar) {
    const request = await oauth.issueRequestObject(as, client, params, clientKey)
    params = new URLSearchParams({ request })
    note('request_object')
  }
  const pushed = await withNonceRetry(async () =>
    oauth.processPushedAuthorizationResponse(as, client,
      await oauth.pushedAuthorizationRequest(as, client, clientAuth, params, { DPoP, ...insecure })))
  note('par', { request_uri: pushed.request_uri, expires_in: pushed.expires_in })

  const authorizationUrl = new URL(as.authorization_endpoint)
  authorizationUrl.searchParams.set('client_id', client.client_id)
  authorizationUrl.searchParams.set('request_uri', pushed.request_uri)
  const callback = await approve(authorizationUrl, config.cookies)
  const callbackParams = oauth.validateAuthResponse(as, client, callback, oauth.expectNoState)
  note('authorization_response', { iss: callback.searchParams.get('iss') })

  const tokens = await withNonceRetry(async () =>
    oauth.processAuthorizationCodeResponse(as, client,
      await oauth.authorizationCodeGrantRequest(as, client, clientAuth, callbackParams, config.redirect_uri, codeVerifier, { DPoP, ...insecure })))
  note('token', { token_type: tokens.token_type, scope: tokens.scope ?? null, has_refresh_token: Boolean(tokens.refresh_token) })

  // a 401 with a challenge (use_dpop_nonce included) is raised by oauth4webapi
  const api = await withNonceRetry(async () =>
    oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL(config.resource_url), new Headers(), null, { DPoP, ...insecure }))
  note('resource', { status: api.status, body: api.status === 200 ? await api.json() : await api.text() })

  // The same access token without its proof, as a thief holding only the token would send it.
  const stolen = await fetch(config.resource_url, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  note('bearer_downgrade', { status: stolen.status, challenge: stolen.headers.get('www-authenticate') })

  if (tokens.refresh_token) {
    const refreshed = await withNonceRetry(async () =>
      oauth.processRefreshTokenResponse(as, client,
        await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token, { DPoP, ...insecure })))
    note('refresh', { token_type: refreshed.token_type, same_refresh_token: refreshed.refresh_token === undefined || refreshed.refresh_token === tokens.refresh_token })
  }
}

try {
  await main()
} catch (err) {
  out.error = `${err.name}: ${err.message}${err.cause ? ' ' + JSON.stringify(err.cause).slice(0, 500) : ''}`
}
console.log(JSON.stringify(out))
