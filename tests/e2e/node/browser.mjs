// The user's browser for the node flows (fapi_flow.mjs, openid_client_flows.mjs): fetch()
// carrying the session cookie of a user that tests/e2e/test_node_clients.py logged in. It opens
// the authorization URL and presses "allow" on the consent page; the redirect it is sent to
// (the client's callback, code and iss in the query) is returned, never followed.

// the cookies the "browser" holds: the jar updated with a response's Set-Cookie headers
function cookiesOf(jar, response = null) {
  for (const line of response ? response.headers.getSetCookie() : []) {
    const [pair] = line.split(';')
    const at = pair.indexOf('=')
    jar[pair.slice(0, at).trim()] = pair.slice(at + 1)
  }
  return Object.entries(jar).map(([k, v]) => `${k}=${v}`).join('; ')
}

export async function approve(authorizationUrl, cookies) {
  // GET the authorization URL with the session, then press "allow".
  const jar = { ...cookies }
  let response = await fetch(authorizationUrl, { redirect: 'manual', headers: { cookie: cookiesOf(jar) } })
  if (response.status === 302) return new URL(response.headers.get('location'))
  const page = await response.text()
  if (response.status !== 200) throw new Error(`authorization page: HTTP ${response.status}: ${page.slice(0, 300)}`)
  const cookie = cookiesOf(jar, response)
  const field = (name) => {
    const found = page.match(new RegExp(`name="${name}" value="([^"]+)"`))
    if (!found) throw new Error(`no ${name} on the consent page: ${page.slice(0, 300)}`)
    return found[1].replaceAll('&amp;', '&').replaceAll('&quot;', '"')
  }
  const form = new URLSearchParams({
    csrfmiddlewaretoken: field('csrfmiddlewaretoken'),
    oauth_request: field('oauth_request'),
    allow: 'allow',
  })
  response = await fetch(new URL(authorizationUrl.pathname, authorizationUrl), {
    method: 'POST', redirect: 'manual', body: form,
    headers: { cookie, referer: authorizationUrl.href, 'content-type': 'application/x-www-form-urlencoded' },
  })
  if (response.status !== 302) throw new Error(`approval: HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`)
  return new URL(response.headers.get('location'))
}
