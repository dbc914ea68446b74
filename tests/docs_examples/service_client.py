import os

from authlib.integrations.requests_client import OAuth2Session

session = OAuth2Session(os.environ["NOTES_CLIENT_ID"], os.environ["NOTES_CLIENT_SECRET"], scope="read")
session.fetch_token("https://example.com/o/token/", grant_type="client_credentials")

notes = session.get("https://example.com/api/notes/").json()
