"""Server-rendered HTML for sign-up, sign-in and the account page (no template engine:
a few small functions; every value from outside goes through :func:`html.escape`)."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from ocrkit.models import Job


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def layout(title: str, body: str, *, signed_in: bool, signup_open: bool, csrf: str) -> str:
    if signed_in:
        nav = (
            '<a href="/account">Account</a>'
            '<form method="post" action="/signout" class="inline">'
            f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
            '<button type="submit" class="linkish">Sign out</button></form>'
        )
    else:
        nav = '<a href="/signin">Sign in</a>' + (
            '<a href="/signup">Sign up</a>' if signup_open else ""
        )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)} · ocrkit</title>
<link rel="stylesheet" href="/web/app.css">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a class="brand" href="/">ocrkit</a>
<nav aria-label="Site"><a href="/">OCR</a><a href="/api/v1/docs">API</a>{nav}</nav>
</header>
<main id="main" class="narrow">
{body}
</main>
<script src="/web/account.js"></script>
</body>
</html>
"""


def _message(error: str | None, notice: str | None = None) -> str:
    out = ""
    if error:
        out += f'<p class="error" role="alert">{_e(error)}</p>'
    if notice:
        out += f'<p class="notice" role="status">{_e(notice)}</p>'
    return out


def signin_form(csrf: str, *, email: str = "", error: str | None = None, signup_open: bool) -> str:
    more = (
        '<p>No account yet? <a href="/signup">Sign up</a>.</p>'
        if signup_open
        else "<p>Accounts are made by the operator here (<code>ocrkit accounts</code>); "
        "the OCR page also works without one, within the anonymous allowance.</p>"
    )
    return f"""<h1>Sign in</h1>
{_message(error)}
<form method="post" action="/signin" class="card stack">
<input type="hidden" name="csrf" value="{_e(csrf)}">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required value="{_e(email)}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" class="primary">Sign in</button>
</form>
{more}"""


def signup_form(csrf: str, *, email: str = "", error: str | None = None) -> str:
    return f"""<h1>Create an account</h1>
<p>A free account gets an API token and a monthly page allowance.</p>
{_message(error)}
<form method="post" action="/signup" class="card stack">
<input type="hidden" name="csrf" value="{_e(csrf)}">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required value="{_e(email)}">
<label for="password">Password <span class="hint">(at least 8 characters)</span></label>
<input id="password" name="password" type="password" autocomplete="new-password"
 minlength="8" required>
<button type="submit" class="primary">Sign up</button>
</form>
<p>Have an account? <a href="/signin">Sign in</a>.</p>"""


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return str(value or "")[:16].replace("T", " ")


def _token_section(csrf: str, new_token: str | None, live: list[tuple[str, datetime]]) -> str:
    if new_token:
        shown = f"""<p class="notice" role="status">Your new API token. It is shown only now:
copy it and keep it safe.</p>
<div class="token-row">
<label for="token" class="sr-only">API token</label>
<input id="token" class="mono" readonly value="{_e(new_token)}" data-token>
<button type="button" data-copy="token">Copy</button>
<button type="button" data-use-token="token">Use on the OCR page</button>
</div>
<p id="copy-status" class="hint" aria-live="polite"></p>"""
    elif live:
        items = "".join(
            f"<li><code>{_e(prefix)}…</code> made {_e(_when(made))}</li>" for prefix, made in live
        )
        shown = f"""<p>Active token(s):</p><ul>{items}</ul>
<p class="hint">Tokens are stored hashed, so the whole token is shown only when it is made.
Rotate to get a new one.</p>"""
    else:
        shown = "<p>You have no active token. Rotate to make one.</p>"
    return f"""<section aria-labelledby="token-h" class="card">
<h2 id="token-h">API token</h2>
{shown}
<form method="post" action="/account/token" class="inline">
<input type="hidden" name="csrf" value="{_e(csrf)}">
<button type="submit">Rotate token</button>
<span class="hint">The old token stops working at once.</span>
</form>
</section>"""


def _usage_section(usage: dict[str, Any]) -> str:
    unit = usage.get("unit", "pages")
    used, cap = usage.get("used", 0), usage.get("cap", 0)
    pct = min(100, round(100 * used / cap)) if cap else 100
    credits = (
        f"<p>Credits left: <strong>{_e(usage['credits'])}</strong></p>"
        if usage.get("plan") == "paid"
        else ""
    )
    return f"""<section aria-labelledby="usage-h" class="card">
<h2 id="usage-h">Usage</h2>
<p>Plan: <strong>{_e(usage.get("plan", ""))}</strong></p>
<p><strong>{_e(used)}</strong> of <strong>{_e(cap)}</strong> {_e(unit)} used this period
(ends {_e(_when(usage.get("period_end")))}).</p>
<progress max="100" value="{pct}" aria-label="Usage {pct} percent">{pct}%</progress>
{credits}
</section>"""


def _jobs_section(jobs: list[Job]) -> str:
    if not jobs:
        rows = '<p>No jobs yet. <a href="/">Read a document</a>.</p>'
    else:
        body = "".join(
            "<tr>"
            f"<td>{_e(_when(j.created_at))}</td>"
            f"<td>{_e(j.filename or '(no name)')}</td>"
            f"<td>{_e(j.page_count)}</td>"
            f"<td>{_e(j.status)}</td>"
            f'<td><a href="/#job={_e(j.uuid)}">Open</a></td>'
            "</tr>"
            for j in jobs
        )
        rows = (
            '<div class="scroll-x"><table><thead><tr><th scope="col">Created</th>'
            '<th scope="col">File</th><th scope="col">Pages</th><th scope="col">Status</th>'
            f'<th scope="col"><span class="sr-only">Open</span></th></tr></thead>'
            f"<tbody>{body}</tbody></table></div>"
        )
    return f"""<section aria-labelledby="jobs-h" class="card">
<h2 id="jobs-h">Recent jobs</h2>
{rows}
</section>"""


def account_page(
    csrf: str,
    *,
    email: str,
    usage: dict[str, Any],
    jobs: list[Job],
    live_tokens: list[tuple[str, datetime]],
    new_token: str | None = None,
) -> str:
    return f"""<h1>Account</h1>
<p>Signed in as <strong>{_e(email)}</strong>.</p>
{_token_section(csrf, new_token, live_tokens)}
{_usage_section(usage)}
{_jobs_section(jobs)}"""


def error_page(title: str, message: str) -> str:
    return f'<h1>{_e(title)}</h1><p class="error" role="alert">{_e(message)}</p>' + (
        '<p><a href="/">Back to the OCR page</a></p>'
    )
