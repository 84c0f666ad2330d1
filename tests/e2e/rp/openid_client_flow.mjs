// An independent OpenID Connect relying party (openid-client v6) driven by a Python test.
//
//   node openid_client_flow.mjs code                 # authorization code + PKCE flow
//   node openid_client_flow.mjs client_credentials   # client credentials grant
//
// Configuration comes from the environment (not argv: the secret stays out of `ps`):
//   RP_ISSUER                      the OP's issuer; discovery is {issuer}/.well-known/openid-configuration
//   RP_CLIENT_ID                   required
//   RP_CLIENT_SECRET               optional; absent or empty: a public client (auth method "none")
//   RP_TOKEN_ENDPOINT_AUTH_METHOD  client_secret_basic (default with a secret), client_secret_post, none
//   RP_REDIRECT_URI                code mode: required
//   RP_SCOPE                       default "openid"
//   RP_POST_LOGOUT_REDIRECT_URI    optional, put in the end-session URL
//   RP_AUTH_PARAMS                 optional JSON object of extra authorization request parameters
//   RP_TIMEOUT                     seconds per HTTP request (default 10)
//
// Protocol (one JSON object per line on stdout):
//   code mode: prints {"authorization_url": ...}, reads one line from stdin (the full callback URL
//   the caller reached by following that URL), completes the code grant (the library validates
//   the authorization response, including RFC 9207 `iss`, and the ID token: signature, iss, aud,
//   exp, nonce), fetches userinfo (its `sub` must match), refreshes once when a refresh token was
//   issued, builds the end-session URL, and prints the result object (see `codeFlow`).
//   client_credentials mode: prints {"token_response": {...}}.
//   Any failure: prints {"error": <code or name>, "stage": ..., "detail": {...}} and exits 1.
// Every OP request goes over plain http on loopback, hence allowInsecureRequests.

import * as readline from 'node:readline'
import * as client from 'openid-client'

let stage = 'setup'

function env(name, fallback) {
  const value = process.env[name]
  return value === undefined || value === '' ? fallback : value
}

function required(name) {
  const value = env(name)
  if (value === undefined) {
    throw new Error(`${name} is required`)
  }
  return value
}

function emit(obj, callback) {
  process.stdout.write(`${JSON.stringify(obj)}\n`, callback)
}

function clientAuth(secret) {
  const method = env('RP_TOKEN_ENDPOINT_AUTH_METHOD', secret ? 'client_secret_basic' : 'none')
  switch (method) {
    case 'client_secret_basic':
      return client.ClientSecretBasic(secret)
    case 'client_secret_post':
      return client.ClientSecretPost(secret)
    case 'none':
      return client.None()
    default:
      throw new Error(`unsupported RP_TOKEN_ENDPOINT_AUTH_METHOD ${method}`)
  }
}

async function configure() {
  stage = 'discovery'
  const secret = env('RP_CLIENT_SECRET')
  return client.discovery(
    new URL(required('RP_ISSUER')),
    required('RP_CLIENT_ID'),
    secret,
    clientAuth(secret),
    { execute: [client.allowInsecureRequests], timeout: Number(env('RP_TIMEOUT', '10')) },
  )
}

// The token endpoint response's own fields (the helper methods are not data).
function plain(tokens) {
  return JSON.parse(JSON.stringify(tokens))
}

function readLine() {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: process.stdin })
    let done = false
    rl.once('line', (line) => {
      done = true
      rl.close()
      resolve(line.trim())
    })
    rl.once('close', () => {
      if (!done) reject(new Error('stdin closed before the callback URL arrived'))
    })
  })
}

async function codeFlow(config) {
  stage = 'authorize'
  const codeVerifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const params = {
    redirect_uri: required('RP_REDIRECT_URI'),
    scope: env('RP_SCOPE', 'openid'),
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...JSON.parse(env('RP_AUTH_PARAMS', '{}')),
  }
  emit({ authorization_url: client.buildAuthorizationUrl(config, params).href })

  stage = 'callback'
  const callback = await readLine()
  if (!callback) throw new Error('empty callback URL')

  stage = 'code_grant'
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: codeVerifier,
    expectedNonce: nonce,
    expectedState: state,
  })
  const claims = tokens.claims()
  if (claims === undefined) throw new Error('no id_token in the token response')

  stage = 'userinfo'
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub)

  let refresh
  if (tokens.refresh_token) {
    stage = 'refresh'
    refresh = await client.refreshTokenGrant(config, tokens.refresh_token)
  }

  stage = 'end_session'
  const endSession = { id_token_hint: refresh?.id_token ?? tokens.id_token, state: client.randomState() }
  const postLogout = env('RP_POST_LOGOUT_REDIRECT_URI')
  if (postLogout) endSession.post_logout_redirect_uri = postLogout

  const result = {
    sub: claims.sub,
    id_token_claims: claims,
    userinfo,
    token_response: plain(tokens),
    refreshed: refresh !== undefined,
    end_session_url: client.buildEndSessionUrl(config, endSession).href,
    end_session_state: endSession.state,
  }
  if (refresh !== undefined) {
    result.refresh_response = plain(refresh)
    const refreshed = refresh.claims()
    if (refreshed !== undefined) result.refresh_id_token_claims = refreshed
  }
  return result
}

async function clientCredentials(config) {
  stage = 'client_credentials'
  const params = {}
  const scope = env('RP_SCOPE')
  if (scope) params.scope = scope
  return { token_response: plain(await client.clientCredentialsGrant(config, params)) }
}

function describe(err) {
  const detail = { name: err?.name, message: err?.message ?? String(err) }
  for (const key of ['code', 'error', 'error_description', 'status']) {
    if (err?.[key] !== undefined) detail[key] = err[key]
  }
  if (err?.cause !== undefined) {
    const cause = err.cause
    detail.cause = cause instanceof Error ? { name: cause.name, message: cause.message, code: cause.code } : cause
  }
  return { error: err?.code ?? err?.error ?? err?.name ?? 'Error', stage, detail }
}

async function main() {
  const mode = process.argv[2] ?? 'code'
  const flows = { code: codeFlow, client_credentials: clientCredentials }
  const flow = flows[mode]
  if (flow === undefined) throw new Error(`unknown mode ${mode} (code, client_credentials)`)
  return flow(await configure())
}

// Exit once the last line is flushed (idle keep-alive connections would hold the process open).
main().then(
  (result) => emit(result, () => process.exit(0)),
  (err) => emit(describe(err), () => process.exit(1)),
)
