"""An OpenID Connect client built on Authlib, the way a third-party app signs users in
with Viscount: discovery, the authorization code flow with PKCE (S256) and a nonce, the
sign-in page filled in as a person would, the code exchanged, and the ID token verified
against the JWKS (signature, issuer, audience, nonce, expiry).

    python authlib_client.py BASE_URL EMAIL PASSWORD

BASE_URL is where the platform answers (its advertised issuer may be another address:
the endpoints' paths are used at BASE_URL). Prints `verified <sub>` and exits 0, or
fails with a traceback.
"""

import html
import re
import sys
from urllib.parse import urlparse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt

CLIENT_ID = "viscount-console"


def main(base, email, password):
    meta = requests.get(base + "/.well-known/openid-configuration", timeout=30).json()
    assert "code" in meta["response_types_supported"], meta
    assert "S256" in meta["code_challenge_methods_supported"], meta
    assert "RS256" in meta["id_token_signing_alg_values_supported"], meta

    def here(url):
        return base + urlparse(url).path

    redirect_uri = meta["issuer"] + "/auth/callback"
    client = OAuth2Session(
        CLIENT_ID,
        redirect_uri=redirect_uri,
        scope="openid email profile",
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    verifier = generate_token(64)
    nonce = generate_token(24)
    url, state = client.create_authorization_url(
        here(meta["authorization_endpoint"]), code_verifier=verifier, nonce=nonce
    )

    # The person's part: the sign-in page, filled in and sent.
    browser = requests.Session()
    page = browser.get(url, allow_redirects=False, timeout=30)
    assert page.status_code == 200, (page.status_code, page.text)
    fields = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text
        )
    }
    assert fields.get("state") == state, fields
    fields.update(email=email, password=password)
    signed_in = browser.post(
        here(meta["authorization_endpoint"]), data=fields, allow_redirects=False, timeout=30
    )
    assert signed_in.status_code == 303, (signed_in.status_code, signed_in.text)
    callback = signed_in.headers["Location"]
    assert callback.startswith(redirect_uri), callback

    token = client.fetch_token(
        here(meta["token_endpoint"]),
        authorization_response=callback,
        code_verifier=verifier,
        timeout=30,
    )
    keys = JsonWebKey.import_key_set(requests.get(here(meta["jwks_uri"]), timeout=30).json())
    claims = jwt.decode(
        token["id_token"],
        keys,
        claims_options={
            "iss": {"essential": True, "value": meta["issuer"]},
            "aud": {"essential": True, "value": CLIENT_ID},
            "nonce": {"essential": True, "value": nonce},
            "exp": {"essential": True},
        },
    )
    claims.validate()
    assert claims.header["alg"] == "RS256", claims.header
    assert claims["email"] == email, claims

    # The access token works on the platform's API.
    me = requests.get(
        base + "/api/v1/users/me",
        headers={"Authorization": "Bearer " + token["access_token"]},
        timeout=30,
    )
    assert me.status_code == 200, (me.status_code, me.text)
    assert me.json()["id"] == claims["sub"], me.json()
    print("verified", claims["sub"])


if __name__ == "__main__":
    main(*sys.argv[1:4])
