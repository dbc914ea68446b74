from ninja import NinjaAPI, Schema

from oauth_provider.contrib.ninja import OAuth2, install

api = NinjaAPI(auth=OAuth2(scopes=["read"]), urls_namespace="notes-api")
install(api)  # the RFC 6750 answers: 401 and 403 with their WWW-Authenticate challenges

NOTES: dict[str, list[str]] = {}  # stands in for your models


class NoteIn(Schema):
    text: str


@api.get("/notes")
def list_notes(request):
    owner = request.user.get_username()  # "" for a client acting for itself
    return {"owner": owner, "client": request.auth.client.client_id, "notes": NOTES.get(owner, [])}


@api.post("/notes", auth=OAuth2(scopes=["write"]))
def add_note(request, note: NoteIn):
    owner = request.user.get_username()
    NOTES.setdefault(owner, []).append(note.text)
    return {"notes": NOTES[owner]}
