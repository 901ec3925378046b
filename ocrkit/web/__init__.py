"""The web page of ``ocrkit serve``: a static single page (HTML, CSS, vanilla JS, no build
step, nothing fetched from elsewhere) at ``/``, plus server-rendered sign-up, sign-in and
account pages when the operator opens self-service sign-up (``OCRKIT_SIGNUP=open``).

The page talks to the same JSON API as any client, with the API token kept in the
browser's storage; the account pages use a signed session cookie and CSRF-checked forms.
"""
